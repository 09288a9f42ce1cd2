"""What generation and control return, and how it is written: :class:`Clips`, :class:`ControlledClip`, waveforms from
mel frames (:func:`to_audio`, never clipped silently), WAV files, spectrogram plots and a folder of clips with its
summary (:func:`save_clips`). :class:`~tempo_kit.pipeline.Pipeline` produces them."""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import attrs
import torch
from torch import nn

from .utils import count_text

__all__ = ["Clips", "ControlledClip", "Stopwatch", "parse_tags", "to_audio", "normalise_peaks", "save_wav",
           "plot_spectrogram", "save_clips", "sample_rate_of"]


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
    sigmas : tuple of float
        The noise levels the sampler stepped through (``steps + 1`` values ending in 0), so a clip can be remade after
        a sampler's default levels change.
    seed : int
    wall, cpu : dict of str to float
        Seconds per stage (``"load"``, ``"sample"``, ``"vocode"``).
    scaled_down_db : tuple of float
        Per clip, the dB by which the vocoded clip was scaled down to fit full scale (0: not at all).
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
    scaled_down_db: tuple = ()
    sigmas: tuple = ()

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
        return {"model": self.model, "sampler": self.sampler, "steps": self.steps,
                "sigmas": [round(float(v), 6) for v in self.sigmas], "vocoder": self.vocoder, "seed": self.seed, "clips": len(self.tags), "tags": self.tags,
                "scaled_down_db": [round(g, 2) for g in self.scaled_down_db],
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


def sample_rate_of(vocoder: nn.Module) -> int:
    from .audio.mel import MelSpec

    return int(getattr(getattr(vocoder, "spec", None), "sample_rate", MelSpec().sample_rate))


@torch.no_grad()
def normalise_peaks(audio: torch.Tensor, *, warn: bool = True, return_gain: bool = False):
    """Scale each clip ``(batch, samples)`` whose peak exceeds full scale (1) down to peak 1 (never up), with a warning
    naming how many clips and by how many dB unless ``warn`` is False. Audio is never clipped. With ``return_gain``
    also the dB each clip was scaled down by, shape ``(batch,)`` (0 for a clip left as it was)."""
    peak = audio.detach().abs().amax(dim=-1, keepdim=True)
    over = peak.flatten() > 1
    if warn and over.any():
        top = float(peak.max())
        warnings.warn(f"{int(over.sum())} of {len(audio)} clips peaked above full scale (up to {top:.2f}, "
                      f"{20 * math.log10(top):+.1f} dB) and were scaled down to peak 1", stacklevel=3)
    out = audio / peak.clamp_min(1.0)
    return (out, 20 * peak.flatten().clamp_min(1.0).float().log10()) if return_gain else out


def to_audio(mel: torch.Tensor, vocoder: nn.Module, *, warn: bool = True, return_gain: bool = False):
    """Waveforms ``(batch, samples)`` in [-1, 1] from model-space mel ``(batch, n_mels, frames)``; a clip whose peak
    exceeds 1 is scaled down to peak 1 (never up) and, unless ``warn`` is False, said so
    (:func:`normalise_peaks`; ``return_gain`` also returns the dB each clip was scaled down by). Non-finite samples
    are an error, never returned."""
    audio = vocoder(mel).reshape(mel.shape[0], -1)
    if not torch.isfinite(audio).all():
        bad = int((~torch.isfinite(audio)).sum())
        raise ValueError(f"the vocoder produced {bad} non-finite samples from mel frames in [{float(mel.min()):.3g}, "
                         f"{float(mel.max()):.3g}] (model space; the training data lies within about [-1, 1]): the "
                         "model that made them has likely diverged")
    return normalise_peaks(audio, warn=warn, return_gain=return_gain)


#: Length of the half-cosine fades that :func:`save_wav` puts at both ends of a clip (milliseconds).
FADE_MS = 10.0


def save_wav(path: str | Path, audio: torch.Tensor, sample_rate: int, *, fade_ms: float = FADE_MS) -> Path:
    """Write a waveform, mono ``(samples,)`` or ``(channels, samples)``, as 16-bit PCM WAV (soundfile); non-finite
    samples are an error, a peak above full scale is scaled down to 1 with a warning (:func:`normalise_peaks`), never
    clipped. The first and last ``fade_ms`` milliseconds (at most a quarter of the clip each) fade in and out with a
    half cosine: a generated clip is an excerpt that stops mid-note, which a player renders as a click; 0 writes the
    samples as they are (a loop, whose ends meet: ``tempo-kit control looping`` writes with 0). Only the file is
    faded, never the tensor passed in."""
    import soundfile

    from .utils import atomic_path

    if not isinstance(audio, torch.Tensor):
        audio = torch.as_tensor(audio)
    audio = audio.detach()
    if audio.ndim > 2 or audio.numel() == 0:
        raise ValueError(f"not writing {path}: expected audio of shape (samples,) or (channels, samples), got "
                         f"{tuple(audio.shape)}")
    if audio.ndim == 2 and audio.shape[0] > 8 and audio.shape[0] > audio.shape[1]:
        raise ValueError(f"not writing {path}: audio of shape {tuple(audio.shape)} would be {audio.shape[0]} channels "
                         f"of {audio.shape[1]} samples; pass (channels, samples), e.g. audio.T")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or not 1 <= sample_rate <= 768_000:
        raise ValueError(f"not writing {path}: sample_rate must be an integer number of Hz in [1, 768000], got "
                         f"{sample_rate!r}")
    if Path(path).suffix.lower() != ".wav":
        raise ValueError(f"not writing {path}: save_wav writes .wav files")
    audio = audio.reshape(-1, audio.shape[-1])
    if not torch.isfinite(audio).all():
        raise ValueError(f"not writing {path}: the audio has {int((~torch.isfinite(audio)).sum())} non-finite samples "
                         "(NaN or inf); a WAV of them would be full-scale noise")
    audio = normalise_peaks(audio.reshape(1, -1)).reshape(audio.shape)
    if not (math.isfinite(fade_ms) and fade_ms >= 0):
        raise ValueError(f"not writing {path}: fade_ms must be finite and >= 0, got {fade_ms!r}")
    n = min(round(fade_ms * sample_rate / 1000), audio.shape[-1] // 4)
    if n > 0:
        ramp = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(n, dtype=torch.float64) + 0.5) / n)
        audio = audio.clone()
        audio[..., :n] *= ramp.to(audio.dtype)
        audio[..., -n:] *= ramp.flip(0).to(audio.dtype)
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), audio.T.squeeze(1).cpu().float().numpy(), sample_rate, subtype="PCM_16")
    return Path(path)


