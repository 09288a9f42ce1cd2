"""A plugin built by following docs/plugins/writing.md, from outside the repository, installed with pip.

The files are the page's own code blocks (so the page is what is tested): they are written to a temporary directory,
pip-installed into another one (``--target``; the virtual environment is not touched), and a fresh interpreter whose
``PYTHONPATH`` points there finds the plugin through its entry point, runs the page's usage block, and steers the
plugin's brightness feature with DITTO-2, next to tempo_kit's own intensity control, without any change to tempo_kit.

The control runs on the bundled CTM surrogate and the bundled vocoder (the page's brightness feature reads audio),
loaded by name from the installed tempo_kit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins" / "writing.md"

SCRIPT = r'''
import json
import torch
import tempo_kit
from tempo_kit.audio import MelSpec
from tempo_kit.control.ditto import DITTO2
from tempo_kit.control.objective import Objective
from tempo_kit.control.targets import intensity_curve
from tempo_kit.pretrained import load_pretrained, tag_condition

torch.manual_seed(0)
entry = tempo_kit.get_registry().entry("extractors", "brightness")
jump, vocoder = load_pretrained("ctm"), load_pretrained("vocoder")  # the bundled surrogate and vocoder
shape, mel = (1, 80, 256), MelSpec()
brightness = tempo_kit.get("extractors", "brightness", sample_rate=mel.sample_rate)
n_audio_frames = brightness.num_frames(vocoder(torch.zeros(shape)).shape[-1])
intensity = tempo_kit.get("extractors", "intensity", window_s=0.25)
objectives = [
    Objective(extractor=brightness, loss="mse", target=torch.full((n_audio_frames,), 3000.0), name="brightness",
              weight=1e-6),
    Objective(extractor=intensity, loss="mse", name="intensity", weight=1e-2,
              target=intensity_curve("crescendo", n_frames=shape[-1], extractor=intensity, low_db=-40.0,
                                     high_db=-10.0)),
]
eps = torch.randn(shape, generator=torch.Generator().manual_seed(0))
result = DITTO2(iterations=12, lr=0.05, progress=False)(jump, objectives, eps=eps, decoder=vocoder,
                                                       cond=tag_condition(instrument="flute"))
print(json.dumps({
    "plugin": entry.plugin, "module": type(brightness).__module__,
    "history": {k: v.tolist() for k, v in result.objective_history.items()},
    "audio_shape": list(result.audio.shape), "nfe": result.nfe,
}))
'''


def _page_blocks() -> tuple[dict[str, str], list[str]]:
    """Titled code blocks (files, by path) and untitled ``python`` blocks (usage snippets) of the page."""
    text = PAGE.read_text()
    files = {m["title"]: m["code"] for m in re.finditer(
        r'^```\w+ title="(?P<title>[^"]+)"\n(?P<code>.*?)^```$', text, re.M | re.S)}
    snippets = [m["code"] for m in re.finditer(r"^```python\n(?P<code>.*?)^```$", text, re.M | re.S)]
    return files, snippets


def _run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPO_KIT_")}
    env.update(PYTHONPATH=str(site), TEMPO_KIT_STRICT_PLUGINS="1", OMP_NUM_THREADS="1")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_plugin_from_the_docs_page_installs_and_composes_with_ditto2(tmp_path):
    files, snippets = _page_blocks()
    assert any(p.endswith("pyproject.toml") for p in files) and any(p.endswith(".py") for p in files)
    assert snippets, "the page has no usage block"
    src = tmp_path / "src"
    for rel, code in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(code)
    package = src / Path(next(iter(files))).parts[0]
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(package)],
                         capture_output=True, text=True, timeout=180)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert list(site.glob("*.dist-info/entry_points.txt")), "pip installed no entry points"
    shutil.rmtree(package)  # only the installed copy is left: nothing is imported from the source tree

    # one interpreter (each start costs seconds of torch import): the page's usage block first, then the control
    usage = f"exec(compile({snippets[0]!r}, '<docs usage block>', 'exec'), {{}})\nprint('usage block ran')\n"
    result = _run([sys.executable, "-c", usage + SCRIPT], site, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage block ran" in result.stdout
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["plugin"] == "brightness" and out["module"] == "tempo_kit_brightness"
    assert out["audio_shape"][-1] == 256 * 512 and out["nfe"] == 12 + 2  # K surrogate calls + T = 2 decoding calls
    for name, history in out["history"].items():
        assert min(history[-3:]) < 0.8 * history[0], f"DITTO-2 did not reduce the {name} loss: {history}"
