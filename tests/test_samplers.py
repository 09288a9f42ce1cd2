"""Tests for tempo_kit.samplers on analytic data, where the ideal denoiser and the exact ODE jump are closed-form.

Distribution checks use Kolmogorov-Smirnov tests against the exact mixture CDF (for 2-D data: along several
projections, which are again 1-D mixtures) with fixed seeds, and, for the deterministic samplers, a quasi-random
x_T (normal quantiles) so that the sample moments carry no sampling error and the test sees only the sampler's.
"""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import ndtr

import tempo_kit
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump
from tempo_kit.samplers import CMMultistep, CTMGamma, EDMSampler, draw_noise
from tempo_kit.schedules import karras_sigmas
from tempo_kit.testing import TinyDenoiserNet, check_sampler
from tempo_kit.testing.toy import ExactJump, GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")

GAUSS_1D = GaussianMixture(means=[[0.3]], stds=[1.0])
GAUSS_2D = GaussianMixture(means=[[0.3, -0.5]], stds=[1.0])
MIX_1D = GaussianMixture(means=[[-1.0], [0.5], [2.0]], stds=[0.3, 0.2, 0.5], weights=[0.3, 0.5, 0.2])
MIX_2D = GaussianMixture.ring(components=4, radius=1.5, std=0.3)
DIRECTIONS = [(1.0, 0.0), (0.0, 1.0), (0.6, 0.8), (0.8, -0.6)]


def quantile_grid(m: int) -> torch.Tensor:
    return torch.special.ndtri((torch.arange(m, dtype=torch.float64) + 0.5) / m)


def quasi_x_T(data: GaussianMixture, sigma: float, m: int) -> torch.Tensor:
    """Deterministic sample of the (Gaussian) noisy marginal at ``sigma``: a product grid of normal quantiles,
    standardized so that its sample mean and variance are exactly 0 and 1 per dimension."""
    std = math.sqrt(float(data.stds[0]) ** 2 + sigma**2)
    z = quantile_grid(m)
    z = (torch.cartesian_prod(z, z) if data.dim == 2 else z).reshape(-1, data.dim)
    return data.means[0] + std * (z - z.mean(0)) / z.std(0)


def ks_pvalues(samples: torch.Tensor, data: GaussianMixture) -> list[float]:
    """KS p-values of ``samples`` against the exact data CDF (along each direction in 2-D)."""
    weights, stds = data.weights.numpy(), data.stds.numpy()
    dirs = [(1.0,)] if data.dim == 1 else DIRECTIONS
    out = []
    for v in dirs:
        v = np.asarray(v)
        means = data.means.numpy() @ v
        proj = samples.numpy() @ v
        out.append(stats.kstest(proj, lambda y: (weights * ndtr((y[:, None] - means) / stds)).sum(1)).pvalue)
    return out


# -- EDM Heun ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [GAUSS_1D, GAUSS_2D], ids=["1d", "2d"])
def test_heun_40_steps_reproduces_gaussian_mean_and_variance(data):
    x_T = quasi_x_T(data, 80.0, 10000 if data.dim == 1 else 100)
    x0 = tempo_kit.get("samplers", "heun")(data, x_T, 40)
    torch.testing.assert_close(x0.mean(0), data.mean(), rtol=0, atol=0.02 * float(data.stds[0]))
    var_ratio = x0.var(0) / data.variance()
    assert bool(((var_ratio - 1).abs() < 0.02).all()), f"variance ratio {var_ratio.tolist()}"
    # The same x_T through the exact ODE map reproduces the data variance; Heun's remaining +1.6% is its discretization error at 40 steps (measured: +2.0% for data std 0.5, +2.3% for
    # std 0.3; it falls 4x per doubling of the steps, see the next test), not sampling error.
    exact = ExactJump(data=data)(x_T, 80.0, 0.0)
    assert bool(((exact.var(0) / data.variance() - 1).abs() < 1e-6).all())
    heun_vs_exact = x0.var(0) / exact.var(0) - 1
    assert bool(((heun_vs_exact > 0.010) & (heun_vs_exact < 0.02)).all()), heun_vs_exact.tolist()


