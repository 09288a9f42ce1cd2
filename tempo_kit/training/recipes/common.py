"""Helpers shared by the step-distillation recipes (CM, CTM, Presto-S, Presto-LS).

Conditioning, guidance, teacher ODE steps, frozen / trainable copies of networks and the read-out of a denoiser's
middle features. Everything here is stateless; randomness comes from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

import torch
from torch import nn

from ...denoisers import Denoiser, EDMPrecond
from ...jumps import ode_step
from ...utils import append_dims
from ..data import split_batch
from ..ema import ema_update
from ..recipe import Recipe, UpdateRule, trainable

__all__ = [
    "GridDistillation",
    "randn",
    "uniform",
    "sample_w",
    "with_cond",
    "guided_denoise",
    "teacher_step",
    "as_denoiser",
    "frozen",
    "frozen_copy",
    "trainable_copy",
    "feature_layer",
    "denoiser_features",
    "check_w_embedding",
    "distance",
]


def randn(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn from ``generator`` (on its device) and moved to ``like``'s."""
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def uniform(n: int, low: float, high: float, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``n`` draws from ``U[low, high]``, shape ``(n,)``."""
    gdev = generator.device if generator is not None else device
    return (low + (high - low) * torch.rand(n, generator=generator, device=gdev)).to(device)


def sample_w(n: int, w_range: tuple[float, float], *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Per-example CFG weights ``w ~ U[w_min, w_max]``, as in LCM (Luo et al. 2023) and DITTO-2.

    Imagen convention, ``w = 1`` no guidance. The convention and range are our choice; DITTO-2 does not state them.
    """
    w_min, w_max = w_range
    if not 0 <= w_min <= w_max:
        raise ValueError(f"w_range must satisfy 0 <= w_min <= w_max, got {w_range}")
    return uniform(n, w_min, w_max, generator=generator, device=device)


def with_cond(cond: Any, **extra: Any) -> Any:
    """Return a copy of the dict ``cond`` (``None`` counts as ``{}``) with ``extra`` entries added."""
    if not extra:
        return cond
    if cond is None:
        return dict(extra)
    if not isinstance(cond, dict):
        raise TypeError(f"conditioning must be a dict (or None) to add {sorted(extra)}, got {type(cond).__name__}")
    return {**cond, **extra}


def guided_denoise(denoiser: nn.Module, x: torch.Tensor, sigma: torch.Tensor, cond: Any, w, null_cond: Any = None) -> torch.Tensor:
    """Classifier-free guidance with a per-example weight: ``D(null) + w (D(cond) - D(null))``
    (DITTO, Novack et al. 2024, Eq. 13, written for the denoiser).

    ``w`` is a float or a ``(batch,)`` tensor (Imagen convention). ``null_cond`` is the unconditional ``cond`` or a
    callable ``cond -> null cond``. When ``cond`` is already the null condition only one call is made.
    """
    d_cond = denoiser(x, sigma, cond)
    null = null_cond(cond) if callable(null_cond) else null_cond
    if null is None and cond is None:
        return d_cond
    if not isinstance(w, torch.Tensor) and float(w) == 1.0:
        return d_cond
    d_null = denoiser(x, sigma, null)
    w = torch.as_tensor(w, device=x.device, dtype=x.dtype)
    w = append_dims(w.expand(x.shape[0]), x.ndim)
    return d_null + w * (d_cond - d_null)


def teacher_step(teacher: nn.Module, x: torch.Tensor, sigma_from, sigma_to, cond: Any, *, w=1.0, null_cond: Any = None,
                 solver: str = "heun") -> torch.Tensor:
    """One guided probability-flow ODE step of the teacher, ``sigma_from -> sigma_to`` (Theta in DITTO-2 Eq. 1 / 4).

    Samples with ``sigma_to == 0`` take the Euler step, i.e. land on the teacher's guided ``x0`` prediction.
    """
    guided = lambda x_, s_, c_: guided_denoise(teacher, x_, s_, c_, w, null_cond)  # noqa: E731
    return ode_step(guided, x, sigma_from, sigma_to, cond, solver=solver)


@contextlib.contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on the modules' parameters; gradients still flow *through* them.

    Used for the Presto-S generator turn, as DMD2's code does (Yin et al. 2024): the fake score and discriminator carry
    the GAN gradient to ``x_hat`` but receive none themselves.
    """
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def as_denoiser(module: Any, name: str, *, sigma_data: float = 0.5) -> nn.Module:
    """A denoiser ``D(x, sigma, cond)``: a :class:`~tempo_kit.denoisers.Denoiser` as is, a raw network ``F(x_in,
    c_noise, cond)`` (e.g. a loaded :class:`~tempo_kit.models.BlockMLP`) wrapped in :class:`EDMPrecond`."""
    if isinstance(module, Denoiser):
        return module
    if not isinstance(module, nn.Module):
        raise TypeError(f"{name} must be a denoiser or a raw network (nn.Module), got {type(module).__name__}")
    return EDMPrecond(net=module, sigma_data=sigma_data)


def frozen_copy(module: nn.Module) -> nn.Module:
    """Deep copy with gradients off (EMA targets)."""
    out = copy.deepcopy(module)
    out.requires_grad_(False)
    return out


def trainable_copy(module: nn.Module) -> nn.Module:
    """Deep copy with gradients on (students, fake scores initialized from the teacher)."""
    out = copy.deepcopy(module)
    out.requires_grad_(True)
    return out


def feature_layer(denoiser: nn.Module, layer: int | None = None) -> int:
    """0-based block whose output a GAN head reads: ``layer`` or the middle block (``num_blocks // 2 - 1``, i.e.
    Presto's block 14 of 28, from the authors' ICLR 2025 review answers, Novack et al. 2025)."""
    net = getattr(denoiser, "net", None)
    base = getattr(net, "net", net)  # look through a router wrapper
    num = getattr(base, "num_blocks", None)
    if num is None:
        raise TypeError(f"{type(denoiser).__name__} does not wrap a block model (tempo_kit.models.BlockNet): "
                        "no middle features for the GAN head")
    layer = max(num // 2 - 1, 0) if layer is None else int(layer)
    if not 0 <= layer < num:
        raise ValueError(f"feature layer {layer} is outside [0, {num - 1}] for a {num}-block model")
    return layer


def denoiser_features(denoiser: nn.Module, x: torch.Tensor, sigma, cond: Any = None, *, layer: int) -> torch.Tensor:
    """Hidden features after block ``layer`` of an EDM-preconditioned block model, channels first with a time axis:
    ``(batch, width, tokens)`` (``tokens = 1`` for vector data). See :func:`tempo_kit.models.features`."""
    from ...models import features

    h = features(denoiser, x, sigma, cond, layer=layer)
    return h[..., None] if h.ndim == 2 else h.flatten(2)


def check_w_embedding(student: nn.Module) -> None:
    """Raise if the student's network declares no distilled-``w`` embedding (it would silently ignore ``cond["w"]``)."""
    net = getattr(student, "net", student)
    config = getattr(getattr(net, "net", net), "config", None)
    if config is not None and getattr(config, "w_embedding", True) is False:
        raise ValueError("the student network has no w embedding (config.w_embedding=False), so it cannot learn the "
                         "distilled CFG weight: build the teacher with w_embedding=True, or pass w_range=None")


def distance(a: torch.Tensor, b: torch.Tensor, *, kind: str = "l2", huber_c: float = 1e-3) -> torch.Tensor:
    """Mean distance between ``a`` and ``b``: squared L2 (``"l2"``) or LCM's pseudo-Huber ``sqrt(d^2 + c^2) - c``."""
    if kind == "l2":
        return (a - b).pow(2).mean()
    if kind == "huber":
        return ((a - b).pow(2) + huber_c**2).sqrt().mean() - huber_c
    raise ValueError(f"loss must be 'l2' or 'huber', got {kind!r}")


class GridDistillation(Recipe):
    """What consistency distillation (:class:`~tempo_kit.training.recipes.cm.CMRecipe`) and CTM
    (:class:`~tempo_kit.training.recipes.ctm.CTMRecipe`) share: a frozen ``teacher``, a trainable student ``net`` with
    an EMA ``target`` copy, a sigma ``grid`` buffer set by the subclass, optional distilled guidance weights, and one
    ``"student"`` parameter group."""

    def _setup(self, *, teacher: nn.Module, net: nn.Module, w_range, null_cond: Any, solver: str, ema_decay: float,
               loss: str, huber_c: float, lr: float, betas) -> None:
        if loss not in ("l2", "huber"):
            raise ValueError(f"loss must be 'l2' or 'huber', got {loss!r}")
        self.teacher, self.net = teacher, net
        w_range = tuple(w_range) if w_range else None  # TOML configs say false
        if w_range is not None:
            check_w_embedding(self.net)
        self.target = frozen_copy(self.net)
        self.solver, self.w_range, self.null_cond = solver, w_range, null_cond
        self.ema_decay, self.loss, self.huber_c = float(ema_decay), loss, float(huber_c)
        self.rule = UpdateRule(group="student", lr=float(lr), betas=tuple(betas))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"student": trainable(self.net)}

    def update_rules(self) -> list[UpdateRule]:
        return [self.rule]

    def after_step(self, step: int) -> None:
        ema_update(self.target, self.net, self.ema_decay)

    def _batch(self, batch: Any, generator: torch.Generator | None):
        """``(x0, cond, grid, gdev)``: the batch, the grid on its device and dtype, and the generator's device."""
        x0, cond = split_batch(batch)
        gdev = generator.device if generator is not None else x0.device
        return x0, cond, self.grid.to(device=x0.device, dtype=x0.dtype), gdev

    def _guidance(self, x0: torch.Tensor, cond: Any, generator: torch.Generator | None):
        """``(w, student_cond)``: a guidance weight per sample drawn from ``w_range`` and carried in the student's
        condition, or ``(1.0, cond)`` without distilled guidance."""
        if self.w_range is None:
            return 1.0, cond
        w = sample_w(x0.shape[0], self.w_range, generator=generator, device=x0.device).to(x0.dtype)
        return w, with_cond(cond, w=w)
