"""Samplers: plain loops over an explicit sigma tensor, with randomness and the gradient strategy as inputs.

Every sampler is called the same way::

    x0 = sampler(model, x_T, sigmas, cond=cond, noise=noise, grad=Checkpointed())

* ``model`` is a denoiser (``sampler.drives == "denoiser"``: Euler, Heun, DPM-Solver++, UniPC) or a jump
  (``"jump"``: CM multistep, CTM gamma, Presto-S);
* ``x_T`` is the initial state *at noise level* ``sigmas[0]`` (e.g. ``sigmas[0] * randn``);
* ``sigmas`` is a decreasing tensor ending in 0 (see :mod:`tempo_kit.schedules`), or an int number of steps, which
  selects the sampler's ``schedule``;
* ``noise`` is the per-step noise, shape ``(n_steps, *x_T.shape)``; if omitted it is drawn from ``generator``. A sampler
  given the same noise gives the same output, so an optimization loop can hold it fixed;
* ``grad`` is a :class:`~tempo_kit.grad.GradStrategy` (default: no gradient).

Samplers are frozen attrs value objects holding only their hyper-parameters; there is no hidden step counter.

Writing a sampler
-----------------
A sampler without memory implements :meth:`Sampler.step` (advance ``x`` from ``sigma`` to ``sigma_next``). A
multistep sampler (DPM-Solver++(2M), UniPC) needs what earlier steps computed: it implements :meth:`Sampler.advance`
instead, which receives and returns ``history``, a tuple of tensors (for example the previous denoised outputs). The
history is explicit state: the gradient strategy carries it between steps together with ``x``, so no-grad, backprop and
checkpointed runs see the same values, and step sizes are read from ``sigmas`` rather than remembered. Step ``i`` uses
``noise[i]``. :meth:`Sampler.nfe` counts network calls of the model (for a jump sampler: calls of the jump's denoiser,
as told by the jump's :meth:`~tempo_kit.jumps.Jump.calls`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import attrs
import torch

from .grad import GradStrategy, get_grad_strategy
from .jumps import jump_calls, ode_step
from .schedules import KarrasSchedule, Schedule, user_sigmas
from .utils import as_sigma, in_range, one_of

__all__ = [
    "Sampler",
    "EDMSampler",
    "EulerAncestral",
    "DPMpp2SAncestral",
    "DPMpp2M",
    "DPMpp2MSDE",
    "DPMpp3MSDE",
    "UniPC",
    "CMMultistep",
    "CTMGamma",
    "draw_noise",
]

History = tuple[torch.Tensor, ...]
#: Largest per-step noise a sampler draws for one call (a request beyond it is a mistake, not a workload).
MAX_NOISE_BYTES = 4 * 2**30


def draw_noise(n_steps: int, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw per-step standard normal noise of shape ``(n_steps, *x.shape)`` like ``x`` (drawn on the generator's device,
    e.g. a CPU generator for a CUDA ``x``, then moved to ``x``'s)."""
    device = generator.device if generator is not None else x.device
    return torch.randn((n_steps, *x.shape), generator=generator, dtype=x.dtype, device=device).to(x.device)


def _is_schedule(_, attribute, value) -> None:
    if not isinstance(value, Schedule):
        raise TypeError(f"{attribute.name} must be a Schedule (e.g. tempo_kit.schedules.KarrasSchedule(rho=7.0)), got "
                        f"{value!r}")


