"""Generation-quality metrics: Fréchet distances between embedding sets, a mel-statistics embedding, CLAP score and a
noise baseline.

* :func:`frechet_distance` - the Fréchet (2-Wasserstein) distance between Gaussians fitted to two embedding sets; on
  audio embeddings this is the Fréchet Audio Distance (FAD, Kilgour et al. 2019).
* :func:`mel_statistics` - a per-clip embedding of a mel clip in model space (per-band level, spread and frame-to-frame
  change), so an FAD can be computed without any learned model.
* :func:`mel_statistics_shift` - where a Fréchet distance on :func:`mel_statistics` comes from: its mean term, and
  how far the mean band level, spread and change of one set lie from another's, in the other's standard deviations.
* :func:`frame_change` - per-clip mean squared change of every mel bin from one frame to the next: texture the
  band-averaged :func:`mel_statistics` smooths away (real renders ~0.002 in model units; grainy samples several times
  that).
* :func:`clap_score` - cosine similarity of paired audio and caption embeddings (the CLAP score of MusicLDM / Presto).
* :func:`average_spectrum_noise` - baseline "clips" of noise with the reference set's average spectrum, which every
  trained generator should beat by a wide margin.
* :class:`ClipStats`, :func:`bootstrap_counts`, :func:`bootstrap_frechet`, :func:`interval`, :func:`verdict` - the
  paired bootstrap behind every FAD interval and verdict of the benchmarks: per-clip sufficient statistics (so a clip
  with many frame embeddings is resampled as one unit), resampled clip indices shared by every system and the
  reference, percentile intervals, and a verdict only when the interval decides it.

All functions take and return torch tensors (or floats) and compute in float64 where precision matters.
"""

from __future__ import annotations

import math

import attrs
import torch
import torch.nn.functional as F

from .utils import check_int, check_number

__all__ = ["frechet_distance", "mel_statistics", "mel_statistics_shift", "MEL_STATISTICS_GROUPS", "frame_change", "average_spectrum_noise", "clap_score", "ClipStats", "bootstrap_counts",
           "bootstrap_frechet", "interval", "verdict", "VERDICTS"]


def _check_embeddings(emb: torch.Tensor, name: str) -> torch.Tensor:
    emb = torch.as_tensor(emb)
    if emb.ndim != 2:
        raise ValueError(f"{name} must have shape (n, dim), got {tuple(emb.shape)}")
    if emb.shape[1] < 1:
        raise ValueError(f"{name} has embeddings of size 0, got shape {tuple(emb.shape)}")
    if emb.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 embeddings to estimate a covariance, got {emb.shape[0]}")
    emb = emb.detach().to(torch.float64)
    if not torch.isfinite(emb).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return emb


def _check_mel(mel, name: str, min_frames: int) -> torch.Tensor:
    """``mel`` as a float64 tensor ``(batch, n_mels, frames >= min_frames)`` with finite values (numpy arrays too)."""
    mel = torch.as_tensor(mel)
    if mel.ndim != 3:
        raise ValueError(f"{name} must have shape (batch, n_mels, frames), got {tuple(mel.shape)}")
    if mel.shape[2] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frames, got {mel.shape[2]}")
    mel = mel.detach().to(torch.float64)
    if not torch.isfinite(mel).all():
        raise ValueError(f"{name} contains {int((~torch.isfinite(mel)).sum())} NaN or infinite values")
    return mel


