"""One object from tags to audio: :class:`Pipeline` holds a generator (bundled or saved), its sampler and steps, the
tag vocabulary it is conditioned on and the vocoder, on one device and dtype.

>>> pipe = Pipeline.from_pretrained("ctm")                                      # doctest: +SKIP
>>> clips = pipe({"instrument": "flute", "mode": "major"}, n=2, seed=0)          # doctest: +SKIP
>>> save_clips(clips, "outputs/generate")                                        # doctest: +SKIP
>>> pipe.save_pretrained("outputs/my-ctm")                                       # doctest: +SKIP
>>> Pipeline.from_pretrained("outputs/my-ctm")({"instrument": "flute", "mode": "major"}, n=2, seed=0)  # same clips

Like diffusers' pipelines for loading and saving, but the sampler is a stateless registered function
(:mod:`tempo_kit.samplers`), chosen by name: nothing is carried from one call to the next.

The real-time factor of :class:`~tempo_kit.clips.Clips` is seconds of audio per second of process CPU time (all
threads) spent sampling and vocoding, so it does not depend on how many cores ran the work; the wall-clock RTF is
reported next to it. Loading is timed separately (``"load"``, by :func:`generate` and :func:`control`).
"""

from __future__ import annotations

import math
import numbers
import os
import time
from pathlib import Path
from typing import Any, Sequence

import attrs
import torch
from torch import nn

from .clips import Clips, ControlledClip, Stopwatch, save_clips, sample_rate_of, to_audio
from .utils import check_device, check_int, check_number, count_text, did_you_mean, user_stacklevel

__all__ = ["Pipeline", "generate", "control", "tag_conditions", "load_vocoder", "default_control_model",
           "DEFAULT_MODEL", "GENERATORS", "CONTROL_DEFAULTS", "control_defaults", "saved_sampler_args", "CONTROL_MODELS", "VOCODERS", "DTYPES", "save_clips"]

#: The default generator of ``tempo-kit generate`` and the main job: the bundled few-step generator closest to real
#: clips on the quality ruler's CREPE and mel statistics (on CLAP undecided against ``presto-s``). Presto-S distilled from ``teacher-long`` in its default 1 step
#: (``benchmarks/results/quality_presto_long_gan10.md``, 296 held-out clips): FAD CREPE 0.053 [0.037, 0.079], mel
#: 0.018, CLAP 0.0031, against 0.121, 0.058 and 0.0040 for ``presto-s`` (distilled from ``teacher``, also one network
#: call; ``quality_presto_long.md``) and 0.121, 0.057 and 0.0040 for the 40-step ``teacher`` (79 calls); its own
#: teacher's FAD CREPE is still lower (ratio 1.18 [1.11, 1.24]).
DEFAULT_MODEL = "presto-s-long"
#: Names accepted for ``vocoder=``: the bundled neural vocoder, or Griffin-Lim (no weights).
VOCODERS = ("vocoder", "griffin-lim")
#: Largest guidance weight accepted (typical values are 1-10; far beyond, samples leave the data range and overflow).
MAX_CFG = 100.0
#: Longest clip in frames (95 s), as the CLI's ``--frames`` bound (``tempo_kit.commands.MAX_FRAMES``, kept equal by a
#: test): beyond any use, short of exhausting memory.
MAX_FRAMES = 4096
#: Most clips in one call (they are sampled as one batch, all in memory); the CLI allows 256
#: (``tempo_kit.commands.MAX_CLIPS``). Call the pipeline in batches for more.
MAX_CLIPS = 1024
#: Defaults of DITTO-2 control on the bundled models (``tempo-kit control``, the main job), for a CTM surrogate apart
#: from what :data:`_CONTROL_BY_KIND` changes (a CTM decodes at 0.15); see docs/quickstart.md and
#: ``benchmarks/results/decode_levels.md`` for the measurements behind them. What the melody and intensity
#: objectives read (``domain``) and intensity's K differ by task (:data:`_CONTROL_BY_TASK`). The register objective (``octave_weight``, :func:`~tempo_kit.control.tasks.task_objectives`) at weight 4 cuts the
#: octave jumps the tracker finds inside held notes from 11.1 to 4.0 per clip on the same tunes, at the same tracker
#: accuracy (96.8% vs 96.7%) and a lower FAD CREPE against the tunes' real renders (0.75x [0.57, 0.90]); weight 16
#: cuts them to 2.6 at 94.4% (``benchmarks/results/melody_octaves_validation.md``).
CONTROL_DEFAULTS = {"iterations": 200, "lr": 0.05, "decode_steps": 2, "decode_levels": None, "surrogate_steps": "decode",
                    "norm_prior": "project", "optimizer": "adam", "domain": "mel", "octave_weight": 4.0,
                    "onset_weight": 0.0}
