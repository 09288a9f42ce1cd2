"""Text (CLAP) control with DITTO-2 through a differentiable decoder, on a tiny random CLAP model (no download)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from tempo_kit.control import DITTO2, Objective, Target  # noqa: E402
from tempo_kit.control.toy import toy_generator  # noqa: E402
from tempo_kit.features.clap import ClapEmbedding, ClapLogMel  # noqa: E402
from tempo_kit.losses import cosine  # noqa: E402

from test_control_ditto import AdditiveVocoder  # noqa: E402


@pytest.fixture(scope="module")
def clap():
    cfg = transformers.ClapConfig(
        text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, projection_dim=8),
        audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, depths=[1, 1], num_attention_heads=[1, 1],
                          patch_embeds_hidden_size=8, hidden_size=16, enable_fusion=False, projection_dim=8),
        projection_dim=8,
    )
    torch.manual_seed(0)  # weight init of the tiny model only
    logmel = ClapLogMel(feature_size=16, max_length_s=2.5, truncation="rand_trunc")
    return ClapEmbedding(model=transformers.ClapModel(cfg), sample_rate=22050, logmel=logmel)


@pytest.mark.slow
def test_text_control_moves_the_clap_embedding(clap):
    gen = toy_generator(frames=48, hidden=32)
    voc = AdditiveVocoder()
    outputs = []
    for k in range(2):  # targets: CLAP embeddings of two other outputs (reachable, unlike a random direction)
        with torch.no_grad():
            eps = torch.randn(gen.shape, generator=torch.Generator().manual_seed(10 + k))
            y = clap(voc(gen.ctm_jump(80.0 * eps, 80.0, 0.0)))[0]
        objectives = [Objective(extractor=clap, loss=cosine, target=Target(value=y, kind="text"))]
        run = DITTO2(iterations=15, lr=0.2, decode_steps=1, progress=False)
        before = DITTO2(iterations=0, decode_steps=1, progress=False)(
            gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0), decoder=voc)
        r = run(gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0), decoder=voc)
        assert r.loss_history[-1] <= 0.5 * r.loss_history[0]
        assert r.final_losses["text"] < before.final_losses["text"]
        assert r.features["text"].shape == (1, 8)
        outputs.append(r.output)
    assert (outputs[0] - outputs[1]).abs().mean() > 0.02
