"""Save and load block models: ``DIR/model.safetensors`` (weights) + ``DIR/config.json`` (architecture).

``config.json`` holds ``{"model": <registry name>, "config": {...}, "precond": {"sigma_data": 0.5, ...}, "router": {...} | null,
"weights_sha256": "..."}``, so :func:`load_denoiser` can rebuild the EDM-preconditioned (and possibly layer-routed)
denoiser with no Python code from the checkpoint. Nothing is unpickled. Both files are written atomically; the weights'
sha256 is checked on load, so a damaged or swapped weights file is an error naming the file, never a silent load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
import threading
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = ["CheckpointMismatchError", "WeightsDamagedError", "save_model", "file_sha256", "load_model", "load_denoiser", "load_weights", "model_spec", "build_model", "skip_init"]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointMismatchError(ValueError):
    """Weights that do not fit the architecture they are loaded into (another model, depth or width)."""


class WeightsDamagedError(ValueError):
    """A weights file that is truncated, corrupt, not the file its config records, or holds non-finite values."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file`` with a damaged file reported as :class:`WeightsDamagedError` naming it."""
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError, or OSError / ValueError
        raise WeightsDamagedError(f"weights file {str(path)!r} cannot be read ({type(err).__name__}: {err}); it is "
                                  "truncated or damaged: restore it or save the model again") from None


def model_spec(net: nn.Module) -> dict[str, Any]:
    """``{"model": name, "config": {...}}`` of a built-in-style net (has ``registry_name`` and an attrs ``config``)."""
    name = getattr(net, "registry_name", "")
    config = getattr(net, "config", None)
    if not name or not attrs.has(type(config)):
        raise TypeError(f"{type(net).__name__} cannot be saved by name: it needs a registry_name and an attrs config")
    return {"model": name, "config": attrs.asdict(config)}


_NO_INIT_LOCK = threading.Lock()
#: The ``torch.nn.init`` functions that built-in layers call from ``reset_parameters``.
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


@contextlib.contextmanager
def skip_init():
    """Build modules without drawing their random initial weights (``torch.nn.init`` functions do nothing inside).

    For a model whose every parameter is loaded right after (:func:`load_model`, which checks that every key is
    present): the initialisation would be overwritten anyway. Parameters hold whatever memory ``torch.empty`` gave.
    Held under a lock, as ``transformers``' ``no_init_weights``: the patch is process-wide.
    """
    with _NO_INIT_LOCK:
        saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
        try:
            for name in _INIT_FUNCTIONS:
                setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
            yield
        finally:
            for name, fn in saved.items():
                setattr(nn.init, name, fn)


def build_model(spec: dict[str, Any]) -> nn.Module:
    """Build a registered model from ``{"model": name, "config": {...}}`` (or ``{"name": ..., **config}``)."""
    from ..registry import get

    spec = dict(spec)
    name = spec.pop("model", None) or spec.pop("name", None)
    if not name:
        raise ValueError(f"a model spec needs a 'model' (or 'name') key with a registered model name, got {spec}")
    config = spec.pop("config", None) or {}
    return get("models", name, **config, **spec)


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items()}


