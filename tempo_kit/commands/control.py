"""``tempo-kit control TASK``: DITTO-2 control of a bundled model (default) or of the toy mel generator for one task.

With a bundled model (``--model ctm``, the default; ``cm``, ``presto-s``, ``presto-s-long``, ``presto-ls``) the output
is vocoded and saved as WAV next to the target-vs-achieved plot and a JSON summary; a melody target comes from a bundled
held-out tune (``--tune``), a notes file (``--notes``) or a MIDI file (``--midi``), and any target from a file with
``--target`` (a recording, or an intensity curve as CSV/JSON); ``--extractor NAME`` steers any registered extractor
toward its output on the ``--target`` recording. ``--model toy`` runs the small random convolutional network of
:mod:`tempo_kit.testing.control` (no weights), with DITTO (``--method ditto``) or DITTO-2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..control.tasks import DOMAIN_TASKS, DOMAINS, TASKS
from ..utils import parse_levels, write_text_atomic
from . import MAX_FRAMES, MAX_ITERATIONS, MAX_STEPS, add_threads_option, bounded, check_out, set_threads

TOY_DEFAULTS = {"iterations": 40, "lr": 0.05, "decode_steps": 1, "frames": 64}


def configure(parser) -> None:
    from ..control.ditto import OPTIMIZERS
    from ..pipeline import CONTROL_DEFAULTS, CONTROL_MODELS, VOCODERS, control_defaults

    parser.add_argument("task", nargs="?", choices=TASKS,
                        help="control task (or --extractor for any registered extractor, plugins included)")
    parser.add_argument("--model", default=None,
                        help="bundled distilled model used as the DITTO-2 surrogate and decoder: ctm, cm, presto-s, "
                             f"presto-s-long, presto-ls (default: the first bundled of {', '.join(CONTROL_MODELS)}); "
                             "or 'toy' for the random toy generator")
    parser.add_argument("--method", choices=("ditto2", "ditto"), default="ditto2",
                        help="optimise through a 1-step surrogate (ditto2) or the full sampler (ditto, toy only)")
    parser.add_argument("--iterations", type=bounded(int, 0, MAX_ITERATIONS), default=None,
                        help=f"K optimisation steps (default: {CONTROL_DEFAULTS['iterations']}, intensity "
                             f"{control_defaults(None, 'intensity')['iterations']}, toy "
                             f"{TOY_DEFAULTS['iterations']})")
    parser.add_argument("--lr", type=bounded(float, 0, 1e3), default=None,
                        help=f"learning rate on eps (default: {CONTROL_DEFAULTS['lr']}; DITTO uses 5e-3)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                        help="optimizer of eps: adam, or adam-sample (one second moment per sample, so coordinates "
                             f"with small gradients move little; default: adam-sample on outpainting and "
                             f"inpainting, else {CONTROL_DEFAULTS['optimizer']})")
    parser.add_argument("--steps", type=bounded(int, 1, MAX_STEPS), default=8, help="DITTO sampler steps T (default: %(default)s)")
    parser.add_argument("--decode-steps", type=bounded(int, 1, 40), default=None,
                        help=f"DITTO-2 decoding steps at the teacher grid's levels (default: {CONTROL_DEFAULTS['decode_steps']} "
                             f"for a CTM, re-noised to 0.15, see --decode-levels; 1 for a CM or Presto-S; toy "
                             f"{TOY_DEFAULTS['decode_steps']})")
    parser.add_argument("--decode-levels", type=parse_levels, default=None, metavar="L1[,L2...]",
                        help="DITTO-2 decode re-noise levels, decreasing, e.g. 0.15 (2 steps: sigma_max, 0.15); "
                             "instead of --decode-steps, whose levels come from the teacher grid")
    parser.add_argument("--surrogate-steps", type=_surrogate_steps, default=None,
                        help="DITTO-2 surrogate steps M (1-20), 'adaptive', or 'decode': optimise through the decode "
                             "itself (default: decode for a CTM, 1 for a CM or Presto-S and the toy)")
    parser.add_argument("--domain", choices=DOMAINS, default=None,
                        help="what the melody or intensity objective reads: the mel frames, the vocoded audio "
                             "(through the differentiable vocoder) or both (default: the pipeline's for the task, "
                             "control_defaults)")
    parser.add_argument("--frames", type=bounded(int, 16, MAX_FRAMES), default=None,
                        help=f"output length in mel frames (default: 256 = 5.94 s, toy {TOY_DEFAULTS['frames']})")
    melody = parser.add_argument_group("melody target (bundled models; default: the first bundled tune)")
    melody.add_argument("--tune", default=None, help="bundled held-out tune: id, part of an id, or index")
    melody.add_argument("--notes", default=None,
                        help="text file of NOTE:DURATION tokens, e.g. 'C4:1 D4:0.5 r:0.5 E4:2' (r = rest)")
    melody.add_argument("--tempo", type=bounded(float, 1, 1000), default=None, help="with --notes: durations are beats at this BPM")
    melody.add_argument("--midi", default=None, help="MIDI file: its top voice per frame")
    melody.add_argument("--onset-weight", type=bounded(float, 0, 1e3), default=None,
                        help="weight of the objective that makes each note start clearly, read on the vocoded audio "
                             "(0: none; default: the pipeline's, CONTROL_DEFAULTS)")
    melody.add_argument("--octave-weight", type=bounded(float, 0, 1e3), default=None,
                        help="weight of the objective that keeps each note in one register (0: none; default: the "
                             "pipeline's, CONTROL_DEFAULTS)")
    own = parser.add_argument_group("your own target (bundled models)")
    own.add_argument("--target", default=None,
                     help="a file the target is taken from: a recording (.wav .flac .ogg .aiff) for intensity, "
                          "melody, structure (its curve / pitch classes / self-similarity) or the painting tasks (the "
                          "clip to continue or loop); a curve (.csv: 'dB' or 'seconds,dB' rows; .json: [dB, ...] or "
                          "{\"seconds\": [...], \"db\": [...]}) for intensity. Melody also takes --midi and --notes")
    own.add_argument("--extractor", default=None,
                     help="instead of TASK: a registered extractor (tempo-kit plugins lists them); the target is its "
                          "output on the --target recording")
    own.add_argument("--loss", default="mse", help="with --extractor: a registered loss (default: %(default)s)")
    parser.add_argument("--tags", default=None,
                        help="conditioning tags FIELD=VALUE,... (default: the tune's tags for melody, else none)")
    parser.add_argument("--vocoder", choices=VOCODERS, default=None,
                        help="mel -> audio (default: the model folder's own vocoder, else the bundled one)")
    parser.add_argument("--fast", action="store_true", help="at most 10 iterations")
    parser.add_argument("--out", default="outputs/control", help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(parser)


def _surrogate_steps(text: str):
    import argparse

    if text in ("adaptive", "decode"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"expected 1-20, 'adaptive' or 'decode', got {text!r}")
    return value


def read_notes(path: str | Path) -> list[tuple[str, float]]:
    """``NOTE:DURATION`` tokens of a text file (:func:`parse_notes`)."""
    try:
        data = Path(path).read_bytes()
        utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))  # a byte-order mark: saved as UTF-16 (Windows editors)
        text = data.decode("utf-16" if utf16 else "utf-8-sig")  # a UTF-8 mark is not part of the first note
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file of NOTE:DURATION tokens (e.g. C4:1 F#4:0.5 r:0.5); for a MIDI "
                         "file use --midi") from None
    return parse_notes(text, source=str(path))


def parse_notes(text: str, *, source: str = "notes") -> list[tuple[str, float]]:
    """``NOTE:DURATION`` tokens separated by spaces, commas or newlines, e.g. ``C4:1 F#4:0.5 r:0.5``; ``#`` right
    after a note letter (or after a sharp: ``C##4``) is a sharp, anywhere else it starts a comment. Errors name
    ``source``."""
    pairs = []
    for line in text.splitlines():
        for token in re.split(r"(?<![A-Ga-g#])#", line, maxsplit=1)[0].replace(",", " ").split():
            note, sep, duration = token.partition(":")
            if not sep:
                raise ValueError(f"{source}: expected NOTE:DURATION, got {token!r}")
            try:
                pairs.append((note, float(duration)))
            except ValueError:
                raise ValueError(f"{source}: duration of {token!r} is not a number") from None
    if not pairs:
        raise ValueError(f"{source}: no notes")
    return pairs


def _run_toy(args, iterations: int) -> int:
    import torch

    from ..control import DITTO, DITTO2
    from ..control.ditto import resolve_decode
    from ..testing.control import toy_generator, toy_task

    if args.octave_weight is not None:
        raise ValueError("--octave-weight needs a bundled model: the toy generator has no octaves")
    if args.onset_weight is not None:
        raise ValueError("--onset-weight needs a bundled model: the toy generator has no vocoder")
    if args.domain is not None:
        raise ValueError("--domain needs a bundled model: the toy generator has no vocoder")
    lr = TOY_DEFAULTS["lr"] if args.lr is None else args.lr
    optimizer = _optimizer(args)
    gen = toy_generator(frames=args.frames or TOY_DEFAULTS["frames"])
    objectives = toy_task(args.task, generator=gen)
    generator = torch.Generator().manual_seed(args.seed)
    if args.method == "ditto":
        method = DITTO(iterations=iterations, lr=lr, steps=args.steps, optimizer=optimizer, progress=not args.quiet)
        result = method(gen.denoiser, objectives, shape=gen.shape, generator=generator)
    else:
        steps, levels = resolve_decode(args.decode_steps, args.decode_levels)
        method = DITTO2(iterations=iterations, lr=lr, decode_steps=steps or TOY_DEFAULTS["decode_steps"],
                        decode_levels=levels, surrogate_steps=args.surrogate_steps or 1,
                        optimizer=optimizer, progress=not args.quiet)
        result = method(gen.ctm_jump, objectives, shape=gen.shape, generator=generator)
    summary = {
        "task": args.task, "model": "toy", "method": result.method, "iterations": iterations, "lr": lr,
        "optimizer": optimizer,
        **({} if args.method == "ditto" else {"decode_steps": method.decode_steps,
                                              "decode_levels": None if levels is None else list(levels)}),
        "first_loss": float(result.loss_history[0]) if iterations else None,
        "last_loss": float(result.loss_history[-1]) if iterations else None,
        "final_losses": result.final_losses, "nfe_optimization": result.nfe_optimization,
        "nfe_decoding": result.nfe_decoding, "backward_optimization": result.backward_optimization,
        "seconds": round(result.wall_time, 3),
    }
    return _write(args, result, summary, audio=None)


def _optimizer(args) -> str:
    """``--optimizer``, or the task's default (:func:`~tempo_kit.pipeline.control_defaults`), also when the task's
    objectives come from a ``--target`` file."""
    from ..pipeline import control_defaults

    return args.optimizer or control_defaults(None, args.task)["optimizer"]


def _melody_target(args, frames: int):
    """The melody target and the tags that go with it (a bundled tune's own tags)."""
    from ..control.targets import melody_from_midi, melody_from_notes
    from ..data.tunes import get_tune
    from ..features.chroma import LogChroma

    extractor = LogChroma()
    for flag, path in (("--notes", args.notes), ("--midi", args.midi)):
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"{flag} {str(path)!r}: no such file")
    if args.notes:
        try:
            return melody_from_notes(read_notes(args.notes), tempo=args.tempo, extractor=extractor, n_frames=frames), {}
        except ValueError as err:
            message = str(err)
            raise ValueError(message if message.startswith(str(args.notes)) else f"{args.notes}: {message}") from None
    if args.midi:
        return melody_from_midi(args.midi, extractor=extractor, n_frames=frames), {}
    tune = get_tune(args.tune)
    print(f"melody target: {tune.id} ({tune.title}, {tune.key}): {tune.caption}")
    return tune.target(extractor=extractor, n_frames=frames), dict(tune.tags)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
CURVE_SUFFIXES = (".csv", ".json")


def read_recording(path: str | Path, frames: int, *, waveform: bool = False):
    """Model-space mel frames ``(80, frames)`` of the first ``frames`` frames of an audio file (mixed to mono,
    resampled to 22050 Hz), or with ``waveform`` the samples of those frames ``(frames * hop,)``; a shorter file is an
    error that says how long it is."""
    import soundfile
    import torch

    from ..audio.mel import MelSpec
    from ..audio.resample import resample

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as err:  # soundfile.LibsndfileError is a RuntimeError
        raise ValueError(f"cannot read the recording {str(path)!r}: {err}") from None
    wave = torch.from_numpy(data.mean(axis=1))
    if wave.numel() == 0 or not torch.isfinite(wave).all():
        raise ValueError(f"the recording {str(path)!r} is empty or holds NaN/inf samples")
    if float(wave.abs().max()) < 1e-4:
        raise ValueError(f"the recording {str(path)!r} is silent (peak below -80 dBFS): nothing to take a target from")
    if data.shape[1] > 1:
        import warnings

        warnings.warn(f"the recording {str(path)!r} has {data.shape[1]} channels; mixed down to mono", stacklevel=2)
    spec = MelSpec()
    if rate != spec.sample_rate:
        wave = resample(wave, int(rate), spec.sample_rate)
    mel = spec.to_model(wave[None])[0]
    if mel.shape[-1] < frames:
        have = mel.shape[-1]
        hint = f"use --frames {have // 8 * 8} or a longer recording" if have >= 16 else "use a longer recording"
        raise ValueError(f"the recording {str(path)!r} gives {have} frames ({have / spec.frame_rate:.2f} s) but the "
                         f"output has {frames} ({frames / spec.frame_rate:.2f} s): {hint}")
    used = wave[: frames * spec.hop_length]
    if float(used.abs().max()) < 1e-4:
        raise ValueError(f"the first {frames / spec.frame_rate:.2f} s of the recording {str(path)!r} are silent "
                         "(peak below -80 dBFS): nothing to take a target from")
    return used if waveform else mel[:, :frames]


def read_curve(path: str | Path) -> tuple[list[float], list[float] | None]:
    """``(dB values, seconds or None)`` from a CSV (rows ``dB`` or ``seconds,dB``; a non-numeric first row is a
    header) or JSON file (``[dB, ...]`` or ``{"seconds": [...], "db": [...]}``)."""
    text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first value
    if str(path).lower().endswith(".json"):
        return _json_curve(text, str(path))
    rows = [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]
    if rows and not any(re.match(r"[+-]?[\d.]", c) for c in rows[0]):
        rows = rows[1:]  # a header (a value with a typo, '-2O', is not one: it fails below, named)
    if not rows or len({len(r) for r in rows}) != 1 or len(rows[0]) not in (1, 2):
        raise ValueError(f"{str(path)!r}: expected rows of 'dB' or 'seconds,dB', all with the same number of columns")
    try:
        values = [[float(c) for c in r] for r in rows]
    except ValueError as err:
        raise ValueError(f"{str(path)!r}: {err}") from None
    return [r[-1] for r in values], ([r[0] for r in values] if len(rows[0]) == 2 else None)


def _json_curve(text: str, path: str) -> tuple[list[float], list[float] | None]:
    shape = 'a list of dB values or {"seconds": [...], "db": [...]}'
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r}: not valid JSON ({err}); expected {shape}") from None
    if isinstance(data, dict):
        keys = {str(k).lower(): v for k, v in data.items()}
        if "db" not in keys:
            raise ValueError(f"{path!r}: no 'db' key (keys: {sorted(data)}); expected {shape}")
        values, seconds = keys["db"], keys.get("seconds")
    else:
        values, seconds = data, None

    def numbers(v, what: str) -> list[float]:
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise ValueError(f"{path!r}: {what} must be a list of numbers; expected {shape}")
        try:
            return [float(x) for x in v]
        except OverflowError:
            raise ValueError(f"{path!r}: {what} hold a number too large for a float") from None

    values = numbers(values, "the dB values")
    seconds = None if seconds is None else numbers(seconds, "'seconds'")
    if seconds is not None and len(seconds) != len(values):
        raise ValueError(f"{path!r}: {len(seconds)} 'seconds' but {len(values)} dB values")
    return values, seconds


