"""The reference DiT, the toy BlockMLP, the block protocol, features and save/load."""

import attrs
import pytest
import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import (BlockMLP, BlockMLPConfig, CheckpointMismatchError, DiT, DiTConfig, features, is_block_model,
                              load_denoiser, load_model, null_condition, save_model)
from tempo_kit.training.recipes.layers import with_budget_embedding


def _perturb(net, seed=0):
    """Give zero-initialized layers random values so that conditioning paths matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return net


def test_reference_size_and_shapes():
    net = DiT()
    n = sum(p.numel() for p in net.parameters())
    assert 3e6 < n < 5e6
    x = torch.randn(2, 80, 64)
    out = net(x, torch.zeros(2))
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # adaLN-Zero + zero output layer: F starts at 0
    assert is_block_model(net) and net.num_blocks == 6


def test_forward_equals_block_loop_and_features():
    torch.manual_seed(0)
    net = _perturb(DiT(config=DiTConfig.tiny()))
    x, c_noise = torch.randn(3, 4, 8), torch.randn(3)
    h, c = net.embed(x, c_noise, None)
    for i in range(net.num_blocks):
        h = net.run_block(i, h, c)
    torch.testing.assert_close(net.final(h, c), net(x, c_noise))
    den = EDMPrecond(net=net)
    sigma = torch.tensor([0.5, 1.0, 2.0])
    f = features(den, x, sigma, layer=1)
    assert f.shape == (3, 32, 4)  # (batch, width, frames / patch)
    f_last = features(den, x, sigma, layer=3)
    assert not torch.allclose(f, f_last)
    with pytest.raises(ValueError, match="layer 4"):
        features(den, x, sigma, layer=4)


def test_conditioning_paths():
    torch.manual_seed(0)
    net = _perturb(DiT(config=DiTConfig.tiny(num_tags=3, w_embedding=True)))
    x, c_noise = torch.randn(2, 4, 8), torch.zeros(2)
    tags = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    cond = {"tags": tags, "w": torch.tensor([2.0, 2.0])}
    a = net(x, c_noise, cond)
    assert not torch.allclose(a, net(x, c_noise, {**cond, "tags": tags.flip(0)}))
    assert not torch.allclose(a, net(x, c_noise, {**cond, "w": torch.tensor([5.0, 5.0])}))
    # "null" marks samples whose content condition is replaced by the learned null embedding (CFG dropout)
    dropped = net(x, c_noise, {**cond, "null": torch.tensor([True, False])})
    uncond = net(x, c_noise, null_condition(cond))
    torch.testing.assert_close(dropped[0], uncond[0])
    torch.testing.assert_close(dropped[1], a[1])
    assert null_condition(cond) == {"w": cond["w"]}


def test_zero_init_embeddings_leave_a_copied_teacher_unchanged():
    torch.manual_seed(0)
    teacher = _perturb(DiT(config=DiTConfig.tiny()))
    student = with_budget_embedding(teacher)
    x, c_noise = torch.randn(2, 4, 8), torch.randn(2)
    torch.testing.assert_close(student(x, c_noise, {"budget": torch.tensor([2, 3])}), teacher(x, c_noise))
    w_net = DiT(config=DiTConfig.tiny(w_embedding=True))
    w_net.load_state_dict(teacher.state_dict(), strict=False)
    torch.testing.assert_close(w_net(x, c_noise, {"w": torch.tensor([3.0, 7.0])}), teacher(x, c_noise))
    with pytest.raises(ValueError, match="budget"):
        student(x, c_noise, {"budget": torch.tensor([5, 1])})


def test_bad_inputs():
    net = DiT(config=DiTConfig.tiny())
    with pytest.raises(ValueError, match="multiple of the patch"):
        net(torch.randn(1, 4, 7), torch.zeros(1))
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(1, 5, 8), torch.zeros(1))
    with pytest.raises(ValueError, match="divisible"):
        DiTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="at most one"):
        DiT(config=DiTConfig.tiny(num_tags=2, num_classes=3))


def test_save_load_roundtrip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    net = _perturb(DiT(config=DiTConfig.tiny(num_classes=5)))
    save_model(EDMPrecond(net=net, sigma_data=0.4), tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    x, c_noise, cond = torch.randn(2, 4, 8), torch.randn(2), {"class": torch.tensor([1, 4])}
    torch.testing.assert_close(loaded(x, c_noise, cond), net(x, c_noise, cond))
    den = load_denoiser(tmp_path / "m")
    assert den.sigma_data == 0.4
    with pytest.raises(CheckpointMismatchError, match="expected"):
        load_model(tmp_path / "m", expect={"model": "dit", "config": {"depth": 8}})
    other = DiT(config=DiTConfig.tiny(depth=3))
    from tempo_kit.models import load_weights

    with pytest.raises(CheckpointMismatchError, match="unexpected keys"):
        load_weights(other, tmp_path / "m" / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "missing")


def test_block_mlp():
    net = BlockMLP(config=BlockMLPConfig(width=16, depth=3, budget_embedding=True))
    out = net(torch.randn(5, 2), torch.zeros(5), {"budget": torch.full((5,), 2)})
    assert out.shape == (5, 2) and net.num_blocks == 3
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(5, 3), torch.zeros(5))


def test_refiner_starts_as_the_plain_dit_and_then_reaches_the_full_output_space(tmp_path):
    """A trained DiT loads into one with a refiner (config ``init_from``) and computes the same function; the refiner's
    output is not confined to the per-token ``width``-dimensional subspace of the patch un-embedding."""
    from tempo_kit.training.api import _resolve_net

    torch.manual_seed(0)
    plain = _perturb(DiT(config=DiTConfig.tiny(patch=4, width=8, heads=2)))  # 4 * 4 = 16 outputs per token > 8
    save_model(plain, tmp_path / "plain")
    spec = {"model": "dit", **attrs.asdict(plain.config), "refiner": 16,
            "init_from": str(tmp_path / "plain")}
    refined = _resolve_net("net", spec)
    x, c_noise = torch.randn(3, 4, 16), torch.randn(3)
    torch.testing.assert_close(refined(x, c_noise), plain(x, c_noise))
    refined = _perturb(refined, seed=1)
    out = refined(x, c_noise) - plain(x, c_noise)
    assert out.abs().max() > 1e-3
    # rank of the per-token outputs over many inputs: plain is limited by width (8), the refiner is not
    xs = torch.randn(64, 4, 16)
    tokens = lambda y: y.view(64, 4, 4, 4).permute(0, 2, 1, 3).reshape(-1, 16)  # (batch * tokens, 4 ch * 4 frames)
    assert torch.linalg.matrix_rank(tokens(plain(xs, torch.zeros(64)))) <= 8
    assert torch.linalg.matrix_rank(tokens(refined(xs, torch.zeros(64)))) == 16
    with pytest.raises(CheckpointMismatchError, match="do not fit"):
        _resolve_net("net", {**spec, "width": 16, "heads": 2})


def test_network_configs_refuse_sizes_that_build_nothing():
    """width = 0 once trained a zero-element model and depth = -1 trained without complaint."""
    from tempo_kit.models.mlp import BlockMLPConfig

    for bad in ({"width": 0}, {"depth": -1}):
        with pytest.raises(ValueError, match="must be >= 1"):
            BlockMLPConfig(**bad)
    with pytest.raises(TypeError, match="width must be an integer, got '16'"):
        DiTConfig(width="16")
    with pytest.raises(ValueError, match="depth must be >= 1, got 0"):
        DiTConfig(depth=0)