def _umask() -> int:
    mask = os.umask(0o022)  # read once, at import: setting it is process-wide
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_save(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically (temporary file in the same folder, then ``os.replace``)."""
    from ..utils import atomic_path

    with atomic_path(path) as tmp:
        save_file(_tensors(tensors), str(tmp), metadata=metadata)
        with contextlib.suppress(OSError):  # safetensors creates its files 0600: give them any other output's mode
            os.chmod(tmp, 0o666 & ~_UMASK)


def save_model(net: nn.Module, path: str | os.PathLike, *, sigma_data: float = 0.5, router: dict | None = None) -> Path:
    """Save ``net`` (a raw block model, or a ``Jump`` / ``EDMPrecond`` / ``RoutedNet`` around one) to the folder ``path``.

    The EDM preconditioning (``sigma_data``, consistency boundary) and the router are recorded so
    :func:`load_denoiser` rebuilds the same denoiser.
    """
    from ..denoisers import EDMPrecond
    from ..jumps import Jump

    precond = {"sigma_data": sigma_data}
    if isinstance(net, Jump):
        net = net.denoiser
    if isinstance(net, EDMPrecond):
        precond = {"sigma_data": net.sigma_data, "consistency": net.consistency, "sigma_min": net.sigma_min}
        net = net.net
    if hasattr(net, "router") and hasattr(net, "net"):  # RoutedNet
        router = router or net.router.spec()
        net = net.net
    from ..utils import write_text_atomic

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {**model_spec(net), "precond": precond, "router": router}
    atomic_save(net.state_dict(), path / WEIGHTS)
    meta["weights_sha256"] = file_sha256(path / WEIGHTS)
    write_text_atomic(path / CONFIG, json.dumps(meta, indent=2))
    return path


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a saved model folder, checked: both files present, valid JSON, a model and its config
    (errors name the file)."""
    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"no saved model at {str(path)!r}: expected {CONFIG} and {WEIGHTS} in that folder")
    try:
        meta = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsDamagedError(f"{str(path / CONFIG)!r} is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str) or not isinstance(meta.get("config"), dict):
        raise WeightsDamagedError(f"{str(path / CONFIG)!r} is not a saved model's config (needs 'model' and 'config')")
    return meta


def _verify(path: Path, meta: dict[str, Any]) -> None:
    """Check the weights file against the sha256 its config records. A config that records none (written by hand, or
    before hashes were recorded) loads with a warning, its weights checked for finite values only (in
    :func:`load_weights`)."""
    expected = meta.get("weights_sha256")
    if expected is None:
        from ..utils import user_stacklevel

        warnings.warn(f"{str(path / CONFIG)!r} records no weights_sha256, so {WEIGHTS} is loaded unverified; save the "
                      "model again (save_model or Pipeline.save_pretrained) to record one", UserWarning, stacklevel=user_stacklevel())
    elif file_sha256(path / WEIGHTS) != expected:
        raise WeightsDamagedError(f"{str(path / WEIGHTS)!r} is not the file its {CONFIG} records (sha256 differs): it "
                                  "is damaged or was replaced by other weights; restore it or save the model again")


def load_weights(module: nn.Module, state: dict[str, torch.Tensor] | str | os.PathLike, *, what: str = "checkpoint") -> None:
    """Load a state dict (or safetensors file) into ``module``, raising :class:`CheckpointMismatchError` on any
    missing/unexpected key or shape difference (a checkpoint from another architecture)."""
    if not isinstance(state, dict):
        state = read_safetensors(state)
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsDamagedError(f"{what} holds non-finite values in {len(bad)} tensors (e.g. {bad[:3]}); the weights "
                                  "are damaged or come from a diverged run")
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (checkpoint vs model, e.g. {shapes[:3]})")
        raise CheckpointMismatchError(f"{what} does not match the architecture of {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state)


def load_model(path: str | os.PathLike, *, expect: dict[str, Any] | None = None,
               config: dict[str, Any] | None = None) -> nn.Module:
    """Rebuild the raw block model saved at ``path``: the network ``F(c_in x, c_noise, cond)`` itself, *not* a
    denoiser. To sample or distil a saved model, load it with :func:`load_denoiser` (EDM preconditioning and the saved
    router applied), or as a bundled generator with :func:`tempo_kit.pretrained.load_pretrained`.

    ``expect`` (a :func:`model_spec`) makes a different saved architecture a :class:`CheckpointMismatchError`.
    ``config``: the folder's :func:`read_config`, when the caller has read it already.
    """
    path = Path(path)
    meta = read_config(path) if config is None else config
    if expect is not None and ({k: meta[k] for k in ("model", "config")} != expect):
        raise CheckpointMismatchError(f"model saved at {str(path)!r} is {meta['model']} {meta['config']}, expected {expect['model']} {expect['config']}")
    _verify(path, meta)
    with skip_init():  # every parameter is loaded below (load_weights fails on a missing key)
        net = build_model({"model": meta["model"], "config": meta["config"]})
    load_weights(net, path / WEIGHTS, what=f"weights at {str(path)!r}")
    return net


def require_denoiser_net(net: nn.Module, path: str | os.PathLike) -> nn.Module:
    """``net`` (loaded from ``path``) if it is a denoiser network ``F(x_in, c_noise, cond)``; a ValueError naming
    the folder when it is another kind of model (a vocoder, a text encoder) that cannot be a teacher or generator."""
    import inspect

    params = list(inspect.signature(net.forward).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in params):
        raise ValueError(f"the model at {str(path)!r} is a {type(net).__name__}, not a denoiser network "
                         f"F(x, c_noise, cond): a teacher, student or generator must be a diffusion model's folder")
    return net


def load_denoiser(path: str | os.PathLike, *, routed: bool = True, config: dict[str, Any] | None = None) -> nn.Module:
    """The saved model as an EDM denoiser ``D(x, sigma, cond)``; with ``routed`` its saved router (if any) is applied.
    ``config``: the folder's :func:`read_config`, when the caller has read it already."""
    from ..denoisers import EDMPrecond
    from ..routers import RoutedNet, router_from_spec

    path = Path(path)
    meta = read_config(path) if config is None else config
    net = require_denoiser_net(load_model(path, config=meta), path)
    if routed and meta.get("router"):
        net = RoutedNet(net=net, router=router_from_spec(meta["router"]))
    return EDMPrecond(net=net, **meta.get("precond", {}))
