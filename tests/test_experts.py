"""Noise-level experts (tempo_kit.models.experts): routing by sigma, saving and loading, bundling, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import DiT, DiTConfig, NoiseExperts, NoiseExpertsConfig, combine_experts, model_spec, save_model
from tempo_kit.models.io import load_denoiser


def _net(seed: int, **kw) -> DiT:
    torch.manual_seed(seed)
    net = DiT(config=DiTConfig.tiny(in_channels=8, num_tags=4, **kw))
    with torch.no_grad():  # the output layer starts at zero: randomise it so the experts differ
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.fixture
def folders(tmp_path):
    low = save_model(EDMPrecond(net=_net(0)), tmp_path / "low")
    high = save_model(EDMPrecond(net=_net(1)), tmp_path / "high")
    return low, high


def test_each_sample_goes_to_the_expert_of_its_noise_range(folders, tmp_path):
    low, high = (load_denoiser(f).eval() for f in folders)
    both = combine_experts(folders, [1.5]).eval()
    x, cond = torch.randn(4, 8, 16), {"tags": torch.eye(4)}
    sigma = torch.tensor([80.0, 1.5, 1.0, 0.01])  # 1.5 is the high expert's: ranges are [edge, next edge)
    with torch.no_grad():
        mixed = both(x, sigma, cond)
        for i, s in enumerate(sigma):
            alone = (high if s >= 1.5 else low)(x[i:i + 1], s.reshape(1), {"tags": cond["tags"][i:i + 1]})
            torch.testing.assert_close(mixed[i:i + 1], alone, atol=1e-5, rtol=1e-5)
            other = (low if s >= 1.5 else high)(x[i:i + 1], s.reshape(1), {"tags": cond["tags"][i:i + 1]})
            assert (mixed[i:i + 1] - other).abs().max() > 1e-3


def test_a_batch_in_one_range_calls_one_expert_and_stays_differentiable(folders):
    both = combine_experts(folders, [1.5]).eval()
    calls = [0, 0]
    for k, expert in enumerate(both.net.experts):
        expert.register_forward_hook(lambda *_, k=k: calls.__setitem__(k, calls[k] + 1))
    x = torch.randn(3, 8, 16, requires_grad=True)
    ConsistencyJump(denoiser=both)(80 * x, torch.tensor(80.0), cond={"tags": torch.eye(4)[:3]}).sum().backward()
    assert calls == [0, 1] and x.grad is not None and x.grad.abs().sum() > 0


def test_save_and_load_round_trip_bitwise(folders, tmp_path):
    both = combine_experts(folders, [1.5]).eval()
    path = save_model(both, tmp_path / "both")
    meta = json.loads((path / "config.json").read_text())
    assert meta["model"] == "noise-experts" and meta["config"]["edges"] == [1.5]
    assert [e["model"] for e in meta["config"]["experts"]] == ["dit", "dit"]
    again = load_denoiser(path).eval()
    x, sigma = torch.randn(2, 8, 16), torch.tensor([3.0, 0.3])
    with torch.no_grad():
        assert torch.equal(again(x, sigma, {"tags": torch.eye(4)[:2]}), both(x, sigma, {"tags": torch.eye(4)[:2]}))


def test_bundle_script_combines_experts_into_one_loadable_model(folders, tmp_path, monkeypatch):
    from test_pretrained import bundle_model

    from tempo_kit.pretrained import load_pretrained, model_card, pretrained_meta

    meta = json.dumps({"tag_vocab": {"instrument": ["flute", "organ"], "mode": ["major", "minor"]}, "steps": 1})
    argv = ["presto-s", "--from", str(folders[0]), str(folders[1]), "--kind", "consistency", "--meta", meta,
            "--out", str(tmp_path / "w"), "--command", "scripts/bundle_model.py presto-s ..."]
    with pytest.raises(SystemExit):
        bundle_model.main(argv)  # two folders without --edges
    assert not (tmp_path / "w" / "presto-s").exists()
    assert bundle_model.main(argv + ["--edges", "1.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "w" / "presto-s").iterdir()) == ["MODEL_CARD.md", "config.json",
                                                                              "model.safetensors"]
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(tmp_path / "w"))
    bundled = load_pretrained("presto-s")
    assert isinstance(bundled, ConsistencyJump) and isinstance(bundled.denoiser.net, NoiseExperts)
    assert bundled.denoiser.net.config.patch == 2 and pretrained_meta("presto-s")["steps"] == 1
    assert "noise-experts" in model_card("presto-s")
    x, sigma, cond = torch.randn(2, 8, 16), torch.tensor([80.0, 0.5]), {"tags": torch.eye(4)[:2]}
    with torch.no_grad():  # float16 on disk
        torch.testing.assert_close(bundled.denoiser(x, sigma, cond), combine_experts(folders, [1.5])(x, sigma, cond),
                                   atol=5e-3, rtol=5e-3)


def test_bad_experts_are_clear_errors(folders, tmp_path):
    spec = model_spec(_net(0))
    with pytest.raises(ValueError, match="2 experts need 1 edges, got 2"):
        NoiseExpertsConfig(experts=[spec, spec], edges=[1.0, 2.0])
    with pytest.raises(ValueError, match="edges must be positive, finite and increasing"):
        NoiseExpertsConfig(experts=[spec, spec, spec], edges=[2.0, 1.0])
    with pytest.raises(ValueError, match="edges must be positive"):
        NoiseExpertsConfig(experts=[spec, spec], edges=[float("nan")])
    with pytest.raises(ValueError, match="share one patch length"):
        NoiseExperts(config=NoiseExpertsConfig(experts=[spec, model_spec(_net(0, patch=4))], edges=[1.0]))
    other = save_model(EDMPrecond(net=_net(2), consistency=True), tmp_path / "cm")
    with pytest.raises(ValueError, match="share their EDM preconditioning"):
        combine_experts([folders[0], other], [1.0])


def test_half_precision_keeps_the_edges(folders):
    both = combine_experts(folders, [1.3]).eval().to(torch.bfloat16)
    c_noise = torch.tensor([1.298, 1.302], dtype=torch.float64).log() / 4  # bfloat16 would round 1.3 to 1.296875
    assert both.net.expert_index(c_noise).tolist() == [0, 1]
    with torch.no_grad():
        out = both(torch.randn(2, 8, 16, dtype=torch.bfloat16), torch.tensor([80.0, 0.5]), {"tags": torch.eye(4)[:2]})
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_quality_benchmark_counts_the_blocks_of_the_expert_that_ran(folders):
    from test_bench_quality import load_script

    bench = load_script("benchmarks/bench_quality.py")
    jump = ConsistencyJump(denoiser=combine_experts(folders, [1.5])).eval()
    depth = len(jump.denoiser.net.experts[0].blocks)
    with bench.counting(jump) as counts, torch.no_grad():
        for s in (80.0, 0.5, 0.1):
            jump(s * torch.randn(2, 8, 16), torch.tensor(s), cond={"tags": torch.eye(4)[:2]})
    assert counts == {"nfe": 3, "blocks": 3 * depth}


def test_a_mixed_batch_in_another_dtype_than_the_experts(folders):
    both = combine_experts(folders, [1.5]).eval()
    with torch.no_grad():  # float64 input, float32 experts: the output takes the experts' dtype, no index_put clash
        out = both.net(torch.randn(2, 8, 16, dtype=torch.float64), torch.tensor([80.0, 0.5]).log() / 4,
                       {"tags": torch.eye(4)[:2]})
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_a_bundle_that_fails_late_leaves_nothing_behind(folders, tmp_path):
    from test_pretrained import bundle_model

    other = save_model(EDMPrecond(net=_net(2), consistency=True), tmp_path / "cm")
    argv = ["presto-s", "--from", str(folders[0]), str(other), "--edges", "1.5", "--kind", "consistency",
            "--out", str(tmp_path / "w")]
    with pytest.raises(ValueError, match="share their EDM preconditioning"):
        bundle_model.main(argv)
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_layer_routed_experts_keep_their_routers(tmp_path):
    from tempo_kit.routers import RoutedNet, router_from_spec

    schedule = {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}
    routers = [{"name": "presto-l", "levels": levels, "budget": None, "schedule": schedule}
               for levels in ([0.75, 1.0], [0.5, 1.0])]  # each expert its own router
    folders = [save_model(EDMPrecond(net=RoutedNet(net=_net(seed, budget_embedding=True),
                                                   router=router_from_spec(router))), tmp_path / name)
               for seed, name, router in ((0, "low", routers[0]), (1, "high", routers[1]))]
    low, high = (load_denoiser(f).eval() for f in folders)
    both = combine_experts(folders, [1.5]).eval()
    assert [e.router.spec() for e in both.net.experts] == routers
    again = load_denoiser(save_model(both, tmp_path / "both")).eval()
    assert [e["router"] for e in json.loads((tmp_path / "both" / "config.json").read_text())["config"]["experts"]] \
        == routers
    x, cond = torch.randn(3, 8, 16), {"tags": torch.eye(4)[:3]}
    sigma = torch.tensor([80.0, 1.0, 0.01])
    with torch.no_grad():
        mixed, loaded = both(x, sigma, cond), again(x, sigma, cond)
        for i, s in enumerate(sigma):
            alone = (high if s >= 1.5 else low)(x[i:i + 1], s.reshape(1), {"tags": cond["tags"][i:i + 1]})
            torch.testing.assert_close(mixed[i:i + 1], alone, atol=1e-5, rtol=1e-5)
    assert torch.equal(mixed, loaded)
    from test_bench_quality import load_script

    bench = load_script("benchmarks/bench_quality.py")
    depth = len(both.net.experts[0].net.blocks)
    expected = 0
    for k, s in ((1, 80.0), (0, 0.01)):  # the blocks each expert's own router runs at that noise level
        expert = both.net.experts[k]
        expected += len(expert.router.blocks(int(expert.budgets(torch.tensor([s]).log() / 4)[0]), depth))
    with bench.counting(both) as counts, torch.no_grad():
        both(80 * x, torch.tensor(80.0), cond)
        both(0.01 * x, torch.tensor(0.01), cond)
    assert counts == {"nfe": 2, "blocks": expected} and expected < 2 * depth


@pytest.mark.parametrize("edge", [1.5, 0.3, 7.0, 0.05])
def test_a_sigma_at_an_edge_reaches_the_upper_expert_in_any_batch(edge):
    """c_noise = ln(sigma) / 4 in float32 does not round-trip exactly, and ln rounds differently in a vectorised loop
    than alone: routing must not depend on the batch size (or the CPU)."""
    experts = NoiseExperts(config=NoiseExpertsConfig(experts=[model_spec(_net(0)), model_spec(_net(1))], edges=[edge]))
    for n in (1, 3, 8, 17, 64):
        sigma = torch.full((n,), edge)
        assert experts.expert_index(sigma.log() / 4).tolist() == [1] * n
        assert experts.expert_index((sigma.log() / 4).to(torch.bfloat16)).tolist() == [1] * n
        below = torch.full((n,), edge * (1 - 1e-5))
        assert experts.expert_index(below.log() / 4).tolist() == [0] * n
        assert experts.expert_index((below * 0.8).log().to(torch.bfloat16) / 4).tolist() == [0] * n
