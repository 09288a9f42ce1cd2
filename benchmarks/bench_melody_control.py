"""DITTO-2 melody control on the bundled held-out tunes: frame accuracy and time per setting.

For every setting (surrogate model, iterations K, learning rate, decoding steps T) and every bundled tune, the bundled
model is conditioned on the tune's tags and steered toward its pitch classes (tempo_kit.pipeline.control, the main
job's part (b)). Reported per setting: mean / min accuracy of the mel output (what is optimised) and of the vocoded
audio, the same noise without control, and the CPU and wall seconds of one control run. Timings are within one run.

Next to the project's own chroma, an independent pitch tracker judges the vocoded audio (with the ``eval`` extra):
pretrained CREPE-full (:func:`tempo_kit.models.crepe.crepe_pitch`, 100 frames/s, the most active pitch bin) gives
each target frame a pitch class (octave-agnostic; accuracy over the frames where the tune has a note) and counts
*octave jumps*: consecutive frames inside one held note of the tune whose tracked pitch moves by 10 semitones or more.
Onset strength: the mean of ``librosa.onset.onset_strength`` on the vocoded audio (how clearly notes start; a clip
that holds one chord scores low). ``--octave-weights`` adds the objective that keeps each note in one register, ``--onset-weights`` the one
that makes each note start clearly.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_melody_control.py                      # defaults, all tunes
    .venv/bin/python benchmarks/bench_melody_control.py --models ctm,cm --iterations 30,60,120 --lrs 0.05,0.1
"""

from __future__ import annotations

import argparse
import statistics

import torch
import _quality as Q
from _report import environment, write_report
from tempo_kit.utils import levels_text, parse_levels


def _floats(text):
    return [float(x) for x in text.split(",")]


def _ints(text):
    return [int(x) for x in text.split(",")]


def tracked_melody(net, audio: torch.Tensor, sample_rate: int, target) -> dict:
    """Pitch-class accuracy and octave jumps of one clip by the CREPE tracker (see the module docstring)."""
    from tempo_kit.control import IGNORE_INDEX
    from tempo_kit.models.crepe import crepe_pitch

    midi, _ = crepe_pitch(net, audio.reshape(1, -1).float(), sample_rate, hop=160)
    y = target.value
    at = (torch.arange(y.numel()) / target.frame_rate * 100).round().long().clamp(max=midi.shape[1] - 1)
    pitch = midi[0, at]
    voiced = y != IGNORE_INDEX
    held = voiced[1:] & voiced[:-1] & (y[1:] == y[:-1])
    return {"tracker": float((pitch.round().long() % 12 == y)[voiced].double().mean()),
            "octave_jumps": int((((pitch[1:] - pitch[:-1]).abs() >= 10) & held).sum())}


def onset_strength(audio: torch.Tensor, sample_rate: int) -> float:
    """Mean onset strength of the clip (``librosa.onset.onset_strength``): how clearly its notes start."""
    import librosa

    return float(librosa.onset.onset_strength(y=audio.reshape(-1).double().numpy(), sr=sample_rate).mean())


def _levels(text) -> list:
    """``--decode-levels``: ``default`` (the model's), ``grid`` (``T`` levels of the teacher grid) or a comma list of
    re-noise levels, ';'-separated."""
    return [spec if spec in ("default", "grid") else parse_levels(spec) for spec in text.split(";")]


def _decoding(model: str, t, at) -> dict:
    """``control``'s decode keywords for ``--decode-steps`` ``t`` (None: the model's) and a ``--decode-levels`` spec
    (as in ``Pipeline.control``, an explicit ``t`` with ``default`` decodes at the teacher grid's levels)."""
    from tempo_kit.pipeline import control_defaults
    from tempo_kit.pretrained import pretrained_meta

    if at == "default":
        return {"decode_steps": t, "decode_levels": None}
    if at == "grid":
        kind = pretrained_meta(model).get("kind", "denoiser")
        return {"decode_steps": control_defaults(kind)["decode_steps"] if t is None else t, "decode_levels": None}
    from tempo_kit.control.ditto import resolve_decode

    resolve_decode(t, at)  # a contradicting pair is an error
    return {"decode_steps": None, "decode_levels": at}


