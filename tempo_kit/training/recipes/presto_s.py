"""Presto-S: score-based distribution matching distillation (DMD2) for EDM models in continuous time
(Presto!, Novack et al. 2025; DMD2, Yin et al. 2024).

Networks: the frozen teacher is the real score ``mu_real`` (queried with CFG), a trainable copy is the fake score
``mu_fake`` (queried unguided), another trainable copy is the generator ``G`` (an x0-predicting denoiser used as a jump
to 0), and a least-squares GAN head :class:`DiscriminatorHead` reads the fake score's middle-block features.

Each step (Presto, Fig. 1):

* generator input: real data noised at ``sigma_g ~ p_gen`` (= ``p_inf``, the continuous Karras distribution); with
  ``backward_simulation = p > 0`` (ours, after DMD2's backward simulation; not in Presto), a fraction ``p`` of the batch
  instead gets the generator's own one-step sample ``sg(G(sigma_max eps', sigma_max))`` noised at ``sigma_g``, the
  input a multi-step sampler feeds it;
* generator turn (every ``fake_updates``-th step): ``L_DMD`` with ``sigma ~ p_DMD`` (= ``p_train``), the gradient
  ``(mu_fake - mu_real^w) / mean|x_hat - mu_real^w|`` normalized by the *real* residual, plus
  ``gan_weight_gen * E[(D(h(x_hat + sigma' eps)) - 1)^2]`` with ``sigma' ~ p_GAN``; fake score and head are frozen
  but carry the gradient to ``x_hat``;
* with ``regression_weight > 0`` (ours, after DMD's regression loss; not in Presto nor DMD2) the generator turn adds
  ``regression_weight * E|G(x_k, sigma_k) - x_0|^2`` on states ``x_k`` of the teacher's probability-flow ODE and the
  ODE's end ``x_0`` (:func:`teacher_ode_pairs`, read from ``regression_pairs``), which anchors every noise level's jump
  to where the teacher's ODE goes from there;
* fake turn (every step): EDM-weighted DSM of the fake score on ``sg(x_hat)`` at ``sigma ~ p_DSM`` plus
  ``gan_weight_disc * (E[(D(h(x_real + sigma' eps)) - 1)^2] + E[D(h(x_hat + sigma' eps))^2])``.

Parameter groups: ``"generator"`` and ``"fake_score"`` (fake score + discriminator head). Sample the result with the
``"presto-s"`` sampler through :class:`~tempo_kit.jumps.ConsistencyJump`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn

from ...denoisers import CFGDenoiser, edm_loss_weight
from ...jumps import ConsistencyJump, ode_step
from ...models.blocks import null_condition
from ...schedules import KarrasSchedule, LogNormalSigma
from ...utils import append_dims
from ..data import split_batch
from ..recipe import Recipe, UpdateRule, trainable
from .common import (as_denoiser, denoiser_features, feature_layer as middle_layer, frozen, guided_denoise, randn,
                     trainable_copy)

#: Per-pair weights of the regression term: ``"uniform"`` (1) or ``"edm"`` (``lambda(sigma) sigma_data^2 =
#: 1 + (sigma_data / sigma)^2``, the teacher's own DSM weighting scaled to 1 at high noise, which keeps the low-noise
#: jumps of multi-step sampling from being drowned by the large errors of the high-noise ones).
REGRESSION_WEIGHTINGS = ("uniform", "edm")

__all__ = ["DiscriminatorHead", "PrestoSRecipe", "dmd_loss", "sigma_distribution", "teacher_ode_pairs",
           "PAIR_KEYS"]

#: The tensors of a regression-pairs file (:func:`teacher_ode_pairs`).
PAIR_KEYS = ("x", "sigma", "trajectory", "x0", "tags", "w")


class DiscriminatorHead(nn.Module):
    """Presto-S GAN head on hidden features: ``n_blocks x (Conv1d -> GroupNorm -> SiLU)``, then a per-frame
    ``Linear(C, 1)`` (Presto! authors' ICLR 2025 review answer, Novack et al. 2025; the concrete layout is ours).

    Each convolution has kernel 3, stride ``stride`` and padding 1, so a sequence of ``T`` frames shrinks to
    ``ceil(T / stride)`` per block (DMD2 uses kernel 4; 3 keeps length-1 feature sequences of vector data valid).

    Parameters
    ----------
    channels : int
        Feature channels ``C``.
    n_blocks : int
        Convolution blocks (4).
    stride : int
        Temporal down-sampling per block; choose it so the output rate is about 2.8 Hz for audio latents.
    norm_groups : int
        GroupNorm groups (reduced to a divisor of ``C``).

    Input ``(batch, C, T)``; output logits ``(batch, T_out)``.
    """

    def __init__(self, *, channels: int, n_blocks: int = 4, stride: int = 2, norm_groups: int = 32):
        super().__init__()
        groups = math.gcd(norm_groups, channels)
        layers: list[nn.Module] = []
        for _ in range(n_blocks):
            layers += [nn.Conv1d(channels, channels, 3, stride=stride, padding=1), nn.GroupNorm(groups, channels), nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.ndim != 3:
            raise ValueError(f"DiscriminatorHead expects features of shape (batch, channels, frames), got {tuple(h.shape)}")
        return self.out(self.convs(h).transpose(1, 2)).squeeze(-1)


def sigma_distribution(value, name: str = "distribution"):
    """A noise-level distribution from a config value: an object with ``sample(n, generator=, device=)`` as it is, a
    table with ``p_mean`` / ``p_std`` as :class:`~tempo_kit.schedules.LogNormalSigma`, one with ``sigma_min`` /
    ``sigma_max`` / ``rho`` as the continuous Karras distribution :class:`~tempo_kit.schedules.KarrasSchedule`."""
    if hasattr(value, "sample"):
        return value
    if isinstance(value, dict):
        if set(value) <= {"p_mean", "p_std"}:
            return LogNormalSigma(**value)
        if set(value) <= {"sigma_min", "sigma_max", "rho"}:
            return KarrasSchedule(**value)
    raise ValueError(f"{name} must be a sigma distribution, a table of p_mean/p_std (log-normal) or of "
                     f"sigma_min/sigma_max/rho (Karras), got {value!r}")


def dmd_loss(x_hat: torch.Tensor, mu_real: torch.Tensor, mu_fake: torch.Tensor) -> torch.Tensor:
    """DMD surrogate loss whose gradient w.r.t. ``x_hat`` is ``g / x_hat.numel()`` (DMD, Yin et al. 2023; the
    surrogate form of the DMD2 code, Yin et al. 2024).

    ``g = (mu_fake - mu_real) / mean|x_hat - mu_real|`` with the mean over every non-batch dimension (per-sample
    normalization by the *real* residual). ``mu_real`` and ``mu_fake`` carry no gradient.
    """
    dims = tuple(range(1, x_hat.ndim))
    p_real = (x_hat - mu_real).detach()
    p_fake = (x_hat - mu_fake).detach()
    g = torch.nan_to_num((p_real - p_fake) / p_real.abs().mean(dim=dims, keepdim=True).clamp_min(1e-12))
    return 0.5 * nn.functional.mse_loss(x_hat, (x_hat - g).detach(), reduction="mean")


@torch.no_grad()
def teacher_ode_pairs(teacher: nn.Module, tags: torch.Tensor, shape: tuple[int, ...], *, steps: int = 20,
                      states: int = 6, batch_size: int = 64, schedule=KarrasSchedule(), w: float = 1.0,
                      null_cond: Any = null_condition, start: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Points on the teacher's probability-flow ODE and where it ends, for Presto-S's regression term.

    One trajectory per row of ``tags``: ``x_T = sigma_max eps`` (or, with ``start``, the clip ``start + sigma_max eps``,
    the input a multi-step sampler gives the generator after its first jump when ``sigma_max`` is one of its re-noise
    levels, e.g. ``KarrasSchedule(sigma_max=2.5)``) solved with Heun over ``schedule.sigmas(steps)``
    (``2 steps - 1`` teacher calls, twice that with guidance); ``states`` of the ``steps`` noisy grid points
    (``sigma_max`` included) are kept per trajectory, drawn without replacement. ``w`` is the teacher's CFG weight
    (Imagen convention, 1 = none, ``null_cond`` the unconditional ``cond``): use the real score's ``w_real`` so that the
    regression and the DMD term aim at the same distribution (the recipe checks the stored ``w``).

    Parameters
    ----------
    teacher : Denoiser
        ``D(x, sigma, cond)``.
    tags : Tensor, shape (n, num_tags)
        Multi-hot tags of each trajectory (``cond = {"tags": tags}``).
    shape : tuple of int
        One sample's shape, e.g. ``(n_mels, frames)``.
    start : Tensor, shape (n, *shape), optional
        Clean clips (one per row of ``tags``) that the trajectories start from, noised to ``sigma_max``.

    Returns
    -------
    dict of Tensor
        ``x`` (n * states, *shape) float16 noisy states, ``sigma`` (n * states,) their noise levels, ``trajectory``
        (n * states,) int64 row of ``x0`` / ``tags`` each state belongs to, ``x0`` (n, *shape) float16 the ODE's ends
        and ``tags`` (n, num_tags); ``w`` (a 0-d tensor) the guidance weight.
    """
    if not 1 <= states <= steps:
        raise ValueError(f"states must be between 1 and steps ({steps}), got {states}")
    if start is not None and tuple(start.shape) != (tags.shape[0], *shape):
        raise ValueError(f"start must hold one clip of shape {tuple(shape)} per row of tags ({tags.shape[0]}), got "
                         f"{tuple(start.shape)}")
    sigmas = schedule.sigmas(steps)
    model = teacher if w == 1 else CFGDenoiser(denoiser=teacher, w=w, null_cond=null_cond)
    xs, sig, traj, ends = [], [], [], []
    for first in range(0, tags.shape[0], batch_size):
        cond = {"tags": tags[first:first + batch_size]}
        n = cond["tags"].shape[0]
        x = sigmas[0] * torch.randn((n, *shape), generator=generator)
        if start is not None:
            x = x + start[first:first + n].float()
        keep = torch.stack([torch.randperm(steps, generator=generator)[:states] for _ in range(n)])
        for i in range(steps):
            rows = (keep == i).any(dim=1).nonzero().squeeze(1)
            xs.append(x[rows].half())
            sig.append(sigmas[i].expand(rows.numel()))
            traj.append(rows + first)
            x = ode_step(model, x, sigmas[i], sigmas[i + 1], cond)
        ends.append(x.half())
    return {"x": torch.cat(xs), "sigma": torch.cat(sig).float(), "trajectory": torch.cat(traj),
            "x0": torch.cat(ends), "tags": tags.clone(), "w": torch.tensor(float(w))}


class PrestoSRecipe(Recipe):
    """Presto-S step distillation (DMD2 + LSGAN head, continuous-time EDM noise distributions).

    Parameters
    ----------
    teacher : EDMPrecond
        Frozen real score (its parameters are set to ``requires_grad=False``); must wrap a block model when the GAN
        is on (the head reads its copy's middle features).
    generator, fake_score : Denoiser, optional
        Default: trainable copies of the teacher (DMD2 / Presto initialization).
    discriminator : nn.Module, optional
        GAN head on ``(batch, C, T)`` features; default :class:`DiscriminatorHead` with ``C = config.width``.
    feature_layer : int, optional
        0-based block of the fake score read by the head; default the middle (``num_blocks // 2 - 1``).
    p_gen, p_dmd, p_dsm, p_gan : sigma distributions (anything with ``sample(n, generator=, device=)``, or a config
        table, see :func:`sigma_distribution`)
        Defaults: ``p_gen = p_inf = KarrasSchedule()``, ``p_DMD = p_DSM = p_GAN = p_train = LogNormalSigma()``
        (Presto Fig. 1; ``p_DSM = p_train`` is ours). Use the teacher's own training distribution for ``p_train``.
    w_real : float
        CFG weight of the real score (Imagen convention); set it to the teacher's inference guidance.
    null_cond : Any
        Unconditional ``cond`` (or callable); default :func:`tempo_kit.models.null_condition`.
    gan_weight_gen, gan_weight_disc : float
        GAN loss weights of the generator (5e-3) and discriminator (1e-2) sides (our mapping of
        Presto's nu1/nu2, which the paper does not assign; values as in DMD2's SDXL recipe).
        ``0`` for both turns the GAN off.
    fake_updates : int
        Fake-score updates per generator update (5).
    lr_generator, lr_fake, betas, weight_decay
        Optimizer settings (Presto: Adam, 5e-7 for both, no schedule).
    disc_norm_groups : int
        GroupNorm groups of the default head.
    dmd_weight : float
        Weight of ``L_DMD`` (1). ``0`` turns distribution matching off: with the GAN off too, the generator learns
        from the regression term alone (stage 1 of the bundled Presto-S), every step, and the fake score is neither
        trained nor checkpointed with an optimizer (:attr:`regression_only`).
    regression_weighting : {"uniform", "edm"}
        Weight of each regression pair by its noise level (see :data:`REGRESSION_WEIGHTINGS`; default uniform).
    backward_simulation : float
        Fraction of each batch whose generator input is the generator's own one-step sample (no gradient) noised at
        ``sigma_g``, as in multi-step sampling, instead of noised real data (0: Presto's recipe). Costs one extra
        generator forward pass per step.
    """

    name = "presto-s"

    def __init__(self, *, teacher: nn.Module, generator: nn.Module | None = None, fake_score: nn.Module | None = None,
                 discriminator: nn.Module | None = None, feature_layer: int | None = None,
                 p_gen=KarrasSchedule(), p_dmd=LogNormalSigma(), p_dsm=LogNormalSigma(), p_gan=LogNormalSigma(),
                 w_real: float = 1.0, null_cond: Any = null_condition, gan_weight_gen: float = 5e-3,
                 gan_weight_disc: float = 1e-2, fake_updates: int = 5, lr_generator: float = 5e-7,
                 lr_fake: float = 5e-7, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0,
                 disc_norm_groups: int = 32, backward_simulation: float = 0.0, dmd_weight: float = 1.0,
                 regression_pairs: str | os.PathLike | dict | list | None = None, regression_weight: float = 0.0,
                 regression_weighting: str = "uniform"):
        super().__init__()
        if regression_weighting not in REGRESSION_WEIGHTINGS:
            raise ValueError(f"regression_weighting must be one of {list(REGRESSION_WEIGHTINGS)}, got "
                             f"{regression_weighting!r}")
        if not 0.0 <= backward_simulation <= 1.0:
            raise ValueError(f"backward_simulation must be a fraction in [0, 1], got {backward_simulation}")
        if fake_updates < 1:
            raise ValueError(f"fake_updates must be >= 1, got {fake_updates}")
        if gan_weight_gen < 0 or gan_weight_disc < 0:
            raise ValueError("GAN weights must be non-negative")
        self.teacher = as_denoiser(teacher, "teacher").requires_grad_(False)
        self.generator = as_denoiser(generator, "generator") if generator is not None else trainable_copy(self.teacher)
        self.fake = as_denoiser(fake_score, "fake_score") if fake_score is not None else trainable_copy(self.teacher)
        self.gan = gan_weight_gen > 0 or gan_weight_disc > 0
        self.feature_layer = middle_layer(self.fake, feature_layer) if self.gan else None
        if self.gan and discriminator is None:
            base = getattr(self.fake.net, "net", self.fake.net)
            discriminator = DiscriminatorHead(channels=base.config.width, norm_groups=disc_norm_groups)
        self.discriminator = discriminator if self.gan else None
        self.p_gen, self.p_dmd, self.p_dsm, self.p_gan = (sigma_distribution(d, name) for d, name in (
            (p_gen, "p_gen"), (p_dmd, "p_dmd"), (p_dsm, "p_dsm"), (p_gan, "p_gan")))
        self.w_real, self.null_cond = float(w_real), null_cond
        self.gan_weight_gen, self.gan_weight_disc = float(gan_weight_gen), float(gan_weight_disc)
        self.fake_updates = int(fake_updates)
        self.lr_generator, self.lr_fake = float(lr_generator), float(lr_fake)
        self.betas, self.weight_decay = tuple(betas), float(weight_decay)
        self.sigma_data = float(getattr(teacher, "sigma_data", 0.5))
        self.backward_simulation = float(backward_simulation)
        self.regression_weight, self.dmd_weight = float(regression_weight), float(dmd_weight)
        self.regression_weighting = regression_weighting
        if self.dmd_weight < 0:
            raise ValueError(f"dmd_weight must be non-negative, got {dmd_weight}")
        if self.regression_weight < 0:
            raise ValueError(f"regression_weight must be non-negative, got {regression_weight}")
        if self.regression_weight > 0 and regression_pairs is None:
            raise ValueError("regression_weight > 0 needs regression_pairs: a file written by 'tempo-kit data ode-pairs'")
        self.pairs = _read_pairs(regression_pairs) if self.regression_weight > 0 else None
        if self.dmd_weight == 0 and self.regression_weight == 0 and self.gan_weight_gen == 0:
            raise ValueError("dmd_weight, regression_weight and gan_weight_gen are all 0: the generator would learn "
                             "nothing")
        if self.pairs is not None and float(self.pairs["w"]) != self.w_real:
            raise ValueError(f"regression_pairs were solved with guidance w = {float(self.pairs['w']):g} but the real "
                             f"score uses w_real = {self.w_real:g}: the two terms would aim at different "
                             "distributions; write the pairs with --cfg equal to w_real")
        self._diag: dict[str, torch.Tensor] = {}

    # -- contract --------------------------------------------------------------------------------------------------
    @property
    def regression_only(self) -> bool:
        """Neither distribution matching nor the GAN head is on: the fake score is never read, so it is not trained
        and the generator is not run on noised data (only on the regression pairs)."""
        return self.dmd_weight == 0 and not self.gan

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.regression_only:
            return {"generator": trainable(self.generator)}
        fake = trainable(self.fake)
        if self.discriminator is not None:
            fake += trainable(self.discriminator)
        return {"generator": trainable(self.generator), "fake_score": fake}

    def update_rules(self) -> list[UpdateRule]:
        generator = UpdateRule(group="generator", every=1 if self.regression_only else self.fake_updates, offset=0,
                               lr=self.lr_generator, betas=self.betas, weight_decay=self.weight_decay)
        if self.regression_only:
            return [generator]
        return [generator, UpdateRule(group="fake_score", every=1, lr=self.lr_fake, betas=self.betas,
                                      weight_decay=self.weight_decay)]

    def student(self) -> ConsistencyJump:
        """The generator as a jump to ``x0`` (sample with the ``"presto-s"`` sampler)."""
        return ConsistencyJump(denoiser=self.generator)

    # -- pieces ----------------------------------------------------------------------------------------------------
    def _sigma(self, dist, x: torch.Tensor, generator) -> torch.Tensor:
        gdev = generator.device if generator is not None else x.device
        return dist.sample(x.shape[0], generator=generator, device=gdev).to(device=x.device, dtype=x.dtype)

    def _noised(self, x: torch.Tensor, dist, generator) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = self._sigma(dist, x, generator)
        return x + append_dims(sigma, x.ndim) * randn(x, generator), sigma

    def _logits(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        return self.discriminator(denoiser_features(self.fake, x, sigma, cond, layer=self.feature_layer))

    def generate(self, x_real: torch.Tensor, cond: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x_hat = G(x_real + sigma_g eps, sigma_g)`` with ``sigma_g ~ p_gen`` (Presto Fig. 1 steps 1-2); with
        ``backward_simulation`` part of the batch starts from the generator's own one-step sample instead."""
        x_start = x_real
        if self.backward_simulation > 0:
            sigma_max = float(getattr(self.p_gen, "sigma_max", 80.0))
            sigma_top = torch.full((x_real.shape[0],), sigma_max, device=x_real.device, dtype=x_real.dtype)
            with torch.no_grad():
                x_own = self.generator(sigma_max * randn(x_real, generator), sigma_top, cond)
            gdev = generator.device if generator is not None else x_real.device
            own = torch.rand(x_real.shape[0], generator=generator, device=gdev).to(x_real.device)
            x_start = torch.where(append_dims(own < self.backward_simulation, x_real.ndim), x_own, x_real)
        x_in, sigma_g = self._noised(x_start, self.p_gen, generator)
        return self.generator(x_in, sigma_g, cond)

    def regression(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared distance between ``G(x_k, sigma_k)`` and the teacher ODE's end ``x_0`` on ``n`` pairs, each
        pair weighted by ``1 + (sigma_data / sigma_k)^2`` with ``regression_weighting = "edm"``."""
        pairs = self.pairs
        gdev = generator.device if generator is not None else "cpu"
        i = torch.randint(pairs["x"].shape[0], (n,), generator=generator, device=gdev).cpu()
        j = pairs["trajectory"][i]
        weight = next(self.generator.parameters())
        to = dict(device=weight.device, dtype=weight.dtype)
        x, target = pairs["x"][i].to(**to), pairs["x0"][j].to(**to)
        sigma = pairs["sigma"][i].to(**to)
        out = self.generator(x, sigma, {"tags": pairs["tags"][j].to(weight.device)})
        err = (out - target).pow(2).flatten(1).mean(1)
        if self.regression_weighting == "edm":
            err = err * edm_loss_weight(sigma, self.sigma_data) * self.sigma_data**2
        return err.mean()

    def _regression_term(self, x_real: torch.Tensor, generator) -> torch.Tensor:
        if self.pairs["x"].shape[1:] != x_real.shape[1:]:
            raise ValueError(f"regression_pairs hold states of shape {tuple(self.pairs['x'].shape[1:])} but the "
                             f"training clips have shape {tuple(x_real.shape[1:])}: write the pairs from this "
                             "data and teacher ('tempo-kit data ode-pairs')")
        return self.regression_weight * self.regression(x_real.shape[0], generator)

    def _score_diagnostics(self, x_hat, mu_real, mu_fake, sigma) -> dict[str, torch.Tensor]:
        """On the generator's noised samples: the EDM-weighted denoising error of the real (teacher) and the fake
        score (a fake score that tracks the generator denoises its samples better than the teacher does), their
        relative disagreement ``mean|mu_fake - mu_real| / mean|x_hat - mu_real|`` (the size of the DMD gradient
        before normalisation) and the mean ``log sigma`` drawn for the DMD term."""
        weight = append_dims(edm_loss_weight(sigma, self.sigma_data), x_hat.ndim)
        return {"real_dsm_on_generated": (weight * (mu_real - x_hat).pow(2)).mean(),
                "fake_dsm_on_generated": (weight * (mu_fake - x_hat).pow(2)).mean(),
                "fake_real_gap": (mu_fake - mu_real).abs().mean() / (x_hat - mu_real).abs().mean().clamp_min(1e-12),
                "dmd_log_sigma": sigma.log().mean()}

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """See :meth:`_score_diagnostics` (generator turns) and ``disc_accuracy``: the GAN head's accuracy at the
        0.5 threshold on noised real and generated clips (fake-score turns)."""
        return dict(self._diag)

    def losses(self, batch, *, step: int, groups: frozenset[str], generator: torch.Generator | None = None):
        self._diag: dict[str, torch.Tensor] = {}
        x_real, cond = split_batch(batch)
        gen_turn = "generator" in groups
        if self.regression_only:
            return {"generator": {"regression": self._regression_term(x_real, generator)}} if gen_turn else {}
        with torch.set_grad_enabled(gen_turn and torch.is_grad_enabled()):
            x_hat = self.generate(x_real, cond, generator)
        out: dict[str, dict[str, torch.Tensor]] = {}
        if gen_turn:
            terms = {}
            with frozen(self.fake, self.discriminator):
                if self.dmd_weight > 0:
                    x_t, sigma = self._noised(x_hat.detach(), self.p_dmd, generator)
                    with torch.no_grad():
                        mu_real = guided_denoise(self.teacher, x_t, sigma, cond, self.w_real, self.null_cond)
                        mu_fake = self.fake(x_t, sigma, cond)
                    terms["dmd"] = self.dmd_weight * dmd_loss(x_hat, mu_real, mu_fake)
                    self._diag.update(self._score_diagnostics(x_hat.detach(), mu_real, mu_fake, sigma))
                if self.gan and self.gan_weight_gen > 0:
                    x_g, sigma_g = self._noised(x_hat, self.p_gan, generator)
                    terms["gan"] = self.gan_weight_gen * (self._logits(x_g, sigma_g, cond) - 1).pow(2).mean()
            if self.pairs is not None:
                terms["regression"] = self._regression_term(x_real, generator)
            out["generator"] = terms
        if "fake_score" in groups:
            x_hat = x_hat.detach()
            x_t, sigma = self._noised(x_hat, self.p_dsm, generator)
            weight = append_dims(edm_loss_weight(sigma, self.sigma_data), x_hat.ndim)
            terms = {"dsm": (weight * (self.fake(x_t, sigma, cond) - x_hat).pow(2)).mean()}
            if self.gan and self.gan_weight_disc > 0:
                x_r, sigma_r = self._noised(x_real, self.p_gan, generator)
                x_f, sigma_f = self._noised(x_hat, self.p_gan, generator)
                logits_r, logits_f = self._logits(x_r, sigma_r, cond), self._logits(x_f, sigma_f, cond)
                real, fake = (logits_r - 1).pow(2).mean(), logits_f.pow(2).mean()
                terms["gan"] = self.gan_weight_disc * (real + fake)
                self._diag["disc_accuracy"] = 0.5 * ((logits_r.detach() > 0.5).float().mean()
                                                     + (logits_f.detach() < 0.5).float().mean())
            out["fake_score"] = terms
        return out


def _read_pairs(source) -> dict[str, torch.Tensor]:
    """The tensors of a regression-pairs file or dict (see :func:`teacher_ode_pairs`), or of a list of them merged
    into one set, checked for consistency."""
    from ...models.io import read_safetensors

    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("regression_pairs is an empty list")
        parts = [_read_pairs(one) for one in source]
        ws = sorted({float(p["w"]) for p in parts})
        if len(ws) > 1:
            raise ValueError(f"regression_pairs files were solved with different guidance weights {ws}")
        if len({tuple(p["x"].shape[1:]) for p in parts}) > 1:
            raise ValueError(f"regression_pairs files hold states of different shapes "
                             f"{[tuple(p['x'].shape[1:]) for p in parts]}")
        offsets = torch.tensor([0] + [p["x0"].shape[0] for p in parts]).cumsum(0)
        merged = {k: torch.cat([p[k] for p in parts]) for k in ("x", "sigma", "x0", "tags")}
        merged["trajectory"] = torch.cat([p["trajectory"] + int(o) for p, o in zip(parts, offsets)])
        return {**merged, "w": parts[0]["w"]}

    pairs = dict(source) if isinstance(source, dict) else read_safetensors(source)
    missing = [k for k in PAIR_KEYS if k not in pairs]
    if missing:
        raise ValueError(f"regression_pairs lacks {missing} (expected {list(PAIR_KEYS)}, as 'tempo-kit data ode-pairs' "
                         "writes)")
    n, m = pairs["x"].shape[0], pairs["x0"].shape[0]
    if pairs["sigma"].shape != (n,) or pairs["trajectory"].shape != (n,) or pairs["tags"].shape[0] != m:
        raise ValueError(f"regression_pairs: {n} states need {n} sigmas and trajectory ids, and {m} ends need {m} "
                         f"tag rows; got {tuple(pairs['sigma'].shape)}, {tuple(pairs['trajectory'].shape)}, "
                         f"{tuple(pairs['tags'].shape)}")
    if n == 0 or int(pairs["trajectory"].min()) < 0 or int(pairs["trajectory"].max()) >= m:
        raise ValueError(f"regression_pairs: trajectory ids must index the {m} ends (and there must be states)")
    return pairs
