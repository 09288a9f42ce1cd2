"""Shared by the ring distillation examples: the 2-D toy ring, their command line, the EDM teacher they start from and
sampling with a registered sampler."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import tempo_kit
from tempo_kit.testing.toy import GaussianMixture
from tempo_kit.training import distill

RING_DATA = {"name": "mixture"}  # the 2-D toy ring (tempo_kit.testing.toy.GaussianMixture.ring)

RING = GaussianMixture.ring()


def parser(doc: str, out: str) -> argparse.ArgumentParser:
    """``--out`` (default ``out``) and ``--steps`` (teacher training steps); add an example's own options to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=out)
    parser.add_argument("--steps", type=int, default=1500)
    return parser


def ring_samples() -> torch.Tensor:
    """2000 points of the ring (seed 1): the data the energy distances are measured against."""
    return RING.sample(2000, generator=torch.Generator().manual_seed(1))


def train_teacher(out: Path, steps: int, *, depth: int, **train) -> Path:
    """Train the EDM teacher, a block MLP of width 128 with ``depth`` blocks, in ``out/edm`` (batches of 256, ``train``:
    more training settings); returns the folder of the saved teacher."""
    distill("edm", {"data": RING_DATA, "train": {"steps": steps, "batch_size": 256, **train, "out_dir": str(out / "edm")},
                    "model": {"model": "block-mlp", "width": 128, "depth": depth}, "recipe_args": {"lr": 2e-3}})
    return out / "edm" / "student"


def sample(model, sampler: str, steps: int, n: int = 2000, seed: int = 0) -> torch.Tensor:
    """``n`` samples of ``model`` with a registered sampler, from ``x_T = 80 * N(0, I)`` (seeded)."""
    g = torch.Generator().manual_seed(seed)
    return tempo_kit.get("samplers", sampler)(model, 80 * torch.randn(n, 2, generator=g), steps, generator=g)
