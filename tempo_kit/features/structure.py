"""Structure: MFCC self-similarity ``T T^T`` (DITTO Sec. 4, "Structure"; App. F for structure transfer).

``T`` holds the MFCCs (DCT-II of the dB mel, as ``librosa.feature.mfcc``) without ``c0``, each coefficient z-scored
over time, each frame L2-normalised, so ``S = T T^T`` is a cosine self-similarity in [-1, 1]. An optional 2-D
Savitzky-Golay filter (separable, window ~1/8 of the frame count) smooths ``S`` for block targets such as "ABA";
structure transfer from a real song uses no smoothing.

Both domains use the model-space dB mel (``MelSpec.to_model`` for audio), so they agree exactly; the dB floor is the
model space's absolute -80 dB instead of librosa's per-clip ``top_db``, which z-scoring makes irrelevant except in
near-silent frames.
"""

from __future__ import annotations

import torch

from ..audio.mel import MelSpec
from ..audio.spectral import dct_matrix
from ._common import MelAudioExtractor, add_dither, odd_window, savgol_kernel, smooth
from .base import as_audio, as_mel

__all__ = ["MFCCSelfSimilarity"]


class MFCCSelfSimilarity(MelAudioExtractor):
    """Cosine self-similarity of z-scored MFCCs, ``(batch, frames, frames)``.

    Parameters
    ----------
    domain, mel
        Input and model space, as in :class:`~tempo_kit.features.intensity.Intensity`.
    n_mfcc : int
        Coefficients computed (librosa's 20); ``c0`` is dropped, leaving ``n_mfcc - 1``.
    smoothing : {"auto"} or int or None
        2-D Savitzky-Golay window in frames (odd); ``"auto"``: 1/8 of the frame count; ``None``: no smoothing.
    polyorder : int
        Savitzky-Golay polynomial order (reduced for short windows).
    eps : float
        Inside the square roots of the z-score and of the frame norm.
    dither : float
        Fixed dither: in model-space units for mel input, in amplitude for audio input. A constant input (silence)
        has no structure and a zero self-similarity gradient; the dither keeps the gradient non-zero.
    """

    def __init__(
        self,
        *,
        domain: str = "mel",
        mel: MelSpec = MelSpec(),
        n_mfcc: int = 20,
        smoothing: str | int | None = "auto",
        polyorder: int = 3,
        eps: float = 1e-6,
        dither: float = 1e-5,
    ):
        super().__init__(domain=domain, mel=mel, eps=eps, dither=dither)
        if smoothing not in (None, "auto") and not (isinstance(smoothing, int) and smoothing >= 1 and smoothing % 2):
            raise ValueError(f"smoothing must be None, 'auto' or a positive odd number of frames, got {smoothing!r}")
        self.smoothing, self.polyorder = smoothing, int(polyorder)
        if not 2 <= n_mfcc <= mel.n_mels:
            raise ValueError(f"n_mfcc must lie in [2, n_mels={mel.n_mels}], got {n_mfcc}")
        self.register_buffer("dct", torch.as_tensor(dct_matrix(n_mfcc, mel.n_mels)[1:], dtype=torch.float32),
                             persistent=False)

    def _kernel(self, frames: int) -> torch.Tensor | None:
        if self.smoothing is None:
            return None
        window = odd_window(frames / 8) if self.smoothing == "auto" else self.smoothing
        if window < 3:
            return None
        return savgol_kernel(window, min(self.polyorder, window - 2))

    def mfcc(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised MFCC frames ``T``, ``(batch, frames, n_mfcc - 1)``."""
        if self.domain == "mel":
            x = add_dither(as_mel(x, self.mel), self.dither)
        else:
            x = self.mel.to_model(add_dither(as_audio(x), self.dither))
        T = torch.einsum("cm,bmt->btc", self.dct.to(x), self.mel.model_to_db(x))
        T = T - T.mean(dim=1, keepdim=True)
        T = T / torch.sqrt(T.square().mean(dim=1, keepdim=True) + self.eps)
        return T / torch.sqrt(T.square().sum(dim=-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = self.mfcc(x)
        S = T @ T.transpose(1, 2)
        kernel = self._kernel(S.shape[-1])
        return S if kernel is None else smooth(smooth(S, kernel, dim=-1), kernel, dim=-2)
