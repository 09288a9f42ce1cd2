"""plugins/tempo-kit-extra-controls: brightness and rhythmic density as a separately installed plugin.

Unit checks run against the plugin's source tree; the installation checks pip-install the distribution into a
temporary directory (``--target``, nothing touches the virtual environment) and look at it through a subprocess whose
``PYTHONPATH`` points there, exactly as a user's environment would see it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.registry import Registry
from tempo_kit.testing import check_extractor
from tempo_kit.testing.synth import example_music

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "tempo-kit-extra-controls"
sys.path.insert(0, str(PLUGIN))  # the source tree, for the unit checks (the package name is unique)

import tempo_kit_extra_controls as xc  # noqa: E402
from tempo_kit_extra_controls import plugin as xc_plugin  # noqa: E402

SR = 22050
MEL = MelSpec()

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: thread start-up dominates on a busy machine


@pytest.fixture(scope="module")
def music() -> torch.Tensor:
    return torch.as_tensor(example_music(duration=3.0), dtype=torch.float32)[None]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(load_entry_points=False, plugins=[xc_plugin], strict=True)


# -- the features ------------------------------------------------------------------------------------------------------
def test_centroid_on_audio_matches_librosa(music):
    ours = xc.SpectralCentroid(domain="audio", window_s=None)(music)[0].numpy()
    # librosa.feature.spectral_centroid's definition on a numpy STFT with librosa's framing (centred, zero padding,
    # periodic Hann): librosa's own first stft call costs ~25 s of lazy imports and JIT on a busy machine
    y = np.pad(music[0].double().numpy(), 1024)
    frames = np.lib.stride_tricks.sliding_window_view(y, 2048)[::512]
    S = np.abs(np.fft.rfft(frames * np.hanning(2049)[:-1], axis=-1)).T
    freqs = librosa.fft_frequencies(sr=SR, n_fft=2048)[:, None]
    ref = (freqs * S).sum(0) / S.sum(0)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=0.05)


@pytest.mark.slow  # librosa's first stft / onset calls cost ~25 s of lazy imports and JIT on a busy machine
def test_features_match_librosa_functions(music):
    y = music[0].numpy()
    centroid = librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=2048, hop_length=512)[0]
    np.testing.assert_allclose(xc.SpectralCentroid(domain="audio", window_s=None)(music)[0].numpy(), centroid,
                               rtol=1e-4, atol=0.05)
    x = MEL.to_model(music)
    onset = librosa.onset.onset_strength(S=MEL.model_to_db(x)[0].numpy(), lag=1, center=False)
    np.testing.assert_allclose(xc.OnsetDensity(domain="mel", window_s=None)(x)[0].numpy(), onset, atol=1e-4)


def test_centroid_of_a_tone_is_its_frequency():
    t = torch.arange(SR) / SR
    tone = torch.sin(2 * math.pi * 1500.0 * t)[None]
    hz = xc.SpectralCentroid(domain="audio", power=2.0)(tone)[0, 5:-5]
    assert (hz - 1500.0).abs().max() < 15.0
    log_hz = xc.SpectralCentroid(domain="audio", power=2.0, scale="log-hz")(tone)[0, 5:-5]
    assert torch.allclose(log_hz.mean(), torch.tensor(xc.hz_to_log_hz(1500.0)), atol=0.01)


def test_centroid_mel_and_audio_paths_agree(music):
    audio = xc.SpectralCentroid(domain="audio", window_s=None)(music)[0]
    mel = xc.SpectralCentroid(domain="mel", window_s=None)(MEL.to_model(music))[0]
    assert mel.shape == audio.shape
    assert np.corrcoef(mel.numpy(), audio.numpy())[0, 1] > 0.95
    assert float(((mel - audio).abs() / audio).median()) < 0.2


def test_brighter_audio_has_a_higher_centroid(music):
    ext = xc.SpectralCentroid(domain="audio")
    bright = music + 0.2 * torch.randn(music.shape, generator=torch.Generator().manual_seed(0))  # white noise on top
    assert float(ext(bright).mean()) > float(ext(music).mean()) + 500.0


def test_onset_strength_matches_librosa(music):
    x = MEL.to_model(music)
    ours = xc.OnsetDensity(domain="mel", window_s=None)(x)[0].numpy()
    db = MEL.model_to_db(x)[0].numpy()
    ref = np.pad(np.maximum(0.0, db[:, 1:] - db[:, :-1]).mean(0), (1, 0))  # onset_strength(S=db, lag=1, center=False)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    audio = xc.OnsetDensity(domain="audio", window_s=None)(music)[0].numpy()
    np.testing.assert_allclose(audio, ours, atol=1e-3)


def test_denser_rhythm_gives_a_higher_rate():
    def clicks(per_second):
        y = torch.zeros(1, 2 * SR)
        y[0, :: SR // per_second] = 1.0
        return MEL.to_model(y)

    rate = xc.OnsetDensity(reduce="rate")
    sparse, dense = float(rate(clicks(2))), float(rate(clicks(8)))
    assert dense > 2.5 * sparse > 0
    assert rate(clicks(2)).shape == (1, 1) and rate.frame_rate is None and rate.num_frames(100) is None


@pytest.mark.parametrize("make,domain", [
    (lambda: xc.SpectralCentroid(domain="mel"), "mel"),
    (lambda: xc.SpectralCentroid(domain="audio", scale="log-hz"), "audio"),
    (lambda: xc.OnsetDensity(domain="mel"), "mel"),
    (lambda: xc.OnsetDensity(domain="audio"), "audio"),
    (lambda: xc.OnsetDensity(domain="mel", reduce="rate"), "mel"),
])
def test_contract_suite(make, domain, music):
    x = MEL.to_model(music[:, : SR]) if domain == "mel" else music[:, : SR]
    check_extractor(make(), x)


def test_silence_gives_finite_features_and_gradients():
    for ext in (xc.SpectralCentroid(domain="audio"), xc.OnsetDensity(domain="audio")):
        y = torch.zeros(1, SR // 2, requires_grad=True)
        out = ext(y)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(y.grad).all()


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="domain"):
        xc.SpectralCentroid(domain="latent")
    with pytest.raises(ValueError, match="scale"):
        xc.SpectralCentroid(scale="mel")
    with pytest.raises(ValueError, match="lag"):
        xc.OnsetDensity(lag=0)
    with pytest.raises(ValueError, match="n_mels=80"):
        xc.SpectralCentroid(domain="mel")(torch.zeros(1, 40, 10))
    with pytest.raises(ValueError, match="waveform"):
        xc.OnsetDensity(domain="audio")(torch.zeros(4))
    with pytest.raises(ValueError, match="more than lag"):
        xc.OnsetDensity(lag=3)(torch.zeros(1, 80, 2))


def test_one_sided_mse_only_counts_the_shortfall():
    f = torch.tensor([[1.0, 2.0, 3.0]])
    assert float(xc.one_sided_mse(f, torch.tensor([0.0, 0.0, 0.0]))) == 0.0
    assert float(xc.one_sided_mse(f, torch.tensor([2.0, 2.0, 2.0]))) == pytest.approx(1 / 3)
    assert float(xc.one_sided_mse(f, torch.tensor([2.0, 2.0, 2.0]), direction="below")) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="last axis"):
        xc.one_sided_mse(f, torch.zeros(4))


def test_registered_by_name(registry):
    ext = registry.get("extractors", "spectral-centroid", domain="audio", window_s=None)
    assert isinstance(ext, xc.SpectralCentroid) and ext.domain == "audio"
    assert isinstance(registry.get("extractors", "rhythmic-density"), xc.OnsetDensity)
    assert registry.entry("extractors", "rhythmic-density").plugin == xc_plugin.__name__
    loss = registry.get("losses", "one-sided-mse", direction="below")
    assert float(loss(torch.ones(1, 3), torch.zeros(3))) == pytest.approx(1.0)


def test_ditto2_steers_brightness_with_the_bundled_surrogate(registry):
    """The plugin's control with DITTO-2 on tempo_kit's bundled consistency model (no change to tempo_kit)."""
    from tempo_kit.control.ditto import DITTO2
    from tempo_kit.control.objective import Objective
    from tempo_kit.pretrained import load_pretrained, tag_condition

    ext = registry.get("extractors", "spectral-centroid", domain="mel", scale="log-hz")
    target = torch.full((256,), xc.hz_to_log_hz(4000.0))
    objective = Objective(extractor=ext, loss="mse", target=target, name="brightness")
    eps = torch.randn(1, 80, 256, generator=torch.Generator().manual_seed(0))
    result = DITTO2(iterations=15, lr=0.05, progress=False)(load_pretrained("cm"), [objective], eps=eps,
                                                           cond=tag_condition(instrument="flute"))
    history = result.objective_history["brightness"]
    assert history[-5:].mean() < 0.5 * history[:3].mean()


# -- installed with pip ------------------------------------------------------------------------------------------------
def _pip_install_target(source: Path, target: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _run(code_or_args: list[str], target: Path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TEMPO_KIT_")}
    environment.update(PYTHONPATH=str(target), TEMPO_KIT_STRICT_PLUGINS="1", OMP_NUM_THREADS="1", **env)
    return subprocess.run(code_or_args, capture_output=True, text=True, timeout=180, env=environment)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("extra-controls")
    source = root / "src"  # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip_install_target(source, root / "site")
    return root / "site"


# One interpreter for all checks (each start costs seconds of torch import): the ``tempo-kit`` console script is
# ``tempo_kit.cli:main``, called here with the same arguments.
INSTALLED_CHECKS = """
import contextlib, io, json, os, torch, tempo_kit
from tempo_kit.cli import main
listing = io.StringIO()
with contextlib.redirect_stdout(listing):
    code = main(["plugins", "--json"])