#: What differs by kind of jump. A consistency model (CM, Presto-S) re-noises between decoding steps, and control
#: through its 2-step decode falls far behind its one-step control on the validation targets (melody 0.19 vs 0.74,
#: intensity 1.2 vs 0.045 dB^2), so it decodes in one step. A CTM decodes in 2 steps re-noised to 0.15 rather than
#: the teacher grid's 1.98: on the 8 validation targets of ``benchmarks/bench_control_lr.py`` at this lr and prior it
#: controls better on all five tasks with FAD mel within 2x (``control_lr.md``), and on the 16 validation tunes
#: (``bench_melody_validation_levels.md``) the independent tracker scores 96.3% vs 95.5%, with fewer octave jumps
#: (9.6 vs 13.6 per clip) and 5 dB less overshoot scaled away (8.3 vs 13.2 dB). The cost is quality: uncontrolled, the
#: decode at 0.15 is 1.53x the teacher's FAD CREPE against 1.32x at the grid's level (``quality_decode015.md``);
#: ``decode_steps=2`` decodes at the grid's level.
_CONTROL_BY_KIND = {"consistency": {"decode_steps": 1, "surrogate_steps": 1}, "ctm": {"decode_levels": (0.15,)}}
#: What differs by task. The painting objectives read a few frames of the output; Adam moves the noise of the frames
#: they do not read by about the learning rate per step whatever its gradient, and those frames drift off the music.
#: :class:`~tempo_kit.control.ditto.SampleAdam` moves a coordinate with its own gradient. On the 8 validation targets
#: of ``bench_control_lr.py`` at this lr and prior (``control_lr.md``): for the CTM at its default decode it controls
#: better at a lower FAD mel on both painting tasks (outpainting MSE 0.0030 vs 0.0047, FAD mel 0.22 vs 0.29;
#: inpainting 0.0048 vs 0.0057, 0.23 vs 0.30); for Presto-S in one step better on outpainting (0.0036 vs 0.0042, 0.27
#: vs 0.40) and about level on inpainting at a lower FAD mel (0.0057 vs 0.0055, 0.28 vs 0.35); for the CM (one step)
#: it trades control for FAD mel on outpainting (0.0158 vs 0.0147, 0.24 vs 0.34) and is level on inpainting (0.0159
#: vs 0.0152, 0.25 vs 0.25). On intensity, melody and structure it controls worse at this lr.
#: The melody objective reads both the mel frames and the vocoded audio: on the 16 validation tunes
#: (``benchmarks/results/bench_melody_validation.md``) an independent pitch tracker scores that above either alone.
#: The intensity objective reads the vocoded audio, at K 60 (on the CTM less CPU time than the mel objective at
#: K 200: 5.3 vs 6.5 CPU s per run on one thread, ``intensity_audio.md``; 1.5x on the one-step CM): the mel objective
#: pushes the frames where the vocoder's loudness differs from theirs. On the 12 validation curves of
#: ``benchmarks/bench_intensity_audio.py --split validation`` (other shapes, ranges and tags than its test curves)
#: the loudness of the vocoded audio misses by 0.36 dB^2 against 7.7 for the mel objective at K 200 on the CTM (CM
#: 0.69 vs 9.2, Presto-S 0.59 vs 16.2; K 100 and 200 do better, 0.22 and 0.15, at 1.8x and 3.4x the CPU time).
#: Against one real clip of the same tags per target, the CTM's clips have a lower FAD (CREPE 0.86x [0.71, 1.00],
#: mel 0.76x [0.47, 0.99]); the CM's a higher FAD mel (1.47x [1.22, 1.96]; CREPE 1.17x [0.96, 1.49]); Presto-S's a
#: lower FAD CLAP (0.68x [0.49, 0.86]) (``intensity_audio_validation.md``, ``_cm.md``, ``_presto-s.md``).
_CONTROL_BY_TASK = {"outpainting": {"optimizer": "adam-sample"}, "inpainting": {"optimizer": "adam-sample"},
                    "melody": {"domain": "mel+audio"}, "intensity": {"domain": "audio", "iterations": 60}}


def control_defaults(kind: str | None, task: str | None = None, domain: str | None = None) -> dict:
    """:data:`CONTROL_DEFAULTS` for a model of ``kind`` (``"ctm"``, ``"consistency"``, ...; None: what every kind
    shares) on ``task`` (a task name of :data:`tempo_kit.control.tasks.TASKS`, or None for your own objectives) whose
    objective reads ``domain`` (None: the task's default domain). A task's own K was chosen for its own domain: with
    another domain K is the kind's (e.g. intensity read on mel frames runs at K 200, on audio at K 60)."""
    by_task = _CONTROL_BY_TASK.get(task, {})
    if domain is not None and domain != by_task.get("domain", CONTROL_DEFAULTS["domain"]):
        by_task = {k: v for k, v in by_task.items() if k != "iterations"}
    return {**CONTROL_DEFAULTS, **_CONTROL_BY_KIND.get(kind, {}), **by_task}
#: Surrogates for DITTO-2 in order of preference; the default is the first one bundled.
CONTROL_MODELS = ("ctm", "cm", "presto-s")
#: dtypes a pipeline runs in, by name (float16 needs an accelerator: CPU kernels for it are missing or slow).
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# sampler and steps by model kind when the model's "pretrained" table gives none
_FALLBACK = {"denoiser": ("heun", 18), "consistency": ("cm", 4), "ctm": ("ctm-gamma", 4)}
#: The bundled generators, the default first (``tempo-kit generate --help``, the serve page, error messages).
GENERATORS = ("presto-s-long", "presto-s", "ctm", "cm", "presto-ls", "teacher", "teacher-long", "ase", "presto-l")


def tag_conditions(tags: Sequence[dict], *, model: str | os.PathLike = "teacher",
                   vocab: dict | None = None) -> dict[str, torch.Tensor]:
    """``cond`` for one tag dict per item (:func:`tempo_kit.pretrained.tag_condition`, stacked); the tag vocabulary is
    ``vocab`` or the one in ``model``'s config."""
    from .pretrained import tag_condition, tag_vocab

    vocab = vocab or tag_vocab(model)
    for t in tags:
        unknown = sorted(set(t) - set(vocab))
        if unknown:
            raise ValueError(f"unknown tag field {unknown[0]!r}{did_you_mean(unknown[0], vocab)}; fields: "
                             f"{', '.join(vocab)}")
    conds = [tag_condition(**t, vocab=vocab) for t in tags]
    return {k: torch.cat([c[k] for c in conds]) for k in conds[0]}


def load_vocoder(name: str | os.PathLike = "vocoder") -> nn.Module:
    """``"vocoder"``: the bundled neural vocoder; ``"griffin-lim"``: Griffin-Lim (registered model, no weights); or
    the folder of a saved vocoder."""
    from .pretrained import available, load_pretrained
    from .registry import get

    if name == "griffin-lim":
        return get("models", "griffin-lim").eval()
    if isinstance(name, os.PathLike) or (isinstance(name, str) and os.sep in name):
        from .models.io import read_config
        from .pretrained import model_dir

        config = read_config(model_dir(name))
        kind = config.get("pretrained", {}).get("kind", "denoiser")
        if kind != "module":
            raise ValueError(f"{str(name)!r} holds a {kind}, not a vocoder (a saved model of kind 'module')")
        return _check_vocoder(load_pretrained(name, config=config), name)
    if name != "vocoder":
        raise ValueError(f"unknown vocoder {name!r}{did_you_mean(name, VOCODERS)}; valid: {', '.join(VOCODERS)} or a "
                         f"saved vocoder's folder")
    if "vocoder" not in available():
        raise FileNotFoundError("no bundled vocoder in the weights folder; use vocoder='griffin-lim' "
                                "(--vocoder griffin-lim)")
    return load_pretrained("vocoder")


