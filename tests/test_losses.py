"""Control losses: values against direct formulas, reductions, broadcasting, registry names."""

import pytest
import torch
import torch.nn.functional as F

import tempo_kit
from tempo_kit import losses


def test_mse_matches_formula_and_broadcasts():
    f, y = torch.randn(3, 5, 7), torch.randn(5, 7)
    assert torch.allclose(losses.mse(f, y), ((f - y) ** 2).mean())
    per = losses.mse(f, y, reduction="none")
    assert per.shape == (3,) and torch.allclose(per, ((f - y) ** 2).mean((1, 2)))
    assert torch.allclose(losses.mse(f, y, reduction="sum"), per.sum())
    assert float(losses.mse(f, f)) == 0.0


def test_nll_matches_torch_and_ignores():
    lp = torch.log_softmax(torch.randn(2, 12, 9), 1)
    y = torch.randint(0, 12, (9,))
    assert torch.allclose(losses.nll(lp, y), F.nll_loss(lp, y.expand(2, 9)))
    y2 = y.clone()
    y2[:3] = -1
    ref = F.nll_loss(lp, y2.expand(2, 9), ignore_index=-1)
    assert torch.allclose(losses.nll(lp, y2, ignore_index=-1), ref)
    assert torch.allclose(losses.nll(lp, y.float()), losses.nll(lp, y))  # integral floats are accepted


def test_cosine_and_pearson():
    f = torch.randn(4, 16)
    assert torch.allclose(losses.cosine(f, f), torch.zeros(()), atol=1e-6)
    assert torch.allclose(losses.cosine(f, -f), torch.full((), 2.0), atol=1e-6)
    y = torch.randn(16)
    ref = 1 - F.cosine_similarity(f, y[None], dim=-1)
    assert torch.allclose(losses.cosine(f, y, reduction="none"), ref, atol=1e-6)
    assert torch.allclose(losses.pearson(f, 3 * f + 1), torch.full((), -1.0), atol=1e-5)
    assert torch.allclose(losses.pearson(f, -f), torch.full((), 1.0), atol=1e-5)
    rho = torch.stack([torch.corrcoef(torch.stack([a, y]))[0, 1] for a in f])
    assert torch.allclose(losses.pearson(f, y, reduction="none"), -rho, atol=1e-5)


def test_gradients_flow_and_are_finite_at_constant_inputs():
    f = torch.zeros(2, 10, requires_grad=True)
    for fn, y in ((losses.mse, torch.ones(10)), (losses.cosine, torch.ones(10)), (losses.pearson, torch.arange(10.0))):
        (g,) = torch.autograd.grad(fn(f, y), f)
        assert torch.isfinite(g).all()


@pytest.mark.parametrize("name", ["mse", "nll", "cosine", "pearson"])
def test_registered(name):
    fn = tempo_kit.get("losses", name)
    assert fn is getattr(losses, name)
    assert callable(tempo_kit.get("losses", name, reduction="sum"))
