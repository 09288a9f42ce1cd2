"""The bundled held-out tunes: ``export_tunes`` on a tiny hand-written dataset, ``load_tunes`` / ``get_tune`` and the
melody target of a tune."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from tempo_kit.audio import MelSpec
from tempo_kit.cli import main
from tempo_kit.control import IGNORE_INDEX
from tempo_kit.data.tunes import export_tunes, get_tune, load_tunes
from tempo_kit.features.chroma import LogChroma
from tempo_kit.testing.synth import render_notes

FRAMES, HOP = 256, 512


def _clip(pitches, shift=0):
    """A rendered melody (one note per 64 frames, rest in the last 16 frames) and its score pitch classes; ``shift``
    renders it that many semitones off its score."""
    seconds = FRAMES * HOP / 22050
    step = (seconds - 16 * HOP / 22050) / len(pitches)
    audio = render_notes([(p + shift, i * step, (i + 1) * step, 0.8) for i, p in enumerate(pitches)], duration=seconds)
    mel = MelSpec().to_model(torch.as_tensor(audio, dtype=torch.float32)[None])[0, :, :FRAMES]
    pcs = np.full(FRAMES, -1, np.int8)
    for i, p in enumerate(pitches):
        lo, hi = int(np.ceil(i * step * 22050 / HOP)), int(np.ceil((i + 1) * step * 22050 / HOP))
        pcs[lo:hi] = p % 12
    return mel.numpy().astype(np.float16), pcs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    clips = [  # id, split, collection, shift (7 = rendered a fifth off: the chroma measure fails on it)
        ("essen/a/1:flute:0", "heldout", "essen", 0, [72, 74, 76, 77]),
        ("essen/a/1:flute:1", "heldout", "essen", 0, [79, 77, 76, 74]),  # same piece: only the first clip is kept
        ("essen/b/2:clarinet:0", "heldout", "essen", 7, [67, 69, 71, 72]),
        ("essen/c/3:piano:0", "train", "essen", 0, [72, 71, 69, 67]),
        ("bach/bwv1:organ:0", "heldout", "bach", 0, [64, 65, 67, 69]),
    ]
    rows, mels, pcs = [], [], []
    for i, (cid, split, collection, shift, pitches) in enumerate(clips):
        mel, pc = _clip(pitches, shift)
        mels.append(mel)
        pcs.append(pc)
        piece, instrument, _ = cid.split(":")
        rows.append({"id": cid, "piece": piece, "split": split, "shard": "shards/all.safetensors", "row": i,
                     "voiced": float((pc >= 0).mean()), "title": f"title {i}", "key": "C major",
                     "tags": {"instrument": instrument, "collection": collection, "tempo": "fast", "mode": "major"},
                     "caption": f"caption {i}"})
    (root / "shards").mkdir()
    save_file({"mel": np.stack(mels), "pitch_class": np.stack(pcs)}, str(root / "shards" / "all.safetensors"))
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta.json").write_text(json.dumps({"sample_rate": 22050, "hop_length": HOP}))
    return root


def test_export_keeps_one_measurable_heldout_clip_per_piece(dataset, tmp_path):
    path = tmp_path / "tunes.json"
    tunes = export_tunes(dataset, path, min_voiced=0.5)
    assert [t.id for t in tunes] == ["essen/a/1:flute:0"]  # not the 2nd clip, the shifted one, train or bach
    assert tunes[0].reference_accuracy > 0.8
    loaded = load_tunes(path)
    assert [t.id for t in loaded] == ["essen/a/1:flute:0"]
    assert loaded[0].pitch_class == tunes[0].pitch_class and len(loaded[0].pitch_class) == FRAMES
    assert loaded[0].frame_rate == pytest.approx(22050 / HOP)
    everything = export_tunes(dataset, tmp_path / "all.json", min_voiced=0.5, min_reference_accuracy=0.0)
    assert [t.id for t in everything] == ["essen/a/1:flute:0", "essen/b/2:clarinet:0"]
    assert everything[1].reference_accuracy < 0.2


def test_export_tunes_command(dataset, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["data", "export-tunes", str(dataset), "--out", str(out), "--max-tunes", "1"]) == 0
    assert "wrote 1 tunes" in capsys.readouterr().out and len(load_tunes(out)) == 1


def test_get_tune_by_id_part_or_index(dataset, tmp_path):
    path = tmp_path / "tunes.json"
    export_tunes(dataset, path, min_voiced=0.5, min_reference_accuracy=0.0)
    assert get_tune("b/2", path=path).id == "essen/b/2:clarinet:0"
    assert get_tune(1, path=path).id == get_tune("1", path=path).id == "essen/b/2:clarinet:0"
    assert get_tune(path=path).id == "essen/a/1:flute:0"
    with pytest.raises(ValueError, match="more than one"):
        get_tune("essen", path=path)
    with pytest.raises(ValueError, match="no bundled tune"):
        get_tune("zzz", path=path)
    with pytest.raises(ValueError, match="out of range"):
        get_tune(5, path=path)
    with pytest.raises(FileNotFoundError, match="export-tunes"):
        load_tunes(tmp_path / "missing.json")


def test_tune_target_ignores_rests_and_fits_the_extractor(dataset, tmp_path):
    path = tmp_path / "tunes.json"
    tune = export_tunes(dataset, path, min_voiced=0.5)[0]
    target = tune.target(extractor=LogChroma())
    pcs = torch.tensor(tune.pitch_class)
    assert target.kind == "melody" and target.frame_rate == pytest.approx(LogChroma().frame_rate)
    assert torch.equal(target.value == IGNORE_INDEX, pcs < 0) and (pcs < 0).sum() >= 10
    assert torch.equal(target.value[pcs >= 0], pcs[pcs >= 0].long())
    longer = tune.target(n_frames=300)
    assert longer.n_frames == 300 and (longer.value[FRAMES:] == IGNORE_INDEX).all()
    assert tune.target(n_frames=100).n_frames == 100


def test_export_without_heldout_clips_of_the_collection_fails(dataset, tmp_path):
    with pytest.raises(ValueError, match="no held-out nosuch clip"):
        export_tunes(dataset, tmp_path / "t.json", collection="nosuch")


def test_validation_tunes_come_from_the_training_split(dataset, tmp_path):
    path = tmp_path / "val.json"
    tunes = export_tunes(dataset, path, min_voiced=0.5, split="train")
    assert [t.id for t in tunes] == ["essen/c/3:piano:0"]
    assert "training-split" in json.loads(path.read_text())["source"]
    assert main(["data", "export-tunes", str(dataset), "--out", str(path), "--split", "train"]) == 0
    assert [t.id for t in load_tunes(path)] == ["essen/c/3:piano:0"]
    with pytest.raises(ValueError, match="split must be"):
        export_tunes(dataset, path, split="test")