def frechet_distance(emb_a: torch.Tensor, emb_b: torch.Tensor, *, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (FAD when the embeddings describe audio).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)`` with unbiased covariances (Heusel et al.
    2017, Eq. 6; Kilgour et al. 2019 for audio). The matrix square roots are taken by symmetric eigendecomposition in
    float64, which stays real and stable when a covariance is singular (fewer clips than dimensions).

    Parameters
    ----------
    emb_a, emb_b : Tensor, shape (n_a, dim) and (n_b, dim)
        Embeddings of the two sets (e.g. generated and held-out clips); ``n >= 2`` each. The estimate is biased upward
        for small sets, so compare distances computed with the same set sizes.
    eps : float
        ``eps * I`` is added to both covariances (regularisation of rank-deficient estimates).

    Returns
    -------
    float
        The distance (squared units of the embedding), >= 0 up to rounding.
    """
    a, b = _check_embeddings(emb_a, "emb_a"), _check_embeddings(emb_b, "emb_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"embedding sizes differ: emb_a has dim {a.shape[1]}, emb_b has dim {b.shape[1]}")
    eps = check_number(eps, "eps")
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    return float(_frechet_moments(a.mean(0), cov_a, b.mean(0), cov_b, eps))


#: The error of a covariance that overflows float64 (embeddings of ~1e150 and beyond).
_OVERFLOW = "the embeddings' covariance is not finite: values too large for float64 statistics"


def _sqrt_psd(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a (batch of) positive semi-definite matrices, by eigendecomposition."""
    if not torch.isfinite(cov).all():
        raise ValueError(_OVERFLOW)
    values, vectors = torch.linalg.eigh(cov)
    return (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)


