"""Keeping the optimised noise on the Gaussian shell: DITTO-2 with no norm prior, the penalty, and the projection.

On the held-out targets of ``reproduce.py`` (``--clips``, one batch) DITTO-2 on the CTM at the pipeline defaults
(optimised through the 2-step decode) runs each task of ``--tasks`` with ``norm_prior`` None, ``"penalty"`` (weight
``--prior-weight``) and ``"project"``, at ``reproduce.py``'s K and the CTM's learning rate, optimizer and decode level
of its full preset. Reported: the control metric
(mean over the targets), FAD mel against all held-out clips (biased upwards at this n; compare within a task), and the
mean square of the optimised noise (1 on the shell a standard normal draw lives on).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_norm_prior.py`` (a few minutes on one core). Writes
``benchmarks/results/norm_prior.{json,md}`` (``--split train``: ``norm_prior_validation.*``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
from _report import write_results  # noqa: E402
import reproduce as R  # noqa: E402
from bench_control_lr import split_targets  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PRIORS = (None, "penalty", "project")


def run(data: Path, *, tasks, clips: int, prior_weight: float, split: str = "heldout", seed: int = 0) -> dict:
    from tempo_kit.control import DITTO2

    bundle = R.load_bundle(data, independent=False)
    idx, batch, cond = split_targets(bundle, data, clips, split)
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for task in tasks:
        objectives = R.build_task(task, batch, bundle.mel)
        for prior in PRIORS:
            ditto2 = DITTO2(iterations=R.PAPER_ITERATIONS[task], lr=R.FULL_LR_DITTO2[task]["ctm"], decode_steps=2,
                            decode_levels=R.FULL_DECODE_LEVELS_DITTO2.get(task, {}).get("ctm"),
                            optimizer=R.FULL_OPTIMIZER_DITTO2[task]["ctm"], surrogate_steps="decode",
                            norm_prior=prior, prior_weight=prior_weight, progress=False)
            r = ditto2(bundle.surrogates["ctm"], objectives, eps=eps, cond=cond,
                       generator=torch.Generator().manual_seed(seed + 1))
            rows.append({"task": task, "prior": prior or "none",
                         "metric": statistics.mean(R.control_metric(task, objectives[0], r.output)),
                         "fad": R.fad(bundle, r.output, embeddings=("mel",))["fad"],
                         "eps_mean_square": float(r.eps.pow(2).flatten(1).mean(1).mean())})
            print(rows[-1], flush=True)
    return {"rows": rows, "clips": idx.tolist(), "seed": seed, "prior_weight": prior_weight, "split": split}


def markdown(result: dict) -> str:
    lines = ["# Norm prior on the optimised noise (DITTO-2, CTM through the 2-step decode)", "",
             f"Commit `{(result['git']['commit'] or 'unknown')[:10]}`{' (dirty)' if result['git']['dirty'] else ''}; "
             f"{len(result['clips'])} {'training-split (validation)' if result.get('split') == 'train' else 'held-out'} "
             f"targets, seed {result['seed']}, penalty weight "
             f"{result['prior_weight']:g}; `benchmarks/bench_norm_prior.py`. Control metric: MSE (lower is better) "
             "or frame accuracy in % (melody); FAD mel against all held-out clips (biased upwards at this n); "
             "mean square of eps (1: on the Gaussian shell).", "",
             "| task | prior | control metric | FAD mel | mean eps^2 |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['task']} | {r['prior']} | {r['metric']:.4g} | {r['fad']:.3g} | {r['eps_mean_square']:.3f} |")
    return "\n".join(lines + [""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(R.ROOT / "outputs" / "data" / "music"))
    parser.add_argument("--tasks", nargs="+", default=["intensity", "melody", "structure"])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--prior-weight", type=float, default=1.0)
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout",
                        help="targets from the held-out split (test) or the training split (validation)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = Q.run_at_commit(run, Path(args.data), tasks=args.tasks, clips=args.clips, prior_weight=args.prior_weight,
                             split=args.split)
    write_results(args.out, "norm_prior" if args.split == "heldout" else "norm_prior_validation", result,
                  markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
