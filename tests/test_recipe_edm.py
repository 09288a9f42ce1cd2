"""EDM denoising score matching on the 2-D ring mixture, through the trainer."""

import functools

import pytest
import torch

import tempo_kit
from tempo_kit.models import BlockMLP, BlockMLPConfig
from tempo_kit.testing.toy import GaussianMixture, energy_distance
from tempo_kit.training import MixtureData, TrainConfig, Trainer
from tempo_kit.training.recipes.edm import EDMRecipe, drop_condition

pytestmark = pytest.mark.usefixtures("one_thread")

RING = GaussianMixture.ring()


def heun_distance(denoiser, n=600, seed=1):
    """Energy distance between 40-step Heun samples and fresh data."""
    g = torch.Generator().manual_seed(seed)
    x_T = 80.0 * torch.randn(n, 2, generator=g)
    with torch.no_grad():
        x = tempo_kit.get("samplers", "heun")(denoiser, x_T, 40, generator=g)
    return float(energy_distance(x, RING.sample(n, generator=torch.Generator().manual_seed(seed + 1))))


@functools.lru_cache(maxsize=None)
def trained_edm():
    """A BlockMLP trained for 200 steps (shared with the layer-distillation tests as their teacher)."""
    torch.manual_seed(0)
    recipe = EDMRecipe(net=BlockMLP(config=BlockMLPConfig(width=64, depth=4)), lr=3e-3)
    before = heun_distance(recipe.student())
    result = Trainer(recipe=recipe, data=MixtureData(mixture=RING),
                     config=TrainConfig(steps=200, batch_size=128, progress=False)).fit()
    return recipe, before, result


def test_edm_training_lowers_energy_distance():
    recipe, before, result = trained_edm()
    after = heun_distance(recipe.student())
    assert after < 0.25 * before, (before, after)
    first, last = result.history[0]["net/dsm"], sum(r["net/dsm"] for r in result.history[-20:]) / 20
    assert last < first


def test_condition_dropout():
    cond = {"class": torch.zeros(4000, dtype=torch.long)}
    dropped = drop_condition(cond, 0.25, torch.Generator().manual_seed(0))
    assert abs(dropped["null"].float().mean().item() - 0.25) < 0.03
    assert drop_condition(None, 0.5) is None and drop_condition(cond, 0.0) is cond
    # the null embedding is trained only when conditions are dropped
    for p, trained in ((0.0, False), (0.5, True)):
        torch.manual_seed(0)
        net = BlockMLP(config=BlockMLPConfig(width=16, depth=2, num_classes=3))
        null = net.cond.null.detach().clone()
        data = lambda n, g: {"x0": torch.randn(n, 2, generator=g), "cond": {"class": torch.randint(3, (n,), generator=g)}}  # noqa: E731
        Trainer(recipe=EDMRecipe(net=net, cond_dropout=p), data=data,
                config=TrainConfig(steps=2, batch_size=16, progress=False)).fit()
        assert (not torch.equal(null, net.cond.null)) == trained
