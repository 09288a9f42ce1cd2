"""Gradient strategies: how a sampler's step loop is differentiated (in the spirit of diffrax's adjoints).

Samplers never touch grad mode; they hand their step function to a strategy:

* :class:`NoGrad` - plain inference under ``torch.no_grad()``;
* :class:`Backprop` - keep the whole graph (memory grows with the number of steps);
* :class:`Checkpointed` - run the steps without a graph, store only the state between segments, and in the backward
  pass recompute each segment once with a graph and backpropagate through it: DITTO's per-step checkpointing, ``T``
  calls without a graph plus ``T`` calls with one (and their ``T`` backward passes) per gradient.
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

__all__ = ["GradStrategy", "NoGrad", "Backprop", "Checkpointed", "get_grad_strategy"]

StepFn = Callable[[torch.Tensor, int], torch.Tensor]


class GradStrategy:
    """Base class: ``run(step, state, n_steps, params) -> state`` applies ``state = step(state, i)`` for
    ``i = 0..n_steps-1``; ``params`` are the parameters ``step`` uses (a strategy that cuts the graph must still
    return their gradients).

    ``state`` is a tensor or a (nested) tuple of tensors: samplers pass ``(x, history)`` so that a multistep solver's
    history is differentiated and checkpointed like ``x`` itself.
    """

    def run(self, step: StepFn, x: torch.Tensor, n_steps: int, params=()) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@attrs.frozen
class NoGrad(GradStrategy):
    """Run the steps without building a graph."""

    def run(self, step, x, n_steps, params=()):
        with torch.no_grad():
            for i in range(n_steps):
                x = step(x, i)
        return x


@attrs.frozen
class Backprop(GradStrategy):
    """Differentiate through every step, keeping all activations."""

    def run(self, step, x, n_steps, params=()):
        for i in range(n_steps):
            x = step(x, i)
        return x


@attrs.frozen(kw_only=True)
class Checkpointed(GradStrategy):
    """Gradient checkpointing every ``every`` steps (DITTO, Novack et al. 2024, Sec. 3.3).

    The forward pass runs every step under ``torch.no_grad()`` and keeps only the states between segments of
    ``every`` steps; the backward pass walks the segments from the last to the first, recomputes each once with a
    graph and backpropagates the incoming gradient through it (what ``torch.utils.checkpoint`` does, without its
    per-tensor hooks and without building a graph in the forward pass). A ``T``-step chain thus costs ``T`` plain
    network calls plus ``T`` calls with a graph and their backward passes per gradient. Parameters that require
    gradients receive them as with plain backpropagation. Steps must be deterministic given their inputs (samplers
    take their per-step noise as an argument).
    """

    every: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def run(self, step, x, n_steps, params=()):
        if not torch.is_grad_enabled():
            return Backprop().run(step, x, n_steps)
        bounds = [(i, min(i + self.every, n_steps)) for i in range(0, n_steps, self.every)]
        flat, spec = tree_flatten(x)
        specs = [spec]  # the state's structure after each segment (a solver's history can grow)
        params = tuple(p for p in params if p.requires_grad)
        out = _Segments.apply(step, bounds, specs, len(flat), *flat, *params)
        return tree_unflatten(list(out), specs[-1])


def _segment(step: StepFn, state, start: int, stop: int):
    for i in range(start, stop):
        state = step(state, i)
    return state


class _Segments(torch.autograd.Function):
    """The segments of :class:`Checkpointed` as one autograd node: ``n_state`` flat state tensors and the trainable
    parameters in, the final flat state out."""

    @staticmethod
    def forward(ctx, step, bounds, specs, n_state, *tensors):
        states, params = [tensors[:n_state]], tensors[n_state:]
        with torch.no_grad():
            for start, stop in bounds:
                out, spec = tree_flatten(_segment(step, tree_unflatten(list(states[-1]), specs[-1]), start, stop))
                states.append(tuple(out))
                specs.append(spec)
        ctx.step, ctx.bounds, ctx.specs, ctx.states, ctx.params = step, bounds, list(specs), states, params
        return states[-1]

    @staticmethod
    def backward(ctx, *grads):
        params = ctx.params
        param_grads = [None] * len(params)
        for k in range(len(ctx.bounds) - 1, -1, -1):
            inputs = [t.detach().requires_grad_(t.is_floating_point()) for t in ctx.states[k]]
            with torch.enable_grad():
                out, _ = tree_flatten(_segment(ctx.step, tree_unflatten(inputs, ctx.specs[k]), *ctx.bounds[k]))
            pairs = [(o, g) for o, g in zip(out, grads) if g is not None and o.requires_grad]
            wrt = [t for t in inputs if t.requires_grad] + list(params)
            found = torch.autograd.grad([o for o, _ in pairs], wrt, [g for _, g in pairs],
                                        allow_unused=True) if pairs else [None] * len(wrt)
            found = list(found)
            grads = tuple(found.pop(0) if t.requires_grad else None for t in inputs)
            param_grads = [g if a is None else a if g is None else a + g for a, g in zip(param_grads, found)]
        ctx.states = ctx.params = None
        return (None, None, None, None, *grads, *param_grads)


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
