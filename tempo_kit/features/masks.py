"""Masked reconstruction for outpainting, inpainting and looping (DITTO Sec. 4, App. E; DITTO-2 Sec. 4.1).

Masks are boolean vectors over the time axis (the last axis of mel frames or latents), built from seconds with the
frame rate. The extractor returns ``x[..., gen_mask]``; :meth:`MaskedReconstruction.target` returns
``reference[..., ref_mask]``; an MSE loss compares them.

* outpainting: ``x0[..., :o] <-> x_ref[..., -o:]`` (the new clip starts where the reference ends; different ranges);
* inpainting: the same context ranges at both edges of ``x0`` and ``x_ref``, the gap in between is generated;
* looping with a reference: ``x0[..., -o:] <-> x_ref[..., :o]`` (the new clip's end flows into the reference start);
* reference-free looping (:class:`LoopFree`): ``x0[..., -o:] - x0[..., :o]`` against zeros, so frames ``o..N`` repeat
  seamlessly when the first ``N - o`` frames are looped.
"""

from __future__ import annotations

import math

import torch

from ..audio.mel import MelSpec
from .base import DOMAINS, Extractor

__all__ = ["LoopFree", "MaskedReconstruction", "seconds_to_frames", "time_mask"]

_DEFAULT_RATE = MelSpec().frame_rate


def seconds_to_frames(seconds: float, frame_rate: float) -> int:
    """Nearest whole number of frames for ``seconds``; raises on negative, NaN or non-positive rates."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"a duration in seconds must be a finite non-negative number, got {seconds!r}")
    if not (frame_rate and frame_rate > 0):
        raise ValueError(f"frame_rate must be positive, got {frame_rate!r}")
    return int(round(seconds * frame_rate))


def time_mask(n_frames: int, spans, *, frame_rate: float) -> torch.Tensor:
    """Boolean mask ``(n_frames,)`` that is True inside the given spans.

    Parameters
    ----------
    n_frames : int
        Length of the time axis.
    spans : iterable of (start_s, end_s)
        Spans in seconds; ``None`` means the clip's start (for ``start_s``) or end (for ``end_s``), and a negative
        value counts from the end (``(-1.0, None)`` is the last second).
    frame_rate : float
        Frames per second of the time axis.

    Raises
    ------
    ValueError
        If the mask is empty (a zero-length span, or spans outside the clip).
    """
    mask = torch.zeros(n_frames, dtype=torch.bool)

    def frame(s, default):
        if s is None:
            return default
        f = seconds_to_frames(abs(s), frame_rate)
        return max(n_frames - f, 0) if s < 0 else min(f, n_frames)

    for start_s, end_s in spans:
        mask[frame(start_s, 0):frame(end_s, n_frames)] = True
    if not bool(mask.any()):
        raise ValueError(
            f"empty mask: spans {list(spans)!r} select no frame of a {n_frames}-frame clip at {frame_rate:.3f} "
            f"frames/s ({n_frames / frame_rate:.2f} s); use spans of at least 1 / frame_rate = "
            f"{1 / frame_rate:.4f} s inside the clip"
        )
    return mask


def _check_mask(mask, name: str) -> torch.Tensor:
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if mask.ndim != 1:
        raise ValueError(f"{name} must be a 1-D boolean mask over frames, got shape {tuple(mask.shape)}")
    if not bool(mask.any()):
        raise ValueError(f"{name} is empty: it selects no frame")
    return mask


class MaskedReconstruction(Extractor):
    """``x -> x[..., gen_mask]``, compared with ``reference[..., ref_mask]`` (see :meth:`target`).

    Parameters
    ----------
    gen_mask : BoolTensor, shape ``(n_frames,)``
        Frames of the generated output that are constrained.
    ref_mask : BoolTensor, shape ``(n_ref_frames,)``, optional
        Frames of the reference they must match (default: ``gen_mask``, i.e. the same ranges); must select as many
        frames as ``gen_mask``.
    frame_rate : float
        Frames per second of the time axis (default: the mel model space, 43.07 Hz).
    domain : {"mel", "audio", "latent"}
        What the time axis belongs to (only recorded; any ``(..., frames)`` tensor works).
    sample_rate : int, optional
        Audio sample rate behind the frames, if any.
    """

    def __init__(self, *, gen_mask, ref_mask=None, frame_rate: float = _DEFAULT_RATE, domain: str = "mel",
                 sample_rate: int | None = MelSpec().sample_rate):
        super().__init__()
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        gen = _check_mask(gen_mask, "gen_mask")
        ref = gen if ref_mask is None else _check_mask(ref_mask, "ref_mask")
        if int(gen.sum()) != int(ref.sum()):
            raise ValueError(f"gen_mask selects {int(gen.sum())} frames but ref_mask selects {int(ref.sum())}")
        self.register_buffer("gen_mask", gen, persistent=False)
        self.register_buffer("ref_mask", ref, persistent=False)
        self.domain, self.frame_rate, self.sample_rate = domain, float(frame_rate), sample_rate

    # -- constructors from seconds -------------------------------------------------------------------------------
    @classmethod
    def outpainting(cls, *, n_frames: int, overlap_s: float = 1.0, n_ref_frames: int | None = None,
                    frame_rate: float = _DEFAULT_RATE, **kw) -> "MaskedReconstruction":
        """First ``overlap_s`` of the new clip must equal the last ``overlap_s`` of the reference."""
        n_ref = n_frames if n_ref_frames is None else n_ref_frames
        _check_overlap("outpainting", n_frames, overlap_s, frame_rate)
        return cls(gen_mask=time_mask(n_frames, [(None, overlap_s)], frame_rate=frame_rate),
                   ref_mask=time_mask(n_ref, [(-overlap_s, None)], frame_rate=frame_rate), frame_rate=frame_rate, **kw)

    @classmethod
    def inpainting(cls, *, n_frames: int, context_s: float = 1.0, gap_s: tuple[float, float] | None = None,
                   frame_rate: float = _DEFAULT_RATE, **kw) -> "MaskedReconstruction":
        """Keep the reference outside the gap: ``gap_s = (start, end)`` or, by default, ``context_s`` at both edges."""
        spans = [(None, context_s), (-context_s, None)] if gap_s is None else [(None, gap_s[0]), (gap_s[1], None)]
        if gap_s is not None and not 0 <= gap_s[0] < gap_s[1]:
            raise ValueError(f"gap_s must be (start, end) seconds with 0 <= start < end, got {gap_s!r}")
        mask = time_mask(n_frames, spans, frame_rate=frame_rate)
        if bool(mask.all()):
            raise ValueError(f"inpainting gap is empty: spans {spans!r} cover the whole {n_frames}-frame clip")
        return cls(gen_mask=mask, frame_rate=frame_rate, **kw)

    @classmethod
    def looping(cls, *, n_frames: int, overlap_s: float = 1.0, n_ref_frames: int | None = None,
                frame_rate: float = _DEFAULT_RATE, **kw) -> "MaskedReconstruction":
        """Last ``overlap_s`` of the new clip must equal the first ``overlap_s`` of the reference."""
        n_ref = n_frames if n_ref_frames is None else n_ref_frames
        _check_overlap("looping", n_frames, overlap_s, frame_rate)
        return cls(gen_mask=time_mask(n_frames, [(-overlap_s, None)], frame_rate=frame_rate),
                   ref_mask=time_mask(n_ref, [(None, overlap_s)], frame_rate=frame_rate), frame_rate=frame_rate, **kw)

    # -- use ------------------------------------------------------------------------------------------------------
    def num_frames(self, n_input: int) -> int:
        return int(self.gen_mask.sum())

    def _select(self, x: torch.Tensor, mask: torch.Tensor, what: str) -> torch.Tensor:
        if x.ndim < 1 or x.shape[-1] != mask.numel():
            raise ValueError(f"{what} has {x.shape[-1] if x.ndim else 0} frames on its last axis but the mask was "
                             f"built for {mask.numel()} frames ({mask.numel() / self.frame_rate:.2f} s)")
        return x[..., mask.to(x.device)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., n_frames) -> (..., n_selected)``."""
        return self._select(x, self.gen_mask, "input")

    def target(self, reference: torch.Tensor) -> torch.Tensor:
        """The reference frames the output must match: ``reference[..., ref_mask]``."""
        if not isinstance(reference, torch.Tensor):
            raise TypeError(f"the reference is a tensor of mel frames (..., n_mels, frames), got {type(reference).__name__}")
        if torch.isnan(reference).any():
            raise ValueError("reference contains NaN")
        return self._select(reference, self.ref_mask, "reference")


