"""Band-limited resampling in torch: polyphase windowed-sinc (Hann window), differentiable, no torchaudio.

The kernel is the one of ``torchaudio.functional.resample(..., resampling_method="sinc_interp_hann")`` (after
Smith's bandlimited interpolation, as in resampy/Julius): the rates are reduced by their gcd to ``orig -> new``, each
of the ``new`` output phases gets a ``2 * width + orig`` tap filter, and one strided ``conv1d`` evaluates all phases.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Resample", "resample"]


def _kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[torch.Tensor, int]:
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = (torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + idx) * base
    t = t.clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    return sinc * window * base / orig, width


class Resample(nn.Module):
    """Resample ``(..., samples)`` from ``orig_sr`` to ``new_sr`` Hz; output length ``ceil(n * new_sr / orig_sr)``.

    Parameters
    ----------
    orig_sr, new_sr : int
        Sample rates in Hz.
    lowpass_filter_width : int
        Zero crossings of the sinc on each side (sharper band edge, longer filter).
    rolloff : float
        Cutoff as a fraction of the lower Nyquist frequency (anti-aliasing margin).
    """

    def __init__(self, *, orig_sr: int, new_sr: int, lowpass_filter_width: int = 6, rolloff: float = 0.99):
        super().__init__()
        if orig_sr <= 0 or new_sr <= 0 or int(orig_sr) != orig_sr or int(new_sr) != new_sr:
            raise ValueError(f"sample rates must be positive integers, got {orig_sr} and {new_sr}")
        if not 0 < rolloff <= 1 or lowpass_filter_width < 1:
            raise ValueError(f"need 0 < rolloff <= 1 and lowpass_filter_width >= 1, got {rolloff}, "
                             f"{lowpass_filter_width}")
        g = math.gcd(int(orig_sr), int(new_sr))
        self.orig_sr, self.new_sr = int(orig_sr), int(new_sr)
        self.orig, self.new = self.orig_sr // g, self.new_sr // g
        kernel, self.width = _kernel(self.orig, self.new, lowpass_filter_width, rolloff)
        self.register_buffer("kernel", kernel, persistent=False)

    def num_samples(self, n: int) -> int:
        return math.ceil(self.new * n / self.orig)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.orig == self.new:
            return y
        lead, n = y.shape[:-1], y.shape[-1]
        x = F.pad(y.reshape(-1, 1, n), (self.width, self.width + self.orig))
        out = F.conv1d(x, self.kernel.to(x), stride=self.orig)  # (batch, new, steps)
        out = out.transpose(1, 2).reshape(x.shape[0], -1)[:, : self.num_samples(n)]
        return out.reshape(*lead, out.shape[-1])


def resample(y: torch.Tensor, orig_sr: int, new_sr: int, **kwargs) -> torch.Tensor:
    """Functional form of :class:`Resample` (builds the kernel on every call)."""
    return Resample(orig_sr=orig_sr, new_sr=new_sr, **kwargs)(y)
