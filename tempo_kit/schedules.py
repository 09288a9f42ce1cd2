"""Noise-level (sigma) schedules and sigma distributions.

Everything is expressed in the EDM/VE noise level ``sigma``: ``x_sigma = x0 + sigma * eps``.
Schedules are plain tensors, decreasing, ending with an appended ``0``; nothing here holds a step counter.
"""

from __future__ import annotations

import math
import numbers

import attrs
import torch

from .utils import check_int, in_range

__all__ = [
    "EDM_SIGMA_MIN",
    "EDM_SIGMA_MAX",
    "EDM_RHO",
    "Schedule",
    "KarrasSchedule",
    "ExponentialSchedule",
    "PolyExponentialSchedule",
    "VPSchedule",
    "JumpRefineSchedule",
    "LogNormalSigma",
    "karras_sigmas",
    "teacher_grid",
    "decoding_sigmas",
    "user_sigmas",
]

EDM_SIGMA_MIN = 0.002
EDM_SIGMA_MAX = 80.0
EDM_RHO = 7.0


def karras_sigmas(
    n: int,
    *,
    sigma_min: float = EDM_SIGMA_MIN,
    sigma_max: float = EDM_SIGMA_MAX,
    rho: float = EDM_RHO,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Karras et al. (2022) Eq. 5 discretization with a final 0 appended.

    Returns
    -------
    Tensor, shape ``(n + 1,)``
        ``sigma_0 = sigma_max > ... > sigma_{n-1} = sigma_min > sigma_n = 0``.
    """
    n = check_int(n, "karras_sigmas: n (steps)", low=1)
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    ramp = torch.linspace(0, 1, n, dtype=dtype) if n > 1 else torch.zeros(1, dtype=dtype)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def _check_range(sigma_min: float, sigma_max: float) -> None:
    if not 0 < sigma_min < sigma_max < math.inf:
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf, got sigma_min={sigma_min}, sigma_max={sigma_max}")


def _check_steps(n: int) -> None:
    check_int(n, "a schedule's number of steps n", low=1)


@attrs.frozen(kw_only=True)
class Schedule:
    """Base class of inference schedules: ``sigmas(n)`` gives ``n`` sampler steps, shape ``(n + 1,)`` ending in 0."""

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class ExponentialSchedule(Schedule):
    """Evenly spaced in ``log sigma`` from ``sigma_max`` to ``sigma_min`` (k-diffusion ``get_sigmas_exponential``)."""

    sigma_min: float = EDM_SIGMA_MIN
    sigma_max: float = EDM_SIGMA_MAX

    def __attrs_post_init__(self):
        _check_range(self.sigma_min, self.sigma_max)

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        _check_steps(n)
        sigmas = torch.linspace(math.log(self.sigma_max), math.log(self.sigma_min), int(n), dtype=dtype).exp()
        return torch.cat([sigmas, sigmas.new_zeros(1)])


@attrs.frozen(kw_only=True)
class PolyExponentialSchedule(Schedule):
    """``log sigma`` a polynomial ramp: ``sigma_k = exp(u_k^rho (log sigma_max - log sigma_min) + log sigma_min)`` with
    ``u_k`` from 1 to 0 (k-diffusion ``get_sigmas_polyexponential``); ``rho = 1`` is :class:`ExponentialSchedule`."""

    sigma_min: float = EDM_SIGMA_MIN
    sigma_max: float = EDM_SIGMA_MAX
    rho: float = attrs.field(default=1.0, validator=in_range(0, open_low=True))

    def __attrs_post_init__(self):
        _check_range(self.sigma_min, self.sigma_max)

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        _check_steps(n)
        ramp = torch.linspace(1, 0, int(n), dtype=dtype) ** self.rho
        lo, hi = math.log(self.sigma_min), math.log(self.sigma_max)
        sigmas = (ramp * (hi - lo) + lo).exp()
        return torch.cat([sigmas, sigmas.new_zeros(1)])


@attrs.frozen(kw_only=True)
class VPSchedule(Schedule):
    """The continuous VP (DDPM) schedule in sigma form, ``sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)`` at ``t``
    evenly spaced from 1 to ``eps_s`` (Song et al. 2021; k-diffusion ``get_sigmas_vp``). The defaults span sigma
    152 to 0.0105."""

    beta_d: float = attrs.field(default=19.9, validator=in_range(0, open_low=True))
    beta_min: float = attrs.field(default=0.1, validator=in_range(0))
    eps_s: float = attrs.field(default=1e-3, validator=in_range(0, 1, open_low=True, open_high=True))

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        _check_steps(n)
        t = torch.linspace(1, self.eps_s, int(n), dtype=dtype)
        sigmas = (self.beta_d * t**2 / 2 + self.beta_min * t).exp().sub(1).sqrt()
        return torch.cat([sigmas, sigmas.new_zeros(1)])


@attrs.frozen(kw_only=True)
class KarrasSchedule(Schedule):
    """The EDM inference discretization, also the continuous ``p_inf`` distribution of Presto-S.

    Parameters
    ----------
    sigma_min, sigma_max : float
        Range of noise levels.
    rho : float
        Curvature; 7 concentrates steps at low noise (EDM default).
    """

    sigma_min: float = EDM_SIGMA_MIN
    sigma_max: float = EDM_SIGMA_MAX
    rho: float = EDM_RHO

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``n`` sampler steps: shape ``(n + 1,)`` ending in 0 (see :func:`karras_sigmas`)."""
        return karras_sigmas(n, sigma_min=self.sigma_min, sigma_max=self.sigma_max, rho=self.rho, dtype=dtype)

    def sigma_at(self, u: torch.Tensor) -> torch.Tensor:
        """Continuous Karras coordinate: ``u = 0`` gives ``sigma_max``, ``u = 1`` gives ``sigma_min``."""
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return (hi + u * (lo - hi)) ** self.rho

    def u_of(self, sigma: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`sigma_at` (clamped to [0, 1])."""
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return ((sigma.clamp_min(1e-12) ** (1 / self.rho) - hi) / (lo - hi)).clamp(0, 1)

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Draw ``n`` sigmas from ``p_inf``: ``u ~ U[0, 1]`` mapped through :meth:`sigma_at` (Presto-S).

        Presto! (Novack et al. 2025); this definition is as recalled from the paper, not verified.
        """
        u = torch.rand(n, generator=generator, device=device)
        return self.sigma_at(u)


@attrs.frozen(kw_only=True)
class JumpRefineSchedule(Schedule):
    """One jump from ``sigma_max``, then ``n - 1`` re-noise levels evenly spaced in ``log sigma`` from ``refine_max``
    down to ``refine_min`` (ours): few-step consistency sampling that spends its extra steps refining at low noise.

    ``sigmas(1) = [sigma_max, 0]``, ``sigmas(2) = [sigma_max, refine_max, 0]``, ``sigmas(4) = [sigma_max, refine_max,
    sqrt(refine_max * refine_min), refine_min, 0]`` (with the defaults ``[80, 0.15, 0.047, 0.015, 0]``). The defaults
    are the Presto-S sampler's, chosen on 256 validation clips among re-noise levels from 0.005 to 1
    (``benchmarks/results/presto_levels_edm/presto_s_refine.md``): a jump re-noised to a level this low keeps the
    one-step sample's content and each further jump of the low-noise expert refines its detail, where the Karras
    levels (``80, 9.7, 0.47, 0.002``) redraw the content at 9.7 and waste the last step at 0.002.
    """

    sigma_max: float = attrs.field(default=EDM_SIGMA_MAX, validator=in_range(0, open_low=True))
    refine_max: float = attrs.field(default=0.15, validator=in_range(0, open_low=True))
    refine_min: float = attrs.field(default=0.015, validator=in_range(0, open_low=True))

    def __attrs_post_init__(self):
        if not 0 < self.refine_min < self.refine_max < self.sigma_max < math.inf:
            raise ValueError(f"need 0 < refine_min < refine_max < sigma_max < inf, got refine_min={self.refine_min}, "
                             f"refine_max={self.refine_max}, sigma_max={self.sigma_max}")

    def sigmas(self, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        _check_steps(n)
        refine = torch.linspace(math.log(self.refine_max), math.log(self.refine_min), int(n) - 1, dtype=dtype).exp()
        if n > 1:  # the ends exactly as given
            refine[0] = self.refine_max
        if n > 2:
            refine[-1] = self.refine_min
        return torch.cat([torch.tensor([self.sigma_max], dtype=dtype), refine, torch.zeros(1, dtype=dtype)])


@attrs.frozen(kw_only=True)
class LogNormalSigma:
    """EDM training distribution ``ln sigma ~ N(p_mean, p_std^2)`` (Karras et al. 2022, Sec. 5); Presto's ``p_train``."""

    p_mean: float = -1.2
    p_std: float = 1.2

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return (torch.randn(n, generator=generator, device=device) * self.p_std + self.p_mean).exp()


def teacher_grid(
    n: int = 20, *, schedule: KarrasSchedule = KarrasSchedule(), dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The evenly spaced teacher grid used for CM/CTM distillation (DITTO-2, Novack et al. 2024, Sec. 4.2).

    For EDM-family models we read "evenly spaced across the trajectory" as evenly spaced in the Karras coordinate,
    i.e. the ``n``-step Karras schedule. Returns shape ``(n + 1,)``, decreasing, last entry 0.
    Grid index ``j`` counted from the clean end (``j = 0`` clean, ``j = n`` noisiest) is ``grid[n - j]``.
    A sampling schedule that is not a trajectory's discretisation (:class:`JumpRefineSchedule`) is a ``TypeError``.
    """
    if isinstance(schedule, JumpRefineSchedule):
        raise TypeError("a teacher grid discretises the whole trajectory; JumpRefineSchedule (the presto-s sampler's "
                        "levels) does not: give a sampler with a KarrasSchedule (e.g. CMMultistep()) to DITTO-2")
    return schedule.sigmas(n, dtype=dtype)


def decoding_sigmas(steps: int, *, grid: torch.Tensor) -> torch.Tensor:
    """Pick ``steps`` decoding levels from a teacher grid (our rule): ``j_k = floor(k * N / steps + 0.5)``.

    Parameters
    ----------
    steps : int
        Number of decoding steps ``T`` (``1 <= T <= N``).
    grid : Tensor, shape ``(N + 1,)``
        Decreasing teacher grid ending in 0, e.g. from :func:`teacher_grid`.

    Returns
    -------
    Tensor, shape ``(steps + 1,)``: decreasing, first entry the grid's start, last entry 0.
    """
    n = grid.numel() - 1
    if not 1 <= steps <= n:
        raise ValueError(f"decoding steps must be in [1, {n}] for a {n}-step grid, got {steps}")
    j = [math.floor(k * n / steps + 0.5) for k in range(steps, -1, -1)]
    return grid[[n - jj for jj in j]]


def user_sigmas(sigmas, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Validate user-given sigmas: a 1-D sequence, strictly decreasing, positive, and ending with 0 (appended if
    missing). A lone number is an error: as a step count it must be an int, which samplers take before this."""
    given = sigmas
    if not isinstance(sigmas, (bool, str, bytes, numbers.Number)):
        sigmas = torch.as_tensor(sigmas, dtype=dtype)
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1:
        raise TypeError(f"sigmas must be a 1-D sequence of decreasing noise levels (or, for a number of steps, an "
                        f"int), got {given!r}")
    if sigmas.numel() == 0:
        raise ValueError("sigmas must not be empty")
    if torch.isnan(sigmas).any() or torch.isinf(sigmas).any():
        raise ValueError("sigmas must be finite")
    if sigmas[-1] != 0:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    if sigmas.numel() < 2:
        raise ValueError("sigmas must hold at least one step: a positive start level before the final 0, got [0]")
    if (sigmas[:-1] <= 0).any():
        raise ValueError("every sigma except the final 0 must be positive")
    if not (sigmas[1:] < sigmas[:-1]).all():
        raise ValueError(f"sigmas must be strictly decreasing, got {sigmas.tolist()}")
    return sigmas
