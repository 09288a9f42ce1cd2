"""The bundled reference models, loaded by name with no network: ``load_pretrained("teacher")``.

Each model is a folder under ``tempo_kit/weights/`` (or ``$TEMPO_KIT_WEIGHTS``) written by
``scripts/bundle_model.py`` from a training run: ``model.safetensors`` (float16), ``config.json`` (the
:func:`~tempo_kit.models.io.save_model` format plus a ``"pretrained"`` table: what to wrap the network in, its default
sampler and steps, the tag vocabulary) and ``MODEL_CARD.md`` (command, data, steps, wall time, metrics).

=============  ==================================================================  ===================================
name           what                                                                load_pretrained returns
=============  ==================================================================  ===================================
teacher        tag-conditioned EDM DiT on log-mel clips (CFG through tag dropout)  Denoiser (EDMPrecond)
teacher-long   the teacher trained three times as long (closer to real clips)      Denoiser (EDMPrecond)
cm             consistency model distilled from the teacher                        ConsistencyJump
ctm            consistency trajectory model distilled from the teacher             EulerJump
presto-s       Presto-S generator (score-based distribution matching + GAN)        ConsistencyJump
presto-s-long  Presto-S distilled from teacher-long (the default generator)        ConsistencyJump
ase, presto-l  layer-dropped teachers (ASE, Presto-L)                              Denoiser with a router
presto-ls      Presto-S generator on the Presto-L teacher                          ConsistencyJump (routed)
vocoder        mel -> waveform network (differentiable)                            registered model
clap           CLAP-style mel/caption embedding                                    registered model
=============  ==================================================================  ===================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .utils import check_device, closest, did_you_mean

__all__ = ["weights_dir", "available", "model_dir", "model_card", "pretrained_meta", "load_pretrained", "tag_condition"]

#: Environment variable naming another folder of bundled models.
WEIGHTS_ENV = "TEMPO_KIT_WEIGHTS"


def weights_dir() -> Path:
    """The folder holding the bundled models (``$TEMPO_KIT_WEIGHTS`` when set)."""
    return Path(os.environ.get(WEIGHTS_ENV) or Path(__file__).parent / "weights")


def available() -> list[str]:
    """Names of the bundled models."""
    root = weights_dir()
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []


def model_dir(name: str | os.PathLike) -> Path:
    """The folder of bundled model ``name``, or ``name`` itself when it is a folder holding a ``config.json`` (a model
    saved by :meth:`~tempo_kit.pipeline.Pipeline.save_pretrained`); an unknown name suggests the closest and lists the
    valid ones."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"a model is a bundled name (e.g. 'presto-s'; available: {', '.join(available()) or 'none'}) "
                        f"or the path of a saved folder, got {type(name).__name__} {name!r}")
    given = Path(name)
    if isinstance(name, os.PathLike) or len(given.parts) > 1 or given.is_absolute():
        if not (given / "config.json").is_file():
            raise FileNotFoundError(f"no saved model at {str(given)!r}: expected a folder with config.json and "
                                    "model.safetensors (Pipeline.save_pretrained writes one)")
        return given
    path = weights_dir() / str(name)
    if not (path / "config.json").is_file():
        if (given / "config.json").is_file():  # a saved model in the working directory
            return given
        names = available()
        close = closest(name, names)
        hint = f"did you mean {close!r}? " if close else ""
        raise KeyError(f"no bundled model {str(name)!r} in {weights_dir()} (nor a saved model folder of that name); "
                       f"{hint}available: {', '.join(names) or 'none'}")
    return path


def pretrained_meta(name: str | os.PathLike) -> dict[str, Any]:
    """The ``"pretrained"`` table of a bundled model's ``config.json`` (kind, sampler, steps, tag vocabulary, ...)."""
    from .models.io import read_config

    return read_config(model_dir(name)).get("pretrained", {})


def tag_vocab(name: str | os.PathLike, *, meta: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """The tag vocabulary (field -> values) of a bundled model or saved model folder: the ``tag_vocab`` of its
    ``"pretrained"`` table (``meta``: that table when the caller has read it already). A folder that records none (a
    training run's ``student_ema``) is a ``ValueError`` that says how to add it."""
    vocab = (pretrained_meta(name) if meta is None else meta).get("tag_vocab")
    if not isinstance(vocab, dict):
        raise ValueError(f"{str(model_dir(name) / 'config.json')!r} records no tag vocabulary (a 'pretrained' table "
                         "with 'tag_vocab'; a training run's student_ema has none): save the model with "
                         "Pipeline.save_pretrained, or scripts/bundle_model.py NAME --from FOLDER --kind ... --config "
                         "... --out DIR")
    return vocab


def model_card(name: str) -> str:
    """The model card (Markdown) of a bundled model."""
    path = model_dir(name) / "MODEL_CARD.md"
    return path.read_text() if path.is_file() else f"# {name}\n\n(no model card)\n"


def load_pretrained(name: str | os.PathLike, *, device: str | torch.device = "cpu",
                    config: dict[str, Any] | None = None) -> nn.Module:
    """Load a bundled model by name, in float32 and eval mode, with gradients off for its parameters.

    Denoisers and jumps stay differentiable with respect to their inputs (DITTO-2 backpropagates through them).

    Parameters
    ----------
    name : str or path
        One of :func:`available` (see the module docstring for what each returns), or a saved model's folder.
    device : str or torch.device
    config : dict, optional
        The folder's ``config.json`` as :func:`tempo_kit.models.io.read_config` returned it, when the caller has read
        it already (it is read once per load).
    """
    from .jumps import ConsistencyJump, EulerJump
    from .models.io import load_denoiser, load_model, read_config

    device = check_device(device)
    path = model_dir(name)
    config = read_config(path) if config is None else config
    kind = config.get("pretrained", {}).get("kind", "denoiser")
    if kind == "module":
        model = load_model(path, config=config)
    elif kind in ("denoiser", "consistency", "ctm"):
        model = load_denoiser(path, config=config)
        if kind == "consistency":
            model = ConsistencyJump(denoiser=model)
        elif kind == "ctm":
            model = EulerJump(denoiser=model)
    else:
        raise ValueError(f"bundled model {name!r} has unknown kind {kind!r} (expected denoiser, consistency, ctm or module)")
    model = model.float().to(device).eval()
    model.requires_grad_(False)
    return model


def tag_condition(*, instrument: str | None = None, collection: str | None = None, tempo: str | None = None,
                  mode: str | None = None, batch: int = 1, model: str | os.PathLike = "teacher",
                  vocab: dict | None = None) -> dict[str, torch.Tensor]:
    """The conditioning dict of the bundled models for the given tags; tags left out are zero in the multi-hot vector,
    and no tag at all gives the null (unconditional) condition. ``vocab`` (field -> values) replaces the vocabulary read from ``model``'s config.

    Examples
    --------
    >>> cond = tag_condition(instrument="flute", mode="major", batch=2)   # doctest: +SKIP
    """
    from .data.dataset import encode_tags

    vocab = {f: tuple(v) for f, v in (vocab or tag_vocab(model)).items()}
    given = {"instrument": instrument, "collection": collection, "tempo": tempo, "mode": mode}
    for field, value in given.items():
        if value is not None and value not in vocab[field]:
            raise ValueError(f"unknown {field} {value!r}{did_you_mean(value, vocab[field])}; valid: "
                             f"{', '.join(vocab[field])}")
    tags = encode_tags([{f: v for f, v in given.items() if v is not None}] * batch, vocab)
    null = torch.full((batch,), all(v is None for v in given.values()))
    return {"tags": tags, "null": null}
