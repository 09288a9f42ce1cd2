"""``tempo_kit.training.distill``: build a recipe, its networks and its data from a config, and train it.

A config (TOML or JSON file, or a dict) has these tables; ``train`` and ``data`` are required (``data`` unless a batch
source is passed as ``distill(..., data=...)``), the others optional::

    recipe = "edm"                  # or the CLI's positional argument / distill(recipe=...)
    [train]                         # TrainConfig fields: steps, batch_size, out_dir, bf16, ema_decay, ...
    [data]                          # name = "mixture" (toy ring; components, radius, std), "tensors" (path, key)
                                    # or "music" (root, split: a 'tempo-kit data build' dataset)
    [model]                         # a fresh network: model = "dit" | "block-mlp" | plugin name, plus its config;
                                    # init_from = "path" starts it from a saved model (new modules keep their init;
                                    # init_skip = ["head."] leaves saved tensors with those name prefixes out)
    [recipe_args]                   # keyword arguments of the recipe factory; "teacher", "net", "student",
                                    # "generator", "fake_score" given as a path load a saved model folder,
                                    # given as a table ({model = "dit", ...}) build a fresh one

``[model]`` is passed to the recipe as ``net``. A recipe factory is looked up in the registry (``"recipes"`` kind), so a
plugin's recipe is trained exactly like a built-in one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig, load_config
from .data import MixtureData, TensorData
from .trainer import Trainer, TrainResult, seed_for

__all__ = ["distill", "build_recipe", "build_data", "init_distributed", "NET_KEYS"]

#: ``seed_for(seed, 0, INIT_STREAM)`` seeds network initialisation (the trainer's data and noise use streams 0 and 1).
INIT_STREAM = 2
#: Recipe arguments that name networks: a string is a saved-model folder, a dict a fresh model spec.
NET_KEYS = ("net", "teacher", "student", "generator", "fake_score")


def _resolve_net(key: str, value: Any) -> Any:
    from ..models.io import build_model, load_model, require_denoiser_net

    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.exists():
            raise FileNotFoundError(f"{key} checkpoint not found: {str(path)!r} (expected a folder written by save_model "
                                    f"or a training run's 'student' folder)")
        net = load_model(path)
        return net if key == "net" else require_denoiser_net(net, path)  # 'net' may be any model (a vocoder's)
    if isinstance(value, dict):
        value = dict(value)
        init_from, skip = value.pop("init_from", None), value.pop("init_skip", ())
        if not isinstance(skip, (list, tuple)) or not all(isinstance(p, str) and p for p in skip):
            raise ValueError(f"init_skip must be a list of non-empty name prefixes, got {skip!r}")
        if skip and init_from is None:
            raise ValueError("init_skip names saved tensors to leave out of init_from, which is not given")
        net = build_model(value)
        if init_from is not None:
            _init_from(net, Path(init_from), skip=tuple(skip))
        return net
    return value


def _init_from(net, path: Path, skip: tuple[str, ...] = ()) -> None:
    """Start ``net`` from the weights saved at ``path`` (a model folder); parameters the saved model lacks keep their
    initialization (e.g. a zero-initialized module added to a trained architecture), and so do those whose saved
    tensors' names start with a prefix in ``skip`` (e.g. ``"head."``: a new output head of another shape). Anything
    else that differs is an error."""
    from ..models.io import WEIGHTS, CheckpointMismatchError, read_safetensors

    if not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"init_from: no saved model at {str(path)!r} (expected {WEIGHTS})")
    state, own = read_safetensors(path / WEIGHTS), net.state_dict()
    unused = [p for p in skip if not any(k.startswith(p) for k in state)]
    if unused:
        raise ValueError(f"init_skip: no saved tensor at {str(path)!r} starts with {unused} (names look like "
                         f"{sorted(state)[:3]})")
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    bad = sorted(k for k in state if k not in own or state[k].shape != own[k].shape)
    if bad:
        raise CheckpointMismatchError(f"init_from {str(path)!r}: {len(bad)} saved tensors do not fit the new model "
                                      f"(unknown names or other shapes, e.g. {bad[:3]})")
    net.load_state_dict(state, strict=False)


def build_recipe(name: str, **kwargs: Any):
    """Build the registered recipe ``name``; network arguments (:data:`NET_KEYS`) may be paths or model specs."""
    from ..registry import get, get_registry

    get_registry().entry("recipes", name)  # unknown recipe: error listing the valid names, before loading networks
    kwargs = {k: _resolve_net(k, v) if k in NET_KEYS else v for k, v in kwargs.items()}
    return get("recipes", name, **kwargs)


def _require_data(spec: dict[str, Any] | None) -> None:
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError("the config has no [data] table with a name: say what to train on, e.g. [data] name = "
                         "'music' with root = '<a tempo-kit data build folder>', name = 'tensors' with path = "
                         "'<file.safetensors>', or name = 'mixture' for the 2-D toy ring")


def build_data(spec: dict[str, Any] | None):
    """A batch source from a ``[data]`` table: ``mixture`` (ring: components, radius, std), ``tensors`` (path, key) or
    ``music`` (root, split: a dataset built by ``tempo-kit data build``)."""
    from ..testing.toy import GaussianMixture

    _require_data(spec)
    spec = dict(spec)
    name = spec.pop("name")
    if name == "mixture":
        return MixtureData(mixture=GaussianMixture.ring(**spec))
    if name == "tensors":
        if "path" not in spec:
            raise ValueError("[data] name = 'tensors' needs a path to a safetensors file")
        return TensorData.from_file(spec.pop("path"), **spec)
    if name == "music":
        from ..data import MusicDataset

        if "root" not in spec:
            raise ValueError("[data] name = 'music' needs the root folder of a dataset built by 'tempo-kit data build'")
        return MusicDataset(spec.pop("root"), **spec)
    raise ValueError(f"unknown data source {name!r}; built-in sources: 'mixture', 'tensors', 'music' (or pass data= in Python)")


def init_distributed(device: str = "auto") -> bool:
    """Initialize ``torch.distributed`` from torchrun's environment: NCCL when training on CUDA (each rank on
    ``cuda:LOCAL_RANK``), gloo on CPU. Returns False when not running under torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def distill(recipe: str | None = None, config: str | os.PathLike | dict[str, Any] | None = None, *, data: Any = None,
            resume: bool = True, **train_overrides: Any) -> TrainResult:
    """Train ``recipe`` as described by ``config`` (path or dict); returns the :class:`TrainResult`.

    Parameters
    ----------
    recipe : str, optional
        Registered recipe name; defaults to the config's ``recipe`` entry.
    config : path or dict
        See the module docstring.
    data : optional
        A batch source overriding the config's ``[data]`` table.
    resume : bool
        Continue from ``out_dir``'s checkpoint when one exists.
    **train_overrides
        ``TrainConfig`` fields overriding ``[train]`` (e.g. ``steps=10``).
    """
    cfg = dict(load_config(config) if isinstance(config, (str, os.PathLike)) else (config or {}))
    known = {"recipe", "train", "data", "model", "recipe_args"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; valid: {sorted(known)}")
    name = recipe or cfg.get("recipe")
    if not name:
        raise ValueError("no recipe given: pass recipe=... or set recipe = \"...\" in the config")
    if data is None:
        _require_data(cfg.get("data"))  # before any network is built
    for section in ("train", "data", "model", "recipe_args"):
        if section in cfg and not isinstance(cfg[section], dict):
            raise ValueError(f"[{section}] must be a table of options, got {type(cfg[section]).__name__}")
    with _section("train"):
        train = TrainConfig.from_dict({**cfg.get("train", {}), **train_overrides})
    init_distributed(train.device)
    kwargs = dict(cfg.get("recipe_args", {}))
    if "model" in cfg:
        kwargs["net"] = dict(cfg["model"])
    # Networks are initialised from PyTorch's global generator: seed it from the run's seed first (in a fork, so the
    # caller's generator is left as it was), so two fresh runs of one config start from the same weights.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_for(train.seed, 0, INIT_STREAM))
        with _section("model] / [recipe_args" if "model" in cfg else "recipe_args", f"recipe {name!r}"):
            built = build_recipe(name, **kwargs)
            built.update_rules()  # the optimiser settings (lr, betas, ...) are checked here, named by their table
        with _section("data"):
            source = data if data is not None else build_data(cfg.get("data"))
    return Trainer(recipe=built, data=source, config=train).fit(resume=resume)


@contextlib.contextmanager
def _section(section: str, what: str = ""):
    """Turn a wrong type, option or value met while building one config table into a ValueError naming the table (the
    original stays chained as its cause)."""
    try:
        yield
    except (TypeError, ValueError, ZeroDivisionError) as err:
        if getattr(err, "config_table", None):  # already names its table
            raise
        message = f"[{section}]{' ' + what if what else ''}: {err}"
        named = ValueError(message)
        if isinstance(err, ValueError) and type(err) is not ValueError:  # keep the library's own error types
            with contextlib.suppress(Exception):
                named = type(err)(message)
        named.config_table = section
        raise named from err
