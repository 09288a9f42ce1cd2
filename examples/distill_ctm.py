"""Train an EDM teacher on a 2-D ring, distill it with DITTO-2's CTM recipe, sample with gamma-sampling.

    .venv/bin/python examples/distill_ctm.py [--out runs/example_ctm] [--steps 1500]

Prints the energy distance to the data of the teacher's 40-step Heun samples and of the student's gamma-sampling
(gamma = 0.2) samples (the teacher used as a 1-step jump is the "before" row). The ring is unconditional, so no CFG
weight is distilled (``w_range=None``); for a conditional teacher build it with ``w_embedding=True`` and keep the
default range.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import tempo_kit
from tempo_kit.jumps import ConsistencyJump, EulerJump
from tempo_kit.models import load_denoiser
from tempo_kit.toy import GaussianMixture, energy_distance
from tempo_kit.training import distill

RING = GaussianMixture.ring()


def sample(model, sampler, steps, n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tempo_kit.get("samplers", sampler)(model, 80 * torch.randn(n, 2, generator=g), steps, generator=g)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example_ctm")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    out = Path(args.out)
    data = RING.sample(2000, generator=torch.Generator().manual_seed(1))
    distill("edm", {"train": {"steps": args.steps, "batch_size": 256, "out_dir": str(out / "edm")},
                    "model": {"model": "block-mlp", "width": 128, "depth": 4}, "recipe_args": {"lr": 2e-3}})
    teacher = load_denoiser(out / "edm" / "student")
    distill("ctm", {"train": {"steps": args.steps // 2, "batch_size": 256, "out_dir": str(out / "ctm")},
                   "recipe_args": {"teacher": str(out / "edm" / "student"), "w_range": None, "lr": 1e-4}})
    student = EulerJump(denoiser=load_denoiser(out / "ctm" / "student"))
    rows = [("teacher, 40-step Heun", energy_distance(sample(teacher, "heun", 40), data)),
            ("teacher as 1-step jump", energy_distance(sample(ConsistencyJump(denoiser=teacher), "cm", 1), data))]
    rows += [(f"CTM student, {k}-step", energy_distance(sample(student, "ctm-gamma", k), data)) for k in (1, 2, 4)]
    for name, ed in rows:
        print(f"{name:26s} energy distance {float(ed):.4f}")


if __name__ == "__main__":
    main()
