"""DPM-Solver++, ancestral and UniPC samplers against their reference implementations, in float64.

k-diffusion's ``sampling.py`` (from the k-diffusion wheel, installed by ``scripts/setup.sh dev`` without its heavy
dependencies) is loaded by path and run on the same analytic denoiser, sigmas and per-step noise; the built-in sampler
must agree to 1e-10 and make as many network calls. UniPC has no reference on EDM sigmas: its order of convergence is
checked against the closed-form probability-flow ODE solution of Gaussian data.
"""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from tempo_kit.denoisers import NFECounter
from tempo_kit.grad import Backprop, Checkpointed
from tempo_kit.samplers import (DPMpp2M, DPMpp2MSDE, DPMpp2SAncestral, DPMpp3MSDE, EDMSampler, EulerAncestral,
                                UniPC, draw_noise)
from tempo_kit.schedules import (ExponentialSchedule, KarrasSchedule, PolyExponentialSchedule, VPSchedule,
                                 karras_sigmas)
from tempo_kit.testing.toy import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
GAUSS = GaussianMixture(means=[[0.3, -0.5]], stds=[1.0])
MIX = GaussianMixture.ring(components=4, radius=1.5, std=0.3)


@pytest.fixture(scope="module")
def ksampling():
    """k-diffusion's ``sampling`` module (benchmarks/_kdiffusion.py loads it without its heavy package)."""
    spec = importlib.util.spec_from_file_location("_kdiffusion", ROOT / "benchmarks" / "_kdiffusion.py")
    loader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)
    module = loader.load_sampling()
    if module is None:
        pytest.skip(f"k-diffusion is not installed (bash scripts/setup.sh dev installs {loader.PIN})")
    return module


def _noise_sampler(noise):
    """k-diffusion draws noise through ``noise_sampler(sigma, sigma_next)``, once per noisy step, in order."""
    calls = iter(noise)
    return lambda sigma, sigma_next: next(calls)


CASES = {
    "euler-ancestral": (EulerAncestral(), "sample_euler_ancestral", {}),
    "euler-ancestral-eta0.5": (EulerAncestral(eta=0.5, s_noise=0.9), "sample_euler_ancestral",
                               {"eta": 0.5, "s_noise": 0.9}),
    "dpmpp-2s-ancestral": (DPMpp2SAncestral(), "sample_dpmpp_2s_ancestral", {}),
    "dpmpp-2m": (DPMpp2M(), "sample_dpmpp_2m", {}),
    "dpmpp-2m-sde": (DPMpp2MSDE(), "sample_dpmpp_2m_sde", {}),
    "dpmpp-2m-sde-heun": (DPMpp2MSDE(solver_type="heun", eta=0.7), "sample_dpmpp_2m_sde",
                          {"solver_type": "heun", "eta": 0.7}),
    "dpmpp-2m-sde-eta0": (DPMpp2MSDE(eta=0.0), "sample_dpmpp_2m_sde", {"eta": 0.0}),
    "dpmpp-3m-sde": (DPMpp3MSDE(), "sample_dpmpp_3m_sde", {}),
    "dpmpp-3m-sde-eta0.5": (DPMpp3MSDE(eta=0.5), "sample_dpmpp_3m_sde", {"eta": 0.5}),
}


@pytest.mark.parametrize("steps", [1, 2, 5, 18, 40])
@pytest.mark.parametrize("data", [GAUSS, MIX], ids=["gauss", "mixture"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_k_diffusion(ksampling, case, data, steps):
    sampler, reference_name, kwargs = CASES[case]
    sigmas = karras_sigmas(steps)
    g = torch.Generator().manual_seed(steps)
    x_T = torch.randn(64, 2, generator=g, dtype=torch.float64) * sigmas[0]
    noise = draw_noise(steps, x_T, g)
    ours_model, ref_model = NFECounter(data), NFECounter(data)
    ours = sampler(ours_model, x_T, sigmas, noise=noise)
    if steps == 1 and "sde" in reference_name:  # k-diffusion 0.1.1 raises UnboundLocalError here (h_last = h)
        torch.testing.assert_close(ours, data(x_T, sigmas[0]), rtol=0, atol=1e-12)
        assert ours_model.nfe == sampler.nfe(1) == 1
        return
    if reference_name != "sample_dpmpp_2m":  # the one deterministic reference takes no noise sampler
        kwargs = {**kwargs, "noise_sampler": _noise_sampler(noise)}
    reference = getattr(ksampling, reference_name)(ref_model, x_T.clone(), sigmas, disable=True, **kwargs)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-10)
    assert ours_model.nfe == ref_model.nfe == sampler.nfe(steps)


@pytest.mark.parametrize("schedule, reference", [
    (ExponentialSchedule(sigma_min=0.01, sigma_max=50.0), ("get_sigmas_exponential", {"sigma_min": 0.01, "sigma_max": 50.0})),
    (PolyExponentialSchedule(rho=2.0), ("get_sigmas_polyexponential", {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 2.0})),
    (VPSchedule(), ("get_sigmas_vp", {})),
    (KarrasSchedule(rho=5.0), ("get_sigmas_karras", {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 5.0})),
])
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_schedules_match_k_diffusion(ksampling, schedule, reference, n):
    name, kwargs = reference
    ours = schedule.sigmas(n)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # k-diffusion builds its ramps in the default dtype
    try:
        theirs = getattr(ksampling, name)(n, **kwargs)
    finally:
        torch.set_default_dtype(default)
    assert ours.dtype == theirs.dtype == torch.float64 and ours[-1] == 0 and (ours[1:] < ours[:-1]).all()
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)


