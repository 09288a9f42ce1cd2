"""Build a dataset of rendered music: corpus scores -> FluidSynth audio -> ~6 s clips with model-space mel frames,
tags, a caption and the score's top-voice pitch class per frame.

Layout of a dataset directory::

    meta.json                 audio and mel format, clips per piece and held-out fraction (checked on resume)
    manifest.jsonl            one line per clip, appended as pieces finish
    skipped.jsonl             one line per (piece, program) that gave no clip, with the reason
    shards/<collection>/<piece>__<program>.safetensors
                              audio (n, samples) int16, mel (n, n_mels, frames) float16 (model space of
                              tempo_kit.audio.MelSpec),
                              pitch (n, frames) int16 (MIDI, -1 silent), pitch_class (n, frames) int8 (-1 silent)

A (piece, program) pair is the unit of work: a rerun skips every unit already listed in the manifest or in
``skipped.jsonl``, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import attrs
import numpy as np

from ..audio.mel import MelSpec
from ..vocab import caption
from .corpus import COLLECTIONS, NoteList, Piece, list_pieces, load_notes, tempo_bucket, top_voice, unit_hash
from .render import PROGRAMS, Renderer, check_program

MEL_SPEC = MelSpec()
SAMPLE_RATE, HOP_LENGTH = MEL_SPEC.sample_rate, MEL_SPEC.hop_length
CLIP_FRAMES = 256
CLIP_SAMPLES = CLIP_FRAMES * HOP_LENGTH  # 131072 samples = 5.94 s
MIN_VOICED = 0.5  # a clip needs at least this fraction of frames with a sounding note

DEFAULT_PROGRAMS = ("organ", "strings", "piano", "choir", "flute", "clarinet", "brass", "harpsichord")



@attrs.frozen
class BuildReport:
    """What one :func:`build_dataset` call did.

    Attributes
    ----------
    out : str
        Dataset directory.
    clips : int
        Clips in the manifest after the call (old and new).
    new_clips : int
        Clips written by this call.
    units_rendered, units_resumed, units_skipped : int
        (piece, program) units rendered now, found done from an earlier call, and giving no clip now.
    audio_seconds : float
        Seconds of audio synthesised by this call.
    render_seconds : float
        Time spent inside FluidSynth (summed over workers).
    wall_seconds : float
        Wall-clock time of the call.
    """

    out: str
    clips: int
    new_clips: int
    units_rendered: int
    units_resumed: int
    units_skipped: int
    audio_seconds: float
    render_seconds: float
    wall_seconds: float

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio synthesised per second of FluidSynth time (x real time)."""
        return self.audio_seconds / max(self.render_seconds, 1e-9)


