"""CTM recipe in DITTO-2's form (local consistency at the target time, Euler jump without s input, distilled w)."""

import pytest
import torch

import distill_toy as T
from distill_toy import one_thread  # noqa: F401
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.jumps import EulerJump
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.samplers import CTMGamma
from tempo_kit.training.recipes.common import teacher_step
from tempo_kit.training.recipes.ctm import CTMRecipe


def mlp_denoiser(seed=0, **config):
    return T.seeded(lambda: EDMPrecond(net=BlockMLP(config=BlockMLPConfig(dim=2, width=32, depth=2, **config))), seed)


def test_jump_is_identity_at_equal_times_and_student_copies_teacher():
    teacher = T.seeded(T.make_teacher, 0, 32)
    recipe = CTMRecipe(teacher=teacher)
    jump = recipe.student()
    assert isinstance(jump, EulerJump) and recipe.net is not teacher
    x, t = torch.randn(8, 2), torch.rand(8) * 10 + 0.01
    cond = {"w": torch.full((8,), 2.0)}
    torch.testing.assert_close(jump(x, t, t, cond), x)  # G(x, t, t) = x
    torch.testing.assert_close(jump(x, t, torch.zeros(8), cond), teacher(x, t))  # G(x, t, 0) = g(x, t) = teacher at init


def test_target_at_adjacent_level_is_the_teacher_step():
    """With one grid step (j = 1, k = 0) the target is exactly the teacher's x0 prediction, whatever the student."""
    recipe = CTMRecipe(teacher=T.DATA, student=mlp_denoiser(), w_range=None, grid_steps=1)
    x0 = T.DATA.sample(8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    loss = recipe.losses(x0, step=0, groups=frozenset({"student"}), generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    torch.randint(1, 2, (8,), generator=g)
    torch.rand(8, generator=g)
    sigma = recipe.grid[1].expand(8)
    x_t = x0 + sigma[:, None] * torch.randn(x0.shape, generator=g)
    target = teacher_step(T.DATA, x_t, sigma, torch.zeros(8), None)
    expected = (recipe.student()(x_t, sigma, torch.zeros(8)) - target).pow(2).mean()
    torch.testing.assert_close(loss["student"]["local_consistency"], expected)


def test_ema_target_and_bad_configs():
    recipe = CTMRecipe(teacher=T.DATA, student=mlp_denoiser(), w_range=None, ema_decay=0.5, lr=1e-2)
    T.assert_target_is_ema(recipe, decay=0.5, batch=16)
    with pytest.raises(ValueError, match="s_embedding"):
        CTMRecipe(teacher=T.DATA, student=mlp_denoiser(), w_range=None, s_embedding=True)
    with pytest.raises(ValueError, match="w embedding"):
        CTMRecipe(teacher=T.DATA, student=mlp_denoiser())
    with pytest.raises(ValueError, match="grid_steps"):
        CTMRecipe(teacher=T.DATA, student=mlp_denoiser(), w_range=None, grid_steps=0)


def test_ctm_improves_one_step_and_gamma_samples_fast():
    recipe = CTMRecipe(teacher=T.DATA, student=mlp_denoiser(), w_range=None, lr=3e-3, grid_steps=10)
    before, after = T.one_step_before_after(recipe, steps=150, batch=128, n=1000)
    gamma2 = T.jump_distance(recipe.student(), CTMGamma(gamma=0.2), 2, n=1000)
    print(f"CTM fast: 1-step energy distance {before:.4f} -> {after:.4f}; 2-step gamma=0.2: {gamma2:.4f}")
    assert after < 0.5 * before
    assert gamma2 < 0.5 * before


@pytest.mark.slow
def test_ctm_distills_trained_teacher():
    _, recipe, before, after = T.distill_trained_teacher(CTMRecipe, w_range=None, lr=1e-4)
    gamma4 = T.jump_distance(recipe.student(), CTMGamma(gamma=0.2), 4)
    print(f"CTM: 1-step energy distance {before:.4f} -> {after:.4f}; 4-step gamma=0.2 {gamma4:.4f}")
    assert after < 0.7 * before
