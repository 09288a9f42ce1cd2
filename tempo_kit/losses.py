"""Control losses ``loss(feature, target) -> scalar``: MSE, NLL, cosine and Pearson (DITTO Sec. 4, App. C; DITTO-2 5.4),
and the melody task's octave spread.

Every loss validates its target before any tensor math: NaN or infinite values, a wrong number of frames on the last
axis, shapes that do not broadcast, and (for NLL) pitch classes outside ``0..n_classes-1`` raise ``ValueError`` with
the offending sizes. A target may be unbatched (it is broadcast over the batch) or carry the batch axis.

``reduction``: ``"mean"`` (default, the mean over batch items of the per-item loss), ``"sum"`` or ``"none"``
(``(batch,)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["check_pitch_classes", "check_target", "cosine", "mse", "nll", "octave_spread", "onset_deficit", "pearson"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    if reduction == "none":
        return per_item
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def check_target(feature: torch.Tensor, target, *, name: str = "target") -> torch.Tensor:
    """Return ``target`` as a tensor like ``feature`` after checking values, frame count and broadcasting.

    Raises
    ------
    ValueError
        NaN/inf in the target, a different length of the last (time or feature) axis, or shapes that do not broadcast.
    """
    target = torch.as_tensor(target)
    if target.is_floating_point() and not bool(torch.isfinite(target).all()):
        bad = int((~torch.isfinite(target)).sum())
        raise ValueError(f"{name} contains NaN or infinite values ({bad} of {target.numel()} entries)")
    target = target.to(device=feature.device, dtype=feature.dtype)
    if target.ndim == 0 or feature.ndim == 0:
        raise ValueError(f"{name} and feature need at least one axis, got shapes {tuple(target.shape)} and "
                         f"{tuple(feature.shape)}")
    if target.shape[-1] != feature.shape[-1]:
        raise ValueError(f"{name} has length {target.shape[-1]} on its last axis but the feature has "
                         f"{feature.shape[-1]} (target shape {tuple(target.shape)}, feature shape "
                         f"{tuple(feature.shape)})")
    try:
        shape = torch.broadcast_shapes(target.shape, feature.shape)
    except RuntimeError:
        shape = None
    if shape != feature.shape:
        raise ValueError(f"{name} of shape {tuple(target.shape)} does not match feature of shape "
                         f"{tuple(feature.shape)} (an unbatched target must equal the feature's shape without batch)")
    return target


def _per_item(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1) if x.ndim > 1 else x[None]


def mse(feature: torch.Tensor, target, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error per item, ``mean((f - y)^2)`` (DITTO intensity, structure, painting, looping)."""
    target = check_target(feature, target)
    return _reduce(_per_item((feature - target).square()).mean(-1), reduction)


def cosine(feature: torch.Tensor, target, *, eps: float = 1e-8, reduction: str = "mean") -> torch.Tensor:
    """``1 - cos(f, y)`` per item over all non-batch axes (DITTO-2 Sec. 5.4, CLAP text adherence)."""
    target = check_target(feature, target).expand_as(feature)
    f, y = _per_item(feature), _per_item(target)
    cos = (f * y).sum(-1) / torch.sqrt(f.square().sum(-1) * y.square().sum(-1) + eps)
    return _reduce(1.0 - cos, reduction)


def pearson(feature: torch.Tensor, target, *, eps: float = 1e-8, reduction: str = "mean") -> torch.Tensor:
    """Negative Pearson correlation ``-rho(f, y)`` per item over all non-batch axes (DITTO App. C)."""
    target = check_target(feature, target).expand_as(feature)
    f, y = _per_item(feature), _per_item(target)
    f, y = f - f.mean(-1, keepdim=True), y - y.mean(-1, keepdim=True)
    rho = (f * y).sum(-1) / torch.sqrt(f.square().sum(-1) * y.square().sum(-1) + eps)
    return _reduce(-rho, reduction)


