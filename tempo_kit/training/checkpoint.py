"""Training checkpoints: one safetensors file with every tensor of the run, written atomically.

Layout (keys): ``recipe/<state_dict key>`` (every network the recipe owns, trainable or frozen), ``ema/<key>``
(evaluation EMA), ``optim/<group>/<param index>/<state key>`` (Adam moments and step counts). The metadata holds the
completed step count, the seed, the recipe name and the optimizers' hyper-parameters (JSON). Data and noise generators
are re-seeded from ``(seed, step, rank)`` at every step, so ``step`` and ``seed`` are the whole RNG state and a resumed
run continues exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from ..models.io import CheckpointMismatchError, WeightsDamagedError, atomic_save, load_weights

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = "tempo_kit.checkpoint/1"


def _optim_state(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{prefix}/{idx}/{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return tensors, sd["param_groups"]


def save_checkpoint(path: str | os.PathLike, *, recipe: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    step: int, seed: int, ema: nn.Module | None = None) -> Path:
    """Write the full training state to ``path`` (a ``.safetensors`` file) atomically."""
    tensors = {f"recipe/{k}": v for k, v in recipe.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema/{k}": v for k, v in ema.state_dict().items()})
    groups = {}
    for name, opt in optimizers.items():
        t, groups[name] = _optim_state(f"optim/{name}", opt)
        tensors.update(t)
    meta = {"format": FORMAT, "step": str(step), "seed": str(seed), "recipe": getattr(recipe, "name", ""),
            "optimizers": json.dumps(groups)}
    atomic_save(tensors, path, metadata=meta)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, recipe: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    ema: nn.Module | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint` in place; returns ``{"step": int, "seed": int}``.

    Raises :class:`~tempo_kit.models.CheckpointMismatchError` when it was written by another recipe or architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        handle = safe_open(str(path), framework="pt", device=str(device))
    except Exception as err:  # a truncated or overwritten file
        raise WeightsDamagedError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: {err}); delete it "
                                  "to start over, or restore it") from None
    with handle as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise CheckpointMismatchError(f"{str(path)!r} is not a tempo_kit training checkpoint (format {meta.get('format')!r})")
        name = getattr(recipe, "name", "")
        if meta.get("recipe") != name:
            raise CheckpointMismatchError(f"checkpoint {str(path)!r} was written by recipe {meta.get('recipe')!r}, not {name!r}")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    section = lambda p: {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}  # noqa: E731
    load_weights(recipe, section("recipe/"), what=f"checkpoint {str(path)!r}")
    if ema is not None:
        load_weights(ema, section("ema/"), what=f"EMA in checkpoint {str(path)!r}")
    groups = json.loads(meta["optimizers"])
    if set(groups) != set(optimizers):
        raise CheckpointMismatchError(f"checkpoint has optimizers {sorted(groups)}, the recipe has {sorted(optimizers)}")
    for name, opt in optimizers.items():
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in section(f"optim/{name}/").items():
            idx, field = key.split("/", 1)
            state.setdefault(int(idx), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": groups[name]})
    return {"step": int(meta["step"]), "seed": int(meta["seed"])}
