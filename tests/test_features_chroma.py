"""Melody log-chroma: pitch classes of rendered notes, log-probabilities, high-pass, accuracy helper."""

import numpy as np
import pytest
import torch

from tempo_kit.audio import MelSpec
from tempo_kit.features import LogChroma, melody_accuracy
from tempo_kit.testing.synth import render_notes

SPEC = MelSpec()


@pytest.fixture(scope="module")
def melody():
    rng = np.random.default_rng(7)
    pitches = rng.integers(60, 84, 24)
    y = render_notes([(p, i * 0.25, i * 0.25 + 0.25, 0.6) for i, p in enumerate(pitches)], duration=6.0)
    y = torch.from_numpy(y)[None]
    n = SPEC.num_frames(y.shape[-1])
    t = np.arange(n) / SPEC.frame_rate
    target = torch.tensor([pitches[min(int(s / 0.25), 23)] % 12 for s in t])
    return y, target


@pytest.mark.parametrize("domain", ["mel", "audio"])
def test_recovers_the_melody(melody, domain):
    y, target = melody
    ext = LogChroma(domain=domain)
    out = ext(SPEC.to_model(y) if domain == "mel" else y)
    assert out.shape == (1, 12, target.numel())
    assert torch.allclose(out.exp().sum(1), torch.ones(1, target.numel()), atol=1e-5)  # log-probabilities
    assert float(melody_accuracy(out, target)) > 0.85
    wrong = (target + 6) % 12
    assert float(melody_accuracy(out, wrong)) < 0.2


def test_mel_and_audio_paths_agree_on_the_argmax(melody):
    y, _ = melody
    a = LogChroma(domain="audio")(y).argmax(1)
    m = LogChroma(domain="mel")(SPEC.to_model(y)).argmax(1)
    assert (a == m).float().mean() > 0.85


def test_highpass_removes_a_bass_note():
    y = torch.from_numpy(render_notes([(36, 0, 2, 0.8), (64, 0, 2, 0.2)], duration=2.0, n_harmonics=1))[None]
    low = LogChroma(domain="audio", highpass_hz=None)(y).argmax(1)
    high = LogChroma(domain="audio")(y).argmax(1)
    assert (low == 0).float().mean() > 0.8  # C2 dominates without the high-pass
    assert (high == 4).float().mean() > 0.8  # E4 is what remains above middle C


def test_accuracy_helper_with_ignore_index():
    log_probs = torch.log_softmax(torch.randn(2, 12, 10), dim=1)
    target = log_probs.argmax(1)[0].clone()
    acc = melody_accuracy(log_probs, target)
    assert acc.shape == (2,) and float(acc[0]) == 1.0
    target[:5] = -1
    assert float(melody_accuracy(log_probs, target, ignore_index=-1)[0]) == 1.0


def test_cqt_method_recovers_the_melody(melody):
    y, target = melody
    ext = LogChroma(domain="audio", method="cqt")
    out = ext(y)
    assert out.shape == (1, 12, target.numel())
    assert float(melody_accuracy(out, target)) > 0.85


@pytest.mark.parametrize("domain", ["mel", "audio"])
def test_octaves_keep_the_register_of_each_note(domain):
    # one pure tone per second: A3, A4, C5, C6; octave (3, 6) -> 48 bins, bin 12 * (octave - 3) + class
    notes = [(57, 0, 1), (69, 1, 2), (72, 2, 3), (84, 3, 4)]
    y = torch.from_numpy(render_notes([(p, a, b, 0.6) for p, a, b in notes], duration=4.0, n_harmonics=1))[None]
    ext = LogChroma(domain=domain, octaves=(3, 6), highpass_hz=None)
    out = ext(SPEC.to_model(y) if domain == "mel" else y)
    assert out.shape[:2] == (1, 48) and torch.allclose(out.exp().sum(1), torch.ones(1, out.shape[-1]), atol=1e-5)
    for p, a, b in notes:
        middle = slice(int((a + 0.3) * SPEC.frame_rate), int((b - 0.3) * SPEC.frame_rate))
        want = 12 * (p // 12 - 1 - 3) + p % 12
        assert (out[0, :, middle].argmax(0) == want).float().mean() > 0.9, (p, domain)
    folded = LogChroma(domain=domain, highpass_hz=None)(SPEC.to_model(y) if domain == "mel" else y)
    assert torch.allclose(out.exp().reshape(1, 4, 12, -1).sum(1), folded.exp(), atol=0.05)  # the octaves sum to it


def test_octaves_are_checked():
    for bad in ((5, 3), (4,), 5, ("a", "b"), (3.7, 5), (True, 4)):
        with pytest.raises(ValueError, match="two integers"):
            LogChroma(octaves=bad, highpass_hz=None)
    with pytest.raises(ValueError, match="STFT chroma"):
        LogChroma(domain="audio", method="cqt", octaves=(3, 6))
    with pytest.raises(ValueError, match="removes notes of octave 3"):
        LogChroma(octaves=(3, 6))  # the default high-pass at middle C would empty octave 3
    assert LogChroma(octaves=(4, 6)).octaves == (4, 6)  # a high-pass at the lowest C keeps it


def test_an_octave_runs_from_half_a_semitone_below_its_c():
    from tempo_kit.audio.spectral import Chroma

    chroma = Chroma(octaves=(3, 4), norm=None)
    t = torch.arange(22050) / 22050
    for midi, octave in ((59.4, 3), (59.6, 4), (60.0, 4), (71.4, 4)):
        y = torch.sin(2 * torch.pi * 440 * 2 ** ((midi - 69) / 12) * t)[None]
        energy = chroma(y).mean(-1)[0].reshape(2, 12).sum(1)
        assert int(energy.argmax()) == octave - 3, (midi, energy)
