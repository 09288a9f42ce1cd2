"""Shared command-line handling for the control examples (toy generator; the real models come later)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def parse(description: str, default_iterations: int):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true", help="a few iterations only (seconds)")
    parser.add_argument("--iterations", type=int, default=default_iterations, help="K optimisation steps")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="Adam learning rate on eps (DITTO uses 5e-3 on real models; the toy needs more)")
    parser.add_argument("--out", default="outputs", help="directory for the plot")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.fast:
        args.iterations = min(args.iterations, 15)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return args


def reference_clip(gen, seed: int = 99) -> torch.Tensor:
    """Another clip of the toy generator, ``(n_mels, frames)``: the reference of the painting and looping examples
    (any mel clip of the generator's shape works)."""
    with torch.no_grad():
        return gen.ctm_jump(80.0 * torch.randn(gen.shape, generator=torch.Generator().manual_seed(seed)), 80.0, 0.0)[0]


def report(result, path) -> None:
    result.plot(path)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.final_losses.items())
    print(f"{result.method}: loss {float(result.loss_history[0]):.4g} -> {float(result.loss_history[-1]):.4g} "
          f"(decoded: {losses}); {result.nfe_optimization} + {result.nfe_decoding} network calls, "
          f"{result.wall_time:.2f} s; plot: {path}")
