"""Built-in models."""

from ..hookspecs import hookimpl
from . import lazy, register_all

#: ``(name, module under tempo_kit, network class, its attrs config class, description)``
_MODELS = (
    ("dit", "models.dit", "DiT", "DiTConfig",
     "reference DiT for mel frames / latents (patchified along time, adaLN-Zero, block protocol)"),
    ("noise-experts", "models.experts", "NoiseExperts", "NoiseExpertsConfig",
     "one network per range of noise levels behind one raw-network interface (e.g. a two-expert Presto-S)"),
    ("block-mlp", "models.mlp", "BlockMLP", "BlockMLPConfig",
     "residual adaLN MLP on (batch, dim) toy data, implements the block protocol"),
    ("vocoder", "vocoder", "Vocoder", "VocoderConfig",
     "Vocos-style mel -> waveform vocoder (ConvNeXt over frames, iSTFT head), differentiable"),
    ("griffin-lim", "vocoder", "GriffinLim", "GriffinLimConfig",
     "differentiable mel -> waveform fallback: pseudo-inverse magnitude + fast Griffin-Lim"),
    ("mini-clap", "models.mini_clap", "MiniClap", "MiniClapConfig",
     "small CLAP-style audio-text model on model-space mel (conv audio tower, MiniLM text side)"),
)


@hookimpl
def register_models(register, context):
    register_all(register, ((name, lazy(module, cls, config), description)
                            for name, module, cls, config, description in _MODELS))
