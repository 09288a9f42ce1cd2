"""Every built-in extractor: finite, non-zero gradients on digital silence, and the public extractor contract."""

import pytest
import torch

import tempo_kit
from tempo_kit.audio import MelSpec
from tempo_kit.testing import check_extractor
from tempo_kit.testing.synth import example_music

SPEC = MelSpec()
N_FRAMES = 64
N_SAMPLES = SPEC.num_samples(N_FRAMES)

CASES = {
    "intensity-mel": ("intensity", dict(domain="mel")),
    "intensity-audio": ("intensity", dict(domain="audio")),
    "chroma-mel": ("chroma", dict(domain="mel")),
    "chroma-audio": ("chroma", dict(domain="audio")),
    "structure-mel": ("structure", dict(domain="mel")),
    "structure-audio": ("structure", dict(domain="audio")),
    "spectral-flux-mel": ("spectral-flux", dict(domain="mel")),
    "spectral-flux-audio": ("spectral-flux", dict(domain="audio")),
    "outpainting": ("outpainting", dict(n_frames=N_FRAMES, overlap_s=0.5)),
    "inpainting": ("inpainting", dict(n_frames=N_FRAMES, context_s=0.3)),
    "looping": ("looping", dict(n_frames=N_FRAMES, overlap_s=0.5)),
    "looping-free": ("looping-free", dict(overlap_s=0.25)),
}


def silence(ext):
    """Digital silence in the extractor's domain: zero samples, or the model-space floor for mel frames."""
    if ext.domain == "audio":
        return torch.zeros(2, N_SAMPLES)
    return SPEC.to_model(torch.zeros(2, N_SAMPLES))


def music(ext):
    y = torch.from_numpy(example_music(duration=N_SAMPLES / SPEC.sample_rate + 1e-6))[None, :N_SAMPLES]
    return y if ext.domain == "audio" else SPEC.to_model(y)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_on_silence_are_finite_and_nonzero(case):
    name, kw = CASES[case]
    ext = tempo_kit.get("extractors", name, **kw)
    x = silence(ext).requires_grad_()
    assert x.shape[-1] == (N_SAMPLES if ext.domain == "audio" else N_FRAMES)
    out = ext(x)
    assert torch.isfinite(out).all()
    weights = torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)  # a generic downstream loss
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_extractor_contract(case):
    name, kw = CASES[case]
    ext = tempo_kit.get("extractors", name, **kw)
    check_extractor(ext, music(ext))
