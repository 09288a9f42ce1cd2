"""EDM denoising score matching (Karras et al. 2022, Sec. 5 / Eq. 2 and 8), with condition dropout for CFG."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...denoisers import EDMPrecond, edm_loss_weight
from ...schedules import LogNormalSigma
from ...utils import append_dims
from ..data import split_batch
from ..recipe import Recipe, UpdateRule, trainable

__all__ = ["EDMRecipe", "dsm_loss", "drop_condition", "noisy_input", "denoising_batch"]


def drop_condition(cond: Any, p: float, generator: torch.Generator | None = None) -> Any:
    """Classifier-free-guidance dropout: mark each sample ``null`` (use the learned null embedding) with prob. ``p``.

    ``cond`` is ``None`` or a dict (see :mod:`tempo_kit.models.blocks`); ``None`` stays ``None``.
    The recipes' default ``p = 0.1`` is our choice; the papers do not state it.
    """
    if cond is None or p <= 0:
        return cond
    ref = next(v for v in cond.values() if isinstance(v, torch.Tensor))
    drop = torch.rand(ref.shape[0], generator=generator, device=ref.device) < p
    if cond.get("null") is not None:
        drop = drop | cond["null"].bool()
    return {**cond, "null": drop}


def noisy_input(x0: torch.Tensor, sigma_dist, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``sigma ~ sigma_dist`` (shape ``(batch,)``) and return ``(x0 + sigma * eps, sigma)``."""
    sigma = sigma_dist.sample(x0.shape[0], generator=generator, device=x0.device).to(x0.dtype)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return x0 + append_dims(sigma, x0.ndim) * eps, sigma


def denoising_batch(batch: Any, sigma_dist, cond_dropout: float, generator: torch.Generator | None = None):
    """What a denoising-score-matching step trains on: ``(x0, x, sigma, cond)`` with ``x = x0 + sigma * eps``,
    ``sigma ~ sigma_dist`` (:func:`noisy_input`) and the condition after CFG dropout (:func:`drop_condition`), drawn
    in that order from ``generator``."""
    x0, cond = split_batch(batch)
    x, sigma = noisy_input(x0, sigma_dist, generator)
    return x0, x, sigma, drop_condition(cond, cond_dropout, generator)


def dsm_loss(prediction: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """``mean(lambda(sigma) * (prediction - target)^2)`` with the EDM weight ``lambda = 1 / c_out^2`` (Eq. 8)."""
    weight = append_dims(edm_loss_weight(sigma.float(), sigma_data), prediction.ndim)
    return (weight * (prediction.float() - target.float()) ** 2).mean()


class _DenoisingRecipe(Recipe):
    """Base of the recipes that train one parameter group on denoising-score-matching draws (:class:`EDMRecipe` and
    the layer recipes): log-normal sigma, CFG condition dropout, one Adam(W) update rule."""

    def __init__(self, group: str, *, p_mean: float, p_std: float, cond_dropout: float, lr: float,
                 betas: tuple[float, float], weight_decay: float):
        super().__init__()
        self.sigma_dist = LogNormalSigma(p_mean=p_mean, p_std=p_std)
        self.cond_dropout = cond_dropout
        self.rule = UpdateRule(group=group, lr=lr, betas=tuple(betas), weight_decay=weight_decay)

    def update_rules(self):
        return [self.rule]

    def _batch(self, batch: Any, generator: torch.Generator | None):
        """``(x0, x, sigma, cond)`` of one step (:func:`denoising_batch`)."""
        return denoising_batch(batch, self.sigma_dist, self.cond_dropout, generator)


class EDMRecipe(_DenoisingRecipe):
    """Train a denoiser ``D = EDMPrecond(net)`` from scratch (or fine-tune it) with EDM's DSM loss.

    One parameter group ``"net"``; loss term ``"dsm"``. Batches are ``x0`` tensors or ``{"x0", "cond"}`` dicts.

    Parameters
    ----------
    net : nn.Module
        Raw network ``F(x_in, c_noise, cond)`` (e.g. :class:`~tempo_kit.models.DiT`).
    sigma_data : float
    p_mean, p_std : float
        Log-normal training distribution of sigma (EDM: -1.2, 1.2).
    cond_dropout : float
        Probability of replacing a sample's condition by the null embedding (CFG training).
    lr, betas, weight_decay
        Adam(W) settings (EDM: lr 1e-3, betas (0.9, 0.999)).
    """

    name = "edm"

    def __init__(self, *, net: nn.Module, sigma_data: float = 0.5, p_mean: float = -1.2, p_std: float = 1.2,
                 cond_dropout: float = 0.1, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0):
        if not 0 <= cond_dropout < 1:
            raise ValueError(f"cond_dropout must lie in [0, 1), got {cond_dropout}")
        super().__init__("net", p_mean=p_mean, p_std=p_std, cond_dropout=cond_dropout, lr=lr, betas=betas,
                         weight_decay=weight_decay)
        self.denoiser = EDMPrecond(net=net, sigma_data=sigma_data)

    def param_groups(self):
        return {"net": trainable(self.denoiser)}

    def losses(self, batch, *, step, groups, generator=None):
        x0, x, sigma, cond = self._batch(batch, generator)
        return {"net": {"dsm": dsm_loss(self.denoiser(x, sigma, cond), x0, sigma, self.denoiser.sigma_data)}}

    def student(self):
        return self.denoiser
