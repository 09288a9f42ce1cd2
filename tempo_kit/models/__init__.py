"""Networks: the block-iteration protocol, the reference DiT, a toy block MLP, and safetensors save/load."""

from .blocks import BlockModel, BlockNet, CondEmbedder, check_budget, features, is_block_model, null_condition, sinusoidal_embedding
from .dit import DiT, DiTBlock, DiTConfig
from .io import CheckpointMismatchError, build_model, load_denoiser, load_model, load_weights, model_spec, save_model
from .mlp import BlockMLP, BlockMLPConfig

__all__ = [
    "BlockMLP",
    "BlockMLPConfig",
    "BlockModel",
    "BlockNet",
    "CheckpointMismatchError",
    "CondEmbedder",
    "DiT",
    "DiTBlock",
    "DiTConfig",
    "build_model",
    "check_budget",
    "features",
    "is_block_model",
    "load_denoiser",
    "load_model",
    "load_weights",
    "model_spec",
    "null_condition",
    "save_model",
    "sinusoidal_embedding",
]