@attrs.frozen(kw_only=True)
class Sampler:
    """Base class. Subclasses set ``drives`` and implement :meth:`step` (or :meth:`advance` to keep a history).

    Parameters
    ----------
    schedule : Schedule
        The sigmas used when the sampler is called with a number of steps (default: Karras, EDM's settings).
    """

    drives: ClassVar[str] = "denoiser"
    schedule: Schedule = attrs.field(default=KarrasSchedule(), validator=_is_schedule)

    @property
    def needs_noise(self) -> bool:
        """Whether the sampler reads ``noise`` (stochastic samplers); deterministic ones draw none."""
        return True

    def step(self, model, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor, *, cond: Any,
             noise: torch.Tensor | None, index: int, n_steps: int) -> torch.Tensor:  # pragma: no cover
        """Advance ``x`` from ``sigma`` to ``sigma_next`` (0-d tensors); ``noise`` is this step's noise or None."""
        raise NotImplementedError(f"{type(self).__name__} implements neither step() nor advance()")

    def advance(self, model, x: torch.Tensor, history: History, sigmas: torch.Tensor, index: int, *, cond: Any,
                noise: torch.Tensor | None) -> tuple[torch.Tensor, History]:
        """Step ``index`` of a run over ``sigmas`` with the ``history`` the previous step returned (``()`` at first).

        Returns the new ``x`` at ``sigmas[index + 1]`` and the history for the next step. The default calls
        :meth:`step` and keeps no history.
        """
        x = self.step(model, x, sigmas[index], sigmas[index + 1], cond=cond, noise=noise, index=index,
                      n_steps=sigmas.numel() - 1)
        return x, ()

    def sigmas(self, steps: int | torch.Tensor) -> torch.Tensor:
        """The validated sigma tensor of a call: ``schedule.sigmas(steps)`` for an int, else :func:`user_sigmas`."""
        if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
            return self.schedule.sigmas(int(steps))
        return user_sigmas(steps)

    def nfe(self, steps: int | torch.Tensor, model=None) -> int:
        """Network calls of one pass over ``steps`` (an int or a sigma tensor), without guidance doubling.

        ``model`` is only needed by jump samplers whose jump makes more than one call (an ODE jump).
        """
        return self.sigmas(steps).numel() - 1

    def __call__(
        self,
        model,
        x_T: torch.Tensor,
        sigmas: torch.Tensor | int,
        *,
        cond: Any = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        grad: GradStrategy | str | None = None,
    ) -> torch.Tensor:
        sigmas = self.sigmas(sigmas).to(x_T.device)
        n_steps = sigmas.numel() - 1
        name = type(self).__name__
        if not _finite(x_T):
            raise ValueError(f"{name}: x_T has {int((~torch.isfinite(x_T)).sum())} non-finite values")
        if self.needs_noise:
            if noise is None:
                need = n_steps * x_T.numel() * x_T.element_size()
                if need > MAX_NOISE_BYTES:
                    raise ValueError(f"{name}: {n_steps} steps on a batch of shape {tuple(x_T.shape)} need "
                                     f"{need / 2**30:.1f} GiB of per-step noise (limit {MAX_NOISE_BYTES / 2**30:.0f} "
                                     "GiB); take fewer steps or a smaller batch")
                noise = draw_noise(n_steps, x_T, generator)
            elif noise.shape[0] < n_steps or noise.shape[1:] != x_T.shape:
                raise ValueError(
                    f"{name}: noise must have shape ({n_steps}, {', '.join(map(str, x_T.shape))}) for {n_steps} "
                    f"steps (one noise tensor per step), got {tuple(noise.shape)}"
                )
            elif not _finite(noise):
                raise ValueError(f"{name}: noise has {int((~torch.isfinite(noise)).sum())} non-finite values")
            noise = noise.to(device=x_T.device, dtype=x_T.dtype)

        def one_step(state: tuple[torch.Tensor, History], i: int) -> tuple[torch.Tensor, History]:
            x, history = state
            return self.advance(model, x, history, sigmas, i, cond=cond, noise=None if noise is None else noise[i])

        params = tuple(model.parameters()) if isinstance(model, torch.nn.Module) else ()
        x, _ = get_grad_strategy(grad).run(one_step, (x_T, ()), n_steps, params)
        return x


def _finite(x: torch.Tensor) -> bool:
    """All values finite (one reduction: NaN and inf survive a sum; a finite sum overflows only for values ~1e34)."""
    return bool(torch.isfinite(x.sum()))


# Step coefficients stay 0-d float64 tensors: multiplying x by a 0-d tensor keeps x's dtype (type promotion), so
# no casts are needed and float64 tests see float64 arithmetic.
def _lam(sigma: torch.Tensor) -> torch.Tensor:
    """Log signal-to-noise time ``lambda = -log sigma`` of DPM-Solver (alpha = 1 in the EDM/VE form)."""
    return -sigma.log()


