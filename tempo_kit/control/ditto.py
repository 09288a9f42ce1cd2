"""DITTO and DITTO-2: inference-time control by optimising the initial noise of a frozen generator.

* :class:`DITTO` (Novack et al., ICML 2024, Alg. 1): back-propagate through the full ``T``-step sampler with per-step
  gradient checkpointing (:class:`~tempo_kit.grad.Checkpointed`); about ``2T`` network calls per iteration (x2 again
  with classifier-free guidance), then one ``T``-step decode.
* :class:`DITTO2` (Novack et al., ISMIR 2024, Alg. 1): optimise through an ``M``-step surrogate of a distilled jump
  (``M = 1``: one call ``G(x_T, sigma_max, 0)``, no checkpointing), fixed or adaptive ``M``; then decode once with any
  jump sampler (CM multistep, CTM gamma). ``K`` iterations and ``T`` decoding steps cost ``K + T`` calls.

Both optimise ``eps`` with ``x_T = sigma_max * eps`` inside the graph (our adaptation to EDM models), so DITTO's Adam
learning rate 5e-3 (DITTO Sec. 5.1), chosen for unit-variance ``x_T``, keeps its meaning for EDM-scaled models.
Per-step sampler noise is drawn once and held fixed across iterations, so the objective is deterministic.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any, Callable, Sequence

import attrs
import torch
from torch import nn

from ..denoisers import NFECounter, count_network_calls
from ..grad import Backprop, Checkpointed, GradStrategy, NoGrad
from ..jumps import ConsistencyJump, Jump
from ..samplers import CMMultistep, CTMGamma, DPMpp2M, Sampler, draw_noise
from ..schedules import decoding_sigmas, teacher_grid
from ..utils import as_validator, check_int, check_number, progress_bar
from .objective import Objective, check_objectives, evaluate_objectives, resolve_weights

__all__ = ["DITTO", "DITTO2", "ControlResult", "SampleAdam", "adaptive_m_schedule", "count_network_calls",
           "NORM_PRIORS", "OPTIMIZERS"]

NORM_PRIORS = (None, "penalty", "project")


class SampleAdam(torch.optim.Optimizer):
    """Adam with one second moment per sample (dim 0) instead of one per coordinate.

    ``m = b1 m + (1 - b1) g``, ``v_b = b2 v_b + (1 - b2) mean(g_b^2)``, ``p -= lr m_hat / (sqrt(v_hat_b) + eps)``
    (bias-corrected as in Adam, Kingma & Ba 2015, Alg. 1; a per-tensor second moment as in NovoGrad, Ginsburg et al.
    2019, taken per sample so that the samples of a batch stay independent problems). Each coordinate then moves in
    proportion to its own gradient: coordinates the objective barely reads (the frames an outpainting generates)
    stay near their Gaussian draw, where Adam's per-coordinate scaling gives every coordinate a step of about ``lr``
    whatever its gradient (``benchmarks/results/control_optimizer.md``).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not lr >= 0 or not eps >= 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"SampleAdam needs lr >= 0, eps >= 0 and betas in [0, 1), got lr={lr}, betas={betas}, "
                             f"eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
        for group in self.param_groups:
            if any(p.ndim == 0 for p in group["params"]):
                raise ValueError("SampleAdam needs parameters with a sample dimension (dim 0); got a 0-dim tensor")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (b1, b2), lr, tiny = group["betas"], group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=p.new_zeros((p.shape[0],) + (1,) * (p.ndim - 1)))
                state["t"] += 1
                t, g = state["t"], p.grad
                state["m"].mul_(b1).add_(g, alpha=1 - b1)
                mean_square = g.pow(2).reshape(p.shape[0], -1).mean(1).view_as(state["v"])  # one value per sample
                state["v"].mul_(b2).add_(mean_square, alpha=1 - b2)
                v_hat = state["v"] / (1 - b2 ** t)
                p.sub_(lr / (1 - b1 ** t) * state["m"] / (v_hat.sqrt() + tiny))
        return loss


#: The optimizers of ``eps`` by name: DITTO's Adam, and :class:`SampleAdam`.
_OPTIMIZERS = {"adam": torch.optim.Adam, "adam-sample": SampleAdam}
OPTIMIZERS = tuple(_OPTIMIZERS)


