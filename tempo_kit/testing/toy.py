"""Analytic toy problems: Gaussian and Gaussian-mixture data with a closed-form ideal EDM denoiser.

For data ``x0 ~ sum_k pi_k N(mu_k, s_k^2 I)`` the noisy marginal at level ``sigma`` is
``sum_k pi_k N(mu_k, (s_k^2 + sigma^2) I)`` and the ideal denoiser is
``E[x0 | x] = sum_k r_k(x) (mu_k + s_k^2 / (s_k^2 + sigma^2) (x - mu_k))`` with posterior responsibilities ``r_k``.
For a single Gaussian the probability-flow ODE is solved exactly by
``x_s = mu + (x_t - mu) sqrt(s^2 + sigma_s^2) / sqrt(s^2 + sigma_t^2)``; for a mixture it is integrated with RK4
to well below sampling error. These give samplers and distillation recipes
tests with known answers. Data tensors have shape ``(batch, dim)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..denoisers import Denoiser
from ..jumps import Jump
from ..utils import append_dims, as_sigma

__all__ = ["GaussianMixture", "ExactJump", "energy_distance"]


class GaussianMixture(Denoiser):
    """Isotropic Gaussian mixture data; the module itself is the ideal EDM denoiser ``D(x, sigma) = E[x0 | x]``.

    Parameters
    ----------
    means : Tensor, shape ``(components, dim)``
    stds : Tensor, shape ``(components,)``
    weights : Tensor, shape ``(components,)``, optional
        Mixture weights (uniform by default).
    """

    def __init__(self, *, means, stds, weights=None):
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (components, dim), got {tuple(means.shape)}")
        stds = torch.as_tensor(stds, dtype=torch.float64).expand(means.shape[0]).clone()
        if (stds <= 0).any():
            raise ValueError("stds must be positive")
        weights = torch.ones(means.shape[0], dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.register_buffer("means", means)
        self.register_buffer("stds", stds)
        self.register_buffer("weights", weights / weights.sum())

    @classmethod
    def ring(cls, *, components: int = 8, radius: float = 1.0, std: float = 0.1) -> "GaussianMixture":
        """Components evenly spaced on a circle in 2-D (a standard toy target)."""
        angle = torch.arange(components, dtype=torch.float64) * (2 * torch.pi / components)
        return cls(means=radius * torch.stack([angle.cos(), angle.sin()], 1), stds=torch.full((components,), std))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> torch.Tensor:
        return (self.weights[:, None] * self.means).sum(0)

    def variance(self) -> torch.Tensor:
        """Per-dimension variance of the data."""
        second = (self.weights[:, None] * (self.means**2 + self.stds[:, None] ** 2)).sum(0)
        return second - self.mean() ** 2

    def sample(self, n: int, *, sigma: float = 0.0, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Draw ``n`` samples of the data, or of its noisy marginal at level ``sigma``; shape ``(n, dim)``."""
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator)
        std = (self.stds[k] ** 2 + sigma**2).sqrt()
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[k] + std[:, None] * z).to(dtype)

    def _posterior(self, x: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Responsibilities ``r`` (B, K) and noisy-component variances ``s_k^2 + sigma^2`` (B, K), in float64."""
        var = self.stds[None, :] ** 2 + sigma[:, None] ** 2
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        logp = self.weights.log()[None] - 0.5 * sq / var - 0.5 * self.dim * var.log()
        return logp.softmax(-1), var

    def forward(self, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        sigma = as_sigma(sigma, x).to(torch.float64)
        xd = x.to(torch.float64)
        r, var = self._posterior(xd, sigma)
        shrink = self.stds[None, :] ** 2 / var  # (B, K)
        post = self.means[None] + shrink[..., None] * (xd[:, None, :] - self.means[None])  # (B, K, D)
        return (r[..., None] * post).sum(1).to(x.dtype)

    def velocity(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """Probability-flow ODE velocity ``dx/dsigma = (x - D(x, sigma)) / sigma`` (Karras et al. 2022, Eq. 3), float64.

        Written as ``sum_k r_k sigma (x - mu_k) / (s_k^2 + sigma^2)``, which stays finite at ``sigma = 0``.
        """
        sigma = as_sigma(sigma, x).to(torch.float64)
        xd = x.to(torch.float64)
        r, var = self._posterior(xd, sigma)
        return ((r * sigma[:, None] / var)[..., None] * (xd[:, None, :] - self.means[None])).sum(1)


class ExactJump(Jump):
    """The exact probability-flow-ODE jump ``x_t -> x_s`` for :class:`GaussianMixture` data.

    Closed form for a single Gaussian. For a mixture the ODE is integrated with ``substeps`` classical Runge-Kutta
    (RK4) steps, uniform in ``u = sigma^(1/3)`` (fine steps at low noise, where the responsibilities switch). Against the
    exact 1-D quantile map (the flow preserves quantiles), 64 substeps from ``sigma = 80`` to 0 are accurate to about
    2e-4 (max) and 1e-5 (mean) for components of std 0.2-0.5: far below the sampling error of any test here.
    """

    def __init__(self, *, data: GaussianMixture, substeps: int = 64):
        super().__init__(denoiser=data)
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        self.substeps = substeps

    def forward(self, x, sigma_from, sigma_to, cond=None):
        data: GaussianMixture = self.denoiser
        t = as_sigma(sigma_from, x).to(torch.float64)
        s = as_sigma(sigma_to, x).to(torch.float64)
        out = x.to(torch.float64)
        if data.means.shape[0] == 1:
            mu, var = data.means[0], data.stds[0] ** 2
            ratio = append_dims(((var + s**2) / (var + t**2)).sqrt(), x.ndim)
            return (mu + (out - mu) * ratio).to(x.dtype)
        rho = 3.0
        u, h = t ** (1 / rho), (s ** (1 / rho) - t ** (1 / rho)) / self.substeps

        def f(y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:  # dx/du with sigma = u^rho
            return data.velocity(y, u**rho) * append_dims(rho * u ** (rho - 1), y.ndim)

        hb = append_dims(h, out.ndim)
        for _ in range(self.substeps):
            k1 = f(out, u)
            k2 = f(out + hb / 2 * k1, u + h / 2)
            k3 = f(out + hb / 2 * k2, u + h / 2)
            k4 = f(out + hb * k3, u + h)
            out = out + hb / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            u = u + h
        return out.to(x.dtype)


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Energy distance ``2 E|a - b| - E|a - a'| - E|b - b'|`` between two samples of shape ``(n, dim)``.

    Zero iff the distributions are equal; used by tests and benchmarks as a distribution distance.
    """
    a, b = a.to(torch.float64).flatten(1), b.to(torch.float64).flatten(1)

    def mean_dist(x, y, rows: int = 256):  # in blocks of rows: memory grows with n, not n^2
        return sum(torch.cdist(x[i:i + rows], y).sum() for i in range(0, len(x), rows)) / (len(x) * len(y))

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)
