"""Objectives: extractor + loss + target + weight, and the checks that make a target and a prediction line up.

A control task is a list of :class:`Objective` objects; DITTO and DITTO-2 minimise ``sum_i w_i L_i(f_i(x0), y_i)``
(DITTO, Novack et al. 2024, Sec. 3.2 and App. H). Before any tensor math, :func:`check_objectives` verifies that each
extractor reads the domain the model produces (or that a decoder bridges the two), and that sample and frame rates of
targets and extractors agree; at evaluation the feature and target shapes are compared, with errors that name the
objective and give lengths in frames and seconds.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable, Sequence

import attrs
import torch
from torch import nn

from .targets import Target, as_target

__all__ = ["Objective", "check_objectives", "evaluate_objectives", "resolve_weights", "RECONSTRUCTION_KINDS"]

# kinds whose target is (part of) a reference output: DITTO App. H groups them with outpainting.
RECONSTRUCTION_KINDS = ("outpainting", "inpainting", "looping", "looping-free", "reconstruction")


def _resolve_loss(loss: Callable | str) -> Callable:
    if isinstance(loss, str):
        from ..registry import get

        return get("losses", loss)
    if not callable(loss):
        raise TypeError(f"loss must be a callable loss(feature, target) or a registered loss name, got {type(loss).__name__}")
    return loss


def _takes_ignore_index(loss: Callable) -> bool:
    """Whether ``loss`` has an ``ignore_index`` keyword that no ``functools.partial`` has bound yet."""
    if isinstance(loss, functools.partial) and "ignore_index" in loss.keywords:
        return False
    try:
        return "ignore_index" in inspect.signature(loss).parameters
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False


def _rates_match(a: float | None, b: float | None) -> bool:
    return a is None or b is None or math.isclose(float(a), float(b), rel_tol=1e-4)


@attrs.frozen(kw_only=True, eq=False)
class Objective:
    """One term of a control task: ``weight * loss(extractor(x0), target)``.

    Parameters
    ----------
    extractor : nn.Module
        Differentiable feature extractor (see :class:`tempo_kit.features.Extractor`); its ``domain``,
        ``sample_rate`` and ``frame_rate`` attributes are used for the alignment checks when present.
    loss : callable or str
        ``loss(feature, target) -> scalar tensor``, or the name of a registered loss (``tempo_kit.get("losses", name)``).
        With a class-index target (melody) a loss that takes ``ignore_index`` (``"nll"``, ``"octave_spread"``) gets
        the target's own, so frames without a note (rests, the end of a short tune) do not count.
    target : Target or Tensor
        The target feature, unbatched (broadcast over the batch) or with a leading batch axis. A plain tensor is
        wrapped in a :class:`~tempo_kit.control.targets.Target` of kind ``"feature"``.
    weight : float or None
        Weight ``lambda_i``; ``None`` takes the DITTO App. H default (see :func:`resolve_weights`).
    name : str
        Label in histories and plots; defaults to the target's kind.
    """

    extractor: nn.Module
    loss: Callable = attrs.field(converter=_resolve_loss)
    target: Target = attrs.field(converter=as_target)
    weight: float | None = attrs.field(default=None)
    name: str = attrs.field(default="")
    _pass_ignore_index: bool = attrs.field(init=False, default=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.extractor, nn.Module) and not callable(self.extractor):
            raise TypeError(f"extractor must be an nn.Module, got {type(self.extractor).__name__}")
        if self.weight is not None and not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"objective weight must be a finite non-negative number, got {self.weight}")
        if not self.name:
            object.__setattr__(self, "name", self.target.kind)
        object.__setattr__(self, "_pass_ignore_index",  # read once here, not in the optimisation loop
                           not self.target.value.is_floating_point() and _takes_ignore_index(self.loss))
        ext = type(self.extractor).__name__
        fr, sr = getattr(self.extractor, "frame_rate", None), getattr(self.extractor, "sample_rate", None)
        if not _rates_match(self.target.frame_rate, fr):
            raise ValueError(
                f"objective {self.name!r}: target was built at {self.target.frame_rate:.3f} frames/s but {ext} produces "
                f"{fr:.3f} frames/s; build the target with this extractor (e.g. frame_rate=extractor.frame_rate)"
            )
        if not _rates_match(self.target.sample_rate, sr):
            raise ValueError(
                f"objective {self.name!r}: target was built for audio at {self.target.sample_rate} Hz but {ext} "
                f"assumes {sr} Hz; resample the reference or configure the extractor for the same rate"
            )

    @property
    def domain(self) -> str:
        """The input domain of the extractor (``"mel"``, ``"audio"`` or ``"latent"``)."""
        return getattr(self.extractor, "domain", "mel")

    def align(self, feature: torch.Tensor) -> torch.Tensor:
        """Return the target broadcast to ``feature``'s shape, or raise a clear error if the shapes disagree.

        Float targets must match ``feature.shape[1:]`` (an unbatched target may also match only its trailing axes,
        and is broadcast over the rest); class-index targets (integer dtype, e.g. melody pitch classes) must match
        ``feature.shape[2:]`` (the class axis is 1) and index fewer classes than ``feature.shape[1]``.
        """
        y = self.target.value.to(feature.device)
        index = not y.is_floating_point()
        feat_shape = tuple(feature.shape[2:] if index else feature.shape[1:])
        if y.ndim <= len(feat_shape):  # unbatched; may broadcast over leading feature axes (e.g. channels)
            if tuple(y.shape) != feat_shape[len(feat_shape) - y.ndim:]:
                raise ValueError(self._shape_message(tuple(y.shape), feat_shape))
            y = y.reshape((1,) * (len(feat_shape) - y.ndim + 1) + tuple(y.shape)).expand(1, *feat_shape)
        elif y.ndim > len(feat_shape) + 1 or tuple(y.shape[1:]) != feat_shape:
            raise ValueError(self._shape_message(tuple(y.shape[1:]), feat_shape))
        if y.shape[0] not in (1, feature.shape[0]):
            raise ValueError(
                f"objective {self.name!r}: target has batch size {y.shape[0]} but the output has batch size "
                f"{feature.shape[0]}; give one target per output or an unbatched target"
            )
        if index:
            valid = y[y != self.target.ignore_index]
            if valid.numel() and int(valid.max()) >= feature.shape[1]:
                raise ValueError(
                    f"objective {self.name!r}: target class {int(valid.max())} is out of range for a feature with "
                    f"{feature.shape[1]} classes"
                )
        else:
            y = y.to(feature.dtype)
        return y.expand(feature.shape[0], *y.shape[1:])

    def _shape_message(self, target_shape: tuple, feat_shape: tuple) -> str:
        ext = type(self.extractor).__name__
        msg = (f"objective {self.name!r}: target has shape {target_shape} but the feature {ext} produces has shape "
               f"{feat_shape}")
        fr = self.target.frame_rate or getattr(self.extractor, "frame_rate", None)
        if fr and target_shape and feat_shape and target_shape[-1] != feat_shape[-1]:
            msg += (f" (target {target_shape[-1]} frames = {target_shape[-1] / fr:.2f} s, output {feat_shape[-1]} frames"
                    f" = {feat_shape[-1] / fr:.2f} s at {fr:.2f} frames/s); build the target for the output length")
        return msg

    def _blame_extractor(self, x: torch.Tensor, feature: torch.Tensor) -> None:
        """Raise naming the extractor when the target's frames fit the input but the feature's do not.

        The input spans ``x.shape[-1]`` mel frames at the library's mel rate (mel domain) or ``x.shape[-1]`` samples at
        the extractor's ``sample_rate`` (audio domain); an extractor that declares a ``frame_rate`` should return that
        many frames (within one) on its last axis. Returns silently when the extractor declares no rate.
        """
        fr, sr = getattr(self.extractor, "frame_rate", None), getattr(self.extractor, "sample_rate", None)
        if not fr or self.target.value.ndim == 0 or feature.ndim < 2:
            return
        if self.domain == "mel":
            from ..audio import MelSpec

            frames = x.shape[-1] * fr / MelSpec().frame_rate
        elif self.domain == "audio" and sr:
            frames = x.shape[-1] * fr / sr
        else:
            return
        t_frames, f_frames = self.target.value.shape[-1], feature.shape[-1]
        if abs(t_frames - frames) <= 1.5 and abs(f_frames - frames) > 1.5:
            raise ValueError(
                f"objective {self.name!r}: extractor {type(self.extractor).__name__} returned shape "
                f"{tuple(feature.shape)}, whose last axis has {f_frames} entries, for an input of {frames:.0f} frames "
                f"at the {fr:.2f} frames/s it declares; the target's {t_frames} frames fit the input, so the "
                f"extractor's output is mis-shaped (frames must be its last axis, at its frame_rate)")

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(loss, feature)`` for an input in the extractor's domain (the loss is unweighted).

        Raises ``ValueError`` naming the objective and the extractor when the extractor returns something other than
        a ``(batch, ...)`` tensor for this batch, or, while gradients are needed, a feature detached from ``x``.
        """
        feature = self.extractor(x)
        ext = type(self.extractor).__name__
        if not isinstance(feature, torch.Tensor) or feature.ndim < 1 or feature.shape[0] != x.shape[0]:
            got = f"shape {tuple(feature.shape)}" if isinstance(feature, torch.Tensor) else type(feature).__name__
            raise ValueError(f"objective {self.name!r}: extractor {ext} returned {got} for a batch of {x.shape[0]}; "
                             f"an extractor must return a tensor of shape (batch, ...)")
        if torch.is_grad_enabled() and x.requires_grad and not _depends_on(feature, x):
            raise ValueError(f"objective {self.name!r}: the output of extractor {ext} does not depend differentiably "
                             f"on its input (detached, or computed with numpy or under torch.no_grad()); control "
                             f"needs a differentiable extractor")
        try:
            target = self.align(feature)
        except ValueError:
            self._blame_extractor(x, feature)
            raise
        extra = {"ignore_index": self.target.ignore_index} if self._pass_ignore_index else {}
        loss = self.loss(feature, target, **extra)
        if loss.ndim:
            loss = loss.mean()
        return loss, feature


