"""Text adherence on mel frames with the bundled CLAP-style model (DITTO-2 Sec. 5.4, with :class:`MiniClap`).

``f(x) = MiniClap.embed_audio(x)``: the normalised audio embedding of model-space mel frames, compared with the
normalised embedding of a caption through the ``cosine`` loss (``1 - f^T y``). It reads the generator's output
directly (domain ``"mel"``), so no vocoder sits in the control loop.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch

from .base import Extractor

__all__ = ["MiniClapEmbedding"]


class MiniClapEmbedding(Extractor):
    """Frozen :class:`~tempo_kit.models.mini_clap.MiniClap` audio embedding ``(batch, dim)`` of mel frames.

    Parameters
    ----------
    model : MiniClap
        A loaded model (see :meth:`from_pretrained`); kept in eval mode with frozen weights.

    Notes
    -----
    ``forward(x)``: model-space mel ``(batch, n_mels, frames)`` or ``(batch, 1, n_mels, frames)``, frames >= 32 ->
    ``(batch, dim)``, unit norm.
    """

    domain = "mel"
    sample_rate = 22050
    frame_rate = None

    def __init__(self, *, model):
        super().__init__()
        self.model = model.eval().requires_grad_(False)

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike = "clap") -> "MiniClapEmbedding":
        """Load a bundled model by name (default ``"clap"``) or a folder written by ``save_model``."""
        from ..models.io import load_model
        from ..pretrained import load_pretrained

        return cls(model=load_model(source) if os.path.isdir(source) else load_pretrained(str(source)))

    def train(self, mode: bool = True) -> "MiniClapEmbedding":
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed_audio(x)

    def embed_text(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Normalised text embeddings ``(len(texts), dim)`` (no gradients; new text needs the ``text`` extra)."""
        with torch.no_grad():
            return self.model.embed_text(texts)

    def target(self, text: str) -> torch.Tensor:
        """The ``(dim,)`` target for the ``cosine`` loss: the normalised embedding of one caption."""
        return self.embed_text([text])[0]