def _check_overlap(task: str, n_frames: int, overlap_s: float, frame_rate: float) -> None:
    """An overlap must leave part of the clip free to generate."""
    if bool(time_mask(n_frames, [(None, overlap_s)], frame_rate=frame_rate).all()):
        raise ValueError(f"{task} overlap of {overlap_s:g} s covers the whole {n_frames}-frame clip "
                         f"({n_frames / frame_rate:.2f} s): nothing is left to generate; use a longer clip or a "
                         "shorter overlap")


class LoopFree(Extractor):
    """Reference-free looping: ``x[..., -o:] - x[..., :o]``, to be driven to zero (DITTO App. E, ``o`` = 0.5 s).

    Parameters
    ----------
    overlap_s : float
        Overlap in seconds (at least one frame, at most half the clip).
    frame_rate : float
        Frames per second of the time axis.
    domain, sample_rate
        As :class:`MaskedReconstruction`.
    """

    def __init__(self, *, overlap_s: float = 0.5, frame_rate: float = _DEFAULT_RATE, domain: str = "mel",
                 sample_rate: int | None = MelSpec().sample_rate):
        super().__init__()
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.overlap = seconds_to_frames(overlap_s, frame_rate)
        if self.overlap < 1:
            raise ValueError(f"empty mask: overlap_s={overlap_s} is less than one frame at {frame_rate:.3f} frames/s")
        self.domain, self.frame_rate, self.sample_rate = domain, float(frame_rate), sample_rate

    def num_frames(self, n_input: int) -> int:
        return self.overlap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., n_frames) -> (..., overlap)``."""
        if x.ndim < 1 or x.shape[-1] < 2 * self.overlap:
            raise ValueError(f"input has {x.shape[-1] if x.ndim else 0} frames, fewer than twice the overlap "
                             f"({self.overlap} frames)")
        return x[..., -self.overlap:] - x[..., : self.overlap]

    def target(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Zeros shaped like the feature of ``x`` (or ``(overlap,)`` without ``x``, broadcast by the loss)."""
        return torch.zeros(self.overlap) if x is None else torch.zeros_like(self(x))
