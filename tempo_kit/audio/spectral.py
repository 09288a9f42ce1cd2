"""Differentiable spectral front end: ``torch.stft`` plus librosa filterbanks stored as non-persistent buffers.

Every module reads a waveform ``(..., samples)`` and returns ``(..., bins, frames)`` with time last, exactly like
librosa (``melspectrogram``, ``chroma_stft(tuning=0)``, ``mfcc``; see ``tests/test_audio_spectral.py`` for the parity
checks). Filterbanks are built once with librosa in float64, stored as float64 buffers that are not saved in a
``state_dict``, and cast to the input's dtype and device on the fly, so a module works on any device without ``.to()``.
Pad modes are explicit (librosa >= 0.10 pads with zeros, ``pad_mode="constant"``; nnAudio and HF use ``"reflect"``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = [
    "PAD_MODES",
    "CQTChroma",
    "Chroma",
    "MFCC",
    "MelSpectrogram",
    "Spectrogram",
    "dct_matrix",
    "hz_to_mel",
    "mel_filterbank",
    "mel_frequencies",
    "mel_to_hz",
    "power_to_db",
]

PAD_MODES = ("constant", "reflect", "replicate", "circular")
_TINY = float(np.finfo(np.float32).tiny)  # librosa.util.tiny for float32: the threshold of util.normalize


def _buffer(module: nn.Module, name: str, value) -> None:
    module.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float64), persistent=False)


def _like(buffer: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return buffer.to(device=x.device, dtype=x.dtype if x.is_floating_point() else buffer.dtype)


def power_to_db(
    S: torch.Tensor, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> torch.Tensor:
    """Power to dB like ``librosa.power_to_db``: ``10 log10(max(S, amin) / ref)``, floored ``top_db`` below the max.

    Parameters
    ----------
    S : Tensor, shape ``(..., bins, frames)``
        Power spectrogram (non-negative).
    ref, amin : float
        Reference power and the smallest power kept (the clamp keeps the log finite; its gradient is zero below it).
    top_db : float or None
        Floor relative to the maximum. librosa takes the maximum over the whole array; here it is taken per item
        over the last two axes, so batching does not couple items.

    Returns
    -------
    Tensor, same shape as ``S``, in dB.
    """
    if amin <= 0:
        raise ValueError(f"power_to_db: amin must be positive, got {amin}")
    log_spec = 10.0 * torch.log10(S.clamp_min(amin)) - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"power_to_db: top_db must be non-negative, got {top_db}")
        peak = log_spec.amax(dim=(-2, -1), keepdim=True) if log_spec.ndim >= 2 else log_spec.max()
        log_spec = torch.maximum(log_spec, peak - top_db)
    return log_spec


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``(n_out, n_in)``: ``D @ v == scipy.fft.dct(v, type=2, norm="ortho")[:n_out]``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    D = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    D[0] /= np.sqrt(2.0)
    return D


class Spectrogram(nn.Module):
    """STFT magnitude raised to ``power`` (2: power spectrogram), as ``librosa.stft`` + ``np.abs(...) ** power``.

    Parameters
    ----------
    n_fft, hop_length : int
        FFT size and hop in samples.
    win_length : int, optional
        Window length (default ``n_fft``); a shorter Hann window is zero-padded to ``n_fft`` at the centre.
    center : bool
        Pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred at sample ``t * hop_length``.
    pad_mode : {"constant", "reflect", "replicate", "circular"}
        Padding used when ``center`` (librosa's default is ``"constant"``).
    power : float
        Exponent of the magnitude. For ``power != 2`` the magnitude is ``sqrt(|X|^2 + eps)`` so silence has a finite
        gradient.
    eps : float
        Added inside the square root for ``power != 2``.
    """

    def __init__(
        self,
        *,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: int | None = None,
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        eps: float = 1e-12,
    ):
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if not 0 < win_length <= n_fft or hop_length <= 0:
            raise ValueError(f"need 0 < win_length <= n_fft and hop_length > 0, got {win_length}, {n_fft}, "
                             f"{hop_length}")
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        self.n_fft, self.hop_length, self.win_length = int(n_fft), int(hop_length), int(win_length)
        self.center, self.pad_mode, self.power, self.eps = bool(center), pad_mode, float(power), float(eps)
        _buffer(self, "window", torch.hann_window(win_length, periodic=True, dtype=torch.float64))

    def num_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` input samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``(..., samples) -> (..., n_fft // 2 + 1, frames)``."""
        if y.ndim == 0 or not y.is_floating_point():
            raise ValueError(f"Spectrogram expects a floating waveform (..., samples), got {tuple(y.shape)} {y.dtype}")
        if not self.center and y.shape[-1] < self.n_fft:
            raise ValueError(f"waveform has {y.shape[-1]} samples, fewer than n_fft={self.n_fft} (center=False)")
        lead = y.shape[:-1]
        X = torch.stft(
            y.reshape(-1, y.shape[-1]),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=_like(self.window, y),
            center=self.center,
            pad_mode=self.pad_mode,
            return_complex=True,
        )
        P = X.real.square() + X.imag.square()  # ~6x faster than view_as_real(X).square().sum(-1)
        if self.power != 2.0:
            P = (P + self.eps) ** (self.power / 2.0)
        return P.reshape(*lead, *P.shape[-2:])


class _FilterbankFrontEnd(nn.Module):
    """A :class:`Spectrogram` followed by a fixed ``(bins, n_freq)`` filterbank buffer ``fb``."""

    def __init__(self, *, fb: np.ndarray, **stft):
        super().__init__()
        self.spectrogram = Spectrogram(**stft)
        _buffer(self, "fb", fb)

    def num_frames(self, n_samples: int) -> int:
        return self.spectrogram.num_frames(n_samples)

    def from_spectrogram(self, S: torch.Tensor) -> torch.Tensor:
        """Apply the filterbank to a spectrogram ``(..., n_freq, frames) -> (..., bins, frames)``."""
        return torch.einsum("bf,...ft->...bt", _like(self.fb, S), S)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.from_spectrogram(self.spectrogram(y))


def hz_to_mel(hz, *, htk: bool = False) -> np.ndarray:
    """Frequency in Hz -> mel: HTK's ``2595 log10(1 + f / 700)``, or Slaney's (linear below 1 kHz at 200/3 Hz per mel,
    logarithmic above), as ``librosa.hz_to_mel``."""
    hz = np.asanyarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mels = hz / f_sp
    log = hz >= min_log_hz
    return np.where(log, min_log_hz / f_sp + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep, mels)


def mel_to_hz(mels, *, htk: bool = False) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mels = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def mel_frequencies(n_mels: int, *, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels), htk=htk)


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | float | None = "slaney") -> np.ndarray:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)`` in float64, equal to ``librosa.filters.mel`` (checked in
    the tests) without importing librosa: band ``m`` rises from centre ``m - 1`` to ``m`` and falls to ``m + 1`` on
    the FFT bin frequencies; ``norm="slaney"`` divides each band by its width in Hz / 2 (constant energy per band), a
    number ``p`` normalises each band to unit ``p``-norm."""
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    centres = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(centres)
    ramps = centres[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (centres[2 : n_mels + 2] - centres[:n_mels]))[:, None]
    elif norm is not None:
        weights /= np.maximum(np.linalg.norm(weights, ord=norm, axis=-1, keepdims=True), np.finfo(np.float64).tiny)
    return weights


class MelSpectrogram(_FilterbankFrontEnd):
    """Mel spectrogram, ``librosa.feature.melspectrogram`` on ``torch.stft``.

    ``forward``: waveform ``(..., samples) -> (..., n_mels, frames)``.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz.
    n_mels, fmin, fmax, htk, norm
        As ``librosa.filters.mel`` (``fmax=None`` means ``sample_rate / 2``).
    **stft
        ``n_fft``, ``hop_length``, ``win_length``, ``center``, ``pad_mode``, ``power`` of :class:`Spectrogram`.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 22050,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        norm: str | float | None = "slaney",
        **stft,
    ):
        n_fft = stft.get("n_fft", 2048)
        fb = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
        super().__init__(fb=fb, **stft)
        self.sample_rate, self.n_mels = int(sample_rate), int(n_mels)


