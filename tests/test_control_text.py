"""Text (CLAP) control with DITTO-2 through a differentiable decoder, on a tiny random CLAP model (no download)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from tempo_kit.control import DITTO2, Objective, Target  # noqa: E402
from tempo_kit.features.clap import ClapEmbedding, ClapLogMel  # noqa: E402
from tempo_kit.losses import cosine  # noqa: E402
from tempo_kit.testing.control import AdditiveDecoder, toy_generator  # noqa: E402

from test_features_clap import tiny_clap  # noqa: E402


@pytest.fixture(scope="module")
def clap():
    logmel = ClapLogMel(feature_size=16, max_length_s=2.5, truncation="rand_trunc")
    return ClapEmbedding(model=tiny_clap(fusion=False), sample_rate=22050, logmel=logmel)


@pytest.mark.slow
def test_text_control_moves_the_clap_embedding(clap):
    gen = toy_generator(frames=48, hidden=32)
    voc = AdditiveDecoder()
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
