"""tempo_kit.pipeline and ``tempo-kit generate`` / ``tempo-kit control`` on a folder of tiny untrained bundled models."""

import json

import numpy as np
import pytest
import soundfile
import torch

from pretrained_fake import make_fake_weights
from tempo_kit import pipeline as G
from tempo_kit.clips import parse_tags
from tempo_kit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLES = 256 * 512  # 256 mel frames at hop 512


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_fake_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(autouse=True)
def use_weights(weights, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))


def test_parse_tags():
    assert parse_tags("instrument=flute, mode=major") == {"instrument": "flute", "mode": "major"}
    assert parse_tags("") == {}
    for bad, message in [("flute", "FIELD=VALUE"), ("colour=red", "unknown tag field 'colour'"),
                         ("mode=major,mode=minor", "given twice")]:
        with pytest.raises(ValueError, match=message):
            parse_tags(bad)


def test_generate_command_writes_wavs_spectrograms_and_summary(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "--tags", "instrument=flute,mode=major", "--n", "2", "--model", "presto-s",
                 "--steps", "2", "--out", str(out), "--vocoder", "griffin-lim"]) == 0
    for i in range(2):
        audio, sr = soundfile.read(out / f"clip_{i}.wav")
        assert sr == 22050 and audio.shape == (SAMPLES,) and np.abs(audio).max() > 0
        assert (out / f"clip_{i}.png").stat().st_size > 10_000
    summary = json.loads((out / "clips.json").read_text())
    assert summary["model"] == "presto-s" and summary["steps"] == 2 and summary["clips"] == 2
    assert summary["sigmas"] == [80.0, 0.15, 0.0]  # the levels it was made at, recorded
    assert summary["tags"] == [{"instrument": "flute", "mode": "major"}] * 2
    assert set(summary["wall_seconds"]) == {"load", "sample", "vocode"}
    assert summary["audio_seconds"] == pytest.approx(2 * SAMPLES / 22050, rel=1e-3)
    assert summary["rtf_cpu"] > 0 and summary["rtf_wall"] > 0
    assert "real-time factor" in capsys.readouterr().out


def test_generate_with_the_bundled_vocoder_and_per_clip_tags():
    clips = G.generate([{"instrument": "organ"}, {}], model="cm", steps=1)
    assert clips.audio.shape == (2, SAMPLES) and clips.mel.shape == (2, 80, 256)
    assert clips.vocoder == "vocoder" and clips.sample_rate == 22050
    assert clips.audio.abs().max() <= 1.0
    assert clips.summary()["scaled_down_db"] == [round(g, 2) for g in clips.scaled_down_db]
    assert not torch.allclose(clips.mel[0], clips.mel[1])  # different tags (and noise) give different clips


def test_the_scaling_each_clip_got_is_reported():
    import attrs

    pipe = G.Pipeline.from_pretrained("cm", steps=1)
    vocoder = pipe.vocoder

    class Loud(torch.nn.Module):  # the bundled vocoder, 4x louder: clips peak above full scale
        def forward(self, mel):
            return 4 * vocoder(mel)

    with pytest.warns(UserWarning, match="scaled down"):
        clips = attrs.evolve(pipe, vocoder=Loud())([{"instrument": "organ"}, {}], n=2, seed=0)
    with torch.no_grad():
        peaks = (4 * vocoder(clips.mel)).reshape(2, -1).abs().amax(-1)
    assert peaks.min() > 1 and clips.audio.abs().max() <= 1
    torch.testing.assert_close(torch.tensor(clips.scaled_down_db), 20 * peaks.log10(), atol=1e-3, rtol=0)


def test_generate_is_seeded():
    a, b, c = (G.generate({"mode": "minor"}, model="ctm", steps=2, seed=s, vocoder="griffin-lim") for s in (3, 3, 4))
    assert torch.equal(a.mel, b.mel) and not torch.allclose(a.mel, c.mel)


