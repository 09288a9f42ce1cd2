"""Samplers: plain loops over an explicit sigma tensor, with randomness and the gradient strategy as inputs.

Every sampler is called the same way::

    x0 = sampler(model, x_T, sigmas, cond=cond, noise=noise, grad=Checkpointed())

* ``model`` is a denoiser (``sampler.drives == "denoiser"``: EDM Euler / Heun) or a jump (``"jump"``: CM multistep,
  CTM gamma, Presto-S);
* ``x_T`` is the initial state *at noise level* ``sigmas[0]`` (e.g. ``sigmas[0] * randn``);
* ``sigmas`` is a decreasing tensor ending in 0 (see :mod:`tempo_kit.schedules`), or an int number of steps, which
  selects the sampler's default schedule;
* ``noise`` is the per-step noise, shape ``(n_steps, *x_T.shape)``; if omitted it is drawn from ``generator``. A sampler
  given the same noise gives the same output, so an optimization loop can hold it fixed;
* ``grad`` is a :class:`~tempo_kit.grad.GradStrategy` (default: no gradient).

Samplers are frozen attrs value objects holding only their hyper-parameters; there is no hidden step counter.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import attrs
import torch

from .grad import GradStrategy, get_grad_strategy
from .jumps import ode_step
from .schedules import KarrasSchedule, user_sigmas

__all__ = ["Sampler", "EDMSampler", "CMMultistep", "CTMGamma", "draw_noise"]


def draw_noise(n_steps: int, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw per-step standard normal noise of shape ``(n_steps, *x.shape)`` like ``x``."""
    return torch.randn((n_steps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)


@attrs.frozen(kw_only=True)
class Sampler:
    """Base class. Subclasses implement :meth:`step` and set ``drives`` and ``needs_noise``."""

    drives: ClassVar[str] = "denoiser"
    schedule: KarrasSchedule = KarrasSchedule()

    @property
    def needs_noise(self) -> bool:
        return True

    def step(self, model, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor, *, cond: Any,
             noise: torch.Tensor | None, index: int, n_steps: int) -> torch.Tensor:  # pragma: no cover
        """Advance ``x`` from ``sigma`` to ``sigma_next`` (0-d tensors)."""
        raise NotImplementedError

    def nfe(self, n_steps: int) -> int:
        """Network calls of one ``n_steps`` pass (without guidance doubling)."""
        return n_steps

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
        if isinstance(sigmas, numbers.Integral) and not isinstance(sigmas, bool):
            sigmas = self.schedule.sigmas(int(sigmas))
        else:
            sigmas = user_sigmas(sigmas)
        sigmas = sigmas.to(x_T.device)
        n_steps = sigmas.numel() - 1
        if self.needs_noise:
            if noise is None:
                noise = draw_noise(n_steps, x_T, generator)
            elif noise.shape[0] < n_steps or noise.shape[1:] != x_T.shape:
                raise ValueError(
                    f"noise must have shape ({n_steps}, {', '.join(map(str, x_T.shape))}) for {n_steps} steps, "
                    f"got {tuple(noise.shape)}"
                )
            noise = noise.to(device=x_T.device, dtype=x_T.dtype)

        def one_step(x: torch.Tensor, i: int) -> torch.Tensor:
            return self.step(model, x, sigmas[i], sigmas[i + 1], cond=cond,
                             noise=None if noise is None else noise[i], index=i, n_steps=n_steps)

        return get_grad_strategy(grad).run(one_step, x_T, n_steps)


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
    s_churn: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    s_min: float = 0.0
    s_max: float = math.inf
    s_noise: float = 1.0

    @property
    def needs_noise(self) -> bool:
        return self.s_churn > 0

    def nfe(self, n_steps: int) -> int:
        return 2 * n_steps - 1 if self.heun else n_steps

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        if self.s_churn > 0 and self.s_min <= float(sigma) <= self.s_max:
            gamma = min(self.s_churn / n_steps, math.sqrt(2) - 1)
            sigma_hat = sigma * (1 + gamma)
            x = x + (sigma_hat**2 - sigma**2).sqrt().to(x.dtype) * self.s_noise * noise
            sigma = sigma_hat
        return ode_step(model, x, sigma, sigma_next, cond, solver="heun" if self.heun else "euler")


@attrs.frozen(kw_only=True)
class CMMultistep(Sampler):
    """Multistep ("ping-pong") consistency sampling (Song et al. 2023, Alg. 1; spec 2.3).

    At each level the jump lands on ``x0 = G(x, sigma, 0)``; unless it is the last step, ``x0`` is re-noised to the
    next level with fresh noise ``sqrt(sigma_next^2 - sigma_min^2) * eps``. ``sigma_min = 0`` (default) makes this
    exactly CTM gamma-sampling with ``gamma = 1`` and Presto-S multistep sampling; 0.002 reproduces OpenAI's code.
    """

    drives: ClassVar[str] = "jump"
    sigma_min: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        x0 = model(x, sigma, torch.zeros_like(sigma), cond)
        if index == n_steps - 1:
            return x0
        std = (sigma_next**2 - self.sigma_min**2).clamp_min(0).sqrt().to(x.dtype)
        return x0 + std * noise


@attrs.frozen(kw_only=True)
class CTMGamma(Sampler):
    """CTM gamma-sampling in DITTO-2's form (Alg. 1 lines 8-12; spec 3.4).

    ``x_{t-1} = G(x_t, tau_t, sqrt(1 - gamma^2) tau_{t-1}) + gamma tau_{t-1} eps``. ``gamma = 0`` is deterministic
    trajectory jumping, ``gamma = 1`` equals :class:`CMMultistep`. DITTO-2 uses gamma in [0.05, 0.35]; default 0.2 (ours).
    """

    drives: ClassVar[str] = "jump"
    gamma: float = attrs.field(default=0.2, validator=[attrs.validators.ge(0), attrs.validators.le(1)])

    @property
    def needs_noise(self) -> bool:
        return self.gamma > 0

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        tau_hat = math.sqrt(1 - self.gamma**2) * sigma_next
        x = model(x, sigma, tau_hat, cond)
        if self.gamma > 0 and index < n_steps - 1:
            x = x + (self.gamma * sigma_next).to(x.dtype) * noise
        return x
