"""Melody: log-chroma over 12 pitch classes, used with NLL against per-frame pitch classes (DITTO Sec. 4, "Melody").

``f(x) = log(C / sum_c C + 1e-8)`` where ``C`` is the chroma energy of the (optionally high-passed) signal, so the
output is a per-frame log-distribution that ``NLLLoss`` can use directly. The normalization is our choice; DITTO does
not state it.

* audio: STFT chroma (``librosa.filters.chroma``, ``tuning=0``) of the power spectrum with the model-space STFT;
* mel frames: the mel power is spread back onto the STFT bins (each band's mean power, interpolated by the same
  triangles: ``P_k ~ sum_m tri_m(k) mel_m / sum_k' fb[m, k']``), then the same chroma filterbank applies. This is a
  fixed ``(12, n_mels)`` matrix; high mel bands span several semitones, so mel chroma is blurrier than STFT chroma
  above a few kHz, where melodic energy is mostly harmonics anyway.

The high-pass (default at middle C, 261.6 Hz, as Music ControlNet's melody extractor) is an ideal spectral one: STFT
bins below the cutoff are dropped before the chroma filterbank, identically in both paths.
"""

from __future__ import annotations

import torch

from ..audio.mel import MelSpec
from ..audio.spectral import Chroma
from ..losses import check_pitch_classes
from ._common import MelAudioExtractor, add_dither
from .base import as_audio, as_mel

__all__ = ["LogChroma", "melody_accuracy"]

MIDDLE_C_HZ = 261.6255653005986


class LogChroma(MelAudioExtractor):
    """Per-frame log pitch-class distribution ``(batch, 12, frames)``, or over pitch classes and octaves
    ``(batch, 12 * n_octaves, frames)`` with ``octaves``.

    Parameters
    ----------
    domain, mel
        Input (model-space mel frames or a waveform) and model space (sample rate, STFT, hop, mel filterbank), as in
        :class:`~tempo_kit.features.intensity.Intensity`.
    highpass_hz : float or None
        Ideal spectral high-pass before the chroma; ``None`` keeps everything.
    eps : float
        Added inside the log (``log(p + eps)``); the energy normaliser adds ``1e-10`` for silence.
    dither : float
        Fixed dither on audio input (audio path only).
    method : {"stft", "cqt"}
        ``"cqt"`` (audio only) folds an nnAudio constant-Q transform (:class:`~tempo_kit.audio.CQTChroma`, energy)
        instead of the STFT: sharper pitch at low frequencies, several times slower. nnAudio is imported lazily.
    octaves : (int, int), optional
        Keep the octaves ``lowest..highest`` apart (C4 = 261.6 Hz is octave 4): feature ``12 * o + c`` is pitch class
        ``c`` in octave ``lowest + o`` (:class:`~tempo_kit.audio.spectral.Chroma`), for :func:`~tempo_kit.losses.octave_spread`.
        ``highpass_hz`` must not cut the lowest octave's C (pass None, or a lower cutoff). STFT chroma only.
    """

    def __init__(
        self,
        *,
        domain: str = "mel",
        mel: MelSpec = MelSpec(),
        highpass_hz: float | None = MIDDLE_C_HZ,
        eps: float = 1e-8,
        dither: float = 1e-5,
        method: str = "stft",
        octaves: tuple[int, int] | None = None,
    ):
        super().__init__(domain=domain, mel=mel, eps=eps, dither=dither)
        if method not in ("stft", "cqt"):
            raise ValueError(f"method must be 'stft' or 'cqt', got {method!r}")
        if method == "cqt" and domain != "audio":
            raise ValueError("method='cqt' needs audio input (domain='audio'); mel frames have no constant-Q bins")
        if method == "cqt" and octaves is not None:
            raise ValueError("octaves= needs the STFT chroma (method='stft')")
        self.method = method
        self.cqt = None
        if method == "cqt":
            from ..audio.spectral import CQTChroma

            self.cqt = CQTChroma(sample_rate=mel.sample_rate, hop_length=mel.hop_length, normalize=False, power=2.0,
                                 highpass_hz=highpass_hz)
        self.highpass_hz = highpass_hz
        self.chroma = Chroma(sample_rate=mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop_length,
                             center=mel.center, pad_mode=mel.pad_mode, highpass_hz=highpass_hz, norm=None, octaves=octaves)
        self.octaves = self.chroma.octaves
        lowest_c = None if self.octaves is None else MIDDLE_C_HZ * 2.0 ** (self.octaves[0] - 4)
        if lowest_c is not None and highpass_hz is not None and highpass_hz > lowest_c * (1 + 1e-9):
            raise ValueError(f"highpass_hz={highpass_hz:g} removes notes of octave {self.octaves[0]} (its C is "
                             f"{lowest_c:.1f} Hz) of octaves={self.octaves}; pass highpass_hz=None or a cutoff below it")
        mel_to_chroma = self.chroma.fb.double().numpy() @ mel.mel_to_linear()  # (12, n_freq) @ (n_freq, n_mels)
        self.register_buffer("mel_to_chroma", torch.as_tensor(mel_to_chroma, dtype=torch.float32), persistent=False)

    def without_highpass(self) -> "LogChroma":
        """The same chroma over every frequency (``highpass_hz=None``; no ``octaves``): the denominator of the
        share of a frame's energy that the high-pass keeps."""
        return LogChroma(domain=self.domain, mel=self.mel, highpass_hz=None, eps=self.eps, dither=self.dither,
                         method=self.method).to(self.mel_to_chroma.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Raw chroma energy ``(batch, 12, frames)`` (``12 * n_octaves`` rows with ``octaves``)."""
        if self.domain == "mel":
            power = self.mel.from_model(as_mel(x, self.mel))
            return torch.einsum("cm,bmt->bct", self.mel_to_chroma.to(power), power)
        y = add_dither(as_audio(x), self.dither)
        return self.chroma(y) if self.cqt is None else self.cqt(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        C = self.energy(x)
        return torch.log(C / (C.sum(dim=1, keepdim=True) + 1e-10) + self.eps)


def melody_accuracy(log_chroma: torch.Tensor, pitch_classes: torch.Tensor, *, ignore_index: int | None = None):
    """Fraction of frames whose most likely pitch class equals the target (DITTO's "overall accuracy").

    Parameters
    ----------
    log_chroma : Tensor, shape ``(batch, 12, frames)``
    pitch_classes : Tensor, shape ``(frames,)`` or ``(batch, frames)``, integers in 0..11
    ignore_index : int, optional
        Target value marking frames without a note; those frames are not counted.

    Returns
    -------
    Tensor, shape ``(batch,)``: accuracy in [0, 1] per item.
    """
    target = check_pitch_classes(log_chroma, pitch_classes, ignore_index=ignore_index)
    hit = (log_chroma.argmax(dim=1) == target).float()
    valid = torch.ones_like(hit) if ignore_index is None else (target != ignore_index).float()
    return (hit * valid).sum(-1) / valid.sum(-1).clamp_min(1.0)