def _depends_on(y: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether autograd reaches ``x`` from ``y``: ``y`` was computed from ``x`` without a detach in between (a
    ``y`` that needs grad only through an extractor's own parameters does not count)."""
    if not y.requires_grad:
        return False
    seen, stack = set(), [y.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        if fn is x.grad_fn or getattr(fn, "variable", None) is x:
            return True
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return y is x


def resolve_weights(objectives: Sequence[Objective]) -> list[float]:
    """Weights of a task, with DITTO App. H defaults for objectives whose ``weight`` is ``None``.

    Explicit weights are kept. An unweighted ``"intensity"`` objective gets ``1/4`` next to a melody objective and
    ``1/40`` next to a structure or reconstruction (in/outpainting, looping) objective (DITTO App. H); every other
    unweighted objective gets 1.
    """
    kinds = {o.target.kind for o in objectives}
    weights = []
    for o in objectives:
        if o.weight is not None:
            weights.append(float(o.weight))
        elif o.target.kind == "intensity" and "melody" in kinds:
            weights.append(1 / 4)
        elif o.target.kind == "intensity" and kinds & {"structure", *RECONSTRUCTION_KINDS}:
            weights.append(1 / 40)
        else:
            weights.append(1.0)
    return weights


def check_objectives(
    objectives: Sequence[Objective],
    *,
    output_domain: str = "mel",
    decoder: nn.Module | None = None,
    sample_rate: int | None = None,
) -> list[Objective]:
    """Validate a control task before optimisation; returns it as a list.

    Parameters
    ----------
    objectives : sequence of Objective
        Non-empty; names must be unique.
    output_domain : {"mel", "audio", "latent"}
        What the generator produces.
    decoder : nn.Module, optional
        Differentiable decoder (e.g. a vocoder, mel -> audio) used for extractors of another domain. It declares
        ``input_domain`` (default ``"mel"``), ``domain`` (its output, default ``"audio"``) and optionally ``sample_rate``.
    sample_rate : int, optional
        Sample rate the generator's output corresponds to (checked against same-domain extractors).
    """
    objectives = list(objectives)
    if not objectives:
        raise ValueError("a control task needs at least one objective")
    for o in objectives:
        if not isinstance(o, Objective):
            raise TypeError(f"expected Objective instances, got {type(o).__name__}")
    names = [o.name for o in objectives]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"objective names must be unique, {dupes} appear more than once; pass name=... to Objective")
    for o in objectives:
        ext_sr = getattr(o.extractor, "sample_rate", None)
        if o.domain == output_domain:
            if not _rates_match(sample_rate, ext_sr):
                raise ValueError(f"objective {o.name!r}: the model's {output_domain} output is at {sample_rate} Hz but "
                                 f"{type(o.extractor).__name__} assumes {ext_sr} Hz")
            continue
        if decoder is None:
            raise ValueError(
                f"objective {o.name!r} reads {o.domain!r} but the model outputs {output_domain!r} and no decoder was "
                f"given; pass decoder=<{output_domain} -> {o.domain} module> or use a {output_domain}-domain extractor"
            )
        dec_in, dec_out = getattr(decoder, "input_domain", "mel"), getattr(decoder, "domain", "audio")
        if dec_in != output_domain or dec_out != o.domain:
            raise ValueError(
                f"objective {o.name!r} reads {o.domain!r}; the decoder maps {dec_in!r} -> {dec_out!r} but the model "
                f"outputs {output_domain!r}"
            )
        if not _rates_match(getattr(decoder, "sample_rate", None), ext_sr):
            raise ValueError(f"objective {o.name!r}: the decoder produces audio at {decoder.sample_rate} Hz but "
                             f"{type(o.extractor).__name__} assumes {ext_sr} Hz")
    return objectives


def evaluate_objectives(
    x0: torch.Tensor,
    objectives: Sequence[Objective],
    weights: Sequence[float],
    *,
    output_domain: str = "mel",
    decoder: nn.Module | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
    """Weighted total loss of a (checked) task on a generator output.

    The decoder, if any objective needs it, runs once and its output is shared.

    Returns
    -------
    total : Tensor, scalar
        ``sum_i w_i L_i``.
    losses : dict of name -> scalar Tensor
        Unweighted per-objective losses.
    features : dict of name -> Tensor
        Extracted features.
    decoded : Tensor or None
        The decoder's output when it was used.
    """
    decoded = None
    if decoder is not None and any(o.domain != output_domain for o in objectives):
        decoded = decoder(x0)
    total = x0.new_zeros(())
    losses: dict[str, torch.Tensor] = {}
    features: dict[str, torch.Tensor] = {}
    for o, w in zip(objectives, weights):
        loss, feature = o(x0 if o.domain == output_domain else decoded)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"objective {o.name!r} gave a non-finite loss ({loss.detach().item()})")
        losses[o.name], features[o.name] = loss, feature
        total = total + w * loss
    return total, losses, features, decoded