def model_mel(audio: np.ndarray) -> np.ndarray:
    """Mel frames of clips in the project's model space (:class:`~tempo_kit.audio.MelSpec`: 22.05 kHz, n_fft 2048,
    hop 512, 80 mels, dB mapped so that the -80 dB floor is -1).

    Parameters
    ----------
    audio : numpy.ndarray
        Shape (n, samples), float, 22.05 kHz.

    Returns
    -------
    numpy.ndarray
        Shape (n, 80, samples // 512), float32. Frame ``k`` is centred on sample ``k * 512``; the last of the
        ``1 + samples // 512`` centred frames is dropped so that a 131072-sample clip gives 256 frames.
    """
    import torch

    with torch.no_grad():
        mel = MEL_SPEC.to_model(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
    return mel[..., : audio.shape[-1] // HOP_LENGTH].numpy()


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 (clipped)."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def from_int16(audio: np.ndarray) -> np.ndarray:
    """int16 audio -> float32 in [-1, 1] (inverse of :func:`to_int16`)."""
    return audio.astype(np.float32) / 32767


def _meta(backend: str, soundfont: Path) -> dict:
    return {"mel_spec": attrs.asdict(MEL_SPEC), "sample_rate": SAMPLE_RATE, "hop_length": HOP_LENGTH,
            "clip_frames": CLIP_FRAMES, "clip_samples": CLIP_SAMPLES, "soundfont": soundfont.name, "backend": backend}


def _choose_programs(piece: Piece, programs, k: int) -> list[str]:
    """``k`` distinct programs for a piece, chosen by hash (deterministic, balanced on average)."""
    return sorted(programs, key=lambda name: unit_hash(piece.id, name))[:k]


def _clip_starts(n_samples: int, k: int) -> list[int]:
    """Start samples of up to ``k`` non-overlapping clips spread evenly over a render."""
    n_full = n_samples // CLIP_SAMPLES
    picks = range(n_full) if n_full <= k else np.linspace(0, n_full - 1, k).round().astype(int)
    return [int(i) * CLIP_SAMPLES for i in picks]


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Scale a whole render to an RMS of 0.05 (-26 dBFS), keeping peaks below 0.95."""
    rms, peak = float(np.sqrt(np.mean(audio**2) + 1e-12)), float(np.abs(audio).max() + 1e-9)
    return audio * min(0.05 / rms, 0.95 / peak)


def render_units(renderer: Renderer, piece: Piece, programs, *, clips_per_piece: int) -> list[dict]:
    """Render one piece with several programs and cut it into clips.

    Returns
    -------
    list of dict
        One per program: ``program``, ``arrays`` (shard tensors, None when no clip qualifies), ``starts`` (seconds),
        ``voiced`` (fraction per clip), ``notes`` (:class:`NoteList`), ``audio_seconds``, ``render_seconds``.
    """
    notes: NoteList = load_notes(piece)
    units = []
    for program in programs:
        t0 = time.perf_counter()
        audio = _normalise(renderer.render(notes, program=PROGRAMS[program]))
        render_seconds = time.perf_counter() - t0
        clips, pitches, starts = [], [], []
        for start in _clip_starts(len(audio), clips_per_piece):
            pitch = top_voice(notes, n_frames=CLIP_FRAMES, frame_rate=SAMPLE_RATE / HOP_LENGTH,
                              start=start / SAMPLE_RATE)
            if (pitch >= 0).mean() >= MIN_VOICED:
                clips.append(audio[start:start + CLIP_SAMPLES])
                pitches.append(pitch)
                starts.append(start / SAMPLE_RATE)
        arrays = None
        if clips:
            wave, pitch = to_int16(np.stack(clips)), np.stack(pitches)
            arrays = {"audio": wave, "mel": model_mel(from_int16(wave)).astype(np.float16),
                      "pitch": pitch.astype(np.int16),
                      "pitch_class": np.where(pitch >= 0, pitch % 12, -1).astype(np.int8)}
        units.append({"program": program, "arrays": arrays, "starts": starts,
                      "voiced": [float((p >= 0).mean()) for p in pitches], "notes": notes,
                      "audio_seconds": len(audio) / SAMPLE_RATE, "render_seconds": render_seconds})
    return units


_WORKER: dict = {}


def _init_worker(renderer_kwargs: dict) -> None:
    import torch

    torch.set_num_threads(1)  # one worker per core
    _WORKER["renderer"] = Renderer(**renderer_kwargs)


def _render_task(renderer: Renderer, task):
    piece, programs, clips_per_piece = task
    try:
        return piece, render_units(renderer, piece, programs, clips_per_piece=clips_per_piece), None
    except Exception as err:  # a score music21 cannot read must not stop a long build
        return piece, None, f"{type(err).__name__}: {err}"


def _work(task):  # in a worker process
    return _render_task(_WORKER["renderer"], task)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_jsonl(path: Path, rows: list[dict]) -> None:
    if rows:
        with path.open("a") as f:  # one write per unit, flushed to disk before the next unit starts
            f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
            f.flush()
            os.fsync(f.fileno())


def _save_shard(path: Path, arrays: dict) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # safetensors writes the raw buffer and ignores strides: a transposed view would be saved scrambled
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    os.replace(tmp, path)


def build_dataset(
    out,
    *,
    collections=("bach", "essen"),
    programs=DEFAULT_PROGRAMS,
    max_pieces: int | None = None,
    pieces=None,
    clips_per_piece: int = 4,
    programs_per_piece: int = 2,
    heldout_fraction: float = 0.1,
    workers: int = 1,
    soundfont=None,
    backend: str = "auto",
    progress: bool = True,
) -> BuildReport:
    """Render corpus pieces through FluidSynth into a resumable dataset directory (layout in the module docstring).

    Parameters
    ----------
    out : str or path-like
        Dataset directory (created; an existing one is resumed).
    collections : sequence of str
        Keys of :data:`~tempo_kit.data.corpus.COLLECTIONS` (``bach``, ``essen``, ``oneills``).
    programs : sequence of str
        Instrument names, keys of :data:`~tempo_kit.data.render.PROGRAMS`.
    max_pieces : int, optional
        Pieces per collection (the first ones of a stable hash order); all when None.
    pieces : sequence of str, optional
        Piece ids (``"bach/bwv321"``, ``"essen/kinder0/210"``) to render instead of the first ``max_pieces`` of each
        collection (``collections`` and ``max_pieces`` are then ignored).
    clips_per_piece : int
        Most clips cut from one rendering, spread evenly over the piece.
    programs_per_piece : int
        Instruments each piece is rendered with (chosen per piece by hash from ``programs``).
    heldout_fraction : float
        Fraction of pieces in the held-out split (by hash of the piece group, so variants stay together).
    workers : int
        Rendering processes (1: in this process).
    soundfont : str or path-like, optional
        General MIDI ``.sf2`` (default: Debian's TimGM6mb, see :func:`~tempo_kit.data.render.find_soundfont`).
    backend : {"auto", "pyfluidsynth", "cli"}
        FluidSynth backend.
    progress : bool
        Show a progress bar over pieces.

    Returns
    -------
    BuildReport

    Raises
    ------
    ValueError
        On an unknown collection or program, or a directory built with another audio/mel format.
    FileNotFoundError, RuntimeError
        When the soundfont or FluidSynth is missing (the message says what to install).
    """
    from ..utils import progress_bar

    start_time = time.perf_counter()
    collections, programs = list(dict.fromkeys(collections)), list(dict.fromkeys(programs))  # a name given twice once
    # rendered its pieces twice into one manifest
    for name in collections:
        if name not in COLLECTIONS:
            raise ValueError(f"unknown collection {name!r}; valid names: {', '.join(COLLECTIONS)}")
    for name in programs:
        check_program(name)
    if not collections or not programs:
        raise ValueError("collections and programs must not be empty")
    if not 1 <= programs_per_piece <= len(programs):
        raise ValueError(f"programs_per_piece (--programs-per-piece, default 2) must be in 1..{len(programs)}, the "
                         f"number of programs given ({', '.join(programs)}), got {programs_per_piece}")
    if clips_per_piece < 1:
        raise ValueError(f"clips_per_piece (--clips-per-piece) must be >= 1, got {clips_per_piece}")
    if workers < 1:
        raise ValueError(f"workers (--workers) must be >= 1, got {workers}")
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction (--heldout) must be in [0, 1), got {heldout_fraction}")

    if pieces is not None and not list(pieces):
        raise ValueError("pieces is empty: give piece ids (e.g. 'bach/bwv321'), or None for every piece")
    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise NotADirectoryError(f"the dataset folder {str(out_path)!r} is a file")
    if pieces is None:
        selected = [p for collection in collections for p in list_pieces(collection)[:max_pieces]]
    else:
        known = {p.id: p for c in {pid.split("/")[0] for pid in pieces} & set(COLLECTIONS) for p in list_pieces(c)}
        unknown = [pid for pid in pieces if pid not in known]
        if unknown:
            raise ValueError(f"unknown piece ids {unknown}; ids look like 'bach/bwv321' or 'essen/kinder0/210' "
                             "(see tempo_kit.data.list_pieces)")
        selected = [known[pid] for pid in dict.fromkeys(pieces)]
    renderer_kwargs = {"sample_rate": SAMPLE_RATE, "soundfont": soundfont, "backend": backend}
    renderer = Renderer(**renderer_kwargs)  # fails early, with the install hint, when FluidSynth is missing
    renderer_kwargs.update(soundfont=renderer.soundfont, backend=renderer.backend)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {**_meta(renderer.backend, renderer.soundfont), "clips_per_piece": int(clips_per_piece),
            "heldout_fraction": float(heldout_fraction)}
    meta_path = out / "meta.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        format_keys = ("mel_spec", "clip_frames", "clip_samples")
        if any(old.get(k) != meta[k] for k in format_keys):
            raise ValueError(f"{out} holds a dataset of another format ({ {k: old.get(k) for k in format_keys} }); "
                             "use a new output directory")
        # a resumed build adds pieces the same way (folders built before these were recorded are not checked)
        for key, flag in (("clips_per_piece", "--clips-per-piece"), ("heldout_fraction", "--heldout")):
            if key in old and old[key] != meta[key]:
                raise ValueError(f"{out} was built with {flag} {old[key]}, not {meta[key]}: a resumed build must use "
                                 f"the same value (or build into a new folder)")
    else:
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    manifest, skipped = out / "manifest.jsonl", out / "skipped.jsonl"
    existing = _read_jsonl(manifest)
    done = {row["unit"] for row in existing + _read_jsonl(skipped)}
    tasks, resumed = [], 0
    for piece in selected:
        chosen = _choose_programs(piece, programs, programs_per_piece)
        todo = [p for p in chosen if f"{piece.id}:{p}" not in done]
        resumed += len(chosen) - len(todo)
        if todo:
            tasks.append((piece, todo, clips_per_piece))

    stats = {"new_clips": 0, "rendered": 0, "skipped": 0, "audio": 0.0, "render": 0.0}
    task_programs = {piece.id: todo for piece, todo, _ in tasks}

    def record(piece: Piece, units, error) -> None:
        if error is not None:
            _append_jsonl(skipped, [{"unit": f"{piece.id}:{p}", "reason": error} for p in task_programs[piece.id]])
            stats["skipped"] += len(task_programs[piece.id])
            return
        split = "heldout" if unit_hash(piece.group, "split") < heldout_fraction else "train"
        spec = COLLECTIONS[piece.collection]
        for unit in units:
            key = f"{piece.id}:{unit['program']}"
            stats["audio"] += unit["audio_seconds"]
            stats["render"] += unit["render_seconds"]
            if unit["arrays"] is None:
                _append_jsonl(skipped, [{"unit": key, "reason": f"no {CLIP_FRAMES}-frame clip with at least "
                                                                f"{MIN_VOICED:.0%} voiced frames"}])
                stats["skipped"] += 1
                continue
            notes: NoteList = unit["notes"]
            stem = piece.id.split("/", 1)[1].replace("/", "_")
            shard = Path("shards") / piece.collection / f"{stem}__{unit['program']}.safetensors"
            _save_shard(out / shard, unit["arrays"])
            tags = {"instrument": unit["program"], "collection": piece.collection,
                    "tempo": tempo_bucket(notes.beat_bpm), "mode": notes.mode}
            text = caption(instrument=unit["program"], noun=spec.noun, tempo=tags["tempo"], mode=notes.mode)
            rows = [{"id": f"{key}:{row}", "unit": key, "piece": piece.id, "title": notes.title, "split": split,
                     "shard": shard.as_posix(), "row": row, "start": round(start, 4), "voiced": round(voiced, 4),
                     "program": PROGRAMS[unit["program"]], "key": notes.key, "beat_bpm": round(notes.beat_bpm, 2),
                     "tags": tags, "caption": text}
                    for row, (start, voiced) in enumerate(zip(unit["starts"], unit["voiced"]))]
            _append_jsonl(manifest, rows)
            stats["new_clips"] += len(rows)
            stats["rendered"] += 1

    bar = progress_bar(len(tasks), desc="rendering pieces", unit="piece", enabled=progress)
    if workers == 1:
        for task in tasks:
            record(*_render_task(renderer, task))
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(renderer_kwargs,)) as pool:
            for future in as_completed([pool.submit(_work, task) for task in tasks]):
                record(*future.result())
                bar.update()
    bar.close()
    return BuildReport(out=str(out), clips=len(existing) + stats["new_clips"], new_clips=stats["new_clips"],
                       units_rendered=stats["rendered"], units_resumed=resumed, units_skipped=stats["skipped"],
                       audio_seconds=stats["audio"], render_seconds=stats["render"],
                       wall_seconds=time.perf_counter() - start_time)
