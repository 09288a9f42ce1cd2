"""Every script in examples/ runs in its fast mode (control tasks on the bundled models, the third-party composition,
each distillation recipe with a few training steps), from a temporary directory so nothing lands in the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CONTROL = sorted(p.name for p in EXAMPLES.glob("control_*.py"))
DISTILL = sorted(p.name for p in EXAMPLES.glob("distill_*.py"))


def run_example(name: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(EXAMPLES)}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_every_example_is_covered():
    listed = set(CONTROL) | set(DISTILL) | {"compose_third_party.py"}
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == listed, f"examples without a test: {sorted(scripts - listed)}"


@pytest.mark.parametrize("name", [n for n in CONTROL if n != "control_text.py"])
def test_control_example_fast(name, tmp_path):
    proc = run_example(name, ["--fast", "--out", str(tmp_path)], tmp_path)
    plots, clips = sorted(tmp_path.glob("*.png")), sorted(tmp_path.glob("*.wav"))
    assert plots and {p.stem for p in plots} <= {c.stem for c in clips}, f"{name}: {plots} {clips}"  # a clip a plot
    assert "K = 4" in proc.stdout and "loss" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_text_control_example_fast(tmp_path):
    proc = run_example("control_text.py", ["--fast", "--out", str(tmp_path)], tmp_path)
    assert (tmp_path / "control_text.png").exists() and (tmp_path / "control_text.wav").exists()
    assert "CLAP similarity" in proc.stdout, proc.stdout


def test_compose_third_party_fast(tmp_path):
    out = tmp_path / "compose.png"
    run_example("compose_third_party.py", ["--fast", "--no-progress", "--out", str(out)], tmp_path)
    assert out.exists() and out.with_suffix(".wav").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [(n, ["--recipe", r]) for n in DISTILL if n == "distill_ring.py"
                                         for r in ("cm", "ctm", "presto-s")]
                         + [(n, []) for n in DISTILL if n != "distill_ring.py"])
def test_distill_example_few_steps(name, extra, tmp_path):
    proc = run_example(name, [*extra, "--steps", "20", "--out", str(tmp_path / "run")], tmp_path)
    assert "energy distance" in proc.stdout.lower() or "distance" in proc.stdout.lower(), proc.stdout[-2000:]