@pytest.mark.parametrize("argv, message", [
    (["--tags", "instrument=kazoo"], "unknown instrument 'kazoo'"),
    (["--tags", "timbre=bright"], "unknown tag field 'timbre'"),
    (["--model", "nosuch"], "no bundled model 'nosuch'"),
    (["--model", "vocoder"], "not a generator"),
    (["--sampler", "nosuch"], "unknown sampler 'nosuch'"),
    (["--model", "ctm", "--sampler", "heun"], "drives a denoiser, but 'ctm' is a jump"),
])
def test_generate_command_errors_name_the_problem(argv, message, tmp_path, capsys):
    assert main(["generate", *argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1  # one line, on stderr


def test_missing_vocoder_suggests_griffin_lim(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "w", names=("cm",), vocoder=False)))
    assert main(["generate", "--model", "cm", "--out", str(tmp_path / "out")]) == 1
    assert "--vocoder griffin-lim" in capsys.readouterr().err


def test_control_melody_moves_toward_the_target():
    from tempo_kit.data.tunes import get_tune
    from tempo_kit.features.chroma import LogChroma

    tune = get_tune(0)
    run = G.control("melody", tags=tune.tags, target=tune.target(extractor=LogChroma()), iterations=15, lr=0.1,
                    progress=False)
    s = run.summary()
    assert s["last_loss"] < s["first_loss"]
    assert set(s["accuracy"]) == {"mel", "audio", "uncontrolled_mel", "uncontrolled_audio"}
    assert s["accuracy"]["mel"] > s["accuracy"]["uncontrolled_mel"]
    assert s["nfe_optimization"] == 15 * 2 and s["nfe_decoding"] == 2  # optimised through the 2-step decode
    assert run.audio.shape == (1, SAMPLES)


def test_control_command_on_bundled_models_with_a_notes_file(tmp_path, capsys):
    notes = tmp_path / "tune.txt"
    notes.write_text("# a scale\nC4:1 D4:1, E4:1 r:1\nG4:2\n")
    out = tmp_path / "ctl"
    assert main(["control", "melody", "--model", "cm", "--notes", str(notes), "--tempo", "120", "--tags",
                 "instrument=flute", "--iterations", "3", "--vocoder", "griffin-lim", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "melody_ditto2.json").read_text())
    assert summary["model"] == "cm" and summary["tags"] == {"instrument": "flute"} and summary["iterations"] == 3
    audio, sr = soundfile.read(out / "melody_ditto2.wav")
    assert sr == 22050 and audio.shape == (SAMPLES,)
    assert (out / "melody_ditto2.png").stat().st_size > 10_000
    assert abs(audio[0]) < 1e-3 and abs(audio[-1]) < 1e-3  # the file fades in and out (no click at the ends)


def test_control_command_writes_loops_without_fades(tmp_path):
    out = tmp_path / "loop"
    assert main(["control", "looping", "--model", "cm", "--iterations", "2", "--vocoder", "griffin-lim", "--quiet",
                 "--out", str(out)]) == 0
    audio, _ = soundfile.read(out / "looping_ditto2.wav")
    assert np.abs(audio[-50:]).max() > 1e-3  # the loop's end meets its start: written as it is


def test_control_command_melody_objective_on_the_vocoded_audio(tmp_path):
    out = tmp_path / "ctl"
    assert main(["control", "melody", "--iterations", "2", "--domain", "mel+audio", "--quiet",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "melody_ditto2.json").read_text())
    assert summary["objective_domains"] == {"melody": "mel", "melody_audio": "audio", "melody_octaves": "mel"}
    assert summary["backward_optimization"] == 2 * 2 and set(summary["final_losses"]) == {
        "melody", "melody_audio", "melody_octaves"}
    assert summary["octave_weight"] == 4.0  # the default register objective
    assert set(summary["accuracy"]) == {"mel", "audio", "uncontrolled_mel", "uncontrolled_audio"}
    assert isinstance(summary["scaled_down_db"], float)  # the loudness change is in the summary (0.0 if none)
    assert main(["control", "melody", "--iterations", "1", "--domain", "mel", "--octave-weight", "3",
                 "--onset-weight", "2", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "melody_ditto2.json").read_text())
    assert summary["objective_domains"] == {"melody": "mel", "melody_octaves": "mel", "melody_onsets": "audio"}
    assert summary["onset_weight"] == 2.0
    assert summary["octave_weight"] == 3.0