def _frechet_moments(mu_a, cov_a, mu_b, cov_b, eps: float, root_b: torch.Tensor | None = None) -> torch.Tensor:
    """Fréchet distance of two Gaussians given by their moments (batched over leading dimensions).

    ``root_b``: ``(cov_b + eps I)^1/2`` when already computed (a fixed reference); the cross term is then taken as
    ``tr((S_b^1/2 S_a S_b^1/2)^1/2)``, the same value (both matrices are similar to ``S_a S_b``) with one
    eigendecomposition fewer per call."""
    eye = eps * torch.eye(cov_a.shape[-1], dtype=cov_a.dtype)
    cov_a, cov_b = cov_a + eye, cov_b + eye
    root, other = (_sqrt_psd(cov_a), cov_b) if root_b is None else (root_b, cov_a)
    try:
        cross = torch.linalg.eigvalsh(root @ other @ root).clamp_min(0).sqrt().sum(-1)
    except torch.linalg.LinAlgError:  # an overflowing covariance (embeddings of ~1e150 and beyond)
        raise ValueError(_OVERFLOW) from None
    trace = torch.diagonal(cov_a, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(cov_b, dim1=-2, dim2=-1).sum(-1)
    return (mu_a - mu_b).square().sum(-1) + trace - 2 * cross


@attrs.frozen(eq=False)
class ClipStats:
    """Per-clip sufficient statistics of embeddings: frame count, sum and sum of outer products of each clip.

    A set of clips is then a weighted sum of its rows, so a bootstrap that resamples *clips* (each with all of its
    frame embeddings, the unit that is independent) costs one matrix product instead of re-embedding anything.

    Attributes
    ----------
    count : Tensor, shape (n,), float64
        Embeddings per clip (1 for a per-clip embedding, the number of frames for a frame embedding).
    total : Tensor, shape (n, dim), float64
    outer : Tensor, shape (n, dim, dim), float64
    """

    count: torch.Tensor
    total: torch.Tensor
    outer: torch.Tensor

    @classmethod
    def from_embeddings(cls, emb: torch.Tensor) -> "ClipStats":
        """From ``(n, dim)`` per-clip embeddings or ``(n, frames, dim)`` frame embeddings (float64 inside)."""
        emb = torch.as_tensor(emb).detach().to(torch.float64)
        if emb.ndim == 2:
            emb = emb[:, None]
        if emb.ndim != 3 or emb.shape[0] < 1 or emb.shape[1] < 1:
            raise ValueError(f"embeddings must have shape (n, dim) or (n, frames, dim), got {tuple(emb.shape)}")
        if not torch.isfinite(emb).all():
            raise ValueError("embeddings contain NaN or infinite values")
        count = torch.full((emb.shape[0],), float(emb.shape[1]), dtype=torch.float64)
        return cls(count=count, total=emb.sum(1), outer=emb.transpose(1, 2) @ emb)

    @classmethod
    def concat(cls, parts: list["ClipStats"]) -> "ClipStats":
        """The clips of several :class:`ClipStats` in order (e.g. embedded batch by batch)."""
        if not parts or len({p.dim for p in parts}) != 1:
            raise ValueError(f"concat needs at least one ClipStats, all of one embedding size; got sizes "
                             f"{[p.dim for p in parts]}")
        return cls(count=torch.cat([p.count for p in parts]), total=torch.cat([p.total for p in parts]),
                   outer=torch.cat([p.outer for p in parts]))

    def fold(self, draws: int) -> "ClipStats":
        """Pool clips ``d * n + i`` (``d < draws``) into clip ``i``: ``draws`` generated clips per reference clip
        become one unit that a paired bootstrap resamples together with its reference clip."""
        draws = check_int(draws, "draws", low=1)
        if len(self) % draws:
            raise ValueError(f"cannot fold {len(self)} clips into groups of {draws} draws")
        n = len(self) // draws
        return ClipStats(count=self.count.reshape(draws, n).sum(0), total=self.total.reshape(draws, n, -1).sum(0),
                         outer=self.outer.reshape(draws, n, self.dim, self.dim).sum(0))

    def __len__(self) -> int:
        return self.count.shape[0]

    @property
    def dim(self) -> int:
        return self.total.shape[1]

    def moments(self, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``(..., dim)`` and unbiased covariance ``(..., dim, dim)`` of the pooled embeddings.

        ``weights`` ``(..., n)``: how often each clip is taken (bootstrap counts); default once each.
        """
        w = torch.ones(len(self), dtype=torch.float64) if weights is None else weights.to(torch.float64)
        n = w @ self.count
        if (n < 2).any():
            raise ValueError("a covariance needs at least 2 embeddings in every resample")
        mean = (w @ self.total) / n[..., None]
        second = (w @ self.outer.flatten(1)).reshape(*w.shape[:-1], self.dim, self.dim)
        cov = (second - n[..., None, None] * mean[..., :, None] * mean[..., None, :]) / (n - 1)[..., None, None]
        return mean, cov


def bootstrap_counts(n: int, n_boot: int, *, generator: torch.Generator | None = None,
                     groups=None) -> torch.Tensor:
    """Resampling counts ``(n_boot, n)``: row ``b`` says how often clip ``i`` is drawn in resample ``b``.

    Use the *same* counts for every system and for the reference when clip ``i`` of each is paired (same tags, same
    initial noise): the paired bootstrap, whose ratio intervals cancel the variation shared by both sets. With
    ``groups`` (a label per clip, e.g. the piece a clip was cut from) whole groups are resampled and every clip of a
    drawn group is taken (the cluster bootstrap): clips of one piece are not independent, and resampling them one by
    one would give intervals that are too narrow.
    """
    n, n_boot = check_int(n, "n"), check_int(n_boot, "n_boot")
    if n < 2 or n_boot < 1:
        raise ValueError(f"need n >= 2 clips and n_boot >= 1 resamples, got n={n}, n_boot={n_boot}")
    if groups is None:
        idx = torch.randint(n, (n_boot, n), generator=generator)
        return torch.zeros(n_boot, n, dtype=torch.float64).scatter_add_(1, idx, torch.ones(n_boot, n, dtype=torch.float64))
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"groups must give one label per clip: {len(groups)} labels for {n} clips")
    labels = {g: k for k, g in enumerate(dict.fromkeys(groups))}
    member = torch.tensor([labels[g] for g in groups])
    m = len(labels)
    if m < 2:
        raise ValueError("the cluster bootstrap needs at least 2 groups")
    idx = torch.randint(m, (n_boot, m), generator=generator)
    per_group = torch.zeros(n_boot, m, dtype=torch.float64).scatter_add_(1, idx, torch.ones(n_boot, m, dtype=torch.float64))
    return per_group[:, member]


def bootstrap_frechet(a: ClipStats, b: ClipStats, counts: torch.Tensor | None = None, *, eps: float = 1e-6,
                      chunk: int = 32, whole_b: bool = False, counts_b: torch.Tensor | None = None) -> torch.Tensor:
    """Fréchet distance of ``a`` to ``b`` for each row of ``counts`` (paired: clip ``i`` of both takes weight
    ``counts[:, i]``); with ``counts=None`` the plain distance of the full sets (shape ``()``).

    Parameters
    ----------
    a, b : ClipStats
        Same number of clips when ``counts`` is given (unless ``whole_b`` or ``counts_b``); same embedding size.
    counts : Tensor, shape (n_boot, n), optional
        From :func:`bootstrap_counts`.
    whole_b : bool
        Resample ``a`` only and take all of ``b`` in every resample: a fixed reference that is not paired with ``a``
        clip by clip (e.g. every held-out clip against a few generated ones).
    counts_b : Tensor, shape (n_boot, len(b)), optional
        ``b``'s own resampling counts, drawn independently of ``counts`` (the two-sample bootstrap: ``a`` and ``b``
        are unpaired sets, each with its own clusters, e.g. real clips of some pieces against recordings of others).
    eps : float
        Covariance regularisation (as :func:`frechet_distance`).
    chunk : int
        Resamples evaluated at once (memory: ``chunk * dim^2`` float64 per set).

    Returns
    -------
    Tensor, shape (n_boot,) or (), float64
    """
    if a.dim != b.dim:
        raise ValueError(f"embedding sizes differ: {a.dim} vs {b.dim}")
    eps, chunk = check_number(eps, "eps"), check_int(chunk, "chunk", low=1)
    if counts is None:
        return _frechet_moments(*a.moments(), *b.moments(), eps)
    if counts_b is not None:
        if whole_b:
            raise ValueError("give either whole_b or counts_b, not both")
        if counts.ndim != 2 or tuple(counts.shape)[1:] != (len(a),) or tuple(counts_b.shape) != (len(counts), len(b)):
            raise ValueError(f"two-sample bootstrap needs counts (n_boot, {len(a)}) and counts_b (n_boot, {len(b)}); "
                             f"got {tuple(counts.shape)} and {tuple(counts_b.shape)}")
        return torch.cat([_frechet_moments(*a.moments(c), *b.moments(cb), eps)
                          for c, cb in zip(counts.split(chunk), counts_b.split(chunk))])
    if whole_b:
        if counts.ndim != 2 or counts.shape[1] != len(a):
            raise ValueError(f"counts must have shape (n_boot, {len(a)}), got {tuple(counts.shape)}")
        mu_b, cov_b = b.moments()
        root_b = _sqrt_psd(cov_b + eps * torch.eye(cov_b.shape[-1], dtype=cov_b.dtype))
        return torch.cat([_frechet_moments(*a.moments(c), mu_b, cov_b, eps, root_b) for c in counts.split(chunk)])
    if counts.ndim != 2 or counts.shape[1] != len(a) or len(a) != len(b):
        raise ValueError(f"paired bootstrap needs counts (n_boot, n) and n clips in both sets; got counts "
                         f"{tuple(counts.shape)}, {len(a)} and {len(b)} clips")
    return torch.cat([_frechet_moments(*a.moments(c), *b.moments(c), eps) for c in counts.split(chunk)])


def interval(samples: torch.Tensor, *, point: float | None = None, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval ``(low, high)`` at confidence ``level``.

    Without ``point``: the percentile interval ``(q_low, q_high)`` of the samples. With ``point`` (the estimate on
    the full sample): the percentile interval shifted by the bootstrap's bias, ``(q_low - b, q_high - b)`` with
    ``b = median(samples) - point``, clamped at 0. A resample repeats clips, which biases a Fréchet distance upwards
    (fewer distinct clips); unshifted, the interval can miss the estimate itself at small n.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    samples = torch.as_tensor(samples, dtype=torch.float64).flatten()
    if samples.numel() == 0 or not torch.isfinite(samples).all():
        raise ValueError(f"an interval needs finite samples, got {samples.numel()} with "
                         f"{int((~torch.isfinite(samples)).sum())} NaN or infinite")
    if point is not None and not math.isfinite(point):
        raise ValueError(f"point must be finite, got {point}")
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    q_low, q_high = torch.quantile(samples, q).tolist()
    if point is None:
        return q_low, q_high
    bias = float(samples.median()) - point  # the median: ratio samples can have a heavy upper tail
    return max(q_low - bias, 0.0), max(q_high - bias, 0.0)


#: The three answers of :func:`verdict`.
VERDICTS = ("MET", "NOT MET", "UNDECIDED")


def verdict(low: float, high: float, *, at_most: float | None = None, at_least: float | None = None) -> str:
    """``"MET"`` when the whole interval ``[low, high]`` satisfies the target, ``"NOT MET"`` when none of it does,
    otherwise ``"UNDECIDED"`` (the sample is too small to tell). Give exactly one of ``at_most`` / ``at_least``."""
    if (at_most is None) == (at_least is None):
        raise ValueError("give exactly one of at_most and at_least")
    if not all(math.isfinite(v) for v in (low, high, at_most if at_least is None else at_least)):
        raise ValueError(f"a verdict needs a finite interval and target, got [{low}, {high}] against "
                         f"{at_most if at_least is None else at_least}")
    if low > high:
        raise ValueError(f"interval is reversed: low {low} > high {high}")
    if at_most is not None:
        return "MET" if high <= at_most else "NOT MET" if low > at_most else "UNDECIDED"
    return "MET" if low >= at_least else "NOT MET" if high < at_least else "UNDECIDED"


def mel_statistics(mel: torch.Tensor, *, n_bands: int = 16) -> torch.Tensor:
    """Per-clip embedding from mel statistics: level, spread and frame-to-frame change of each frequency band.

    Adjacent mel bins are averaged into ``n_bands`` bands (as equal as possible); for each band the embedding holds
    the mean and the standard deviation over time, and the standard deviation of the frame differences (onsets,
    vibrato, note changes). Keep ``3 * n_bands`` well below the number of clips an FAD is computed on (48 for the
    default, against >= 200 clips). A descriptive statistic of our own (no paper): an FAD that needs no learned model.

    Parameters
    ----------
    mel : Tensor, shape (batch, n_mels, frames)
        Clips in mel model space (:class:`~tempo_kit.audio.MelSpec`); ``frames >= 3``.
    n_bands : int
        Number of frequency bands, ``1 <= n_bands <= n_mels``.

    Returns
    -------
    Tensor, shape (batch, 3 * n_bands), float64
        ``[band means, band stds, band delta stds]``.
    """
    x = _check_mel(mel, "mel", 3)
    n_bands = check_int(n_bands, "n_bands")
    if not 1 <= n_bands <= x.shape[1]:
        raise ValueError(f"n_bands must lie in [1, n_mels = {x.shape[1]}], got {n_bands}")
    bands = torch.stack([part.mean(1) for part in torch.tensor_split(x, n_bands, dim=1)], dim=1)  # (batch, bands, T)
    delta = bands.diff(dim=-1)
    return torch.cat([bands.mean(-1), bands.std(-1), delta.std(-1)], dim=1)


MEL_STATISTICS_GROUPS = ("level", "spread", "change")  # the three equal parts of a mel_statistics embedding


def mel_statistics_shift(a: "ClipStats", b: "ClipStats", *, eps: float = 1e-6) -> dict[str, float]:
    """Where the Fréchet distance between two sets of :func:`mel_statistics` embeddings comes from.

    The distance is split into its mean term ``|mu_a - mu_b|^2`` and the rest (the covariance term), and for each
    part of the embedding (:data:`MEL_STATISTICS_GROUPS`: band level, spread over time, spread of the frame-to-frame
    change) the shift of ``a``'s mean from ``b``'s in ``b``'s standard deviations, ``(mu_a - mu_b) / sd_b``, averaged
    over the bands. A negative ``spread`` shift means clips whose band levels vary less over time than ``b``'s (flatter
    dynamics); a positive ``change`` shift, more frame-to-frame movement. Descriptive, no interval.

    Parameters
    ----------
    a, b : ClipStats
        Per-clip :func:`mel_statistics` embeddings (e.g. generated and reference clips); ``3 * n_bands`` wide.
    eps : float
        Covariance regularisation (as :func:`frechet_distance`); ``sd_b`` is taken from the regularised covariance.

    Returns
    -------
    dict
        ``{"distance", "mean_term", "covariance_term", "level", "spread", "change"}`` (floats).
    """
    if a.dim != b.dim or a.dim % 3:
        raise ValueError(f"expected two mel_statistics embeddings of the same size (3 * n_bands), got {a.dim} and "
                         f"{b.dim}")
    (mu_a, cov_a), (mu_b, cov_b) = a.moments(), b.moments()
    distance = float(_frechet_moments(mu_a, cov_a, mu_b, cov_b, eps))
    mean_term = float((mu_a - mu_b).square().sum())
    z = (mu_a - mu_b) / (torch.diagonal(cov_b) + eps).sqrt()  # b's regularised standard deviations
    out = {"distance": distance, "mean_term": mean_term, "covariance_term": distance - mean_term}
    out.update({name: float(part.mean()) for name, part in zip(MEL_STATISTICS_GROUPS, z.chunk(3))})
    return out


def frame_change(mel: torch.Tensor) -> torch.Tensor:
    """Per-clip mean squared change of each mel bin between adjacent frames, ``mean((x[:, :, t+1] - x[:, :, t])^2)``.

    Real renders of the bundled dataset hold notes for many frames, so most of their change comes at note starts
    (about 0.002 in model units); a generator that leaves fine noise or flickering partials in its clips scores
    several times higher. A descriptive statistic of our own (no paper), reported next to the FADs as a ratio to the
    reference clips'.

    Parameters
    ----------
    mel : Tensor, shape (batch, n_mels, frames)
        Clips in mel model space, ``frames >= 2``.

    Returns
    -------
    Tensor, shape (batch,), float64
    """
    return _check_mel(mel, "mel", 2).diff(dim=-1).pow(2).mean((1, 2))


def average_spectrum_noise(reference_mel: torch.Tensor, n: int, *,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Baseline clips: Gaussian noise in mel model space with the reference set's average spectrum.

    Each mel bin is independent white noise over time with the mean and standard deviation of that bin over all
    reference clips and frames, so the baseline matches the reference's long-term spectrum (first and second moments
    per bin) and nothing else: no temporal or cross-band structure. Built directly in model space (not by filtering a
    waveform and taking its mel), which matches the per-band level exactly and makes it a strong, honest baseline for
    mel-statistics FAD. A baseline of our own (no paper).

    Parameters
    ----------
    reference_mel : Tensor, shape (n_ref, n_mels, frames)
        Reference clips in mel model space (``n_ref * frames >= 2``).
    n : int
        Number of baseline clips (>= 1).
    generator : torch.Generator, optional
        Randomness.

    Returns
    -------
    Tensor, shape (n, n_mels, frames), float32
    """
    reference_mel = _check_mel(reference_mel, "reference_mel", 1)
    n = check_int(n, "n", low=1)
    ref = reference_mel.transpose(0, 1).flatten(1)  # (n_mels, n_ref * frames)
    if ref.shape[1] < 2:
        raise ValueError("reference_mel needs at least 2 frames in total to estimate a spread")
    mean, std = ref.mean(1), ref.std(1)
    shape = (n, reference_mel.shape[1], reference_mel.shape[2])
    eps = torch.randn(shape, generator=generator, dtype=torch.float64)
    return (mean[:, None] + std[:, None] * eps).to(torch.float32)


def clap_score(audio_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """CLAP score: cosine similarity of each clip's audio embedding with its caption's text embedding.

    The text-adherence score of MusicLDM (Chen et al. 2024) and Presto (Novack et al. 2025, Sec. 5.1); the mean over
    clips is the usual summary. Embeddings need not be normalised (they are normalised here, with an eps).

    Parameters
    ----------
    audio_emb, text_emb : Tensor, shape (batch, dim)
        Paired embeddings (row ``i`` of both describes clip ``i``).

    Returns
    -------
    Tensor, shape (batch,)
        Cosine similarities in [-1, 1].
    """
    audio_emb, text_emb = torch.as_tensor(audio_emb), torch.as_tensor(text_emb)
    if audio_emb.ndim != 2 or audio_emb.shape != text_emb.shape:
        raise ValueError(f"audio_emb and text_emb must both have shape (batch, dim), got {tuple(audio_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    if not (torch.isfinite(audio_emb).all() and torch.isfinite(text_emb).all()):
        raise ValueError("audio_emb and text_emb must be finite (NaN or infinite values given)")
    return (F.normalize(audio_emb.float(), dim=1, eps=1e-8) * F.normalize(text_emb.float(), dim=1, eps=1e-8)).sum(1)
