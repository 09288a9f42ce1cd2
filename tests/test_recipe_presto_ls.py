"""Presto-LS: Presto-L on the teacher first, then Presto-S with the routed layer student as generator."""

import time

import pytest
import torch

import distill_toy as T
from distill_toy import one_thread  # noqa: F401
from tempo_kit.samplers import CMMultistep
from tempo_kit.training.recipes.layers import PrestoLRecipe
from tempo_kit.training.recipes.presto_ls import PrestoLSRecipe, is_routed
from tempo_kit.training.recipes.presto_s import PrestoSRecipe


class BlockCounter:
    """Count the blocks a block model runs (wraps ``run_block``)."""

    def __init__(self, net):
        self.count = 0
        original = net.run_block

        def run_block(i, h, c):
            self.count += 1
            return original(i, h, c)

        net.run_block = run_block


def blocks_per_sample(jump, steps=4):
    base = jump.denoiser.net
    base = getattr(base, "net", base)
    counter = BlockCounter(base)
    CMMultistep()(jump, 80.0 * torch.randn(8, 2), steps)
    del base.run_block
    return counter.count


def latency(jump, steps=4, repeat=5):
    x = 80.0 * torch.randn(64, 2)
    noise = torch.randn(steps, 64, 2)
    sampler = CMMultistep()
    sampler(jump, x, steps, noise=noise)
    start = time.perf_counter()
    for _ in range(repeat):
        sampler(jump, x, steps, noise=noise)
    return (time.perf_counter() - start) / repeat


@pytest.fixture(scope="module")
def layer_student():
    teacher = T.trained_teacher(steps=300, batch=128, width=32)
    stage1 = T.seeded(lambda: PrestoLRecipe(teacher=teacher.net, lr=1e-3), 0)
    T.run_recipe(stage1, steps=40, batch=128)
    return teacher, stage1.student()


def test_presto_ls_end_to_end_routed_generator(layer_student):
    teacher, student = layer_student
    assert is_routed(student)
    recipe = T.seeded(lambda: PrestoLSRecipe(teacher=teacher, layer_student=student, lr_generator=1e-3, lr_fake=1e-3,
                                             disc_norm_groups=1), 0)
    assert is_routed(recipe.generator) and recipe.generator is not student
    assert not is_routed(recipe.fake) and recipe.teacher is teacher  # real score = full teacher, fake from it
    real_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    before, after = T.one_step_before_after(recipe, steps=100, batch=128, n=1000)
    assert all(torch.equal(real_before[k], v) for k, v in teacher.state_dict().items())

    full = PrestoSRecipe(teacher=teacher, disc_norm_groups=1).student()
    ls_blocks, s_blocks = blocks_per_sample(recipe.student()), blocks_per_sample(full)
    ls_time, s_time = latency(recipe.student()), latency(full)
    print(f"Presto-LS: 1-step energy distance {before:.4f} -> {after:.4f}; 4-step sampling runs {ls_blocks} vs "
          f"{s_blocks} blocks (ratio {ls_blocks / s_blocks:.2f}), latency ratio {ls_time / s_time:.2f}")
    assert after < 0.6 * before
    assert ls_blocks < s_blocks


def test_presto_ls_needs_a_routed_student():
    teacher = T.seeded(T.make_teacher, 0, 16)
    with pytest.raises(ValueError, match="layer-distilled"):
        PrestoLSRecipe(teacher=teacher, layer_student=teacher)
    with pytest.raises(TypeError, match="generator"):
        PrestoLSRecipe(teacher=teacher, layer_student=teacher, generator=teacher)
    with pytest.raises(FileNotFoundError):
        PrestoLSRecipe(teacher=teacher, layer_student="/nonexistent/presto_l_student")
