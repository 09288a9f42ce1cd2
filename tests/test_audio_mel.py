"""The mel model space: layout, frame arithmetic, the dB <-> [-1, 1] map and its inverse."""

import librosa
import numpy as np
import pytest
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.testing.synth import example_music, render_notes


def test_defaults_define_the_model_space():
    spec = MelSpec()
    assert spec.frame_rate == pytest.approx(22050 / 512)
    assert spec.num_frames(spec.num_samples(256)) == 256
    assert spec.num_samples(256) / spec.sample_rate == pytest.approx(255 * 512 / 22050)
    assert spec.seconds_to_frames(1.0) == 43
    assert spec.amin == pytest.approx(1e-8)


def test_to_model_layout_and_range():
    spec = MelSpec()
    y = torch.from_numpy(example_music(duration=spec.num_samples(256) / spec.sample_rate))
    x = spec.to_model(y[None])
    assert x.shape == (1, 80, 256)
    assert x.min() >= -1.0 and -1.0 < x.mean() < 1.0
    assert x.max() <= 1.1
    assert torch.equal(spec.to_model(y[None, None]), x)  # (batch, 1, samples) is accepted too
    silence = spec.to_model(torch.zeros(1, 4096))
    assert torch.allclose(silence, torch.full_like(silence, -1.0), atol=1e-6)


def test_from_model_inverts_to_model_and_matches_librosa_mel():
    spec = MelSpec()
    y = example_music(duration=2.0)
    x = spec.to_model(torch.from_numpy(y)[None])
    power = spec.from_model(x)[0].double().numpy() - spec.amin
    ref = librosa.feature.melspectrogram(y=y, sr=22050, n_mels=80, fmax=11025.0)
    assert np.linalg.norm(power - ref) / np.linalg.norm(ref) < 1e-4
    db = spec.model_to_db(x)
    assert torch.allclose(spec.db_to_model(db), x, atol=1e-6)
    assert np.allclose(db[0].numpy(), 10 * np.log10(ref + spec.amin), atol=1e-3)


def test_full_scale_sine_stays_near_plus_one():
    spec = MelSpec()
    y = render_notes([(69, 0.0, 2.0, 1.0)], duration=2.0, n_harmonics=1, noise_db=-90)
    x = spec.to_model(torch.from_numpy(y / np.abs(y).max())[None])
    assert 0.5 < float(x.max()) < 1.2


def test_configurable_and_validated():
    spec = MelSpec(n_mels=64, hop_length=256, top_db=100.0, db_max=20.0)
    assert spec.to_model(torch.zeros(1, 2048)).shape == (1, 64, 9)
    assert spec.db_to_model(torch.tensor(-100.0)) == pytest.approx(-1.0)
    assert spec.db_to_model(torch.tensor(20.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="top_db"):
        MelSpec(top_db=0.0)
    with pytest.raises(ValueError, match="fmax"):
        MelSpec(fmax=20000.0)
    with pytest.raises(ValueError, match="n_mels=64"):
        spec.from_model(torch.zeros(1, 80, 10))
