"""The block-iteration protocol that layer routers use, and the conditioning embeddings the built-in nets share.

A *block model* is a raw network ``F(x_in, c_noise, cond)`` (the ``net`` inside
:class:`~tempo_kit.denoisers.EDMPrecond`) that exposes its residual blocks::

    h, c = net.embed(x_in, c_noise, cond)      # tokens/hidden state and the conditioning (opaque to routers)
    for i in active_blocks:                    # any subset, in increasing order
        h = net.run_block(i, h, c)
    out = net.final(h, c)                      # same shape as x_in
    net.num_blocks                             # int; net.blocks is an nn.ModuleList

Any module with these four members can be routed (:mod:`tempo_kit.routers`) and distilled by the layer recipes; there
is no per-architecture registry. :class:`BlockNet` implements ``forward`` and ``features`` from them.

``cond`` is ``None`` (unconditional) or a dict; the built-in nets understand these keys (all optional):

``"tags"``  (batch, num_tags) float multi-hot, ``"class"`` (batch,) long, ``"text"`` (batch, text_dim) float,
``"null"``  (batch,) bool: samples whose tags/class/text are replaced by the learned null embedding (CFG dropout),
``"w"``     (batch,) float: distilled CFG weight (LCM-style, Luo et al. 2023),
``"budget"`` (batch,) long: number of active blocks (Presto-L, Novack et al. 2025); missing = full depth.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Protocol, runtime_checkable

import torch
from torch import nn

from ..routers import check_budget, is_block_model
from ..utils import append_dims, as_sigma

__all__ = [
    "BlockModel",
    "BlockNet",
    "CondEmbedder",
    "sinusoidal_embedding",
    "null_condition",
    "is_block_model",
    "check_budget",
    "features",
]

CONTENT_KEYS = ("tags", "class", "text")


@runtime_checkable
class BlockModel(Protocol):
    """Structural type of a routable network (see module docstring)."""

    blocks: nn.ModuleList

    @property
    def num_blocks(self) -> int: ...

    def embed(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any) -> tuple[Any, Any]: ...

    def run_block(self, i: int, h: Any, c: Any) -> Any: ...

    def final(self, h: Any, c: Any) -> torch.Tensor: ...


def null_condition(cond: Any) -> Any:
    """The unconditional version of ``cond`` for classifier-free guidance: drops tags/class/text, keeps ``w``/``budget``.

    Use as ``CFGDenoiser(denoiser=..., w=..., null_cond=null_condition)``.
    """
    if cond is None:
        return None
    kept = {k: v for k, v in cond.items() if k not in CONTENT_KEYS and k != "null"}
    return kept or None


def sinusoidal_embedding(t: torch.Tensor, dim: int, *, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features ``[sin(t f_k), cos(t f_k)]``, ``f_k = exp(-ln(max_period) k / (dim/2 - 1))``
    (as LCM's ``guidance_scale_embedding``, Luo et al. 2023).

    Parameters
    ----------
    t : Tensor, shape ``(batch,)``
    dim : int
        Even output width.

    Returns
    -------
    Tensor, shape ``(batch, dim)``, float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class CondEmbedder(nn.Module):
    """Everything that conditions a block model, summed into one vector of width ``width`` that feeds adaLN.

    ``c = MLP(sin(1000 c_noise)) + E_content(tags|class|text or null) + Linear(sin(1000 w)) + MLP(E_budget(n))``.
    The ``w`` projection (LCM, Luo et al. 2023) and the budget MLP's last layer (Presto-L, Novack et al. 2025; the MLP
    and its zero-initialization are our choice) are zero-initialized, so a copied teacher starts with the teacher's
    exact function.

    Parameters
    ----------
    width : int
        Conditioning width.
    num_tags, num_classes, text_dim : int
        Content conditioning (0 = off). At most one of the three may be set.
    w_embedding : bool
        Add the distilled-CFG-weight embedding.
    max_budget : int
        Largest layer budget for the budget embedding (0 = off); usually the model depth.
    """

    def __init__(self, *, width: int, num_tags: int = 0, num_classes: int = 0, text_dim: int = 0,
                 w_embedding: bool = False, max_budget: int = 0):
        super().__init__()
        if sum(bool(n) for n in (num_tags, num_classes, text_dim)) > 1:
            raise ValueError("set at most one of num_tags, num_classes, text_dim")
        self.width = width
        self.max_budget = max_budget
        self.time = nn.Sequential(nn.Linear(256, width), nn.SiLU(), nn.Linear(width, width))
        self.content: nn.Module | None = None
        self.content_key = None
        if num_tags:
            self.content, self.content_key = nn.Linear(num_tags, width), "tags"
        elif num_classes:
            self.content, self.content_key = nn.Embedding(num_classes, width), "class"
        elif text_dim:
            self.content, self.content_key = nn.Linear(text_dim, width), "text"
        self.null = nn.Parameter(torch.zeros(width)) if self.content is not None else None
        self.w_proj = nn.Linear(256, width, bias=False) if w_embedding else None
        if self.w_proj is not None:
            nn.init.zeros_(self.w_proj.weight)
        self.budget: nn.Module | None = None
        if max_budget:
            self.budget = nn.Sequential(nn.Embedding(max_budget + 1, width), nn.SiLU(), nn.Linear(width, width))
            nn.init.zeros_(self.budget[-1].weight)
            nn.init.zeros_(self.budget[-1].bias)

    def forward(self, c_noise: torch.Tensor, cond: Any, *, batch: int) -> torch.Tensor:
        c = self.time(sinusoidal_embedding(1000 * c_noise, 256).to(self.time[0].weight.dtype))
        cond = cond or {}
        if not isinstance(cond, dict):
            raise TypeError(f"cond must be None or a dict of tensors, got {type(cond).__name__}")
        if self.content is not None:
            value = cond.get(self.content_key)
            null = self.null.expand(batch, -1)
            if value is None:
                c = c + null
            else:
                value = value.long() if self.content_key == "class" else value.to(c.dtype)
                emb = self.content(value)
                drop = cond.get("null")
                if drop is not None:
                    emb = torch.where(drop.bool()[:, None], null, emb)
                c = c + emb
        if self.w_proj is not None and cond.get("w") is not None:
            w = as_sigma(cond["w"], c[:, 0])
            c = c + self.w_proj(sinusoidal_embedding(1000 * w, 256).to(c.dtype))
        if self.budget is not None:
            budget = cond.get("budget")
            budget = torch.full((batch,), self.max_budget, device=c.device) if budget is None else torch.as_tensor(budget, device=c.device).long().expand(batch)
            if (budget < 1).any() or (budget > self.max_budget).any():
                raise ValueError(f"layer budget must lie in [1, {self.max_budget}], got {budget.tolist()}")
            c = c + self.budget(budget)
        return c


class BlockNet(nn.Module):
    """Base class of the built-in block models: ``forward`` and ``features`` written once on top of the protocol.

    Subclasses define ``blocks`` (an ``nn.ModuleList``), ``embed``, ``run_block`` and ``final``, and keep their
    architecture in a frozen attrs ``config`` (see :mod:`tempo_kit.models.io` for save/load).
    """

    blocks: nn.ModuleList
    registry_name: str = ""

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def embed(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any) -> tuple[Any, Any]:  # pragma: no cover
        raise NotImplementedError

    def run_block(self, i: int, h: Any, c: Any) -> Any:
        return self.blocks[i](h, c)

    def final(self, h: Any, c: Any) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any = None, *,
                active: Iterable[int] | None = None) -> torch.Tensor:
        """``F(x_in, c_noise, cond)``; ``active`` restricts the blocks that run (default: all, in order)."""
        h, c = self.embed(x, c_noise, cond)
        for i in range(self.num_blocks) if active is None else active:
            h = self.run_block(i, h, c)
        return self.final(h, c)

    def hidden(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any = None, *, layer: int) -> torch.Tensor:
        """Hidden state after block ``layer`` (0-based), channels first: ``(batch, width, *tokens)``."""
        if not 0 <= layer < self.num_blocks:
            raise ValueError(f"layer {layer} is outside [0, {self.num_blocks - 1}]")
        h, c = self.embed(x, c_noise, cond)
        for i in range(layer + 1):
            h = self.run_block(i, h, c)
        return self.channels_first(h)

    def channels_first(self, h: torch.Tensor) -> torch.Tensor:
        """Convert the internal hidden state to ``(batch, width, *tokens)``; identity by default."""
        return h


def features(denoiser: nn.Module, x: torch.Tensor, sigma, cond: Any = None, *, layer: int) -> torch.Tensor:
    """Hidden features after block ``layer`` of an EDM-preconditioned block model, for a GAN head
    (Presto-S, Novack et al. 2025).

    Parameters
    ----------
    denoiser : EDMPrecond
        Wraps a :class:`BlockNet` (or a :class:`~tempo_kit.routers.RoutedNet` around one) as ``.net``.
    x : Tensor, shape ``(batch, channels, *spatial)``
        Noisy input at level ``sigma``.
    sigma : Tensor, shape ``(batch,)``, or float
    layer : int
        0-based block index (e.g. ``num_blocks // 2 - 1`` for "block 14 of 28").

    Returns
    -------
    Tensor, shape ``(batch, width, *tokens)`` (DiT: tokens = frames / patch).
    """
    net = denoiser.net
    base = getattr(net, "net", net)  # look through a RoutedNet
    if not hasattr(base, "hidden"):
        raise TypeError(f"{type(base).__name__} has no hidden(...) method; features need a BlockNet")
    sigma = as_sigma(sigma, x)
    _, _, c_in = denoiser.scalings(sigma)
    c_noise = sigma.clamp_min(1e-20).log() / 4
    return base.hidden(append_dims(c_in, x.ndim) * x, c_noise, cond, layer=layer)
