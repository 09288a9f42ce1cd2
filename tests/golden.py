"""Golden outputs of the bundled models: a seeded clip of every bundled generator (its own sampler and steps) and of
the vocoder, summarised by a few numbers, so a numerics change that alters the shipped models fails the suite.

``python tests/golden.py`` prints the current values; ``python tests/golden.py --write`` stores them in
``tests/fixtures/golden_bundled.json`` (do that only for an intended change, and say why in the commit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from tempo_kit.pipeline import GENERATORS  # every bundled generator

PATH = Path(__file__).parent / "fixtures" / "golden_bundled.json"
TAGS = {"instrument": "flute", "mode": "major", "tempo": "moderate", "collection": "essen"}


def summary(x: torch.Tensor) -> dict:
    """Mean, standard deviation and 16 values spread over the tensor."""
    flat = x.detach().double().flatten()
    idx = torch.linspace(0, flat.numel() - 1, 16).long()
    return {"mean": float(flat.mean()), "std": float(flat.std()), "samples": flat[idx].tolist()}


def compute(names=GENERATORS) -> dict:
    from tempo_kit.pipeline import generate
    from tempo_kit.pretrained import pretrained_meta

    torch.set_num_threads(1)
    out = {}
    for name in names:
        clips = generate(TAGS, n=1, model=name, seed=0, frames=64, vocoder="vocoder")
        out[name] = {"sampler": clips.sampler, "steps": clips.steps, "mel": summary(clips.mel),
                     "audio": summary(clips.audio)}
        if pretrained_meta(name).get("sampler_args"):  # e.g. the re-noise levels of its other step counts
            out[name]["sampler_args"] = pretrained_meta(name)["sampler_args"]
    return out


if __name__ == "__main__":
    values = compute()
    print(json.dumps(values, indent=1))
    if "--write" in sys.argv:
        PATH.write_text(json.dumps(values, indent=1) + "\n")
        print(f"wrote {PATH}")
