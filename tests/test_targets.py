"""Targets: presets, note lists, MIDI files, forms, reference audio, masked references, and their errors."""

import struct

import numpy as np
import pytest
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.control.targets import (
    IGNORE_INDEX,
    Target,
    intensity_curve,
    intensity_from_audio,
    melody_from_audio,
    melody_from_frames,
    melody_from_midi,
    melody_from_notes,
    note_number,
    read_midi,
    reference_target,
    structure_from_audio,
    structure_from_form,
)
from tempo_kit.data.render import midi_varlen
from tempo_kit.features.chroma import LogChroma
from tempo_kit.features.intensity import Intensity
from tempo_kit.features.masks import LoopFree, MaskedReconstruction
from tempo_kit.features.structure import MFCCSelfSimilarity
from tempo_kit.testing.synth import render_notes

FR = MelSpec().frame_rate


def test_intensity_presets_shape_range_and_rates():
    ext = Intensity()
    up = intensity_curve("crescendo", seconds=2.0, extractor=ext, low_db=-40, high_db=-10)
    assert up.n_frames == round(2.0 * FR) and up.frame_rate == ext.frame_rate and up.sample_rate == 22050
    assert up.value[0] == pytest.approx(-40) and up.value[-1] == pytest.approx(-10)
    assert (up.value[1:] >= up.value[:-1]).all()
    down = intensity_curve("decrescendo", n_frames=50, frame_rate=FR)
    assert (down.value[1:] <= down.value[:-1]).all()
    swell = intensity_curve("swell", n_frames=51, frame_rate=FR, low_db=-30, high_db=0)
    assert int(swell.value.argmax()) == 25 and swell.value[0] == pytest.approx(-30)
    flat = intensity_curve("constant", n_frames=10, frame_rate=FR, high_db=-12)
    assert torch.allclose(flat.value, torch.full((10,), -12.0))


def test_intensity_errors():
    with pytest.raises(ValueError, match="unknown intensity preset 'louder'.*crescendo"):
        intensity_curve("louder", n_frames=10, frame_rate=FR)
    with pytest.raises(ValueError, match="exactly one of n_frames= or seconds="):
        intensity_curve("swell", frame_rate=FR)
    with pytest.raises(ValueError, match="frame_rate"):
        intensity_curve("swell", n_frames=10)
    with pytest.raises(ValueError, match="finite"):
        intensity_curve("swell", n_frames=10, frame_rate=FR, low_db=float("nan"))


def test_intensity_from_audio_follows_a_fade_in():
    sr = 22050
    t = torch.arange(sr * 2) / sr
    audio = torch.sin(2 * torch.pi * 440 * t) * torch.linspace(0.01, 1.0, t.numel())
    ext = Intensity(domain="audio")
    tgt = intensity_from_audio(audio, extractor=ext)
    assert tgt.kind == "intensity" and tgt.value.ndim == 1 and tgt.n_frames == MelSpec().num_frames(t.numel())
    assert tgt.value[-20] - tgt.value[20] > 5 and tgt.value.argmax() > tgt.n_frames // 2  # louder at the end


def test_note_numbers():
    assert note_number("C4") == 60 and note_number("A4") == 69 and note_number("c#5") == 73
    assert note_number("Bb3") == 58 and note_number("E") == 64 and note_number(61) == 61
    assert note_number("60") == 60 and note_number(" 72 ") == 72  # a notes file's MIDI numbers are text
    with pytest.raises(ValueError, match="MIDI range"):
        note_number("200")
    for bad in ("H2", "C#x", "", "C-9", "6O", "-3", "\u0661\u0662"):
        with pytest.raises(ValueError):
            note_number(bad)
    with pytest.raises(ValueError, match="MIDI range"):
        note_number(130)
    assert note_number(np.int64(62)) == 62 and note_number(np.float32(64.0)) == 64  # numbers from numpy arrays
    with pytest.raises(TypeError, match="MIDI number or a name"):
        note_number(np.float32(60.5))


