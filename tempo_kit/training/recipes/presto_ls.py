"""Presto-LS: layer distillation first, then Presto-S on the layer-distilled model.

Presto! (Novack et al. 2025); the order is as recalled from the paper, not verified. The roles of the networks
below are our choice.

Stage 1 is the ``"presto-l"`` (or ``"ase"``) recipe on the teacher; its student is a routed denoiser
(``EDMPrecond(RoutedNet(net, router))``). Stage 2 (this recipe) is :class:`~.presto_s.PrestoSRecipe` with

* the **generator** initialized from the layer-distilled student and running its layer-dropping schedule at its input
  sigma (so every sampling step costs the dropped forward),
* the **real score** = the original full-depth teacher (the distillation target stays exact),
* the **fake score** initialized from the full teacher (its accuracy drives the DMD gradient; it is not used at
  inference).
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ...denoisers import EDMPrecond
from .common import trainable_copy
from .presto_s import PrestoSRecipe

__all__ = ["PrestoLSRecipe", "is_routed"]


def is_routed(denoiser: nn.Module) -> bool:
    """True for a denoiser whose network runs through a layer router (``EDMPrecond(RoutedNet(...))``)."""
    return isinstance(denoiser, EDMPrecond) and hasattr(denoiser.net, "router") and hasattr(denoiser.net, "net")


class PrestoLSRecipe(PrestoSRecipe):
    """Presto-S whose generator is a layer-distilled (routed) student.

    Parameters
    ----------
    teacher : Denoiser or raw network
        The original full-depth teacher: real score, and initialization of the fake score.
    layer_student : Denoiser, RoutedNet or str
        Result of the Presto-L / ASE stage: a routed denoiser (e.g. ``PrestoLRecipe.student()``), a ``RoutedNet``, or
        the path of a saved model folder with its router (``Trainer`` export), loaded with
        :func:`tempo_kit.models.load_denoiser`. A copy becomes the generator.
    **kwargs
        Every other :class:`~.presto_s.PrestoSRecipe` argument (``fake_score`` defaults to a copy of the teacher).
    """

    name = "presto-ls"

    def __init__(self, *, teacher: nn.Module, layer_student: Any, **kwargs: Any):
        if "generator" in kwargs:
            raise TypeError("PrestoLSRecipe builds its generator from layer_student; do not pass generator=")
        if isinstance(layer_student, (str, os.PathLike)):
            from ...models import load_denoiser

            layer_student = load_denoiser(layer_student, routed=True)
        elif not isinstance(layer_student, EDMPrecond) and hasattr(layer_student, "router"):
            layer_student = EDMPrecond(net=layer_student, sigma_data=getattr(teacher, "sigma_data", 0.5))
        if not is_routed(layer_student):
            raise ValueError("layer_student must be layer-distilled: a routed denoiser EDMPrecond(RoutedNet(net, router)), "
                             "e.g. the student of the 'presto-l' or 'ase' recipe, or its saved folder")
        super().__init__(teacher=teacher, generator=trainable_copy(layer_student), **kwargs)
