"""The denoiser contract ``D(x, sigma, cond) -> x0`` and its wrappers.

A *denoiser* is any ``nn.Module`` whose ``forward(x, sigma, cond=None)`` returns an estimate of the clean data ``x0``
(k-diffusion's contract). ``x`` has shape ``(batch, channels, *spatial)`` with time last, ``sigma`` has shape
``(batch,)`` and is the EDM/VE noise level (``x = x0 + sigma * eps``). ``cond`` is whatever the wrapped network
understands (a dict of tensors for the built-in models) and is passed through untouched; ``None`` means unconditional.

Raw networks are wrapped by :class:`EDMPrecond`; eps- and v-prediction (VP) networks by :class:`VPDenoiser`;
classifier-free guidance by :class:`CFGDenoiser`; :class:`NFECounter` counts network evaluations for benchmarks.
Nothing here knows about samplers.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import torch
from torch import nn

from .utils import append_dims, as_sigma, check_sigma

__all__ = ["Denoiser", "EDMPrecond", "VPDenoiser", "CFGDenoiser", "NFECounter", "CallCount", "count_network_calls", "edm_loss_weight", "cosine_alphas_cumprod"]


class Denoiser(nn.Module):
    """Base class of every denoiser: ``forward(x, sigma, cond=None) -> x0`` with ``x0.shape == x.shape``."""

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM loss weight ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma * sigma_data)^2`` (Karras et al. 2022, Eq. 8)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


class EDMPrecond(Denoiser):
    """EDM preconditioning of a raw network ``F(x_in, c_noise, cond)`` (Karras et al. 2022, Table 1 / Eq. 7).

    ``D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)`` with ``c_noise = ln(sigma) / 4``. With
    ``consistency=True`` the consistency-model boundary parameterization (Song et al. 2023) is used instead,
    so that ``D(x; sigma_min) = x`` exactly.

    Parameters
    ----------
    net : nn.Module
        ``net(x_in, c_noise, cond) -> F`` with ``F.shape == x_in.shape``; ``c_noise`` has shape ``(batch,)``.
    sigma_data : float
        Standard deviation of the data (0.5 for EDM-normalized data).
    consistency : bool
        Use the CM boundary condition ``c_skip(sigma_min) = 1, c_out(sigma_min) = 0``.
    sigma_min : float
        Boundary noise level of the consistency parameterization.
    """

    def __init__(self, *, net: nn.Module, sigma_data: float = 0.5, consistency: bool = False, sigma_min: float = 0.002):
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)
        self.consistency = bool(consistency)
        self.sigma_min = float(sigma_min)

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(c_skip, c_out, c_in)`` for a ``(batch,)`` sigma."""
        sd2 = self.sigma_data**2
        c_in = 1 / (sigma**2 + sd2).sqrt()
        if self.consistency:
            t = sigma - self.sigma_min
            c_skip = sd2 / (t**2 + sd2)
            c_out = t * self.sigma_data / (sigma**2 + sd2).sqrt()
        else:
            c_skip = sd2 / (sigma**2 + sd2)
            c_out = sigma * self.sigma_data / (sigma**2 + sd2).sqrt()
        return c_skip, c_out, c_in

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        sigma = as_sigma(sigma, x)
        check_sigma(sigma, type(self).__name__)
        c_skip, c_out, c_in = (append_dims(c, x.ndim) for c in self.scalings(sigma))
        c_noise = sigma.clamp_min(1e-20).log() / 4
        f = self.net(c_in * x, c_noise, cond)
        return c_skip * x + c_out * f.to(x.dtype)


