"""Shared toy setup of the step-distillation recipe tests: a quickly trained BlockMLP teacher on a 2-D Gaussian-mixture
ring (cached per process), a minimal loop that follows the Recipe contract, and one-step / multi-step distances."""

from __future__ import annotations

import functools

import pytest
import torch

from tempo_kit.denoisers import EDMPrecond, edm_loss_weight
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.samplers import CMMultistep, EDMSampler
from tempo_kit.schedules import LogNormalSigma
from tempo_kit.registry import get
from tempo_kit.testing.toy import GaussianMixture, energy_distance

DATA = GaussianMixture.ring(components=8, radius=1.0, std=0.1)
SIGMA_MAX = 80.0


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one intra-op thread avoids oversubscription on a shared 2-core machine (import into a test module
    to use it)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def seeded(build, seed: int, *args, **kwargs):
    """Build a network with a fixed parameter initialization, without touching the global RNG state."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build(*args, **kwargs)


def make_teacher(width: int = 64, **config) -> EDMPrecond:
    return EDMPrecond(net=BlockMLP(config=BlockMLPConfig(dim=2, width=width, depth=4, w_embedding=True, **config)))


@functools.lru_cache(maxsize=None)
def trained_teacher(steps: int = 800, batch: int = 256, width: int = 64, seed: int = 0) -> EDMPrecond:
    """EDM denoising score matching on the ring (Karras et al. 2022, Eq. 2 with lambda = 1/c_out^2), cached per process.

    The default (800 steps, width 64) is the teacher of the slow tests; the fast tests use a smaller, shorter one.
    """
    teacher = seeded(make_teacher, seed, width)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(teacher.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    p_train = LogNormalSigma()
    for _ in range(steps):
        x0 = DATA.sample(batch, generator=g, dtype=torch.float32)
        sigma = p_train.sample(batch, generator=g)
        x = x0 + sigma[:, None] * torch.randn(x0.shape, generator=g)
        loss = (edm_loss_weight(sigma)[:, None] * (teacher(x, sigma) - x0) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    teacher.requires_grad_(False)
    return teacher


def run_recipe(recipe, *, steps: int, batch: int = 256, seed: int = 0, lr: float | None = None, ema=None):
    """Minimal loop following the Recipe contract (what the trainer does, without its extras); ``ema`` is an optional
    :class:`~tempo_kit.training.EMA` of ``recipe.student()`` updated after every step, like the trainer's."""
    g = torch.Generator().manual_seed(seed)
    params = recipe.param_groups()
    opts = {r.group: torch.optim.Adam(params[r.group], lr=lr or r.lr, betas=r.betas, weight_decay=r.weight_decay)
            for r in recipe.update_rules()}
    history = []
    for step in range(steps):
        groups = recipe.active_groups(step)
        x0 = DATA.sample(batch, generator=g, dtype=torch.float32)
        losses = recipe.losses(x0, step=step, groups=groups, generator=g)
        for group in groups:
            opts[group].zero_grad(set_to_none=True)
            sum(losses[group].values()).backward(inputs=params[group], retain_graph=True)
        for group in groups:
            opts[group].step()
        recipe.after_step(step)
        if ema is not None:
            ema.update(recipe.student())
        history.append({gr: {k: float(v.detach()) for k, v in t.items()} for gr, t in losses.items()})
    return history


def reference(n: int = 3000, seed: int = 123) -> torch.Tensor:
    return DATA.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


def noise(n: int = 3000, seed: int = 7) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def jump_distance(jump, sampler, steps: int, *, cond=None, n: int = 3000, seed: int = 7) -> float:
    """Energy distance to the data of ``steps``-step samples of a jump with a jump sampler."""
    x_T = SIGMA_MAX * noise(n, seed)
    x = sampler(jump, x_T, steps, cond=cond, generator=torch.Generator().manual_seed(seed + 1))
    return float(energy_distance(x, reference()))


def one_step_distance(jump, *, cond=None, n: int = 3000) -> float:
    return jump_distance(jump, CMMultistep(), 1, cond=cond, n=n)


def one_step_before_after(recipe, *, steps: int, batch: int, n: int = 3000) -> tuple[float, float]:
    """1-step energy distance of ``recipe.student()`` before and after ``steps`` steps of :func:`run_recipe`."""
    before = one_step_distance(recipe.student(), n=n)
    run_recipe(recipe, steps=steps, batch=batch)
    return before, one_step_distance(recipe.student(), n=n)


def distill_trained_teacher(recipe_class, **recipe_args):
    """``recipe_class(teacher=trained_teacher(), **recipe_args)`` trained for 400 steps of 256: the slow distillation
    checks. Returns ``(teacher, recipe, before, after)`` with the 1-step energy distances before and after training."""
    teacher = trained_teacher()
    recipe = recipe_class(teacher=teacher, **recipe_args)
    before, after = one_step_before_after(recipe, steps=400, batch=256)
    return teacher, recipe, before, after


def assert_target_is_ema(recipe, *, decay: float, batch: int) -> None:
    """After one step of :func:`run_recipe`, each parameter of ``recipe.target`` is ``decay * old + (1 - decay) *``
    the student's (``recipe.net``)."""
    before = [p.clone() for p in recipe.target.parameters()]
    run_recipe(recipe, steps=1, batch=batch)
    for old, new, cur in zip(before, recipe.target.parameters(), recipe.net.parameters()):
        torch.testing.assert_close(new, decay * old + (1 - decay) * cur.detach())


def teacher_distance(teacher, steps: int = 40) -> float:
    x_T = SIGMA_MAX * noise()
    return float(energy_distance(EDMSampler(heun=True)(teacher, x_T, steps), reference()))


def initial_one_step_distance(teacher) -> float:
    """The untrained student = the teacher used as a 1-step jump to x0."""
    return one_step_distance(ConsistencyJump(denoiser=teacher))