def plot_spectrogram(mel: torch.Tensor, path: str | Path | None = None, *, title: str = "", spec=None, dpi: int = 80,
                     fig=None):
    """Plot model-space mel frames ``(n_mels, frames)`` in dB over time in seconds; saved when ``path`` is given
    (at the default 80 dpi the 8 x 3 inch figure is 640 x 240 pixels: the 256 frames and 80 bands of a 5.9 s clip are
    not downsampled). ``fig``, a figure an earlier call returned for a clip of the same shape, is redrawn with this
    clip instead of building a new one (a batch of clips then builds one figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .audio.mel import MelSpec
    from .control.plots import save_figure

    spec = spec or MelSpec()
    db = spec.model_to_db(mel.detach().float().cpu().reshape(spec.n_mels, -1)).numpy()
    if fig is not None and fig.axes[0].images[0].get_array().shape == db.shape:  # a figure this function made
        fig.axes[0].images[0].set_data(db)
        fig.axes[0].set_title(title)
        return save_figure(fig, path, dpi=dpi, tight=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(db, aspect="auto", origin="lower", cmap="magma", vmin=-80, vmax=20,
                      extent=(0, db.shape[-1] / spec.frame_rate, 0, spec.n_mels))
    fig.colorbar(image, ax=ax, label="dB")
    ax.set(title=title, xlabel="time (s)", ylabel="mel band")
    fig.subplots_adjust(left=0.08, right=1.0, bottom=0.16, top=0.88)  # fixed layout: tight_layout costs ~50 ms a plot
    return save_figure(fig, path, dpi=dpi, tight=False)


def _tag_text(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items()) or "no tags (unconditional)"


def save_clips(clips: Clips, out: str | Path, *, stem: str = "clip") -> list[Path]:
    """Write ``{stem}_{i}.wav`` and ``{stem}_{i}.png`` (spectrogram) per clip and ``{stem}s.json`` (summary); returns
    the paths."""
    from .utils import folder_lock, write_text_atomic

    out = Path(out)
    paths = []
    json.dumps(clips.summary())  # a summary that cannot be written fails before any file is touched
    with folder_lock(out):  # a second run into the same folder fails at once instead of mixing its files in
        summary_path = out / f"{stem}s.json"
        for old in _previous_files(summary_path):  # the last run's clips go first; its summary before them
            old.unlink(missing_ok=True)
        summary_path.unlink(missing_ok=True)
        fig = None  # one figure, redrawn per clip
        for i, (mel, audio, tags) in enumerate(zip(clips.mel, clips.audio, clips.tags)):
            paths.append(save_wav(out / f"{stem}_{i}.wav", audio, clips.sample_rate))
            title = f"{_tag_text(tags)} - {clips.model}, {count_text(clips.steps, 'step')}"
            fig = plot_spectrogram(mel, out / f"{stem}_{i}.png", title=title, fig=fig)
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
    surrogate_steps : int or str
        DITTO-2's ``M`` (``"decode"``: optimised through the decode itself).
    wall, cpu : dict of str to float
        Seconds per stage: ``"load"``, ``"control"`` (optimisation and decoding; the wall time is also split into
        ``"optimize"`` and ``"decode"``), ``"vocode"`` and, for melody, ``"baseline"`` (the uncontrolled decode).
    accuracy : dict of str to float
        Melody tasks only (else empty): frame accuracy of the output's mel chroma (``"mel"``, what is optimised),
        of the vocoded audio's chroma (``"audio"``), and of the same initial noise decoded without optimisation
        (``"uncontrolled_mel"``, ``"uncontrolled_audio"``).
    objective_domains : dict of str to str
        What each objective read, by name (``"mel"``, or ``"audio"`` through the vocoder).
    scaled_down_db : float
        The dB by which the vocoded output was scaled down to fit full scale (0: not at all).
    decode_levels : tuple of float or None
        The decode's re-noise levels (None: ``decode_steps`` levels of the teacher grid).
    norm_prior : str or None
    optimizer : str
        The norm prior and the optimizer of the noise (:class:`~tempo_kit.control.DITTO2`).
    octave_weight, onset_weight : float
        Weights of the melody task's register and onset objectives (0: none;
        :func:`~tempo_kit.control.tasks.task_objectives`).
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
    surrogate_steps: Any
    wall: dict
    cpu: dict
    accuracy: dict
    objective_domains: dict = attrs.field(factory=dict)
    scaled_down_db: float = 0.0
    decode_levels: tuple | None = None
    norm_prior: str | None = None
    optimizer: str = "adam"
    octave_weight: float = 0.0
    onset_weight: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: settings, losses, network calls, timings and (melody) accuracies."""
        r = self.result
        k = self.iterations
        return {"method": r.method, "model": self.model, "vocoder": self.vocoder, "tags": self.tags, "iterations": k,
                "lr": self.lr, "decode_steps": self.decode_steps,
                "decode_levels": None if self.decode_levels is None else list(self.decode_levels),
                "surrogate_steps": self.surrogate_steps, "norm_prior": self.norm_prior, "optimizer": self.optimizer,
                "octave_weight": self.octave_weight, "onset_weight": self.onset_weight,
                "objective_domains": self.objective_domains, "scaled_down_db": round(self.scaled_down_db, 2),
                "first_loss": float(r.loss_history[0]) if k else None,
                "last_loss": float(r.loss_history[-1]) if k else None,
                "final_losses": r.final_losses, "nfe_optimization": r.nfe_optimization, "nfe_decoding": r.nfe_decoding,
                "backward_optimization": r.backward_optimization,
                "accuracy": {name: round(v, 4) for name, v in self.accuracy.items()},
                "wall_seconds": {name: round(v, 3) for name, v in self.wall.items()},
                "cpu_seconds": {name: round(v, 3) for name, v in self.cpu.items()}}