def test_control_command_intensity_curve_read_on_the_vocoded_audio(tmp_path):
    from tempo_kit.pipeline import control_defaults

    curve = tmp_path / "curve.csv"
    curve.write_text("seconds,dB\n0,-38\n0.7,-18\n1.4,-30\n")
    out = tmp_path / "ctl"
    assert main(["control", "intensity", "--target", str(curve), "--domain", "audio", "--iterations", "2",
                 "--frames", "64", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "intensity_ditto2.json").read_text())
    assert summary["objective_domains"] == {"intensity": "audio"} and summary["target_file"] == str(curve)
    assert main(["control", "intensity", "--target", str(curve), "--domain", "mel", "--iterations", "1",
                 "--frames", "64", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "intensity_ditto2.json").read_text())["objective_domains"] == {"intensity": "mel"}
    # no --domain, no --iterations: the task's defaults (the loudness read on the vocoded audio at its own K)
    assert main(["control", "intensity", "--target", str(curve), "--frames", "32", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "intensity_ditto2.json").read_text())
    assert summary["objective_domains"] == {"intensity": "audio"}
    assert summary["iterations"] == control_defaults("ctm", "intensity")["iterations"] == 60
    assert control_defaults("ctm", "intensity", "mel")["iterations"] == control_defaults("ctm")["iterations"] == 200


