"""How well a denoiser fits the music data, and whether it memorises it, for each model (a bundled name or a saved
folder).

1. the EDM-weighted denoising loss ``lambda(sigma) |D(x0 + sigma eps, sigma) - x0|^2`` at fixed noise levels on
   held-out and on training clips (the same number of each, the same noise): a model that fits better has lower
   held-out loss, and a held-out loss that climbs above the training loss says it has started to memorise;
2. memorisation of its samples: for ``n`` clips sampled with 40 Heun steps from the held-out clips' tags, the distance
   (root mean square over the mel bins and frames) to the nearest training clip, against the same distance for the
   held-out clips themselves (real music the model never saw). Samples much nearer the training clips than the
   held-out clips are would be copies.

Writes ``teacher_fit.{json,md}`` to ``--out``. Run:
``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_teacher_fit.py teacher tempo_kit/weights/teacher-long``
(about two minutes per model at 2 threads).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from _report import environment, write_report  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1] / "outputs" / "data" / "music"
LEVELS = (0.02, 0.05, 0.13, 0.35, 1.0, 2.5, 8.0, 30.0)


def denoising_loss(model, x0: torch.Tensor, cond: dict, *, levels=LEVELS, seed: int = 1) -> list[float]:
    """EDM-weighted DSM loss (the training loss, :func:`~tempo_kit.training.recipes.edm.dsm_loss`) of ``model`` on
    clips ``x0`` at each noise level (one noise draw per level)."""
    from tempo_kit.training.recipes.edm import dsm_loss

    sigma_data = float(getattr(model, "sigma_data", 0.5))
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.inference_mode():
        for s in levels:
            sigma = torch.full((len(x0),), s)
            noisy = x0 + s * torch.randn(x0.shape, generator=gen)
            out.append(float(dsm_loss(model(noisy, sigma, cond), x0, sigma, sigma_data)))
    return out


def nearest_distance(clips: torch.Tensor, train: torch.Tensor, *, chunk: int = 256) -> torch.Tensor:
    """RMS distance of each clip ``(n, mels, frames)`` to its nearest training clip ``(m, mels, frames)``."""
    a = clips.flatten(1).double()
    best = torch.full((len(a),), float("inf"), dtype=torch.float64)
    for part in train.split(chunk):
        best = torch.minimum(best, torch.cdist(a, part.flatten(1).double()).min(1).values)
    return best / a.shape[1] ** 0.5


def run(models: list[str], *, data: str | Path = DATA, n: int = 96, seed: int = 0) -> dict:
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.pipeline import tag_conditions
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.samplers import EDMSampler
    from tempo_kit.schedules import karras_sigmas

    code = Q.git_commit()
    held, train = MusicDataset(data, split="heldout"), MusicDataset(data, split="train")
    gen = torch.Generator().manual_seed(seed)
    pick = {"heldout": torch.randperm(len(held), generator=gen)[:n], "train": torch.randperm(len(train), generator=gen)[:n]}
    sets = {"heldout": held, "train": train}
    train_mel = train.mel.float()
    real = nearest_distance(held.mel[pick["heldout"]].float(), train_mel)
    sigmas = karras_sigmas(40)
    x_T = float(sigmas[0]) * torch.randn(n, *held.mel.shape[1:], generator=torch.Generator().manual_seed(seed + 1))
    rows = []
    for name in models:
        model = load_pretrained(name)
        row = {"model": name, "levels": list(LEVELS)}
        conds = {split: tag_conditions([sets[split].records[int(i)]["tags"] for i in idx], model=name)
                 for split, idx in pick.items()}
        for split, idx in pick.items():
            row[f"dsm_{split}"] = denoising_loss(model, sets[split].mel[idx].float(), conds[split])
        cond = conds["heldout"]
        with torch.inference_mode():
            samples = EDMSampler()(model, x_T, sigmas, cond=cond)
        dist = nearest_distance(samples, train_mel)
        row.update(nearest_train=float(dist.median()), nearest_train_q10=float(dist.quantile(0.1)),
                   nearest_train_min=float(dist.min()))
        rows.append(row)
        print(f"{name}: held-out DSM {row['dsm_heldout']}, nearest training clip {row['nearest_train']:.3f}", flush=True)
    env = environment(**code, data=Q.repo_path(data), n=n, seed=seed, weights_sha256={
        m: h for m, h in Q.weights_hashes(models).items()})
    return {"environment": env, "rows": rows, "real": {"nearest_train": float(real.median()),
                                                         "nearest_train_q10": float(real.quantile(0.1)),
                                                         "nearest_train_min": float(real.min())}}


def markdown(result: dict) -> list[str]:
    env, rows, real = result["environment"], result["rows"], result["real"]
    commit = f"`{env['commit'][:10]}`{' (with uncommitted changes)' if env.get('dirty') else ''}"
    levels = rows[0]["levels"]
    lines = ["# How well the teachers fit the music, and whether they memorise it", "",
             f"{env['n']} held-out and {env['n']} training clips, seed {env['seed']}, git commit {commit}, "
             f"{env['date']}. Produced by `benchmarks/bench_teacher_fit.py`.", "",
             "EDM-weighted denoising loss (lower is better; one noise draw per clip and level, the same for every "
             "model) on held-out and training clips. The two sets hold different clips, so their losses differ even "
             "for a model that fits both alike; a model whose held-out loss rises above its training loss by more "
             "than another's has begun to memorise.", "",
             "| model | clips | " + " | ".join(f"sigma {s:g}" for s in levels) + " |",
             "|---|---|" + "---|" * len(levels)]
    for r in rows:
        for split in ("heldout", "train"):
            lines.append(f"| {r['model']} | {split} | " + " | ".join(f"{v:.4f}" for v in r[f"dsm_{split}"]) + " |")
    lines += ["", "Distance (RMS over mel bins and frames, model units) from each clip to its nearest training clip: "
              "samples (40 Heun steps from the held-out clips' tags) against the held-out clips themselves (real music "
              "the models never saw). Samples that sat much nearer the training clips than those would be copies.", "",
              "| clips | median | 10th percentile | nearest |", "|---|---|---|---|",
              f"| real held-out clips | {real['nearest_train']:.3f} | {real['nearest_train_q10']:.3f} | "
              f"{real['nearest_train_min']:.3f} |"]
    lines += [f"| samples of {r['model']} | {r['nearest_train']:.3f} | {r['nearest_train_q10']:.3f} | "
              f"{r['nearest_train_min']:.3f} |" for r in rows]
    return lines + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="bundled denoiser names or saved denoiser folders")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--n", type=int, default=96, help="clips per split (default 96)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be at least 2, got {args.n}")
    result = run(args.models, data=args.data, n=args.n, seed=args.seed)
    lines = markdown(result)
    write_report(Path(args.out) / "teacher_fit", result["environment"], result["rows"], lines, real=result["real"])
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
