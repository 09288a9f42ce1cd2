"""End-to-end dataset build: three corpus pieces rendered through FluidSynth (needs the Debian packages `fluidsynth` and
`timgm6mb-soundfont`, which scripts/setup.sh installs where it can)."""

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("music21")
from tempo_kit.audio import Chroma, MelSpec  # noqa: E402
from tempo_kit.data import MusicDataset, Renderer, build_dataset, load_notes  # noqa: E402
from tempo_kit.data.build import from_int16  # noqa: E402
from tempo_kit.data.corpus import list_pieces, tempo_bucket  # noqa: E402
from tempo_kit.data.dataset import encode_tags  # noqa: E402
from tempo_kit.training.data import split_batch  # noqa: E402

try:
    Renderer()
except (FileNotFoundError, RuntimeError) as err:  # pragma: no cover - depends on the machine
    pytest.skip(f"FluidSynth or the soundfont is missing: {err}", allow_module_level=True)

# two monophonic folk songs and a four-part chorale
PIECES = ("essen/kinder0/210", "essen/zuccal0/24", "bach/bwv321")
PROGRAMS = ("flute", "organ")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("music")
    report = build_dataset(out, pieces=PIECES, programs=PROGRAMS, programs_per_piece=1, clips_per_piece=2,
                           progress=False)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return out, report, rows


def _shard(out, row):
    from safetensors.numpy import load_file

    return load_file(str(out / row["shard"]))


def test_three_pieces_rendered_with_clip_format(built):
    out, report, rows = built
    assert report.units_rendered == 3 and report.units_resumed == 0 and report.units_skipped == 0
    assert {r["piece"] for r in rows} == set(PIECES)
    assert report.clips == len(rows) == report.new_clips
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sample_rate"] == 22050 and meta["clip_samples"] == 256 * 512
    for row in rows:
        arrays = _shard(out, row)
        assert arrays["audio"].dtype == np.int16 and arrays["audio"].shape[1:] == (256 * 512,)
        assert arrays["mel"].shape[1:] == (80, 256)
        assert arrays["pitch_class"].shape[1:] == (256,)
        audio = arrays["audio"][row["row"]]
        assert np.abs(audio).max() > 1000  # not silent
        assert arrays["pitch_class"].min() >= -1 and arrays["pitch_class"].max() <= 11
        assert (arrays["pitch_class"][row["row"]] >= 0).mean() == pytest.approx(row["voiced"], abs=1e-3)


def test_cached_mel_is_the_model_space_mel_of_the_clip(built):
    out, _, rows = built
    arrays = _shard(out, rows[0])
    audio = torch.from_numpy(from_int16(arrays["audio"][rows[0]["row"]]))
    expected = MelSpec().to_model(audio[None])[0, :, :256]
    cached = torch.from_numpy(arrays["mel"][rows[0]["row"]].astype(np.float32))
    assert (cached - expected).abs().max() < 2e-3  # float16 storage


def test_tags_and_captions(built):
    _, _, rows = built
    for row in rows:
        tags = row["tags"]
        collection = row["piece"].split("/")[0]
        assert tags["collection"] == collection
        assert tags["instrument"] in PROGRAMS
        assert tags["tempo"] == tempo_bucket(row["beat_bpm"])
        assert tags["mode"] in ("major", "minor") and row["key"].endswith(tags["mode"])
        noun = "chorale" if collection == "bach" else "folk song"
        assert noun in row["caption"] and tags["mode"] in row["caption"] and tags["instrument"] in row["caption"]
        assert row["split"] in ("train", "heldout")
    # the mode tag comes from a key analysis of the score: kinder0/210 is notated with K:G
    assert all(r["key"] == "G major" for r in rows if r["piece"] == "essen/kinder0/210")


def test_resume_skips_rendered_pieces_and_extends(built, tmp_path):
    built_dir, _, rows = built
    out = tmp_path / "copy"
    shutil.copytree(built_dir, out)
    manifest = (out / "manifest.jsonl").read_bytes()
    again = build_dataset(out, pieces=PIECES, programs=PROGRAMS, programs_per_piece=1, clips_per_piece=2,
                          progress=False)
    assert again.units_rendered == 0 and again.units_resumed == 3 and again.new_clips == 0
    assert (out / "manifest.jsonl").read_bytes() == manifest
    # a second instrument per piece renders only the three new units and keeps the old rows
    more = build_dataset(out, pieces=PIECES, programs=PROGRAMS, programs_per_piece=2, clips_per_piece=2,
                         progress=False)
    assert more.units_rendered == 3 and more.units_resumed == 3
    assert (out / "manifest.jsonl").read_bytes().startswith(manifest)
    new_rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()][len(rows):]
    assert {(r["piece"], r["tags"]["instrument"]) for r in new_rows}.isdisjoint(
        {(r["piece"], r["tags"]["instrument"]) for r in rows})
    # a resumed build with another clip count or held-out fraction would mix two datasets: refused, nothing written
    for kwargs, flag in (({"clips_per_piece": 3}, "--clips-per-piece 2, not 3"), ({"heldout_fraction": 0.5},
                                                                                 "--heldout 0.1, not 0.5")):
        with pytest.raises(ValueError, match=flag):
            build_dataset(out, pieces=PIECES, programs=PROGRAMS, programs_per_piece=2, progress=False,
                          **{"clips_per_piece": 2, **kwargs})
    assert (out / "manifest.jsonl").read_bytes().startswith(manifest)