def test_heun_on_other_schedules_matches_k_diffusion(ksampling):
    for schedule in (ExponentialSchedule(), VPSchedule(), PolyExponentialSchedule(rho=3.0)):
        sigmas = schedule.sigmas(9)
        x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * sigmas[0]
        ours = EDMSampler(heun=True, schedule=schedule)(MIX, x_T, 9)
        theirs = ksampling.sample_heun(MIX, x_T.clone(), sigmas, disable=True)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("sampler", [DPMpp2M(), DPMpp2MSDE(), DPMpp3MSDE(), UniPC(), UniPC(order=3)],
                         ids=["2m", "2m-sde", "3m-sde", "unipc-2", "unipc-3"])
def test_multistep_gradients_agree_across_strategies(sampler):
    """The history is differentiated like x: checkpointed == backprop == finite differences (float64)."""
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.testing import TinyDenoiserNet

    net = EDMPrecond(net=TinyDenoiserNet(shape=(2, 3), generator=torch.Generator().manual_seed(0))).double()
    x_T = torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 80
    sigmas = karras_sigmas(6)
    noise = draw_noise(6, x_T, torch.Generator().manual_seed(3))

    def loss(x, grad):
        return sampler(net, x, sigmas, noise=noise, grad=grad).square().sum()

    grads = []
    for strategy in (Backprop(), Checkpointed(), Checkpointed(every=4)):
        x = x_T.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x, strategy), x)
        grads.append(g)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[2], grads[0], rtol=1e-10, atol=1e-12)
    direction = torch.randn_like(x_T)
    eps = 1e-4
    fd = (loss(x_T + eps * direction, None) - loss(x_T - eps * direction, None)) / (2 * eps)
    assert float((grads[0] * direction).sum()) == pytest.approx(float(fd), rel=1e-5)


@pytest.mark.parametrize("order, expected", [(1, 2.0), (2, 3.0), (3, 4.0)])
def test_unipc_order_of_convergence(order, expected):  # measured slopes: 2.01, 3.01, 4.16
    """UniPC-p with its corrector converges with order p + 1 (Zhao et al. 2023, Thm. 3.3) on a smooth ODE.

    Gaussian data, sigma from 10 to 0.01 on an exponential schedule, solved to sigma_min (the sampler's last step to 0
    returns the denoised output, whose exact value at the exact state is known in closed form)."""
    data = GaussianMixture(means=[[0.3]], stds=[0.5])
    x_T = torch.linspace(-20, 20, 9, dtype=torch.float64)[:, None]
    schedule = ExponentialSchedule(sigma_min=0.01, sigma_max=10.0)
    errors = []
    for n in (32, 64, 128, 256):
        out = UniPC(order=order, schedule=schedule)(data, x_T, n)
        # exact: the ODE scales x - mean by sqrt(std^2 + sigma^2); then the sampler's final denoising step
        x_min = 0.3 + (x_T - 0.3) * math.hypot(0.5, 0.01) / math.hypot(0.5, 10.0)
        exact = data(x_min, 0.01)
        errors.append(float((out - exact).abs().max()))
    slopes = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert slopes[-1] == pytest.approx(expected, abs=0.35), (errors, slopes)
    assert errors[-1] < 1e-3


def test_bad_input_names_the_sampler_and_the_requirement():
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"UniPC of order 3 needs at least 3 steps"):
        UniPC(order=3)(GAUSS, x, 2)
    with pytest.raises(ValueError, match=r"DPMpp2MSDE: noise must have shape \(4, 2, 3\).*one noise tensor per step"):
        DPMpp2MSDE()(GAUSS, x, 4, noise=torch.zeros(3, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="DPMpp2M: x_T has 1 non-finite"):
        DPMpp2M()(GAUSS, x.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(math.nan,
                                                                                              dtype=torch.float64)), 4)
    with pytest.raises(ValueError, match="number of steps n must be >= 1, got 0"):
        ExponentialSchedule().sigmas(0)
    with pytest.raises(TypeError, match="number of steps n must be an integer, got 2.5"):
        ExponentialSchedule().sigmas(2.5)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        ExponentialSchedule(sigma_min=1.0, sigma_max=0.5)


def test_nfe_counts_network_calls_for_every_sampler_and_jump():
    """``nfe(steps, model)`` is the number of denoiser calls, for every registered sampler and every built-in jump."""
    import tempo_kit
    from tempo_kit.denoisers import count_network_calls
    from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump

    x_T = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 80
    jumps = {"consistency": lambda: ConsistencyJump(denoiser=MIX), "euler": lambda: EulerJump(denoiser=MIX),
             "ode-heun": lambda: ODEJump(denoiser=MIX), "ode-euler": lambda: ODEJump(denoiser=MIX, solver="euler")}
    seen = 0
    for name in tempo_kit.registry.names("samplers"):
        sampler = tempo_kit.get("samplers", name)
        models = [lambda: MIX] if sampler.drives == "denoiser" else list(jumps.values())
        for make in models:
            for steps in (1, 2, 4, 7):
                if steps < getattr(sampler, "order", 1):
                    continue  # an error (test_bad_input_names_the_sampler_and_the_requirement)
                model = make()
                with count_network_calls(model) as (counted, counter):
                    sampler(counted, x_T, steps, generator=torch.Generator().manual_seed(1))
                assert counter.nfe == sampler.nfe(steps, model), (name, type(model).__name__, steps)
                seen += 1
    assert seen >= 8 * 4 - 1 + 3 * 4 * 4  # 8 denoiser samplers (UniPC needs 2 steps), 3 jump samplers x 4 jumps
    ctm = tempo_kit.get("samplers", "ctm-gamma")
    assert ctm.nfe(4, ODEJump(denoiser=MIX)) == 7  # three Heun jumps to tau > 0, one Euler jump to 0