def _file_task(args, frames: int) -> tuple:
    """``(task, target)`` for :meth:`~tempo_kit.Pipeline.control` when the target comes from ``--target``: the task
    name and the target for the tasks that read mel or audio (:data:`~tempo_kit.control.tasks.DOMAIN_TASKS`), else
    objectives (for ``--extractor``, a registered extractor/loss) and None."""
    import attrs

    from ..control import Objective
    from ..control.targets import (feature_target, intensity_from_audio, intensity_from_points, melody_from_audio,
                                   structure_from_audio)
    from ..control.tasks import task_objectives
    from ..registry import get

    path = Path(args.target)
    if not path.is_file():
        raise FileNotFoundError(f"--target {str(path)!r}: no such file")
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES + CURVE_SUFFIXES:
        raise ValueError(f"--target {str(path)!r}: expected a recording ({' '.join(AUDIO_SUFFIXES)}) or a curve "
                         f"({' '.join(CURVE_SUFFIXES)})")
    if suffix in CURVE_SUFFIXES and args.task != "intensity":
        raise ValueError(f"a curve file ({suffix}) is an intensity target; {args.extractor or args.task} takes a recording")
    if args.extractor is not None:
        try:
            extractor = get("extractors", args.extractor)
        except TypeError as err:  # a constructor with required arguments
            raise ValueError(f"--extractor {args.extractor!r} cannot be built without arguments ({err}); build it in "
                             "Python and pass an Objective to tempo_kit.Pipeline.control") from None
        if getattr(extractor, "domain", "mel") != "mel":
            raise ValueError(f"--extractor {args.extractor!r} reads {extractor.domain} input; the control command "
                             "steers mel-frame extractors (use tempo_kit.Pipeline.control with a decoder for others)")
        loss = get("losses", args.loss)
        mel = read_recording(path, frames)
        return [Objective(extractor=extractor, loss=loss,
                          target=feature_target(mel, extractor=extractor, kind=args.extractor))], None
    if args.task in ("inpainting", "outpainting", "looping"):
        mel = read_recording(path, frames)
        return task_objectives(args.task, n_frames=frames, reference=lambda seed: mel), None
    if args.task == "looping-free":
        raise ValueError("looping-free has no target to take from a file")
    (objective,) = task_objectives(args.task, n_frames=frames)
    ext = objective.extractor
    if suffix in CURVE_SUFFIXES:
        db, seconds = read_curve(path)
        target = intensity_from_points(db, seconds=seconds, n_frames=frames, extractor=ext)
    else:
        build = {"intensity": intensity_from_audio, "melody": _melody_from_recording, "structure": structure_from_audio}
        target = build[args.task](read_recording(path, frames, waveform=args.task == "melody"), extractor=ext)
    if args.task in DOMAIN_TASKS:  # the pipeline reads it in the task's domain
        return args.task, target
    return [attrs.evolve(objective, target=target)], None


