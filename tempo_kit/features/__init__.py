"""Differentiable feature extractors (intensity, chroma, MFCC self-similarity, masks, CLAP).

Every extractor is an :class:`Extractor` (``nn.Module``) that declares ``domain``, ``sample_rate`` and ``frame_rate``.
Mel-domain extractors read model-space mel frames ``(batch, n_mels, frames)`` (see :class:`tempo_kit.audio.MelSpec`);
audio-domain ones read ``(batch, samples)``; both give the same frame rate.

| registered name | class | output | loss |
|---|---|---|---|
| ``intensity`` | :class:`Intensity` | ``(batch, frames)`` in dB | ``mse`` / ``pearson`` |
| ``chroma`` | :class:`LogChroma` | ``(batch, 12, frames)`` log-probabilities (``12 * n_octaves`` with ``octaves``) | ``nll``; ``octave_spread`` |
| ``structure`` | :class:`MFCCSelfSimilarity` | ``(batch, frames, frames)`` in [-1, 1] | ``mse`` |
| ``spectral-flux`` | :class:`SpectralFlux` | ``(batch, frames)``, >= 0 | ``onset_deficit`` |
| ``outpainting`` (1) | :class:`MaskedReconstruction` | ``(batch, n_mels, selected frames)`` | ``mse`` |
| ``looping-free`` | :class:`LoopFree` | ``(batch, n_mels, overlap)`` | ``mse`` against zeros |
| ``clap`` | :class:`ClapEmbedding` | ``(batch, dim)`` unit vectors | ``cosine`` |

(1) also ``inpainting``, ``looping`` and ``reconstruction`` (explicit masks).
"""

from .base import DOMAINS, Extractor, as_audio, as_mel
from .chroma import LogChroma, melody_accuracy
from .clap import ClapEmbedding, ClapLogMel
from .intensity import Intensity
from .masks import LoopFree, MaskedReconstruction, seconds_to_frames, time_mask
from .onsets import SpectralFlux
from .structure import MFCCSelfSimilarity

__all__ = [
    "ClapEmbedding",
    "ClapLogMel",
    "DOMAINS",
    "Extractor",
    "Intensity",
    "LogChroma",
    "LoopFree",
    "MFCCSelfSimilarity",
    "MaskedReconstruction",
    "SpectralFlux",
    "as_audio",
    "as_mel",
    "melody_accuracy",
    "seconds_to_frames",
    "time_mask",
]

