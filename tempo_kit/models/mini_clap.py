"""A small CLAP-style audio-text model on model-space log-mel frames ("mini-clap", bundled as ``clap``).

Two towers map into one normalised ``dim``-d space (CLAP, Elizalde et al. 2023, Sec. 2 / Eq. 1-3):

* audio: a 1-D conv net over the mel frames ``(batch, n_mels, frames)`` (mel bins as channels, residual GroupNorm
  blocks, three stride-2 stages), mean and max pooling over time, a linear projection; any clip of >= 32 frames,
  differentiable with respect to the mel, no batch statistics (so an embedding never depends on its batch);
* text: the frozen all-MiniLM-L6-v2 sentence embedding (384-d, :func:`tempo_kit.text.embed_captions`) and a
  trained two-layer projection. The MiniLM embeddings of the known captions (:attr:`MiniClapConfig.captions`) are
  stored in the ``text_cache`` buffer, so :meth:`MiniClap.embed_text` needs the ``text`` extra only for new text.

The known captions are every caption of the music dataset's template with any non-empty subset of its four tags
(:func:`caption_variants`), e.g. ``"A piece played on flute"`` or ``"A slow chorale in a minor key sung by a choir"``,
so tag-only prompts are in-distribution. :func:`mel_clap_score` is the CLAP score of mel clips against texts.
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ..vocab import TAG_FIELDS, partial_caption

__all__ = ["MiniClapConfig", "MiniClap", "partial_caption", "caption_variants", "mel_clap_score", "MIN_FRAMES"]

#: Shortest clip the audio tower accepts (frames).
MIN_FRAMES = 32


def caption_variants(tag_vocab: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every :func:`partial_caption` over ``tag_vocab`` (each non-empty subset of fields, each value combination).

    For the music dataset's vocabulary (8 instruments, 2 collections, 3 tempi, 2 modes): 9 * 3 * 4 * 3 - 1 = 323
    captions, the 96 full ones among them.
    """
    missing = [f for f in TAG_FIELDS if f not in tag_vocab]
    if missing:
        raise ValueError(f"tag_vocab lacks the field(s) {missing}; it needs {TAG_FIELDS}")
    choices = [(None, *tag_vocab[f]) for f in TAG_FIELDS]
    out = [partial_caption(dict(zip(TAG_FIELDS, combo))) for combo in itertools.product(*choices) if any(combo)]
    return tuple(dict.fromkeys(out))


@attrs.frozen(kw_only=True)
class MiniClapConfig:
    """Architecture of :class:`MiniClap`.

    Parameters
    ----------
    n_mels : int
        Mel bins of the input (the model space has 80).
    channels : tuple of int
        Width of the three audio stages (each starts with a stride-2 convolution, then one residual block).
    dim : int
        Width of the shared embedding space.
    text_dim, text_hidden : int
        Width of the sentence embedding (MiniLM: 384) and of the text projection's hidden layer.
    groups : int
        GroupNorm groups (must divide every entry of ``channels``).
    captions : tuple of str
        Known captions whose MiniLM embeddings are stored in the model (``text_cache``).
    """

    n_mels: int = 80
    channels: tuple[int, ...] = attrs.field(default=(96, 128, 160), converter=tuple)
    dim: int = 128
    text_dim: int = 384
    text_hidden: int = 256
    groups: int = 8
    captions: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self):
        if not self.channels or any(c % self.groups for c in self.channels):
            raise ValueError(f"channels {self.channels} must be non-empty and divisible by groups={self.groups}")
        if len(set(self.captions)) != len(self.captions):
            raise ValueError("captions must be distinct")


class _ResBlock(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(groups, channels), nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.gelu(self.norm2(self.conv1(F.gelu(self.norm1(x))))))