print(json.dumps({"cli": code, "listing": json.loads(listing.getvalue())}))
ext = tempo_kit.get('extractors', 'spectral-centroid', domain='audio')
y = torch.randn(2, 22050, requires_grad=True)
out = ext(y); out.mean().backward()
rate = tempo_kit.get('extractors', 'rhythmic-density', domain='audio', reduce='rate')(y)
print(type(ext).__module__, tuple(out.shape), bool(torch.isfinite(y.grad).all()), tuple(rate.shape))
# TEMPO_KIT_LOAD_PLUGINS restricts loading: without the plugin the name is unknown, and the error says so
os.environ['TEMPO_KIT_LOAD_PLUGINS'] = ''
from tempo_kit.registry import Registry, UnknownComponentError
try:
    Registry().get('extractors', 'spectral-centroid')
except UnknownComponentError as exc:
    print('restricted:', 'intensity' in str(exc))
"""


def test_installed_plugin_is_listed_by_the_cli_and_usable_by_name(installed):
    result = _run([sys.executable, "-c", INSTALLED_CHECKS], installed)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.strip().splitlines()
    cli = json.loads(first)
    assert cli["cli"] == 0
    listing = cli["listing"]
    ours = {(c["kind"], c["name"]) for c in listing["components"] if c["plugin"] == "extra-controls"}
    assert ours == {("extractor", "spectral-centroid"), ("extractor", "rhythmic-density"), ("loss", "one-sided-mse")}
    assert listing["failed_plugins"] == {}
    # the built-ins are still there next to the plugin's components
    assert any(c["name"] == "intensity" and c["plugin"] != "extra-controls" for c in listing["components"])
    assert " ".join(rest).split() == ["tempo_kit_extra_controls.features", "(2,", "44)", "True", "(2,", "1)",
                                      "restricted:", "True"]


@pytest.mark.slow  # one more interpreter start; the check above calls the same main() in-process
def test_console_script_lists_the_installed_plugin(installed):
    script = Path(sys.executable).parent / "tempo-kit"
    if not script.exists():
        pytest.skip("the tempo-kit console script is not installed next to this interpreter")
    result = _run([str(script), "plugins"], installed)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^extractor\s+spectral-centroid\s+extra-controls\s", result.stdout, re.M), result.stdout


# -- the example that composes this plugin with a built-in control ----------------------------------------------------
def test_compose_example_runs_fast_and_improves_both_controls(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("compose_third_party", ROOT / "examples" / "compose_third_party.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "compose.png"
    assert example.main(["--fast", "--no-progress", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    for name in ("intensity", "brightness"):
        before, after = map(float, re.search(rf"{name}: loss\s+([\d.]+) \(uncontrolled\) ->\s+([\d.]+)", printed).groups())
        assert after < 0.7 * before, printed
