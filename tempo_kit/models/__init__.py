"""Networks: the block-iteration protocol, the reference DiT, noise-level experts, a toy block MLP, and safetensors
save/load."""

from .blocks import BlockModel, BlockNet, CondEmbedder, check_budget, features, is_block_model, null_condition, sinusoidal_embedding
from .dit import DiT, DiTBlock, DiTConfig
from .experts import NoiseExperts, NoiseExpertsConfig, combine_experts
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
    "NoiseExperts",
    "NoiseExpertsConfig",
    "build_model",
    "check_budget",
    "combine_experts",
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
