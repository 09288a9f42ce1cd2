"""Generate music with the bundled models: tags -> mel frames (a few-step distilled generator or the teacher) ->
waveform (the bundled vocoder or Griffin-Lim), with wall and CPU timings and the real-time factor.

>>> clips = generate({"instrument": "flute", "mode": "major"}, n=2, model="ctm", steps=4)        # doctest: +SKIP
>>> save_clips(clips, "outputs/generate")                                                        # doctest: +SKIP

The real-time factor (RTF) is seconds of audio per second of process CPU time (all threads) spent sampling and
vocoding, so it does not depend on how many cores ran the work; the wall-clock RTF is reported next to it. Loading the
models is timed separately.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import attrs
import torch
from torch import nn

__all__ = ["Clips", "BundledGenerator", "ControlledClip", "Stopwatch", "parse_tags", "tag_conditions", "load_generator",
           "load_vocoder", "generate", "control", "to_audio", "normalise_peaks", "save_wav", "plot_spectrogram", "save_clips",
           "default_control_model", "DEFAULT_MODEL", "CONTROL_DEFAULTS", "CONTROL_MODELS", "VOCODERS"]

#: The default generator of ``tempo-kit generate`` and the main job: the bundled generator with the best few-step
#: quality on the quality ruler (``benchmarks/results/quality.md``: CTM in 4 steps is the closest to the teacher on the
#: independent CREPE embedding; the bundled Presto-S is not, see ``docs/distillation/steps.md``).
DEFAULT_MODEL = "ctm"
#: Names accepted for ``vocoder=``: the bundled neural vocoder, or Griffin-Lim (no weights).
VOCODERS = ("vocoder", "griffin-lim")
#: Largest guidance weight accepted (typical values are 1-10; far beyond, samples leave the data range and overflow).
MAX_CFG = 100.0
# sampler and steps by model kind when the model's "pretrained" table gives none
_FALLBACK = {"denoiser": ("heun", 18), "consistency": ("cm", 4), "ctm": ("ctm-gamma", 4)}


@attrs.define
class Stopwatch:
    """Wall (``time.perf_counter``) and process CPU (``time.process_time``, all threads) seconds per named stage."""

    wall: dict = attrs.field(factory=dict)
    cpu: dict = attrs.field(factory=dict)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - w
            self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - c


@attrs.frozen(kw_only=True, eq=False)
class Clips:
    """Generated clips and how they were made.

    Attributes
    ----------
    mel : Tensor, shape ``(n, n_mels, frames)``
        Model-space mel frames.
    audio : Tensor, shape ``(n, samples)``
        Waveforms in [-1, 1] at ``sample_rate``.
    sample_rate : int
    tags : list of dict
        The tags of each clip.
    model, sampler, vocoder : str
    steps : int
    seed : int
    wall, cpu : dict of str to float
        Seconds per stage (``"load"``, ``"sample"``, ``"vocode"``).
    """

    mel: torch.Tensor
    audio: torch.Tensor
    sample_rate: int
    tags: list
    model: str
    sampler: str
    steps: int
    vocoder: str
    seed: int
    wall: dict
    cpu: dict

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio over all clips."""
        return self.audio.shape[0] * self.audio.shape[-1] / self.sample_rate

    @property
    def rtf(self) -> float:
        """Seconds of audio per CPU second of sampling plus vocoding."""
        return self.audio_seconds / max(self.cpu["sample"] + self.cpu["vocode"], 1e-9)

    @property
    def rtf_wall(self) -> float:
        """Seconds of audio per wall-clock second of sampling plus vocoding."""
        return self.audio_seconds / max(self.wall["sample"] + self.wall["vocode"], 1e-9)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: settings, timings (s), audio seconds and real-time factors."""
        return {"model": self.model, "sampler": self.sampler, "steps": self.steps, "vocoder": self.vocoder,
                "seed": self.seed, "clips": len(self.tags), "tags": self.tags,
                "audio_seconds": round(self.audio_seconds, 3),
                "wall_seconds": {k: round(v, 3) for k, v in self.wall.items()},
                "cpu_seconds": {k: round(v, 3) for k, v in self.cpu.items()},
                "rtf_cpu": round(self.rtf, 2), "rtf_wall": round(self.rtf_wall, 2)}


def parse_tags(text: str) -> dict[str, str]:
    """``"instrument=flute,mode=major"`` -> ``{"instrument": "flute", "mode": "major"}`` (values are checked against a
    model's vocabulary by :func:`tag_conditions`); an empty string gives no tags (unconditional)."""
    from .vocab import TAG_FIELDS

    tags: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, sep, value = part.partition("=")
        field, value = field.strip(), value.strip()
        if not sep or not value:
            raise ValueError(f"tags are FIELD=VALUE pairs separated by commas, got {part!r}")
        if field not in TAG_FIELDS:
            raise ValueError(f"unknown tag field {field!r}; fields: {', '.join(TAG_FIELDS)}")
        if field in tags:
            raise ValueError(f"tag field {field!r} given twice")
        tags[field] = value
    return tags


def tag_conditions(tags: Sequence[dict], *, model: str = "teacher") -> dict[str, torch.Tensor]:
    """The bundled models' ``cond`` for one tag dict per item (:func:`tempo_kit.pretrained.tag_condition`, stacked)."""
    from .pretrained import tag_condition

    conds = [tag_condition(**t, model=model) for t in tags]
    return {k: torch.cat([c[k] for c in conds]) for k in conds[0]}


@attrs.frozen(kw_only=True, eq=False)
class BundledGenerator:
    """A bundled model with the sampler and steps it runs with (see :func:`load_generator`)."""

    name: str
    model: nn.Module
    sampler: Any
    sampler_name: str
    steps: int


def load_generator(name: str = DEFAULT_MODEL, *, sampler: str | None = None, steps: int | None = None,
                   cfg: float | None = None) -> BundledGenerator:
    """A bundled model with its sampler: the model's own default (``"pretrained"`` table) unless given.

    ``cfg`` is the classifier-free guidance weight for a denoiser (teacher, ASE, Presto-L; 1 = none); distilled jumps
    take none.
    """
    from .denoisers import CFGDenoiser
    from .models.blocks import null_condition
    from .pretrained import load_pretrained, pretrained_meta
    from .registry import get, names

    meta = pretrained_meta(name)
    kind = meta.get("kind", "denoiser")
    if kind not in _FALLBACK:
        raise ValueError(f"bundled model {name!r} is a {kind!r}, not a generator; generators: teacher, cm, ctm, "
                         "presto-s, ase, presto-l, presto-ls")
    sampler = sampler or meta.get("sampler") or _FALLBACK[kind][0]
    steps = int(steps if steps is not None else meta.get("steps") or _FALLBACK[kind][1])
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if cfg is not None and kind != "denoiser":
        raise ValueError(f"cfg applies to the bundled denoisers (teacher, ase, presto-l); {name} is a distilled "
                         f"{kind} model with its guidance built in, so it takes none")
    cfg = meta.get("cfg", 1.0) if cfg is None else cfg
    if not (isinstance(cfg, (int, float)) and math.isfinite(cfg) and -MAX_CFG <= cfg <= MAX_CFG):
        raise ValueError(f"cfg must be a finite guidance weight in [-{MAX_CFG:g}, {MAX_CFG:g}] (1 = no guidance), got {cfg!r}")
    chosen = get("samplers", sampler)
    drives = "denoiser" if kind == "denoiser" else "jump"
    if getattr(chosen, "drives", drives) != drives:
        raise ValueError(f"sampler {sampler!r} drives a {chosen.drives}, but the bundled {name!r} is a {drives}; "
                         f"use one of: {', '.join(n for n in names('samplers') if get('samplers', n).drives == drives)}")
    model = load_pretrained(name)
    if kind == "denoiser" and cfg != 1.0:
        model = CFGDenoiser(denoiser=model, w=cfg, null_cond=null_condition)
    return BundledGenerator(name=name, model=model, sampler=chosen, sampler_name=sampler, steps=steps)


def load_vocoder(name: str = "vocoder") -> nn.Module:
    """``"vocoder"``: the bundled neural vocoder; ``"griffin-lim"``: Griffin-Lim (registered model, no weights)."""
    from .pretrained import available, load_pretrained
    from .registry import get

    if name == "griffin-lim":
        return get("models", "griffin-lim").eval()
    if name != "vocoder":
        raise ValueError(f"unknown vocoder {name!r}; valid: {', '.join(VOCODERS)}")
    if "vocoder" not in available():
        raise FileNotFoundError("no bundled vocoder in the weights folder; use vocoder='griffin-lim' "
                                "(--vocoder griffin-lim)")
    return load_pretrained("vocoder")


def _sample_rate(vocoder: nn.Module) -> int:
    from .audio.mel import MelSpec

    return int(getattr(getattr(vocoder, "spec", None), "sample_rate", MelSpec().sample_rate))


@torch.no_grad()
def normalise_peaks(audio: torch.Tensor, *, warn: bool = True) -> torch.Tensor:
    """Scale each clip ``(batch, samples)`` whose peak exceeds full scale (1) down to peak 1 (never up), with a warning
    naming how many clips and by how many dB unless ``warn`` is False. Audio is never clipped."""
    peak = audio.detach().abs().amax(dim=-1, keepdim=True)
    over = peak.flatten() > 1
    if warn and over.any():
        top = float(peak.max())
        warnings.warn(f"{int(over.sum())} of {len(audio)} clips peaked above full scale (up to {top:.2f}, "
                      f"{20 * math.log10(top):+.1f} dB) and were scaled down to peak 1", stacklevel=3)
    return audio / peak.clamp_min(1.0)


def to_audio(mel: torch.Tensor, vocoder: nn.Module, *, warn: bool = True) -> torch.Tensor:
    """Waveforms ``(batch, samples)`` in [-1, 1] from model-space mel ``(batch, n_mels, frames)``; a clip whose peak
    exceeds 1 is scaled down to peak 1 (never up) and, unless ``warn`` is False, said so
    (:func:`normalise_peaks`)."""
    return normalise_peaks(vocoder(mel).reshape(mel.shape[0], -1), warn=warn)


def generate(tags: dict | Sequence[dict] | None = None, *, n: int = 1, model: str = DEFAULT_MODEL,
             sampler: str | None = None, steps: int | None = None, cfg: float | None = None, seed: int = 0,
             frames: int = 256, vocoder: str = "vocoder") -> Clips:
    """Generate ``n`` clips from tags with a bundled model and vocode them.

    Parameters
    ----------
    tags : dict or sequence of dict, optional
        One tag dict for all clips (``{"instrument": "flute", "mode": "major"}``), one per clip, or ``None``
        (unconditional).
    n : int
        Number of clips (ignored when ``tags`` is a sequence: one clip per entry).
    model : str
        Bundled generator: ``presto-s`` (default), ``cm``, ``ctm``, ``presto-ls``, ``teacher``, ``ase``, ``presto-l``.
    sampler, steps : optional
        Registered sampler name and number of steps; the model's defaults when omitted.
    cfg : float, optional
        Guidance weight for denoiser models.
    seed : int
        Seed of the initial noise (and of any per-step noise).
    frames : int
        Clip length in mel frames (256 = 5.94 s, the training length; a multiple of the model's patch size).
    vocoder : {"vocoder", "griffin-lim"}
    """
    from .audio.mel import MelSpec

    tag_list = [dict(t) for t in tags] if isinstance(tags, (list, tuple)) else [dict(tags or {})] * n
    if not tag_list:
        raise ValueError("nothing to generate: n must be >= 1")
    watch = Stopwatch()
    with watch("load"):
        gen = load_generator(model, sampler=sampler, steps=steps, cfg=cfg)
        voc = load_vocoder(vocoder)
        cond = tag_conditions(tag_list, model=model)
    spec = MelSpec()
    g = torch.Generator().manual_seed(seed)
    with watch("sample"), torch.no_grad():
        sigmas = gen.sampler.schedule.sigmas(gen.steps)
        x_T = sigmas[0] * torch.randn(len(tag_list), spec.n_mels, frames, generator=g)
        mel = gen.sampler(gen.model, x_T, sigmas, cond=cond, generator=g)
    if not torch.isfinite(mel).all():
        raise ValueError(f"{model} ({gen.sampler_name}, {gen.steps} steps, cfg {cfg if cfg is not None else 'default'}) "
                         f"produced {int((~torch.isfinite(mel)).sum())} non-finite mel values; nothing was written")
    with watch("vocode"):
        audio = to_audio(mel, voc)
    return Clips(mel=mel, audio=audio, sample_rate=_sample_rate(voc), tags=tag_list,
                 model=model, sampler=gen.sampler_name, steps=gen.steps, vocoder=vocoder, seed=seed,
                 wall=watch.wall, cpu=watch.cpu)


def save_wav(path: str | Path, audio: torch.Tensor, sample_rate: int) -> Path:
    """Write a mono waveform ``(samples,)`` as 16-bit PCM WAV (soundfile); non-finite samples are an error, a peak above
    full scale is scaled down to 1 with a warning (:func:`normalise_peaks`), never clipped."""
    import soundfile

    from .utils import atomic_path

    audio = audio.detach().reshape(-1)
    if not torch.isfinite(audio).all():
        raise ValueError(f"not writing {path}: the audio has {int((~torch.isfinite(audio)).sum())} non-finite samples "
                         "(NaN or inf); a WAV of them would be full-scale noise")
    audio = normalise_peaks(audio[None])[0]
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), audio.cpu().numpy(), sample_rate, subtype="PCM_16")
    return Path(path)


