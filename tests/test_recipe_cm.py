"""CM recipe (LCM-style consistency distillation with a distilled CFG weight)."""

import pytest
import torch

import distill_toy as T
from distill_toy import one_thread  # noqa: F401
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.training.recipes.cm import CMRecipe, consistency_student
from tempo_kit.training.recipes.common import teacher_step


def consistency_mlp(seed=0, **config):
    return T.seeded(lambda: EDMPrecond(net=BlockMLP(config=BlockMLPConfig(dim=2, width=32, depth=2, **config)),
                                       consistency=True), seed)


def test_boundary_condition_and_student_is_teacher_copy():
    teacher = T.seeded(T.make_teacher, 0, 32)
    recipe = CMRecipe(teacher=teacher)
    x = torch.randn(16, 2)
    w = torch.full((16,), 3.0)
    torch.testing.assert_close(recipe.net(x, torch.full((16,), 0.002), {"w": w}), x)  # f(x, sigma_min) = x
    assert recipe.net.consistency and recipe.net.net is not teacher.net
    # away from the boundary the copied net computes the teacher's F (zero-initialized w embedding)
    torch.testing.assert_close(recipe.net.net(x, torch.zeros(16), {"w": w}), teacher.net(x, torch.zeros(16)))
    assert isinstance(recipe.student(), ConsistencyJump)


def test_target_is_ema_of_student_after_each_step():
    recipe = CMRecipe(teacher=T.DATA, student=consistency_mlp(), w_range=None, ema_decay=0.9, lr=1e-2)
    T.assert_target_is_ema(recipe, decay=0.9, batch=32)
    assert not any(p.requires_grad for p in recipe.target.parameters())


def test_loss_matches_hand_computed_consistency_target():
    recipe = CMRecipe(teacher=T.DATA, student=consistency_mlp(), w_range=None, grid_steps=5)
    x0 = T.DATA.sample(8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    loss = recipe.losses(x0, step=0, groups=frozenset({"student"}), generator=torch.Generator().manual_seed(3))
    # replay the recipe's draws
    g = torch.Generator().manual_seed(3)
    n = torch.randint(0, 4, (8,), generator=g)
    t, s = recipe.grid[n], recipe.grid[n + 1]
    x_t = x0 + t[:, None] * torch.randn(x0.shape, generator=g)
    x_s = teacher_step(T.DATA, x_t, t, s, None)
    expected = (recipe.net(x_t, t) - recipe.target(x_s, s)).pow(2).mean()
    torch.testing.assert_close(loss["student"]["consistency"], expected)


def test_w_needs_a_w_embedding_and_reaches_the_student():
    with pytest.raises(ValueError, match="w embedding"):
        CMRecipe(teacher=T.seeded(lambda: EDMPrecond(net=BlockMLP(config=BlockMLPConfig(width=16, depth=2))), 0))
    recipe = CMRecipe(teacher=T.seeded(T.make_teacher, 0, 16), w_range=(2.0, 5.0), lr=1e-2)
    T.run_recipe(recipe, steps=3, batch=32)
    assert recipe.net.net.cond.w_proj.weight.abs().sum() > 0  # the w embedding was trained
    with pytest.raises(ValueError, match="loss"):
        CMRecipe(teacher=T.DATA, student=consistency_mlp(), w_range=None, loss="l1")
    with pytest.raises(TypeError, match="consistency student"):
        consistency_student(T.DATA, sigma_min=0.002)


def test_cm_improves_one_step_samples_fast():
    """Analytic teacher, small student: 1-step distance drops well below the untrained student's."""
    recipe = CMRecipe(teacher=T.DATA, student=consistency_mlp(), w_range=None, lr=3e-3, grid_steps=10)
    before, after = T.one_step_before_after(recipe, steps=150, batch=128, n=1000)
    print(f"CM fast: 1-step energy distance {before:.4f} -> {after:.4f}")
    assert after < 0.5 * before


@pytest.mark.slow
def test_cm_distills_trained_teacher_into_one_step_student():
    teacher, recipe, before, after = T.distill_trained_teacher(CMRecipe, w_range=None, lr=1e-4)
    print(f"CM: 1-step energy distance {before:.4f} -> {after:.4f} (teacher 40-step Heun {T.teacher_distance(teacher):.4f})")
    assert after < 0.7 * before


def test_runs_under_the_trainer():
    from tempo_kit.training import MixtureData, TrainConfig, Trainer

    recipe = CMRecipe(teacher=T.DATA, student=consistency_mlp(), w_range=None, lr=1e-3)
    result = Trainer(recipe=recipe, data=MixtureData(mixture=T.DATA),
                     config=TrainConfig(steps=3, batch_size=16, progress=False)).fit()
    assert result.step == 3 and all("student/consistency" in rec for rec in result.history)