def test_melody_input_mistakes_are_named():
    with pytest.raises(TypeError, match="for note names use melody_from_notes"):
        melody_from_frames("C D E")
    with pytest.raises(TypeError, match="for note names use melody_from_notes"):
        melody_from_frames(["C", "D"])
    with pytest.raises(ValueError, match=r"\(frames,\) or \(batch, frames\), got shape \(1, 1, 32\)"):
        melody_from_frames(torch.zeros(1, 1, 32, dtype=torch.long))
    for tempo, error in ((float("inf"), ValueError), (0, ValueError), (-60, ValueError), ("120", TypeError),
                         (True, TypeError)):
        with pytest.raises(error, match=r"tempo \(beats per minute\) must be a finite number"):
            melody_from_notes([(60, 1.0)], frame_rate=10.0, tempo=tempo)


def test_melody_from_notes_seconds_beats_and_rests():
    fr = 10.0
    tgt = melody_from_notes([("C4", 0.3), ("r", 0.2), (67, 0.5)], frame_rate=fr)
    assert tgt.value.tolist() == [0, 0, 0, IGNORE_INDEX, IGNORE_INDEX, 7, 7, 7, 7, 7]
    beats = melody_from_notes([("E4", 1), ("F#4", 1)], frame_rate=fr, tempo=120)  # 0.5 s per beat
    assert beats.value.tolist() == [4] * 5 + [6] * 5
    padded = melody_from_notes([("D4", 0.2)], frame_rate=fr, n_frames=4)
    assert padded.value.tolist() == [2, 2, IGNORE_INDEX, IGNORE_INDEX]
    assert tgt.n_classes == 12 and tgt.kind == "melody"


def test_melody_errors():
    with pytest.raises(ValueError, match="empty"):
        melody_from_notes([], frame_rate=10)
    with pytest.raises(ValueError, match="positive"):
        melody_from_notes([("C4", -1)], frame_rate=10)
    with pytest.raises(ValueError, match="tempo"):
        melody_from_notes([("C4", 1)], frame_rate=10, tempo=0)
    with pytest.raises(ValueError, match="pair"):
        melody_from_notes(["C4"], frame_rate=10)
    with pytest.raises(ValueError, match=r"classes must be in 0-11.*got 12"):
        melody_from_frames([0, 5, 12], frame_rate=10)
    with pytest.raises(ValueError, match=r"classes must be in 0-11.*got -3"):
        melody_from_frames([0, -3], frame_rate=10)
    with pytest.raises(ValueError, match="NaN"):
        melody_from_frames(torch.tensor([0.0, float("nan")]), frame_rate=10)
    with pytest.raises(ValueError, match="integers"):
        melody_from_frames(torch.tensor([0.5, 1.0]), frame_rate=10)
    with pytest.raises(ValueError, match="no target"):
        melody_from_frames([IGNORE_INDEX] * 3, frame_rate=10)


def _write_midi(path, tracks, division=480):
    data = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), division)
    for events in tracks:
        body = b"".join(midi_varlen(d) + bytes(e) for d, e in events) + b"\x00\xff\x2f\x00"
        data += b"MTrk" + struct.pack(">I", len(body)) + body
    path.write_bytes(data)