def check_pitch_classes(log_probs: torch.Tensor, target, *, ignore_index: int | None = None) -> torch.Tensor:
    """Validate per-frame class targets for ``log_probs (batch, classes, frames)``; return a long tensor.

    Raises
    ------
    ValueError
        A non-integer or NaN target, classes outside ``0..classes-1`` (other than ``ignore_index``), or a frame
        count different from the feature's.
    """
    if log_probs.ndim != 3:
        raise ValueError(f"expected log-probabilities (batch, classes, frames), got shape {tuple(log_probs.shape)}")
    target = torch.as_tensor(target)
    if target.is_floating_point():
        if not bool(torch.isfinite(target).all()):
            raise ValueError("pitch-class target contains NaN or infinite values")
        if not bool((target == target.round()).all()):
            raise ValueError("pitch-class target must hold integers (pitch classes 0-11), got fractional values")
    elif target.dtype == torch.bool:
        raise ValueError("pitch-class target must hold integers (pitch classes 0-11), got booleans")
    target = target.long().to(log_probs.device)
    n_classes, n_frames = log_probs.shape[1], log_probs.shape[2]
    if target.ndim not in (1, 2) or target.shape[-1] != n_frames:
        raise ValueError(f"pitch-class target has shape {tuple(target.shape)} but the feature has {n_frames} frames;"
                         f" expected ({n_frames},) or (batch, {n_frames})")
    if target.ndim == 2 and target.shape[0] not in (1, log_probs.shape[0]):
        raise ValueError(f"pitch-class target has batch {target.shape[0]} but the feature has batch "
                         f"{log_probs.shape[0]}")
    valid = target if ignore_index is None else target[target != ignore_index]
    bad = valid[(valid < 0) | (valid >= n_classes)]
    if bad.numel():
        raise ValueError(f"pitch classes must lie in 0..{n_classes - 1}; got {sorted(set(bad.tolist()))[:8]}"
                         + ("" if ignore_index is None else f" (ignore_index={ignore_index})"))
    return target.expand(log_probs.shape[0], n_frames)


