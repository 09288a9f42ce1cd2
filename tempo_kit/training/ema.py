"""Exponential moving average of a module's weights (the optional evaluation EMA of the student, not the
CM/CTM target network)."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA", "ema_update"]


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    """``target <- decay * target + (1 - decay) * source`` for parameters; buffers are copied."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s.detach().to(t.dtype), 1 - decay)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)


class EMA(nn.Module):
    """A frozen copy of ``module`` tracking it with ``decay`` (call :meth:`update` after each optimizer step).

    Parameters
    ----------
    module : nn.Module
        The network to track (its current weights initialize the average).
    decay : float
        In ``[0, 1)``; e.g. 0.999 or 0.9999.
    """

    def __init__(self, *, module: nn.Module, decay: float):
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(module).requires_grad_(False).eval()

    def update(self, source: nn.Module) -> None:
        ema_update(self.module, source, self.decay)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
