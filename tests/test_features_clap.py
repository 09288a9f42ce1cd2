"""CLAP: log-mel parity with transformers' ClapFeatureExtractor, determinism, frozen weights, text cache, loss.

Models are tiny random ``ClapConfig`` models saved to a temporary directory; nothing is downloaded.
"""

import json

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import tempo_kit  # noqa: E402
from tempo_kit import losses  # noqa: E402
from tempo_kit.features.clap import ClapEmbedding, ClapLogMel  # noqa: E402

SR48 = 48000


def hf_features(y, monkeypatch, **kw):
    """ClapFeatureExtractor output with its random choices pinned to the deterministic ones of ClapLogMel."""
    fe = transformers.ClapFeatureExtractor(**kw)
    monkeypatch.setattr(np.random, "randint", lambda low, high=None: (high - 1) // 2)  # centre crop
    monkeypatch.setattr(np.random, "choice", lambda a: a[len(a) // 2])  # middle of each fusion range
    out = fe(y, sampling_rate=SR48, return_tensors="np")
    return out["input_features"], out["is_longer"]


@pytest.mark.parametrize("truncation", ["rand_trunc", "fusion"])
@pytest.mark.parametrize("seconds,padding", [(0.7, "repeatpad"), (0.7, "repeat"), (0.7, "pad"), (2.6, "repeatpad")])
def test_log_mel_matches_feature_extractor(truncation, seconds, padding, monkeypatch):
    rng = np.random.default_rng(0)
    n = int(seconds * SR48)
    t = np.arange(n) / SR48
    y = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t) + 0.01 * rng.standard_normal(n)).astype(np.float32)
    kw = dict(max_length_s=2, truncation=truncation, padding=padding)  # 64 mel bins (HF's fusion assumes 64)
    ref, ref_longer = hf_features(y, monkeypatch, **kw)
    ours, longer = ClapLogMel(**kw)(torch.from_numpy(y)[None])
    assert ours.shape == ref.shape
    assert np.abs(ours.numpy() - ref).max() <= 1e-3  # dB
    if truncation == "rand_trunc" or seconds > 2:  # HF marks a random short item as longer in fusion mode
        assert longer.tolist() == ref_longer.tolist()
    else:
        assert not longer.any()


def tiny_clap(fusion: bool):
    cfg = transformers.ClapConfig(
        text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, projection_dim=8),
        audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, depths=[1, 1], num_attention_heads=[1, 1],
                          patch_embeds_hidden_size=8, hidden_size=16, enable_fusion=fusion, projection_dim=8),
        projection_dim=8,
    )
    torch.manual_seed(0)  # weight init of the tiny model only; extractors never touch global RNG
    return transformers.ClapModel(cfg).eval()


@pytest.fixture(scope="module", params=[False, True], ids=["unfused", "fused"])
def clap_dir(request, tmp_path_factory):
    fusion = request.param
    d = tmp_path_factory.mktemp("fused" if fusion else "unfused")
    tiny_clap(fusion).save_pretrained(d)
    transformers.ClapFeatureExtractor(feature_size=16, max_length_s=2.5,
                                      truncation="fusion" if fusion else "rand_trunc").save_pretrained(d)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c], vocab["Ġ" + c] = len(vocab), len(vocab) + 1
    transformers.RobertaTokenizer(vocab=vocab, merges=[]).save_pretrained(d)
    assert json.loads((d / "config.json").read_text())["model_type"] == "clap"
    return d


@pytest.fixture(scope="module")
def clap(clap_dir):
    return ClapEmbedding.from_pretrained(clap_dir, sample_rate=22050)


def test_loaded_from_local_directory_frozen_and_deterministic(clap):
    assert clap.logmel.max_samples == int(2.5 * SR48) and clap.logmel.feature_size == 16
    assert not any(p.requires_grad for p in clap.parameters())
    clap.train()
    assert not clap.model.training
    y = 0.1 * torch.randn(3, 22050 * 3, generator=torch.Generator().manual_seed(1))
    a, b = clap(y), clap(y)
    assert a.shape == (3, 8) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(clap(y[1:2]), a[1:2]) or torch.allclose(clap(y[1:2]), a[1:2], atol=1e-5)  # batch-independent
    assert (a[0] - a[1]).abs().max() > 1e-4


def test_text_embeddings_are_cached_and_the_loss_is_one_minus_cos(clap, monkeypatch):
    target = clap.target("a calm piano piece")
    assert target.shape == (8,) and not target.requires_grad
    calls = []
    original = clap.model.get_text_features
    monkeypatch.setattr(clap.model, "get_text_features", lambda **kw: calls.append(1) or original(**kw))
    again = clap.embed_text(["a calm piano piece", "loud drums"])
    assert torch.equal(again[0], target) and len(calls) == 1  # only "loud drums" was computed
    clap.embed_text("loud drums")
    assert len(calls) == 1
    y = (0.1 * torch.randn(2, 22050 * 2, generator=torch.Generator().manual_seed(2))).requires_grad_()
    emb = clap(y)
    loss = losses.cosine(emb, target)
    assert torch.allclose(loss, (1 - emb @ target).mean(), atol=1e-6)
    (g,) = torch.autograd.grad(loss, y)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.slow
def test_tiling_averages_windows_of_long_clips(clap_dir):
    ext = ClapEmbedding.from_pretrained(clap_dir, crop="tile")
    y = 0.1 * torch.randn(1, 22050 * 6, generator=torch.Generator().manual_seed(3))
    out = ext(y)
    assert out.shape == (1, 8) and torch.equal(out, ext(y))
    if ext.logmel.truncation == "rand_trunc":
        assert not torch.allclose(out, ClapEmbedding.from_pretrained(clap_dir, crop="start")(y))


def test_extractor_contract(clap):
    from tempo_kit.testing import check_extractor

    check_extractor(clap, 0.1 * torch.randn(1, 22050, generator=torch.Generator().manual_seed(4)))


def test_registry_and_errors(clap_dir, tmp_path):
    ext = tempo_kit.get("extractors", "clap", model_dir=str(clap_dir))
    assert ext.domain == "audio" and ext.frame_rate is None and ext.sample_rate == 22050
    with pytest.raises(TypeError, match="model_dir"):
        tempo_kit.get("extractors", "clap")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        ClapEmbedding.from_pretrained(tmp_path / "missing")
    wrong = "rand_trunc" if ext.logmel.truncation == "fusion" else "fusion"
    with pytest.raises(ValueError, match="truncation must be one of"):
        ClapLogMel(truncation="random")
    with pytest.raises(ValueError, match="enable_fusion"):
        ClapEmbedding(model=ext.model, logmel=ClapLogMel(truncation=wrong, feature_size=16))
