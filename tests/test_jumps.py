"""Tests for tempo_kit.jumps and the exact jumps of tempo_kit.testing.toy."""

import math
import numpy as np
import pytest
import torch
from scipy.special import ndtr

from tempo_kit.denoisers import EDMPrecond, NFECounter
from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump, ode_step
from tempo_kit.testing import TinyDenoiserNet
from tempo_kit.testing.toy import ExactJump, GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_denoiser(shape=(2, 6), seed=0):
    return EDMPrecond(net=TinyDenoiserNet(shape=shape, generator=torch.Generator().manual_seed(seed)).double())


def test_euler_jump_boundaries():
    D = tiny_denoiser()
    G = EulerJump(denoiser=D)
    x = torch.randn(3, 2, 6, dtype=torch.float64)
    t = torch.tensor([0.5, 2.0, 40.0], dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(G(x, t, t), x, rtol=0, atol=1e-12)  # G(x, t, t) = x exactly
        torch.testing.assert_close(G(x, t, 0.0), D(x, t))  # G(x, t, 0) = g(x, t)
        # with a teacher denoiser, the Euler form is one Euler step of the probability-flow ODE
        torch.testing.assert_close(G(x, t, 0.3 * t), ode_step(D, x, t, 0.3 * t, solver="euler"))


@pytest.mark.parametrize("t, s, message", [
    (0.0, 0.0, r"EulerJump sigma_from: noise levels must be finite and > 0, got \[0.0"),
    (-1.0, 0.0, r"sigma_from: .* > 0, got \[-1.0"),
    (math.nan, 0.0, r"sigma_from: .* got \[nan"),
    (math.inf, 0.0, r"sigma_from: .* got \[inf"),
    (1.0, -0.5, r"EulerJump sigma_to: noise levels must be finite and >= 0, got \[-0.5"),
    (1.0, 2.0, "sigma_to must not exceed sigma_from"),
])
def test_jumps_and_denoisers_reject_bad_noise_levels(t, s, message):
    x = torch.randn(2, 2, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match=message):
        EulerJump(denoiser=tiny_denoiser())(x, t, s)
    with pytest.raises(ValueError, match=message.replace("EulerJump", "ode_step")):
        ODEJump(denoiser=tiny_denoiser())(x, t, s)
    if s >= 0 and t <= 0 or not math.isfinite(t):
        with pytest.raises(ValueError, match="EDMPrecond: noise levels must be finite and >= 0"
                                             if t < 0 or not math.isfinite(t) else "ConsistencyJump"):
            (tiny_denoiser() if t < 0 or not math.isfinite(t) else ConsistencyJump(denoiser=tiny_denoiser()))(x, t)


def test_consistency_jump_ignores_sigma_to():
    D = tiny_denoiser()
    G = ConsistencyJump(denoiser=D)
    x = torch.randn(2, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(G(x, 3.0, 1.0), D(x, 3.0))
        torch.testing.assert_close(G(x, 3.0, 0.0), G(x, 3.0, 2.5))


def test_ode_jump_costs_and_last_step():
    counter = NFECounter(tiny_denoiser())
    x = torch.randn(2, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        ODEJump(denoiser=counter)(x, 2.0, 1.0)
        assert counter.nfe == 2  # Heun: two calls
        counter.reset()
        out = ODEJump(denoiser=counter)(x, 2.0, 0.0)
        assert counter.nfe == 1  # no correction when landing on sigma = 0
        torch.testing.assert_close(out, counter(x, 2.0))
        # a batch mixing sigma_to = 0 and > 0 treats each sample like its own call
        mixed = ODEJump(denoiser=counter)(x, 2.0, torch.tensor([0.0, 1.0], dtype=torch.float64))
        torch.testing.assert_close(mixed[:1], ODEJump(denoiser=counter)(x[:1], 2.0, 0.0))
        torch.testing.assert_close(mixed[1:], ODEJump(denoiser=counter)(x[1:], 2.0, 1.0))
    with pytest.raises(ValueError, match="'heun' or 'euler'"):
        ODEJump(denoiser=counter, solver="rk4")


def test_heun_ode_jump_converges_to_exact_gaussian_flow():
    data = GaussianMixture(means=[[0.4, -0.3]], stds=[0.7])
    exact = ExactJump(data=data)
    x = data.sample(64, sigma=5.0, generator=torch.Generator().manual_seed(0))
    errors = []
    for n in (8, 16, 32):
        levels = torch.linspace(5.0, 0.5, n + 1, dtype=torch.float64)
        y = x
        for a, b in zip(levels[:-1], levels[1:]):
            y = ODEJump(denoiser=data)(y, a, b)
        errors.append(float((y - exact(x, 5.0, 0.5)).abs().max()))
    # second order: halving the step divides the error by about 4
    assert 3.0 < errors[0] / errors[1] < 5.0 and 3.0 < errors[1] / errors[2] < 5.0


def _quantile_map(data, x, t, s):
    """1-D probability-flow map: the flow is monotone, so it preserves quantiles: F_s(x_s) = F_t(x_t)."""
    means, stds, weights = (v.numpy() for v in (data.means[:, 0], data.stds, data.weights))

    def cdf(y, sigma):
        return (weights * ndtr((y[:, None] - means) / np.sqrt(stds**2 + sigma**2))).sum(1)

    target = cdf(x.numpy(), t)
    lo, hi = np.full(len(target), -50.0), np.full(len(target), 50.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = cdf(mid, s) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return torch.from_numpy((lo + hi) / 2)


@pytest.mark.parametrize("t, s", [(80.0, 0.0), (3.0, 0.4)])
def test_mixture_exact_jump_matches_the_quantile_map_in_1d(t, s):
    data = GaussianMixture(means=[[-1.0], [0.5], [2.0]], stds=[0.3, 0.2, 0.5], weights=[0.3, 0.5, 0.2])
    x = data.sample(200, sigma=t, generator=torch.Generator().manual_seed(1))
    ref = _quantile_map(data, x[:, 0], t, s)
    out = ExactJump(data=data, substeps=64)(x, t, s)[:, 0]
    assert float((out - ref).abs().max()) < 1e-3
    assert float((out - ref).abs().mean()) < 1e-4


def test_single_gaussian_exact_jump_is_a_semigroup():
    data = GaussianMixture(means=[[1.0, 2.0]], stds=[0.5])
    G = ExactJump(data=data)
    x = data.sample(16, sigma=10.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(G(G(x, 10.0, 2.0), 2.0, 0.0), G(x, 10.0, 0.0))
    torch.testing.assert_close(G(x, 10.0, 10.0), x)
