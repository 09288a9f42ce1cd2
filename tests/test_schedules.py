"""Tests for tempo_kit.schedules: Karras grid, teacher grid, decoding steps, user sigmas, sigma distributions."""

import math

import pytest
import torch

from tempo_kit.schedules import (KarrasSchedule, LogNormalSigma, decoding_sigmas, karras_sigmas, teacher_grid,
                                 user_sigmas)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("n", [1, 2, 18, 40])
def test_karras_sigmas_monotone_and_end_at_zero(n):
    s = karras_sigmas(n)
    assert s.shape == (n + 1,)
    assert s[-1] == 0
    assert s[0] == pytest.approx(80.0)
    assert bool((s[1:] < s[:-1]).all())
    if n > 1:
        assert s[-2] == pytest.approx(0.002)


def test_karras_sigmas_match_edm_formula():
    n, rho = 5, 7.0
    s = karras_sigmas(n, sigma_min=0.01, sigma_max=10.0, rho=rho)
    expected = [(10 ** (1 / rho) + i / (n - 1) * (0.01 ** (1 / rho) - 10 ** (1 / rho))) ** rho for i in range(n)]
    torch.testing.assert_close(s[:-1], torch.tensor(expected, dtype=torch.float64))


def test_karras_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n \\(steps\\) must be >= 1, got 0"):
        karras_sigmas(0)
    with pytest.raises(TypeError, match="n \\(steps\\) must be an integer, got 2.5"):
        karras_sigmas(2.5)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(4, sigma_min=1.0, sigma_max=0.5)


def test_schedule_coordinate_round_trip_and_sampling_range():
    sched = KarrasSchedule()
    u = torch.linspace(0, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(sched.u_of(sched.sigma_at(u)), u)
    draws = sched.sample(1000, generator=torch.Generator().manual_seed(0))
    assert draws.min() >= sched.sigma_min and draws.max() <= sched.sigma_max
    # p_inf is uniform in the Karras coordinate: the median draw sits at u = 0.5
    assert float(sched.u_of(draws.double()).median()) == pytest.approx(0.5, abs=0.05)


def test_lognormal_sigma_moments():
    draws = LogNormalSigma(p_mean=-1.2, p_std=1.2).sample(20000, generator=torch.Generator().manual_seed(0))
    assert float(draws.log().mean()) == pytest.approx(-1.2, abs=0.03)
    assert float(draws.log().std()) == pytest.approx(1.2, abs=0.03)


def test_teacher_grid_is_the_karras_grid():
    grid = teacher_grid(20)
    torch.testing.assert_close(grid, karras_sigmas(20))
    assert grid.shape == (21,) and grid[-1] == 0


@pytest.mark.parametrize("steps, js", [(1, [0, 20]), (2, [0, 10, 20]), (4, [0, 5, 10, 15, 20]),
                                       (8, [0, 3, 5, 8, 10, 13, 15, 18, 20])])
def test_decoding_sigmas_pick_spec_indices(steps, js):
    # spec 7.2: j_k = floor(k N / T + 0.5); grid index j (0 = clean) is grid[N - j]
    grid = teacher_grid(20)
    picked = decoding_sigmas(steps, grid=grid)
    expected = grid[[20 - j for j in reversed(js)]]
    torch.testing.assert_close(picked, expected)
    assert picked[-1] == 0 and picked[0] == grid[0]


def test_decoding_sigmas_rejects_too_many_steps():
    with pytest.raises(ValueError, match=r"\[1, 20\]"):
        decoding_sigmas(21, grid=teacher_grid(20))
    with pytest.raises(ValueError):
        decoding_sigmas(0, grid=teacher_grid(20))


def test_user_sigmas_appends_zero_and_validates():
    torch.testing.assert_close(user_sigmas([3.0, 1.0]), torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(user_sigmas(torch.tensor([2.0, 0.0])), torch.tensor([2.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="empty"):
        user_sigmas([])
    with pytest.raises(ValueError, match="strictly decreasing"):
        user_sigmas([1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="strictly decreasing"):
        user_sigmas([1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        user_sigmas([1.0, -0.5, 0.0])
    with pytest.raises(ValueError, match="finite"):
        user_sigmas([math.inf, 1.0])
    with pytest.raises(ValueError, match="finite"):
        user_sigmas([math.nan, 1.0])


def test_jump_refine_schedule_jumps_once_then_refines_geometrically():
    from tempo_kit.schedules import JumpRefineSchedule

    s = JumpRefineSchedule(sigma_max=80.0, refine_max=0.4, refine_min=0.025)
    assert s.sigmas(1).tolist() == [80.0, 0.0] and s.sigmas(2).tolist() == [80.0, 0.4, 0.0]
    four = s.sigmas(4)
    assert four[0] == 80 and four[-1] == 0
    assert torch.allclose(four[1:4], torch.tensor([0.4, 0.1, 0.025], dtype=torch.float64))
    ratios = four[1:4].log().diff()  # evenly spaced in log sigma
    assert torch.allclose(ratios, ratios[:1].expand(2)) and (four.diff() < 0).all()
    with pytest.raises(ValueError, match="refine_min < refine_max < sigma_max"):
        JumpRefineSchedule(refine_max=0.1, refine_min=0.2)
    with pytest.raises(ValueError, match="refine_min < refine_max < sigma_max"):
        JumpRefineSchedule(sigma_max=0.2, refine_max=0.3)
    with pytest.raises(ValueError, match="refine_min < refine_max"):
        JumpRefineSchedule(refine_max=0.1, refine_min=0.1)  # a level repeated is no step
    with pytest.raises((ValueError, TypeError)):
        s.sigmas(0)
    assert JumpRefineSchedule().sigmas(4)[3] == 0.015  # the ends exactly as given
    with pytest.raises(TypeError, match="teacher grid"):
        teacher_grid(20, schedule=s)