def tune_source(path) -> str:
    """How the report names the tunes: the bundled held-out (test) tunes, or the file given."""
    if path is None:
        return "held-out Essen tunes (tempo_kit/weights/tunes.json, the test tunes)"
    import json

    return f"tunes of `{path}` ({json.loads(open(path).read()).get('source', 'unknown source')})"


def _t(row: dict) -> str:
    """T, with the re-noise levels when they are not the teacher grid's: ``2 (at 0.15)``."""
    at = row.get("decode_levels")
    return f"{row['decode_steps']}" + ("" if at is None else f" (at {levels_text(at)})")


def _octaves(row: dict) -> str:
    """`` + octaves x W`` / `` + onsets x W`` when the run had the register / onset objective."""
    return ((f" + octaves x {row['octave_weight']:g}" if row.get("octave_weight") else "")
            + (f" + onsets x {row['onset_weight']:g}" if row.get("onset_weight") else ""))


def setting_label(row: dict) -> str:
    return (f"{row['model']} K={row['iterations']} lr={row['lr']} T={_t(row)} M={row['surrogate_steps']} "
            f"{row['domain']}{_octaves(row)}")


def tune_clips(data: str, tunes: list, flag: str):
    """The dataset in ``data`` (with audio) and the index of each tune's own clip in it."""
    from tempo_kit.data.dataset import MusicDataset

    ds = MusicDataset(data, load_audio=True)
    where = {r["id"]: i for i, r in enumerate(ds.records)}
    missing = [t.id for t in tunes if t.id not in where]
    if missing:
        raise SystemExit(f"{flag} {data}: no clip {missing[0]!r} of the tunes there ({len(missing)} missing)")
    return ds, [where[t.id] for t in tunes]


def quality(data: str, tunes: list, outputs: dict, *, seed: int = 0) -> dict:
    """FAD of each setting's clips (mel frames ``(n_tunes, n_mels, frames)`` by label) against the real renders of the
    same tunes in ``data``, per embedding, with paired-bootstrap intervals; ratios to the first setting."""
    ds, idx = tune_clips(data, tunes, "--fad")
    return Q.fad_against_clips(ds, idx, outputs, seed=seed)


def fad_lines(fad: dict, n: int) -> list[str]:
    return Q.fad_table(fad, f"FAD of each setting's {n} clips against the real renders of the same tunes (paired "
                            f"bootstrap over the tunes, 95% intervals; at this n they are wide); ratio to "
                            f"`{next(iter(fad))}`.")


def real_renders(args, tunes: list, tracker, commit: dict) -> int:
    """``--real``: the tracker's accuracy, octave jumps and the onset strength of the tunes' own rendered clips."""
    from tempo_kit.features.chroma import LogChroma

    if tracker is None:
        raise SystemExit("--real needs the independent tracker (the eval extra)")
    ds, idx = tune_clips(args.real, tunes, "--real")
    runs = []
    for tune, i in zip(tunes, idx):
        audio = ds.audio[i].float() / 32767
        runs.append({"tune": tune.id, "onset": onset_strength(audio, ds.sample_rate),
                     **tracked_melody(tracker, audio, ds.sample_rate, tune.target(extractor=LogChroma()))})
    row = {"setting": "real renders", "tunes": len(runs), "per_tune": runs,
           **{f"{k}_mean": statistics.mean(r[k] for r in runs) for k in ("tracker", "octave_jumps", "onset")},
           "tracker_min": min(r["tracker"] for r in runs)}
    env = environment(seed=args.seed, **commit)
    write_report(args.out, env, [row], [
        "# The tunes' real renders, judged as the controlled clips are", "",
        f"{len(tunes)} {tune_source(args.tunes_file)}: the rendered clip of each tune in `{args.real}`, tracked by "
        f"CREPE-full as `bench_melody_control.py` tracks controlled clips. Git commit "
        f"`{(env['commit'] or 'unknown')[:10]}`{' (dirty)' if env['dirty'] else ''}.", "",
        "| clips | CREPE acc. mean (min) | octave jumps / clip | onset strength |", "|---|---:|---:|---:|",
        f"| real renders | {100 * row['tracker_mean']:.1f}% ({100 * row['tracker_min']:.1f}%) | "
        f"{row['octave_jumps_mean']:.1f} | {row['onset_mean']:.2f} |", ""])
    return 0


