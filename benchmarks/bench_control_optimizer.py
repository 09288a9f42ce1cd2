"""Where the optimiser moves the noise: Adam against SampleAdam on the painting tasks.

The painting objectives read only some frames of the output (outpainting: the first second; inpainting: a second at
each end). Adam scales every coordinate's step by that coordinate's own gradient history, so a noise coordinate the
objective barely reads still moves by about ``lr`` per step; :class:`tempo_kit.control.ditto.SampleAdam` keeps one
second moment per sample, so such a coordinate moves in proportion to its small gradient. On ``--clips`` targets of
``--split`` (default the training split: the validation targets of ``bench_control_lr.py``) each surrogate of
``--surrogates`` runs DITTO-2 in one step (``M = T = 1``, ``reproduce.py``'s K, ``--lr``, the norm projection) with
both optimisers from the same noise, and without optimisation (*uncontrolled*: the same noise decoded). Reported per
task and surrogate: the control metric (mel MSE on the read frames), FAD on mel statistics of the whole output, of the frames the objective reads and of the frames it does not
(each against the same frames of every clip of the split; biased upwards at this n, compare within a row group), and
the RMS displacement of the noise on each part (``eps_opt - eps``). The plot shows the displacement along the clip.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_control_optimizer.py`` (a few minutes on one core). Writes
``benchmarks/results/control_optimizer.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
from _report import add_output_options, write_results  # noqa: E402
import reproduce as R  # noqa: E402
from bench_control_lr import split_targets  # noqa: E402
from tempo_kit.control.ditto import OPTIMIZERS  # noqa: E402

TASKS = ("outpainting", "inpainting")


def run(data: Path, *, tasks, surrogates, clips: int, lr: float, split: str = "train", seed: int = 0) -> dict:
    from tempo_kit.control import DITTO2
    from tempo_kit.data import MusicDataset
    from tempo_kit.metrics import frechet_distance, mel_statistics

    bundle = R.load_bundle(data, independent=False)
    idx, batch, cond = split_targets(bundle, data, clips, split)
    reference = MusicDataset(data, split=split).mel.float()
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for task in tasks:
        objectives = R.build_task(task, batch, bundle.mel)
        read = objectives[0].extractor.gen_mask.bool()  # (frames,): the output frames the objective reads
        parts = {"all": torch.ones_like(read), "read": read, "unread": ~read}
        for name in surrogates:
            for optimizer in ("uncontrolled", *OPTIMIZERS):
                K = 0 if optimizer == "uncontrolled" else R.PAPER_ITERATIONS[task]  # K = 0: the noise decoded
                ditto2 = DITTO2(iterations=K, lr=lr, decode_steps=1, norm_prior="project",
                                optimizer="adam" if K == 0 else optimizer, progress=False)
                r = ditto2(bundle.surrogates[name], objectives, eps=eps, cond=cond,
                           generator=torch.Generator().manual_seed(seed + 1))
                moved = (r.eps - eps).pow(2).mean((0, 1)).sqrt()  # (frames,): RMS displacement over clips and bins
                rows.append({"task": task, "surrogate": name, "optimizer": optimizer,
                             "metric": statistics.mean(R.control_metric(task, objectives[0], r.output)),
                             **{f"fad_{p}": frechet_distance(mel_statistics(r.output[..., m]),
                                                             mel_statistics(reference[..., m]))
                                for p, m in parts.items()},
                             **{f"moved_{p}": float(moved[m].pow(2).mean().sqrt()) for p, m in parts.items()
                                if p != "all"},
                             "moved_per_frame": moved.tolist(), "read": read.tolist()})
                print({k: v for k, v in rows[-1].items() if k not in ("moved_per_frame", "read")}, flush=True)
    return {"rows": rows, "clips": idx.tolist(), "split": split, "lr": lr, "seed": seed,
            "frame_rate": bundle.mel.frame_rate}


def markdown(result: dict, plot: str | None = None) -> str:
    git = result["git"]
    lines = ["# Where the optimiser moves the noise: Adam and SampleAdam on the painting tasks", "",
             f"Commit `{(git['commit'] or 'unknown')[:10]}`{' (dirty)' if git['dirty'] else ''}; "
             f"{len(result['clips'])} {'training-split (validation)' if result['split'] == 'train' else 'held-out'} "
             f"targets, seed {result['seed']}; DITTO-2 in one step (M = T = 1), K as in reproduce.py, lr "
             f"{result['lr']:g}, norm projection; `benchmarks/bench_control_optimizer.py`.", "",
             "Control: mel MSE on the frames the objective reads (lower is better). FAD mel of the whole output, of "
             "the frames the objective reads and of those it does not, each against the same frames of every clip "
             "of the split (biased upwards at this n; compare within a task and surrogate). Moved: RMS of "
             "`eps_opt - eps` over the noise coordinates of those frames (a fresh standard normal draw: 1.41).", "",
             "| task | surrogate | optimizer | control | FAD mel all | FAD mel read | FAD mel unread | moved read | "
             "moved unread |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['task']} | {r['surrogate'].upper()} | {r['optimizer']} | {r['metric']:.4g} | "
                     f"{r['fad_all']:.3g} | {r['fad_read']:.3g} | {r['fad_unread']:.3g} | {r['moved_read']:.3f} | "
                     f"{r['moved_unread']:.3f} |")
    if plot:
        lines += ["", f"![RMS displacement of the noise along the clip]({plot})"]
    return "\n".join(lines + [""])


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys((r["task"], r["surrogate"]) for r in result["rows"]))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False, sharey=True)
    for ax, (task, name) in zip(axes[0], keys):
        rows = [r for r in result["rows"] if (r["task"], r["surrogate"]) == (task, name)]
        for i in torch.nonzero(torch.tensor(rows[0]["read"])).flatten().tolist():  # the frames read, shaded
            ax.axvspan(i / result["frame_rate"], (i + 1) / result["frame_rate"], color="0.9", lw=0)
        for r in rows:
            if r["optimizer"] != "uncontrolled":
                t = torch.arange(len(r["moved_per_frame"])) / result["frame_rate"]
                ax.plot(t, r["moved_per_frame"], label=r["optimizer"])
        ax.set(title=f"{task}, {name.upper()}", xlabel="time (s)")
    axes[0][0].set_ylabel("RMS of eps_opt - eps")
    axes[0][0].legend(title="grey: frames read")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(R.ROOT / "outputs" / "data" / "music"))
    parser.add_argument("--clips", type=int, default=16, help="targets (at least 2, for an FAD)")
    parser.add_argument("--split", choices=("train", "heldout"), default="train")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--surrogates", nargs="+", default=["presto-s", "ctm"])
    parser.add_argument("--lr", type=float, default=0.05)
    add_output_options(parser, "control_optimizer")
    args = parser.parse_args(argv)
    if args.clips < 2:
        parser.error(f"--clips must be at least 2 (an FAD needs two clips), got {args.clips}")
    torch.set_num_threads(args.threads)
    result = Q.run_at_commit(run, Path(args.data), tasks=args.tasks, surrogates=args.surrogates, clips=args.clips,
                             lr=args.lr, split=args.split)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(result, out / f"{args.name}.png")
    write_results(out, args.name, result, markdown(result, f"{args.name}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
