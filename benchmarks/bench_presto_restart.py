"""Where a few-step Presto-S sample loses quality: re-noising, or the student's jump from the re-noised sample?

On ``n`` training-split clips (validation, as ``bench_presto_levels.py``) each row re-noises a finished sample to one
level ``s`` with fresh noise and ends it again, either with the teacher's probability-flow ODE (20 Heun steps on a
Karras grid from ``s``) or with the student's jump from ``s``. If the teacher's ODE from the re-noised sample keeps the
teacher's FAD but the jump does not, the loss is the student's jump at that level, not re-noising as such.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_presto_restart.py --threads 2 [--student DIR]``
(about 10 min). Writes ``presto_restart.{json,md}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from _report import add_output_options, write_results  # noqa: E402
from bench_presto_levels import Validation  # noqa: E402
from bench_quality import DATA  # noqa: E402


def run(student: str, *, n_clips: int, levels, data=DATA, seed: int = 7, n_boot: int = 200) -> dict:
    from tempo_kit.jumps import ConsistencyJump
    from tempo_kit.models.io import file_sha256, load_denoiser
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.registry import get
    from tempo_kit.schedules import karras_sigmas

    v = Validation(n_clips, data=data, seed=seed)
    renoise = torch.randn(v.eps.shape, generator=torch.Generator().manual_seed(seed + 100))
    heun, presto = get("samplers", "heun"), get("samplers", "presto-s")
    teacher = load_pretrained("teacher")
    jump = ConsistencyJump(denoiser=load_denoiser(student)).eval().requires_grad_(False)
    score = v.ruler.score
    vocab = v.vocabulary(student)

    def student_sample(sigmas, start=None):
        return v.generate(jump, presto, sigmas, start, vocabulary=vocab)

    x_teacher = v.generate(teacher, heun, heun.schedule.sigmas(40))
    x_one = student_sample([80.0, 0.0])
    stats = {"teacher, 40 Heun steps": score(x_teacher), "student, 1 step": score(x_one),
             "student, 4 steps (default levels)": score(student_sample(presto.schedule.sigmas(4)))}
    for s in levels:
        ode = karras_sigmas(20, sigma_min=0.002, sigma_max=s)
        # generate() starts from sigmas[0] * start, so x + s * renoise is passed as x / s + renoise
        stats[f"teacher sample, re-noised to {s:g}, teacher ODE"] = score(v.generate(teacher, heun, ode,
                                                                                      x_teacher / s + renoise))
        stats[f"1-step sample, re-noised to {s:g}, teacher ODE"] = score(v.generate(teacher, heun, ode,
                                                                                    x_one / s + renoise))
        stats[f"1-step sample, re-noised to {s:g}, student jump"] = score(student_sample([s, 0.0], x_one / s + renoise))
        print(f"level {s:g} done", flush=True)
    fads, env = v.compare(stats, teacher="teacher, 40 Heun steps", n_boot=n_boot, student=student,
                          student_sha256=file_sha256(Path(student) / "model.safetensors"))
    return {"environment": env, "fad": fads}


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = ["# Re-noising a finished sample: the teacher's ODE against the student's jump", "",
             f"{env['n']} training-split clips (validation, stratified by tag set), student `{env['student']}`, seed "
             f"{env['seed']}, commit `{(env.get('commit') or '?')[:10]}`. FAD [95% interval] and ratio to the 40-step "
             "teacher on the same clips [95% interval]. Produced by `benchmarks/bench_presto_restart.py`.", "",
             "| row | FAD CREPE | ratio | FAD mel | ratio |", "|---|---|---|---|---|"]
    for name, cell in result["fad"].items():
        lines.append(f"| {name} | {Q.fmt_cell(cell['crepe'])} | {Q.fmt_cell(cell['crepe'], 'ratio')} | "
                     f"{Q.fmt_cell(cell['mel'])} | {Q.fmt_cell(cell['mel'], 'ratio')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", default="tempo_kit/weights/presto-s")
    p.add_argument("--n-clips", type=int, default=128)
    p.add_argument("--levels", type=float, nargs="+", default=[0.47, 1.4, 9.72])
    add_output_options(p, "presto_restart")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run(args.student, n_clips=args.n_clips, levels=args.levels)
    write_results(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
