"""Layer routers (ASE, Presto-L) and RoutedNet."""

import pytest
import torch

import tempo_kit
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import DiT, DiTConfig
from tempo_kit.registry import UnknownComponentError
from tempo_kit.routers import EarlyExitRouter, PrestoLRouter, RoutedNet, router_from_spec

SIGMAS = torch.tensor([80.0, 20.0, 5.0, 1.0, 0.3, 0.05, 0.002])


def test_ase_schedule_drops_more_at_high_sigma():
    r = tempo_kit.get("routers", "ase")
    n = r.budgets(SIGMAS, 28)
    assert n[0] == 12 and n[-1] == 28
    assert (n[1:] >= n[:-1]).all()  # non-increasing in sigma
    assert r.active(80.0, 28) == tuple(range(12))
    assert r.budgets(SIGMAS, 6).tolist() == [3, 3, 4, 4, 5, 6, 6]  # scaled to depth: round(n / 28 * 6)


def test_presto_l_keeps_final_block():
    r = tempo_kit.get("routers", "presto-l")
    assert r.active(80.0, 28) == tuple(range(11)) + (27,)
    assert r.blocks(1, 6) == (5,)
    assert r.blocks(6, 6) == tuple(range(6))
    assert PrestoLRouter.conditions_on_budget and not EarlyExitRouter.conditions_on_budget


def test_bad_budgets_and_names():
    with pytest.raises(ValueError, match="outside \\[1, 6\\]"):
        EarlyExitRouter().active(1.0, 6, budget=7)
    with pytest.raises(ValueError, match="outside"):
        EarlyExitRouter(budget=9).budgets(SIGMAS, 6)
    with pytest.raises(ValueError, match="fractions"):
        EarlyExitRouter(levels=(0.5, 1.5))
    with pytest.raises(UnknownComponentError, match="Valid names"):
        tempo_kit.get("routers", "asee")


def test_spec_roundtrip():
    r = PrestoLRouter(levels=(0.5, 1.0), budget=None)
    assert router_from_spec(r.spec()) == r


def _net(**kw):
    torch.manual_seed(0)
    net = DiT(config=DiTConfig.tiny(depth=6, **kw))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("router", [EarlyExitRouter(), PrestoLRouter()])
def test_routed_net_groups_per_sample_budgets(router):
    net = _net(budget_embedding=True)
    routed = RoutedNet(net=net, router=router)
    x, c_noise = torch.randn(7, 4, 8), SIGMAS.log() / 4
    out = routed(x, c_noise)
    for i in range(7):  # each sample alone (one sigma, one budget) gives the same result
        torch.testing.assert_close(out[i:i + 1], routed(x[i:i + 1], c_noise[i:i + 1]), atol=1e-5, rtol=1e-5)
    # and equals the manual block loop with the router's active set
    n = int(router.budgets(SIGMAS[:1], 6)[0])
    cond = {"budget": torch.tensor([n])} if router.conditions_on_budget else None
    h, c = net.embed(x[:1], c_noise[:1], cond)
    for b in router.blocks(n, 6):
        h = net.run_block(b, h, c)
    torch.testing.assert_close(net.final(h, c), out[:1], atol=1e-5, rtol=1e-5)


def test_dropping_changes_output_and_full_budget_does_not():
    net = _net()
    den = EDMPrecond(net=net)
    x, sigma = torch.randn(2, 4, 8), torch.full((2,), 40.0)
    full = den(x, sigma)
    dropped = EDMPrecond(net=RoutedNet(net=net, router=EarlyExitRouter()))(x, sigma)
    assert not torch.allclose(full, dropped)
    torch.testing.assert_close(EDMPrecond(net=RoutedNet(net=net, router=EarlyExitRouter(budget=6)))(x, sigma), full)
    with pytest.raises(ValueError, match="model depth"):
        RoutedNet(net=net, router=EarlyExitRouter())(x, sigma, {"budget": torch.tensor([7, 7])})


def test_rejects_non_block_models():
    with pytest.raises(TypeError, match="block protocol"):
        RoutedNet(net=torch.nn.Linear(2, 2), router=EarlyExitRouter())


def test_routed_student_save_and_load(tmp_path):
    from tempo_kit.models import load_denoiser, save_model

    router = PrestoLRouter(levels=(0.5, 1.0))
    den = EDMPrecond(net=RoutedNet(net=_net(budget_embedding=True), router=router))
    save_model(den, tmp_path / "student")
    loaded = load_denoiser(tmp_path / "student")
    assert loaded.net.router == router
    x, sigma = torch.randn(3, 4, 8), torch.tensor([50.0, 1.0, 0.01])
    torch.testing.assert_close(loaded(x, sigma), den(x, sigma))
    assert not isinstance(load_denoiser(tmp_path / "student", routed=False).net, RoutedNet)
