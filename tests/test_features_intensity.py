"""Intensity: dB values, Savitzky-Golay smoothing, and agreement of the mel-frame and audio paths."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.features import Intensity
from tempo_kit.testing.synth import example_music, render_notes

SPEC = MelSpec()


def test_mel_path_agrees_with_audio_path_on_music():
    y = torch.from_numpy(np.stack([example_music(seed=s) for s in (0, 1)]))
    x = SPEC.to_model(y)
    for window_s in (1.0, None):
        a = Intensity(domain="audio", window_s=window_s)(y)
        m = Intensity(domain="mel", window_s=window_s)(x)
        assert a.shape == m.shape == (2, SPEC.num_frames(y.shape[-1]))
        diff = (a - m).abs()
        assert float(diff.mean()) < 0.05 and float(diff.max()) < 0.5  # dB


def test_stationary_sine_reads_its_rms_in_db():
    amp = 0.3
    t = torch.arange(3 * SPEC.sample_rate) / SPEC.sample_rate
    y = amp * torch.sin(2 * math.pi * 440.0 * t)[None]
    expected = 20 * math.log10(amp / math.sqrt(2))
    for domain, inp in (("audio", y), ("mel", SPEC.to_model(y))):
        curve = Intensity(domain=domain)(inp)[0, 30:-30]
        assert torch.allclose(curve, torch.full_like(curve, expected), atol=0.05), domain


def test_smoothing_is_scipy_savgol_and_follows_a_crescendo():
    notes = [(60 + (i % 5), i * 0.25, i * 0.25 + 0.24, 0.05 + 0.9 * i / 23) for i in range(24)]
    y = torch.from_numpy(render_notes(notes, duration=6.0))[None]
    raw = Intensity(domain="audio", window_s=None)(y)[0].numpy()
    ext = Intensity(domain="audio", window_s=1.0, polyorder=3)
    smooth = ext(y)[0].numpy()
    ref = scipy.signal.savgol_filter(raw, ext.window_frames, 3, mode="nearest")
    assert ext.window_frames % 2 == 1 and abs(ext.window_frames - SPEC.frame_rate) <= 1
    assert np.allclose(smooth, ref, atol=1e-3)
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(raw)).mean()
    assert np.corrcoef(smooth[:240], np.arange(240))[0, 1] > 0.9


def test_declared_rates_and_lengths():
    for domain in ("mel", "audio"):
        ext = Intensity(domain=domain)
        assert ext.domain == domain and ext.sample_rate == 22050
        assert ext.frame_rate == pytest.approx(SPEC.frame_rate)
    assert Intensity(domain="audio").num_frames(130560) == 256
    assert Intensity(domain="mel").num_frames(256) == 256


def test_window_and_polyorder_are_checked():
    for window_s, error in ((1e5, ValueError), (-1.0, ValueError), (math.nan, ValueError), ("1", TypeError)):
        with pytest.raises(error, match="window_s"):
            Intensity(window_s=window_s)  # 1e5 s crashed the interpreter inside scipy's savgol_coeffs
    with pytest.raises(TypeError, match="polyorder must be an integer"):
        Intensity(polyorder=2.5)
    assert Intensity(window_s=None).window_frames == Intensity(window_s=0).window_frames == 0


def test_silence_floor_is_finite():
    out = Intensity(domain="audio", dither=0.0)(torch.zeros(1, 8192))
    assert torch.isfinite(out).all() and float(out.max()) == pytest.approx(-100.0, abs=0.1)


def test_spectral_flux_rises_at_a_note_start_on_mel_and_audio():
    from tempo_kit.audio.mel import MelSpec
    from tempo_kit.features import SpectralFlux

    sr, hop = 22050, 512
    t = torch.arange(64 * hop) / sr
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t) * (t >= 32 * hop / sr)  # silence, then a note at frame 32
    mel = MelSpec().to_model(tone[None])
    for flux in (SpectralFlux()(mel), SpectralFlux(domain="audio")(tone[None])):
        assert flux.shape == (1, 65)
        # a centred frame sees the note begin a frame early: the rise is within one frame of the note's start frame,
        # as onset_deficit's tolerance assumes, and the held note does not rise
        assert int(flux[0].argmax()) in (31, 32, 33) and flux[0, 40:60].max() < 0.05 * flux[0].max()
        assert flux[0, 31:34].max() > 0.5
    x = mel.clone().requires_grad_(True)
    SpectralFlux()(x)[0, 32].backward()  # the flux at t reads frames t and t - 1 only
    assert set(x.grad.abs().sum(1)[0].nonzero().flatten().tolist()) == {31, 32}
    import tempo_kit

    assert tempo_kit.get("extractors", "spectral-flux", domain="audio").domain == "audio"
