"""A small residual MLP that implements the block protocol, for toy data of shape ``(batch, dim)`` (tests, demos)."""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

from ..utils import check_int
from .blocks import BlockNet, CondEmbedder

__all__ = ["BlockMLPConfig", "BlockMLP"]


@attrs.frozen(kw_only=True)
class BlockMLPConfig:
    """Architecture of :class:`BlockMLP`: ``depth`` residual blocks of width ``width`` on ``dim``-dimensional data."""

    dim: int = 2
    width: int = 128
    depth: int = 4
    num_classes: int = 0
    w_embedding: bool = False
    budget_embedding: bool = False

    def __attrs_post_init__(self):
        for name in ("dim", "width", "depth"):
            check_int(getattr(self, name), name, low=1)
        check_int(self.num_classes, "num_classes", low=0)


class _MLPBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mod = nn.Linear(width, 2 * width)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width))

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.mod(nn.functional.silu(c)).chunk(2, dim=-1)
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class BlockMLP(BlockNet):
    """Raw network ``F(x_in, c_noise, cond) -> (batch, dim)`` made of residual adaLN MLP blocks.

    Parameters
    ----------
    config : BlockMLPConfig
    """

    registry_name = "block-mlp"

    def __init__(self, *, config: BlockMLPConfig = BlockMLPConfig()):
        super().__init__()
        self.config = config
        c = config
        self.inp = nn.Linear(c.dim, c.width)
        self.cond = CondEmbedder(width=c.width, num_classes=c.num_classes, w_embedding=c.w_embedding,
                                 max_budget=c.depth if c.budget_embedding else 0)
        self.blocks = nn.ModuleList(_MLPBlock(c.width) for _ in range(c.depth))
        self.out = nn.Sequential(nn.LayerNorm(c.width), nn.Linear(c.width, c.dim))

    def embed(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 2 or x.shape[1] != self.config.dim:
            raise ValueError(f"BlockMLP expects (batch, {self.config.dim}), got {tuple(x.shape)}")
        return self.inp(x.to(self.inp.weight.dtype)), self.cond(c_noise, cond, batch=x.shape[0])

    def final(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.out(h)
