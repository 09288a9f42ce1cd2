"""Gradient strategies: how a sampler's step loop is differentiated (in the spirit of diffrax's adjoints).

Samplers never touch grad mode; they hand their step function to a strategy:

* :class:`NoGrad` - plain inference under ``torch.no_grad()``;
* :class:`Backprop` - keep the whole graph (memory grows with the number of steps);
* :class:`Checkpointed` - store only the state between steps and recompute each step's activations in the backward
  pass (``torch.utils.checkpoint``, ``use_reentrant=False``): DITTO's per-step checkpointing, about 2x the network
  calls of a forward pass.
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["GradStrategy", "NoGrad", "Backprop", "Checkpointed", "get_grad_strategy"]

StepFn = Callable[[torch.Tensor, int], torch.Tensor]


class GradStrategy:
    """Base class: ``run(step, state, n_steps) -> state`` applies ``state = step(state, i)`` for ``i = 0..n_steps-1``.

    ``state`` is a tensor or a (nested) tuple of tensors: samplers pass ``(x, history)`` so that a multistep solver's
    history is differentiated and checkpointed like ``x`` itself.
    """

    def run(self, step: StepFn, x: torch.Tensor, n_steps: int) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@attrs.frozen
class NoGrad(GradStrategy):
    """Run the steps without building a graph."""

    def run(self, step, x, n_steps):
        with torch.no_grad():
            for i in range(n_steps):
                x = step(x, i)
        return x


@attrs.frozen
class Backprop(GradStrategy):
    """Differentiate through every step, keeping all activations."""

    def run(self, step, x, n_steps):
        for i in range(n_steps):
            x = step(x, i)
        return x


@attrs.frozen(kw_only=True)
class Checkpointed(GradStrategy):
    """Gradient checkpointing every ``every`` steps (DITTO, Novack et al. 2024, Sec. 3.3).

    Only the states between segments are kept; in the backward pass each segment is recomputed once, so a
    ``T``-step chain costs about ``2T`` network calls per gradient.
    """

    every: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def run(self, step, x, n_steps):
        if not torch.is_grad_enabled():
            return Backprop().run(step, x, n_steps)

        def segment(x_in: torch.Tensor, start: int, stop: int) -> torch.Tensor:
            for i in range(start, stop):
                x_in = step(x_in, i)
            return x_in

        for start in range(0, n_steps, self.every):
            x = checkpoint(segment, x, start, min(start + self.every, n_steps), use_reentrant=False)
        return x


_STRATEGIES = {"none": NoGrad, "backprop": Backprop, "checkpoint": Checkpointed}


def get_grad_strategy(grad: GradStrategy | str | None) -> GradStrategy:
    """Accept a strategy object or one of ``"none"``, ``"backprop"``, ``"checkpoint"`` (``None`` means no gradient)."""
    if grad is None:
        return NoGrad()
    if isinstance(grad, GradStrategy):
        return grad
    try:
        return _STRATEGIES[grad]()
    except KeyError:
        raise ValueError(f"unknown gradient strategy {grad!r}; valid: {sorted(_STRATEGIES)}") from None