def _melody_from_recording(wave, *, extractor):
    """The pitch classes of a recording's waveform, on ``extractor``'s frames: read from the audio's own STFT chroma,
    which tells a note below the chroma's high-pass from its leakage (the mel frames' wide low bands read an A3 sine as
    C#, :data:`~tempo_kit.control.targets.MIN_HIGHPASS_SHARE`); the STFT's extra frame at the end is dropped."""
    import attrs

    from ..control.targets import melody_from_audio
    from ..features.chroma import LogChroma

    target = melody_from_audio(wave, extractor=LogChroma(domain="audio", mel=extractor.mel))
    n = wave.shape[-1] // extractor.mel.hop_length
    return attrs.evolve(target, value=target.value[..., :n])


def _run_bundled(args, iterations: int | None) -> int:
    from ..clips import parse_tags
    from ..pipeline import control

    if args.method == "ditto":
        raise ValueError("--method ditto runs on the toy generator only (--model toy); the bundled models use DITTO-2")
    frames = args.frames or 256
    target, tags = (None, {})
    task = args.task
    if args.target is not None:
        if args.task == "melody" and (args.midi or args.notes or args.tune):
            raise ValueError("give one melody target: --target, --midi, --notes or --tune")
        task, target = _file_task(args, frames)
    elif args.task == "melody":
        target, tags = _melody_target(args, frames)
    if args.tags is not None:
        tags = parse_tags(args.tags)
    run = control(task, model=args.model, tags=tags, target=target, iterations=iterations, lr=args.lr,
                  decode_steps=args.decode_steps, decode_levels=args.decode_levels,
                  surrogate_steps=args.surrogate_steps, optimizer=_optimizer(args),
                  domain=args.domain, octave_weight=args.octave_weight,
                  onset_weight=args.onset_weight, seed=args.seed, frames=frames, vocoder=args.vocoder,
                  progress=not args.quiet)
    summary = {"task": args.task or args.extractor, **run.summary(),
               **({"target_file": str(args.target)} if args.target else {})}
    return _write(args, run.result, summary, audio=(run.audio, run.sample_rate))