def _check_vocoder(model: nn.Module, name) -> nn.Module:
    """``model`` if it turns mel frames ``(batch, n_mels, frames)`` into ``frames * hop_length`` samples per clip; a
    ValueError naming the folder otherwise (another saved module, e.g. the CLAP model, is no vocoder)."""
    from .audio.mel import MelSpec

    spec, frames = getattr(model, "spec", None) or MelSpec(), 8  # the vocoder's own mel space when it has one
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, spec.n_mels, frames))
        ok = isinstance(out, torch.Tensor) and out.numel() == frames * spec.hop_length
    except Exception:  # noqa: BLE001 - any failure on a mel input means it is not a vocoder
        ok = False
    if not ok:
        raise ValueError(f"{str(name)!r} holds a {type(model).__name__} that is no vocoder: a vocoder turns mel frames "
                         f"(batch, {spec.n_mels}, frames) into frames x {spec.hop_length} samples per clip")
    return model


def default_control_model() -> str:
    """The first of :data:`CONTROL_MODELS` found in the weights folder."""
    from .pretrained import available, weights_dir

    found = [m for m in CONTROL_MODELS if m in available()]
    if not found:
        raise FileNotFoundError(f"none of the DITTO-2 surrogates {', '.join(CONTROL_MODELS)} is bundled in "
                                f"{weights_dir()}")
    return found[0]


def _dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    names = {v: k for k, v in DTYPES.items()}
    if not isinstance(dtype, (str, torch.dtype)) or (dtype not in DTYPES and dtype not in names):
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    dtype = DTYPES.get(dtype, dtype)
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("float16 needs a GPU; on cpu use float32 or bfloat16")
    return dtype


def _seed(value) -> int:
    """A seed for ``torch.Generator.manual_seed``: an integer (numpy integers too) in [0, 2**63)."""
    return check_int(value, "seed", low=0, high=2**63 - 1)


#: Model-space mel level the loudest 0.1% of a clip's values may reach before :meth:`Pipeline.sample` warns that it
#: left the model's range (+1 is +40 dB, the top of the model space; 1.5 is +70 dB). The bundled generators stay under
#: 1 at their defaults (their single loudest values reach 1.5); Presto-S at 64 steps reaches 2.1.
MEL_TOP = 1.5


def saved_sampler_args(meta: dict, sampler: str | None) -> dict:
    """The sampler options a saved model's ``"pretrained"`` table records, if ``sampler`` is its own (None: the saved
    sampler); another sampler gets none, since they are that sampler's options."""
    return dict(meta.get("sampler_args", {})) if sampler in (None, meta.get("sampler")) else {}


def _args_text(args: dict) -> str:
    """`` (refine_max=0.5, refine_min=0.05)`` for a sampler's options; empty for none."""
    return f" ({', '.join(f'{k}={v!r}' for k, v in args.items())})" if args else ""


def _count(value, what: str) -> int:
    """A positive integer (numpy integers too): :func:`~tempo_kit.utils.check_int` with ``low=1``."""
    return check_int(value, what, low=1)


def _is_saved_pipeline(path: Path) -> bool:
    """Whether the folder holds what :meth:`Pipeline.save_pretrained` writes and nothing else: a saved model with a
    ``"pretrained"`` table, a card, and maybe a saved vocoder in ``vocoder/``."""
    from .models.io import read_config

    def saved_model(folder: Path, allowed: tuple[str, ...]) -> dict | None:
        if any(p.name not in allowed for p in folder.iterdir()):
            return None
        try:
            return read_config(folder)
        except (OSError, ValueError):
            return None

    meta = saved_model(path, ("config.json", "model.safetensors", "MODEL_CARD.md", "vocoder"))
    if meta is None or not isinstance(meta.get("pretrained"), dict):
        return False
    vocoder = path / "vocoder"
    return not vocoder.exists() or (vocoder.is_dir() and saved_model(vocoder, ("config.json", "model.safetensors"))
                                    is not None)


