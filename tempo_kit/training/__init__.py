"""Distillation and training: recipes return named loss terms, one trainer runs them all."""

from .api import build_recipe, distill
from .config import TrainConfig, load_config
from .data import BatchSource, MixtureData, TensorData, split_batch
from .ema import EMA
from .recipe import Recipe, UpdateRule
from .trainer import Trainer, TrainingDivergedError, TrainResult

__all__ = [
    "BatchSource",
    "EMA",
    "MixtureData",
    "Recipe",
    "TensorData",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "UpdateRule",
    "build_recipe",
    "distill",
    "load_config",
    "split_batch",
]
