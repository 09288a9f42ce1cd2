"""Training configuration: a frozen attrs value object, and TOML / JSON config files."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from ..utils import as_validator, check_int, check_number

__all__ = ["TrainConfig", "load_config"]


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How the trainer runs a recipe (what it optimizes is the recipe's business).

    Parameters
    ----------
    steps : int
        Total optimizer steps (resuming continues up to this number).
    batch_size : int
        Global batch size; under torchrun each rank gets ``batch_size / world_size`` samples.
    seed : int
        Seeds the data and noise generators (randomness is a function of ``seed``, ``step`` and ``rank``).
    grad_clip : float or None
        Max gradient norm per parameter group (None: no clipping).
    cooldown_steps : int
        Decay every group's learning rate linearly to zero over the last ``cooldown_steps`` of ``steps`` (the
        warmup-stable-decay schedule of Hägele et al. 2024 without the warmup): step ``i`` uses ``lr * min(1, (steps -
        i) / cooldown_steps)`` (logged as ``diag/lr_scale``). 0 (default): constant learning rates. Every update takes
        its learning rate from the config and the step, so a resumed run follows the config's schedule (with a warning
        when that differs from the checkpoint's last update: raising ``steps`` moves the cooldown later).
    ema_decay : float or None
        Evaluation EMA of the student (None: off).
    bf16 : bool
        Run the recipe's forward passes under bfloat16 autocast.
    optimizer : {"adamw", "adam"}
    out_dir : str or None
        Checkpoints, loss log and plot, exported student. None: keep nothing on disk.
    checkpoint_every : int
        Also checkpoint every this many steps (0: only at the end).
    snapshot_every : int
        Also export the student (its EMA when there is one) to ``out_dir/snapshots/step_<N>`` every this many steps, a
        loadable model folder for measuring quality along training (0: never).
    log_every : int
        Log per-term losses every this many steps.
    progress : bool
        Show a progress bar (only when stderr is a terminal; never in logs).
    device : str
        ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA when available; under torchrun ``cuda:LOCAL_RANK``).
    """

    steps: int = attrs.field(validator=as_validator(check_int, low=1))
    batch_size: int = attrs.field(validator=as_validator(check_int, low=1))
    seed: int = attrs.field(default=0, validator=as_validator(check_int, low=0))
    grad_clip: float | None = attrs.field(default=1.0,
                                          validator=attrs.validators.optional(as_validator(check_number, positive=True)))
    cooldown_steps: int = attrs.field(default=0, validator=as_validator(check_int, low=0))
    ema_decay: float | None = attrs.field(default=None)
    bf16: bool = attrs.field(default=False, validator=lambda _, a, v: _check_bool(v, a.name))
    optimizer: str = attrs.field(default="adamw")
    out_dir: str | None = None
    checkpoint_every: int = attrs.field(default=0, validator=as_validator(check_int, low=0))
    snapshot_every: int = attrs.field(default=0, validator=as_validator(check_int, low=0))
    log_every: int = attrs.field(default=1, validator=as_validator(check_int, low=1))
    progress: bool = attrs.field(default=True, validator=lambda _, a, v: _check_bool(v, a.name))
    device: str = "cpu"

    @optimizer.validator
    def _check_optimizer(self, attribute, value):
        if value not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adamw' or 'adam', got {value!r}")

    @ema_decay.validator
    def _check_ema(self, attribute, value):
        if value is not None and not check_number(value, "ema_decay") < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {value}")

    @cooldown_steps.validator
    def _check_cooldown(self, attribute, value):
        if value > self.steps:
            raise ValueError(f"cooldown_steps ({value}) must not exceed steps ({self.steps})")

    def lr_scale(self, step: int) -> float:
        """Factor on every group's learning rate at step ``step`` (0-based): 1, then linear to 0 over the cooldown."""
        return min(1.0, (self.steps - step) / self.cooldown_steps) if self.cooldown_steps else 1.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a ``[train]`` table; unknown keys are an error that lists the valid ones."""
        valid = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown [train] option(s) {unknown}; valid options: {sorted(valid)}")
        return cls(**data)


def _check_bool(value, what: str) -> None:
    if not isinstance(value, bool):  # "false" in a config file would otherwise switch the option on
        raise TypeError(f"{what} must be true or false, got {value!r}")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON (``.json``) config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {str(path)!r}" + (" (that is a folder)" if path.is_dir() else ""))
    if path.suffix not in (".toml", ".json"):
        raise ValueError(f"config file must end in .toml or .json, got {str(path)!r}")
    try:
        data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()} ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a table of sections, got a {type(data).__name__}")
    return data
