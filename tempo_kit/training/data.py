"""Batch providers: anything with ``sample_batch(batch_size, generator) -> batch``.

A batch is either a tensor ``x0`` of shape ``(batch, ...)`` or a dict ``{"x0": tensor, "cond": dict | None}``;
:func:`split_batch` turns either into ``(x0, cond)``. Providers draw all their randomness from the generator they are
given, so the trainer can make each batch a pure function of ``(seed, step)`` (exact resume, identical global batches
on every rank).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import torch

__all__ = ["BatchSource", "MixtureData", "TensorData", "split_batch", "shard_batch", "as_batch_source"]


@runtime_checkable
class BatchSource(Protocol):
    def sample_batch(self, batch_size: int, generator: torch.Generator) -> Any: ...


def split_batch(batch: Any) -> tuple[torch.Tensor, Any]:
    """``(x0, cond)`` of a batch (a tensor, or a dict with ``"x0"`` (or ``"x"``) and optional ``"cond"``)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, dict) and ("x0" in batch or "x" in batch):
        return batch["x0" if "x0" in batch else "x"], batch.get("cond")
    raise TypeError(f"a batch must be a tensor or a dict with an 'x0' entry, got {type(batch).__name__}")


def shard_batch(batch: Any, rank: int, world_size: int) -> Any:
    """Rank ``rank``'s contiguous slice of a global batch (tensors, dicts, lists; non-batch values pass through)."""
    if world_size == 1:
        return batch
    n = _batch_size(batch)
    if n % world_size:
        raise ValueError(f"global batch size {n} is not divisible by the world size {world_size}")
    size = n // world_size
    sl = slice(rank * size, (rank + 1) * size)

    def take(v):
        if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == n:
            return v[sl]
        if isinstance(v, dict):
            return {k: take(u) for k, u in v.items()}
        if isinstance(v, (list, tuple)):  # per-sample lists (captions) are sliced, other sequences recursed into
            return v[sl] if len(v) == n and not any(isinstance(u, torch.Tensor) for u in v) else type(v)(take(u) for u in v)
        return v

    return take(batch)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for v in values:
        try:
            return _batch_size(v)
        except TypeError:
            continue
    raise TypeError(f"cannot find a batch tensor in a {type(batch).__name__}")


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class MixtureData:
    """Samples of a :class:`~tempo_kit.testing.toy.GaussianMixture` (float32, shape ``(batch, dim)``)."""

    def __init__(self, *, mixture=None):
        from ..testing.toy import GaussianMixture

        self.mixture = GaussianMixture.ring() if mixture is None else mixture

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return self.mixture.sample(batch_size, generator=generator, dtype=torch.float32)


class TensorData:
    """Uniform sampling with replacement from in-memory examples.

    Parameters
    ----------
    x0 : Tensor, shape ``(n, ...)``
        Training examples (e.g. log-mel frames ``(n, 80, frames)``).
    cond : dict of Tensor, optional
        Per-example conditioning (first dimension ``n``), e.g. ``{"tags": (n, num_tags)}``.
    """

    def __init__(self, *, x0: torch.Tensor, cond: dict[str, torch.Tensor] | None = None):
        if x0.ndim < 2 or x0.shape[0] == 0:
            raise ValueError(f"x0 must have shape (n, ...) with n > 0, got {tuple(x0.shape)}")
        for k, v in (cond or {}).items():
            if v.shape[0] != x0.shape[0]:
                raise ValueError(f"cond[{k!r}] has {v.shape[0]} rows but x0 has {x0.shape[0]}")
        self.x0, self.cond = x0, cond

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, key: str = "x0") -> "TensorData":
        """Load a safetensors file: ``key`` holds ``x0``; every other tensor becomes a ``cond`` entry."""
        from ..models.io import read_safetensors

        if not Path(path).is_file():
            raise FileNotFoundError(f"[data] tensors file not found: {str(path)!r} (a safetensors file holding {key!r})")
        tensors = read_safetensors(path)
        if key not in tensors:
            raise KeyError(f"{str(path)!r} has no tensor {key!r}; it holds {sorted(tensors)}")
        x0 = tensors.pop(key)
        return cls(x0=x0, cond=tensors or None)

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> Any:
        idx = torch.randint(self.x0.shape[0], (batch_size,), generator=generator)
        if self.cond is None:
            return self.x0[idx]
        return {"x0": self.x0[idx], "cond": {k: v[idx] for k, v in self.cond.items()}}


class _CallableSource:
    def __init__(self, fn: Callable[[int, torch.Generator], Any]):
        self.fn = fn

    def sample_batch(self, batch_size, generator):
        return self.fn(batch_size, generator)


def as_batch_source(data: Any) -> BatchSource:
    """Accept a :class:`BatchSource`, a callable ``(batch_size, generator) -> batch``, or a tensor of examples."""
    if isinstance(data, torch.Tensor):
        return TensorData(x0=data)
    if hasattr(data, "sample_batch"):
        return data
    if callable(data):
        return _CallableSource(data)
    raise TypeError(f"data must be a tensor, a callable (batch_size, generator) -> batch or have sample_batch, got {type(data).__name__}")