def adaptive_m_schedule(iterations: int) -> tuple[int, ...]:
    """DITTO-2's coarse-to-fine surrogate schedule (Novack et al., ISMIR 2024, Sec. 5.3).

    ``M = 1`` for ``floor(K/2)`` iterations, ``M = 2`` for ``floor(3K/8)``, ``M = 4`` for ``floor(K/8)``; the
    remainder of the floors goes to the ``M = 1`` phase (our choice; the paper does not say), so the schedule always
    has exactly ``K`` entries.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    n1, n2, n4 = iterations // 2, (3 * iterations) // 8, iterations // 8
    n1 += iterations - (n1 + n2 + n4)
    return (1,) * n1 + (2,) * n2 + (4,) * n4


@attrs.frozen(kw_only=True, eq=False)
class ControlResult:
    """What a DITTO / DITTO-2 run returns.

    Attributes
    ----------
    output : Tensor, shape like ``eps``
        The decoded generator output ``x0`` (model domain, e.g. mel frames).
    audio : Tensor or None
        ``decoder(output)`` when a decoder was used for audio-domain objectives.
    eps : Tensor
        Optimised standard-normal-scaled noise; ``x_T = sigma_max * eps``.
    x_T : Tensor
        Optimised initial state at noise level ``sigma_max``.
    sigma_max : float
    loss_history : Tensor, shape ``(K,)``
        Weighted objective loss at each iteration (before that iteration's update; the surrogate's output for DITTO-2).
    objective_history : dict of name -> Tensor ``(K,)``
        Unweighted loss of each objective per iteration.
    prior_history : Tensor ``(K,)`` or None
        Norm-prior penalty per iteration (``norm_prior="penalty"`` only).
    final_losses : dict of name -> float
        Unweighted losses of the decoded output.
    features : dict of name -> Tensor
        Features of the decoded output (what the plots compare with the targets).
    weights : dict of name -> float
        Resolved objective weights.
    nfe_optimization, nfe_decoding : int
        Network forward calls spent optimising and decoding (checkpoint recomputation and CFG doubling included).
    backward_optimization : int
        Backward passes through the network while optimising (DITTO: ``K T``, DITTO-2: ``sum(M)``); a backward pass
        costs about two forward calls.
    time_optimization, time_decoding : float
        Wall time in seconds.
    method : str
        ``"ditto"`` or ``"ditto-2"``.
    m_schedule : tuple of int
        Surrogate steps per iteration (DITTO: the sampler steps ``T`` each iteration).
    objectives : tuple of Objective
    """

    output: torch.Tensor
    audio: torch.Tensor | None
    eps: torch.Tensor
    x_T: torch.Tensor
    sigma_max: float
    loss_history: torch.Tensor
    objective_history: dict
    prior_history: torch.Tensor | None
    final_losses: dict
    features: dict
    weights: dict
    nfe_optimization: int
    nfe_decoding: int
    backward_optimization: int
    time_optimization: float
    time_decoding: float
    method: str
    m_schedule: tuple
    objectives: tuple

    @property
    def nfe(self) -> int:
        """Total network calls."""
        return self.nfe_optimization + self.nfe_decoding

    @property
    def wall_time(self) -> float:
        """Total wall time in seconds."""
        return self.time_optimization + self.time_decoding

    def plot(self, path=None, **kwargs):
        """Plot targets vs achieved features and the loss history (see :func:`tempo_kit.control.plots.plot_result`)."""
        from .plots import plot_result

        return plot_result(self, path, **kwargs)


def _one_of(choices):
    def check(_, attribute, value):
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {list(choices)}, got {value!r}")

    return check


def as_decode_levels(value) -> tuple | None:
    """``decode_levels`` as a tuple of floats: None, or a sequence of numbers (a string or a lone number is a
    TypeError, not split up); :meth:`DITTO2.decode_sigmas` checks them against the model's ``sigma_max``."""
    if value is None:
        return None
    bad = TypeError(f"decode_levels must be a sequence of noise levels, e.g. [1.0], got {value!r}")
    if isinstance(value, (str, bytes, numbers.Number, dict)) or not hasattr(value, "__iter__"):
        raise bad
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):  # strings, nested lists, a 2-D array
        raise bad from None


