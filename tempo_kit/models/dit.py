"""A reference Diffusion Transformer for mel frames or latents, patchified along time, routable block by block.

Peebles & Xie (2023) DiT with adaLN-Zero conditioning; the per-block modulation uses PixArt-alpha's "adaLN-single"
(one shared ``Linear(width, 6 width)`` plus a learned per-block table), which keeps the reference model near 4 M
parameters at width 256. Every modulation starts at zero, so each block starts as the identity and ``F`` starts at 0.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ..utils import check_int
from .blocks import BlockNet, CondEmbedder, sinusoidal_embedding

__all__ = ["DiTConfig", "DiT", "DiTBlock"]


@attrs.frozen(kw_only=True)
class DiTConfig:
    """Architecture of :class:`DiT`.

    Parameters
    ----------
    in_channels : int
        Channels of the input ``(batch, in_channels, frames)``: 80 for log-mel frames, C for latents.
    patch : int
        Frames per token; ``frames`` must be a multiple of it.
    width, depth, heads, mlp_ratio
        Transformer size.
    num_tags, num_classes, text_dim : int
        Content conditioning (multi-hot tags, class ids or a text-embedding vector); 0 = off; at most one.
    w_embedding : bool
        Distilled CFG weight input (LCM, Luo et al. 2023), zero-initialized.
    budget_embedding : bool
        Presto-L layer-budget input (Novack et al. 2025), zero-initialized.
    refiner : int
        Channels of a full-resolution convolutional refiner after the un-patchify (0 = off). Each token's
        ``patch * in_channels`` outputs come from ``width`` features, so without it the output of a token lies in a
        ``width``-dimensional subspace: when ``patch * in_channels > width``, noise outside that subspace is never
        removed and samples keep residual noise. The refiner sees the un-patchified output and the network input, is
        FiLM-modulated by the conditioning vector, and its last layer starts at zero (a DiT without it loads into one
        with it and computes the same function).
    """

    in_channels: int = 80
    patch: int = 4
    width: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 2.0
    num_tags: int = 0
    num_classes: int = 0
    text_dim: int = 0
    w_embedding: bool = False
    budget_embedding: bool = False
    refiner: int = 0

    def __attrs_post_init__(self):
        for name in ("in_channels", "patch", "width", "depth", "heads"):
            check_int(getattr(self, name), name, low=1)
        for name in ("num_tags", "num_classes", "text_dim", "refiner"):
            check_int(getattr(self, name), name, low=0)
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")

    @classmethod
    def tiny(cls, **overrides) -> "DiTConfig":
        """A few-thousand-parameter configuration for tests."""
        return cls(**{"in_channels": 4, "patch": 2, "width": 32, "depth": 4, "heads": 2, **overrides})


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Pre-LN transformer block, modulated by ``(shift, scale, gate) x 2`` (adaLN-Zero)."""

    def __init__(self, *, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.table = nn.Parameter(torch.zeros(6, width))

    def forward(self, h: torch.Tensor, c: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``h``: tokens ``(batch, n, width)``; ``c``: ``(c_vec, mod)`` with ``mod`` of shape ``(batch, 6, width)``."""
        shift1, scale1, gate1, shift2, scale2, gate2 = (c[1] + self.table.to(c[1].dtype)).unbind(1)
        b, n, w = h.shape
        x = _modulate(self.norm1(h), shift1, scale1)
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, w)
        h = h + gate1[:, None] * self.proj(a)
        return h + gate2[:, None] * self.mlp(_modulate(self.norm2(h), shift2, scale2))


class DiT(BlockNet):
    """Raw network ``F(x_in, c_noise, cond) -> (batch, in_channels, frames)`` implementing the block protocol.

    Use inside :class:`~tempo_kit.denoisers.EDMPrecond`. ``embed`` patchifies ``(batch, C, frames)`` into
    ``frames / patch`` tokens with sinusoidal positions and builds the conditioning (:class:`CondEmbedder`); each block is
    a :class:`DiTBlock`; ``final`` applies a modulated LayerNorm and a zero-initialized linear un-patchify.

    Parameters
    ----------
    config : DiTConfig
    """

    registry_name = "dit"

    def __init__(self, *, config: DiTConfig = DiTConfig()):
        super().__init__()
        self.config = config
        c = config
        self.patch_in = nn.Linear(c.in_channels * c.patch, c.width)
        self.cond = CondEmbedder(width=c.width, num_tags=c.num_tags, num_classes=c.num_classes, text_dim=c.text_dim,
                                 w_embedding=c.w_embedding, max_budget=c.depth if c.budget_embedding else 0)
        self.adaln = nn.Linear(c.width, 6 * c.width)
        self.blocks = nn.ModuleList(DiTBlock(width=c.width, heads=c.heads, mlp_ratio=c.mlp_ratio) for _ in range(c.depth))
        self.norm_out = nn.LayerNorm(c.width, elementwise_affine=False, eps=1e-6)
        self.adaln_out = nn.Linear(c.width, 2 * c.width)
        self.patch_out = nn.Linear(c.width, c.in_channels * c.patch)
        zeros = [self.adaln, self.adaln_out, self.patch_out]
        if c.refiner:
            self.refine_in = nn.Conv1d(2 * c.in_channels, c.refiner, 3, padding=1)
            self.refine_film = nn.Linear(c.width, 2 * c.refiner)
            self.refine_mid = nn.Conv1d(c.refiner, c.refiner, 3, padding=1)
            self.refine_out = nn.Conv1d(c.refiner, c.in_channels, 3, padding=1)
            zeros += [self.refine_film, self.refine_out]
        for layer in zeros:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.config
        if x.ndim != 3 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"DiT expects (batch, {cfg.in_channels}, frames), got {tuple(x.shape)}")
        b, ch, t = x.shape
        if t % cfg.patch:
            raise ValueError(f"frames ({t}) must be a multiple of the patch size ({cfg.patch})")
        tokens = x.view(b, ch, t // cfg.patch, cfg.patch).permute(0, 2, 1, 3).reshape(b, t // cfg.patch, ch * cfg.patch)
        h = self.patch_in(tokens.to(self.patch_in.weight.dtype))
        pos = sinusoidal_embedding(torch.arange(t // cfg.patch, device=x.device), cfg.width).to(h.dtype)
        h = h + pos[None]
        c_vec = self.cond(c_noise, cond, batch=b)
        mod = self.adaln(F.silu(c_vec)).view(b, 6, cfg.width)
        return h, (c_vec, mod, x) if cfg.refiner else (c_vec, mod)

    def final(self, h: torch.Tensor, c: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        cfg = self.config
        shift, scale = self.adaln_out(F.silu(c[0])).chunk(2, dim=-1)
        out = self.patch_out(_modulate(self.norm_out(h), shift, scale))  # (b, n, ch * p)
        b, n, _ = out.shape
        out = out.view(b, n, cfg.in_channels, cfg.patch).permute(0, 2, 1, 3).reshape(b, cfg.in_channels, n * cfg.patch)
        if not cfg.refiner:
            return out
        scale, shift = self.refine_film(F.silu(c[0])).chunk(2, dim=-1)
        r = self.refine_in(torch.cat([out, c[2].to(out.dtype)], dim=1))
        r = F.silu(r * (1 + scale[..., None]) + shift[..., None])
        return out + self.refine_out(F.silu(self.refine_mid(r)))

    def channels_first(self, h: torch.Tensor) -> torch.Tensor:
        return h.transpose(1, 2)
