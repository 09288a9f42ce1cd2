"""Brightness (spectral centroid) and rhythmic density (onset strength): two controls that are not in the DITTO papers.

Both read model-space mel frames ``(batch, n_mels, frames)`` or a waveform ``(batch, samples)`` at the same frame rate
(``mel.frame_rate``), so a target computed from reference audio lines up with the generator's mel output.

* :class:`SpectralCentroid`: ``c_t = sum_k f_k |X_kt|^p / sum_k |X_kt|^p`` (``librosa.feature.spectral_centroid`` for
  ``p = 1``), in Hz or natural-log Hz, optionally smoothed by a moving average. On mel frames the sum runs over band
  centres with each band weighted by its bandwidth (a slaney mel band holds the *mean* power density of its bins), so
  the two paths agree closely on music.
* :class:`OnsetDensity`: positive spectral flux of the dB mel spectrogram, ``o_t = mean_m max(0, S_mt - S_m,t-lag)``
  (``librosa.onset.onset_strength`` with ``center=False``), moving-average smoothed per frame, or its time average as
  one rate per clip in dB per second.
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import torch
import torch.nn.functional as F

from tempo_kit.audio import MelSpec, MelSpectrogram, Spectrogram
from tempo_kit.features import Extractor, as_audio, as_mel

__all__ = ["SpectralCentroid", "OnsetDensity", "hz_to_log_hz", "moving_average", "one_sided_mse"]

_DOMAINS = ("mel", "audio")


def _check(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _odd_frames(window_s: float | None, frame_rate: float) -> int:
    if not window_s:
        return 1
    if window_s < 0:
        raise ValueError(f"window_s must be non-negative, got {window_s}")
    n = max(int(round(window_s * frame_rate)), 1)
    return n if n % 2 else n + 1


def moving_average(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Centred moving average over the last axis of ``(batch, frames)``; edges repeat the end values."""
    if frames <= 1:
        return x
    flat = F.pad(x.reshape(-1, 1, x.shape[-1]), (frames // 2, frames // 2), mode="replicate")
    return F.avg_pool1d(flat, frames, stride=1).reshape(x.shape)


class SpectralCentroid(Extractor):
    """Brightness: spectral centroid per frame, in Hz (``scale="hz"``) or ``ln(Hz + 1)`` (``scale="log-hz"``).

    Parameters
    ----------
    domain : {"mel", "audio"}
        ``"mel"``: model-space mel ``(batch, n_mels, frames)``; ``"audio"``: waveform ``(batch, samples)`` (or
        ``(batch, channels, samples)``, channels averaged) at ``mel.sample_rate``.
    mel : MelSpec
        Model space: sample rate, STFT size, hop (hence the frame rate), mel bands.
    scale : {"hz", "log-hz"}
        Output unit; ``"log-hz"`` makes an MSE loss weigh an octave the same at every height.
    power : float
        Exponent ``p`` of the spectral magnitude used as weight (1: librosa's default).
    window_s : float or None
        Moving-average window in seconds (rounded to an odd number of frames); ``None`` or 0: no smoothing.
    eps : float
        Added to the weight sum (silence gives a finite centroid and finite gradients).

    Notes
    -----
    ``forward``: ``(batch, frames)`` at ``frame_rate = mel.sample_rate / mel.hop_length`` frames per second.
    The spectral centroid is the brightness correlate of timbre studies (e.g. Grey & Gordon 1978); the control is ours.
    """

    def __init__(self, *, domain: str = "mel", mel: MelSpec = MelSpec(), scale: str = "hz", power: float = 1.0,
                 window_s: float | None = 0.25, eps: float = 1e-10):
        super().__init__()
        self.domain, self.scale = _check("domain", domain, _DOMAINS), _check("scale", scale, ("hz", "log-hz"))
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        self.mel, self.power, self.eps = mel, float(power), float(eps)
        self.sample_rate, self.frame_rate = mel.sample_rate, mel.frame_rate
        self.window_frames = _odd_frames(window_s, mel.frame_rate)
        self.spectrogram = Spectrogram(n_fft=mel.n_fft, hop_length=mel.hop_length, center=mel.center,
                                       pad_mode=mel.pad_mode, power=power)
        freqs = np.fft.rfftfreq(mel.n_fft, 1.0 / mel.sample_rate)
        edges = librosa.mel_frequencies(n_mels=mel.n_mels + 2, fmin=mel.fmin, fmax=mel.fmax)
        self.register_buffer("freqs", torch.as_tensor(freqs, dtype=torch.float32), persistent=False)
        self.register_buffer("centers", torch.as_tensor(edges[1:-1], dtype=torch.float32), persistent=False)
        bandwidth = (edges[2:] - edges[:-2]) / 2.0
        self.register_buffer("bandwidth", torch.as_tensor(bandwidth / bandwidth.max(), dtype=torch.float32),
                             persistent=False)

    def num_frames(self, n_input: int) -> int:
        return n_input if self.domain == "mel" else self.mel.num_frames(n_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.domain == "mel":
            power = self.mel.from_model(as_mel(x, self.mel))                      # (batch, n_mels, frames)
            weight = self.bandwidth.to(power)[:, None] * power ** (self.power / 2.0)
            freqs = self.centers.to(power)[:, None]
        else:
            weight = self.spectrogram(as_audio(x))                                # (batch, n_freq, frames)
            freqs = self.freqs.to(weight)[:, None]
        hz = (freqs * weight).sum(-2) / (weight.sum(-2) + self.eps)
        out = torch.log(hz + 1.0) if self.scale == "log-hz" else hz
        return moving_average(out, self.window_frames)


class OnsetDensity(Extractor):
    """Rhythmic density: positive spectral flux of the dB mel spectrogram (onset strength), smoothed.

    Parameters
    ----------
    domain : {"mel", "audio"}
        As in :class:`SpectralCentroid`. The audio path computes the model-space dB mel of ``mel`` first, so both
        paths give the same numbers for the same clip.
    mel : MelSpec
        Model space.
    lag : int
        Frames between the compared spectra (librosa's ``lag``).
    window_s : float or None
        Moving-average window in seconds for the per-frame curve; ``None`` or 0: the raw onset strength.
    reduce : {"frames", "rate"}
        ``"frames"``: ``(batch, frames)`` in dB per frame; ``"rate"``: the mean over time times the frame rate,
        ``(batch, 1)`` in dB per second, with ``frame_rate = None`` (a time-less feature).

    Notes
    -----
    ``o_t = mean_m max(0, S_mt - S_m,t-lag)`` for ``t >= lag`` and 0 before (``librosa.onset.onset_strength(S=...,
    center=False)``; Boeck & Widmer 2013 for spectral-flux onset detection). The control itself is ours.
    """

    def __init__(self, *, domain: str = "mel", mel: MelSpec = MelSpec(), lag: int = 1, window_s: float | None = 0.5,
                 reduce: str = "frames"):
        super().__init__()
        self.domain, self.reduce = _check("domain", domain, _DOMAINS), _check("reduce", reduce, ("frames", "rate"))
        if lag < 1:
            raise ValueError(f"lag must be >= 1 frame, got {lag}")
        self.mel, self.lag = mel, int(lag)
        self.sample_rate = mel.sample_rate
        self.frame_rate = mel.frame_rate if reduce == "frames" else None
        self.window_frames = _odd_frames(window_s, mel.frame_rate) if reduce == "frames" else 1
        self.melspec = MelSpectrogram(sample_rate=mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop_length,
                                      n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax, center=mel.center,
                                      pad_mode=mel.pad_mode)

    def num_frames(self, n_input: int) -> int | None:
        if self.reduce == "rate":
            return None
        return n_input if self.domain == "mel" else self.mel.num_frames(n_input)

    def onset_strength(self, x: torch.Tensor) -> torch.Tensor:
        """Unsmoothed onset strength ``(batch, frames)`` in dB per frame."""
        if self.domain == "mel":
            db = self.mel.model_to_db(as_mel(x, self.mel))
        else:
            db = self.mel.power_to_db(self.melspec(as_audio(x)))
        if db.shape[-1] <= self.lag:
            raise ValueError(f"need more than lag={self.lag} frames, got {db.shape[-1]}")
        flux = torch.relu(db[..., self.lag:] - db[..., :-self.lag]).mean(-2)
        return F.pad(flux, (self.lag, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        onset = self.onset_strength(x)
        if self.reduce == "rate":
            return onset.mean(-1, keepdim=True) * self.mel.frame_rate
        return moving_average(onset, self.window_frames)


def one_sided_mse(feature: torch.Tensor, target, *, direction: str = "above", reduction: str = "mean") -> torch.Tensor:
    """Squared shortfall only: ``mean(relu(y - f)^2)`` for ``direction="above"`` ("at least this bright / busy"),
    ``mean(relu(f - y)^2)`` for ``"below"``.

    Targets are validated by :func:`tempo_kit.losses.check_target` (NaN, frame count, broadcasting).
    """
    from tempo_kit.losses import check_target

    _check("direction", direction, ("above", "below"))
    _check("reduction", reduction, ("mean", "sum", "none"))
    y = check_target(feature, target)
    gap = torch.relu(y - feature) if direction == "above" else torch.relu(feature - y)
    per_item = gap.square().reshape(feature.shape[0], -1).mean(-1) if feature.ndim > 1 else gap.square()
    if reduction == "none":
        return per_item
    return per_item.mean() if reduction == "mean" else per_item.sum()


def hz_to_log_hz(hz: float | torch.Tensor):
    """The ``scale="log-hz"`` value of a frequency in Hz, ``ln(hz + 1)`` (to build targets)."""
    return torch.log(torch.as_tensor(hz, dtype=torch.float32) + 1.0) if isinstance(hz, torch.Tensor) else math.log(hz + 1.0)
