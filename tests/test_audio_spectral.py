"""Parity of the torch.stft front end with librosa, on music-like audio, and finite gradients on silence."""

import subprocess
import sys

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from tempo_kit.audio import MFCC, Chroma, MelSpectrogram, Spectrogram, dct_matrix, power_to_db
from tempo_kit.testing.synth import example_music

SR = 22050


@pytest.fixture(scope="module")
def music():
    return example_music(sample_rate=SR, duration=4.0, seed=3)


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def run(module, y):
    with torch.no_grad():
        return module(torch.from_numpy(y)[None])[0].numpy()


@pytest.mark.parametrize("kw", [
    dict(),
    dict(n_fft=1024, hop_length=256, n_mels=80, fmax=8000.0),
    dict(n_fft=2048, hop_length=512, n_mels=80, fmax=11025.0, pad_mode="reflect"),
    dict(n_fft=1024, hop_length=300, win_length=800, n_mels=64, fmin=50.0, htk=True),
])
def test_melspectrogram_matches_librosa(music, kw):
    ours = run(MelSpectrogram(sample_rate=SR, **kw), music)
    ref = librosa.feature.melspectrogram(y=music, sr=SR, **kw)
    assert ours.shape == ref.shape
    assert rel_err(ours, ref) <= 1e-4


def test_magnitude_spectrogram_matches_librosa(music):
    ours = run(Spectrogram(n_fft=1024, hop_length=256, power=1.0, center=False), music)
    ref = np.abs(librosa.stft(music, n_fft=1024, hop_length=256, center=False))
    assert ours.shape == ref.shape and rel_err(ours, ref) <= 1e-4


@pytest.mark.parametrize("kw", [dict(), dict(n_fft=4096, hop_length=1024), dict(pad_mode="reflect")])
def test_chroma_matches_librosa(music, kw):
    ours = run(Chroma(sample_rate=SR, **kw), music)
    ref = librosa.feature.chroma_stft(y=music, sr=SR, tuning=0, **kw)
    assert ours.shape == ref.shape and rel_err(ours, ref) <= 1e-4


def test_chroma_highpass_is_librosa_on_highpassed_spectrum(music):
    S = np.abs(librosa.stft(music, n_fft=2048, hop_length=512)) ** 2
    S[librosa.fft_frequencies(sr=SR, n_fft=2048) < 261.6] = 0.0
    ref = librosa.feature.chroma_stft(S=S, sr=SR, tuning=0)
    ours = run(Chroma(sample_rate=SR, highpass_hz=261.6), music)
    assert rel_err(ours, ref) <= 1e-4
    assert rel_err(run(Chroma(sample_rate=SR), music), ref) > 1e-2  # the high-pass does something here


@pytest.mark.parametrize("kw", [dict(), dict(n_mfcc=13, n_mels=80, fmax=11025.0)])
def test_mfcc_matches_librosa(music, kw):
    ours = run(MFCC(sample_rate=SR, **kw), music)
    ref = librosa.feature.mfcc(y=music, sr=SR, **kw)
    assert ours.shape == ref.shape and rel_err(ours, ref) <= 1e-4


def test_power_to_db_and_dct_match_references(music):
    S = librosa.feature.melspectrogram(y=music, sr=SR)
    for top_db in (80.0, None):
        ours = power_to_db(torch.from_numpy(S), top_db=top_db).numpy()
        assert np.allclose(ours, librosa.power_to_db(S, top_db=top_db), atol=1e-4)
    v = np.random.default_rng(0).standard_normal((40, 7))
    assert np.allclose(dct_matrix(40, 40) @ v, scipy.fft.dct(v, type=2, norm="ortho", axis=0))


def test_float64_input_stays_float64(music):
    out = MelSpectrogram(sample_rate=SR)(torch.from_numpy(music.astype(np.float64))[None])
    assert out.dtype == torch.float64
    ref = librosa.feature.melspectrogram(y=music.astype(np.float64), sr=SR)
    assert rel_err(out[0].numpy(), ref) <= 1e-6  # librosa builds its filterbank in float32


def test_batch_and_leading_axes(music):
    y = torch.from_numpy(music)
    mel = MelSpectrogram(sample_rate=SR)
    single = mel(y)
    assert torch.allclose(mel(y.expand(2, 3, -1))[1, 2], single, rtol=1e-5, atol=1e-6)
    assert mel.num_frames(y.shape[-1]) == single.shape[-1]


@pytest.mark.parametrize("make", [
    lambda: Spectrogram(power=1.0),
    lambda: MelSpectrogram(sample_rate=SR),
    lambda: Chroma(sample_rate=SR, highpass_hz=200.0),
    lambda: MFCC(sample_rate=SR),
])
def test_finite_gradients_on_digital_silence(make):
    y = torch.zeros(2, SR, requires_grad=True)
    out = make()(y)
    assert torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out.sum(), y)
    assert torch.isfinite(grad).all()


def test_buffers_are_not_persistent():
    assert MFCC().state_dict() == {}


def test_cqt_chroma_close_to_librosa_chroma_cqt(music):
    from tempo_kit.audio import CQTChroma

    y = torch.from_numpy(music)[None].requires_grad_()
    ours = CQTChroma(sample_rate=SR)(y)
    ref = librosa.feature.chroma_cqt(y=music, sr=SR, tuning=0)
    assert ours.shape[-2] == 12 and abs(ours.shape[-1] - ref.shape[-1]) <= 1
    n = min(ours.shape[-1], ref.shape[-1])
    # different CQT kernels: the same dominant pitch class in most frames
    agree = (ours[0, :, :n].argmax(0).numpy() == ref[:, :n].argmax(0)).mean()
    assert agree > 0.8
    (grad,) = torch.autograd.grad(ours.sum(), y)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [
    dict(sample_rate=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=11025.0),
    dict(sample_rate=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=None),
    dict(sample_rate=44100, n_fft=2048, n_mels=128, fmin=20.0, fmax=16000.0, htk=True),
    dict(sample_rate=22050, n_fft=1024, n_mels=64, norm=None),
    dict(sample_rate=22050, n_fft=1024, n_mels=64, norm=2.0),
])
def test_mel_filterbank_equals_librosa_without_importing_it(kwargs):
    import librosa

    from tempo_kit.audio.spectral import mel_filterbank

    ours = mel_filterbank(**kwargs)
    ref = librosa.filters.mel(sr=kwargs.pop("sample_rate"), dtype=np.float64, **kwargs)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)


def test_a_mel_front_end_does_not_import_librosa():
    code = ("import sys; from tempo_kit.audio.mel import MelSpec; MelSpec().frontend(); MelSpec().mel_to_linear(); "
            "assert 'librosa' not in sys.modules, 'librosa imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
