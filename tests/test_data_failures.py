"""Dataset builder: pure helpers and failure paths (no FluidSynth needed)."""

import builtins
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("music21")
from tempo_kit.data import MusicDataset, Renderer, build_dataset, caption, find_soundfont, list_pieces  # noqa: E402
from tempo_kit.data.dataset import encode_tags  # noqa: E402
from tempo_kit.data.corpus import NoteList, tempo_bucket, top_voice, unit_hash  # noqa: E402
from tempo_kit.data.render import _events, midi_bytes  # noqa: E402


def _notes(pitch, onset, offset):
    n = len(pitch)
    return NoteList(pitch=np.array(pitch), onset=np.array(onset, float), offset=np.array(offset, float),
                    velocity=np.full(n, 90), beat_bpm=90.0, mode="major", key="C major", title="")


def test_top_voice_takes_the_highest_sounding_note_and_marks_silence():
    notes = _notes([60, 67, 64], [0.0, 0.5, 1.0], [2.0, 1.0, 1.5])  # frame rate 4 Hz: frames at 0, .25, .5, ...
    top = top_voice(notes, n_frames=10, frame_rate=4.0)
    assert top.tolist() == [60, 60, 67, 67, 64, 64, 60, 60, -1, -1]
    shifted = top_voice(notes, n_frames=4, frame_rate=4.0, start=1.0)
    assert shifted.tolist() == [64, 64, 60, 60]


def test_repeated_notes_release_before_the_next_attack():
    events = _events(_notes([60, 60], [0.0, 1.0], [1.0, 2.0]), 100)
    assert events == [(0, 1, 60, 90), (100, 0, 60, 0), (100, 1, 60, 90), (200, 0, 60, 0)]


def test_midi_bytes_is_a_valid_file():
    from music21 import midi

    data = midi_bytes([(0, 1, 60, 90), (22050, 0, 60, 0)], program=19, sample_rate=22050)
    mf = midi.MidiFile()
    mf.readstr(data)
    program_change = midi.ChannelVoiceMessages.PROGRAM_CHANGE
    kinds = [e.type for e in mf.tracks[0].events if e.isNoteOn() or e.isNoteOff() or e.type == program_change]
    assert kinds[0] == program_change and len(kinds) == 3
    # 1 s at the default 120 quarters per minute and 500 ticks per quarter is 1000 ticks
    assert sum(e.time for e in mf.tracks[0].events if isinstance(e, midi.DeltaTime)) == 1000


def test_pieces_and_choices_are_deterministic():
    essen = list_pieces("essen")
    assert len(essen) > 8000 and len({p.id for p in essen}) == len(essen)
    assert [p.id for p in list_pieces("essen")[:5]] == [p.id for p in essen[:5]]
    bach = list_pieces("bach")
    assert len(bach) > 350 and all(p.id != "bach/bwv846" for p in bach)
    # chorale variants share a split group
    assert {p.group for p in bach if p.id.startswith("bach/bwv248.9")} == {"bach/bwv248.9"}
    assert 0.0 <= unit_hash("a", "b") < 1.0 and unit_hash("a", "b") != unit_hash("b", "a")


def test_tempo_buckets_and_caption():
    assert [tempo_bucket(b) for b in (60, 90, 130)] == ["slow", "moderate", "fast"]
    assert caption(instrument="organ", noun="chorale", tempo="slow", mode="minor") == \
        "A slow chorale in a minor key played on organ"
    assert caption(instrument="choir", noun="folk song", tempo="fast", mode="major") == \
        "A fast folk song in a major key sung by a choir"


@pytest.mark.parametrize("kwargs, message", [
    ({"collections": ("bach", "mozart")}, "valid names: bach, essen"),
    ({"programs": ("organ", "kazoo")}, "valid names: piano"),
    ({"programs": ("organ",), "programs_per_piece": 2}, "--programs-per-piece, default 2"),
    ({"programs": ("organ", "organ"), "programs_per_piece": 2}, "number of programs given \\(organ\\)"),
    ({"pieces": ("bach/bwv9999",)}, "unknown piece ids"),
    ({"pieces": ()}, "pieces is empty"),  # --pieces "" once started a build of every piece
])
def test_bad_arguments_name_the_problem(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_dataset(tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_command_line_reports_bad_arguments(tmp_path, capsys):
    from tempo_kit.cli import main

    assert main(["data", "build", "--out", str(tmp_path / "out"), "--programs", "organ,kazoo"]) == 1
    assert "unknown instrument program 'kazoo'" in capsys.readouterr().err


def test_data_commands_name_a_file_where_a_folder_belongs(tmp_path, capsys):
    from tempo_kit.cli import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["data", "build", "--out", str(afile), "--pieces", "bach/bwv321"]) == 1
    assert "is a file" in capsys.readouterr().err and afile.read_text() == "x"
    assert main(["data", "build", "--out", str(tmp_path / "o"), "--pieces", ""]) == 1
    assert "pieces is empty" in capsys.readouterr().err
    assert main(["data", "info", str(afile)]) == 1
    assert "is a file, not a dataset folder" in capsys.readouterr().err
    assert main(["data", "export-tunes", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "is a folder; give the tunes file" in capsys.readouterr().err
    from tempo_kit.pretrained import model_dir

    pairs = ["data", "ode-pairs", "--data", str(tmp_path), "--n", "2"]
    assert main([*pairs, "--teacher", str(model_dir("teacher")), "--out", str(tmp_path)]) == 1
    assert "is a folder; give the safetensors file" in capsys.readouterr().err
    assert main([*pairs, "--teacher", str(tmp_path / "none"), "--out", str(tmp_path / "a" / "b" / "p.safetensors")]) == 1
    assert not (tmp_path / "a").exists()  # a failure before the write leaves no empty folders
    assert main([*pairs, "--teacher", str(model_dir("vocoder")), "--out", str(tmp_path / "p.safetensors")]) == 1
    assert "is a Vocoder, not a denoiser network" in capsys.readouterr().err


def test_missing_soundfont_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="timgm6mb-soundfont"):
        find_soundfont(tmp_path / "none.sf2")


def test_missing_fluidsynth_says_what_to_install(tmp_path, monkeypatch):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF")
    real_import = builtins.__import__

    def no_fluidsynth(name, *args, **kwargs):
        if name == "fluidsynth":
            raise ImportError("Couldn't find the FluidSynth library.")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_fluidsynth)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install --no-install-recommends fluidsynth"):
        Renderer(soundfont=fake)
    with pytest.raises(RuntimeError, match="pyfluidsynth is unavailable"):
        Renderer(soundfont=fake, backend="pyfluidsynth")


def test_encode_tags_multi_hot_and_errors():
    vocab = {"instrument": ("flute", "organ"), "mode": ("major", "minor")}
    assert encode_tags({"instrument": "organ", "mode": "major"}, vocab).tolist() == [[0, 1, 1, 0]]
    assert encode_tags([{"mode": "minor"}, {}], vocab).tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="values: flute, organ"):
        encode_tags({"instrument": "kazoo"}, vocab)
    with pytest.raises(ValueError, match="fields: instrument, mode"):
        encode_tags({"colour": "red"}, vocab)


def test_music_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tempo-kit data build"):
        MusicDataset(tmp_path)
    with pytest.raises(ValueError, match="split"):
        MusicDataset(tmp_path, split="test")
