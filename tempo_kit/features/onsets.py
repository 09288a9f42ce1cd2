"""Onsets: the positive spectral flux of the log-mel frames, the novelty curve behind onset detection.

``flux_t = mean_m max(0, x_{m,t} - x_{m,t-1})`` over the mel bands ``m`` of model-space frames ``x`` (a linear map of
dB, so the flux is a rise in level, in model units: 1 unit is ``(db_max + top_db) / 2`` dB, 60 dB at the defaults).
A note that starts clearly raises the level of many bands at once. Like :func:`librosa.onset.onset_strength` (lag 1,
no frequency max-filter) but in model units against the model space's absolute floor rather than dB below the clip's
peak, and without librosa's shift for centred frames: a note that begins at frame ``t`` rises over frames ``t - 1``
to ``t + 1`` (:func:`~tempo_kit.losses.onset_deficit` allows for that). The first frame has no predecessor and
reads 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..audio.mel import MelSpec
from ._common import MelAudioExtractor, add_dither
from .base import as_audio, as_mel

__all__ = ["SpectralFlux"]


class SpectralFlux(MelAudioExtractor):
    """Positive spectral flux per frame.

    Parameters
    ----------
    domain : {"mel", "audio"}
        ``"mel"``: model-space mel ``(batch, n_mels, frames)``; ``"audio"``: waveform ``(batch, samples)`` at
        ``mel.sample_rate``, turned into model-space mel frames first.
    mel : MelSpec
        Model space.
    dither : float
        Standard deviation of the fixed dither added to audio input (amplitude), as the other extractors do; the mel
        path is linear in its input and takes none.

    Notes
    -----
    ``forward``: ``(batch, frames)`` in model units per frame at ``frame_rate`` frames/s, >= 0.
    """

    def __init__(self, *, domain: str = "mel", mel: MelSpec = MelSpec(), dither: float = 1e-5):
        super().__init__(domain=domain, mel=mel, eps=0.0, dither=dither)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.domain == "mel":
            x = as_mel(x, self.mel)
        else:
            x = self.mel.to_model(add_dither(as_audio(x), self.dither))
        return F.pad((x[..., 1:] - x[..., :-1]).clamp_min(0).mean(-2), (1, 0))