def test_heun_is_second_order_and_euler_first_order():
    data, x_T = GAUSS_1D, quasi_x_T(GAUSS_1D, 80.0, 2000)
    exact = ExactJump(data=data)(x_T, 80.0, 0.0)

    def error(name, n):
        return float((tempo_kit.get("samplers", name)(data, x_T, n) - exact).abs().max())

    heun = [error("heun", n) for n in (40, 80)]
    euler = [error("euler", n) for n in (40, 80)]
    assert 3.5 < heun[0] / heun[1] < 4.6, heun
    assert 1.6 < euler[0] / euler[1] < 2.4, euler
    assert heun[0] < euler[0] / 5


@pytest.mark.parametrize("data", [MIX_1D, MIX_2D], ids=["1d", "2d"])
def test_heun_40_steps_on_mixtures_matches_exact_flow(data):
    x_T = data.sample(3000, sigma=80.0, generator=torch.Generator().manual_seed(0))
    x0 = tempo_kit.get("samplers", "heun")(data, x_T, 40)
    exact = ExactJump(data=data)(x_T, 80.0, 0.0)
    assert float((x0 - exact).abs().mean()) < 0.01
    assert min(ks_pvalues(x0, data)) > 0.01 / len(DIRECTIONS)


def test_heun_one_step_equals_euler():
    net = EDMPrecond(net=TinyDenoiserNet(shape=(2, 5), generator=torch.Generator().manual_seed(0)).double())
    x_T = 80 * torch.randn(3, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    heun, euler = EDMSampler(heun=True), EDMSampler(heun=False)
    torch.testing.assert_close(heun(net, x_T, 1), euler(net, x_T, 1), rtol=0, atol=0)
    assert not torch.allclose(heun(net, x_T, 3), euler(net, x_T, 3))


def test_churn_reproduces_marginals_approximately_and_converges():
    data = GAUSS_1D
    x_T = quasi_x_T(data, 80.0, 20000)

    def var_error(n):
        sampler = tempo_kit.get("samplers", "heun", s_churn=0.25 * n)  # gamma = 0.25 per step
        x0 = sampler(data, x_T, n, generator=torch.Generator().manual_seed(0))
        assert abs(float(x0.mean()) - 0.3) < 0.02
        return abs(float(x0.var() / data.variance()) - 1)

    coarse, fine = var_error(40), var_error(80)
    assert fine < 0.03 and fine < coarse / 2, (coarse, fine)


def test_churn_uses_the_noise_and_respects_s_min_s_max():
    data, x_T = GAUSS_1D, quasi_x_T(GAUSS_1D, 80.0, 50)
    noise = draw_noise(10, x_T, torch.Generator().manual_seed(0))
    churn = EDMSampler(s_churn=5.0)
    assert churn.needs_noise and not EDMSampler().needs_noise
    a, b = churn(data, x_T, 10, noise=noise), churn(data, x_T, 10, noise=-noise)
    assert not torch.allclose(a, b)
    # a window that contains no sigma of the schedule disables churn entirely
    off = EDMSampler(s_churn=5.0, s_min=100.0, s_max=200.0)
    torch.testing.assert_close(off(data, x_T, 10, noise=noise), EDMSampler()(data, x_T, 10))


# -- jump samplers driven by the exact jump ---------------------------------------------------------------------------
JUMP_SAMPLERS = [("ctm-gamma", {"gamma": 0.0}), ("ctm-gamma", {"gamma": 0.2}), ("ctm-gamma", {"gamma": 1.0}),
                 ("cm", {}), ("presto-s", {})]


@pytest.mark.parametrize("name, kwargs", JUMP_SAMPLERS, ids=lambda v: str(v))
@pytest.mark.parametrize("data", [GAUSS_1D, MIX_1D, pytest.param(MIX_2D, marks=pytest.mark.slow)],
                         ids=["gauss1d", "mix1d", "mix2d"])
def test_jump_samplers_with_exact_jump_reproduce_exact_marginals(name, kwargs, data):
    sampler = tempo_kit.get("samplers", name, **kwargs)
    gen = torch.Generator().manual_seed(3)
    n = 20000 if data is GAUSS_1D else 2000
    x_T = data.sample(n, sigma=80.0, generator=gen)
    x0 = sampler(ExactJump(data=data, substeps=32), x_T, karras_sigmas(4), generator=gen)
    assert min(ks_pvalues(x0, data)) > 0.01 / len(DIRECTIONS)
    if data is GAUSS_1D:
        assert abs(float(x0.mean()) - 0.3) < 0.03
        assert abs(float(x0.var() / data.variance()) - 1) < 0.05


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.5, 1.0])
def test_one_gamma_step_lands_on_the_exact_marginal(gamma):
    # from the exact marginal at tau_t, one gamma step gives the exact marginal at tau_{t-1}: var = s^2 + tau^2
    data = GAUSS_1D
    gen = torch.Generator().manual_seed(4)
    x = data.sample(100000, sigma=6.0, generator=gen)
    sigma, sigma_next = torch.tensor(6.0, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)
    out = CTMGamma(gamma=gamma).step(ExactJump(data=data), x, sigma, sigma_next, cond=None,
                                     noise=torch.randn(x.shape, generator=gen, dtype=x.dtype), index=0, n_steps=2)
    assert abs(float(out.var()) / (1.0 + 1.5**2) - 1) < 0.015
    assert abs(float(out.mean()) - 0.3) < 0.02