def test_midi_reader_tempo_running_status_and_skyline(tmp_path):
    path = tmp_path / "tune.mid"
    tempo = [(0, [0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20])]  # 500000 us/quarter = 120 bpm
    # quarter notes C4, E4 (running status, note-on velocity 0 as note-off), then a G4 under a held C5
    lead = [(0, [0x90, 60, 100]), (480, [0x80, 60, 0]), (0, [0x90, 64, 90]), (480, [64, 0]),
            (0, [0x90, 67, 80]), (0, [0x91, 72, 80]), (480, [0x80, 67, 0]), (0, [0x81, 72, 0])]
    _write_midi(path, [tempo, lead])
    notes = read_midi(path)
    assert [(round(s, 3), round(e, 3), p, c) for s, e, p, c in notes] == [
        (0.0, 0.5, 60, 0), (0.5, 1.0, 64, 0), (1.0, 1.5, 67, 0), (1.0, 1.5, 72, 1)]
    tgt = melody_from_midi(path, frame_rate=10)
    assert tgt.value.tolist() == [0] * 5 + [4] * 5 + [0] * 5  # C5 (pc 0) is above G4 in the last beat
    assert melody_from_midi(path, frame_rate=10, channel=0).value.tolist()[-5:] == [7] * 5
    with pytest.raises(ValueError, match="no notes on channel 5"):
        melody_from_midi(path, frame_rate=10, channel=5)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF0000")
    with pytest.raises(ValueError, match="not a Standard MIDI File"):
        read_midi(bad)


def test_melody_from_audio_recovers_rendered_notes():
    spec = MelSpec()
    pitches = [72, 76, 79, 83]
    audio = torch.as_tensor(render_notes([(p, 0.5 * i, 0.5 * i + 0.5, 0.8) for i, p in enumerate(pitches)],
                                         sample_rate=spec.sample_rate, duration=2.0), dtype=torch.float32)
    tgt = melody_from_audio(spec.to_model(audio[None]), extractor=LogChroma())
    frames = tgt.value
    centres = [round((0.5 * i + 0.25) * spec.frame_rate) for i in range(4)]
    assert [int(frames[c]) for c in centres] == [p % 12 for p in pitches]


def test_structure_from_form():
    tgt = structure_from_form("ABA", n_frames=9, frame_rate=FR)
    v = tgt.value
    assert v.shape == (9, 9) and v[0, 8] == 1 and v[0, 4] == 0 and v[4, 4] == 1 and torch.equal(v, v.T)
    abba = structure_from_form("ABBA", n_frames=8, frame_rate=FR, same=1.0, different=-0.5)
    assert abba.value[2, 5] == 1 and abba.value[0, 3] == -0.5
    with pytest.raises(ValueError, match="section letters"):
        structure_from_form("A-B", n_frames=9)
    with pytest.raises(ValueError, match="only 2 frames"):
        structure_from_form("ABA", n_frames=2)


def test_structure_from_audio_is_the_reference_self_similarity():
    ext = MFCCSelfSimilarity(smoothing=None)
    ref = torch.randn(80, 32) * 0.3 - 0.3
    tgt = structure_from_audio(ref, extractor=ext)
    assert tgt.value.shape == (32, 32) and torch.allclose(tgt.value, ext(ref[None])[0])


def test_reference_targets_record_regions():
    n = 64
    ref = torch.randn(80, n)
    out = MaskedReconstruction.outpainting(n_frames=n, overlap_s=0.25)
    tgt = reference_target(ref, extractor=out, kind="outpainting")
    k = round(0.25 * FR)
    assert torch.equal(tgt.value, ref[:, -k:]) and tgt.regions == ((0.0, k / FR),)
    loop = LoopFree(overlap_s=0.25)
    assert reference_target(None, extractor=loop, kind="looping-free").value.shape == (k,)
    with pytest.raises(ValueError, match="NaN"):
        reference_target(torch.full((80, n), float("nan")), extractor=out)


def test_integer_targets_are_class_indices_except_whole_db_intensity():
    assert Target(value=torch.tensor([-20, -10]), kind="intensity").value.dtype == torch.float32
    for kind in ("melody", "pitch", "feature"):
        assert not Target(value=torch.tensor([0, 2, 4]), kind=kind).value.is_floating_point()


def test_target_value_checks():
    with pytest.raises(ValueError, match="NaN"):
        Target(value=torch.tensor([0.0, float("nan")]), kind="intensity")
    with pytest.raises(ValueError, match="empty"):
        Target(value=torch.zeros(0))
    with pytest.raises(ValueError, match="frame_rate must be positive"):
        Target(value=torch.zeros(3), frame_rate=0.0)
