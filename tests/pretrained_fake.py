"""A folder of untrained "bundled" models for tests of the generation and demo commands (point
``TEMPO_KIT_WEIGHTS`` at it). Same layout as ``tempo_kit/weights``: ``<name>/model.safetensors`` + ``config.json`` with
a ``"pretrained"`` table, and a ``tunes.json``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models.dit import DiT, DiTConfig
from tempo_kit.models.io import save_model

TAG_VOCAB = {"instrument": ["brass", "choir", "clarinet", "flute", "harpsichord", "organ", "piano", "strings"],
             "collection": ["bach", "essen"], "tempo": ["fast", "moderate", "slow"], "mode": ["major", "minor"]}
KINDS = {"teacher": ("denoiser", "heun", 8), "cm": ("consistency", "cm", 2), "ctm": ("ctm", "ctm-gamma", 2),
         "presto-s": ("consistency", "presto-s", 4), "presto-s-long": ("consistency", "presto-s", 1)}
#: The reference teacher architecture (common.md) and a tiny one (8 tokens of 32 frames) for fast tests.
FULL = dict(in_channels=80, patch=8, width=192, depth=6, heads=4, num_tags=15)
TINY = dict(in_channels=80, patch=32, width=32, depth=2, heads=2, num_tags=15)


def make_fake_weights(root: str | Path, *, tiny: bool = True, names=tuple(KINDS), vocoder: bool = True,
                      seed: int = 0, n_tunes: int = 3) -> Path:
    """Write untrained models (weights perturbed from the zero init so outputs depend on the input), an untrained
    vocoder (tiny: 1 block of 8 channels) and tunes."""
    root = Path(root)
    gen = torch.Generator().manual_seed(seed)
    if vocoder:
        from tempo_kit.vocoder import Vocoder, VocoderConfig

        save_model(Vocoder(config=VocoderConfig(**({"channels": 8, "depth": 1} if tiny else {}))), root / "vocoder")
        config = json.loads((root / "vocoder" / "config.json").read_text())
        config["pretrained"] = {"kind": "module"}
        (root / "vocoder" / "config.json").write_text(json.dumps(config, indent=2))
    for name in names:
        kind, sampler, steps = KINDS[name]
        net = DiT(config=DiTConfig(**(TINY if tiny else FULL)))
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.02 * torch.randn(p.shape, generator=gen))
        save_model(EDMPrecond(net=net, consistency=kind == "consistency"), root / name)
        config = json.loads((root / name / "config.json").read_text())
        config["pretrained"] = {"kind": kind, "sampler": sampler, "steps": steps, "tag_vocab": TAG_VOCAB}
        (root / name / "config.json").write_text(json.dumps(config, indent=2))
        (root / name / "MODEL_CARD.md").write_text(f"# {name}\n\nUntrained test model.\n")
    tunes = []
    for k in range(n_tunes):
        pcs = [(7 * k + 2 * (i // 32)) % 12 for i in range(256)]
        pcs[-10:] = [-1] * 10
        tunes.append({"id": f"essen/test/{k}:flute:0", "caption": "A fast folk song in a major key played on flute",
                      "tags": {"instrument": "flute", "collection": "essen", "tempo": "fast", "mode": "major"},
                      "pitch_class": pcs, "title": f"test tune {k}", "key": "C major", "reference_accuracy": 0.9})
    (root / "tunes.json").write_text(json.dumps({"source": "test", "frame_rate": 22050 / 512, "tunes": tunes}))
    return root


if __name__ == "__main__":  # python tests/pretrained_fake.py DIR [--full]
    import sys

    print(make_fake_weights(sys.argv[1], tiny="--full" not in sys.argv))
