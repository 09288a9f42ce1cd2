"""Train an EDM teacher on a 2-D ring, distill it with Presto-S (continuous-time DMD2 + GAN head), sample in 1-4 steps.

    .venv/bin/python examples/distill_presto_s.py [--out runs/example_presto_s] [--steps 1500]

Prints the energy distance to the data of the teacher's 40-step Heun samples and of the generator's "presto-s"
multistep samples (the teacher used as a 1-step jump is the "before" row). Presto's own learning rate (5e-7) is for a
large DiT; the toy uses 5e-4 and keeps an evaluation EMA of the generator (``ema_decay``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import tempo_kit
from tempo_kit.jumps import ConsistencyJump
from tempo_kit.models import load_denoiser
from tempo_kit.toy import GaussianMixture, energy_distance
from tempo_kit.training import distill

RING = GaussianMixture.ring()


def sample(model, sampler, steps, n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tempo_kit.get("samplers", sampler)(model, 80 * torch.randn(n, 2, generator=g), steps, generator=g)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example_presto_s")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    out = Path(args.out)
    data = RING.sample(2000, generator=torch.Generator().manual_seed(1))
    distill("edm", {"train": {"steps": args.steps, "batch_size": 256, "out_dir": str(out / "edm")},
                    "model": {"model": "block-mlp", "width": 128, "depth": 4}, "recipe_args": {"lr": 2e-3}})
    teacher = load_denoiser(out / "edm" / "student")
    distill("presto-s", {"train": {"steps": args.steps, "batch_size": 256, "ema_decay": 0.99,
                                   "out_dir": str(out / "presto_s")},
                         "recipe_args": {"teacher": str(out / "edm" / "student"), "lr_generator": 5e-4,
                                         "lr_fake": 5e-4}})
    generator = ConsistencyJump(denoiser=load_denoiser(out / "presto_s" / "student_ema"))
    rows = [("teacher, 40-step Heun", energy_distance(sample(teacher, "heun", 40), data)),
            ("teacher as 1-step jump", energy_distance(sample(ConsistencyJump(denoiser=teacher), "presto-s", 1), data))]
    rows += [(f"Presto-S, {k}-step", energy_distance(sample(generator, "presto-s", k), data)) for k in (1, 2, 4)]
    for name, ed in rows:
        print(f"{name:26s} energy distance {float(ed):.4f}")


if __name__ == "__main__":
    main()