class Chroma(_FilterbankFrontEnd):
    """STFT chromagram, ``librosa.feature.chroma_stft(tuning=0)``, with an optional high-pass.

    ``forward``: waveform ``(..., samples) -> (..., n_chroma, frames)``.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz.
    n_chroma : int
        Pitch classes (12).
    highpass_hz : float, optional
        Cutoff of an ideal (brick-wall) spectral high-pass applied before the chroma filterbank: STFT bins below it
        are dropped. ``None`` (default) keeps all bins, as librosa does.
    norm : {inf, None}
        ``inf`` divides each frame by its maximum (librosa's default; frames whose maximum is below the float32
        ``tiny`` stay unnormalized, as in ``librosa.util.normalize``); ``None`` returns the raw chroma energy.
    octaves : (int, int), optional
        Keep octaves apart: ``(lowest, highest)`` octave numbers (C4 = 261.6 Hz is octave 4) give
        ``n_chroma * (highest - lowest + 1)`` bins, bin ``n_chroma * o + c`` holding pitch class ``c`` of octave
        ``lowest + o``: an STFT bin counts in the octave its frequency falls in, an octave running from half a
        semitone below its C (bins outside every octave are dropped), so a tone a semitone below a C leaks a few
        percent of its energy into the next octave through the STFT's main lobe. ``None`` (default) folds all
        octaves, as librosa does.
    **stft
        :class:`Spectrogram` arguments (``power=2`` as in librosa).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 22050,
        n_chroma: int = 12,
        highpass_hz: float | None = None,
        norm: float | None = math.inf,
        octaves: tuple[int, int] | None = None,
        **stft,
    ):
        import librosa

        n_fft = stft.get("n_fft", 2048)
        freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
        fb = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=n_chroma, tuning=0.0, dtype=np.float64)
        if highpass_hz is not None:
            if not 0 <= highpass_hz < sample_rate / 2:
                raise ValueError(f"highpass_hz must lie in [0, {sample_rate / 2}), got {highpass_hz}")
            fb = fb * (freqs >= highpass_hz)[None, :]
        if octaves is not None:
            if (not isinstance(octaves, (tuple, list)) or len(octaves) != 2
                    or not all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in octaves)
                    or not 0 <= octaves[0] <= octaves[1] <= 10):
                raise ValueError(f"octaves must be two integers (lowest, highest) with 0 <= lowest <= highest <= 10 "
                                 f"(C4 = 261.6 Hz is octave 4), got {octaves!r}")
            lowest, highest = int(octaves[0]), int(octaves[1])
            with np.errstate(divide="ignore"):  # the DC bin has no octave
                octave = np.floor((69 + 12 * np.log2(freqs / 440.0) + 0.5) / 12) - 1  # C4 (MIDI 60) -> 4
            fb = np.concatenate([fb * (octave == o)[None, :] for o in range(lowest, highest + 1)])
        if norm not in (math.inf, None):
            raise ValueError(f"norm must be inf or None, got {norm!r}")
        super().__init__(fb=fb, **stft)
        self.sample_rate, self.n_chroma, self.highpass_hz, self.norm = int(sample_rate), n_chroma, highpass_hz, norm
        self.octaves = None if octaves is None else (lowest, highest)

    def from_spectrogram(self, S: torch.Tensor) -> torch.Tensor:
        chroma = super().from_spectrogram(S)
        if self.norm is None:
            return chroma
        peak = chroma.abs().amax(dim=-2, keepdim=True)
        return chroma / torch.where(peak < _TINY, torch.ones_like(peak), peak)


class CQTChroma(nn.Module):
    """Constant-Q chromagram in the manner of ``librosa.feature.chroma_cqt`` on nnAudio's ``CQT2010v2``.

    nnAudio is imported when the module is built. The CQT magnitude ``(n_bins)`` is folded to ``n_chroma`` classes with
    ``librosa.filters.cq_to_chroma`` and each frame is divided by its maximum. nnAudio's kernels differ slightly from
    librosa's, so values agree with ``chroma_cqt`` only approximately. ``CQT2010v2`` (octave-wise downsampling) is
    used rather than ``CQT1992v2``: with ``fmin`` at C1 the latter convolves 35k-tap kernels and is ~4x slower.
    ``power`` raises the CQT magnitude before folding (2: energy); ``highpass_hz`` drops CQT bins below the cutoff.

    Notes
    -----
    ``forward``: waveform ``(..., samples) -> (..., n_chroma, frames)``.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 22050,
        hop_length: int = 512,
        fmin: float = 32.70319566257483,  # C1
        n_octaves: int = 7,
        bins_per_octave: int = 36,
        n_chroma: int = 12,
        pad_mode: str = "reflect",
        normalize: bool = True,
        power: float = 1.0,
        highpass_hz: float | None = None,
    ):
        super().__init__()
        import librosa
        from nnAudio.features import CQT2010v2

        n_bins = n_octaves * bins_per_octave
        self.cqt = CQT2010v2(
            sr=sample_rate, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
            output_format="Magnitude", pad_mode=pad_mode, verbose=False,
        )
        fb = librosa.filters.cq_to_chroma(n_bins, bins_per_octave=bins_per_octave, n_chroma=n_chroma, fmin=fmin)
        if highpass_hz is not None:
            fb = fb * (fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave) >= highpass_hz)[None, :]
        _buffer(self, "fb", fb)
        self.sample_rate, self.hop_length, self.normalize = int(sample_rate), int(hop_length), normalize
        self.power = float(power)

    def num_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        lead = y.shape[:-1]
        C = self.cqt(y.reshape(-1, y.shape[-1]))  # (batch, n_bins, frames)
        C = C if self.power == 1.0 else C.square() if self.power == 2.0 else C**self.power
        chroma = torch.einsum("cb,nbt->nct", _like(self.fb, C), C)
        if self.normalize:
            peak = chroma.amax(dim=-2, keepdim=True)
            chroma = chroma / torch.where(peak < _TINY, torch.ones_like(peak), peak)
        return chroma.reshape(*lead, *chroma.shape[-2:])


