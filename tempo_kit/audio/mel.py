"""The project's mel "model space": the representation every mel diffusion model, vocoder and extractor agrees on.

Layout and mapping (``MelSpec()`` defaults)
-------------------------------------------
* 22.05 kHz audio, ``n_fft = 2048`` (Hann), hop 512 (frame rate 22050 / 512 = 43.07 Hz; 256 frames = 5.94 s), 80
  slaney-normalised mel bins from 0 to 11025 Hz, centred frames with zero padding (librosa's defaults).
* Model tensors are ``(batch, n_mels, frames)``: mel bins are channels and time is the last axis.
* ``dB = 10 log10(mel_power + amin)`` with ``amin = 10^(-top_db / 10) = 1e-8``: a smooth, absolute floor at -80 dB
  (not relative to each clip's maximum, so the map is the same for every clip and invertible).
* ``x = (dB - db_center) / db_halfrange`` with ``db_center = (db_max - top_db) / 2 = -20`` and
  ``db_halfrange = (db_max + top_db) / 2 = 60``: the floor maps to exactly -1 and ``db_max = +40`` dB to +1. Nothing
  is clipped: silence sits at -1, loud content may exceed +1 slightly (a full-scale sine in one band reaches about
  +0.9), and the inverse is exact.
* :meth:`MelSpec.from_model` returns ``10^(dB / 10) = mel_power + amin``: the power including the -80 dB floor, which
  is positive everywhere, so features computed from it are finite with finite gradients.
"""

from __future__ import annotations

import functools

import attrs
import numpy as np
import torch

from .spectral import MelSpectrogram

__all__ = ["MelSpec"]


@functools.lru_cache(maxsize=16)
def _frontend(spec: "MelSpec") -> MelSpectrogram:
    return MelSpectrogram(
        sample_rate=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length, n_mels=spec.n_mels,
        fmin=spec.fmin, fmax=spec.fmax, center=spec.center, pad_mode=spec.pad_mode,
    )


@attrs.frozen(kw_only=True)
class MelSpec:
    """Mel model-space configuration (frozen, hashable) with the waveform <-> model-space maps.

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels, fmin, fmax, center, pad_mode
        STFT and slaney mel filterbank settings (librosa conventions).
    top_db : float
        Depth of the absolute dB floor: ``amin = 10^(-top_db / 10)`` is added to the mel power before the log.
    db_max : float
        dB level that maps to +1.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 11025.0
    center: bool = True
    pad_mode: str = "constant"
    top_db: float = 80.0
    db_max: float = 40.0

    def __attrs_post_init__(self):
        if self.top_db <= 0 or self.db_max <= -self.top_db:
            raise ValueError(f"MelSpec needs top_db > 0 and db_max > -top_db, got {self.top_db}, {self.db_max}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"MelSpec needs 0 <= fmin < fmax <= sample_rate / 2, got {self.fmin}, {self.fmax}")

    # -- rates and lengths --------------------------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Mel frames per second (43.07 Hz by default)."""
        return self.sample_rate / self.hop_length

    @property
    def amin(self) -> float:
        """Power floor added before the log (``1e-8`` by default)."""
        return 10.0 ** (-self.top_db / 10.0)

    @property
    def db_center(self) -> float:
        return (self.db_max - self.top_db) / 2.0

    @property
    def db_halfrange(self) -> float:
        return (self.db_max + self.top_db) / 2.0

    def num_frames(self, n_samples: int) -> int:
        """Mel frames computed from ``n_samples`` samples."""
        return 1 + n_samples // self.hop_length if self.center else 1 + (n_samples - self.n_fft) // self.hop_length

    def num_samples(self, n_frames: int) -> int:
        """Samples that give exactly ``n_frames`` frames (centred framing): ``(n_frames - 1) * hop_length``."""
        return (n_frames - 1) * self.hop_length

    def seconds_to_frames(self, seconds: float) -> int:
        """Nearest whole number of frames for a duration in seconds."""
        return int(round(seconds * self.frame_rate))

    # -- filterbank and front end -------------------------------------------------------------------------------
    def mel_filterbank(self) -> np.ndarray:
        """Slaney mel filterbank ``(n_mels, n_fft // 2 + 1)`` (float64, as ``librosa.filters.mel``)."""
        return _frontend(self).fb.double().numpy()

    def mel_to_linear(self) -> np.ndarray:
        """``(n_fft // 2 + 1, n_mels)`` map from mel power back to STFT-bin power (float64): each band's mean power,
        interpolated between band centres by the filterbank's triangles,
        ``P_k ~ sum_m tri_m(k) mel_m / sum_k' fb[m, k']``. Exact for a flat spectrum; used by the mel-domain chroma
        and by Griffin-Lim."""
        from .spectral import mel_frequencies

        fb = self.mel_filterbank()
        edges = mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self.fmax)
        enorm = 2.0 / (edges[2:] - edges[:-2])
        return fb.T / (enorm * np.maximum(fb.sum(axis=1), 1e-12))[None, :]

    def frontend(self) -> MelSpectrogram:
        """The shared (cached) :class:`~tempo_kit.audio.spectral.MelSpectrogram` computing mel power from audio."""
        return _frontend(self)

    def mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform ``(batch, samples)`` (or ``(batch, 1, samples)``) -> mel power ``(batch, n_mels, frames)``."""
        if waveform.ndim == 3 and waveform.shape[1] == 1:
            waveform = waveform[:, 0]
        if waveform.ndim != 2:
            raise ValueError(f"expected a mono waveform (batch, samples), got shape {tuple(waveform.shape)}")
        return self.frontend()(waveform)

    # -- dB <-> model space --------------------------------------------------------------------------------------
    def power_to_db(self, power: torch.Tensor) -> torch.Tensor:
        """``10 log10(power + amin)`` (smooth floor at ``-top_db``)."""
        return 10.0 * torch.log10(power + self.amin)

    def db_to_model(self, db: torch.Tensor) -> torch.Tensor:
        return (db - self.db_center) / self.db_halfrange

    def model_to_db(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.db_halfrange + self.db_center

    def to_model(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform ``(batch, samples)`` at ``sample_rate`` -> model-space mel ``(batch, n_mels, frames)``."""
        return self.db_to_model(self.power_to_db(self.mel_power(waveform)))

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space mel ``(..., n_mels, frames)`` -> mel power ``10^(dB / 10)`` (includes the ``amin`` floor)."""
        self.check_model(x)
        return torch.pow(10.0, self.model_to_db(x) / 10.0)

    def check_model(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a floating ``(..., n_mels, frames)`` tensor."""
        if x.ndim < 2 or x.shape[-2] != self.n_mels or not x.is_floating_point():
            raise ValueError(
                f"expected model-space mel frames (batch, n_mels={self.n_mels}, frames), got shape {tuple(x.shape)}"
                f" dtype {x.dtype}"
            )