@pytest.mark.parametrize("data", [MIX_2D, None], ids=["exact-jump", "tiny-ctm-student"])
def test_gamma_one_equals_cm_multistep_given_the_same_noise(data):
    if data is None:
        net = TinyDenoiserNet(shape=(2,), generator=torch.Generator().manual_seed(0)).double()
        jump = EulerJump(denoiser=EDMPrecond(net=net))
    else:
        jump = ExactJump(data=data, substeps=16)
    x_T = 80 * torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    noise = draw_noise(4, x_T, torch.Generator().manual_seed(6))
    with torch.no_grad():
        a = CTMGamma(gamma=1.0)(jump, x_T, 4, noise=noise)
        b = CMMultistep()(jump, x_T, 4, noise=noise)
        c = tempo_kit.get("samplers", "presto-s")(jump, x_T, CMMultistep().sigmas(4), noise=noise)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    torch.testing.assert_close(b, c, rtol=0, atol=0)  # the same update rule; only its default levels differ
    assert not torch.allclose(a, CTMGamma(gamma=0.2)(jump, x_T, 4, noise=noise))


def test_presto_s_sampler_jumps_once_then_refines_at_low_noise():
    from tempo_kit.schedules import JumpRefineSchedule, KarrasSchedule

    presto = tempo_kit.get("samplers", "presto-s")
    assert presto.schedule == JumpRefineSchedule() and presto.sigma_min == 0
    levels = presto.sigmas(4)
    assert levels[0] == 80 and levels[-1] == 0 and (levels[1:-1] < 1).all()  # the content is kept after one jump
    assert tempo_kit.get("samplers", "presto-s", schedule=KarrasSchedule()).sigmas(4)[1] > 9  # still selectable


def test_cm_sigma_min_renoises_with_the_smaller_std():
    data = GAUSS_1D
    x_T = quasi_x_T(data, 80.0, 10)
    noise = draw_noise(2, x_T, torch.Generator().manual_seed(0))
    sigmas = torch.tensor([80.0, 0.5, 0.0], dtype=torch.float64)
    jump = ExactJump(data=data)
    x0 = jump(x_T, 80.0, 0.0)
    expected = jump(x0 + math.sqrt(0.5**2 - 0.002**2) * noise[0], 0.5, 0.0)
    torch.testing.assert_close(CMMultistep(sigma_min=0.002)(jump, x_T, sigmas, noise=noise), expected)


# -- randomness, inputs, contract -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", [("heun", {"s_churn": 4.0}), ("cm", {}), ("ctm-gamma", {"gamma": 0.3})])
def test_same_noise_same_output_and_generator_reproducibility(name, kwargs):
    sampler = tempo_kit.get("samplers", name, **kwargs)
    model = MIX_1D if sampler.drives == "denoiser" else ExactJump(data=MIX_1D, substeps=8)
    x_T = MIX_1D.sample(32, sigma=80.0, generator=torch.Generator().manual_seed(0))
    noise = draw_noise(5, x_T, torch.Generator().manual_seed(1))
    torch.testing.assert_close(sampler(model, x_T, 5, noise=noise), sampler(model, x_T, 5, noise=noise.clone()))
    assert not torch.allclose(sampler(model, x_T, 5, noise=noise), sampler(model, x_T, 5, noise=noise.flip(0)))
    a = sampler(model, x_T, 5, generator=torch.Generator().manual_seed(7))
    b = sampler(model, x_T, 5, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)