@pytest.mark.parametrize("argv, message", [
    (["melody", "--tune", "nosuch"], "no bundled tune matches 'nosuch'"),
    (["melody", "--method", "ditto"], "toy generator only"),
    (["intensity", "--model", "nosuch"], "no bundled model 'nosuch'"),
    (["melody", "--notes", "MISSING"], "--notes 'MISSING': no such file"),
    (["melody", "--model", "toy", "--octave-weight", "2"], "the toy generator has no octaves"),
    (["intensity", "--model", "toy", "--tags", "instrument=flute"], "the toy generator has no tags and no vocoder"),
    (["intensity", "--model", "toy", "--vocoder", "griffin-lim"], "the toy generator has no tags"),
    (["intensity", "--octave-weight", "2"], "octave_weight applies to the named melody task"),
    (["intensity", "--onset-weight", "2"], "onset_weight applies to the named melody task"),
    (["melody", "--model", "toy", "--onset-weight", "1"], "--onset-weight needs a bundled model"),
    (["structure", "--domain", "audio"], "--domain applies to the intensity and melody tasks, not to structure"),
    (["--extractor", "structure", "--target", "x.wav", "--domain", "mel"], "--domain applies to the intensity and"),
    (["intensity", "--model", "toy", "--domain", "audio"], "--domain needs a bundled model"),
])
def test_control_command_errors_name_the_problem(argv, message, tmp_path, capsys):
    assert main(["control", *argv, "--quiet", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _recording(path, seconds=7.0, rate=44100):
    """A rising tone with a crescendo at another sample rate than the models' (so it is resampled)."""
    t = np.arange(int(rate * seconds)) / rate
    freq = np.repeat([440.0, 494.0, 523.0, 587.0], len(t) // 4 + 1)[:len(t)]
    soundfile.write(path, (np.sin(2 * np.pi * np.cumsum(freq) / rate) * np.linspace(0.02, 0.6, len(t))).astype(np.float32),
                    rate)
    return path


def test_read_recording_resamples_and_takes_the_first_frames(tmp_path):
    from tempo_kit.commands.control import read_recording

    mel = read_recording(_recording(tmp_path / "r.wav"), 256)
    assert mel.shape == (80, 256) and torch.isfinite(mel).all()
    with pytest.raises(ValueError, match=r"gives \d+ frames \(7.0\d s\) but the output has 512 .* --frames 296"):
        read_recording(tmp_path / "r.wav", 512)


def test_read_recording_rejects_silence_and_mixes_stereo_with_a_note(tmp_path):
    from tempo_kit.commands.control import read_recording

    soundfile.write(tmp_path / "silent.wav", np.zeros(22050 * 7, dtype=np.float32), 22050)
    with pytest.raises(ValueError, match="silent.wav' is silent"):
        read_recording(tmp_path / "silent.wav", 256)
    late = np.zeros(22050 * 7, dtype=np.float32)
    late[22050 * 6:] = 0.5 * np.sin(np.arange(22050) * 0.1)  # sound only after the part the target uses
    soundfile.write(tmp_path / "late.wav", late, 22050)
    with pytest.raises(ValueError, match=r"first 5\.94 s of the recording .*late.wav' are silent"):
        read_recording(tmp_path / "late.wav", 256)
    soundfile.write(tmp_path / "tiny.wav", 0.5 * np.sin(np.arange(2000) * 0.1).astype(np.float32), 22050)
    with pytest.raises(ValueError, match="use a longer recording"):
        read_recording(tmp_path / "tiny.wav", 256)
    mono, _ = soundfile.read(_recording(tmp_path / "r.wav"), dtype="float32")
    soundfile.write(tmp_path / "stereo.wav", np.stack([mono, mono], axis=1), 44100)
    with pytest.warns(UserWarning, match="2 channels; mixed down to mono"):
        stereo = read_recording(tmp_path / "stereo.wav", 256)
    assert torch.allclose(stereo, read_recording(tmp_path / "r.wav", 256), atol=1e-5)


@pytest.mark.parametrize("text, suffix, db, seconds", [
    ("seconds,dB\n0,-35\n3,-12\n5.9,-30\n", ".csv", [-35.0, -12.0, -30.0], [0.0, 3.0, 5.9]),
    ("-30\n-10\n", ".csv", [-30.0, -10.0], None),
    ("[-30, -20, -10]", ".json", [-30.0, -20.0, -10.0], None),
    ('{"seconds": [0, 2], "db": [-30, -10]}', ".json", [-30.0, -10.0], [0.0, 2.0]),
    ('\ufeff{"seconds": [0, 2], "dB": [-30, -10]}', ".json", [-30.0, -10.0], [0.0, 2.0]),  # BOM, "dB"
    ("\ufeff-30\n-10\n", ".csv", [-30.0, -10.0], None),
])
def test_read_curve_formats(text, suffix, db, seconds, tmp_path):
    from tempo_kit.commands.control import read_curve

    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    assert read_curve(path) == (db, seconds)


@pytest.mark.parametrize("text, message", [
    ("[-30, ", "not valid JSON"), ('{"loud": [1]}', "no 'db' key"), ('{"db": -30}', "dB values must be a list"),
    ('{"db": [-30, "x"]}', "dB values must be a list of numbers"), ('{"db": [-30], "seconds": [0, 1]}', "2 'seconds'"),
    ('"loud"', "must be a list of numbers"), ('[true, 1]', "must be a list of numbers"),
])
def test_read_curve_rejects_malformed_json_naming_the_file(text, message, tmp_path):
    from tempo_kit.commands.control import read_curve

    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"bad.json'.*{message}"):
        read_curve(path)


def test_intensity_from_points_interpolates_and_holds_the_ends():
    from tempo_kit.control import intensity_from_points

    t = intensity_from_points([-30.0, -10.0], seconds=[1.0, 2.0], n_frames=130, frame_rate=43.0)
    assert t.value.shape == (130,) and t.value[0] == -30 and t.value[-1] == -10
    assert t.value[64] == pytest.approx(-30 + 20 * (64 / 43 - 1), abs=1e-4)
    with pytest.raises(ValueError, match="strictly increasing"):
        intensity_from_points([-30.0, -10.0], seconds=[2.0, 1.0], n_frames=10, frame_rate=43.0)
    with pytest.raises(ValueError, match="1 of 1 are NaN or inf"):
        intensity_from_points([float("nan")], n_frames=10, frame_rate=43.0)
    with pytest.raises(ValueError, match="1 of 2 are NaN"):  # the message once said no value was finite
        intensity_from_points([float("nan"), -10.0], n_frames=10, frame_rate=43.0)
    with pytest.raises(ValueError, match="1e\\+39 is out of range"):
        intensity_from_points([-30.0, 1e39], n_frames=10, frame_rate=43.0)
    for impossible in ([200.0, 300.0], [-30.0, 13.0], [-121.0, -30.0]):  # above full scale, below the floor
        with pytest.raises(ValueError, match="out of range \\[-120, 12\\]"):
            intensity_from_points(impossible, n_frames=10, frame_rate=43.0)
    # the smoothed loudness of a recording overshoots the floor and full scale a little: read back, it is accepted
    assert intensity_from_points([-104.8, 7.7], n_frames=10, frame_rate=43.0).value[-1] == pytest.approx(7.7)
    with pytest.raises(ValueError, match="shape \\(2, 2\\); pass the times as seconds="):
        intensity_from_points([[-30.0, -10.0], [-20.0, -5.0]], n_frames=10, frame_rate=43.0)


@pytest.mark.parametrize("argv, kind", [
    (["intensity", "--target", "{curve}"], "intensity"),
    (["melody", "--target", "{rec}"], "melody"),
    (["outpainting", "--target", "{rec}"], "outpainting"),
    (["--extractor", "structure", "--target", "{rec}"], "structure"),
])
def test_control_command_takes_its_target_from_a_file(argv, kind, tmp_path):
    curve = tmp_path / "curve.csv"
    curve.write_text("seconds,dB\n0,-35\n3,-12\n5.9,-30\n")
    rec = _recording(tmp_path / "rec.flac")
    argv = [a.format(curve=curve, rec=rec) for a in argv]
    out = tmp_path / "ctl"
    assert main(["control", *argv, "--model", "ctm", "--iterations", "2", "--vocoder", "griffin-lim", "--quiet",
                 "--out", str(out)]) == 0
    summary = json.loads((out / f"{kind}_ditto2.json").read_text())
    assert summary["target_file"] in (str(curve), str(rec)) and kind in summary["final_losses"]
    # the task's default optimizer also when its objectives come from a file (SampleAdam on the painting tasks)
    assert summary["optimizer"] == ("adam-sample" if kind == "outpainting" else "adam")


@pytest.mark.parametrize("argv, message", [
    (["structure", "--target", "{curve}"], "a curve file (.csv) is an intensity target"),
    (["--target", "{rec}"], "give a control task"),
    (["melody", "--extractor", "chroma", "--target", "{rec}"], "not both"),
    (["--extractor", "chroma"], "--extractor needs --target"),
    (["--extractor", "nosuch", "--target", "{rec}"], "nosuch"),
    (["--extractor", "reconstruction", "--target", "{rec}"], "cannot be built without arguments"),
    (["melody", "--target", "{rec}", "--midi", "x.mid"], "give one melody target"),
    (["melody", "--target", "{curve}.txt"], "no such file"),
    (["melody", "--notes", "{curve}.txt"], "--notes '"),
    (["melody", "--midi", "{curve}.mid"], "--midi '"),
    (["looping-free", "--target", "{rec}"], "no target to take from a file"),
    (["melody", "--notes", "{curve}", "--tune", "han1"], "give one melody target: --tune or --notes, not several"),
    (["intensity", "--notes", "{curve}"], "--notes set a melody target: they apply to the melody task"),
    (["melody", "--model", "toy", "--notes", "{curve}"], "on --model toy"),
    (["melody", "--tempo", "90"], "--tempo applies to --notes"),
])
def test_control_command_file_target_errors(argv, message, tmp_path, capsys):
    curve = tmp_path / "curve.csv"
    curve.write_text("-30\n-10\n")
    rec = _recording(tmp_path / "rec.wav", seconds=6.5)
    argv = [a.format(curve=curve, rec=rec) for a in argv]
    assert main(["control", *argv, "--quiet", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_read_notes_rejects_malformed_tokens(tmp_path):
    from tempo_kit.commands.control import read_notes

    path = tmp_path / "n.txt"
    path.write_text("C4:1 D4")
    with pytest.raises(ValueError, match="NOTE:DURATION"):
        read_notes(path)
    path.write_text("C4:x")
    with pytest.raises(ValueError, match="not a number"):
        read_notes(path)


def test_default_surrogate_is_the_first_bundled_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "a", names=("cm", "presto-s"),
                                                                  vocoder=False)))
    assert G.default_control_model() == "cm"
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "b", names=("teacher",), vocoder=False)))
    with pytest.raises(FileNotFoundError, match="none of the DITTO-2 surrogates"):
        G.default_control_model()


