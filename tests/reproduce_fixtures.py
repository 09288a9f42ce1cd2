"""Fake bundled-weights folders and tiny synthetic music datasets for tests of code that loads the reference models.

``make_fake_weights(root, ...)`` writes untrained teacher / CM / CTM models (and the bundled CLAP-style model when its
module exists) in the :mod:`tempo_kit.pretrained` folder format; point ``$TEMPO_KIT_WEIGHTS`` at ``root``.
``make_tiny_dataset(root, ...)`` writes a :class:`~tempo_kit.data.MusicDataset` of harmonic tones with known pitch
classes (no renderer, no soundfont).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

VOCAB = {"instrument": ("flute", "organ", "piano"), "collection": ("bach", "essen"),
         "tempo": ("fast", "moderate", "slow"), "mode": ("major", "minor")}


def _perturb(net: torch.nn.Module, generator: torch.Generator, scale: float = 0.02) -> None:
    """The DiT zero-initialises its output layers; small random values make an untrained model's output vary."""
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.copy_(scale * torch.randn(p.shape, generator=generator))


def _add_table(path: Path, table: dict) -> None:
    config = json.loads((path / "config.json").read_text())
    config["pretrained"] = table
    (path / "config.json").write_text(json.dumps(config, indent=2))


def make_fake_weights(root, *, tag_vocab: dict | None = None, width: int = 32, depth: int = 2, heads: int = 2,
                      patch: int = 8, seed: int = 0, clap: bool = True) -> Path:
    """Untrained ``teacher`` (EDM denoiser), ``cm`` (consistency) and ``ctm`` models, plus ``clap`` if available.

    The defaults are tiny; ``width=192, depth=6, heads=4`` gives the reference architecture.
    """
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.models.dit import DiT, DiTConfig
    from tempo_kit.models.io import save_model

    root = Path(root)
    vocab = {k: list(v) for k, v in (tag_vocab or VOCAB).items()}
    num_tags = sum(len(v) for v in vocab.values())
    g = torch.Generator().manual_seed(seed)
    for name, kind in (("teacher", "denoiser"), ("cm", "consistency"), ("ctm", "ctm")):
        torch.manual_seed(seed)  # parameter init of the untrained network only
        net = DiT(config=DiTConfig(in_channels=80, patch=patch, width=width, depth=depth, heads=heads,
                                   num_tags=num_tags))
        _perturb(net, g)
        save_model(EDMPrecond(net=net, sigma_data=0.5, consistency=kind != "denoiser"), root / name)
        table = {"kind": kind, "tag_vocab": vocab}
        if kind == "denoiser":
            table.update(sampler="heun", steps=40)
        _add_table(root / name, table)
        (root / name / "MODEL_CARD.md").write_text(f"# {name}\n\nUntrained test model.\n")
    if clap:
        _fake_clap(root / "clap", vocab=vocab)
    return root


def _fake_clap(path: Path, *, vocab: dict) -> None:
    try:
        from tempo_kit.models import clap_mini
    except ImportError:
        return
    from tempo_kit.models.io import save_model

    net = clap_mini.fake_for_tests() if hasattr(clap_mini, "fake_for_tests") else None
    if net is None:
        return
    save_model(net, path)
    _add_table(path, {"kind": "module", "tag_vocab": vocab})


def make_tiny_dataset(root, *, clips: int = 8, frames: int = 64, heldout: int = 4, seed: int = 0) -> Path:
    """A :class:`~tempo_kit.data.MusicDataset` folder of harmonic tone sequences (``clips`` clips of ``frames`` mel
    frames, the last ``heldout`` in the held-out split), with the pitch class of each frame and random tags."""
    from safetensors.numpy import save_file

    from tempo_kit.audio import MelSpec

    root = Path(root)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    spec = MelSpec()
    hop, sr = spec.hop_length, spec.sample_rate
    n = frames * hop
    t = np.arange(n) / sr
    audio, pitch = [], []
    for _ in range(clips):
        notes = rng.integers(60, 80, size=4)
        frame_note = np.repeat(notes, frames // 4 + 1)[:frames]
        f0 = 440.0 * 2 ** ((np.repeat(frame_note, hop)[:n] - 69) / 12)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        env = np.linspace(rng.uniform(0.1, 1), rng.uniform(0.1, 1), n)
        audio.append(0.3 * env * sum(np.sin(k * phase) / k for k in (1, 2, 3)))
        pitch.append(frame_note % 12)
    audio = np.stack(audio).astype(np.float32)
    with torch.no_grad():
        mel = spec.to_model(torch.from_numpy(audio))[..., :frames].numpy()
    save_file({"mel": mel.astype(np.float16), "pitch_class": np.stack(pitch).astype(np.int8),
               "audio": np.round(audio * 32767).astype(np.int16)}, str(root / "shards" / "tones.safetensors"))
    rows = []
    for i in range(clips):
        tags = {f: str(rng.choice(v)) for f, v in VOCAB.items()}
        rows.append({"id": f"tones:{i:03d}", "split": "heldout" if i >= clips - heldout else "train",
                     "shard": "shards/tones.safetensors", "row": i, "tags": tags,
                     "caption": f"A {tags['tempo']} tune in a {tags['mode']} key played on {tags['instrument']}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    import attrs

    (root / "meta.json").write_text(json.dumps({"mel_spec": attrs.asdict(spec), "sample_rate": sr,
                                                "hop_length": hop, "clip_frames": frames, "clip_samples": n}))
    return root
