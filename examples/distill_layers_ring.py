"""Train an EDM teacher on a 2-D ring, then layer-distill it with ASE and Presto-L; compare samples and block counts.

    .venv/bin/python examples/distill_layers_ring.py [--out runs/example_layers] [--steps 1500]

Prints the energy distance of 40-step Heun samples to the data for the full teacher, for the teacher run with each
router before fine-tuning, and after; plus the fraction of blocks each sampler pass executes. Saves a scatter plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import tempo_kit
from tempo_kit.routers import RoutedNet
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import load_denoiser
from tempo_kit.toy import GaussianMixture, energy_distance
from tempo_kit.training import distill

RING_DATA = {"name": "mixture"}  # the 2-D toy ring (tempo_kit.toy.GaussianMixture.ring)

RING = GaussianMixture.ring()


def heun(denoiser, n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return tempo_kit.get("samplers", "heun")(denoiser, 80 * torch.randn(n, 2, generator=g), 40, generator=g)


def block_fraction(router, depth, steps=40):
    sigmas = tempo_kit.KarrasSchedule().sigmas(steps)[:-1]
    return float(router.budgets(sigmas, depth).float().mean() / depth)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example_layers")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    out = Path(args.out)
    data = RING.sample(2000, generator=torch.Generator().manual_seed(1))
    train = {"batch_size": 256, "progress": True}
    distill("edm", {"data": RING_DATA, "train": {**train, "steps": args.steps, "out_dir": str(out / "edm")},
                    "model": {"model": "block-mlp", "width": 128, "depth": 6}, "recipe_args": {"lr": 2e-3}})
    teacher = load_denoiser(out / "edm" / "student")
    rows = [("teacher (6 blocks)", energy_distance(heun(teacher), data).item(), 1.0)]
    samples = {"teacher": heun(teacher)}
    for name in ("ase", "presto-l"):
        router = tempo_kit.get("routers", name)
        before = EDMPrecond(net=RoutedNet(net=teacher.net, router=router))
        distill(name, {"data": RING_DATA, "train": {**train, "steps": args.steps // 2, "out_dir": str(out / name)},
                       "recipe_args": {"teacher": str(out / "edm" / "student"), "lr": 1e-3}})
        after = load_denoiser(out / name / "student")
        frac = block_fraction(router, teacher.net.num_blocks)
        rows.append((f"{name} before fine-tuning", energy_distance(heun(before), data).item(), frac))
        samples[name] = heun(after)
        rows.append((f"{name} after fine-tuning", energy_distance(samples[name], data).item(), frac))
    print(f"{'model':28s} {'energy distance':>16s} {'blocks run':>11s}")
    for name, ed, frac in rows:
        print(f"{name:28s} {ed:16.4f} {frac:11.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), sharex=True, sharey=True)
    for ax, (name, x) in zip(axes, samples.items()):
        ax.scatter(data[:, 0], data[:, 1], s=1, c="lightgray")
        ax.scatter(x[:, 0], x[:, 1], s=1)
        ax.set_title(name)
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
    fig.tight_layout()
    fig.savefig(out / "layers.png", dpi=100)
    print(f"plot: {out / 'layers.png'}")


if __name__ == "__main__":
    main()
