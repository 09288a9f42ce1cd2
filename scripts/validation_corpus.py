"""A validation corpus: the held-out pieces of a larger corpus that a smaller corpus's models never saw, in neither split.

    .venv/bin/python scripts/validation_corpus.py --big outputs/data/music_big --small outputs/data/music \
        --out outputs/data/music_val

The models are trained on the ``train`` split of ``--small`` and tested on its ``heldout`` split. The ``heldout``
split of ``--big`` holds those test pieces and more; the folder written here keeps ``--big``'s held-out clips of the
pieces that are in no split of ``--small`` (its ``heldout`` split: for choosing settings without touching the test
pieces) and ``--big``'s whole ``train`` split (the benchmarks' ``real (train)`` floor row). No audio is copied: the
manifest points into ``--big``'s shards through a link.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from tempo_kit.data import read_manifest


def _records(root: Path) -> list[dict]:
    records = read_manifest(root)
    bad = next((r for r in records if not {"piece", "split"} <= r.keys()), None)
    if bad is not None:
        raise SystemExit(f"{root / 'manifest.jsonl'}: record {bad.get('id', bad)!r} has no 'piece' or 'split'")
    return records


def validation_corpus(big: Path, small: Path, out: Path) -> tuple[int, int]:
    """Write the validation corpus to ``out``; returns (held-out clips, their pieces).

    Refuses, before writing anything, an ``out`` that is one of the corpora or holds a real ``shards`` folder, and a
    ``big`` without shards."""
    if out.resolve() in (big.resolve(), small.resolve()):
        raise SystemExit(f"--out {out} is one of the corpora; choose a new folder")
    if (out / "shards").exists() and not (out / "shards").is_symlink():
        raise SystemExit(f"{out / 'shards'} is a real folder (a corpus?); choose a new folder")
    if not (big / "shards").is_dir():
        raise SystemExit(f"{big} has no shards folder: is it a corpus built by 'tempo-kit data build'?")
    seen = {r["piece"] for r in _records(small)}
    keep = [r for r in _records(big) if r["split"] == "train" or (r["split"] == "heldout" and r["piece"] not in seen)]
    held = [r for r in keep if r["split"] == "heldout"]
    if not held:
        raise SystemExit(f"no held-out piece of {big} is outside {small}: nothing to validate on")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(big / "meta.json", out / "meta.json")
    link = out / "shards"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(big.resolve() / "shards", out.resolve()))
    with open(out / "manifest.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in keep)
    return len(held), len({r["piece"] for r in held})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", type=Path, required=True, help="the larger corpus (its heldout split holds --small's)")
    parser.add_argument("--small", type=Path, required=True, help="the corpus the models were trained and tested on")
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    args = parser.parse_args(argv)
    clips, pieces = validation_corpus(args.big, args.small, args.out)
    print(f"{args.out}: {clips} held-out clips of {pieces} pieces in no split of {args.small}")


if __name__ == "__main__":
    main()
