"""Built-in models."""

from ..hookspecs import hookimpl
from . import lazy


@hookimpl
def register_models(register, context):
    register("dit", lazy("models.dit", "DiT", "DiTConfig"),
             description="reference DiT for mel frames / latents (patchified along time, adaLN-Zero, block protocol)")
    register("block-mlp", lazy("models.mlp", "BlockMLP", "BlockMLPConfig"),
             description="residual adaLN MLP on (batch, dim) toy data, implements the block protocol")
    register("vocoder", lazy("vocoder", "Vocoder", "VocoderConfig"),
             description="Vocos-style mel -> waveform vocoder (ConvNeXt over frames, iSTFT head), differentiable")
    register("griffin-lim", lazy("vocoder", "GriffinLim", "GriffinLimConfig"),
             description="differentiable mel -> waveform fallback: pseudo-inverse magnitude + fast Griffin-Lim")
    register("mini-clap", lazy("models.mini_clap", "MiniClap", "MiniClapConfig"),
             description="small CLAP-style audio-text model on model-space mel (conv audio tower, MiniLM text side)")
