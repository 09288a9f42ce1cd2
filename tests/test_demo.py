"""``tempo-kit demo``, the main job: fast on tiny untrained models, and (slow) for real on the bundled models."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from pretrained_fake import make_fake_weights
from tempo_kit.cli import main

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "tempo_kit" / "weights"
NEEDED = ("presto-s-long", "ctm", "vocoder")
SAMPLES = 256 * 512


def _check_outputs(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    for path in summary["files"]:
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
    for name in ("clip_0", "clip_1", "clip_2", "melody"):
        audio, sr = soundfile.read(out / f"{name}.wav")
        assert sr == 22050 and audio.shape == (SAMPLES,)
    gen, mel = summary["generate"], summary["melody_control"]
    assert set(gen["wall_seconds"]) == {"load", "sample", "vocode"} and gen["rtf_cpu"] > 0
    assert {"control", "vocode", "baseline"} <= set(mel["wall_seconds"])
    for key in ("mel", "audio", "uncontrolled_mel", "uncontrolled_audio"):
        assert 0.0 <= mel["accuracy"][key] <= 1.0
    assert "melody frame accuracy" in (out / "summary.md").read_text()
    return summary


def test_demo_on_tiny_models_writes_every_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "weights")))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--tune", "0", "--iterations", "3", "--quiet"]) == 0
    summary = _check_outputs(out)
    assert summary["melody_control"]["iterations"] == 3 and summary["melody_control"]["tune"]["id"].endswith(":0")
    assert summary["generate"]["model"] == "presto-s-long"  # DEFAULT_MODEL: the best few-step generator on the ruler
    printed = capsys.readouterr().out
    assert "melody accuracy" in printed and "real-time factor" in printed


def test_demo_without_optimisation_still_writes_its_summary(tmp_path, monkeypatch):
    """--iterations 0 (the uncontrolled decode) once crashed formatting the loss history it does not have."""
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(make_fake_weights(tmp_path / "weights")))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--tune", "0", "--iterations", "0", "--quiet"]) == 0
    assert "No optimisation (0 iterations)" in (out / "summary.md").read_text()


def test_demo_without_tunes_says_how_to_make_them(tmp_path, monkeypatch, capsys):
    weights = make_fake_weights(tmp_path / "weights", names=("presto-s-long", "ctm"), vocoder=False)
    (weights / "tunes.json").unlink()
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    assert main(["demo", "--out", str(tmp_path / "demo"), "--vocoder", "griffin-lim", "--quiet"]) == 1
    assert "export-tunes" in capsys.readouterr().err


@pytest.mark.slow
def test_main_job_on_the_bundled_models(tmp_path):
    missing = [n for n in NEEDED if not (BUNDLED / n / "config.json").is_file()]
    if missing or not (BUNDLED / "tunes.json").is_file():
        pytest.skip(f"bundled models {missing} or tunes.json missing from {BUNDLED}: they come from the reference "
                    "training runs (configs/reference/*.toml) and `tempo-kit data export-tunes`")
    env = {k: v for k, v in os.environ.items() if k != "TEMPO_KIT_WEIGHTS"}
    out = tmp_path / "demo"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tempo_kit.cli", "demo", "--out", str(out), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert seconds < 180, f"the main job took {seconds:.0f} s (budget 3 min)"
    summary = _check_outputs(out)
    assert "melody accuracy" in proc.stdout
    accuracy = summary["melody_control"]["accuracy"]
    assert accuracy["mel"] >= 0.85 and accuracy["audio"] >= 0.90, accuracy  # measured 0.922 / 1.000 at seed 0
    assert accuracy["mel"] > accuracy["uncontrolled_mel"] + 0.4
    print(f"main job {seconds:.1f} s; melody accuracy {summary['melody_control']['accuracy']}")


def test_demo_output_is_log_safe(tmp_path):
    """Redirected to a file, the main job writes a handful of plain lines: no progress bars, no escape codes."""
    weights = make_fake_weights(tmp_path / "weights", names=("presto-s-long", "ctm"))
    env = {**os.environ, "TEMPO_KIT_WEIGHTS": str(weights)}
    run = subprocess.run([sys.executable, "-m", "tempo_kit.cli", "demo", "--out", str(tmp_path / "demo"),
                          "--iterations", "20", "--tune", "essen/test/0"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    log = run.stdout + run.stderr
    assert len(log.splitlines()) < 30, log
    assert "\r" not in log and "\x1b" not in log, log


@pytest.mark.parametrize("argv, message", [
    (["--toy", "--iterations", "5"], "--iterations apply to the main job on the bundled models, not to --toy"),
    (["--toy", "--tune", "han1/2", "--model", "cm"], "--model, --tune apply to the main job"),
    (["--n", "10"], "--n applies to --toy"),
])
def test_demo_refuses_options_the_chosen_job_would_ignore(argv, message, tmp_path, capsys):
    assert main(["demo", *argv, "--out", str(tmp_path / "d")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
