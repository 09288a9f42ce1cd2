"""Audio front end: differentiable spectral modules, the mel model space, resampling and a small test synthesizer.

* :mod:`tempo_kit.audio.spectral`: ``Spectrogram``, ``MelSpectrogram``, ``Chroma``, ``CQTChroma`` (nnAudio), ``MFCC``,
  ``power_to_db`` (librosa-exact on ``torch.stft``).
* :mod:`tempo_kit.audio.mel`: ``MelSpec``, the model-space configuration (``to_model`` / ``from_model``).
* :mod:`tempo_kit.audio.resample`: ``Resample`` / ``resample``, windowed-sinc polyphase resampling in torch.
* :mod:`tempo_kit.audio.synth`: ``render_notes`` / ``example_music`` for offline test audio.
"""

from .mel import MelSpec
from .resample import Resample, resample
from .spectral import MFCC, PAD_MODES, Chroma, CQTChroma, MelSpectrogram, Spectrogram, dct_matrix, power_to_db
from .synth import example_music, midi_to_hz, render_notes

__all__ = [
    "MFCC",
    "PAD_MODES",
    "Resample",
    "CQTChroma",
    "Chroma",
    "MelSpec",
    "MelSpectrogram",
    "Spectrogram",
    "dct_matrix",
    "example_music",
    "midi_to_hz",
    "power_to_db",
    "render_notes",
    "resample",
]