class MFCC(nn.Module):
    """MFCCs like ``librosa.feature.mfcc``: ``DCT-II_ortho(power_to_db(mel))[:n_mfcc]`` (Davis & Mermelstein 1980).

    Parameters
    ----------
    n_mfcc : int
        Coefficients kept (librosa: 20).
    top_db : float or None
        Floor of the dB conversion relative to each item's maximum (librosa: 80).
    **mel
        :class:`MelSpectrogram` arguments (librosa's ``mfcc`` uses ``n_mels=128``).

    Notes
    -----
    ``forward``: waveform ``(..., samples) -> (..., n_mfcc, frames)``; :meth:`from_db` takes a log-mel in dB.
    """

    def __init__(self, *, n_mfcc: int = 20, top_db: float | None = 80.0, **mel):
        super().__init__()
        self.mel = MelSpectrogram(**mel)
        if not 0 < n_mfcc <= self.mel.n_mels:
            raise ValueError(f"n_mfcc must lie in [1, n_mels={self.mel.n_mels}], got {n_mfcc}")
        self.n_mfcc, self.top_db = int(n_mfcc), top_db
        _buffer(self, "dct", dct_matrix(n_mfcc, self.mel.n_mels))

    def num_frames(self, n_samples: int) -> int:
        return self.mel.num_frames(n_samples)

    def from_db(self, S_db: torch.Tensor) -> torch.Tensor:
        """``(..., n_mels, frames)`` log-mel in dB -> ``(..., n_mfcc, frames)``."""
        return torch.einsum("cm,...mt->...ct", _like(self.dct, S_db), S_db)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.from_db(power_to_db(self.mel(y), top_db=self.top_db))
