"""Built-in models."""

from ..hookspecs import hookimpl


@hookimpl
def register_models(register, context):
    from ..models import BlockMLP, BlockMLPConfig, DiT, DiTConfig

    register("dit", lambda **kw: DiT(config=DiTConfig(**kw)),
             description="reference DiT for mel frames / latents (patchified along time, adaLN-Zero, block protocol)")
    register("block-mlp", lambda **kw: BlockMLP(config=BlockMLPConfig(**kw)),
             description="residual adaLN MLP on (batch, dim) toy data, implements the block protocol")

    from ..vocoder import GriffinLim, GriffinLimConfig, Vocoder, VocoderConfig

    register("vocoder", lambda **kw: Vocoder(config=VocoderConfig(**kw)),
             description="Vocos-style mel -> waveform vocoder (ConvNeXt over frames, iSTFT head), differentiable")
    register("griffin-lim", lambda **kw: GriffinLim(config=GriffinLimConfig(**kw)),
             description="differentiable mel -> waveform fallback: pseudo-inverse magnitude + fast Griffin-Lim")

    from ..models.mini_clap import MiniClap, MiniClapConfig

    register("mini-clap", lambda **kw: MiniClap(config=MiniClapConfig(**kw)),
             description="small CLAP-style audio-text model on model-space mel (conv audio tower, MiniLM text side)")
