"""Masks for outpainting, inpainting and looping (algorithms.md 6.3): which frames are compared with which."""

import pytest
import torch

import tempo_kit
from tempo_kit.audio import MelSpec
from tempo_kit.features import LoopFree, MaskedReconstruction, seconds_to_frames, time_mask

RATE = MelSpec().frame_rate
N = 256


def ramp(n=N, batch=2, channels=3):
    return torch.arange(n, dtype=torch.float32).expand(batch, channels, n).clone()


def test_time_mask_from_seconds():
    m = time_mask(N, [(None, 1.0), (-1.0, None)], frame_rate=RATE)
    o = seconds_to_frames(1.0, RATE)
    assert o == 43 and m.dtype == torch.bool and int(m.sum()) == 2 * o
    assert m[:o].all() and m[-o:].all() and not m[o:-o].any()
    assert int(time_mask(N, [(1.0, 2.0)], frame_rate=RATE).sum()) == 43


def test_outpainting_compares_different_ranges():
    ext = MaskedReconstruction.outpainting(n_frames=N, overlap_s=1.0, n_ref_frames=300)
    x, ref = ramp(), ramp(300)
    o = 43
    assert torch.equal(ext(x)[0, 0], torch.arange(o, dtype=torch.float32))  # first o frames of the new clip
    assert torch.equal(ext.target(ref)[0, 0], torch.arange(300 - o, 300, dtype=torch.float32))  # last o of ref
    with pytest.raises(TypeError, match="the reference is a tensor of mel frames"):
        ext.target(None)


@pytest.mark.parametrize("task", ["outpainting", "looping"])
def test_an_overlap_as_long_as_the_clip_leaves_nothing_to_generate(task):
    make = getattr(MaskedReconstruction, task)
    with pytest.raises(ValueError, match=f"{task} overlap of 10 s covers the whole 32-frame clip"):
        make(n_frames=32, overlap_s=10)
    with pytest.raises(ValueError, match="covers the whole 8-frame clip"):
        make(n_frames=8, overlap_s=0.25)  # 11 frames
    assert int(make(n_frames=32, overlap_s=0.25).gen_mask.sum()) == 11


def test_inpainting_compares_the_same_ranges():
    ext = MaskedReconstruction.inpainting(n_frames=N, context_s=1.0)
    x = ramp()
    assert torch.equal(ext(x), ext.target(x))
    assert ext(x).shape == (2, 3, 86)
    gap = MaskedReconstruction.inpainting(n_frames=N, gap_s=(1.0, 5.0))
    assert torch.equal(gap.gen_mask, gap.ref_mask) and int(gap.gen_mask.sum()) == N - (215 - 43)


def test_looping_uses_opposite_edges():
    ext = MaskedReconstruction.looping(n_frames=N, overlap_s=1.0)
    x = ramp()
    assert torch.equal(ext(x)[0, 0], torch.arange(N - 43, N, dtype=torch.float32))
    assert torch.equal(ext.target(x)[0, 0], torch.arange(43, dtype=torch.float32))


def test_reference_free_looping():
    ext = LoopFree(overlap_s=0.5)
    o = seconds_to_frames(0.5, RATE)
    x = torch.randn(2, 80, N)
    assert torch.equal(ext(x), x[..., -o:] - x[..., :o])
    periodic = torch.cat([x[..., : N - o], x[..., :o]], dim=-1)
    assert torch.equal(ext(periodic), torch.zeros(2, 80, o))
    assert ext.target().shape == (o,) and ext.num_frames(N) == o


def test_registered_names_build_masks():
    assert tempo_kit.get("extractors", "outpainting", n_frames=N).num_frames(N) == 43
    assert tempo_kit.get("extractors", "looping-free").overlap == 22
    custom = tempo_kit.get("extractors", "reconstruction", gen_mask=torch.ones(N, dtype=torch.bool))
    assert custom(ramp()).shape == (2, 3, N)


def test_latent_domain_and_gradients():
    ext = MaskedReconstruction.outpainting(n_frames=64, overlap_s=0.5, frame_rate=21.5, domain="latent")
    x = torch.randn(1, 8, 64, requires_grad=True)
    ext(x).sum().backward()
    assert int((x.grad != 0).any(1).sum()) == seconds_to_frames(0.5, 21.5)
    with pytest.raises(ValueError, match="domain"):
        MaskedReconstruction(gen_mask=torch.ones(4, dtype=torch.bool), domain="video")