def test_read_notes_accepts_sharps_and_comments(tmp_path):
    from tempo_kit.commands.control import read_notes
    from tempo_kit.control.targets import note_number

    path = tmp_path / "tune.txt"
    path.write_text("# a tune\nF#4:1 Bb3:0.5, C#5:0.25  # the end\n#r:4\nD4:1#no space before the comment\n")
    assert read_notes(path) == [("F#4", 1.0), ("Bb3", 0.5), ("C#5", 0.25), ("D4", 1.0)]
    assert [note_number(n) for n, _ in read_notes(path)] == [66, 58, 73, 62]
    path.write_text("C##4:0.5 D4:0.5 ## a comment\n")  # a double sharp is a note, a '#' after a space a comment
    assert read_notes(path) == [("C##4", 0.5), ("D4", 0.5)]
    path.write_text("F#4:1 r:0.5\r\n", encoding="utf-16")  # with its byte-order mark, as Windows editors save it
    assert read_notes(path) == [("F#4", 1.0), ("r", 0.5)]


def test_a_curve_value_with_a_typo_is_an_error_not_a_header(tmp_path):
    from tempo_kit.commands.control import read_curve
    from tempo_kit.control.targets import intensity_from_points

    path = tmp_path / "c.csv"
    path.write_text("-2O\n-20\n-10\n")  # a letter O for a zero: was read as a header and dropped
    with pytest.raises(ValueError, match="c.csv.*'-2O'"):
        read_curve(path)
    path.write_text("[" + "9" * 400 + "]")
    with pytest.raises(ValueError, match="too large for a float"):
        read_curve(path.rename(tmp_path / "c.json"))
    with pytest.raises(ValueError, match="every point of the curve lies outside the clip"):
        intensity_from_points([-30, -10], seconds=[100, 200], n_frames=64, frame_rate=43.07)  # milliseconds?


