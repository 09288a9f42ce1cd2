"""tempo_kit.metrics: Fréchet distance against closed forms, mel statistics, noise baseline, CLAP score, bad input."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from tempo_kit.metrics import (ClipStats, average_spectrum_noise, clap_score, frame_change, frechet_distance,
                               mel_statistics, mel_statistics_shift)


def _gaussian(n, dim, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    return scale * torch.randn(n, dim, generator=gen, dtype=torch.float64) @ mix


def test_identical_sets_have_zero_distance():
    x = _gaussian(300, 8, 0)
    assert abs(frechet_distance(x, x)) < 1e-8


def test_shifted_set_gives_the_squared_shift():
    # Same empirical covariance, means differ by delta: FD = |delta|^2 exactly.
    x = _gaussian(200, 6, 1)
    delta = torch.tensor([0.5, -1.0, 2.0, 0.0, 0.25, 1.5], dtype=torch.float64)
    assert frechet_distance(x, x + delta) == pytest.approx(float(delta.square().sum()), rel=1e-9, abs=1e-9)


def test_scaled_and_shifted_set_matches_closed_form():
    # Y = c X + delta: cov_Y = c^2 cov_X, so FD = |mu_X (1 - c) - delta|^2 + (1 - c)^2 tr(cov_X).
    x = _gaussian(500, 5, 2) + 0.3
    c, delta = 2.5, torch.full((5,), -0.7, dtype=torch.float64)
    y = c * x + delta
    expected = (x.mean(0) * (1 - c) - delta).square().sum() + (1 - c) ** 2 * torch.cov(x.T).trace()
    assert frechet_distance(x, y, eps=0.0) == pytest.approx(float(expected), rel=1e-8)


def test_large_samples_approach_the_gaussian_closed_form():
    # Diagonal Gaussians N(m1, diag(v1)), N(m2, diag(v2)): FD = |m1 - m2|^2 + sum (sqrt v1 - sqrt v2)^2.
    gen = torch.Generator().manual_seed(3)
    m1, m2 = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([0.5, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([2.0, 1.0, 0.25])
    a = m1 + v1.sqrt() * torch.randn(200_000, 3, generator=gen)
    b = m2 + v2.sqrt() * torch.randn(200_000, 3, generator=gen)
    expected = float((m1 - m2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum())
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.03)


def test_matches_scipy_sqrtm_reference():
    a, b = _gaussian(400, 7, 4), _gaussian(300, 7, 5, scale=1.7) + 0.2
    mu_a, mu_b = a.mean(0).numpy(), b.mean(0).numpy()
    ca, cb = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    covmean = scipy.linalg.sqrtm(ca @ cb).real
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean)
    assert frechet_distance(a, b, eps=0.0) == pytest.approx(float(expected), rel=1e-7)


def test_rank_deficient_covariances_stay_finite_and_nonnegative():
    a, b = _gaussian(10, 40, 6), _gaussian(12, 40, 7)  # fewer samples than dimensions
    d = frechet_distance(a, b)
    assert math.isfinite(d) and d > 0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_distance_grows_with_the_shift():
    x = _gaussian(100, 4, 8)
    dists = [frechet_distance(x, _gaussian(100, 4, 9) + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert dists == sorted(dists)


@pytest.mark.parametrize("a_shape,b_shape,match", [
    ((10,), (10, 3), "shape"), ((10, 3), (10, 4), "sizes differ"), ((1, 3), (10, 3), "at least 2"),
])
def test_frechet_distance_rejects_bad_shapes(a_shape, b_shape, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(torch.randn(a_shape), torch.randn(b_shape))


def test_frechet_distance_rejects_nonfinite_and_negative_eps():
    a = torch.randn(10, 3)
    bad = a.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(a, bad)
    with pytest.raises(ValueError, match="eps"):
        frechet_distance(a, a, eps=-1.0)


def test_mel_statistics_values_and_shape():
    t = torch.arange(64, dtype=torch.float32)
    mel = torch.zeros(2, 8, 64)
    mel[0, :4] = 3.0                       # constant level in the low band
    mel[1, 4:] = torch.sin(t)              # oscillation in the high band
    emb = mel_statistics(mel, n_bands=2)
    assert emb.shape == (2, 6) and emb.dtype == torch.float64
    means, stds, dstds = emb[:, :2], emb[:, 2:4], emb[:, 4:]
    assert means[0].tolist() == pytest.approx([3.0, 0.0])
    assert stds[0].tolist() == pytest.approx([0.0, 0.0]) and dstds[0].tolist() == pytest.approx([0.0, 0.0])
    assert stds[1, 1] == pytest.approx(float(torch.sin(t).double().std()))
    assert dstds[1, 1] == pytest.approx(float(torch.sin(t).double().diff().std()))
    assert stds[1, 0] == 0.0


def test_mel_statistics_uneven_bands_and_errors():
    assert mel_statistics(torch.randn(3, 10, 5), n_bands=3).shape == (3, 9)
    with pytest.raises(ValueError, match="n_bands"):
        mel_statistics(torch.randn(3, 4, 5), n_bands=5)
    with pytest.raises(ValueError, match="shape"):
        mel_statistics(torch.randn(4, 5))
    with pytest.raises(ValueError, match="3 frames"):
        mel_statistics(torch.randn(2, 4, 2), n_bands=2)


def test_mel_statistics_shift_splits_the_distance_and_names_the_part_that_moved():
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(400, 3, 16, 32, generator=gen)  # 400 clips, 16 bins, 32 frames
    ref_mel = ref[:, 0]
    flat = ref[:, 1] * 0.5 + 0.1                      # less spread over time, a slightly higher level
    a, b = (ClipStats.from_embeddings(mel_statistics(m, n_bands=4)) for m in (flat, ref_mel))
    shift = mel_statistics_shift(a, b)
    emb_a, emb_b = mel_statistics(flat, n_bands=4), mel_statistics(ref_mel, n_bands=4)
    assert shift["distance"] == pytest.approx(frechet_distance(emb_a, emb_b), rel=1e-6)
    assert shift["mean_term"] == pytest.approx(float((emb_a.mean(0) - emb_b.mean(0)).square().sum()))
    centred = emb_a - emb_a.mean(0) + emb_b.mean(0)  # a's spread around b's mean: the covariance term alone
    assert shift["covariance_term"] == pytest.approx(frechet_distance(centred, emb_b), rel=1e-6)
    z = (emb_a.mean(0) - emb_b.mean(0)) / emb_b.std(0)
    assert [shift[k] for k in ("level", "spread", "change")] == pytest.approx(z.view(3, 4).mean(1).tolist(), rel=1e-3)
    assert shift["level"] > 0 and shift["spread"] < -3 and shift["change"] < -3
    with pytest.raises(ValueError, match="3 \\* n_bands"):
        mel_statistics_shift(a, ClipStats.from_embeddings(torch.randn(10, 9)))


def test_frame_change_values_and_errors():
    mel = torch.zeros(3, 4, 10)
    mel[1, :, 5:] = 1.0                                       # one step of 1 in every bin: 1 of 9 differences
    mel[2] = 0.1 * torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    change = frame_change(mel)
    assert change.shape == (3,) and change.dtype == torch.float64
    assert change[0] == 0.0 and change[1] == pytest.approx(1 / 9)
    assert change[2] == pytest.approx(float(mel[2].double().diff().pow(2).mean()))
    with pytest.raises(ValueError, match="shape"):
        frame_change(torch.zeros(4, 10))
    with pytest.raises(ValueError, match="2 frames"):
        frame_change(torch.zeros(1, 4, 1))


def test_average_spectrum_noise_matches_reference_band_moments():
    gen = torch.Generator().manual_seed(0)
    level = torch.linspace(-1, 0.5, 6)
    spread = torch.linspace(0.05, 0.4, 6)
    ref = level[None, :, None] + spread[None, :, None] * torch.randn(50, 6, 32, generator=gen)
    noise = average_spectrum_noise(ref, 200, generator=torch.Generator().manual_seed(1))
    assert noise.shape == (200, 6, 32) and noise.dtype == torch.float32
    flat, ref_flat = noise.transpose(0, 1).flatten(1), ref.transpose(0, 1).flatten(1)
    assert torch.allclose(flat.mean(1), ref_flat.mean(1), atol=0.02)   # 4 standard errors at spread 0.4
    assert torch.allclose(flat.std(1), ref_flat.std(1), rtol=0.03)
    again = average_spectrum_noise(ref, 200, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise, again)


def test_average_spectrum_noise_errors():
    with pytest.raises(ValueError, match="shape"):
        average_spectrum_noise(torch.randn(6, 32), 3)
    with pytest.raises(ValueError, match="n must"):
        average_spectrum_noise(torch.randn(2, 6, 32), 0)


def test_clap_score_is_the_paired_cosine():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    t = torch.tensor([[3.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    assert clap_score(a, t).tolist() == pytest.approx([1.0, -1.0, math.sqrt(0.5)])
    assert torch.isfinite(clap_score(torch.zeros(1, 2), t[:1])).all()
    with pytest.raises(ValueError, match="shape"):
        clap_score(a, t[:2])


# -- per-clip statistics, paired bootstrap, intervals, verdicts ------------------------------------------------------------
from tempo_kit.metrics import ClipStats, bootstrap_counts, bootstrap_frechet, interval, verdict  # noqa: E402


def _sets(seed=0, n=40, dim=5, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return a, torch.randn(n, dim, generator=g, dtype=torch.float64) + shift


def test_clip_stats_distance_equals_frechet_distance_of_the_embeddings():
    a, b = _sets()
    assert float(bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(b))) == pytest.approx(
        frechet_distance(a, b), rel=1e-12)
    # Frame embeddings: the distance pools every frame of every clip.
    g = torch.Generator().manual_seed(1)
    fa, fb = torch.randn(6, 9, 3, generator=g), torch.randn(6, 9, 3, generator=g) * 1.5
    got = float(bootstrap_frechet(ClipStats.from_embeddings(fa), ClipStats.from_embeddings(fb)))
    assert got == pytest.approx(frechet_distance(fa.reshape(-1, 3), fb.reshape(-1, 3)), rel=1e-10)


def test_bootstrap_resamples_whole_clips_paired_across_sets():
    a, b = _sets(n=12)
    counts = bootstrap_counts(12, 5, generator=torch.Generator().manual_seed(3))
    assert counts.shape == (5, 12) and torch.all(counts.sum(1) == 12)
    got = bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(b), counts)
    for row, value in zip(counts, got):
        idx = torch.repeat_interleave(torch.arange(12), row.long())  # the same clips drawn from both sets
        assert float(value) == pytest.approx(frechet_distance(a[idx], b[idx]), rel=1e-10)


def test_bootstrap_against_a_whole_reference_resamples_one_set_only():
    a, b = _sets(n=12)
    ref = b[:7]  # another size: not paired clip by clip
    counts = bootstrap_counts(12, 4, generator=torch.Generator().manual_seed(5))
    got = bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(ref), counts, whole_b=True)
    for row, value in zip(counts, got):
        idx = torch.repeat_interleave(torch.arange(12), row.long())
        assert float(value) == pytest.approx(frechet_distance(a[idx], ref), rel=1e-10)
    with pytest.raises(ValueError, match=r"counts must have shape \(n_boot, 12\)"):
        bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(ref), counts[:, :7], whole_b=True)


def test_two_sample_bootstrap_resamples_each_set_by_its_own_counts():
    a, b = _sets(n=12)
    ref = b[:7]  # unpaired: other clips, another size
    counts = bootstrap_counts(12, 4, generator=torch.Generator().manual_seed(5), groups=[k // 3 for k in range(12)])
    counts_b = bootstrap_counts(7, 4, generator=torch.Generator().manual_seed(6))
    got = bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(ref), counts, counts_b=counts_b)
    for row, row_b, value in zip(counts, counts_b, got):
        ia = torch.repeat_interleave(torch.arange(12), row.long())
        ib = torch.repeat_interleave(torch.arange(7), row_b.long())
        assert float(value) == pytest.approx(frechet_distance(a[ia], ref[ib]), rel=1e-10)
    with pytest.raises(ValueError, match=r"counts_b \(n_boot, 7\)"):
        bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(ref), counts, counts_b=counts_b[:2])
    with pytest.raises(ValueError, match="either whole_b or counts_b"):
        bootstrap_frechet(ClipStats.from_embeddings(a), ClipStats.from_embeddings(ref), counts, counts_b=counts_b,
                          whole_b=True)


def test_clip_stats_concat_and_errors():
    a, b = _sets(n=10)
    whole, parts = ClipStats.from_embeddings(a), ClipStats.concat([ClipStats.from_embeddings(a[:4]),
                                                                   ClipStats.from_embeddings(a[4:])])
    assert torch.equal(whole.outer, parts.outer) and len(parts) == 10 and parts.dim == 5
    with pytest.raises(ValueError, match="NaN"):
        ClipStats.from_embeddings(torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        ClipStats.from_embeddings(torch.zeros(3))
    with pytest.raises(ValueError, match="paired"):
        bootstrap_frechet(whole, ClipStats.from_embeddings(b[:5]), bootstrap_counts(10, 2))
    with pytest.raises(ValueError, match="sizes differ"):
        bootstrap_frechet(whole, ClipStats.from_embeddings(b[:, :3]))
    with pytest.raises(ValueError, match="n >= 2"):
        bootstrap_counts(1, 10)


def test_clip_stats_fold_pools_the_draws_of_each_reference_clip():
    # 3 draws of 4 clips, draw-major: clip d * 4 + i belongs to reference clip i. Folded, clip i's statistics are those
    # of its 3 frame sets stacked, and the pooled moments over all clips are unchanged.
    emb = torch.randn(12, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    folded = ClipStats.from_embeddings(emb).fold(3)
    assert len(folded) == 4 and folded.count.tolist() == [15.0] * 4
    own = ClipStats.from_embeddings(torch.cat([emb[1], emb[5], emb[9]])[None])
    assert torch.allclose(folded.total[1], own.total[0]) and torch.allclose(folded.outer[1], own.outer[0])
    for x, y in zip(folded.moments(), ClipStats.from_embeddings(emb).moments()):
        assert torch.allclose(x, y)
    with pytest.raises(ValueError, match="groups of 5"):
        ClipStats.from_embeddings(emb).fold(5)


def test_basic_interval_covers_the_true_distance_at_about_the_nominal_rate():
    # 60 repetitions of a 100-clip experiment with a known population distance (0.25^2 * 4 dims = 0.25): the 95%
    # bias-corrected bootstrap interval should contain it in most of them (the plain percentile interval, shifted up by
    # the resampling bias, misses far more often).
    truth, covered, percentile_covered = 4 * 0.25**2, 0, 0
    for seed in range(60):
        a, b = _sets(seed=seed, n=100, dim=4, shift=0.25)
        sa, sb = ClipStats.from_embeddings(a), ClipStats.from_embeddings(b)
        point = float(bootstrap_frechet(sa, sb))
        samples = bootstrap_frechet(sa, sb, bootstrap_counts(100, 200, generator=torch.Generator().manual_seed(seed)))
        lo, hi = interval(samples, point=point)
        covered += lo <= truth <= hi
        plo, phi = interval(samples)
        percentile_covered += plo <= truth <= phi
    assert covered >= 50 and covered > percentile_covered


def test_interval_and_verdict():
    s = torch.arange(1, 101, dtype=torch.float64)
    lo, hi = interval(s, level=0.9)
    assert lo == pytest.approx(5.95) and hi == pytest.approx(95.05)
    assert interval(s, point=10.0, level=0.9) == (0.0, pytest.approx(55.05))  # bias: median 50 - 10
    assert verdict(0.9, 1.1, at_most=1.15) == "MET"
    assert verdict(1.2, 1.3, at_most=1.15) == "NOT MET"
    assert verdict(1.0, 1.3, at_most=1.15) == "UNDECIDED"
    assert verdict(16, 20, at_least=15) == "MET" and verdict(10, 14, at_least=15) == "NOT MET"
    assert verdict(14, 16, at_least=15) == "UNDECIDED"
    with pytest.raises(ValueError, match="exactly one"):
        verdict(0, 1)
    with pytest.raises(ValueError, match="reversed"):
        verdict(2, 1, at_most=1)
    with pytest.raises(ValueError, match="level"):
        interval(s, level=1.5)
    for low, high, target in ((math.nan, math.nan, 1.0), (0.5, 0.7, math.nan), (0.5, math.inf, 1.0)):
        with pytest.raises(ValueError, match="a verdict needs a finite interval and target"):
            verdict(low, high, at_most=target)  # was UNDECIDED
    for bad in (torch.tensor([math.nan, 1.0, 2.0]), torch.tensor([])):
        with pytest.raises(ValueError, match="an interval needs finite samples"):
            interval(bad)


def test_metrics_take_numpy_and_refuse_nan_and_bad_options():
    from tempo_kit.metrics import bootstrap_counts, bootstrap_frechet

    mel = np.random.default_rng(0).normal(size=(4, 8, 16))
    torch.testing.assert_close(mel_statistics(mel, n_bands=4), mel_statistics(torch.as_tensor(mel), n_bands=4))
    assert frame_change(mel).shape == (4,) and average_spectrum_noise(mel, 2).shape == (2, 8, 16)
    assert clap_score(mel[:, 0], mel[:, 1]).shape == (4,)
    nan = mel.copy()
    nan[1, 2, 3] = math.nan
    for call in (lambda: mel_statistics(nan), lambda: frame_change(nan), lambda: average_spectrum_noise(nan, 2),
                 lambda: clap_score(nan[:, 2], mel[:, 1])):
        with pytest.raises(ValueError, match="NaN"):
            call()
    with pytest.raises(TypeError, match="n_bands must be an integer"):
        mel_statistics(mel, n_bands=4.0)
    with pytest.raises(TypeError, match="n_boot must be an integer"):
        bootstrap_counts(4, 2.5)
    a = ClipStats.from_embeddings(torch.randn(6, 3))
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        bootstrap_frechet(a, a, eps=-1.0)  # was a negative distance
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        bootstrap_frechet(a, a, bootstrap_counts(6, 2), chunk=0)
    with pytest.raises(TypeError, match="draws must be an integer"):
        a.fold(2.0)
    with pytest.raises(ValueError, match="all of one embedding size"):
        ClipStats.concat([a, ClipStats.from_embeddings(torch.randn(6, 2))])
    with pytest.raises(ValueError, match="covariance is not finite"):
        frechet_distance(*(1e200 * torch.randn(2, 6, 3, dtype=torch.float64)))  # was torch's LinAlgError
    with pytest.raises(ValueError, match="embeddings of size 0"):
        frechet_distance(torch.zeros(4, 0), torch.zeros(4, 0))


def test_cluster_bootstrap_resamples_whole_groups():
    groups = ["a", "a", "b", "c", "c", "c"]
    counts = bootstrap_counts(6, 50, generator=torch.Generator().manual_seed(0), groups=groups)
    assert counts.shape == (50, 6)
    # every clip of a group is drawn as often as its group; clips of one group move together
    assert torch.equal(counts[:, 0], counts[:, 1]) and torch.equal(counts[:, 3], counts[:, 5])
    assert set(torch.unique(counts[:, 2]).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    with pytest.raises(ValueError, match="one label per clip"):
        bootstrap_counts(6, 5, groups=groups[:3])
    with pytest.raises(ValueError, match="2 groups"):
        bootstrap_counts(3, 5, groups=["a"] * 3)
    # the interval's bias comes from the median: one wild resample does not shift the whole interval
    lo, hi = interval(torch.tensor([1.0, 2.0, 3.0, 1e6]), point=2.0)
    assert lo == pytest.approx(1.075)