def test_score_pitch_classes_dominate_rendered_chroma(built):
    out, _, rows = built
    chroma = Chroma(sample_rate=22050, n_fft=2048, hop_length=512)
    folk = [r for r in rows if r["tags"]["collection"] == "essen"]
    assert folk
    for row in folk:
        arrays = _shard(out, row)
        audio = torch.from_numpy(from_int16(arrays["audio"][row["row"]]))
        top3 = chroma(audio)[:, :256].topk(3, dim=0).indices  # (3, frames)
        target = torch.from_numpy(arrays["pitch_class"][row["row"]].astype(np.int64))
        voiced = target >= 0
        hit = (top3 == target).any(0)[voiced].float().mean()
        tritone = (top3 == (target + 6) % 12).any(0)[voiced].float().mean()
        assert hit > 0.8, (row["id"], float(hit))
        assert tritone < 0.3, (row["id"], float(tritone))


def test_music_dataset_reads_clips_and_samples_batches(built):
    out, _, rows = built
    ds = MusicDataset(out)
    assert len(ds) == len(rows)
    assert ds.mel.shape == (len(rows), 80, 256)
    item = ds[0]
    assert item["mel"].dtype == torch.float32 and item["pitch_class"].shape == (256,)
    assert [ds.tag_vocab[f][i] for f, i in zip(ds.tag_vocab, item["tag_ids"].tolist())] == list(item["tags"].values())
    batch = ds.sample_batch(5, torch.Generator().manual_seed(3))
    assert batch["x0"].shape == (5, 80, 256) and batch["pitch_class"].shape == (5, 256)
    assert batch["tag_ids"].shape == (5, 4) and len(batch["captions"]) == 5
    assert batch["cond"]["tags"].shape == (5, ds.num_tags) and (batch["cond"]["tags"].sum(1) == 4).all()
    assert torch.equal(batch["cond"]["tags"], encode_tags([ds.records[i]["tags"] for i in batch["index"]],
                                                            ds.tag_vocab))
    same = ds.sample_batch(5, torch.Generator().manual_seed(3))
    assert torch.equal(batch["index"], same["index"]) and torch.equal(batch["x0"], same["x0"])
    x0, cond = split_batch(batch)
    assert x0 is batch["x0"] and cond is batch["cond"]
    with_audio = MusicDataset(out, load_audio=True)
    assert with_audio.batch([0, 1])["audio"].shape == (2, 1, 256 * 512)
    splits = {r["split"] for r in rows}
    for split in splits:
        part = MusicDataset(out, split=split)
        assert all(r["split"] == split for r in part.records)
        assert part.tag_vocab == ds.tag_vocab


def test_cli_backend_matches_pyfluidsynth():
    renderer = Renderer(backend="auto")
    if renderer.backend != "pyfluidsynth":
        pytest.skip("pyfluidsynth is not installed")
    notes = load_notes(next(p for p in list_pieces("essen") if p.id == "essen/kinder0/210"))
    a = renderer.render(notes, program=73)
    b = Renderer(backend="cli").render(notes, program=73)
    assert a.shape == b.shape
    spec = MelSpec()
    ma, mb = (spec.to_model(torch.from_numpy(x)[None])[0] for x in (a, b))
    assert torch.corrcoef(torch.stack([ma.flatten(), mb.flatten()]))[0, 1] > 0.95


def test_command_line_build_and_info(tmp_path, capsys):
    from tempo_kit.cli import main

    args = ["data", "build", "--out", str(tmp_path), "--pieces", "essen/kinder0/210", "--programs", "flute",
            "--programs-per-piece", "1", "--clips-per-piece", "1", "--quiet"]
    assert main(args) == 0
    assert "1 clips (1 new)" in capsys.readouterr().out
    assert main(args) == 0
    assert "resumed 1" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 clips" in out and "instrument  flute 1" in out


@pytest.mark.slow
def test_two_workers_build_the_same_clips_as_one(tmp_path):
    # the second piece renders after the first in one process: a render must not depend on the one before
    kwargs = {"pieces": ("essen/kinder0/210", "essen/zuccal0/24"), "programs": PROGRAMS, "programs_per_piece": 1,
              "clips_per_piece": 1, "progress": False}
    build_dataset(tmp_path / "one", workers=1, **kwargs)
    build_dataset(tmp_path / "two", workers=2, **kwargs)
    one, two = MusicDataset(tmp_path / "one", load_audio=True), MusicDataset(tmp_path / "two", load_audio=True)
    assert [r["id"] for r in one.records] == [r["id"] for r in two.records]
    assert torch.equal(one.audio, two.audio) and torch.equal(one.mel, two.mel)
    assert torch.equal(one.pitch_class, two.pitch_class)
