"""Real-time factor of generation with the bundled models: seconds of audio per CPU second, sampling plus vocoding.

Each setting (generator and steps, vocoder) generates the main job's three clips (``tempo-kit demo`` part a) several
times with one torch thread; reported are the median CPU and wall seconds of sampling and of vocoding and the
real-time factor of the median. Timings are within one run (compare rows, not runs on other days).

    .venv/bin/python benchmarks/bench_generate.py                                      # the default settings below
    .venv/bin/python benchmarks/bench_generate.py --settings presto-s:1,presto-s:4,teacher:18 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _report import environment, write_report

DEFAULT_SETTINGS = "presto-s:1,presto-s:2,presto-s:4,cm:4,ctm:4,presto-ls:4,teacher:18"


def main(argv=None) -> int:
    from tempo_kit.commands.demo import DEMO_TAGS
    from tempo_kit.pipeline import generate
    from tempo_kit.pretrained import available

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", default=DEFAULT_SETTINGS, help="MODEL:STEPS,... (default: %(default)s)")
    p.add_argument("--vocoders", default="vocoder,griffin-lim")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/bench_generate")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    rows = []
    for setting in args.settings.split(","):
        model, steps = setting.split(":")
        if model not in available():
            print(f"skip {model}: not bundled")
            continue
        for vocoder in args.vocoders.split(","):
            if vocoder == "vocoder" and "vocoder" not in available():
                continue
            runs = [generate(list(DEMO_TAGS), model=model, steps=int(steps), seed=r, vocoder=vocoder)
                    for r in range(args.repeats + 1)][1:]  # the first run warms up
            med = {f"{kind}_{stage}": statistics.median(getattr(c, kind)[stage] for c in runs)
                   for kind in ("cpu", "wall") for stage in ("sample", "vocode")}
            audio = runs[0].audio_seconds
            row = {"model": model, "steps": int(steps), "sampler": runs[0].sampler, "vocoder": vocoder,
                   "clips": len(DEMO_TAGS), "audio_seconds": audio, **med,
                   "rtf_cpu": audio / (med["cpu_sample"] + med["cpu_vocode"]),
                   "rtf_wall": audio / (med["wall_sample"] + med["wall_vocode"])}
            rows.append(row)
            print(f"{model} {steps} steps + {vocoder}: sample {med['cpu_sample']:.3f} CPU s, vocode "
                  f"{med['cpu_vocode']:.3f} CPU s -> {row['rtf_cpu']:.0f}x real time per CPU second "
                  f"({row['rtf_wall']:.0f}x wall)", flush=True)

    env = environment(repeats=args.repeats)
    lines = [
        "# Real-time factor of generation with the bundled models",
        "",
        f"The main job's {len(DEMO_TAGS)} clips (5.94 s each) per run, median of {args.repeats} runs after a warm-up; "
        f"{env['date']}, {env['cpus']} CPUs, {env['threads']} torch thread(s), load average "
        f"{env['load_average']:.1f}. RTF = seconds of audio per second of process CPU time (sampling + vocoding; "
        "model loading excluded).",
        "",
        "| generator | steps | sampler | vocoder | sample CPU s | vocode CPU s | RTF (CPU) | RTF (wall) |",
        "|---|---:|---|---|---:|---:|---:|---:|",
        *[f"| {r['model']} | {r['steps']} | {r['sampler']} | {r['vocoder']} | {r['cpu_sample']:.3f} | "
          f"{r['cpu_vocode']:.3f} | {r['rtf_cpu']:.0f}x | {r['rtf_wall']:.0f}x |" for r in rows],
        "",
    ]
    write_report(args.out, env, rows, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