class MiniClap(nn.Module):
    """CLAP-style contrastive audio-text model on model-space mel frames (see the module docstring).

    Parameters
    ----------
    config : MiniClapConfig
    caption_embeddings : Tensor, optional
        ``(len(config.captions), text_dim)`` MiniLM embeddings of the known captions; without it the cache holds NaN
        (filled when weights are loaded, or computed with MiniLM on first use).
    """

    registry_name = "mini-clap"

    def __init__(self, *, config: MiniClapConfig, caption_embeddings: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        c, g = config.channels, config.groups
        layers: list[nn.Module] = []
        for c_in, c_out in zip((config.n_mels, *c[:-1]), c):
            layers += [nn.Conv1d(c_in, c_out, 4, stride=2, padding=1), _ResBlock(c_out, g)]
        self.audio_encoder = nn.Sequential(*layers, nn.GroupNorm(g, c[-1]), nn.GELU())
        self.audio_proj = nn.Linear(2 * c[-1], config.dim)
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, config.text_hidden), nn.GELU(),
                                       nn.Linear(config.text_hidden, config.dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature 0.07
        shape = (len(config.captions), config.text_dim)
        if caption_embeddings is None:
            caption_embeddings = torch.full(shape, float("nan"))
        elif tuple(caption_embeddings.shape) != shape:
            raise ValueError(f"caption_embeddings must have shape {shape}, got {tuple(caption_embeddings.shape)}")
        self.register_buffer("text_cache", caption_embeddings.detach().float().clone())
        self.caption_index = {t: i for i, t in enumerate(config.captions)}
        self._new_text: dict[str, torch.Tensor] = {}

    # -- audio -------------------------------------------------------------------------------------------------------
    def audio_features(self, mel: torch.Tensor) -> torch.Tensor:
        """Pooled audio features before the projection: ``(batch, n_mels, frames)`` -> ``(batch, 2 * channels[-1])``.

        A ``(batch, 1, n_mels, frames)`` input is accepted too.
        """
        if mel.ndim == 4 and mel.shape[1] == 1:
            mel = mel[:, 0]
        if mel.ndim != 3 or mel.shape[1] != self.config.n_mels or mel.shape[-1] < MIN_FRAMES:
            raise ValueError(f"MiniClap expects mel frames (batch, {self.config.n_mels}, frames >= {MIN_FRAMES}), "
                             f"got shape {tuple(mel.shape)}")
        h = self.audio_encoder(mel)
        return torch.cat([h.mean(-1), h.amax(-1)], dim=-1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised audio embedding ``(batch, dim)`` of model-space mel frames ``(batch, n_mels, frames)``."""
        return F.normalize(self.audio_proj(self.audio_features(mel)), dim=-1)

    forward = embed_audio

    # -- text --------------------------------------------------------------------------------------------------------
    def embed_cached(self, rows: torch.Tensor) -> torch.Tensor:
        """Normalised text embeddings ``(len(rows), dim)`` of known captions by row of ``config.captions``."""
        return F.normalize(self.text_proj(self.text_cache[rows]), dim=-1)

    def _stored(self, text: str) -> torch.Tensor | None:
        """The stored MiniLM embedding of ``text`` (``None`` if unknown or not filled)."""
        i = self.caption_index.get(text)
        row = self.text_cache[i] if i is not None else None
        return row if row is not None and bool(torch.isfinite(row).all()) else self._new_text.get(text)

    def embed_text(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Normalised text embeddings ``(len(texts), dim)``.

        Known captions use the stored MiniLM embeddings; other text is embedded with MiniLM (``text`` extra) once and
        cached in memory.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("embed_text needs at least one text")
        missing = [t for t in dict.fromkeys(texts) if self._stored(t) is None]
        if missing:
            from ..text import embed_captions

            self._new_text.update(zip(missing, embed_captions(missing)))
        return F.normalize(self.text_proj(torch.stack([self._stored(t).to(self.text_cache) for t in texts])), dim=-1)

    def logit_scale_value(self) -> torch.Tensor:
        """``exp(logit_scale)``, clipped at 100 as in CLIP."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp()


def mel_clap_score(model: MiniClap, mel: torch.Tensor, texts: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
    """CLAP score per clip of model-space mel frames against texts: :func:`tempo_kit.metrics.clap_score` of the
    MiniClap audio and text embeddings (the text-adherence score of DITTO-2 Sec. 5.4 / Presto Sec. 5.1).

    The CLAP score of a set of clips is ``mel_clap_score(...).mean()``; a text can be a full caption or a tag caption
    from :func:`partial_caption` (e.g. ``"A piece played on flute"``).

    Parameters
    ----------
    model : MiniClap
    mel : Tensor
        Model-space mel frames ``(batch, n_mels, frames)``.
    texts : sequence of str
        One text per clip.
    batch_size : int
        Clips embedded per forward pass.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``, cosines in [-1, 1] (no gradients).
    """
    from ..metrics import clap_score

    if len(texts) != mel.shape[0]:
        raise ValueError(f"mel_clap_score needs one text per clip: {mel.shape[0]} clips, {len(texts)} texts")
    with torch.no_grad():
        audio = torch.cat([model.embed_audio(mel[i:i + batch_size]) for i in range(0, mel.shape[0], batch_size)])
        return clap_score(audio, model.embed_text(list(texts)).to(audio))
