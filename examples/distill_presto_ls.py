"""Presto-LS on a 2-D ring: EDM teacher -> Presto-L layer distillation -> Presto-S on the layer-distilled model.

    .venv/bin/python examples/distill_presto_ls.py [--out runs/example_presto_ls] [--steps 1500]

The generator starts from the Presto-L student and keeps its layer router (fewer blocks at high noise); the real
score is the original full-depth teacher and the fake score starts from it. Prints energy distances to the data and
the blocks / wall-clock time of a 4-step sample relative to a Presto-S generator of full depth.
"""

from __future__ import annotations

import time
from pathlib import Path

from _ring_common import RING_DATA, parser, ring_samples, sample, train_teacher

import tempo_kit
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import load_denoiser
from tempo_kit.testing.toy import energy_distance
from tempo_kit.training import distill


def seconds(model, steps=4, repeat=20):
    sample(model, "presto-s", steps, n=256)
    start = time.perf_counter()
    for _ in range(repeat):
        sample(model, "presto-s", steps, n=256)
    return (time.perf_counter() - start) / repeat


def blocks(denoiser, steps=4):
    router = getattr(denoiser.net, "router", None)
    sigmas = tempo_kit.get("samplers", "presto-s").sigmas(steps)[:-1]  # the levels sample() uses
    depth = getattr(denoiser.net, "num_blocks")
    return steps * depth if router is None else int(router.budgets(sigmas, depth).sum())


def main():
    args = parser(__doc__, "runs/example_presto_ls").parse_args()
    out = Path(args.out)
    data = ring_samples()
    train = {"batch_size": 256}
    teacher_dir, layers_dir = str(train_teacher(out, args.steps, depth=6)), str(out / "presto_l" / "student")
    distill("presto-l", {"data": RING_DATA, "train": {**train, "steps": args.steps // 2, "out_dir": str(out / "presto_l")},
                         "recipe_args": {"teacher": teacher_dir, "lr": 1e-3}})
    students = {}
    for name, args_ in (("presto-s", {}), ("presto-ls", {"layer_student": layers_dir})):
        run = out / name.replace("-", "_")
        distill(name, {"data": RING_DATA, "train": {**train, "steps": args.steps, "ema_decay": 0.99, "out_dir": str(run)},
                       "recipe_args": {"teacher": teacher_dir, "lr_generator": 5e-4, "lr_fake": 5e-4, **args_}})
        students[name] = load_denoiser(run / "student_ema")
    teacher = load_denoiser(teacher_dir)
    print(f"teacher, 40-step Heun: energy distance {float(energy_distance(sample(teacher, 'heun', 40), data)):.4f}")
    full = ConsistencyJump(denoiser=students["presto-s"])
    for name, den in students.items():
        jump = ConsistencyJump(denoiser=den)
        ed = {k: float(energy_distance(sample(jump, "presto-s", k), data)) for k in (1, 4)}
        print(f"{name:10s} 1-step {ed[1]:.4f}  4-step {ed[4]:.4f}  blocks per 4-step sample {blocks(den)}  "
              f"latency vs presto-s {seconds(jump) / seconds(full):.2f}")


if __name__ == "__main__":
    main()
