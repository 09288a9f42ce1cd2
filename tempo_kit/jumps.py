"""The jump contract ``G(x, sigma_from, sigma_to, cond) -> x at sigma_to``, one interface for every few-step generator.

* :class:`ConsistencyJump` - a consistency model or a Presto-S generator: always lands on ``x0`` and ignores
  ``sigma_to`` (CM multistep / Presto-S samplers re-noise afterwards).
* :class:`EulerJump` - CTM's Euler parameterization ``G = (s/t) x + (1 - s/t) g(x, t)`` (Kim et al. 2023, App.;
  DITTO-2 Sec. 3.2). With a teacher denoiser as ``g`` this *is* one Euler step of the probability-flow ODE, so the same
  class serves as the teacher adapter and as DITTO-2's CTM student.
* :class:`ODEJump` - a teacher denoiser plus one Heun (or Euler) step of the probability-flow ODE.

A jump is an ``nn.Module``; every jump exposes the wrapped denoiser as ``.denoiser`` so NFE counters and routers can
reach it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .utils import append_dims, as_sigma, check_sigma

__all__ = ["Jump", "ConsistencyJump", "EulerJump", "ODEJump", "jump_calls", "ode_step"]


class Jump(nn.Module):
    """Base class: ``forward(x, sigma_from, sigma_to, cond=None)``; sigmas have shape ``(batch,)`` or are scalars."""

    def __init__(self, *, denoiser: nn.Module):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x: torch.Tensor, sigma_from, sigma_to, cond: Any = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def calls(self, sigma_to: float) -> int:
        """Denoiser calls of one jump to ``sigma_to`` (what :meth:`Sampler.nfe <tempo_kit.samplers.Sampler.nfe>`
        adds up); 1 unless a subclass says otherwise."""
        return 1


class ConsistencyJump(Jump):
    """Consistency function / Presto-S generator used as a jump: ``G(x, t, s) = f(x, t)`` for every ``s``."""

    def forward(self, x, sigma_from, sigma_to=None, cond=None):
        sigma_from = as_sigma(sigma_from, x)
        check_sigma(sigma_from, "ConsistencyJump sigma_from", positive=True)
        return self.denoiser(x, sigma_from, cond)


class EulerJump(Jump):
    """CTM Euler parameterization ``G(x, t, s) = (s/t) x + (1 - s/t) g(x, t)`` (Kim et al. 2023; DITTO-2 Sec. 3.2).

    The student of DITTO-2 (Novack et al. 2024) Eq. 4. That ``g`` takes no ``s`` input is our reading of DITTO-2
    Sec. 3.2.

    ``G(x, t, t) = x`` exactly and ``G(x, t, 0) = g(x, t)``. ``t`` must be positive.
    """

    def forward(self, x, sigma_from, sigma_to, cond=None):
        t = as_sigma(sigma_from, x)
        s = as_sigma(sigma_to, x)
        _check_pair(t, s, "EulerJump")
        ratio = append_dims(s / t, x.ndim)
        return ratio * x + (1 - ratio) * self.denoiser(x, t, cond)


class ODEJump(Jump):
    """A teacher denoiser plus one step of the probability-flow ODE ``dx/dsigma = (x - D(x, sigma)) / sigma``.

    Parameters
    ----------
    denoiser : Denoiser
        The teacher (wrap it in :class:`~tempo_kit.denoisers.CFGDenoiser` for guidance).
    solver : {"heun", "euler"}
        Heun costs two network calls unless ``sigma_to == 0`` (EDM Alg. 1: no correction on the last step).
    """

    def __init__(self, *, denoiser: nn.Module, solver: str = "heun"):
        super().__init__(denoiser=denoiser)
        if solver not in ("heun", "euler"):
            raise ValueError(f"solver must be 'heun' or 'euler', got {solver!r}")
        self.solver = solver

    def forward(self, x, sigma_from, sigma_to, cond=None):
        return ode_step(self.denoiser, x, sigma_from, sigma_to, cond, solver=self.solver)

    def calls(self, sigma_to: float) -> int:
        return 1 if self.solver == "euler" or sigma_to == 0 else 2


def _check_pair(t: torch.Tensor, s: torch.Tensor, what: str) -> None:
    """A jump goes from a positive level down to a level >= 0 (finite); anything else would be extrapolation."""
    check_sigma(t, f"{what} sigma_from", positive=True)
    check_sigma(s, f"{what} sigma_to")
    if bool((s > t).any()):
        raise ValueError(f"{what}: sigma_to must not exceed sigma_from (a jump goes towards the data)")


def jump_calls(jump, sigma_to: float) -> int:
    """Denoiser calls of one jump of ``jump`` to ``sigma_to``: ``jump.calls(sigma_to)``, or 1 for a model without it."""
    calls = getattr(jump, "calls", None)
    return 1 if calls is None else int(calls(sigma_to))


def ode_step(denoiser, x: torch.Tensor, sigma_from, sigma_to, cond: Any = None, *, solver: str = "heun") -> torch.Tensor:
    """One Euler or Heun step of the probability-flow ODE from ``sigma_from`` to ``sigma_to`` (EDM Alg. 1, lines 5-8).

    Samples whose ``sigma_to`` is 0 take the Euler step only (no Heun correction at ``sigma = 0``).
    """
    t = as_sigma(sigma_from, x)
    s = as_sigma(sigma_to, x)
    _check_pair(t, s, "ode_step")
    tb, sb = append_dims(t, x.ndim), append_dims(s, x.ndim)
    d = (x - denoiser(x, t, cond)) / tb
    x_next = x + (sb - tb) * d
    last = s == 0
    if solver == "euler" or bool(last.all()):
        return x_next
    s_safe = torch.where(last, t, s)
    d2 = (x_next - denoiser(x_next, s_safe, cond)) / append_dims(s_safe, x.ndim)
    heun = x + (sb - tb) * 0.5 * (d + d2)
    return torch.where(append_dims(last, x.ndim), x_next, heun)
