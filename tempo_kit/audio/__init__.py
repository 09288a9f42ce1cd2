"""Audio front end: differentiable spectral modules, the mel model space and resampling.

* :mod:`tempo_kit.audio.spectral`: ``Spectrogram``, ``MelSpectrogram``, ``Chroma``, ``CQTChroma`` (nnAudio), ``MFCC``,
  ``power_to_db`` (librosa-exact on ``torch.stft``).
* :mod:`tempo_kit.audio.mel`: ``MelSpec``, the model-space configuration (``to_model`` / ``from_model``).
* :mod:`tempo_kit.audio.resample`: ``Resample`` / ``resample``, windowed-sinc polyphase resampling in torch.
"""

from .mel import MelSpec
from .resample import Resample, resample
from .spectral import MFCC, PAD_MODES, Chroma, CQTChroma, MelSpectrogram, Spectrogram, dct_matrix, power_to_db

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
    "power_to_db",
    "resample",
]
