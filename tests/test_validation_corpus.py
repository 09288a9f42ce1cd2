"""scripts/validation_corpus.py: the held-out pieces of a larger corpus that a smaller corpus never saw."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("validation_corpus", ROOT / "scripts" / "validation_corpus.py")
validation_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validation_corpus)


def _corpus(root: Path, splits: dict[str, str]) -> Path:
    (root / "shards").mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps({"clip_frames": 256}))
    with open(root / "manifest.jsonl", "w") as f:
        for piece, split in splits.items():
            for row in range(2):
                f.write(json.dumps({"id": f"{piece}:{row}", "piece": piece, "split": split, "row": row}) + "\n")
    return root


def test_keeps_the_big_train_split_and_only_the_unseen_heldout_pieces(tmp_path):
    small = _corpus(tmp_path / "small", {"a": "train", "b": "heldout"})
    big = _corpus(tmp_path / "big", {"a": "train", "c": "train", "b": "heldout", "d": "heldout", "e": "heldout"})
    out = tmp_path / "val"
    assert validation_corpus.validation_corpus(big, small, out) == (4, 2)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["piece"] for r in records if r["split"] == "heldout"} == {"d", "e"}  # b is the small corpus's test piece
    assert {r["piece"] for r in records if r["split"] == "train"} == {"a", "c"}
    assert (out / "shards").resolve() == (big / "shards").resolve()
    assert json.loads((out / "meta.json").read_text()) == {"clip_frames": 256}
    manifest = (out / "manifest.jsonl").read_text()
    assert validation_corpus.validation_corpus(big, small, out) == (4, 2)  # rerun over its own output
    assert (out / "manifest.jsonl").read_text() == manifest
    assert not Path(os.readlink(out / "shards")).is_absolute() and (out / "shards").resolve() == (big / "shards").resolve()


def test_refuses_to_write_over_a_corpus_or_from_one_without_shards(tmp_path):
    small = _corpus(tmp_path / "small", {"a": "train", "b": "heldout"})
    big = _corpus(tmp_path / "big", {"a": "train", "d": "heldout"})
    for out in (small, big):
        with pytest.raises(SystemExit, match="one of the corpora"):
            validation_corpus.validation_corpus(big, small, out)
    other = _corpus(tmp_path / "other", {"x": "train"})
    (other / "meta.json").write_text(json.dumps({"other": 1}))
    with pytest.raises(SystemExit, match="real folder"):
        validation_corpus.validation_corpus(big, small, other)
    assert json.loads((other / "meta.json").read_text()) == {"other": 1}  # nothing written
    (big / "shards").rmdir()
    with pytest.raises(SystemExit, match="no shards folder"):
        validation_corpus.validation_corpus(big, small, tmp_path / "val")


def test_a_record_without_piece_or_split_is_named(tmp_path):
    small = _corpus(tmp_path / "small", {"a": "train"})
    big = _corpus(tmp_path / "big", {"a": "train", "d": "heldout"})
    with open(big / "manifest.jsonl", "a") as f:
        f.write(json.dumps({"id": "odd:0", "split": "heldout"}) + "\n")
    with pytest.raises(SystemExit, match="'odd:0' has no 'piece' or 'split'"):
        validation_corpus.validation_corpus(big, small, tmp_path / "val")


def test_no_unseen_heldout_piece_is_an_error(tmp_path):
    small = _corpus(tmp_path / "small", {"a": "train", "b": "heldout"})
    big = _corpus(tmp_path / "big", {"a": "train", "b": "heldout"})
    with pytest.raises(SystemExit, match="nothing to validate on"):
        validation_corpus.validation_corpus(big, small, tmp_path / "val")