def test_bad_noise_and_sigmas_raise_clear_errors():
    x_T = torch.randn(4, 2, dtype=torch.float64)
    jump = ExactJump(data=MIX_2D)
    with pytest.raises(ValueError, match=r"noise must have shape \(3, 4, 2\)"):
        CMMultistep()(jump, x_T, 3, noise=torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match="strictly decreasing"):
        CMMultistep()(jump, x_T, torch.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError):
        CTMGamma(gamma=1.5)
    # a float or bool is neither a step count nor a list of levels: never read as "one step from sigma = 2"
    for bad in (2.0, True, torch.tensor(2.0), [[2.0, 1.0]], "21"):
        with pytest.raises(TypeError, match="sigmas must be a 1-D sequence"):
            CMMultistep()(jump, x_T, bad)


def test_sampler_options_of_the_wrong_type_name_the_option():
    from tempo_kit.registry import ComponentArgumentError, get
    from tempo_kit.schedules import JumpRefineSchedule

    for kind, options, error, message in [
        ("ctm-gamma", {"gamma": "0.5"}, TypeError, "gamma must be a number, got '0.5'"),
        ("cm", {"sigma_min": -1.0}, ValueError, r"sigma_min must be in \[0, inf\], got -1.0"),
        ("unipc", {"order": 2.5}, TypeError, "order must be an integer, got 2.5"),
        ("unipc", {"order": True}, TypeError, "order must be an integer"),
        ("unipc", {"variant": "bh3"}, ValueError, "variant must be one of 'bh1', 'bh2', got 'bh3'"),
        ("heun", {"schedule": "karras"}, TypeError, "schedule must be a Schedule"),
        ("heun", {"s_chrun": 1.0}, ComponentArgumentError, "did you mean 's_churn'"),
        ("euler", {"s_churn": math.nan}, ValueError, "s_churn must be in"),
        ("presto-s", {"refine_max": "0.5"}, TypeError, "refine_max must be a number"),
    ]:
        with pytest.raises(error, match=message):
            get("samplers", kind, **options)
    assert get("samplers", "euler").heun is False and get("samplers", "heun").heun is True
    with pytest.raises(ComponentArgumentError, match="unknown option 'heun'"):
        get("samplers", "euler", heun=True)  # euler is not a switch for Heun
    assert float(get("samplers", "ctm-gamma", gamma=torch.tensor(0.3)).gamma) == pytest.approx(0.3)  # 0-d tensors
    with pytest.raises(ValueError, match="sigma_min must be a number, got 1000.*too large for a float"):
        get("samplers", "cm", sigma_min=10**400)
    with pytest.raises(ValueError, match=r"eps_s must be in \(0, 1\)"):
        from tempo_kit.schedules import VPSchedule

        VPSchedule(eps_s=1.0)
    assert JumpRefineSchedule(refine_max=0.5, refine_min=0.05).sigmas(2)[1] == 0.5


def test_explicit_sigmas_and_step_counts_agree():
    x_T = quasi_x_T(GAUSS_1D, 80.0, 20)
    sampler = EDMSampler()
    torch.testing.assert_close(sampler(GAUSS_1D, x_T, 7), sampler(GAUSS_1D, x_T, karras_sigmas(7)))
    torch.testing.assert_close(sampler(GAUSS_1D, x_T, np.int64(7)), sampler(GAUSS_1D, x_T, karras_sigmas(7)[:-1]))


def test_every_builtin_sampler_is_registered_and_passes_the_contract_suite():
    assert {"euler", "heun", "cm", "ctm-gamma", "presto-s"} <= set(tempo_kit.names("samplers"))
    net = TinyDenoiserNet(shape=(2, 6), generator=torch.Generator().manual_seed(0)).double()
    teacher = EDMPrecond(net=net)
    x_T = 80 * torch.randn(3, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    models = {"denoiser": teacher, "cm": ConsistencyJump(denoiser=EDMPrecond(net=net, consistency=True)),
              "ctm": EulerJump(denoiser=teacher), "ode": ODEJump(denoiser=teacher)}
    cases = [("euler", {}, "denoiser"), ("heun", {}, "denoiser"), ("heun", {"s_churn": 3.0}, "denoiser"),
             ("cm", {}, "cm"), ("presto-s", {}, "cm"), ("ctm-gamma", {"gamma": 0.0}, "ctm"),
             ("ctm-gamma", {"gamma": 0.2}, "ode"), ("ctm-gamma", {"gamma": 1.0}, "ctm")]
    for name, kwargs, model in cases:
        check_sampler(tempo_kit.get("samplers", name, **kwargs), models[model], x_T, 4)
