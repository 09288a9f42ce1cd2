"""Generation-quality metrics: Fréchet distances between embedding sets, a mel-statistics embedding, CLAP score and a
noise baseline.

* :func:`frechet_distance` - the Fréchet (2-Wasserstein) distance between Gaussians fitted to two embedding sets; on
  audio embeddings this is the Fréchet Audio Distance (FAD, Kilgour et al. 2019).
* :func:`mel_statistics` - a per-clip embedding of a mel clip in model space (per-band level, spread and frame-to-frame
  change), so an FAD can be computed without any learned model.
* :func:`clap_score` - cosine similarity of paired audio and caption embeddings (the CLAP score of MusicLDM / Presto).
* :func:`average_spectrum_noise` - baseline "clips" of noise with the reference set's average spectrum, which every
  trained generator should beat by a wide margin.

All functions take and return torch tensors (or floats) and compute in float64 where precision matters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["frechet_distance", "mel_statistics", "average_spectrum_noise", "clap_score"]


def _check_embeddings(emb: torch.Tensor, name: str) -> torch.Tensor:
    emb = torch.as_tensor(emb)
    if emb.ndim != 2:
        raise ValueError(f"{name} must have shape (n, dim), got {tuple(emb.shape)}")
    if emb.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 embeddings to estimate a covariance, got {emb.shape[0]}")
    emb = emb.detach().to(torch.float64)
    if not torch.isfinite(emb).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return emb


def _sqrt_psd(a: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(a)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


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
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    eye = eps * torch.eye(a.shape[1], dtype=torch.float64)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1) + eye, torch.cov(b.T).reshape(b.shape[1], -1) + eye
    root_a = _sqrt_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    mean_term = (a.mean(0) - b.mean(0)).square().sum()
    return float(mean_term + cov_a.trace() + cov_b.trace() - 2 * cross)


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
    if mel.ndim != 3:
        raise ValueError(f"mel must have shape (batch, n_mels, frames), got {tuple(mel.shape)}")
    if not 1 <= n_bands <= mel.shape[1]:
        raise ValueError(f"n_bands must lie in [1, n_mels = {mel.shape[1]}], got {n_bands}")
    if mel.shape[2] < 3:
        raise ValueError(f"mel needs at least 3 frames, got {mel.shape[2]}")
    x = mel.detach().to(torch.float64)
    bands = torch.stack([part.mean(1) for part in torch.tensor_split(x, n_bands, dim=1)], dim=1)  # (batch, bands, T)
    delta = bands.diff(dim=-1)
    return torch.cat([bands.mean(-1), bands.std(-1), delta.std(-1)], dim=1)


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
    if reference_mel.ndim != 3:
        raise ValueError(f"reference_mel must have shape (n_ref, n_mels, frames), got {tuple(reference_mel.shape)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ref = reference_mel.detach().to(torch.float64).transpose(0, 1).flatten(1)  # (n_mels, n_ref * frames)
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
    if audio_emb.ndim != 2 or audio_emb.shape != text_emb.shape:
        raise ValueError(f"audio_emb and text_emb must both have shape (batch, dim), got {tuple(audio_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    return (F.normalize(audio_emb.float(), dim=1, eps=1e-8) * F.normalize(text_emb.float(), dim=1, eps=1e-8)).sum(1)