def plot_spectrogram(mel: torch.Tensor, path: str | Path | None = None, *, title: str = "", spec=None, dpi: int = 110):
    """Plot model-space mel frames ``(n_mels, frames)`` in dB over time in seconds; saved when ``path`` is given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .control.plots import save_figure
    from matplotlib.figure import Figure

    from .audio.mel import MelSpec

    spec = spec or MelSpec()
    db = spec.model_to_db(mel.detach().float().cpu().reshape(spec.n_mels, -1))
    fig = Figure(figsize=(8, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(db.numpy(), aspect="auto", origin="lower", cmap="magma", vmin=-80, vmax=20,
                      extent=(0, db.shape[-1] / spec.frame_rate, 0, spec.n_mels))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set(title=title, xlabel="time (s)", ylabel="mel band")
    return save_figure(fig, path, dpi=dpi)


def _tag_text(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items()) or "no tags (unconditional)"


def save_clips(clips: Clips, out: str | Path, *, stem: str = "clip") -> list[Path]:
    """Write ``{stem}_{i}.wav`` and ``{stem}_{i}.png`` (spectrogram) per clip and ``{stem}s.json`` (summary); returns
    the paths."""
    from .utils import folder_lock, write_text_atomic

    out = Path(out)
    paths = []
    with folder_lock(out):  # a second run into the same folder fails at once instead of mixing its files in
        summary_path = out / f"{stem}s.json"
        for old in _previous_files(summary_path):  # the last run's clips go first; its summary before them
            old.unlink(missing_ok=True)
        summary_path.unlink(missing_ok=True)
        for i, (mel, audio, tags) in enumerate(zip(clips.mel, clips.audio, clips.tags)):
            paths.append(save_wav(out / f"{stem}_{i}.wav", audio, clips.sample_rate))
            title = f"{_tag_text(tags)} - {clips.model}, {clips.steps} steps"
            plot_spectrogram(mel, out / f"{stem}_{i}.png", title=title)
            paths.append(out / f"{stem}_{i}.png")
        summary = {**clips.summary(), "files": [str(p) for p in paths]}
        write_text_atomic(summary_path, json.dumps(summary, indent=2))  # last: it describes exactly the files present
    return [*paths, summary_path]


def _previous_files(summary_path: Path) -> list[Path]:
    """The files a previous :func:`save_clips` into the same folder listed (only those inside that folder)."""
    try:
        files = json.loads(summary_path.read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    folder = summary_path.parent.resolve()
    return [Path(f) for f in files if isinstance(f, str) and Path(f).resolve().parent == folder]


#: Defaults of DITTO-2 control on the bundled models (``tempo-kit control``, the main job); see docs/quickstart.md
#: for the measurements behind them.
CONTROL_DEFAULTS = {"iterations": 200, "lr": 0.05, "decode_steps": 2}
#: Surrogates for DITTO-2 in order of preference; the default is the first one bundled.
CONTROL_MODELS = ("ctm", "cm", "presto-s")


def default_control_model() -> str:
    """The first of :data:`CONTROL_MODELS` found in the weights folder."""
    from .pretrained import available, weights_dir

    found = [m for m in CONTROL_MODELS if m in available()]
    if not found:
        raise FileNotFoundError(f"none of the DITTO-2 surrogates {', '.join(CONTROL_MODELS)} is bundled in "
                                f"{weights_dir()}")
    return found[0]


@attrs.frozen(kw_only=True, eq=False)
class ControlledClip:
    """A DITTO-2 run on a bundled model, vocoded (see :func:`control`).

    Attributes
    ----------
    result : ControlResult
        The optimisation and the decoded mel output (``result.output``, ``(1, n_mels, frames)``).
    audio : Tensor, shape ``(1, samples)``
    sample_rate : int
    model, vocoder : str
    tags : dict
    iterations, decode_steps : int
    lr : float
    wall, cpu : dict of str to float
        Seconds per stage: ``"load"``, ``"control"`` (optimisation and decoding; the wall time is also split into
        ``"optimize"`` and ``"decode"``), ``"vocode"`` and, for melody, ``"baseline"`` (the uncontrolled decode).
    accuracy : dict of str to float
        Melody tasks only (else empty): frame accuracy of the output's mel chroma (``"mel"``, what is optimised),
        of the vocoded audio's chroma (``"audio"``), and of the same initial noise decoded without optimisation
        (``"uncontrolled_mel"``, ``"uncontrolled_audio"``).
    """

    result: Any
    audio: torch.Tensor
    sample_rate: int
    model: str
    vocoder: str
    tags: dict
    iterations: int
    lr: float
    decode_steps: int
    wall: dict
    cpu: dict
    accuracy: dict

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: settings, losses, network calls, timings and (melody) accuracies."""
        r = self.result
        k = self.iterations
        return {"method": r.method, "model": self.model, "vocoder": self.vocoder, "tags": self.tags, "iterations": k,
                "lr": self.lr, "decode_steps": self.decode_steps,
                "first_loss": float(r.loss_history[0]) if k else None,
                "last_loss": float(r.loss_history[-1]) if k else None,
                "final_losses": r.final_losses, "nfe_optimization": r.nfe_optimization, "nfe_decoding": r.nfe_decoding,
                "accuracy": {name: round(v, 4) for name, v in self.accuracy.items()},
                "wall_seconds": {name: round(v, 3) for name, v in self.wall.items()},
                "cpu_seconds": {name: round(v, 3) for name, v in self.cpu.items()}}