def resolve_decode(decode_steps: int | None, decode_levels) -> tuple[int | None, tuple | None]:
    """``(T, levels)`` of a decode given by its step count, its re-noise levels, or both: levels set
    ``T = len(levels) + 1``, and a ``decode_steps`` given with them must agree (ValueError otherwise)."""
    levels = as_decode_levels(decode_levels)
    if levels is None:
        return decode_steps, None
    if decode_steps is not None and decode_steps != len(levels) + 1:
        raise ValueError(f"decode_steps={decode_steps} contradicts decode_levels={list(levels)} "
                         f"({len(levels) + 1} steps); give one of them")
    return len(levels) + 1, levels


def _m(value):
    """``surrogate_steps``: numpy integers become ints; other values are checked after construction."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


def _sampler(value) -> Sampler | None:
    if isinstance(value, str):
        from ..registry import get

        return get("samplers", value)
    return value


def _unwrap(model: nn.Module) -> nn.Module:
    while isinstance(model, NFECounter):
        model = model.module
    return model


#: One sampler pass from ``x_T``: ``(sampler, sigmas, per-step noise or None, gradient strategy)``.
_Pass = tuple[Sampler, torch.Tensor, "torch.Tensor | None", GradStrategy]


@attrs.frozen(kw_only=True)
class _NoiseOptimizer:
    """Settings and loop shared by DITTO and DITTO-2 (Adam or :class:`SampleAdam` on ``eps``)."""

    iterations: int = attrs.field(default=70, validator=as_validator(check_int, low=0))
    lr: float = attrs.field(default=5e-3, validator=as_validator(check_number, positive=True))
    norm_prior: str | None = attrs.field(default=None, validator=_one_of(NORM_PRIORS))
    prior_weight: float = attrs.field(default=1.0, validator=as_validator(check_number))
    optimizer: str = attrs.field(default="adam", validator=_one_of(OPTIMIZERS))
    progress: bool = True

    def _setup(self, objectives, *, eps, shape, generator, output_domain, decoder, sample_rate):
        objectives = check_objectives(objectives, output_domain=output_domain, decoder=decoder, sample_rate=sample_rate)
        if eps is None:
            if shape is None:
                raise ValueError("give the initial noise eps= or an output shape= to draw it from generator=")
            eps = torch.randn(tuple(shape), generator=generator)
        eps = torch.as_tensor(eps).detach()
        if not eps.is_floating_point() or not torch.isfinite(eps).all():
            raise ValueError("eps must be a finite floating-point tensor")
        if eps.ndim < 2:
            raise ValueError(f"eps must have shape (batch, channels, ..., frames), got {tuple(eps.shape)}")
        if decoder is not None:
            decoder.requires_grad_(False)
        return objectives, resolve_weights(objectives), eps

    def __call__(
        self,
        model: nn.Module,
        objectives: Sequence[Objective],
        *,
        eps: torch.Tensor | None = None,
        shape: Sequence[int] | None = None,
        cond: Any = None,
        generator: torch.Generator | None = None,
        decoder: nn.Module | None = None,
        output_domain: str = "mel",
        sample_rate: int | None = None,
    ) -> ControlResult:
        """Optimise and decode.

        Parameters
        ----------
        model : Denoiser or Jump
            The frozen generator: a denoiser for DITTO's EDM samplers, a jump for CM/CTM samplers and for DITTO-2.
        objectives : sequence of Objective
            The control task.
        eps : Tensor, shape ``(batch, channels, ..., frames)``, optional
            Initial standard normal noise; drawn with ``generator`` in ``shape`` when omitted.
        cond : Any
            Conditioning passed to the model (for DITTO-2, the distilled CFG weight goes inside ``cond``: no CFG
            wrapper, so each jump is one network call).
        decoder : nn.Module, optional
            Differentiable decoder for objectives in another domain (see :func:`check_objectives`); its parameters
            are frozen (``requires_grad_(False)``) but it runs with gradients to the output (DITTO back-propagates
            through the vocoder).
        output_domain : str
            Domain of the generator's output.
        sample_rate : int, optional
            Sample rate of the output, checked against same-domain extractors.
        """
        self._check(model)  # a wrong model fails before anything is drawn or frozen
        objectives, weights, eps0 = self._setup(objectives, eps=eps, shape=shape, generator=generator,
                                                output_domain=output_domain, decoder=decoder, sample_rate=sample_rate)
        sigma_max, passes, decode, m_schedule = self._plan(model, eps0, generator)
        return self._run(model, objectives, weights, eps0, cond=cond, output_domain=output_domain, decoder=decoder,
                         sigma_max=sigma_max, passes=passes, decode=decode, m_schedule=m_schedule)

    def _check(self, model: nn.Module) -> None:
        """Raise if this method's samplers cannot drive ``model`` (a denoiser vs a jump)."""
        raise NotImplementedError

    def _plan(self, model: nn.Module, eps0: torch.Tensor, generator) -> tuple[float, dict[int, _Pass], _Pass,
                                                                             tuple[int, ...]]:
        """``(sigma_max, passes, decode, m_schedule)`` of :meth:`_run` for this method and model."""
        raise NotImplementedError

    def _optimize(self, forward: Callable[[torch.Tensor, int], torch.Tensor], eps0: torch.Tensor,
                  evaluate: Callable, names: Sequence[str], desc: str):
        eps = eps0.clone().requires_grad_(True)
        opt = _OPTIMIZERS[self.optimizer]([eps], lr=self.lr)
        totals, priors = [], []
        per_obj: dict[str, list[float]] = {n: [] for n in names}
        bar = progress_bar(self.iterations, desc=desc, enabled=self.progress)
        for k in range(self.iterations):
            try:
                total, losses = evaluate(forward(eps, k))
            except FloatingPointError as err:
                bar.close()
                hint = f"; the optimisation diverged: try a lower lr than {self.lr:g}" if k > 0 else ""
                raise FloatingPointError(f"{err} at iteration {k + 1} of {self.iterations}{hint}") from err
            loss = total
            if self.norm_prior == "penalty":  # (||eps||^2 / d - 1)^2: keeps eps near the Gaussian shell
                prior = ((eps.pow(2).flatten(1).mean(1) - 1) ** 2).mean()
                loss = loss + self.prior_weight * prior
                priors.append(float(prior.detach()))
            (eps.grad,) = torch.autograd.grad(loss, eps)
            opt.step()
            if self.norm_prior == "project":  # back onto the sphere of radius sqrt(d)
                with torch.no_grad():
                    norm = eps.flatten(1).norm(dim=1).clamp_min(1e-12)
                    eps.mul_((math.sqrt(eps[0].numel()) / norm).view(-1, *[1] * (eps.ndim - 1)))
            totals.append(float(total.detach()))
            for n in names:
                per_obj[n].append(float(losses[n].detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{totals[-1]:.4g}", refresh=False)
        bar.close()
        history = (torch.tensor(totals), {n: torch.tensor(v) for n, v in per_obj.items()},
                   torch.tensor(priors) if self.norm_prior == "penalty" else None)
        return eps.detach(), history

    def _run(self, model: nn.Module, objectives, weights, eps0: torch.Tensor, *, cond, output_domain, decoder,
             sigma_max: float, passes: dict[int, _Pass], decode: _Pass, m_schedule: Sequence[int]) -> ControlResult:
        """Optimise ``eps`` through ``passes[m_schedule[k]]`` at iteration ``k``, then decode once with ``decode``;
        every pass starts from ``x_T = sigma_max * eps`` in the model's dtype. Counts network calls and times both
        phases."""
        evaluate = _evaluator(objectives, weights, output_domain, decoder)
        dtype = _model_dtype(model, eps0)
        with count_network_calls(model) as (model, counter):
            def run(sampler_pass: _Pass, eps: torch.Tensor) -> torch.Tensor:
                sampler, sigmas, noise, grad = sampler_pass
                x_T = (sigma_max * eps).to(dtype)
                return sampler(model, x_T, sigmas, cond=cond, noise=noise, grad=grad).to(eps.dtype)

            t0 = time.perf_counter()
            eps_opt, history = self._optimize(lambda eps, k: run(passes[m_schedule[k]], eps), eps0, evaluate,
                                              [o.name for o in objectives], self._desc)
            t1 = time.perf_counter()
            nfe_opt = counter.nfe
            x0 = run(decode, eps_opt)
            t2 = time.perf_counter()
            nfe_dec = counter.nfe - nfe_opt
        return self._result(x0=x0, eps=eps_opt, sigma_max=sigma_max, history=history, objectives=objectives,
                            weights=weights, output_domain=output_domain, decoder=decoder, nfe=(nfe_opt, nfe_dec),
                            backward=counter.backward, times=(t1 - t0, t2 - t1), method=self._method, m_schedule=m_schedule)

    def _result(self, *, x0, eps, sigma_max, history, objectives, weights, output_domain, decoder,
                nfe, backward, times, method, m_schedule) -> ControlResult:
        with torch.no_grad():
            try:
                _, losses, features, audio = evaluate_objectives(x0, objectives, weights, output_domain=output_domain,
                                                                 decoder=decoder)
            except FloatingPointError as err:  # finite through the surrogate, not through the final decode
                hint = (f" after {self.iterations} iterations; the optimised noise may have diverged: try a lower lr "
                        f"than {self.lr:g}") if self.iterations > 0 else ""
                raise FloatingPointError(f"{err} in the final decode{hint}") from err
        return ControlResult(
            output=x0.detach(), audio=None if audio is None else audio.detach(), eps=eps, x_T=sigma_max * eps,
            sigma_max=sigma_max, loss_history=history[0], objective_history=history[1], prior_history=history[2],
            final_losses={n: float(v) for n, v in losses.items()},
            features={n: f.detach() for n, f in features.items()},
            weights={o.name: w for o, w in zip(objectives, weights)},
            nfe_optimization=nfe[0], nfe_decoding=nfe[1], backward_optimization=backward, time_optimization=times[0], time_decoding=times[1],
            method=method, m_schedule=tuple(m_schedule), objectives=tuple(objectives),
        )


def _evaluator(objectives, weights, output_domain, decoder):
    def evaluate(x0):
        total, losses, _, _ = evaluate_objectives(x0, objectives, weights, output_domain=output_domain, decoder=decoder)
        return total, losses

    return evaluate


@attrs.frozen(kw_only=True)
class DITTO(_NoiseOptimizer):
    """DITTO: optimise the initial noise through the full sampler (Novack et al. 2024, Alg. 1).

    Parameters
    ----------
    sampler : Sampler or str
        Any registered sampler (default: DPM-Solver++(2M), deterministic, one network call per step like DITTO's
        DDIM/Euler but 2.5x closer to the teacher's ODE solution at 19-20 calls on the bundled teacher,
        ``benchmarks/results/solvers.md``; DITTO App. I: stochastic samplers make the optimisation much harder).
        A jump sampler needs a :class:`~tempo_kit.jumps.Jump` model.
    steps : int or Tensor
        ``T`` sampler steps, or an explicit decreasing sigma tensor.
    grad : GradStrategy
        How the sampler loop is differentiated; default per-step checkpointing (about ``2T`` calls per iteration).
    iterations : int
        ``K`` optimiser steps (DITTO: 70 for intensity and painting tasks, 150 for melody and structure).
    lr : float
        Learning rate on ``eps`` (DITTO: 5e-3).
    norm_prior : {None, "penalty", "project"}
        ``"penalty"`` adds ``prior_weight * mean_b (||eps_b||^2 / d - 1)^2``; ``"project"`` rescales each ``eps_b``
        onto the sphere of radius ``sqrt(d)`` after every step (as DOODL renormalises its latents).
    optimizer : {"adam", "adam-sample"}
        ``"adam"`` (DITTO's) scales each coordinate's step by its own gradient history; ``"adam-sample"``
        (:class:`SampleAdam`) by one per sample, so coordinates with small gradients move little.
    progress : bool
        Show a progress bar (only when stderr is a terminal; never in logs).
    """

    _method, _desc = "ditto", "DITTO"  # ControlResult.method and the progress bar's label

    sampler: Sampler = attrs.field(factory=DPMpp2M, converter=_sampler)
    steps: Any = 20
    grad: GradStrategy = attrs.field(factory=Checkpointed)

    def sigmas(self) -> torch.Tensor:
        """The sampler's sigma grid, shape ``(T + 1,)``."""
        return self.sampler.sigmas(self.steps)  # an integer (also numpy's) is a step count, anything else sigmas

    def _check(self, model):
        _check_model(self.sampler, model)

    def _plan(self, model, eps0, generator):
        sigmas = self.sigmas()
        n_steps = sigmas.numel() - 1
        noise = draw_noise(n_steps, eps0, generator) if self.sampler.needs_noise else None
        return (float(sigmas[0]), {n_steps: (self.sampler, sigmas, noise, self.grad)},
                (self.sampler, sigmas, noise, NoGrad()), (n_steps,) * self.iterations)


@attrs.frozen(kw_only=True)
class DITTO2(_NoiseOptimizer):
    """DITTO-2: optimise through a cheap surrogate of a distilled jump, then decode (Novack et al. 2024b, Alg. 1).

    Parameters
    ----------
    sampler : Sampler or str, optional
        Jump sampler for the final decode: CM multistep for a :class:`~tempo_kit.jumps.ConsistencyJump`, CTM
        gamma-sampling (gamma = 0.2) otherwise (default chosen from the jump's type).
    decode_steps : int
        ``T`` decoding steps, picked from the teacher grid (our rule, :func:`~tempo_kit.schedules.decoding_sigmas`;
        DITTO-2 Sec. 3.3 uses 1-8; its Table 2 has CTM's best FAD at 2).
    decode_levels : sequence of float, optional
        Explicit re-noise levels of the decode between ``sigma_max`` and 0, decreasing (e.g. ``(20.0,)`` decodes
        ``[sigma_max, 20, 0]``); overrides ``decode_steps``. :func:`~tempo_kit.control.drift.decode_drift` shows how
        much control each level keeps.
    surrogate_steps : int, "adaptive" or "decode"
        ``M`` jumps per optimisation iteration (default 1), DITTO-2's adaptive 1/2/4 schedule
        (:func:`adaptive_m_schedule`), or ``"decode"``: optimise through the decode itself (its sampler, levels and
        per-step noise, drawn once), so the returned output is exactly the one optimised, at ``T`` jumps per
        iteration. A one-step surrogate does not carry control through a multi-step decode of the bundled models
        (``benchmarks/results/decode_levels.md``: intensity 0.05 dB^2 at ``T = 1``, 115 at ``T = 2``); ``"decode"``
        keeps it (0.03-0.2 dB^2 at ``T = 2``).
    surrogate : Sampler, optional
        Deterministic ``M``-step surrogate (default: gamma = 0 CTM jumps for Euler-type jumps; for a consistency
        jump, ping-pong sampling with noise drawn once per run). With ``M = 1`` both are the single call
        ``G(x_T, sigma_max, 0)``. Not used with ``surrogate_steps="decode"``.
    grid_steps : int
        Size of the evenly spaced teacher grid the decoding and surrogate levels are taken from (DITTO-2: 20).
    iterations, lr, norm_prior, prior_weight, optimizer, progress
        As in :class:`DITTO`.
    """

    _method, _desc = "ditto-2", "DITTO-2"

    sampler: Sampler | None = attrs.field(default=None, converter=_sampler)
    decode_steps: int = attrs.field(default=2, validator=as_validator(check_int, low=1))
    decode_levels: tuple | None = attrs.field(default=None, converter=lambda v: as_decode_levels(v))
    surrogate_steps: int | str = attrs.field(default=1, converter=_m)
    surrogate: Sampler | None = attrs.field(default=None, converter=_sampler)
    grid_steps: int = attrs.field(default=20, validator=as_validator(check_int, low=1))

    def __attrs_post_init__(self) -> None:
        m = self.surrogate_steps
        if isinstance(m, str):
            if m not in ("adaptive", "decode"):
                raise ValueError(f"surrogate_steps must be 'adaptive', 'decode' or an int in [1, {self.grid_steps}], "
                                 f"got {m!r}")
        else:  # 2.0 steps is a mistake (TypeError), as for every other count
            check_int(m, "surrogate_steps (or 'adaptive', 'decode')", low=1, high=self.grid_steps)
        if self.surrogate_steps == "adaptive" and self.grid_steps < 4:
            raise ValueError("the adaptive surrogate schedule needs grid_steps >= 4")
        if self.decode_steps > self.grid_steps:
            raise ValueError(f"decode_steps ({self.decode_steps}) cannot exceed grid_steps ({self.grid_steps})")

    def decode_sigmas(self, grid: torch.Tensor) -> torch.Tensor:
        """The decode's levels: ``[sigma_max, *decode_levels, 0]``, or ``decode_steps`` levels of the teacher grid."""
        if self.decode_levels is None:
            return decoding_sigmas(self.decode_steps, grid=grid)
        sigma_max, levels = float(grid[0]), list(self.decode_levels)
        if not all(math.isfinite(s) and 0 < s < sigma_max for s in levels) or levels != sorted(levels, reverse=True) \
                or len(set(levels)) != len(levels):
            raise ValueError(f"decode_levels must be strictly decreasing levels in (0, sigma_max = {sigma_max:g}), "
                             f"got {levels}")
        return torch.tensor([sigma_max, *levels, 0.0], dtype=grid.dtype)

    def m_schedule(self) -> tuple[int, ...]:
        """Surrogate steps ``M`` for each of the ``K`` iterations."""
        if self.surrogate_steps == "adaptive":
            return adaptive_m_schedule(self.iterations)
        if self.surrogate_steps == "decode":
            return (self.decode_steps if self.decode_levels is None else len(self.decode_levels) + 1,) * self.iterations
        return (self.surrogate_steps,) * self.iterations

    def _samplers(self, jump: nn.Module) -> tuple[Sampler, Sampler]:
        cm = isinstance(_unwrap(jump), ConsistencyJump)
        decode = self.sampler or (CMMultistep() if cm else CTMGamma(gamma=0.2))
        surrogate = self.surrogate or (CMMultistep(schedule=decode.schedule) if cm
                                       else CTMGamma(gamma=0.0, schedule=decode.schedule))
        return decode, surrogate

    def _check(self, model):
        for sampler in self._samplers(model):
            _check_model(sampler, model)

    def _plan(self, model, eps0, generator):
        decode_sampler, surrogate = self._samplers(model)
        grid = teacher_grid(self.grid_steps, schedule=decode_sampler.schedule)
        ms = self.m_schedule()
        dec_sigmas = self.decode_sigmas(grid)
        if self.surrogate_steps == "decode":  # the surrogate is the decode: same sampler, levels and noise
            surrogate, levels = decode_sampler, {len(dec_sigmas) - 1: dec_sigmas}
        else:
            levels = {m: decoding_sigmas(m, grid=grid) for m in sorted(set(ms))}
        # per-step noise of the M-step surrogates, drawn once: the objective stays deterministic across iterations
        noises = {m: draw_noise(m, eps0, generator) if surrogate.needs_noise else None for m in levels}
        dec_noise = draw_noise(len(dec_sigmas) - 1, eps0, generator) if decode_sampler.needs_noise else None
        if self.surrogate_steps == "decode":
            dec_noise = noises[len(dec_sigmas) - 1]
        return (float(grid[0]), {m: (surrogate, levels[m], noises[m], Backprop()) for m in levels},
                (decode_sampler, dec_sigmas, dec_noise, NoGrad()), ms)


def _model_dtype(model: nn.Module, eps: torch.Tensor) -> torch.dtype:
    """The dtype the model runs in: a bfloat16 model runs in bfloat16 while ``eps`` and the optimiser's state stay in
    ``eps``'s own precision (the outputs are cast back)."""
    p = next(model.parameters(), None)
    return p.dtype if p is not None and p.is_floating_point() else eps.dtype


def _check_model(sampler: Sampler, model: nn.Module) -> None:
    is_jump = isinstance(_unwrap(model), Jump)
    drives = getattr(sampler, "drives", "denoiser")
    if drives == "jump" and not is_jump:
        raise TypeError(f"{type(sampler).__name__} drives a jump G(x, sigma_from, sigma_to) but got "
                        f"{type(model).__name__}; wrap a distilled network as ConsistencyJump or EulerJump")
    if drives == "denoiser" and is_jump:
        raise TypeError(f"{type(sampler).__name__} drives a denoiser D(x, sigma) but got the jump "
                        f"{type(model).__name__}; pass its .denoiser or use a jump sampler ('cm', 'ctm-gamma')")
