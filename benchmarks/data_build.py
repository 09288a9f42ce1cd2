"""Dataset builder speed and size: FluidSynth synthesis (pyfluidsynth vs. the CLI), the whole pipeline per clip
(parse, render, mel, write) with 1 and 2 worker processes, and disk use per clip.

    .venv/bin/python benchmarks/data_build.py [--pieces 4] [--out benchmarks/results]

Writes ``data_build.json`` and ``data_build.md`` to ``--out``. CPU seconds (``time.process_time``) are reported next to
wall seconds because a shared machine inflates wall time; the 2,000-clip estimate uses CPU seconds per clip divided by
the number of cores (the build parallelises over pieces with no shared state).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

PROGRAMS = ("organ", "strings", "piano", "choir", "flute", "clarinet", "brass", "harpsichord")


def _synthesis(pieces, backends) -> dict:
    from tempo_kit.data import PROGRAMS as GM
    from tempo_kit.data import Renderer, load_notes

    notes = [load_notes(p) for p in pieces]
    seconds = sum(n.duration + 1.0 for n in notes)  # + the 1 s release tail
    out = {}
    for backend in backends:
        renderer = Renderer(backend=backend)
        renderer.render(notes[0], program=0)  # warm-up (soundfont sample loading)
        rows = {}
        for program in PROGRAMS:
            wall, cpu = time.perf_counter(), time.process_time()
            for n in notes:
                renderer.render(n, program=GM[program])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows[program] = {"x_realtime_wall": seconds / wall,
                             # the CLI renders in a child process: its CPU time is not this process's
                             "x_realtime_cpu": seconds / cpu if backend == "pyfluidsynth" else None}
        out[backend] = {"audio_seconds_per_program": seconds, "programs": rows,
                        "x_realtime_wall_mean": sum(r["x_realtime_wall"] for r in rows.values()) / len(rows)}
    return out


def _pipeline(n_pieces: int, workers: int, root: Path) -> dict:
    import resource

    from tempo_kit.data import build_dataset

    out = root / f"workers{workers}"
    wall, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = build_dataset(out, collections=("bach", "essen"), programs=PROGRAMS, max_pieces=n_pieces,
                           clips_per_piece=4, programs_per_piece=2, workers=workers, progress=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu + (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    wall = time.perf_counter() - wall
    shards = list((out / "shards").rglob("*.safetensors"))
    disk = sum(p.stat().st_size for p in shards) + (out / "manifest.jsonl").stat().st_size
    return {"workers": workers, "pieces": 2 * n_pieces, "clips": report.clips, "wall_seconds": wall,
            "cpu_seconds": cpu, "wall_seconds_per_clip": wall / report.clips,
            "cpu_seconds_per_clip": cpu / report.clips,
            "audio_x_realtime_in_fluidsynth": report.realtime_factor, "disk_bytes_per_clip": disk / report.clips,
            "units_skipped": report.units_skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=4, help="pieces per collection (bach, essen) for the pipeline")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    from tempo_kit.data import list_pieces
    from tempo_kit.data.build import CLIP_SAMPLES

    synth_pieces = [list_pieces("bach")[i] for i in (0, 2)] + [list_pieces("essen")[i] for i in (0, 2)]
    backends = ["pyfluidsynth", "cli"] if shutil.which("fluidsynth") else ["pyfluidsynth"]
    results = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                           "load_average_at_start": list(os.getloadavg())},
               "synthesis": _synthesis(synth_pieces, backends)}
    with tempfile.TemporaryDirectory() as tmp:
        results["pipeline"] = [_pipeline(args.pieces, w, Path(tmp)) for w in (1, 2)]
    one = results["pipeline"][0]
    results["estimate_2000_clips_on_2_cores_minutes"] = 2000 * one["cpu_seconds_per_clip"] / 2 / 60
    results["disk"] = {"bytes_per_clip": one["disk_bytes_per_clip"], "audio_int16_bytes": 2 * CLIP_SAMPLES,
                       "mel_float16_bytes": 2 * 80 * 256}
    results["machine"]["load_average_at_end"] = list(os.getloadavg())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "data_build.json").write_text(json.dumps(results, indent=2))
    syn = results["synthesis"]
    lines = ["# Dataset builder: speed and size", "",
             f"Machine: {results['machine']['platform']}, {results['machine']['cpu_count']} cores, load average "
             f"{results['machine']['load_average_at_start'][0]:.1f} at start (wall times on a shared machine are "
             "pessimistic; CPU times are not).", "",
             "## FluidSynth synthesis (x real time, 22.05 kHz, TimGM6mb, 2 chorales + 2 folk songs per program)", "",
             "| program | " + " | ".join(f"{b} wall" for b in syn) + " | pyfluidsynth CPU |",
             "|---|" + "---|" * (len(syn) + 1)]
    for program in PROGRAMS:
        cells = [f"{syn[b]['programs'][program]['x_realtime_wall']:.0f}x" for b in syn]
        lines.append(f"| {program} | " + " | ".join(cells) +
                     f" | {syn['pyfluidsynth']['programs'][program]['x_realtime_cpu']:.0f}x |")
    if "cli" in syn:
        lines += ["", f"pyfluidsynth / CLI wall-speed ratio (mean over programs): "
                      f"{syn['pyfluidsynth']['x_realtime_wall_mean'] / syn['cli']['x_realtime_wall_mean']:.2f}"]
    lines += ["", "## Whole pipeline (parse, render 2 programs per piece, cut up to 4 clips, mel, write)", "",
              "| workers | pieces | clips | wall s | CPU s | wall s / clip | CPU s / clip | bytes / clip |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results["pipeline"]:
        lines.append(f"| {r['workers']} | {r['pieces']} | {r['clips']} | {r['wall_seconds']:.1f} | "
                     f"{r['cpu_seconds']:.1f} | {r['wall_seconds_per_clip']:.2f} | {r['cpu_seconds_per_clip']:.2f} | "
                     f"{r['disk_bytes_per_clip'] / 1e3:.0f} kB |")
    lines += ["", f"Estimate for 2,000 clips on 2 idle cores: "
                  f"{results['estimate_2000_clips_on_2_cores_minutes']:.1f} min (CPU s per clip x 2000 / 2).",
              f"Disk per clip: {one['disk_bytes_per_clip'] / 1e3:.0f} kB (int16 audio {2 * CLIP_SAMPLES / 1e3:.0f} kB, "
              f"float16 mel {2 * 80 * 256 / 1e3:.0f} kB, pitch and manifest the rest); 2,000 clips: "
              f"{2000 * one['disk_bytes_per_clip'] / 1e6:.0f} MB.", ""]
    (out / "data_build.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
