"""Tests for tempo_kit.grad: checkpointed gradients equal full backprop; NoGrad builds no graph."""

import pytest
import torch

import tempo_kit
from tempo_kit.denoisers import EDMPrecond, NFECounter
from tempo_kit.grad import Backprop, Checkpointed, NoGrad, get_grad_strategy
from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump
from tempo_kit.samplers import draw_noise
from tempo_kit.testing import TinyDenoiserNet

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (2, 6)


def models():
    net = TinyDenoiserNet(shape=SHAPE, hidden=32, generator=torch.Generator().manual_seed(0)).double()
    teacher = EDMPrecond(net=net)
    return {"denoiser": teacher, "cm": ConsistencyJump(denoiser=EDMPrecond(net=net, consistency=True)),
            "ctm": EulerJump(denoiser=teacher), "ode": ODEJump(denoiser=teacher)}


CASES = [("euler", {}, "denoiser"), ("heun", {}, "denoiser"), ("heun", {"s_churn": 3.0}, "denoiser"),
         ("cm", {}, "cm"), ("presto-s", {}, "cm"), ("ctm-gamma", {"gamma": 0.0}, "ctm"),
         ("ctm-gamma", {"gamma": 0.2}, "ctm"), ("ctm-gamma", {"gamma": 1.0}, "ctm"), ("ctm-gamma", {"gamma": 0.2}, "ode")]


def gradients(sampler, model, strategy, steps=6):
    x_T = 2.0 * torch.randn(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x_T.requires_grad_(True)
    noise = draw_noise(steps, x_T, torch.Generator().manual_seed(2))
    sigmas = tempo_kit.karras_sigmas(steps, sigma_max=5.0)
    target = torch.randn(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    out = sampler(model, x_T, sigmas, noise=noise, grad=strategy)
    loss = (out - target).square().sum()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, [x_T, *params])
    return grads[0], grads[1:]


@pytest.mark.parametrize("name, kwargs, model", CASES, ids=[f"{c[0]}{c[1] or ''}-{c[2]}" for c in CASES])
def test_checkpointed_gradient_equals_backprop(name, kwargs, model):
    sampler = tempo_kit.get("samplers", name, **kwargs)
    m = models()[model]
    g_full, p_full = gradients(sampler, m, Backprop())
    assert float(g_full.abs().max()) > 1e-3  # a non-trivial gradient
    for strategy in (Checkpointed(), Checkpointed(every=4)):
        g_ckpt, p_ckpt = gradients(sampler, m, strategy)
        torch.testing.assert_close(g_ckpt, g_full, rtol=1e-5, atol=1e-10)
        for a, b in zip(p_ckpt, p_full):  # parameter gradients too (DITTO optimizes x_T; training needs these)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-10)


def test_nograd_builds_no_graph():
    m = models()["denoiser"]
    x_T = torch.randn(2, *SHAPE, dtype=torch.float64, requires_grad=True)
    out = tempo_kit.get("samplers", "heun")(m, x_T, 3, grad=NoGrad())
    assert not out.requires_grad and out.grad_fn is None
    assert not tempo_kit.get("samplers", "heun")(m, x_T, 3).requires_grad  # NoGrad is the default


def test_checkpointing_recomputes_each_step_once():
    counter = NFECounter(models()["ctm"])
    sampler = tempo_kit.get("samplers", "ctm-gamma", gamma=0.0)
    x_T = torch.randn(2, *SHAPE, dtype=torch.float64, requires_grad=True)
    sampler(counter, x_T, 5, grad=Backprop()).sum().backward()
    assert counter.nfe == 5
    counter.reset()
    sampler(counter, x_T, 5, grad=Checkpointed()).sum().backward()
    assert counter.nfe == 10  # DITTO's cost model: about 2T calls per gradient


def test_checkpointed_under_no_grad_is_plain_inference():
    m = models()["denoiser"]
    x_T = torch.randn(2, *SHAPE, dtype=torch.float64)
    with torch.no_grad():
        out = tempo_kit.get("samplers", "euler")(m, x_T, 3, grad=Checkpointed())
    assert not out.requires_grad
    torch.testing.assert_close(out, tempo_kit.get("samplers", "euler")(m, x_T, 3))


def test_strategy_lookup_by_name():
    assert isinstance(get_grad_strategy(None), NoGrad)
    assert isinstance(get_grad_strategy("checkpoint"), Checkpointed)
    assert isinstance(get_grad_strategy("backprop"), Backprop)
    with pytest.raises(ValueError, match="valid"):
        get_grad_strategy("adjoint")
    with pytest.raises(ValueError):
        Checkpointed(every=0)
