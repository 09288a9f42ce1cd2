"""Held-out folk tunes that ship with the package: melody targets for the main job and ``tempo-kit control melody``.

``tempo_kit/weights/tunes.json`` (or ``$TEMPO_KIT_WEIGHTS/tunes.json``) holds one clip per held-out Essen piece of the
rendered-music dataset (pieces the bundled models never saw in training): its id, caption, tags, and the top voice's
pitch class for each of the 256 mel frames (5.94 s), taken from the score. :func:`export_tunes` writes the file from a
dataset (``tempo-kit data export-tunes``); :func:`load_tunes` reads it with no dataset present.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import torch

__all__ = ["Tune", "TUNES_FILE", "tunes_path", "load_tunes", "get_tune", "export_tunes"]

#: File name of the bundled tunes inside the weights folder.
TUNES_FILE = "tunes.json"


@attrs.frozen(kw_only=True, eq=False)
class Tune:
    """One held-out tune.

    Attributes
    ----------
    id : str
        Clip id in the dataset, ``"essen/<book>/<number>:<instrument>:<clip>"``.
    caption : str
    tags : dict of str to str
        ``instrument``, ``collection``, ``tempo``, ``mode`` (the bundled models' tag vocabulary).
    pitch_class : tuple of int
        Top-voice pitch class per mel frame (0 = C ... 11 = B), ``-1`` where no note sounds.
    frame_rate : float
        Mel frames per second (43.07 Hz).
    title, key : str
        From the score.
    reference_accuracy : float or None
        Melody accuracy of the rendered clip itself (mel-domain log-chroma vs its score): what real audio of this
        tune reaches under the same measure.
    """

    id: str
    caption: str
    tags: dict
    pitch_class: tuple = attrs.field(converter=tuple)
    frame_rate: float
    title: str = ""
    key: str = ""
    reference_accuracy: float | None = None

    @property
    def n_frames(self) -> int:
        return len(self.pitch_class)

    def target(self, *, extractor=None, n_frames: int | None = None):
        """The tune as a melody :class:`~tempo_kit.control.Target` (silent frames are ignored), optionally cut or
        padded (with "no target") to ``n_frames``."""
        from ..control.targets import IGNORE_INDEX, melody_from_frames

        pcs = torch.tensor(self.pitch_class, dtype=torch.long)
        pcs = torch.where(pcs < 0, torch.tensor(IGNORE_INDEX), pcs)
        if n_frames is not None:
            pcs = torch.cat([pcs, torch.full((max(0, n_frames - len(pcs)),), IGNORE_INDEX)])[:n_frames]
        if extractor is None:
            return melody_from_frames(pcs, frame_rate=self.frame_rate)
        return melody_from_frames(pcs, extractor=extractor)


def tunes_path() -> Path:
    """Where the bundled tunes live: ``tunes.json`` in :func:`tempo_kit.pretrained.weights_dir`."""
    from ..pretrained import weights_dir

    return weights_dir() / TUNES_FILE


def load_tunes(path: str | Path | None = None) -> list[Tune]:
    """Read the bundled tunes (default :func:`tunes_path`)."""
    path = Path(path) if path is not None else tunes_path()
    if not path.is_file():
        raise FileNotFoundError(f"no tunes file at {path}; write one with `tempo-kit data export-tunes DATASET --out {path}`")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a tunes file (invalid JSON: {err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tunes"), list) or "frame_rate" not in data:
        raise ValueError(f"{path}: not a tunes file (needs 'frame_rate' and a 'tunes' list)")
    fields = {f.name for f in attrs.fields(Tune)} - {"frame_rate"}
    required = {f.name for f in attrs.fields(Tune) if f.default is attrs.NOTHING} - {"frame_rate"}
    tunes = []
    for i, t in enumerate(data["tunes"]):
        if not isinstance(t, dict) or required - set(t) or set(t) - fields:
            missing = sorted(required - set(t)) if isinstance(t, dict) else sorted(required)
            unknown = sorted(set(t) - fields) if isinstance(t, dict) else []
            raise ValueError(f"{path}: tune {i} is malformed (missing {missing}, unknown {unknown})")
        if not all(isinstance(p, int) and -1 <= p <= 11 for p in t["pitch_class"]):
            raise ValueError(f"{path}: tune {i} ({t['id']}): pitch_class must hold integers in [-1, 11]")
        tunes.append(Tune(frame_rate=float(data["frame_rate"]), **t))
    return tunes


def get_tune(name: str | int | None = None, *, path: str | Path | None = None) -> Tune:
    """One bundled tune by id, by a unique part of its id (``"han1/2"``) or by index; ``None`` gives the first."""
    tunes = load_tunes(path)
    if name is None:
        return tunes[0]
    if isinstance(name, int) or (isinstance(name, str) and name.isdigit()):
        i = int(name)
        if not 0 <= i < len(tunes):
            raise ValueError(f"tune index {i} out of range: {len(tunes)} bundled tunes")
        return tunes[i]
    hits = [t for t in tunes if t.id == name] or [t for t in tunes if name in t.id]
    if len(hits) != 1:
        what = "no" if not hits else "more than one"
        raise ValueError(f"{what} bundled tune matches {name!r}; ids: {', '.join(t.id for t in tunes)}")
    return hits[0]


def export_tunes(dataset: str | Path, out: str | Path, *, collection: str = "essen", max_tunes: int = 16,
                 min_voiced: float = 0.9, min_reference_accuracy: float = 0.5, split: str = "heldout") -> list[Tune]:
    """Write the held-out tunes file from a built dataset: the first clip (at least ``min_voiced`` of its frames with
    a note) of each held-out piece of ``collection``, up to ``max_tunes`` pieces in id order.

    ``split="train"`` takes the pieces of the training split instead: validation tunes, disjoint from the held-out
    test tunes, for choosing control settings (``benchmarks/bench_melody_control.py --tunes-file``).

    Each clip's ``reference_accuracy`` is measured: the argmax of the mel-domain
    :class:`~tempo_kit.features.LogChroma` of the rendered clip against its score pitch classes. A clip below
    ``min_reference_accuracy`` is left out: there the measure itself fails on real audio of the tune (e.g. a low
    clarinet whose fundamental lies under the chroma's 261.6 Hz high-pass and whose strong third harmonic reads as
    the fifth), so it would not show whether control works.

    Returns
    -------
    list of Tune
        What was written.
    """
    from ..features.chroma import LogChroma, melody_accuracy
    from .dataset import MusicDataset

    if split not in ("heldout", "train"):
        raise ValueError(f"split must be 'heldout' or 'train', got {split!r}")
    kind = "held-out" if split == "heldout" else "training-split"
    ds = MusicDataset(dataset, split=split)
    chosen: dict[str, int] = {}
    for i, r in enumerate(ds.records):
        piece = r.get("piece") or r["id"].split(":")[0]
        if r["tags"]["collection"] == collection and r.get("voiced", 1.0) >= min_voiced and piece not in chosen:
            chosen[piece] = i
    if not chosen:
        have = sorted({r["tags"]["collection"] for r in ds.records})
        raise ValueError(f"{dataset}: no {kind} {collection} clip with at least {min_voiced:.0%} voiced frames "
                         f"(collections in this split: {', '.join(have) or 'none'})")
    rows = list(chosen.values())
    extractor = LogChroma(domain="mel")
    with torch.no_grad():
        acc = melody_accuracy(extractor(ds.mel[rows].float()), ds.pitch_class[rows].long(), ignore_index=-1)
    kept = [(i, a) for i, a in zip(rows, acc.tolist()) if a >= min_reference_accuracy][:max_tunes]
    if not kept:
        raise ValueError(f"{dataset}: no {kind} {collection} clip reaches reference accuracy {min_reference_accuracy}")
    tunes = []
    for i, a in kept:
        r = ds.records[i]
        tunes.append(Tune(id=r["id"], caption=r["caption"], tags=dict(r["tags"]),
                          pitch_class=ds.pitch_class[i].tolist(), frame_rate=ds.sample_rate / ds.hop_length,
                          title=r.get("title", ""), key=r.get("key", ""), reference_accuracy=round(a, 4)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join("    " + json.dumps({k: v for k, v in attrs.asdict(t).items() if k != "frame_rate"}) for t in tunes)
    out.write_text(
        "{\n"
        f'  "source": {json.dumps(f"{kind} {collection} clips of {Path(dataset).name} (tempo-kit data export-tunes)")},\n'
        f'  "frame_rate": {tunes[0].frame_rate},\n'
        f'  "tunes": [\n{body}\n  ]\n}}\n'
    )
    return tunes