@attrs.define(kw_only=True, eq=False)
class Pipeline:
    """A generator with everything needed to turn tags into audio. Build one with :meth:`from_pretrained`.

    Attributes
    ----------
    model : nn.Module
        The network: a :class:`~tempo_kit.denoisers.Denoiser` (teacher, ASE, Presto-L) or a
        :class:`~tempo_kit.jumps.Jump` (CM, CTM, Presto-S, Presto-LS); eval mode, no parameter gradients.
    meta : dict
        The ``"pretrained"`` table of the model's ``config.json``: ``kind``, ``tag_vocab`` and its defaults.
    name : str
        The bundled name or the folder it was loaded from.
    sampler : str
        A registered sampler that drives the model's kind (``tempo-kit plugins`` lists them).
    sampler_args : dict
        Its options (``get("samplers", sampler, **sampler_args)``), e.g. the re-noise levels a model's card chose for
        it (``{"refine_max": 0.5, "refine_min": 0.05}`` for ``presto-s``); empty: the sampler's defaults.
    steps : int
        Sampling steps.
    cfg : float
        Classifier-free guidance weight of a denoiser (1 = none); distilled jumps take none: their weight was fixed
        when they were distilled (w = 1 for the bundled ones).
    vocoder : nn.Module
        Mel ``(batch, 80, frames)`` -> waveform ``(batch, 1, samples)`` at 22050 Hz.
    vocoder_name : str
        ``"vocoder"``, ``"griffin-lim"`` or the folder it was loaded from.
    device : torch.device
    dtype : torch.dtype
        The networks' dtype; noise is drawn in float32 on the CPU (so a seed gives the same clips on every device) and
        audio is returned in float32.
    """

    model: nn.Module
    meta: dict
    name: str
    sampler: str
    steps: int
    sampler_args: dict = attrs.field(factory=dict, validator=attrs.validators.instance_of(dict))
    cfg: float = 1.0
    vocoder: nn.Module
    vocoder_name: str = "vocoder"
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    @property
    def kind(self) -> str:
        """``"denoiser"``, ``"consistency"`` or ``"ctm"``."""
        return self.meta.get("kind", "denoiser")

    @property
    def patch(self) -> int:
        """Clip lengths are whole multiples of this many frames (the DiT's patch)."""
        net = self.model
        while not hasattr(getattr(net, "config", None), "patch") and isinstance(getattr(net, "denoiser", None) or
                                                                           getattr(net, "net", None), nn.Module):
            net = getattr(net, "denoiser", None) or net.net  # Jump -> EDMPrecond -> (RoutedNet ->) network
        return int(getattr(getattr(net, "config", None), "patch", 1))

    # -- loading and saving ------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL, *, device: str | torch.device = "cpu",
                        dtype: str | torch.dtype | None = None, sampler: str | None = None, steps: int | None = None,
                        sampler_args: dict | None = None, cfg: float | None = None,
                        vocoder: str | os.PathLike | None = None) -> "Pipeline":
        """Load a bundled generator by name (``"ctm"``, ``"presto-s"``, ...; :func:`tempo_kit.pretrained.available`)
        or a folder written by :meth:`save_pretrained`. The weights' sha256 is checked against the config.

        Parameters
        ----------
        name_or_path : str or path
        device : str or torch.device
            ``"cpu"`` (tested), ``"cuda"``, ``"mps"``; one that is not available here is an error naming those that are.
        dtype : {"float32", "bfloat16", "float16"} or torch.dtype
            The networks' dtype (float16 on a GPU only); default: the one the pipeline was saved in, else float32.
        sampler, steps, sampler_args, cfg : optional
            Override the saved defaults: a registered sampler name, its steps, its options, the guidance weight
            (denoisers only). The saved ``sampler_args`` go with the saved sampler: naming another sampler drops them,
            and ``sampler_args`` given here replace them whole (``{}``: the sampler's own defaults).
        vocoder : {"vocoder", "griffin-lim"} or path, optional
            Default: the one saved with the pipeline, else the bundled vocoder.
        """
        from .models.io import read_config
        from .pretrained import load_pretrained, model_dir, tag_vocab
        from .registry import get, names

        device = check_device(device)
        folder = model_dir(name_or_path)
        config = read_config(folder)  # once per load
        meta = config.get("pretrained", {})
        dtype = _dtype(meta.get("dtype", "float32") if dtype is None else dtype, device)
        kind = meta.get("kind", "denoiser")
        if kind not in _FALLBACK:
            raise ValueError(f"{str(name_or_path)!r} is a {kind!r}, not a generator; generators: {', '.join(GENERATORS)}")
        tag_vocab(folder, meta=meta)  # a folder without one: an error saying how to add it
        if sampler_args is None:
            sampler_args = saved_sampler_args(meta, sampler)
        if not isinstance(sampler_args, dict):
            raise TypeError(f"sampler_args must be a dict of the sampler's options, got {type(sampler_args).__name__}")
        if sampler is not None and not isinstance(sampler, str):
            raise TypeError(f"sampler must be a registered sampler's name (None: the model's own), got {sampler!r}")
        if sampler is not None and not sampler.strip():
            raise ValueError(f"sampler must be a registered sampler's name (None: the model's own), got {sampler!r}")
        sampler = sampler or meta.get("sampler") or _FALLBACK[kind][0]
        steps = _count(steps if steps is not None else meta.get("steps", _FALLBACK[kind][1]), "steps")
        if cfg is not None and kind != "denoiser":
            raise ValueError(f"cfg applies to denoisers (teacher, teacher-long, ase, presto-l); {name_or_path} is a distilled {kind} "
                             "model whose guidance weight was fixed when it was distilled (w = 1 for the bundled "
                             "students), so it takes none")
        cfg = meta.get("cfg", 1.0) if cfg is None else cfg
        if isinstance(cfg, bool) or not (isinstance(cfg, numbers.Real) and math.isfinite(cfg) and -MAX_CFG <= cfg <= MAX_CFG):
            raise ValueError(f"cfg must be a finite guidance weight in [-{MAX_CFG:g}, {MAX_CFG:g}] (1 = no guidance), "
                             f"got {cfg!r}")
        drives = "denoiser" if kind == "denoiser" else "jump"
        chosen = get("samplers", sampler, **sampler_args)  # an unknown option: the registry's error, naming the valid
        if getattr(chosen, "drives", drives) != drives:
            raise ValueError(f"sampler {sampler!r} drives a {chosen.drives}, but {str(name_or_path)!r} is a {drives}; "
                             f"use one of: {', '.join(n for n in names('samplers') if get('samplers', n).drives == drives)}")
        if vocoder is None:
            vocoder = folder / "vocoder" if (folder / "vocoder" / "config.json").is_file() else meta.get("vocoder", "vocoder")
        voc = load_vocoder(vocoder)
        meta = {k: v for k, v in meta.items() if k != "sampler_args"}  # the live value is the attribute
        return cls(model=load_pretrained(folder, config=config).to(device, dtype), meta=meta, name=str(name_or_path),
                   sampler=sampler, steps=steps, sampler_args=dict(sampler_args), cfg=float(cfg),
                   vocoder=voc.to(device, dtype),
                   vocoder_name=str(vocoder), device=device, dtype=dtype)

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write the pipeline to the folder ``path``: ``config.json`` (architecture, preconditioning, router, the
        weights' sha256 and a ``"pretrained"`` table with this pipeline's sampler, steps, cfg and tag vocabulary),
        ``model.safetensors`` in the pipeline's dtype, a ``MODEL_CARD.md`` stub that carries the source's card, and the
        neural vocoder in ``vocoder/``. :meth:`from_pretrained` on the folder gives the same clips, bit for bit."""
        import json
        import shutil

        from .models.io import read_config, save_model
        from .pretrained import model_card
        from .utils import write_text_atomic

        path = Path(path)
        if path.resolve() == Path.cwd().resolve() or not path.name or path.name in (".", ".."):
            raise ValueError(f"save_pretrained needs a folder of its own, got {str(path)!r}")
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{str(path)!r} is a file; save_pretrained writes a folder")
        if path.is_dir() and any(path.iterdir()) and not _is_saved_pipeline(path):
            raise FileExistsError(f"{str(path)!r} is a folder that holds something other than a saved model; "
                                  "save_pretrained replaces only an empty folder or a saved model's")
        try:
            json.dumps(self.sampler_args, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"sampler_args {self.sampler_args!r} cannot be saved in config.json ({err}): give plain "
                             "numbers, strings or lists (e.g. refine_max=0.5, not a schedule object)") from None
        try:
            source = model_card(self.name)
        except (KeyError, FileNotFoundError):
            source = ""
        source = source.split("## The source's model card\n\n", 1)[-1]  # a re-saved pipeline keeps the original card
        tmp = path.with_name(f".{path.name}.saving")  # built aside, then swapped in: a failure leaves path as it was
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            save_model(self.model, tmp)
            config = read_config(tmp)
            config["pretrained"] = {**self.meta, "sampler": self.sampler, "steps": self.steps, "cfg": self.cfg,
                                    "dtype": str(self.dtype).removeprefix("torch.")}
            config["pretrained"].pop("sampler_args", None)
            if self.sampler_args:
                config["pretrained"]["sampler_args"] = self.sampler_args
            if self.vocoder_name == "griffin-lim":
                config["pretrained"]["vocoder"] = "griffin-lim"
            else:
                save_model(self.vocoder, tmp / "vocoder")
                voc = read_config(tmp / "vocoder")
                write_text_atomic(tmp / "vocoder" / "config.json",
                                  json.dumps({**voc, "pretrained": {"kind": "module"}}, indent=2))
                config["pretrained"].pop("vocoder", None)
            write_text_atomic(tmp / "config.json", json.dumps(config, indent=2))
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            write_text_atomic(tmp / "MODEL_CARD.md",
                              f"# {path.name}\n\nSaved by `Pipeline.save_pretrained` on {stamp} from `{self.name}`: "
                              f"sampler `{self.sampler}`{_args_text(self.sampler_args)}, "
                              f"{count_text(self.steps, 'step')}, cfg {self.cfg:g}, dtype "
                              f"`{str(self.dtype).removeprefix('torch.')}`, vocoder `{self.vocoder_name}`. Load with "
                              f"`Pipeline.from_pretrained({str(path)!r})`.\n\n"
                              + (f"## The source's model card\n\n{source}" if source else ""))
        except BaseException:  # nothing half-written is left beside the folder
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        return path

    # -- generation ---------------------------------------------------------------------------------------------
    def condition(self, tags: Sequence[dict]) -> dict[str, torch.Tensor]:
        """``cond`` for one tag dict per clip (tags are checked against the model's vocabulary), on the device."""
        return {k: v.to(self.device) for k, v in tag_conditions(tags, vocab=self.meta["tag_vocab"]).items()}

    def frames(self, seconds: float | None = None, frames: int | None = None) -> int:
        """Clip length in mel frames: ``frames`` as given (a multiple of :attr:`patch`), or ``seconds`` rounded to
        the nearest whole patch; neither gives 256 frames (5.94 s, the training length)."""
        from .audio.mel import MelSpec

        if seconds is not None and frames is not None:
            raise ValueError("give seconds or frames, not both")
        if seconds is not None:
            seconds = check_number(seconds, "seconds", positive=True)
            longest = MAX_FRAMES / MelSpec().frame_rate
            # checked on seconds first: 1e308 s would overflow the frame count while rounding
            frames = (max(self.patch, round(MelSpec().seconds_to_frames(seconds) / self.patch) * self.patch)
                      if seconds <= 2 * longest else MAX_FRAMES + 1)
            if frames > MAX_FRAMES:
                raise ValueError(f"seconds must give at most {MAX_FRAMES} frames ({longest:.0f} s), got {seconds:g} s")
            return frames
        frames = 256 if frames is None else _count(frames, "frames")
        if frames % self.patch:
            raise ValueError(f"frames must be a multiple of the model's patch ({self.patch}), got {frames}")
        if frames > MAX_FRAMES:
            raise ValueError(f"frames must be at most {MAX_FRAMES}, got {frames}")
        return frames

    def _denoiser(self) -> nn.Module:
        if self.kind != "denoiser" or self.cfg == 1.0:
            return self.model
        from .denoisers import CFGDenoiser
        from .models.blocks import null_condition

        return CFGDenoiser(denoiser=self.model, w=self.cfg, null_cond=null_condition)

    def __call__(self, tags: dict | Sequence[dict] | None = None, *, n: int | None = None, steps: int | None = None,
                 seconds: float | None = None, frames: int | None = None, seed: int = 0) -> Clips:
        """Generate clips from tags and vocode them.

        Parameters
        ----------
        tags : dict or sequence of dict, optional
            One tag dict for all ``n`` clips (``{"instrument": "flute", "mode": "major"}``), one per clip, or ``None``
            (unconditional).
        n : int, optional
            Number of clips: default 1 with one tag dict, the number of dicts with a sequence (a different ``n`` is an
            error).
        steps : int, optional
            Sampling steps (default :attr:`steps`).
        seconds, frames : optional
            Clip length (:meth:`frames`); default 256 frames = 5.94 s.
        seed : int
            Seed of the initial noise and of any per-step noise.

        Returns
        -------
        Clips
            ``mel`` ``(n, 80, frames)``, ``audio`` ``(n, samples)`` in [-1, 1] (a clip that would clip is scaled down
            with a warning), timings.
        """
        tag_list = self._tag_list(tags, n)
        steps = self.steps if steps is None else _count(steps, "steps")
        seed = _seed(seed)  # stored as a plain int (a numpy or tensor seed would not go into clips.json)
        watch = Stopwatch()
        with watch("sample"):
            mel = self.sample(tag_list, steps=steps, seconds=seconds, frames=frames, seed=seed)
        with watch("vocode"), torch.no_grad():
            audio, gain = to_audio(mel.to(self.dtype), self.vocoder, return_gain=True)
        return Clips(mel=mel, audio=audio.float(), sample_rate=sample_rate_of(self.vocoder), tags=tag_list,
                     model=self.name, sampler=self.sampler, steps=steps, vocoder=self.vocoder_name, seed=seed,
                     wall=watch.wall, cpu=watch.cpu, scaled_down_db=tuple(gain.tolist()),
                     sigmas=tuple(self._sigmas(steps).tolist()))

    def _sigmas(self, steps: int) -> torch.Tensor:
        """The noise levels of ``steps`` steps of this pipeline's sampler (``steps + 1`` values ending in 0)."""
        return self._sampler().schedule.sigmas(steps)

    def _sampler(self):
        from .registry import get

        return get("samplers", self.sampler, **self.sampler_args)

    @staticmethod
    def _tag_list(tags, n: int | None) -> list[dict]:
        if isinstance(tags, (list, tuple)):
            if any(not isinstance(t, dict) for t in tags):
                raise TypeError(f"tags must be a dict, a list of dicts (one per clip) or None, got a list holding "
                                f"{type(next(t for t in tags if not isinstance(t, dict))).__name__}")
            tag_list = [dict(t) for t in tags]
            if tag_list and n is not None and _count(n, "n") != len(tag_list):
                raise ValueError(f"n={n} but {count_text(len(tag_list), 'tag dict')} (one per clip) given: drop n, or give "
                                 "one dict for all n clips")
        elif tags is None or isinstance(tags, dict):
            tag_list = [dict(tags or {})] * _count(1 if n is None else n, "n")
        else:
            raise TypeError(f"tags must be a dict (e.g. {{'instrument': 'flute'}}), a list of dicts or None, got "
                            f"{type(tags).__name__} {tags!r}")
        if not tag_list:
            raise ValueError("nothing to generate: give at least one tag dict")
        if len(tag_list) > MAX_CLIPS:
            raise ValueError(f"{len(tag_list)} clips in one call: at most {MAX_CLIPS} (one batch in memory); call the "
                             "pipeline in batches")
        return tag_list

    @torch.no_grad()
    def sample(self, tags: dict | Sequence[dict] | None = None, *, n: int | None = None, steps: int | None = None,
               seconds: float | None = None, frames: int | None = None, seed: int = 0) -> torch.Tensor:
        """Model-space mel frames ``(n, 80, frames)`` in float32, without vocoding; arguments as :meth:`__call__`
        (the clips of ``pipe(...)`` are the vocoded ``pipe.sample(...)``)."""
        from .audio.mel import MelSpec

        tag_list = self._tag_list(tags, n)
        steps = self.steps if steps is None else _count(steps, "steps")
        frames = self.frames(seconds, frames)
        if self.kind == "denoiser" and self.cfg != 1.0 and not any(tag_list):
            import warnings

            warnings.warn(f"cfg {self.cfg:g} has no effect on clips without tags (guidance steers towards the tags) "
                          "but doubles the network calls; give tags, or cfg=1", stacklevel=user_stacklevel())
        cond = self.condition(tag_list)
        sampler = self._sampler()
        g = torch.Generator().manual_seed(_seed(seed))
        sigmas = self._sigmas(steps)
        x_T = sigmas[0] * torch.randn(len(tag_list), MelSpec().n_mels, frames, generator=g)
        mel = sampler(self._denoiser(), x_T.to(self.device, self.dtype), sigmas, cond=cond, generator=g).float()
        if not torch.isfinite(mel).all():
            raise ValueError(f"{self.name} ({self.sampler}, {count_text(steps, 'step')}, cfg {self.cfg:g}) produced "
                             f"{int((~torch.isfinite(mel)).sum())} non-finite mel values; nothing was written")
        top = float(torch.quantile(mel.flatten(1), 0.999, dim=1).max())  # one loud bin is music, 0.1% of a clip not
        if top > MEL_TOP:
            import warnings

            hint = (f"; distilled models are made for a few steps (this one's default is {self.steps})"
                    if steps != self.steps else "")
            spec = MelSpec()
            warnings.warn(f"{self.name} ({self.sampler}, {count_text(steps, 'step')}) produced a clip whose loudest "
                          f"0.1% of mel values reach {top:.1f} model units ({spec.model_to_db(torch.tensor(top)):+.0f} "
                          f"dB; the model space tops at +1 = {spec.db_max:+.0f} dB): the output has left the "
                          f"range the model was trained on and is most likely noise{hint}", stacklevel=2)
        return mel

    # -- control ------------------------------------------------------------------------------------------------
    def control(self, task: str | Sequence, *, tags: dict | None = None, target=None, iterations: int | None = None,
                lr: float | None = None, decode_steps: int | None = None, decode_levels=None,
                surrogate_steps: int | str | None = None, norm_prior: str | None = "default",
                optimizer: str | None = None, domain: str | None = None,
                octave_weight: float | None = None, onset_weight: float | None = None, seed: int = 0,
                seconds: float | None = None,
                frames: int | None = None,
                variant: int = 0, progress: bool = True) -> ControlledClip:
        """DITTO-2 (Novack et al. 2024b, Alg. 1) on this pipeline's jump: optimise the initial noise through the
        one-step surrogate, decode in a few steps, vocode. For the plain DITTO baseline on a denoiser use
        :class:`tempo_kit.control.DITTO`.

        Parameters
        ----------
        task : str or sequence of Objective
            A task name of :data:`tempo_kit.control.tasks.TASKS` (its objectives read the mel frames, or for melody
            and intensity what ``domain`` says: by default melody both the frames and the vocoded audio, intensity the
            vocoded audio), or your own objectives; those that read audio (``domain="audio"``) see the output through
            this pipeline's vocoder, with gradients.
        tags : dict, optional
            Conditioning tags (none: unconditional).
        target : Target, optional
            Your target for ``task="melody"`` (e.g. ``get_tune().target(...)``) or ``task="intensity"`` (a dB curve,
            e.g. :func:`~tempo_kit.control.intensity_from_points`); default the task's preset (a random melody, a
            -35..-15 dB curve). An error with any other task.
        iterations, lr : optional
            DITTO-2's ``K`` and learning rate on ``eps`` (:func:`control_defaults` of the model's kind, the task and
            the domain: K 200, intensity read on the vocoded audio K 60).
        decode_steps, decode_levels : optional
            The decode: ``decode_steps`` ``T`` at the teacher grid's levels, or the re-noise levels between its jumps
            (``[0.15]``: ``T = 2``, sigma_max then 0.15; :class:`~tempo_kit.control.DITTO2`). Neither given: the
            model kind's default (:func:`control_defaults`; a CTM decodes in 2 steps re-noised to 0.15). Both given
            must agree (``T = len(decode_levels) + 1``).
        surrogate_steps : int, "adaptive" or "decode", optional
            DITTO-2's ``M`` (:func:`control_defaults`; ``"decode"`` optimises through the decode itself, see
            :class:`~tempo_kit.control.DITTO2`).
        norm_prior : {"default", None, "penalty", "project"}
            Keeps the optimised noise near the Gaussian shell (:class:`~tempo_kit.control.DITTO2`); the default
            projects it back after every step (``benchmarks/results/norm_prior_validation.md``: better control on
            intensity, melody and structure, a lower FAD mel on two of them).
        optimizer : {"adam", "adam-sample"}, optional
            The optimizer of the noise (:class:`~tempo_kit.control.DITTO2`; default :func:`control_defaults`:
            ``"adam-sample"`` on the painting tasks, else ``"adam"``).
        domain : {"mel", "audio", "mel+audio"}, optional
            What the melody or intensity task's feature reads (:func:`~tempo_kit.control.tasks.task_objectives`): the
            mel frames, the output vocoded by this pipeline's vocoder (with gradients through it), or both (default
            :func:`control_defaults`). An error with other tasks or your own objectives (choose each objective's
            extractor domain instead).
        octave_weight, onset_weight : float, optional
            Melody: weights of the objectives that keep each note of the tune in one register and make it start
            clearly (:func:`~tempo_kit.control.tasks.task_objectives`; 0 leaves one out; an error with any other
            task; defaults :func:`control_defaults`).
        seed : int
            Seed of the initial noise and decoding noise.
        seconds, frames : optional
            Output length (:meth:`frames`).
        variant : int
            Another preset target of the same named task (an error together with ``target``).
        """
        from .audio.mel import MelSpec
        from .control import DITTO2, Objective
        from .control.ditto import resolve_decode
        from .control.tasks import task_objectives
        from .schedules import EDM_SIGMA_MAX

        if self.kind == "denoiser":
            raise ValueError(f"DITTO-2 needs a distilled jump (ctm, cm, presto-s, presto-s-long, presto-ls); {self.name} is a denoiser "
                             "(use tempo_kit.control.DITTO for the plain DITTO baseline)")
        defaults = control_defaults(self.kind, task if isinstance(task, str) else None, domain)
        iterations = defaults["iterations"] if iterations is None else iterations
        lr = defaults["lr"] if lr is None else lr
        if decode_steps is None and decode_levels is None:  # an explicit T decodes at the teacher grid's levels
            decode_steps, decode_levels = defaults["decode_steps"], defaults["decode_levels"]
        decode_steps, decode_levels = resolve_decode(decode_steps, decode_levels)
        surrogate_steps = defaults["surrogate_steps"] if surrogate_steps is None else surrogate_steps
        norm_prior = defaults["norm_prior"] if norm_prior == "default" else norm_prior
        optimizer = defaults["optimizer"] if optimizer is None else optimizer
        if domain is not None and not isinstance(task, str):
            raise ValueError("domain applies to a named task; with your own objectives choose each extractor's domain")
        domain = defaults["domain"] if domain is None else domain
        if target is not None and not isinstance(task, str):
            raise ValueError("target applies to a named task; your own objectives carry their targets")
        for label, w, objective in (("octave_weight", octave_weight, "melody_octaves"),
                                    ("onset_weight", onset_weight, "melody_onsets")):
            if w is not None and task != "melody":
                raise ValueError(f"{label} applies to the named melody task (task='melody'); with other objectives add "
                                 f"the {objective!r} objective of tempo_kit.control.tasks.task_objectives('melody', "
                                 f"{label}=...) yourself")
        if task != "melody":
            octave_weight = onset_weight = 0.0
        octave_weight = defaults["octave_weight"] if octave_weight is None else octave_weight
        onset_weight = defaults["onset_weight"] if onset_weight is None else onset_weight
        if tags is not None and not isinstance(tags, dict):
            raise TypeError(f"tags must be one dict (e.g. {{'instrument': 'flute'}}) or None, got {type(tags).__name__}")
        if not isinstance(task, str):
            if isinstance(task, (bytes, dict)) or not hasattr(task, "__iter__"):
                raise TypeError(f"task must be a task name (e.g. 'melody') or a list of Objective, got {task!r}")
            task = list(task)  # a generator is read once
            if not task or not all(isinstance(o, Objective) for o in task):
                raise TypeError(f"task must be a task name (e.g. 'melody') or a non-empty list of Objective, got {task!r}")
        seed = _seed(seed)
        tags = dict(tags or {})
        frames = self.frames(seconds, frames)
        cond = self.condition([tags])
        shape = (1, MelSpec().n_mels, frames)
        jump = self.model

        def noise(seed: int) -> torch.Tensor:  # float32 whatever the model's dtype: Adam optimises it
            return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(self.device)

        def reference(seed: int) -> torch.Tensor:  # painting tasks: a one-step output of the same model
            with torch.no_grad():
                return jump(EDM_SIGMA_MAX * noise(seed).to(self.dtype), EDM_SIGMA_MAX, 0.0, cond)[0].float()

        objectives = (task_objectives(task, n_frames=frames, variant=variant, target=target, reference=reference,
                                      domain=domain, octave_weight=octave_weight, onset_weight=onset_weight)
                      if isinstance(task, str) else list(task))
        # objectives that read audio are evaluated on the output through this pipeline's (differentiable) vocoder
        decoder = self.vocoder if any(o.domain != "mel" for o in objectives) else None
        eps = noise(seed)
        ditto = DITTO2(iterations=iterations, lr=lr, decode_steps=decode_steps, decode_levels=decode_levels,
                       surrogate_steps=surrogate_steps, norm_prior=norm_prior, optimizer=optimizer, progress=progress)
        watch = Stopwatch()
        with watch("control"):
            result = ditto(jump, objectives, eps=eps, cond=cond, decoder=decoder,
                           generator=torch.Generator().manual_seed(seed + 1))
        watch.wall["optimize"], watch.wall["decode"] = result.time_optimization, result.time_decoding
        with watch("vocode"), torch.no_grad():
            audio, gain = to_audio(result.output.to(self.dtype), self.vocoder, return_gain=True)
            audio = audio.float()
        accuracy: dict[str, float] = {}
        melody_obj = next((o for o in objectives if o.target.kind == "melody"), None)
        if melody_obj is not None:
            from .features.chroma import LogChroma

            with watch("baseline"), torch.no_grad():
                base = attrs.evolve(ditto, iterations=0, progress=False)(
                    jump, objectives, eps=eps, cond=cond, decoder=decoder,
                    generator=torch.Generator().manual_seed(seed + 1))
                chroma = LogChroma(domain="audio")
                accuracy["mel"], accuracy["audio"] = _melody_accuracy(
                    _mel_chroma(result, melody_obj), audio, melody_obj.target, chroma)
                base_audio = to_audio(base.output.to(self.dtype), self.vocoder).float()
                accuracy["uncontrolled_mel"], accuracy["uncontrolled_audio"] = _melody_accuracy(
                    _mel_chroma(base, melody_obj), base_audio, melody_obj.target, chroma)
        return ControlledClip(result=result, audio=audio, sample_rate=sample_rate_of(self.vocoder), model=self.name,
                              vocoder=self.vocoder_name, tags=tags, iterations=int(ditto.iterations),
                              lr=float(ditto.lr),
                              decode_steps=None if decode_steps is None else int(decode_steps),
                              decode_levels=None if decode_levels is None else tuple(float(v) for v in decode_levels),
                              surrogate_steps=surrogate_steps, norm_prior=norm_prior, optimizer=optimizer,
                              octave_weight=float(octave_weight), onset_weight=float(onset_weight), wall=watch.wall,
                              cpu=watch.cpu, accuracy=accuracy, objective_domains={o.name: o.domain for o in objectives},
                              scaled_down_db=float(gain[0]))


def _mel_chroma(result, objective) -> torch.Tensor:
    """Log-chroma of the output's mel frames: the melody objective's own feature when it reads mel, else the default
    mel-domain :class:`~tempo_kit.features.LogChroma` (an objective on audio reads the vocoded output)."""
    from .features.chroma import LogChroma

    if objective.domain == "mel":
        return result.features[objective.name]
    return LogChroma()(result.output.float())


def _melody_accuracy(mel_chroma: torch.Tensor, audio: torch.Tensor, target, chroma: nn.Module) -> tuple[float, float]:
    from .features.chroma import melody_accuracy

    n = min(mel_chroma.shape[-1], target.value.shape[-1])  # an audio-domain target has one more (STFT) frame
    audio_chroma = chroma(audio)[..., :n]
    return tuple(float(melody_accuracy(f[..., :n], target.value[..., :n], ignore_index=target.ignore_index)[0])
                 for f in (mel_chroma, audio_chroma))


def _timed_load(**kwargs) -> tuple[Pipeline, float, float]:
    watch = Stopwatch()
    with watch("load"):
        pipe = Pipeline.from_pretrained(**kwargs)
    return pipe, watch.wall["load"], watch.cpu["load"]


def generate(tags: dict | Sequence[dict] | None = None, *, n: int | None = None, model: str = DEFAULT_MODEL,
             sampler: str | None = None, steps: int | None = None, cfg: float | None = None, seed: int = 0,
             frames: int = 256, seconds: float | None = None, vocoder: str | None = None, device: str = "cpu",
             dtype: str | None = None) -> Clips:
    """Load a pipeline and generate ``n`` clips in one call (``Pipeline.from_pretrained(model, ...)(tags, ...)``,
    with the load time in ``clips.wall["load"]``); see :meth:`Pipeline.__call__` for the arguments."""
    pipe, wall, cpu = _timed_load(name_or_path=model, sampler=sampler, steps=steps, cfg=cfg, vocoder=vocoder,
                                  device=device, dtype=dtype)
    clips = pipe(tags, n=n, seed=seed, **({"seconds": seconds} if seconds is not None else {"frames": frames}))
    return attrs.evolve(clips, wall={"load": wall, **clips.wall}, cpu={"load": cpu, **clips.cpu})


def control(task: str | Sequence, *, model: str | None = None, vocoder: str | None = None, device: str = "cpu",
            dtype: str | None = None, **kwargs: Any) -> ControlledClip:
    """Load a pipeline and run DITTO-2 in one call (``Pipeline.from_pretrained(model).control(task, ...)``, with
    the load time in ``clip.wall["load"]``); ``model`` defaults to :func:`default_control_model`. See
    :meth:`Pipeline.control` for the arguments."""
    pipe, wall, cpu = _timed_load(name_or_path=model or default_control_model(), vocoder=vocoder, device=device,
                                  dtype=dtype)
    clip = pipe.control(task, **kwargs)
    return attrs.evolve(clip, wall={"load": wall, **clip.wall}, cpu={"load": cpu, **clip.cpu})
