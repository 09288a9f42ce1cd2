"""Shared pieces of the built-in extractors: the mel-or-audio base, a deterministic dither, Savitzky-Golay smoothing."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from ..audio.mel import MelSpec
from .base import Extractor

DOMAIN_CHOICES = ("mel", "audio")


def check_domain(domain: str, allowed=DOMAIN_CHOICES) -> str:
    if domain not in allowed:
        raise ValueError(f"domain must be one of {allowed}, got {domain!r}")
    return domain


class MelAudioExtractor(Extractor):
    """Base of the built-in extractors that read model-space mel frames (``domain="mel"``) or a waveform of the same
    model space (``"audio"``), at the model space's sample and frame rate, with an ``eps`` and a fixed ``dither``."""

    def __init__(self, *, domain: str, mel: MelSpec, eps: float, dither: float):
        super().__init__()
        self.domain, self.mel, self.eps, self.dither = check_domain(domain), mel, float(eps), float(dither)
        self.sample_rate, self.frame_rate = mel.sample_rate, mel.frame_rate

    def num_frames(self, n_input: int) -> int:
        return n_input if self.domain == "mel" else self.mel.num_frames(n_input)


@functools.lru_cache(maxsize=8)
def _dither_noise(n: int) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(0x7E3F0))


def add_dither(x: torch.Tensor, level: float) -> torch.Tensor:
    """Add a fixed pseudo-random signal of standard deviation ``level`` along the last axis (identical on every call).

    Energy features have exactly zero gradient at digital silence (``d|X|^2/dX = 0`` at ``X = 0``); a -100 dB dither
    makes the gradient non-zero while changing features of real audio by far less than their precision.
    """
    if level == 0:
        return x
    return x + level * _dither_noise(x.shape[-1]).to(device=x.device, dtype=x.dtype)


def savgol_kernel(window: int, polyorder: int) -> torch.Tensor:
    """Savitzky-Golay smoothing coefficients (``scipy.signal.savgol_coeffs``, zeroth derivative) as a float tensor."""
    from scipy.signal import savgol_coeffs

    if window < 1 or window % 2 == 0:
        raise ValueError(f"Savitzky-Golay window must be a positive odd number of frames, got {window}")
    if polyorder >= window:
        raise ValueError(f"Savitzky-Golay polyorder ({polyorder}) must be smaller than the window ({window})")
    return torch.as_tensor(np.asarray(savgol_coeffs(window, polyorder)), dtype=torch.float32)


def odd_window(frames: float, minimum: int = 1) -> int:
    """Nearest odd integer >= ``minimum`` to ``frames``."""
    w = max(int(round(frames)), minimum)
    return w if w % 2 == 1 else w + 1


def smooth(x: torch.Tensor, kernel: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Convolve ``x`` along ``dim`` with a symmetric odd ``kernel``; edges are padded by repeating the end values."""
    x = x.movedim(dim, -1)
    shape = x.shape
    k = kernel.to(device=x.device, dtype=x.dtype)
    half = k.numel() // 2
    flat = F.pad(x.reshape(-1, 1, shape[-1]), (half, half), mode="replicate")
    out = F.conv1d(flat, k.flip(0).view(1, 1, -1)).reshape(shape)
    return out.movedim(-1, dim)
