"""Small tensor helpers shared by every module."""

from __future__ import annotations

import torch

__all__ = ["append_dims", "as_sigma"]


def append_dims(x: torch.Tensor, target_ndim: int) -> torch.Tensor:
    """Append trailing singleton dimensions so ``x`` broadcasts against a ``target_ndim`` tensor.

    Parameters
    ----------
    x : Tensor, shape ``(batch,)``
        A per-sample quantity such as ``sigma``.
    target_ndim : int
        Number of dimensions of the tensor ``x`` must broadcast against, e.g. ``(batch, channels, time)`` -> 3.
    """
    missing = target_ndim - x.ndim
    if missing < 0:
        raise ValueError(f"append_dims: input has {x.ndim} dims but target has only {target_ndim}")
    return x[(...,) + (None,) * missing]


def as_sigma(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Return ``sigma`` as a tensor of shape ``(batch,)`` on ``x``'s device and dtype.

    Accepts a Python float, a 0-d tensor or a ``(batch,)`` tensor.
    """
    sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a scalar or have shape (batch,) = ({x.shape[0]},), got {tuple(sigma.shape)}")
    return sigma