def _melody_accuracy(mel_feature: torch.Tensor, audio: torch.Tensor, target, chroma: nn.Module) -> tuple[float, float]:
    from .features.chroma import melody_accuracy

    n = target.value.shape[-1]
    audio_chroma = chroma(audio)[..., :n]
    return tuple(float(melody_accuracy(f, target.value, ignore_index=target.ignore_index)[0])
                 for f in (mel_feature, audio_chroma))


def control(task: str | Sequence, *, model: str | None = None, tags: dict | None = None, melody=None,
            iterations: int | None = None, lr: float | None = None, decode_steps: int | None = None,
            decode_levels=None, surrogate_steps: int | str = 1, seed: int = 0, frames: int = 256, vocoder: str = "vocoder",
            variant: int = 0, progress: bool = True) -> ControlledClip:
    """DITTO-2 control of a bundled distilled model (Novack et al. 2024b, Alg. 1): optimise the initial noise through
    the one-step surrogate, decode in a few steps, vocode.

    Parameters
    ----------
    task : str or sequence of Objective
        A task name of :data:`tempo_kit.control.tasks.TASKS` (objectives on mel frames), or your own objectives.
    model : str
        Bundled jump: ``"ctm"``, ``"cm"``, ``"presto-s"``, ``"presto-ls"``; default :func:`default_control_model`.
    tags : dict, optional
        Conditioning tags (none: unconditional).
    melody : Target, optional
        Melody target for ``task="melody"`` (e.g. ``get_tune().target(...)``); default a random melody.
    iterations, lr, decode_steps : optional
        DITTO-2's ``K``, Adam learning rate on ``eps`` and decoding steps ``T`` (:data:`CONTROL_DEFAULTS`).
    decode_levels : sequence of float, optional
        Explicit re-noise levels of the decode (:class:`~tempo_kit.control.DITTO2`); overrides ``decode_steps``.
    surrogate_steps : int or "adaptive"
        DITTO-2's ``M``.
    seed : int
        Seed of the initial noise and decoding noise.
    frames : int
        Output length in mel frames.
    vocoder : {"vocoder", "griffin-lim"}
    variant : int
        Another target of the same named task.
    """
    from .audio.mel import MelSpec
    from .control import DITTO2
    from .control.tasks import task_objectives
    from .pretrained import load_pretrained
    from .schedules import EDM_SIGMA_MAX

    model = model or default_control_model()
    iterations = CONTROL_DEFAULTS["iterations"] if iterations is None else iterations
    lr = CONTROL_DEFAULTS["lr"] if lr is None else lr
    decode_steps = CONTROL_DEFAULTS["decode_steps"] if decode_steps is None else decode_steps
    tags = dict(tags or {})
    watch = Stopwatch()
    with watch("load"):
        jump = load_pretrained(model)
        voc = load_vocoder(vocoder)
        cond = tag_conditions([tags], model=model)

    shape = (1, MelSpec().n_mels, frames)

    def reference(seed: int) -> torch.Tensor:  # painting tasks: a one-step output of the same model
        eps = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return jump(EDM_SIGMA_MAX * eps, EDM_SIGMA_MAX, 0.0, cond)[0]

    objectives = (task_objectives(task, n_frames=frames, variant=variant, melody=melody, reference=reference)
                  if isinstance(task, str) else list(task))
    eps = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    ditto = DITTO2(iterations=iterations, lr=lr, decode_steps=decode_steps, decode_levels=decode_levels,
                   surrogate_steps=surrogate_steps, progress=progress)
    with watch("control"):
        result = ditto(jump, objectives, eps=eps, cond=cond, generator=torch.Generator().manual_seed(seed + 1))
    watch.wall["optimize"], watch.wall["decode"] = result.time_optimization, result.time_decoding
    with watch("vocode"):
        audio = to_audio(result.output, voc)
    accuracy: dict[str, float] = {}
    melody_obj = next((o for o in objectives if o.target.kind == "melody"), None)
    if melody_obj is not None:
        from .features.chroma import LogChroma

        with watch("baseline"), torch.no_grad():
            base = attrs.evolve(ditto, iterations=0, progress=False)(
                jump, objectives, eps=eps, cond=cond, generator=torch.Generator().manual_seed(seed + 1))
            chroma = LogChroma(domain="audio")
            accuracy["mel"], accuracy["audio"] = _melody_accuracy(result.features[melody_obj.name], audio,
                                                                  melody_obj.target, chroma)
            accuracy["uncontrolled_mel"], accuracy["uncontrolled_audio"] = _melody_accuracy(
                base.features[melody_obj.name], to_audio(base.output, voc), melody_obj.target, chroma)
    return ControlledClip(result=result, audio=audio, sample_rate=_sample_rate(voc), model=model, vocoder=vocoder,
                          tags=tags, iterations=iterations, lr=lr, decode_steps=decode_steps, wall=watch.wall,
                          cpu=watch.cpu, accuracy=accuracy)
