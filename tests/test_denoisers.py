"""Tests for tempo_kit.denoisers: EDM preconditioning, consistency boundary, VP adapters, CFG, NFE counting."""

import pytest
import torch
from torch import nn

from tempo_kit.denoisers import (CFGDenoiser, EDMPrecond, NFECounter, VPDenoiser, cosine_alphas_cumprod,
                                 edm_loss_weight)
from tempo_kit.testing import TinyDenoiserNet
from tempo_kit.testing.toy import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")


class ZeroNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x_in, c_noise, cond=None):
        self.seen.append((x_in.clone(), c_noise.clone()))
        return torch.zeros_like(x_in)


def test_edm_precond_with_zero_network_returns_c_skip_x():
    net = ZeroNet()
    D = EDMPrecond(net=net, sigma_data=0.5)
    x = torch.randn(3, 2, 5, dtype=torch.float64)
    sigma = torch.tensor([0.1, 1.0, 20.0], dtype=torch.float64)
    c_skip = 0.25 / (sigma**2 + 0.25)
    torch.testing.assert_close(D(x, sigma), c_skip[:, None, None] * x)
    x_in, c_noise = net.seen[0]
    torch.testing.assert_close(c_noise, sigma.log() / 4)  # EDM c_noise = ln(sigma) / 4, not sigma
    torch.testing.assert_close(x_in, x / (sigma**2 + 0.25).sqrt()[:, None, None])


def test_edm_scalings_match_table_1_and_loss_weight():
    D = EDMPrecond(net=ZeroNet(), sigma_data=0.5)
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0], dtype=torch.float64)
    c_skip, c_out, c_in = D.scalings(sigma)
    torch.testing.assert_close(c_out, sigma * 0.5 / (sigma**2 + 0.25).sqrt())
    torch.testing.assert_close(edm_loss_weight(sigma, 0.5), 1 / c_out**2)
    # the network input c_in * x has unit variance for data of std sigma_data
    torch.testing.assert_close(c_in**2 * (sigma**2 + 0.25), torch.ones_like(sigma))
    assert bool((c_skip <= 1).all())


def test_edm_precond_tends_to_identity_at_small_sigma():
    net = TinyDenoiserNet(shape=(4,), generator=torch.Generator().manual_seed(0)).double()
    D = EDMPrecond(net=net)
    x = torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        assert float((D(x, 1e-6) - x).abs().max()) < 1e-5
        assert float((D(x, 1.0) - x).abs().max()) > 1e-2  # and the network matters elsewhere


def test_consistency_boundary_is_exact():
    net = TinyDenoiserNet(shape=(3, 4), generator=torch.Generator().manual_seed(1)).double()
    f = EDMPrecond(net=net, consistency=True, sigma_min=0.002)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(f(x, 0.002), x, rtol=0, atol=1e-12)
        assert float((f(x, 0.5) - x).abs().max()) > 1e-2
    c_skip, c_out, _ = f.scalings(torch.tensor([0.002], dtype=torch.float64))
    assert float(c_skip) == 1.0 and float(c_out) == 0.0


def test_as_sigma_shape_error_is_clear():
    D = EDMPrecond(net=ZeroNet())
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        D(torch.randn(3, 2), torch.ones(2))


# -- VP adapters --------------------------------------------------------------------------------------------------------
GAUSS = GaussianMixture(means=[[0.3, -0.2, 0.1]], stds=[0.6])


