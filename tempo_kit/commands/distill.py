"""``tempo-kit distill RECIPE --config FILE``: train a registered recipe from a TOML/JSON config (torchrun-ready)."""

from __future__ import annotations

import argparse

from . import bounded


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", default=None,
                        help="registered recipe name (edm, ase, presto-l, cm, ctm, presto-s, ...); default: the config's 'recipe'")
    parser.add_argument("--config", required=True, help="TOML or JSON config file (see configs/)")
    parser.add_argument("--steps", type=bounded(int, 1, 10**9), default=None, help="override [train] steps")
    parser.add_argument("--out-dir", default=None, help="override [train] out_dir")
    parser.add_argument("--device", default=None, help="override [train] device (cpu, cuda, auto)")
    parser.add_argument("--bf16", action="store_true", default=None, help="bfloat16 autocast")
    parser.add_argument("--no-resume", action="store_true", help="start fresh even if out_dir has a checkpoint (the previous run's outputs move to out_dir/replaced-<time>)")
    parser.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                        help="no progress bar (it only shows on a terminal anyway)")


def run(args: argparse.Namespace) -> int:
    from ..training.api import distill

    overrides = {k: v for k, v in {"steps": args.steps, "out_dir": args.out_dir, "device": args.device,
                                   "bf16": args.bf16}.items() if v is not None}
    if args.no_progress:
        overrides["progress"] = False
    result = distill(args.recipe, args.config, resume=not args.no_resume, **overrides)
    if result.out_dir is None:
        print("warning: no out_dir ([train] out_dir or --out-dir): nothing of this run was kept")
    if result.replaced:
        print(f"--no-resume: the previous run's outputs were moved to {result.replaced}")
    start = result.resumed_from or 0
    done = (f"resumed from the checkpoint at step {start}, trained {result.step - start} steps to step {result.step}"
            if result.resumed_from is not None else f"trained {result.step} steps")
    where = f"; outputs in {result.out_dir}" if result.out_dir else ""
    print(f"{done} in {result.seconds:.1f} s{where}")
    return 0
