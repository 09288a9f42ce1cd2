"""Intensity: smoothed frame energy in dB, ``w * 20 log10(RMS)`` (DITTO, Novack et al. 2024, Sec. 4, "Intensity").

Both paths give the window-weighted RMS of each centred STFT frame, ``rms^2 = sum_n (w_n y_n)^2 / sum_n w_n^2``
(a stationary sine of amplitude A reads ``A^2 / 2``), in dB as ``10 log10(rms^2 + eps)`` (floor -100 dB):

* audio: exact, by Parseval over the one-sided power spectrum, ``sum_n (w y)^2 = (2 sum_k P_k - P_0 - P_{N/2}) / N``;
* mel frames: approximate. Slaney mel filters are unit-height triangles scaled by ``enorm_m = 2 / (f_{m+2} - f_m)``,
  and the triangles sum to one between the first and last band centres, so ``sum_m mel_m / enorm_m`` recovers
  ``sum_k P_k`` except for energy below the first centre or above the last one (and the ``amin`` floor of the model
  space, about -98 dB). The two paths agree to a fraction of a dB on music (``tests/test_features_intensity.py``).

The dB curve is smoothed by a Savitzky-Golay filter (a fixed convolution ``w``; window ~1 s, polyorder 3), as Music
ControlNet smooths its energy curve.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

from ..audio.mel import MelSpec
from ..audio.spectral import Spectrogram
from ..utils import check_int, check_number
from ._common import MelAudioExtractor, add_dither, odd_window, savgol_kernel, smooth
from .base import as_audio, as_mel

#: Longest smoothing window of :class:`Intensity` in seconds (the longest clip a pipeline makes is 95 s).
MAX_WINDOW_S = 100.0

__all__ = ["Intensity"]


class Intensity(MelAudioExtractor):
    """Smoothed frame energy in dB.

    Parameters
    ----------
    domain : {"mel", "audio"}
        ``"mel"``: model-space mel ``(batch, n_mels, frames)`` (see :class:`~tempo_kit.audio.MelSpec`);
        ``"audio"``: waveform ``(batch, samples)`` at ``mel.sample_rate``.
    mel : MelSpec
        Model space; fixes sample rate, STFT size and hop (hence the frame rate of both paths).
    window_s : float or None
        Savitzky-Golay window in seconds (rounded to an odd number of frames); ``None`` or 0 disables smoothing.
    polyorder : int
        Savitzky-Golay polynomial order.
    eps : float
        Added to the mean square before the log (-100 dB floor).
    dither : float
        Standard deviation of the fixed dither added to audio input (audio path only).

    Notes
    -----
    ``forward``: ``(batch, frames)`` in dB at ``frame_rate`` frames/s.
    """

    def __init__(
        self,
        *,
        domain: str = "mel",
        mel: MelSpec = MelSpec(),
        window_s: float | None = 1.0,
        polyorder: int = 3,
        eps: float = 1e-10,
        dither: float = 1e-5,
    ):
        if window_s is not None and check_number(window_s, "window_s") > MAX_WINDOW_S:
            raise ValueError(f"window_s (the smoothing window) must be at most {MAX_WINDOW_S:g} s, got {window_s:g}")
        polyorder = check_int(polyorder, "polyorder", low=0, high=8)
        super().__init__(domain=domain, mel=mel, eps=eps, dither=dither)
        n = mel.n_fft
        window = torch.hann_window(n, periodic=True, dtype=torch.float64)
        self.window_energy = float(window.square().sum())
        self.register_buffer("bin_weight", torch.full((n // 2 + 1,), 2.0 / n), persistent=False)
        self.bin_weight[0] = self.bin_weight[-1] = 1.0 / n
        # 1 / enorm_m: the bandwidth term that undoes slaney normalisation
        edges = librosa.mel_frequencies(n_mels=mel.n_mels + 2, fmin=mel.fmin, fmax=mel.fmax)
        band = torch.as_tensor((edges[2:] - edges[:-2]) / 2.0 * 2.0 / n, dtype=torch.float32)
        self.register_buffer("mel_weight", band, persistent=False)
        self.spectrogram = Spectrogram(n_fft=n, hop_length=mel.hop_length, center=mel.center, pad_mode=mel.pad_mode)
        self.window_frames = odd_window(window_s * mel.frame_rate, polyorder + 2) if window_s else 0
        kernel = savgol_kernel(self.window_frames, polyorder) if window_s else torch.ones(1)
        self.register_buffer("kernel", kernel, persistent=False)

    def mean_square(self, x: torch.Tensor) -> torch.Tensor:
        """Window-weighted mean square per frame, ``(batch, frames)``."""
        if self.domain == "mel":
            power = self.mel.from_model(as_mel(x, self.mel))
            energy = torch.einsum("m,bmt->bt", self.mel_weight.to(power), power)
        else:
            P = self.spectrogram(add_dither(as_audio(x), self.dither))
            energy = torch.einsum("f,bft->bt", self.bin_weight.to(P), P)
        return energy / self.window_energy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(self.mean_square(x) + self.eps)
        return smooth(db, self.kernel) if self.window_frames else db
