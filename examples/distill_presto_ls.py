"""Presto-LS on a 2-D ring: EDM teacher -> Presto-L layer distillation -> Presto-S on the layer-distilled model.

    .venv/bin/python examples/distill_presto_ls.py [--out runs/example_presto_ls] [--steps 1500]

The generator starts from the Presto-L student and keeps its layer router (fewer blocks at high noise); the real
score is the original full-depth teacher and the fake score starts from it. Prints energy distances to the data and
the blocks / wall-clock time of a 4-step sample relative to a Presto-S generator of full depth.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import tempo_kit
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import load_denoiser
from tempo_kit.toy import GaussianMixture, energy_distance
from tempo_kit.training import distill

RING_DATA = {"name": "mixture"}  # the 2-D toy ring (tempo_kit.toy.GaussianMixture.ring)

RING = GaussianMixture.ring()


def sample(model, sampler, steps, n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tempo_kit.get("samplers", sampler)(model, 80 * torch.randn(n, 2, generator=g), steps, generator=g)


def seconds(model, steps=4, repeat=20):
    sample(model, "presto-s", steps, n=256)
    start = time.perf_counter()
    for _ in range(repeat):
        sample(model, "presto-s", steps, n=256)
    return (time.perf_counter() - start) / repeat


def blocks(denoiser, steps=4):
    router = getattr(denoiser.net, "router", None)
    sigmas = tempo_kit.KarrasSchedule().sigmas(steps)[:-1]
    depth = getattr(denoiser.net, "num_blocks")
    return steps * depth if router is None else int(router.budgets(sigmas, depth).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example_presto_ls")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    out = Path(args.out)
    data = RING.sample(2000, generator=torch.Generator().manual_seed(1))
    train = {"batch_size": 256}
    teacher_dir, layers_dir = str(out / "edm" / "student"), str(out / "presto_l" / "student")
    distill("edm", {"data": RING_DATA, "train": {**train, "steps": args.steps, "out_dir": str(out / "edm")},
                    "model": {"model": "block-mlp", "width": 128, "depth": 6}, "recipe_args": {"lr": 2e-3}})
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