def test_generate_runs_a_plugin_sampler_by_name(install_plugins, tmp_path, monkeypatch, capsys):
    install_plugins("good")
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "w", names=("teacher",))))
    argv = ["generate", "--model", "teacher", "--sampler", "fixture-euler", "--steps", "3", "--seconds", "1.5",
            "--vocoder", "griffin-lim", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "out" / "clips.json").read_text())
    assert summary["sampler"] == "fixture-euler" and summary["steps"] == 3
    assert summary["audio_seconds"] / summary["clips"] == pytest.approx(64 * 512 / 22050, abs=1e-3)  # 64 frames


def test_a_melody_recording_is_read_from_its_audio(tmp_path, capsys):
    """The mel frames' wide low bands read an A3 sine as C# through the high-pass leakage; the control command reads a
    melody recording from its waveform, so such a recording is refused with the reason, and a D4 tone is read as D."""
    from tempo_kit.commands.control import _melody_from_recording, read_recording
    from tempo_kit.features.chroma import LogChroma

    rate = 22050
    t = np.arange(int(6.5 * rate)) / rate
    low = tmp_path / "a3.wav"
    soundfile.write(low, (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), rate)
    assert main(["control", "melody", "--target", str(low), "--iterations", "1", "--quiet",
                 "--out", str(tmp_path / "o")]) == 1
    assert "lies below the chroma's high-pass" in capsys.readouterr().err
    d4 = tmp_path / "d4.wav"
    soundfile.write(d4, sum(0.3 / k * np.sin(2 * np.pi * 293.7 * k * t) for k in range(1, 6)).astype(np.float32), rate)
    target = _melody_from_recording(read_recording(d4, 256, waveform=True), extractor=LogChroma())
    assert target.value.shape == (256,) and bool((target.value == 2).all())