def _ancestral(sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a step into a deterministic part to ``sigma_down`` and fresh noise of std ``sigma_up`` (k-diffusion).

    ``sigma_up = min(sigma_next, eta sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2))``,
    ``sigma_down = sqrt(sigma_next^2 - sigma_up^2)``.
    """
    if not eta:
        return sigma_next, torch.zeros_like(sigma_next)
    sigma_up = torch.minimum(sigma_next, eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2).sqrt())
    return (sigma_next**2 - sigma_up**2).sqrt(), sigma_up


@attrs.frozen(kw_only=True)
class _NoiseScaled(Sampler):
    """Base of the samplers whose fresh noise is scaled by ``eta`` and ``s_noise``.

    Parameters
    ----------
    eta : float
        Share of fresh noise per step (>= 0; 0 is the deterministic solver, 1 the SDE / full ancestral step).
    s_noise : float
        Extra factor on the noise (k-diffusion's ``s_noise``).
    """

    eta: float = attrs.field(default=1.0, validator=in_range(0))
    s_noise: float = 1.0

    @property
    def needs_noise(self) -> bool:
        return self.eta > 0 and self.s_noise != 0


@attrs.frozen(kw_only=True)
class EDMSampler(Sampler):
    """EDM deterministic Euler / Heun sampler with optional stochastic churn (Karras et al. 2022, Alg. 1-2).

    Parameters
    ----------
    heun : bool
        Second-order correction (no correction on the last step to ``sigma = 0``); ``2N - 1`` NFE for ``N`` steps.
    s_churn, s_min, s_max, s_noise : float
        Churn settings; ``s_churn = 0`` (default) is the deterministic probability-flow ODE.
    """

    drives: ClassVar[str] = "denoiser"
    heun: bool = True
    s_churn: float = attrs.field(default=0.0, validator=in_range(0))
    s_min: float = 0.0
    s_max: float = math.inf
    s_noise: float = 1.0

    @property
    def needs_noise(self) -> bool:
        return self.s_churn > 0

    def nfe(self, steps, model=None) -> int:
        n = super().nfe(steps)
        return 2 * n - 1 if self.heun else n

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        if self.s_churn > 0 and self.s_min <= float(sigma) <= self.s_max:
            gamma = min(self.s_churn / n_steps, math.sqrt(2) - 1)
            sigma_hat = sigma * (1 + gamma)
            x = x + (sigma_hat**2 - sigma**2).sqrt().to(x.dtype) * self.s_noise * noise
            sigma = sigma_hat
        return ode_step(model, x, sigma, sigma_next, cond, solver="heun" if self.heun else "euler")


@attrs.frozen(kw_only=True)
class EulerAncestral(_NoiseScaled):
    """Euler ancestral sampling (k-diffusion ``sample_euler_ancestral``).

    With ``D = model(x, sigma)`` and ``(sigma_down, sigma_up)`` from the ancestral split of ``sigma -> sigma_next``::

        x <- x + (sigma_down - sigma) (x - D) / sigma + s_noise sigma_up eps     (no noise when sigma_next = 0)

    ``eta = 0`` is the deterministic Euler sampler. One network call per step.
    """


    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        denoised = model(x, as_sigma(sigma, x), cond)
        sigma_down, sigma_up = _ancestral(sigma, sigma_next, self.eta)
        x = x + ((sigma_down - sigma) / sigma) * (x - denoised)
        if sigma_next > 0 and noise is not None:
            x = x + (self.s_noise * sigma_up) * noise
        return x


@attrs.frozen(kw_only=True)
class DPMpp2SAncestral(_NoiseScaled):
    """DPM-Solver++(2S) with ancestral noise (Lu et al. 2022; k-diffusion ``sample_dpmpp_2s_ancestral``).

    In ``lambda = -log sigma`` with ``h = lambda(sigma_down) - lambda(sigma)`` and the midpoint ``s = sigma e^{-h/2}``::

        u = (s / sigma) x - (e^{-h/2} - 1) D(x, sigma)
        x <- (sigma_down / sigma) x - (e^{-h} - 1) D(u, s) + s_noise sigma_up eps

    When ``sigma_down = 0`` (the last step) the step is Euler. ``2N - 1`` network calls for ``N`` steps (``eta <= 1``).
    """


    def nfe(self, steps, model=None) -> int:
        sigmas = self.sigmas(steps)
        return sum(1 if float(_ancestral(a, b, self.eta)[0]) == 0 else 2 for a, b in zip(sigmas[:-1], sigmas[1:]))

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        denoised = model(x, as_sigma(sigma, x), cond)
        sigma_down, sigma_up = _ancestral(sigma, sigma_next, self.eta)
        if sigma_down == 0:
            x = x + ((sigma_down - sigma) / sigma) * (x - denoised)
        else:
            h = _lam(sigma_down) - _lam(sigma)
            s = sigma * (-h / 2).exp()
            u = (s / sigma) * x - (-h / 2).expm1() * denoised
            x = (sigma_down / sigma) * x - (-h).expm1() * model(u, as_sigma(s, x), cond)
        if sigma_next > 0 and noise is not None:
            x = x + (self.s_noise * sigma_up) * noise
        return x


class _DPMMultistep:
    """:meth:`advance` of the DPM-Solver++ multistep solvers: one network call ``D_i`` per step, ``D_i`` itself at the
    last step (``sigma_{i+1} = 0``), else ``_update`` with ``h = lambda_{i+1} - lambda_i`` and the step ratios
    ``rs[k] = h_{i-1-k} / h`` of the ``history`` (the previous ``D``, newest first; ``_keep`` of them are kept)."""

    __slots__ = ()
    _keep: ClassVar[int] = 1

    def advance(self, model, x, history, sigmas, index, *, cond, noise):
        sigma, sigma_next = sigmas[index], sigmas[index + 1]
        denoised = model(x, as_sigma(sigma, x), cond)
        new_history = (denoised, *history[: self._keep - 1])
        if sigma_next == 0:
            return denoised, new_history
        h = _lam(sigma_next) - _lam(sigma)
        rs = [(_lam(sigmas[index - k]) - _lam(sigmas[index - k - 1])) / h for k in range(len(history))]
        return self._update(x, denoised, history, rs, sigma=sigma, sigma_next=sigma_next, h=h, noise=noise), new_history


@attrs.frozen(kw_only=True)
class DPMpp2M(_DPMMultistep, Sampler):
    """DPM-Solver++(2M), the multistep second-order solver (Lu et al. 2022, Alg. 2; k-diffusion ``sample_dpmpp_2m``).

    With ``h = lambda_{i+1} - lambda_i``, ``r = h_{i-1} / h`` and the previous denoised output ``D_{i-1}`` (history)::

        D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1}          (D' = D_i at the first and the last step)
        x_{i+1} = (sigma_{i+1} / sigma_i) x_i - (e^{-h} - 1) D'

    The last step (``sigma_{i+1} = 0``) returns ``D_i``. One network call per step; deterministic.
    """

    @property
    def needs_noise(self) -> bool:
        return False

    def _update(self, x, denoised, history, rs, *, sigma, sigma_next, h, noise):
        d = denoised
        if history:
            r = rs[0]
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * history[0]
        return (sigma_next / sigma) * x - (-h).expm1() * d


@attrs.frozen(kw_only=True)
class DPMpp2MSDE(_DPMMultistep, _NoiseScaled):
    """DPM-Solver++(2M) SDE (Lu et al. 2022; k-diffusion ``sample_dpmpp_2m_sde``), noise from ``noise`` per step.

    With ``h = lambda_{i+1} - lambda_i``, ``r = h_{i-1} / h`` and ``phi = 1 - e^{-h - eta h}``::

        x_{i+1} = (sigma_{i+1} / sigma_i) e^{-eta h} x_i + phi D_i + c (D_i - D_{i-1}) / r
                  + s_noise sigma_{i+1} sqrt(1 - e^{-2 eta h}) eps_i

    with ``c = phi / 2`` (``solver_type="midpoint"``) or ``c = phi / (-h - eta h) + 1`` (``"heun"``); the correction
    is skipped at the first step and the last step (``sigma_{i+1} = 0``) returns ``D_i``. ``eta = 0`` is the
    deterministic DPM-Solver++(2M) with a midpoint or Heun correction. One network call per step.
    """

    solver_type: str = attrs.field(default="midpoint", validator=one_of("midpoint", "heun"))

    def _update(self, x, denoised, history, rs, *, sigma, sigma_next, h, noise):
        eta_h = self.eta * h
        phi = (-h - eta_h).expm1().neg()
        x = (sigma_next / sigma * (-eta_h).exp()) * x + phi * denoised
        if history:
            c = 0.5 * phi if self.solver_type == "midpoint" else phi / (-h - eta_h) + 1
            x = x + (c / rs[0]) * (denoised - history[0])
        if noise is not None:
            x = x + (sigma_next * (-2 * eta_h).expm1().neg().sqrt() * self.s_noise) * noise
        return x


@attrs.frozen(kw_only=True)
class DPMpp3MSDE(_DPMMultistep, _NoiseScaled):
    """DPM-Solver++(3M) SDE (k-diffusion ``sample_dpmpp_3m_sde``), noise from ``noise`` per step.

    With ``h = lambda_{i+1} - lambda_i``, ``h_eta = (1 + eta) h``, ``r0 = h_{i-1} / h``, ``r1 = h_{i-2} / h`` and the
    two previous denoised outputs (history)::

        x_{i+1} = e^{-h_eta} x_i + (1 - e^{-h_eta}) D_i + phi_2 d1 - phi_3 d2 + s_noise sigma_{i+1} sqrt(1 - e^{-2 eta h}) eps_i
        d1_0 = (D_i - D_{i-1}) / r0,  d1_1 = (D_{i-1} - D_{i-2}) / r1
        d1 = d1_0 + (d1_0 - d1_1) r0 / (r0 + r1),  d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_2 = (e^{-h_eta} - 1) / h_eta + 1,  phi_3 = phi_2 / h_eta - 1/2

    Second order (``phi_2 d1_0``) at the second step, first order at the first; the last step returns ``D_i``.
    One network call per step.
    """


    _keep: ClassVar[int] = 2

    def _update(self, x, denoised, history, rs, *, sigma, sigma_next, h, noise):
        h_eta = h * (self.eta + 1)
        x = (-h_eta).exp() * x + (-h_eta).expm1().neg() * denoised
        phi_2 = (-h_eta).expm1() / h_eta + 1
        if len(history) == 2:
            r0, r1 = rs
            d1_0 = (denoised - history[0]) / r0
            d1_1 = (history[0] - history[1]) / r1
            d1 = d1_0 + (d1_0 - d1_1) * (r0 / (r0 + r1))
            d2 = (d1_0 - d1_1) / (r0 + r1)
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * d1 - phi_3 * d2
        elif len(history) == 1:
            x = x + phi_2 * (denoised - history[0]) / rs[0]
        if noise is not None:
            x = x + (sigma_next * (-2 * h * self.eta).expm1().neg().sqrt() * self.s_noise) * noise
        return x


def _unipc(x, ms, lams, lam_t, sigma_ratio, order: int, variant: str, m_t=None):
    """One UniP (``m_t is None``) or UniC update in the data-prediction form (Zhao et al. 2023, Alg. 1-2).

    ``x`` sits at ``lams[0]`` with model outputs ``ms[k]`` at ``lams[k]`` (``k = 0`` the newest); the update goes to
    ``lam_t``. ``h = lam_t - lams[0]``, ``r_k = (lams[k] - lams[0]) / h``, ``D_k = (ms[k] - ms[0]) / r_k``;
    ``B(h) = -h`` (bh1) or ``e^{-h} - 1`` (bh2); the coefficients ``rho`` solve ``R rho = b`` with ``R_{pk} = r_k^p`` and
    ``b_p = p! phi_{p+1}(-h) / B(h)``, except the closed forms ``rho = 1/2`` for the 2nd-order UniP and 1st-order UniC::

        x_t = (sigma_t / sigma_0) x - (e^{-h} - 1) ms[0] - B(h) (sum_k rho_k D_k [+ rho_p (m_t - ms[0])])
    """
    h = lam_t - lams[0]
    hh = -h
    rks = [(lams[k] - lams[0]) / h for k in range(1, order)] + [torch.ones_like(h)]
    d1s = [(ms[k] - ms[0]) / rks[k - 1] for k in range(1, order)]
    h_phi_1 = hh.expm1()
    b_h = hh if variant == "bh1" else hh.expm1()
    h_phi_k, factorial, b = h_phi_1 / hh - 1, 1, []
    for p in range(1, order + 1):
        b.append(h_phi_k * factorial / b_h)
        factorial *= p + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    R = torch.stack([torch.stack(rks) ** (p - 1) for p in range(1, order + 1)])
    b = torch.stack(b)
    half = torch.full((1,), 0.5, dtype=h.dtype)
    if m_t is None:  # UniP: D_k only
        rhos = half if order <= 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        res = sum(r * d for r, d in zip(rhos, d1s))  # 0 at order 1 (no D_k)
    else:  # UniC: D_k and the new model output
        rhos = half if order == 1 else torch.linalg.solve(R, b)
        res = sum(r * d for r, d in zip(rhos[:-1], d1s)) + rhos[-1] * (m_t - ms[0])
    return sigma_ratio * x - h_phi_1 * ms[0] - b_h * res


@attrs.frozen(kw_only=True)
class UniPC(Sampler):
    """UniPC, the unified predictor-corrector solver (Zhao et al. 2023), data prediction, on EDM sigmas.

    Step ``i`` evaluates ``m_i = D(x_i, sigma_i)``, corrects ``x_i`` with UniC (order of the previous predictor, using
    ``m_i``; no extra network call), then predicts ``x_{i+1}`` with UniP of order ``min(order, i + 1, N - i)`` from
    ``m_i, m_{i-1}, ...`` (see :func:`_unipc` for the update). The last step returns ``m_{N-1}``, as diffusers'
    ``UniPCMultistepScheduler`` with ``lower_order_final``. One network call per step; deterministic.

    Parameters
    ----------
    order : int
        Order of the predictor (1-3); the corrector raises the order of accuracy by one. 2 suits guided sampling.
    variant : {"bh2", "bh1"}
        The ``B(h)`` choice; bh2 is the paper's default for few steps.
    """

    order: int = attrs.field(default=2, validator=in_range(1, 3, integer=True))
    variant: str = attrs.field(default="bh2", validator=one_of("bh1", "bh2"))

    @property
    def needs_noise(self) -> bool:
        return False

    def sigmas(self, steps):
        sigmas = super().sigmas(steps)
        if self.order > sigmas.numel() - 1:
            raise ValueError(f"UniPC of order {self.order} needs at least {self.order} steps, "
                             f"got {sigmas.numel() - 1}; lower the order or take more steps")
        return sigmas

    def advance(self, model, x, history, sigmas, index, *, cond, noise):
        n = sigmas.numel() - 1
        lam = _lam(sigmas[:n])  # lambda of every level but the final 0
        m = model(x, as_sigma(sigmas[index], x), cond)
        if index > 0:  # UniC: correct x_i with the order of the previous prediction
            x_prev, ms = history[0], history[1:]
            p = min(self.order, index, n - index + 1)
            lams = [lam[index - 1 - k] for k in range(p)]
            x = _unipc(x_prev, ms, lams, lam[index], sigmas[index] / sigmas[index - 1], p, self.variant, m_t=m)
            ms = (m, *ms[: self.order - 1])
        else:
            ms = (m,)
        if index == n - 1:
            return m, (x, *ms)
        p = min(self.order, index + 1, n - index)
        lams = [lam[index - k] for k in range(p)]
        x_next = _unipc(x, ms, lams, lam[index + 1], sigmas[index + 1] / sigmas[index], p, self.variant)
        return x_next, (x, *ms)


@attrs.frozen(kw_only=True)
class CMMultistep(Sampler):
    """Multistep ("ping-pong") consistency sampling (Song et al. 2023, Alg. 1).

    At each level the jump lands on ``x0 = G(x, sigma, 0)``; unless it is the last step, ``x0`` is re-noised to the
    next level with fresh noise ``sqrt(sigma_next^2 - sigma_min^2) * eps``. ``sigma_min = 0`` (default) makes this
    exactly CTM gamma-sampling with ``gamma = 1`` and Presto-S multistep sampling; 0.002 reproduces OpenAI's code.
    """

    drives: ClassVar[str] = "jump"
    sigma_min: float = attrs.field(default=0.0, validator=in_range(0))

    def nfe(self, steps, model=None) -> int:
        return super().nfe(steps) * jump_calls(model, 0.0)

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        x0 = model(x, sigma, torch.zeros_like(sigma), cond)
        if index == n_steps - 1:
            return x0
        std = (sigma_next**2 - self.sigma_min**2).clamp_min(0).sqrt().to(x.dtype)
        return x0 + std * noise


@attrs.frozen(kw_only=True)
class CTMGamma(Sampler):
    """CTM gamma-sampling in DITTO-2's form (Novack et al., ISMIR 2024, Alg. 1 lines 8-12).

    ``x_{t-1} = G(x_t, tau_t, sqrt(1 - gamma^2) tau_{t-1}) + gamma tau_{t-1} eps``. ``gamma = 0`` is deterministic
    trajectory jumping, ``gamma = 1`` equals :class:`CMMultistep`. DITTO-2 uses gamma in [0.05, 0.35]; default 0.2 (ours).
    """

    drives: ClassVar[str] = "jump"
    gamma: float = attrs.field(default=0.2, validator=in_range(0, 1))

    @property
    def needs_noise(self) -> bool:
        return self.gamma > 0

    def nfe(self, steps, model=None) -> int:
        return sum(jump_calls(model, math.sqrt(1 - self.gamma**2) * float(s)) for s in self.sigmas(steps)[1:])

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        tau_hat = math.sqrt(1 - self.gamma**2) * sigma_next
        x = model(x, sigma, tau_hat, cond)
        if self.gamma > 0 and index < n_steps - 1:
            x = x + (self.gamma * sigma_next).to(x.dtype) * noise
        return x
