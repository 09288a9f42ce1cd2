"""Read a dataset written by :func:`~tempo_kit.data.build_dataset`: log-mel frames, pitch classes, tags, captions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..vocab import TAG_FIELDS


def encode_tags(tags, vocab: dict) -> torch.Tensor:
    """Multi-hot tag vectors for the DiT's ``cond={"tags": ...}``: one block per field of ``vocab``, in order.

    Parameters
    ----------
    tags : dict or list of dict
        ``{"instrument": "organ", "mode": "minor"}``; a field left out stays all-zero (unspecified).
    vocab : dict of str to sequence of str
        Field -> values (:attr:`MusicDataset.tag_vocab`, also stored in model cards).

    Returns
    -------
    torch.Tensor
        Shape (batch, sum of vocabulary sizes), float32 (batch = 1 for a single dict).
    """
    rows = [tags] if isinstance(tags, dict) else list(tags)
    offsets, total = {}, 0
    for field, values in vocab.items():
        offsets[field], total = total, total + len(values)
    out = torch.zeros(len(rows), total)
    for i, row in enumerate(rows):
        for field, value in row.items():
            if field not in vocab:
                raise ValueError(f"unknown tag field {field!r}; fields: {', '.join(vocab)}")
            if value not in vocab[field]:
                raise ValueError(f"unknown {field} {value!r}; values: {', '.join(vocab[field])}")
            out[i, offsets[field] + list(vocab[field]).index(value)] = 1.0
    return out


def read_manifest(root: str | Path) -> list[dict]:
    """The clip records of the dataset at ``root`` (its ``manifest.jsonl``), one per clip id, sorted by id.

    A unit re-rendered after an interrupted write keeps its last rows."""
    rows = {}
    for line in (Path(root) / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["id"]] = row
    return sorted(rows.values(), key=lambda r: r["id"])


class MusicDataset:
    """Clips of a built dataset, held in memory (float16 mel: ~41 kB per clip, 2,000 clips in ~82 MB).

    Parameters
    ----------
    root : str or path-like
        Dataset directory (``meta.json``, ``manifest.jsonl``, ``shards/``).
    split : {"train", "heldout"}, optional
        Keep one split; all clips when None.
    load_audio : bool
        Also load the waveforms (int16 in memory, 262 kB per clip), e.g. to train a vocoder.

    Attributes
    ----------
    records : list of dict
        Manifest rows of the kept clips, sorted by clip id.
    tag_vocab : dict of str to tuple of str
        For each field of :data:`TAG_FIELDS`, the sorted values found in the whole manifest (both splits, so ids agree
        across splits). Id ``len(tag_vocab[field])`` is free, e.g. for a "null" tag in classifier-free guidance.
    mel : torch.Tensor
        Shape (n, n_mels, frames), float16, in the model space of ``meta["mel_spec"]``
        (:class:`~tempo_kit.audio.MelSpec`; ``MelSpec(**meta["mel_spec"])`` rebuilds it).
    pitch_class : torch.Tensor
        Shape (n, frames), int8, top-voice pitch class from the score (0 = C), -1 where silent.
    tag_ids : torch.Tensor
        Shape (n, 4), int64, indices into ``tag_vocab`` in the order of :data:`TAG_FIELDS`.
    tags : torch.Tensor
        Shape (n, num_tags), float32 multi-hot (:func:`encode_tags`), the DiT's ``cond["tags"]``.
    sample_rate, hop_length : int
        Audio format; frame rate = sample_rate / hop_length.
    """

    def __init__(self, root, *, split: str | None = None, load_audio: bool = False):
        from safetensors.numpy import load_file

        root = Path(root)
        if split not in (None, "train", "heldout"):
            raise ValueError(f"split must be 'train', 'heldout' or None, got {split!r}")
        if not (root / "manifest.jsonl").is_file():
            raise FileNotFoundError(f"no dataset at {root} (manifest.jsonl missing); build one with "
                                    "`tempo-kit data build --out DIR`")
        self.meta = json.loads((root / "meta.json").read_text())
        self.sample_rate, self.hop_length = int(self.meta["sample_rate"]), int(self.meta["hop_length"])
        all_rows = read_manifest(root)
        self.tag_vocab = {f: tuple(sorted({r["tags"][f] for r in all_rows})) for f in TAG_FIELDS}
        self.records = [r for r in all_rows if split is None or r["split"] == split]
        if not self.records:
            raise ValueError(f"{root} holds no clips" + (f" in split {split!r}" if split else ""))

        shards: dict[str, dict] = {}
        mel, pitch_class, audio = [], [], []
        for r in self.records:
            if r["shard"] not in shards:
                shards[r["shard"]] = load_file(str(root / r["shard"]))
            arrays = shards[r["shard"]]
            mel.append(arrays["mel"][r["row"]])
            pitch_class.append(arrays["pitch_class"][r["row"]])
            if load_audio:
                audio.append(arrays["audio"][r["row"]])
        self.mel = torch.from_numpy(np.stack(mel))
        self.pitch_class = torch.from_numpy(np.stack(pitch_class))
        self.audio = torch.from_numpy(np.stack(audio)) if load_audio else None
        index = {f: {v: i for i, v in enumerate(vals)} for f, vals in self.tag_vocab.items()}
        self.tag_ids = torch.tensor([[index[f][r["tags"][f]] for f in TAG_FIELDS] for r in self.records])
        self.tags = encode_tags([r["tags"] for r in self.records], self.tag_vocab)

    @property
    def num_tags(self) -> int:
        """Length of the multi-hot tag vector (``DiTConfig(num_tags=...)``)."""
        return self.tags.shape[1]

    @property
    def captions(self) -> list[str]:
        """Caption of every clip, in order."""
        return [r["caption"] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        """One clip: ``mel`` (n_mels, frames) float32, ``pitch_class`` (frames,) int64, ``tag_ids`` (4,), ``tags``,
        ``tags`` (dict), ``caption``, ``id`` and, when loaded, ``audio`` (1, samples) float32 in [-1, 1]."""
        r = self.records[i]
        item = {"mel": self.mel[i].float(), "pitch_class": self.pitch_class[i].long(), "tag_ids": self.tag_ids[i],
                "tags": dict(r["tags"]), "caption": r["caption"], "id": r["id"]}
        if self.audio is not None:
            item["audio"] = self.audio[i].float().unsqueeze(0) / 32767
        return item

    def batch(self, indices: torch.Tensor) -> dict:
        """Stack clips by index, in the trainer's batch format (``x0`` and ``cond``, see
        :mod:`tempo_kit.training.data`) plus the clip annotations.

        Returns
        -------
        dict
            ``x0``: mel (B, n_mels, frames) float32; ``cond``: ``{"tags": (B, num_tags) multi-hot}``;
            ``pitch_class`` (B, frames) int64 (-1 silent); ``tag_ids`` (B, 4) int64; ``index`` (B,); ``captions``
            (list of B str) and, when loaded, ``audio`` (B, 1, samples) float32.
        """
        indices = torch.as_tensor(indices, dtype=torch.long)
        out = {"x0": self.mel[indices].float(), "cond": {"tags": self.tags[indices]},
               "pitch_class": self.pitch_class[indices].long(), "tag_ids": self.tag_ids[indices], "index": indices,
               "captions": [self.records[i]["caption"] for i in indices.tolist()]}
        if self.audio is not None:
            out["audio"] = self.audio[indices].float().unsqueeze(1) / 32767
        return out

    def sample_batch(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        """A training batch of clips drawn uniformly with replacement (see :meth:`batch` for the keys and shapes)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self.batch(torch.randint(len(self), (batch_size,), generator=generator))
