"""The extractor contract: an ``nn.Module`` that declares what it reads and at what rate it writes.

An extractor maps a generated output (mel frames, a waveform or latents) to a feature that a loss compares with a
target. Declaring ``domain``, ``sample_rate`` and ``frame_rate`` lets a control loop check that a target and a
prediction line up before any tensor math happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..audio.mel import MelSpec

__all__ = ["DOMAINS", "Extractor", "as_audio", "as_mel"]

DOMAINS = ("mel", "audio", "latent")


class Extractor(nn.Module):
    """Base class of feature extractors.

    Attributes
    ----------
    domain : {"mel", "audio", "latent"}
        What ``forward`` reads: model-space mel frames ``(batch, 1 or n_mels, ..., frames)``, a waveform
        ``(batch, samples)`` or ``(batch, channels, samples)``, or latents ``(batch, channels, frames)``.
    sample_rate : int or None
        Audio sample rate the extractor assumes (also for mel input: the rate the mel frames were computed at).
    frame_rate : float or None
        Frames per second along the last axis of the output feature; ``None`` for time-less features (CLAP).
    """

    domain: str = "mel"
    sample_rate: int | None = None
    frame_rate: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def num_frames(self, n_input: int) -> int | None:
        """Number of output frames for an input with ``n_input`` samples/frames on its last axis (``None`` if time-less)."""
        return None

    def check_rates(self, *, sample_rate: float | None = None, frame_rate: float | None = None) -> None:
        """Raise ``ValueError`` if a target's sample or frame rate differs from this extractor's (``None``: unknown)."""
        for what, theirs, ours in (("sample rate", sample_rate, self.sample_rate),
                                   ("frame rate", frame_rate, self.frame_rate)):
            if theirs is not None and ours is not None and abs(float(theirs) - float(ours)) > 1e-4 * float(ours):
                raise ValueError(f"{type(self).__name__} works at a {what} of {float(ours):g} but the target was made "
                                 f"at {float(theirs):g}; rebuild the target at the extractor's rate")


def as_mel(x: torch.Tensor, spec: MelSpec) -> torch.Tensor:
    """Model-space mel ``(batch, n_mels, frames)`` or ``(batch, 1, n_mels, frames)`` -> ``(batch, n_mels, frames)``."""
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1] != spec.n_mels or not x.is_floating_point():
        raise ValueError(
            f"expected model-space mel frames (batch, n_mels={spec.n_mels}, frames), got shape {tuple(x.shape)} "
            f"dtype {x.dtype}"
        )
    return x


def as_audio(x: torch.Tensor) -> torch.Tensor:
    """Waveform ``(batch, samples)`` or ``(batch, channels, samples)`` (channels averaged) -> ``(batch, samples)``."""
    if x.ndim == 3:
        x = x.mean(dim=1)
    if x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"expected a waveform (batch, samples) or (batch, channels, samples), got shape "
                         f"{tuple(x.shape)} dtype {x.dtype}")
    return x
