"""Train an EDM teacher on a 2-D ring, then layer-distill it with ASE and Presto-L; compare samples and block counts.

    .venv/bin/python examples/distill_layers_ring.py [--out runs/example_layers] [--steps 1500]

Prints the energy distance of 40-step Heun samples to the data for the full teacher, for the teacher run with each
router before fine-tuning, and after; plus the fraction of blocks each sampler pass executes. Saves a scatter plot.
"""

from __future__ import annotations

from pathlib import Path

import torch
from _ring_common import RING_DATA, parser, ring_samples, sample, train_teacher

import tempo_kit
from tempo_kit.routers import RoutedNet
from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import load_denoiser
from tempo_kit.testing.toy import energy_distance
from tempo_kit.training import distill


def heun(denoiser):
    with torch.no_grad():
        return sample(denoiser, "heun", 40)


def block_fraction(router, depth, steps=40):
    sigmas = tempo_kit.KarrasSchedule().sigmas(steps)[:-1]
    return float(router.budgets(sigmas, depth).float().mean() / depth)


def main():
    args = parser(__doc__, "runs/example_layers").parse_args()
    out = Path(args.out)
    data = ring_samples()
    train = {"batch_size": 256, "progress": True}
    teacher_dir = train_teacher(out, args.steps, depth=6, progress=True)
    teacher = load_denoiser(teacher_dir)
    rows = [("teacher (6 blocks)", energy_distance(heun(teacher), data).item(), 1.0)]
    samples = {"teacher": heun(teacher)}
    for name in ("ase", "presto-l"):
        router = tempo_kit.get("routers", name)
        before = EDMPrecond(net=RoutedNet(net=teacher.net, router=router))
        distill(name, {"data": RING_DATA, "train": {**train, "steps": args.steps // 2, "out_dir": str(out / name)},
                       "recipe_args": {"teacher": str(teacher_dir), "lr": 1e-3}})
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
