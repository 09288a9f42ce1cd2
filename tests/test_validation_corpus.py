"""scripts/validation_corpus.py: the held-out pieces of a larger corpus that a smaller corpus never saw."""

import importlib.util
import json
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
    validation_corpus.validation_corpus(big, small, out)  # rerun over its own output: the link is replaced


def test_no_unseen_heldout_piece_is_an_error(tmp_path):
    small = _corpus(tmp_path / "small", {"a": "train", "b": "heldout"})
    big = _corpus(tmp_path / "big", {"a": "train", "b": "heldout"})
    with pytest.raises(SystemExit, match="nothing to validate on"):
        validation_corpus.validation_corpus(big, small, tmp_path / "val")
