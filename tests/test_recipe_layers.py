"""ASE and Presto-L fine-tuning on the 2-D ring: layer-dropped samples improve; what is frozen stays frozen."""

import pytest
import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.training import MixtureData, TrainConfig, Trainer
from tempo_kit.training.recipes.layers import ASERecipe, PrestoLRecipe
from test_recipe_edm import RING, heun_distance, trained_edm

pytestmark = pytest.mark.usefixtures("one_thread")


# Dropping blocks only at high noise barely changes a 4-block toy net; a schedule that also drops at low noise
# (1 of 4 blocks at high sigma, 2 of 4 at low sigma) makes the untrained routed student clearly worse than the teacher.
LEVELS = (0.25,) * 5 + (0.5,) * 5


def teacher() -> BlockMLP:
    return trained_edm()[0].denoiser.net.requires_grad_(False)


def _fresh_dropped(cls) -> float:
    torch.manual_seed(1)
    return heun_distance(cls(teacher=BlockMLP(config=BlockMLPConfig(width=64, depth=4)), router={"name": cls.name, "levels": LEVELS}).student())


@pytest.mark.parametrize("cls", [ASERecipe, pytest.param(PrestoLRecipe, marks=pytest.mark.slow)])
def test_layer_dropped_samples_improve(cls):
    net = teacher()
    frozen = {k: v.clone() for k, v in net.state_dict().items()}
    recipe = cls(teacher=net, lr=2e-3, router={"name": cls.name, "levels": LEVELS})
    before = heun_distance(recipe.student())
    time_embedder = [p.clone() for p in recipe.net.cond.time.parameters()]
    Trainer(recipe=recipe, data=MixtureData(mixture=RING), config=TrainConfig(steps=100, batch_size=128, progress=False)).fit()
    after = heun_distance(recipe.student())
    assert after < 0.8 * before, (before, after)
    assert after < 0.2 * _fresh_dropped(cls)  # far better than an untrained student with the same router
    assert all(torch.equal(a, b) for a, b in zip(time_embedder, recipe.net.cond.time.parameters()))  # frozen
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in frozen.items())  # the teacher never changes


def test_presto_l_student_starts_as_the_teacher_and_learns_its_budget_embedding():
    net = teacher()
    recipe = PrestoLRecipe(teacher=net, lr=1e-3)
    x, sigma = torch.randn(8, 2), torch.full((8,), 0.01)  # low noise: full budget, every block runs
    torch.testing.assert_close(recipe.student()(x, sigma), recipe.full(x, sigma))

    torch.testing.assert_close(recipe.student()(x, sigma), EDMPrecond(net=net)(x, sigma))
    result = Trainer(recipe=recipe, data=MixtureData(mixture=RING), config=TrainConfig(steps=3, batch_size=32, progress=False)).fit()
    assert set(result.history[0]) == {"step", "student/dsm", "student/self_teacher", "student/total"}
    assert recipe.net.cond.budget[-1].weight.abs().sum() > 0


def test_layer_recipe_errors():
    with pytest.raises(ValueError, match="layer budget 9 is outside"):
        ASERecipe(teacher=teacher(), router={"name": "ase", "budget": 9})
    with pytest.raises(TypeError, match="block protocol"):
        ASERecipe(teacher=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="target"):
        PrestoLRecipe(teacher=teacher(), target="ema")