def cosine_alphas_cumprod(n: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021) cosine schedule, ``abar_t`` for ``t = 0..n-1`` with betas clipped at ``max_beta``."""
    f = lambda t: math.cos((t / n + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = torch.tensor([min(1 - f(i + 1) / f(i), max_beta) for i in range(n)], dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


class VPDenoiser(Denoiser):
    """Adapter that turns a discrete-time VP network (eps- or v-prediction) into an EDM denoiser
    (the mapping of k-diffusion's ``DiscreteEpsDDPMDenoiser``).

    ``sigma_t = sqrt((1 - abar_t) / abar_t)``; the network sees ``x_VP = x / sqrt(1 + sigma^2)`` and a continuous
    timestep obtained by piecewise-linear interpolation of the index in ``log sigma`` (k-diffusion's
    ``DiscreteSchedule.sigma_to_t``), so off-grid sigmas (gamma-sampling, continuous distributions) work.

    Parameters
    ----------
    net : nn.Module
        ``net(x_vp, t, cond) -> eps`` (or ``v``), ``t`` a float tensor of shape ``(batch,)`` in ``[0, len(abar) - 1]``.
    alphas_cumprod : Tensor, shape ``(n_timesteps,)``
        ``abar_t`` of the model's training schedule.
    prediction : {"eps", "v"}
        What the network predicts.
    """

    def __init__(self, *, net: nn.Module, alphas_cumprod: torch.Tensor, prediction: str = "eps"):
        super().__init__()
        if prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {prediction!r}")
        self.net = net
        self.prediction = prediction
        abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
        self.register_buffer("log_sigmas", (((1 - abar) / abar).sqrt()).log(), persistent=False)

    @property
    def sigma_min(self) -> float:
        return float(self.log_sigmas[0].exp())

    @property
    def sigma_max(self) -> float:
        return float(self.log_sigmas[-1].exp())

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """Continuous timestep for ``sigma`` by linear interpolation in ``log sigma`` (clamped to the table)."""
        log_sigma = sigma.to(self.log_sigmas.dtype).clamp_min(1e-20).log()
        ls = self.log_sigmas
        idx = torch.searchsorted(ls, log_sigma.contiguous()).clamp(1, ls.numel() - 1)
        lo, hi = ls[idx - 1], ls[idx]
        w = ((log_sigma - lo) / (hi - lo)).clamp(0, 1)
        return ((idx - 1) + w).to(sigma.dtype)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        sigma = as_sigma(sigma, x)
        check_sigma(sigma, type(self).__name__)
        s = append_dims(sigma, x.ndim)
        scale = 1 / (s**2 + 1).sqrt()  # = sqrt(abar)
        out = self.net(x * scale, self.sigma_to_t(sigma), cond).to(x.dtype)
        if self.prediction == "eps":
            return x - s * out
        # v = sqrt(abar) eps - sqrt(1 - abar) x0  =>  x0 = sqrt(abar) x_vp - sqrt(1-abar) v
        return scale * (x * scale) - (s * scale) * out


class CFGDenoiser(Denoiser):
    """Classifier-free guidance in denoiser space: ``D_w = D(null) + w (D(cond) - D(null))``
    (DITTO, Novack et al. 2024, Eq. 13, written for the denoiser).

    Uses the Imagen convention, ``w = 1`` is no guidance. Costs two network calls per evaluation (one when
    ``w == 1``), which is what the DITTO cost model counts.

    Parameters
    ----------
    denoiser : Denoiser
        The conditional denoiser.
    w : float
        Guidance weight.
    null_cond : Any
        The "empty" condition, or a callable ``cond -> null cond`` (default: ``None``).
    """

    def __init__(self, *, denoiser: nn.Module, w: float, null_cond: Any = None):
        super().__init__()
        self.denoiser = denoiser
        self.w = float(w)
        self.null_cond = null_cond

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        d_cond = self.denoiser(x, sigma, cond)
        if self.w == 1.0:
            return d_cond
        null = self.null_cond(cond) if callable(self.null_cond) else self.null_cond
        d_null = self.denoiser(x, sigma, null)
        return d_null + self.w * (d_cond - d_null)


class NFECounter(nn.Module):
    """Wrap any module and count its forward calls (network function evaluations).

    ``counter.nfe`` is the number of calls since construction or :meth:`reset`. Calls recomputed by gradient
    checkpointing in the backward pass are counted too, which is what the DITTO cost model (about ``2KT``) counts.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.nfe = 0

    def reset(self) -> None:
        self.nfe = 0

    def forward(self, *args, **kwargs):
        self.nfe += 1
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


@contextlib.contextmanager
def count_network_calls(model: nn.Module) -> Iterator[tuple[nn.Module, "CallCount"]]:
    """Count the calls of the innermost network of ``model`` while the context is open.

    Follows the ``denoiser`` (jumps, CFG), ``net`` (EDM / VP preconditioners) and ``module`` (counters) children down
    to the raw network and counts its forward calls with a forward pre-hook, so a CFG wrapper's two calls and calls
    recomputed by gradient checkpointing are all counted; the model itself is not changed, and the hook is removed on
    exit. A layer-routed network (``RoutedNet``, which runs its inner network block by block) is counted as a whole.
    Yields ``(model, count)``; ``count.nfe`` is the number of forward calls so far, ``count.backward`` the number of
    backward passes through the network.
    """
    node = model
    while not hasattr(node, "router"):
        name = next((n for n in ("denoiser", "net", "module") if isinstance(node._modules.get(n), nn.Module)), None)
        if name is None:
            break
        node = node._modules[name]
    count = CallCount()
    handles = (node.register_forward_pre_hook(count.hook), node.register_forward_hook(count.output_hook))
    try:
        yield model, count
    finally:
        for handle in handles:
            handle.remove()


class CallCount:
    """Calls counted by :func:`count_network_calls`: ``nfe`` forward calls and ``backward`` passes through the network
    (a gradient reaching a call's output counts once); :meth:`reset` sets both back to 0."""

    def __init__(self):
        self.nfe = self.backward = 0

    def reset(self) -> None:
        self.nfe = self.backward = 0

    def hook(self, module, args) -> None:
        self.nfe += 1

    def output_hook(self, module, args, output) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(self._backward_hook)

    def _backward_hook(self, grad: torch.Tensor) -> None:
        self.backward += 1
