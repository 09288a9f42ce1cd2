"""Windowed-sinc polyphase resampling in torch."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from tempo_kit.audio.resample import Resample, resample


@pytest.mark.parametrize("orig,new", [(22050, 48000), (48000, 22050), (16000, 48000), (44100, 48000)])
def test_sine_is_preserved(orig, new):
    f = 997.0
    y = torch.sin(2 * math.pi * f * torch.arange(orig, dtype=torch.float64) / orig)
    z = resample(y[None], orig, new)
    assert z.shape == (1, math.ceil(new * orig / orig))
    ref = torch.sin(2 * math.pi * f * torch.arange(z.shape[-1], dtype=torch.float64) / new)
    edge = new // 20
    assert (z[0, edge:-edge] - ref[edge:-edge]).abs().max() < 2e-3


def test_close_to_scipy_resample_poly():
    rng = np.random.default_rng(0)
    y = scipy.signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(22050)) * 0.05  # mostly low-frequency noise
    ours = resample(torch.from_numpy(y)[None], 22050, 48000)[0].numpy()
    ref = scipy.signal.resample_poly(y, 320, 147)
    assert ours.shape == ref.shape
    sl = slice(500, -500)
    assert np.linalg.norm(ours[sl] - ref[sl]) / np.linalg.norm(ref[sl]) < 2e-2  # filters differ near Nyquist


def test_aliasing_is_suppressed_when_downsampling():
    orig, new = 48000, 22050
    y = torch.sin(2 * math.pi * 15000.0 * torch.arange(orig) / orig)  # above the new Nyquist
    z = resample(y[None], orig, new)
    assert z[0, 2000:-2000].abs().max() < 0.02


def test_identity_batch_and_gradient():
    r = Resample(orig_sr=22050, new_sr=48000)
    assert r.num_samples(22050) == 48000
    y = torch.randn(2, 3, 1000, requires_grad=True)
    z = r(y)
    assert z.shape == (2, 3, r.num_samples(1000))
    (g,) = torch.autograd.grad(z.square().sum(), y)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    same = Resample(orig_sr=16000, new_sr=16000)
    assert torch.equal(same(y), y)