def main(argv=None) -> int:
    from tempo_kit.data.tunes import load_tunes
    from tempo_kit.features.chroma import LogChroma
    from tempo_kit.pipeline import CONTROL_DEFAULTS, control, control_defaults, default_control_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=None, help="comma-separated (default: the default surrogate)")
    p.add_argument("--iterations", type=_ints, default=[CONTROL_DEFAULTS["iterations"]])
    p.add_argument("--lrs", type=_floats, default=[CONTROL_DEFAULTS["lr"]])
    p.add_argument("--decode-steps", type=_ints, default=[None], help="comma-separated T (default: the model's)")
    p.add_argument("--surrogate-steps", type=lambda t: [v if v in ("decode", "adaptive") else int(v)
                                                         for v in t.split(",")],
                   default=[None], help="comma-separated M values, e.g. 1,decode (default: the model's)")
    p.add_argument("--decode-levels", type=_levels, default=["default"],
                   help="';'-separated: 'default' (the model's), 'grid' (the teacher grid's levels for T steps) or "
                        "comma lists of re-noise levels, each overriding --decode-steps (e.g. 'grid;0.15')")
    p.add_argument("--tunes", type=int, default=None, help="first N tunes (default: all)")
    p.add_argument("--tunes-file", default=None,
                   help="tunes file (default: the bundled held-out test tunes; validation tunes: "
                        "tempo-kit data export-tunes DATA --split train --out FILE)")
    p.add_argument("--domains", type=lambda t: t.split(","), default=[control_defaults("ctm", "melody")["domain"]],
                   help="what the melody objective reads: mel, audio (through the vocoder), mel+audio; comma-separated")
    p.add_argument("--octave-weights", type=_floats, default=[CONTROL_DEFAULTS["octave_weight"]],
                   help="weights of the objective that keeps each note in one register (0: none); comma-separated")
    p.add_argument("--onset-weights", type=_floats, default=[CONTROL_DEFAULTS["onset_weight"]],
                   help="weights of the objective that makes each note start clearly (0: none); comma-separated")
    p.add_argument("--fad", metavar="DATA", default=None,
                   help="dataset folder holding the tunes' clips (e.g. outputs/data/music): FAD of each setting's "
                        "clips against the real renders of the same tunes (mel statistics, the bundled CLAP-style "
                        "model, CREPE-tiny), with paired intervals and the ratio to the first setting")
    p.add_argument("--real", metavar="DATA", default=None,
                   help="instead of control runs: judge the tunes' real renders in DATA (e.g. outputs/data/music) by "
                        "the tracker, the floor of its octave jumps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocoder", default="vocoder")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s, as the CLI)")
    p.add_argument("--out", default="benchmarks/results/bench_melody_control")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    commit = Q.git_commit()  # taken at the start: the code that ran
    tunes = load_tunes(args.tunes_file)[: args.tunes]
    try:
        from tempo_kit.models.crepe import load_crepe

        tracker = load_crepe("full")
    except ModuleNotFoundError as err:
        tracker = None
        print(f"no independent tracker: {err}")
    if args.real:
        return real_renders(args, tunes, tracker, commit)
    rows, outputs = [], {}
    for model in (args.models or default_control_model()).split(","):
        for k in args.iterations:
            for lr in args.lrs:
                for t, m, dom, at, ow, nw in ((t, m, d, at, ow, nw) for t in args.decode_steps
                                              for m in args.surrogate_steps for d in args.domains
                                              for at in args.decode_levels for ow in args.octave_weights
                                              for nw in args.onset_weights):
                    runs, mels = [], []
                    for tune in tunes:
                        target = tune.target(extractor=LogChroma())
                        run = control("melody", model=model, tags=tune.tags, target=target, iterations=k, lr=lr,
                                      surrogate_steps=m, domain=dom, octave_weight=ow, onset_weight=nw,
                                      seed=args.seed,
                                      **_decoding(model, t, at),
                                      vocoder=args.vocoder,
                                      progress=False)
                        mels.append(run.result.output[0].detach().float())
                        runs.append({"tune": tune.id, **run.accuracy, "onset": onset_strength(run.audio, run.sample_rate),
                                     "cpu_s": run.cpu["control"],
                                     "wall_s": run.wall["control"], "scaled_down_db": run.scaled_down_db,
                                     **(tracked_melody(tracker, run.audio, run.sample_rate, target) if tracker else {})})
                    keys = ("mel", "audio", "uncontrolled_mel") + (("tracker",) if tracker else ())
                    acc = {key: [r[key] for r in runs] for key in keys}
                    row = {"model": model, "iterations": k, "lr": lr, "decode_steps": run.decode_steps,
                           "surrogate_steps": run.surrogate_steps,
                           "decode_levels": None if run.decode_levels is None else list(run.decode_levels),
                           "domain": dom, "octave_weight": ow, "onset_weight": nw,
                           "tunes": len(runs),
                           **{f"{key}_mean": statistics.mean(v) for key, v in acc.items()},
                           **{f"{key}_min": min(v) for key, v in acc.items()},
                           "cpu_s_mean": statistics.mean(r["cpu_s"] for r in runs),
                           "wall_s_mean": statistics.mean(r["wall_s"] for r in runs),
                           "scaled_down_db_mean": statistics.mean(r["scaled_down_db"] for r in runs),
                           "onset_mean": statistics.mean(r["onset"] for r in runs),
                           "per_tune": runs,
                           **({"octave_jumps_mean": statistics.mean(r["octave_jumps"] for r in runs)} if tracker
                              else {})}
                    rows.append(row)
                    outputs[setting_label(row)] = torch.stack(mels)
                    print(f"{model} K={k} lr={lr} T={_t(row)} M={row['surrogate_steps']} objective on {dom}{_octaves(row)}: tracker {100 * row.get('tracker_mean', float('nan')):.1f}%, "
                          f"mel {100 * row['mel_mean']:.1f}% (min "
                          f"{100 * row['mel_min']:.1f}), audio {100 * row['audio_mean']:.1f}% (min "
                          f"{100 * row['audio_min']:.1f}), uncontrolled {100 * row['uncontrolled_mel_mean']:.1f}%; "
                          f"{row['cpu_s_mean']:.2f} CPU s, {row['wall_s_mean']:.2f} wall s per run", flush=True)

    fad = quality(args.fad, tunes, outputs, seed=args.seed) if args.fad else None
    env = environment(seed=args.seed, vocoder=args.vocoder, **commit)
    lines = [
        "# DITTO-2 melody control on folk tunes",
        "",
        f"{len(tunes)} {tune_source(args.tunes_file)}, each model conditioned on the tune's tags; "
        f"seed {args.seed}, vocoder `{args.vocoder}`, git commit `{(env['commit'] or 'unknown')[:10]}`"
        f"{' (dirty)' if env['dirty'] else ''}. {env['date']}, {env['cpus']} CPUs, {env['threads']} torch "
        f"threads, load average {env['load_average']:.1f}. Accuracy: share of voiced frames whose chroma argmax is "
        "the tune's pitch class. Scaled down: mean gain (dB) by which the vocoded clip was scaled to fit full scale "
        "(0 when it fitted).",
        "",
        "| surrogate | K | lr | T | M | objective reads | mel acc. mean (min) | audio acc. mean (min) | CREPE acc. mean (min) | octave "
        "jumps / clip | onset strength | uncontrolled mel | scaled down (dB) | CPU s / run | wall s / run |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['model']} | {r['iterations']} | {r['lr']} | {_t(r)} | {r['surrogate_steps']} | {r.get('domain', 'mel')}{_octaves(r)} "
          f"| {100 * r['mel_mean']:.1f}% "
          f"({100 * r['mel_min']:.1f}%) | {100 * r['audio_mean']:.1f}% ({100 * r['audio_min']:.1f}%) | "
          + (f"{100 * r['tracker_mean']:.1f}% ({100 * r['tracker_min']:.1f}%) | {r['octave_jumps_mean']:.1f} | "
             if "tracker_mean" in r else "- | - | ")
          + f"{r.get('onset_mean', float('nan')):.2f} | {100 * r['uncontrolled_mel_mean']:.1f}% | {r.get('scaled_down_db_mean', float('nan')):.1f} | {r['cpu_s_mean']:.2f} | {r['wall_s_mean']:.2f} |" for r in rows],
        "",
        *(fad_lines(fad, len(tunes)) if fad else []),
    ]
    write_report(args.out, env, rows, lines, **({"fad": fad} if fad else {}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
