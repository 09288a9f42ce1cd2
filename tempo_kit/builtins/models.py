"""Built-in models."""

from ..hookspecs import hookimpl


@hookimpl
def register_models(register, context):
    from ..models import BlockMLP, BlockMLPConfig, DiT, DiTConfig

    register("dit", lambda **kw: DiT(config=DiTConfig(**kw)),
             description="reference DiT for mel frames / latents (patchified along time, adaLN-Zero, block protocol)")
    register("block-mlp", lambda **kw: BlockMLP(config=BlockMLPConfig(**kw)),
             description="residual adaLN MLP on (batch, dim) toy data, implements the block protocol")