def nll(log_probs: torch.Tensor, target, *, ignore_index: int | None = None, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood of per-frame pitch classes under log-chroma ``(batch, 12, frames)`` (DITTO melody).

    Parameters
    ----------
    log_probs : Tensor, shape ``(batch, classes, frames)``
        Per-frame log-probabilities (see :class:`tempo_kit.features.LogChroma`).
    target : Tensor, shape ``(frames,)`` or ``(batch, frames)``
        Integer pitch classes in ``0..classes-1``.
    ignore_index : int, optional
        Target value for frames without a note (they do not count).
    """
    target = check_pitch_classes(log_probs, target, ignore_index=ignore_index)
    per_frame = F.nll_loss(log_probs, target, reduction="none",
                           ignore_index=-100 if ignore_index is None else ignore_index)
    valid = torch.ones_like(per_frame) if ignore_index is None else (target != ignore_index).to(per_frame)
    return _reduce(per_frame.sum(-1) / valid.sum(-1).clamp_min(1.0), reduction)


def octave_spread(log_probs: torch.Tensor, target, *, ignore_index: int | None = None,
                  reduction: str = "mean") -> torch.Tensor:
    """How far the octave profile of each tune note varies inside the note (a remedy for octave hopping).

    ``log_probs`` is a log-distribution over pitch classes *and* octaves, ``(batch, 12 * n_octaves, frames)`` with
    row ``12 * o + c`` for pitch class ``c`` in octave ``o`` (:class:`~tempo_kit.features.LogChroma` with
    ``octaves``). At a frame whose target is pitch class ``c``, its octave profile is ``q_t(o) = p(o | c)``; a *note*
    is a run of frames with the same target class. The loss is the mean over the target's voiced frames of
    ``sum_o (sqrt q_t(o) - m(o))^2``, ``m`` the note's mean of ``sqrt q``: a squared Hellinger-type distance of each
    frame's profile to its note's, 0 when every frame of a note spreads its energy over the octaves alike (any mix
    of fundamental and harmonics), large when the energy jumps between octaves inside the note.

    Parameters
    ----------
    log_probs : Tensor, shape ``(batch, 12 * n_octaves, frames)``
    target : Tensor, shape ``(frames,)`` or ``(batch, frames)``
        Integer pitch classes 0-11 (the melody target).
    ignore_index : int, optional
        Target value for frames without a note.
    """
    if log_probs.ndim != 3 or log_probs.shape[1] % 12 or log_probs.shape[1] < 24:
        raise ValueError(f"octave_spread needs a log-distribution over 12 pitch classes x at least 2 octaves, "
                         f"(batch, 12 * n_octaves, frames), got shape {tuple(log_probs.shape)}; use "
                         f"LogChroma(octaves=(lowest, highest))")
    b, n_bins, n = log_probs.shape
    n_oct = n_bins // 12
    target = check_pitch_classes(log_probs[:, :12], target, ignore_index=ignore_index)
    voiced = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    cls = target.clamp(0, 11)
    per_class = log_probs.reshape(b, n_oct, 12, n).gather(2, cls[:, None, None, :].expand(b, n_oct, 1, n))[:, :, 0]
    root_q = torch.exp(0.5 * torch.log_softmax(per_class, dim=1))  # sqrt p(octave | class), (b, n_oct, n)
    starts = voiced.clone()
    starts[:, 1:] &= ~(voiced[:, :-1] & (cls[:, 1:] == cls[:, :-1]))
    note = (torch.cumsum(starts.long(), dim=1) - 1).clamp_min(0) + n * torch.arange(b, device=cls.device)[:, None]
    w = voiced.to(root_q)
    flat = (root_q * w[:, None]).permute(0, 2, 1).reshape(b * n, n_oct)
    sums = torch.zeros(b * n, n_oct, dtype=root_q.dtype, device=root_q.device).index_add_(0, note.reshape(-1), flat)
    counts = torch.zeros(b * n, dtype=root_q.dtype, device=root_q.device).index_add_(0, note.reshape(-1), w.reshape(-1))
    mean = (sums / counts.clamp_min(1.0)[:, None])[note.reshape(-1)].reshape(b, n, n_oct).permute(0, 2, 1)
    per_frame = (root_q - mean).square().sum(1)
    return _reduce((per_frame * w).sum(-1) / w.sum(-1).clamp_min(1.0), reduction)


def onset_deficit(flux: torch.Tensor, target, *, level: float = 0.11, tolerance: int = 1,
                  reduction: str = "mean") -> torch.Tensor:
    """How far the spectral flux at the note starts falls short of ``level``: the mean over the frames where
    ``target`` is 1 of ``max(0, level - peak) / level``, ``peak`` the largest flux within ``tolerance`` frames of the
    start (a centred STFT frame sees a note begin over a few frames: the rise peaks a frame early or late). 0 when
    every note start rises by ``level`` or more; frames without a start cost nothing, so the flux inside notes is free.

    Parameters
    ----------
    flux : Tensor, shape ``(batch, frames)``
        :class:`~tempo_kit.features.SpectralFlux`, in model units.
    target : Tensor, shape ``(frames,)`` or ``(batch, frames)``
        1 at a note start, 0 elsewhere (e.g. :func:`~tempo_kit.control.targets.note_starts`).
    level : float
        The rise a clear onset reaches, in the flux's units. The default is the mean peak flux (audio path, this
        tolerance) at the 95 note starts of the 16 validation tunes' real renders, 0.112 model units (6.7 dB averaged
        over the 80 mel bands at the default :class:`~tempo_kit.audio.MelSpec`).
    tolerance : int
        Frames on either side of a start where its rise may peak.
    """
    if not (level > 0 and level < float("inf")):
        raise ValueError(f"level must be a finite number > 0, got {level}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance must be an integer >= 0 (frames), got {tolerance!r}")
    target = check_target(flux, target)
    if bool(((target != 0) & (target != 1)).any()):
        raise ValueError("onset_deficit needs a 0/1 target (1 at the frames where a note starts)")
    x = flux.reshape(-1, 1, flux.shape[-1])
    peak = torch.nn.functional.max_pool1d(x, 2 * tolerance + 1, stride=1, padding=tolerance).reshape(flux.shape)
    short = (level - peak).clamp_min(0) / level * target
    per_item = _per_item(short).sum(-1) / _per_item(target.expand_as(flux)).sum(-1).clamp_min(1)
    return _reduce(per_item, reduction)
