"""``tempo-kit demo``: the main job on the bundled models.

(a) generate a few clips from tags with the default few-step generator and vocode them; (b) steer the bundled CTM with
DITTO-2 toward the melody of a held-out folk tune. Writes WAVs, a spectrogram per clip, the melody control's
target-vs-achieved plot, and ``summary.json`` / ``summary.md`` with timings per stage, the real-time factor and the
melody accuracy. ``--toy`` runs the former analytic demo instead (2-D Gaussian mixture, no weights).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..utils import count_text, levels_text, write_text_atomic
from . import MAX_ITERATIONS, MAX_STEPS, add_threads_option, bounded, check_out, set_threads

#: The clips of part (a): one tag set per clip.
DEMO_TAGS = (
    {"instrument": "flute", "collection": "essen", "mode": "major"},
    {"instrument": "organ", "collection": "bach", "mode": "minor"},
    {"instrument": "strings", "collection": "bach", "tempo": "slow"},
)
#: The held-out tune of part (b) (an id of tempo_kit/weights/tunes.json, or part of one).
DEMO_TUNE = "han1/2"


def configure(parser) -> None:
    from ..pipeline import DEFAULT_MODEL, VOCODERS

    parser.add_argument("--out", default="outputs/demo", help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    parser.add_argument("--model", default=None, help=f"generator of part (a) (default: {DEFAULT_MODEL})")
    parser.add_argument("--steps", type=bounded(int, 1, MAX_STEPS), default=None, help="its sampling steps (default: the model's own)")
    parser.add_argument("--tune", default=None, help=f"held-out tune of part (b) (default: {DEMO_TUNE})")
    parser.add_argument("--iterations", type=bounded(int, 0, MAX_ITERATIONS), default=None, help="DITTO-2 iterations (default: tuned)")
    parser.add_argument("--vocoder", choices=VOCODERS, default=None,
                        help="mel -> audio (default: the model folder's own vocoder, else the bundled one; "
                             "griffin-lim needs no weights but makes part (b) take minutes)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_option(parser)
    parser.add_argument("--toy", action="store_true",
                        help="instead: sample an analytic 2-D Gaussian mixture with two samplers (no weights needed)")
    parser.add_argument("--n", type=bounded(int, 1, 50_000), default=None,
                        help="--toy: samples per sampler (default: 2000; the energy distance costs n^2)")


def run(args) -> int:
    from ..pipeline import DEFAULT_MODEL

    main_job = {"--model": args.model, "--steps": args.steps, "--tune": args.tune, "--iterations": args.iterations,
                "--vocoder": args.vocoder}
    if args.toy and any(v is not None for v in main_job.values()):
        raise ValueError(f"{', '.join(k for k, v in main_job.items() if v is not None)} apply to the main job on the "
                         "bundled models, not to --toy")
    if not args.toy and args.n is not None:
        raise ValueError("--n applies to --toy (samples per sampler); the main job makes 3 clips")
    check_out(args.out)
    if args.toy:
        args.n = 2000 if args.n is None else args.n
        return _toy(args)
    args.model = DEFAULT_MODEL if args.model is None else args.model
    args.tune = DEMO_TUNE if args.tune is None else args.tune
    set_threads(args)
    return _main_job(args)


def _main_job(args) -> int:
    from ..control.targets import IGNORE_INDEX
    from ..data.tunes import get_tune
    from ..features.chroma import LogChroma
    from ..clips import plot_spectrogram, save_clips, save_wav
    from ..pipeline import control, generate

    t0 = time.perf_counter()
    tune = get_tune(args.tune)  # before any work: a missing tunes file fails at once
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))  # noqa: E731

    say(f"(a) {len(DEMO_TAGS)} clips from tags ...")
    clips = generate(list(DEMO_TAGS), model=args.model, steps=args.steps, seed=args.seed, vocoder=args.vocoder)
    clip_files = save_clips(clips, out)
    say(f"(b) DITTO-2 melody control on {tune.id} ...")
    target = tune.target(extractor=LogChroma(), n_frames=256)
    run = control("melody", tags=tune.tags, target=target, iterations=args.iterations, seed=args.seed,
                  vocoder=args.vocoder, progress=not args.quiet)
    stem = out / "melody"
    melody_files = [save_wav(f"{stem}.wav", run.audio[0], run.sample_rate), stem.with_suffix(".png"),
                    out / "melody_spectrogram.png"]
    run.result.plot(melody_files[1])
    plot_spectrogram(run.result.output[0], melody_files[2], title=f"DITTO-2 melody control: {tune.caption}")
    melody = run.summary()
    melody["tune"] = {"id": tune.id, "title": tune.title, "key": tune.key, "caption": tune.caption,
                      "voiced_frames": int((target.value != IGNORE_INDEX).sum()),
                      "reference_accuracy": tune.reference_accuracy}
    summary = {
        "generate": clips.summary(),
        "melody_control": melody,
        "total_wall_seconds": round(time.perf_counter() - t0, 2),
        "files": [str(p) for p in [*clip_files, *melody_files, out / "summary.json", out / "summary.md"]],
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_text_atomic(out / "summary.md", _markdown(summary))
    print(_short(summary))
    print(f"wrote {len(summary['files'])} files to {out} (summary.md describes them)")
    return 0


def _short(s: dict) -> str:
    g, m = s["generate"], s["melody_control"]
    acc = m["accuracy"]
    return "\n".join([
        f"(a) {g['clips']} clips x {g['audio_seconds'] / g['clips']:.2f} s with {g['model']} "
        f"({count_text(g['steps'], 'step')}) + "
        f"{g['vocoder']}: sampling {g['wall_seconds']['sample']:.2f} s, vocoding {g['wall_seconds']['vocode']:.2f} s; "
        f"real-time factor {g['rtf_cpu']:.1f}x per CPU second ({g['rtf_wall']:.1f}x wall)",
        f"(b) DITTO-2 on {m['model']}, {m['iterations']} iterations + {m['decode_steps']} decoding steps "
        f"({m['wall_seconds']['control']:.2f} s): melody accuracy {100 * acc['mel']:.1f}% on the mel output, "
        f"{100 * acc['audio']:.1f}% on the vocoded audio (uncontrolled {100 * acc['uncontrolled_mel']:.1f}%); "
        f"tune {m['tune']['id']}",
        f"total {s['total_wall_seconds']:.1f} s",
    ])


def _markdown(s: dict) -> str:
    g, m = s["generate"], s["melody_control"]
    acc, tune = m["accuracy"], m["tune"]
    rows = [("(a) load models", g["wall_seconds"]["load"], g["cpu_seconds"]["load"]),
            (f"(a) sample {g['clips']} clips ({g['model']}, {count_text(g['steps'], 'step')})",
             g["wall_seconds"]["sample"], g["cpu_seconds"]["sample"]),
            (f"(a) vocode ({g['vocoder']})", g["wall_seconds"]["vocode"], g["cpu_seconds"]["vocode"]),
            ("(b) load models", m["wall_seconds"]["load"], m["cpu_seconds"]["load"]),
            (f"(b) DITTO-2: {m['iterations']} iterations + {m['decode_steps']} decoding steps",
             m["wall_seconds"]["control"], m["cpu_seconds"]["control"]),
            ("(b) vocode", m["wall_seconds"]["vocode"], m["cpu_seconds"]["vocode"]),
            ("(b) uncontrolled baseline (same noise, no optimisation)", m["wall_seconds"]["baseline"],
             m["cpu_seconds"]["baseline"])]
    lines = [
        "# tempo-kit demo",
        "",
        f"Total wall time {s['total_wall_seconds']:.1f} s (plotting and file writing included).",
        "",
        "| stage | wall (s) | CPU (s) |",
        "|---|---:|---:|",
        *[f"| {name} | {w:.2f} | {c:.2f} |" for name, w, c in rows],
        "",
        f"## (a) Clips from tags: {g['model']}, {g['sampler']} sampler, {count_text(g['steps'], 'step')}, "
        f"{g['vocoder']}",
        "",
        f"{g['clips']} clips, {g['audio_seconds']:.1f} s of audio. Real-time factor (sampling + vocoding): "
        f"**{g['rtf_cpu']:.1f}x** per CPU second, {g['rtf_wall']:.1f}x per wall second.",
        "",
        *[f"- `clip_{i}.wav`, `clip_{i}.png`: {', '.join(f'{k}={v}' for k, v in t.items())}"
          for i, t in enumerate(g["tags"])],
        "",
        f"## (b) DITTO-2 melody control: {m['model']} surrogate",
        "",
        f"Held-out tune `{tune['id']}` ({tune['title']}, {tune['key']}), conditioned on its tags: {tune['caption']}. "
        f"{m['iterations']} Adam iterations on the initial noise (lr {m['lr']}) "
        + (f"through the {m['decode_steps']}-step decode itself" if m["surrogate_steps"] == "decode" else
           f"through the {m['surrogate_steps']}-step surrogate, then {m['decode_steps']} decoding steps")
        + (f", re-noised to {levels_text(m['decode_levels'])}." if m.get("decode_levels") else "."),
        "",
        "| melody frame accuracy | |",
        "|---|---:|",
        f"| controlled, mel output (what is optimised) | **{100 * acc['mel']:.1f}%** |",
        f"| controlled, vocoded audio | {100 * acc['audio']:.1f}% |",
        f"| same noise without control, mel / audio | {100 * acc['uncontrolled_mel']:.1f}% / "
        f"{100 * acc['uncontrolled_audio']:.1f}% |",
        f"| the tune's own rendering, mel (reference) | "
        + (f"{100 * tune['reference_accuracy']:.1f}% |" if tune["reference_accuracy"] is not None else "n/a |"),
        "",
        (f"Melody loss (NLL) {m['first_loss']:.3f} -> {m['last_loss']:.3f} while optimising; decoded "
         if m["first_loss"] is not None else "No optimisation (0 iterations); melody loss (NLL) of the decode ")
        + f"{m['final_losses']['melody']:.3f}. Network calls: {m['nfe_optimization']} optimising, "
        f"{m['nfe_decoding']} decoding.",
        "",
        "- `melody.wav`: the controlled clip",
        "- `melody.png`: target pitch classes over the achieved chroma, the generated mel, the loss history",
        "- `melody_spectrogram.png`: spectrogram of the controlled clip",
        "",
    ]
    return "\n".join(lines)


def _toy(args) -> int:
    """The analytic demo: EDM Heun vs CTM gamma-sampling on a 2-D Gaussian mixture, energy distances and a plot."""
    import torch

    from .. import registry
    from ..schedules import EDM_SIGMA_MAX
    from ..testing.toy import ExactJump, GaussianMixture, energy_distance

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    data = GaussianMixture.ring(components=8, radius=1.0, std=0.08)
    reference = data.sample(args.n, generator=gen)
    x_T = EDM_SIGMA_MAX * torch.randn(args.n, 2, generator=gen, dtype=torch.float64)

    runs = {
        "EDM Heun, 40 steps (ideal denoiser)": (registry.get("samplers", "heun"), data, 40),
        "CTM gamma=0.2, 4 steps (exact ODE jump)": (registry.get("samplers", "ctm-gamma", gamma=0.2), ExactJump(data=data), 4),
    }
    results, samples = {}, {}
    for label, (sampler, model, steps) in runs.items():
        t0 = time.perf_counter()
        x0 = sampler(model, x_T, steps, generator=gen)
        seconds = time.perf_counter() - t0
        samples[label] = x0
        results[label] = {"steps": steps, "seconds": round(seconds, 3),
                          "energy_distance_to_data": float(energy_distance(x0, reference))}
    results["data vs. fresh data sample"] = {
        "energy_distance_to_data": float(energy_distance(data.sample(args.n, generator=gen), reference))}

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    for ax, (label, pts) in zip(axes, [("data", reference), *samples.items()]):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(out / "samples.png", dpi=120)
    write_text_atomic(out / "summary.json", json.dumps(results, indent=2))
    for label, r in results.items():
        print(f"{label:45s} " + "  ".join(f"{k}={v}" for k, v in r.items()))
    print(f"wrote {out / 'samples.png'} and {out / 'summary.json'}")
    return 0