def _write(args, result, summary: dict, audio) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.task or args.extractor}_{args.method}"
    files = [out / f"{stem}.png", out / f"{stem}.json"]
    result.plot(files[0])
    if audio is not None:
        from ..clips import FADE_MS, save_wav

        seamless = args.task in ("looping", "looping-free")  # a loop's ends meet: no fades there
        files.append(save_wav(out / f"{stem}.wav", audio[0][0], audio[1], fade_ms=0 if seamless else FADE_MS))
    summary["files"] = [str(f) for f in files]
    write_text_atomic(files[1], json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "files"}))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def run(args) -> int:
    from ..control.ditto import resolve_decode

    if args.task is None and args.extractor is None:
        raise ValueError(f"give a control task ({', '.join(TASKS)}) or --extractor NAME")
    if args.task is not None and args.extractor is not None:
        raise ValueError("give a control task or --extractor NAME, not both")
    if args.extractor is not None and args.target is None:
        raise ValueError("--extractor needs --target: the recording whose feature is the target")
    if args.model == "toy" and (args.target or args.extractor):
        raise ValueError("--target and --extractor work with the bundled models, not --model toy")
    if args.model == "toy" and (args.tags is not None or args.vocoder is not None):
        raise ValueError("--tags and --vocoder apply to the bundled models: the toy generator has no tags and no "
                         "vocoder")
    melody_options = [f"--{k}" for k in ("tune", "notes", "midi", "tempo") if getattr(args, k) is not None]
    if melody_options and (args.task != "melody" or args.model == "toy"):
        raise ValueError(f"{', '.join(melody_options)} set a melody target: they apply to the melody task on the "
                         f"bundled models, not to {args.task or 'an --extractor'}" + (" on --model toy"
                                                                                     if args.model == "toy" else ""))
    if len([o for o in melody_options if o != "--tempo"]) > 1:
        raise ValueError(f"give one melody target: {' or '.join(o for o in melody_options if o != '--tempo')}, "
                         "not several")
    if args.domain is not None and (args.extractor is not None or args.task not in DOMAIN_TASKS):
        raise ValueError(f"--domain applies to the {' and '.join(DOMAIN_TASKS)} tasks, not to "
                         f"{args.task or 'an --extractor'} (which reads mel frames)")
    if args.tempo is not None and args.notes is None:
        raise ValueError("--tempo applies to --notes (durations in beats)")
    if args.decode_levels is not None and args.method == "ditto":
        raise ValueError("--decode-levels applies to DITTO-2 (--method ditto2); DITTO decodes with its sampler")
    resolve_decode(args.decode_steps, args.decode_levels)  # a contradicting pair fails before any model loads
    iterations = args.iterations
    if args.fast:
        iterations = 10 if iterations is None else min(iterations, 10)
    set_threads(args)
    check_out(args.out)
    if args.model == "toy":
        return _run_toy(args, TOY_DEFAULTS["iterations"] if iterations is None else iterations)
    return _run_bundled(args, iterations)
