"""A small residual MLP for vector data (toy problems, tests, examples).

It follows the raw-network contract of :class:`~tempo_kit.denoisers.EDMPrecond`, ``F(x_in, c_noise, cond) -> F`` with
``x_in`` of shape ``(batch, dim)``, and understands the conditioning keys the distillation recipes use:

* ``cond["label"]`` - class label, a long tensor ``(batch,)``; a missing key (or ``cond=None``) is the null label used
  for classifier-free guidance;
* ``cond["w"]`` - distilled CFG weight ``(batch,)`` (LCM / DITTO-2, spec 7.3): Fourier features projected by a
  zero-initialized linear map, so a copy of a teacher that never saw ``w`` starts as exactly the teacher;
* ``cond["s"]`` - target-time embedding of full CTM (``c_noise(s)``), zero-initialized in the same way.

The hidden state after any residual block is available through :meth:`ToyMLP.features` (what a GAN head such as
Presto-S's discriminator reads).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["ToyMLP", "fourier_embedding"]


def fourier_embedding(v: torch.Tensor, dim: int, *, scale: float = 1.0) -> torch.Tensor:
    """Sinusoidal embedding ``[sin(scale v f_k), cos(scale v f_k)]``, ``f_k = exp(-ln(10000) k / (dim/2 - 1))``.

    LCM's guidance-scale embedding (spec 7.3) with ``scale = 1000``. ``v`` has shape ``(batch,)``; returns
    ``(batch, dim)``.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=v.device, dtype=torch.float32) / max(half - 1, 1))
    arg = scale * v.float()[:, None] * freqs[None]
    return torch.cat([arg.sin(), arg.cos()], dim=1)


class _Block(nn.Module):
    """Residual block ``h + MLP(LN(h) * (1 + scale) + shift)`` with scale/shift from the conditioning embedding."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mod = nn.Linear(width, 2 * width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width))

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mod(emb).chunk(2, dim=-1)
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class ToyMLP(nn.Module):
    """Residual MLP ``F(x_in, c_noise, cond)`` for data of shape ``(batch, dim)``.

    Parameters
    ----------
    dim : int
        Data dimension.
    width : int
        Hidden width.
    depth : int
        Number of residual blocks (``self.blocks``).
    n_classes : int
        Number of class labels (0: unconditional); the null label is ``n_classes``.
    emb_dim : int
        Size of the Fourier embeddings of ``c_noise``, ``w`` and ``s``.
    """

    def __init__(self, *, dim: int = 2, width: int = 128, depth: int = 4, n_classes: int = 0, emb_dim: int = 32):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.dim, self.width, self.depth, self.n_classes, self.emb_dim = dim, width, depth, n_classes, emb_dim
        self.noise_emb = nn.Sequential(nn.Linear(emb_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.label_emb = nn.Embedding(n_classes + 1, width) if n_classes > 0 else None
        self.w_proj = nn.Linear(emb_dim, width, bias=False)
        self.s_proj = nn.Linear(emb_dim, width, bias=False)
        nn.init.zeros_(self.w_proj.weight)
        nn.init.zeros_(self.s_proj.weight)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(_Block(width) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))

    def embed(self, c_noise: torch.Tensor, cond: Any) -> torch.Tensor:
        """Conditioning embedding ``(batch, width)`` from ``c_noise`` and the ``label`` / ``w`` / ``s`` entries."""
        emb = self.noise_emb(fourier_embedding(c_noise, self.emb_dim, scale=4.0))
        cond = cond or {}
        if self.label_emb is not None:
            label = cond.get("label")
            if label is None:
                label = torch.full_like(c_noise, self.n_classes, dtype=torch.long)
            emb = emb + self.label_emb(label.long())
        if cond.get("w") is not None:
            emb = emb + self.w_proj(fourier_embedding(torch.as_tensor(cond["w"], device=c_noise.device).expand(c_noise.shape[0]), self.emb_dim, scale=10.0))
        if cond.get("s") is not None:
            emb = emb + self.s_proj(fourier_embedding(torch.as_tensor(cond["s"], device=c_noise.device).expand(c_noise.shape[0]), self.emb_dim, scale=4.0))
        return nn.functional.silu(emb)

    def features(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None, *, layer: int | None = None) -> torch.Tensor:
        """Hidden state ``(batch, width)`` after block ``layer`` (default: the middle block, ``depth // 2``)."""
        layer = self.depth // 2 if layer is None else layer
        if not 1 <= layer <= self.depth:
            raise ValueError(f"layer must be in [1, {self.depth}], got {layer}")
        emb = self.embed(c_noise, cond)
        h = self.inp(x_in.float())
        for block in self.blocks[:layer]:
            h = block(h, emb)
        return h

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        if x_in.ndim != 2 or x_in.shape[1] != self.dim:
            raise ValueError(f"ToyMLP expects x of shape (batch, {self.dim}), got {tuple(x_in.shape)}")
        emb = self.embed(c_noise, cond)
        h = self.inp(x_in.float())
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h).to(x_in.dtype)
