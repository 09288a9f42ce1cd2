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


@pytest.mark.parametrize("name", ["mse", "nll", "cosine", "pearson", "octave_spread", "onset_deficit"])
def test_registered(name):
    fn = tempo_kit.get("losses", name)
    assert fn is getattr(losses, name)
    assert callable(tempo_kit.get("losses", name, reduction="sum"))


def _profile(octave_of_frame, classes, n_octaves=3):
    """Log-probabilities (1, 12 * n_octaves, frames) with all mass on pitch class ``classes[t]`` in octave ``o[t]``."""
    lp = torch.full((1, 12 * n_octaves, len(classes)), -30.0)
    for t, (o, c) in enumerate(zip(octave_of_frame, classes)):
        lp[0, 12 * o + c, t] = 0.0
    return torch.log_softmax(lp, 1)


def test_octave_spread_is_zero_for_steady_notes_and_counts_jumps_inside_a_note():
    classes = [9, 9, 9, 9, 0, 0, 0, -1]
    steady = _profile([1, 1, 1, 1, 0, 0, 0, 2], classes)
    assert float(losses.octave_spread(steady, torch.tensor(classes), ignore_index=-1)) < 1e-9
    # a new note may change octave: A in octave 1 then C in octave 0 is still steady
    jump = _profile([1, 1, 2, 1, 0, 0, 0, 2], classes)  # frame 2 jumps an octave inside the A
    # sqrt-profiles e1, e1, e2, e1: note mean (0, 3/4, 1/4); 3 * 1/8 + 9/8 = 3/2 over 7 voiced frames
    assert float(losses.octave_spread(jump, torch.tensor(classes), ignore_index=-1)) == pytest.approx(1.5 / 7)
    # the profile is of the *target* class: energy of another class does not count
    other = steady.clone()
    other[0, 12 * 2 + 5, 2], other[0, 12 * 1 + 9, 2] = 0.0, -30.0  # frame 2's A left for F; target stays A
    assert float(losses.octave_spread(torch.log_softmax(other, 1), torch.tensor(classes), ignore_index=-1)) > 0.05
    # batch of two with per-item reduction
    batch = torch.cat([steady, jump])
    per = losses.octave_spread(batch, torch.tensor(classes), ignore_index=-1, reduction="none")
    assert per.shape == (2,) and per[0] < 1e-9 and per[1] == pytest.approx(1.5 / 7)
    # a repeated note with a rest between is two notes, each free to take its own octave
    repeated = [9, 9, -1, 9, 9]
    apart = _profile([1, 1, 0, 2, 2], repeated)
    assert float(losses.octave_spread(apart, torch.tensor(repeated), ignore_index=-1)) < 1e-9
    assert float(losses.octave_spread(apart, torch.tensor([9] * 5), ignore_index=-1)) > 0.1  # one note: a jump
    # a per-item target: item 0's notes are item 1's frames 0-3 and 4-7 swapped in class, each steady
    targets = torch.tensor([classes, [0, 0, 0, 0, 9, 9, 9, -1]])
    swapped = _profile([0, 0, 0, 0, 1, 1, 1, 2], targets[1].tolist())
    per = losses.octave_spread(torch.cat([steady, swapped]), targets, ignore_index=-1, reduction="none")
    assert per.max() < 1e-9
    # ignore_index counts as "no note" whatever its value, also a class number; None: every frame is a note frame
    as_class = losses.octave_spread(jump, torch.tensor([9, 9, 3, 9, 0, 0, 0, 3]), ignore_index=3)
    assert float(as_class) < 1e-9  # the jumping frame 2 is ignored
    assert float(losses.octave_spread(steady[..., :7], torch.tensor(classes[:7]))) < 1e-9


def test_octave_spread_gradient_and_checks():
    lp = torch.randn(2, 36, 20, requires_grad=True)
    y = torch.randint(0, 12, (20,))
    (g,) = torch.autograd.grad(losses.octave_spread(torch.log_softmax(lp, 1), y), lp)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    with pytest.raises(ValueError, match="12 pitch classes x at least 2 octaves"):
        losses.octave_spread(torch.randn(1, 12, 20), y)
    with pytest.raises(ValueError, match="pitch classes must lie in 0..11"):
        losses.octave_spread(torch.randn(1, 36, 20), torch.full((20,), 12))


def test_onset_deficit_counts_only_note_starts_that_rise_less_than_the_level():
    flux = torch.tensor([[0.0, 0.06, 0.03, 0.0, 0.12, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    starts = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    # tolerance 0: item 0 starts at 0.06 (met), 0.03 (half short), 0.12 (met, no credit for more); item 1: all short
    assert torch.allclose(losses.onset_deficit(flux, starts, level=0.06, tolerance=0, reduction="none"),
                          torch.tensor([0.5 / 3, 1.0]))
    # tolerance 1: a start is met by the rise of the frame before or after it (frame 2 by frame 1's 0.06)
    assert torch.allclose(losses.onset_deficit(flux, starts, level=0.06, reduction="none"), torch.tensor([0.0, 1.0]))
    late = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.2]])
    assert losses.onset_deficit(late, starts, level=0.2, tolerance=1) == pytest.approx(2 / 3)  # frame 4 sees frame 5
    assert losses.onset_deficit(flux, torch.zeros(6)) == 0  # no note starts: nothing to miss
    f = torch.zeros(1, 6, requires_grad=True)
    (g,) = torch.autograd.grad(losses.onset_deficit(f, starts, tolerance=0), f)
    assert (g[0, starts.bool()] < 0).all() and (g[0, ~starts.bool()] == 0).all()  # only the starts are pushed up
    with pytest.raises(ValueError, match="0/1 target"):
        losses.onset_deficit(flux, starts * 2)
    with pytest.raises(ValueError, match="tolerance must be an integer >= 0"):
        losses.onset_deficit(flux, starts, tolerance=-1)
    with pytest.raises(ValueError, match="level must be a finite number > 0"):
        losses.onset_deficit(flux, starts, level=0.0)
    with pytest.raises(ValueError, match="length 5 on its last axis"):
        losses.onset_deficit(flux, starts[:5])
