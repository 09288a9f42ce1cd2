"""MFCC self-similarity: cosine range, block structure of an ABA piece, smoothing, path agreement."""

import numpy as np
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.features import MFCCSelfSimilarity
from tempo_kit.testing.synth import render_notes

SPEC = MelSpec()


def aba():
    a = [(48 + (i % 3) * 4, i * 0.25, i * 0.25 + 0.2, 0.5) for i in range(8)]  # low arpeggio, short notes
    b = [(84 - (i % 2) * 5, 2 + i * 0.5, 2 + i * 0.5 + 0.5, 0.3) for i in range(4)]  # high, long notes
    a2 = [(p, s + 4, e + 4, v) for p, s, e, v in a]
    return torch.from_numpy(render_notes(a + b + a2, duration=6.0, n_harmonics=12))[None]


def test_aba_blocks_and_range():
    y = aba()
    S = MFCCSelfSimilarity(domain="audio", smoothing=None)(y)[0]
    n = S.shape[-1]
    assert S.shape == (n, n) and torch.allclose(S, S.T, atol=1e-5)
    assert float(S.max()) <= 1.0 + 1e-5 and float(S.min()) >= -1.0 - 1e-5
    assert torch.allclose(S.diagonal(), torch.ones(n), atol=1e-3)
    third = n // 3
    A1, B, A2 = slice(5, third - 5), slice(third + 5, 2 * third - 5), slice(2 * third + 5, n - 5)
    same = (S[A1, A2].mean() + S[B, B].mean()) / 2
    cross = (S[A1, B].mean() + S[B, A2].mean()) / 2
    assert float(same - cross) > 0.3


def test_mel_and_audio_paths_agree_and_smoothing_smooths():
    y = aba()
    a = MFCCSelfSimilarity(domain="audio")(y)
    m = MFCCSelfSimilarity(domain="mel")(SPEC.to_model(y))
    assert torch.allclose(a, m, atol=5e-3)
    raw = MFCCSelfSimilarity(domain="mel", smoothing=None)(SPEC.to_model(y))
    tv = lambda s: float((s[..., 1:] - s[..., :-1]).abs().mean())  # noqa: E731
    assert tv(m) < 0.7 * tv(raw)
    fixed = MFCCSelfSimilarity(domain="mel", smoothing=9)(SPEC.to_model(y))
    assert fixed.shape == raw.shape and not torch.allclose(fixed, m)


def test_c0_is_dropped_so_loudness_does_not_matter():
    y = aba()
    ext = MFCCSelfSimilarity(domain="audio", smoothing=None, dither=0.0)
    diff = (ext(y) - ext(0.25 * y)).abs()  # only the -80 dB floor is level-dependent
    assert float(diff.mean()) < 5e-3 and float(diff.max()) < 0.05
    assert np.isclose(ext.dct.shape[0], 19)