class TrueVPNet(nn.Module):
    """An eps- (or v-) network that returns the exact eps (v) of Gaussian data, in VP scaling."""

    def __init__(self, log_sigmas, prediction):
        super().__init__()
        self.log_sigmas, self.prediction = log_sigmas, prediction

    def forward(self, x_vp, t, cond=None):
        lo = t.floor().long().clamp(0, self.log_sigmas.numel() - 2)
        frac = t - lo
        sigma = (self.log_sigmas[lo] * (1 - frac) + self.log_sigmas[lo + 1] * frac).exp()[:, None]
        x = x_vp * (1 + sigma**2).sqrt()
        x0 = GAUSS(x, sigma[:, 0])
        eps = (x - x0) / sigma
        if self.prediction == "eps":
            return eps
        return eps / (1 + sigma**2).sqrt() - sigma / (1 + sigma**2).sqrt() * x0


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_vp_denoiser_round_trips_to_the_ideal_denoiser(prediction):
    abar = cosine_alphas_cumprod(1000)
    log_sigmas = ((1 - abar) / abar).sqrt().log()
    D = VPDenoiser(net=TrueVPNet(log_sigmas, prediction), alphas_cumprod=abar, prediction=prediction)
    gen = torch.Generator().manual_seed(0)
    sigma = torch.tensor([0.05, 0.09, 0.5, 1.3, 7.7, 40.0], dtype=torch.float64)  # on- and off-grid
    x = GAUSS.sample(6, generator=gen) + sigma[:, None] * torch.randn(6, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(D(x, sigma), GAUSS(x, sigma), rtol=1e-9, atol=1e-9)


def test_vp_denoiser_wrong_prediction_type_is_caught():
    abar = cosine_alphas_cumprod(1000)
    log_sigmas = ((1 - abar) / abar).sqrt().log()
    D = VPDenoiser(net=TrueVPNet(log_sigmas, "v"), alphas_cumprod=abar, prediction="eps")
    x = torch.randn(2, 3, dtype=torch.float64)
    assert float((D(x, torch.tensor([1.0, 2.0], dtype=torch.float64)) - GAUSS(x, torch.tensor([1.0, 2.0]))).abs().max()) > 1e-2
    with pytest.raises(ValueError, match="'eps' or 'v'"):
        VPDenoiser(net=TrueVPNet(log_sigmas, "v"), alphas_cumprod=abar, prediction="x0")


def test_vp_sigma_to_t_interpolates_the_table():
    abar = cosine_alphas_cumprod(1000)
    D = VPDenoiser(net=nn.Identity(), alphas_cumprod=abar)
    on_grid = D.log_sigmas[[49, 499, 949]].exp()
    torch.testing.assert_close(D.sigma_to_t(on_grid), torch.tensor([49.0, 499.0, 949.0], dtype=torch.float64))
    mid = ((D.log_sigmas[100] + D.log_sigmas[101]) / 2).exp()
    assert float(D.sigma_to_t(mid[None])) == pytest.approx(100.5)
    # spec 7.1: cosine-schedule sigmas on the 20-step DDIM grid
    assert float(on_grid[0]) == pytest.approx(0.090, abs=2e-3)
    assert float(on_grid[1]) == pytest.approx(1.012, abs=2e-3)
    assert float(on_grid[2]) == pytest.approx(12.8, abs=0.1)


# -- CFG -------------------------------------------------------------------------------------------------------------
class TwoGaussians(nn.Module):
    """Conditional ideal denoiser: cond=None -> one Gaussian, cond="c" -> another."""

    def __init__(self):
        super().__init__()
        self.null = GaussianMixture(means=[[0.0, 0.0]], stds=[1.0])
        self.cond = GaussianMixture(means=[[1.0, -0.5]], stds=[0.3])

    def forward(self, x, sigma, cond=None):
        return (self.null if cond is None else self.cond)(x, sigma)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, 7.0])
def test_cfg_on_denoiser_equals_cfg_on_eps(w):
    base = NFECounter(TwoGaussians())
    cfg = CFGDenoiser(denoiser=base, w=w)
    x = torch.randn(4, 2, dtype=torch.float64)
    sigma = torch.tensor([0.2, 1.0, 3.0, 30.0], dtype=torch.float64)
    out = cfg(x, sigma, "c")
    assert base.nfe == (1 if w == 1.0 else 2)
    s = sigma[:, None]
    eps_c, eps_u = (x - base(x, sigma, "c")) / s, (x - base(x, sigma, None)) / s
    torch.testing.assert_close(out, x - s * (eps_u + w * (eps_c - eps_u)))


def test_cfg_callable_null_condition():
    calls = []
    cfg = CFGDenoiser(denoiser=TwoGaussians(), w=3.0, null_cond=lambda c: calls.append(c))
    x = torch.randn(2, 2, dtype=torch.float64)
    cfg(x, torch.ones(2, dtype=torch.float64), "c")
    assert calls == ["c"]


def test_nfe_counter_counts_and_forwards_attributes():
    D = EDMPrecond(net=ZeroNet(), sigma_data=0.7)
    counter = NFECounter(D)
    for _ in range(3):
        counter(torch.randn(2, 3), torch.ones(2))
    assert counter.nfe == 3 and counter.sigma_data == 0.7
    counter.reset()
    assert counter.nfe == 0
