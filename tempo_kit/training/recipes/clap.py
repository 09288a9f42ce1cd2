"""Contrastive audio-text training of :class:`~tempo_kit.models.mini_clap.MiniClap` (recipe ``"clap"``).

Symmetric InfoNCE over the batch (CLIP / CLAP, Elizalde et al. 2023, Eq. 1-3) with multiple positives: text ``i``
and clip ``j`` are a positive pair when clip ``j`` has every tag that text ``i`` names, so clips with identical
captions are positives of each other and the soft target of a row is uniform over its positives. With probability
``partial_prob`` a clip's caption is replaced by a caption naming a random non-empty subset of its tags
(:func:`~tempo_kit.models.mini_clap.partial_caption`), so tag prompts such as ``"A piece played on flute"`` are
trained too. The mel is augmented (random crop of frames, a gain offset applied in the power domain, small Gaussian
noise) so the embedding transfers to generated mels. The MiniLM embeddings of all captions are computed once when
the recipe is built; training steps never run MiniLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ...audio import MelSpec
from ...vocab import TAG_FIELDS
from ...models.mini_clap import MIN_FRAMES, MiniClap, MiniClapConfig, caption_variants, partial_caption
from ..recipe import Recipe, UpdateRule, trainable

__all__ = ["ClapRecipe", "augment_mel", "multi_positive_infonce"]


def augment_mel(x: torch.Tensor, *, generator: torch.Generator | None = None, min_frames: int = 128,
                gain_db: float = 6.0, noise_std: float = 0.02, mel_spec: MelSpec | None = None) -> torch.Tensor:
    """Random crop, gain and noise of model-space mel frames.

    Parameters
    ----------
    x : Tensor
        ``(batch, n_mels, frames)`` model-space mel (:class:`~tempo_kit.audio.MelSpec`).
    generator : torch.Generator, optional
        Source of every random choice.
    min_frames : int
        The crop length is drawn uniformly from ``[min_frames, frames]`` (one length per batch, one offset per clip).
    gain_db : float
        Per-clip gain drawn uniformly from ``[-gain_db, gain_db]`` dB, applied to the mel power above the floor.
    noise_std : float
        Standard deviation of Gaussian noise added in model space (1.0 = 60 dB).
    mel_spec : MelSpec, optional
        The model space (default ``MelSpec()``, the dataset's).

    Returns
    -------
    torch.Tensor
        ``(batch, n_mels, crop)``.
    """
    batch, _, frames = x.shape
    if not MIN_FRAMES <= min_frames <= frames:
        raise ValueError(f"min_frames must lie in [{MIN_FRAMES}, {frames}], got {min_frames}")
    dev = generator.device if generator is not None else x.device
    length = int(torch.randint(min_frames, frames + 1, (1,), generator=generator, device=dev))
    start = torch.randint(0, frames - length + 1, (batch,), generator=generator, device=dev).to(x.device)
    idx = start[:, None] + torch.arange(length, device=x.device)
    x = torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1))
    spec = mel_spec or MelSpec()
    gain = (2 * torch.rand(batch, 1, 1, generator=generator, device=dev) - 1).to(x) * gain_db
    power = (torch.pow(10.0, spec.model_to_db(x) / 10.0) - spec.amin).clamp_min(0.0)
    x = spec.db_to_model(spec.power_to_db(power * torch.pow(10.0, gain / 10.0)))
    return x + noise_std * torch.randn(x.shape, generator=generator, device=dev).to(x)


def multi_positive_infonce(text: torch.Tensor, audio: torch.Tensor, positive: torch.Tensor,
                           scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets uniform over each row's (and column's) positives.

    CLIP's loss (Radford et al. 2021, Fig. 3) with the one-hot targets replaced by ``positive / positive.sum``.

    Parameters
    ----------
    text, audio : Tensor
        ``(batch, dim)`` normalised embeddings.
    positive : Tensor
        ``(batch, batch)`` bool, ``positive[i, j]``: text ``i`` describes clip ``j`` (the diagonal must be true).
    scale : Tensor or float
        Logit scale (inverse temperature).
    """
    if not bool(positive.diagonal().all()):
        raise ValueError("every text must be a positive of its own clip (the diagonal of positive must be true)")
    logits = scale * text @ audio.T
    target = positive.to(logits.dtype)
    t2a = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    a2t = -(target.T / target.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (t2a + a2t) / 2


class ClapRecipe(Recipe):
    """Train a :class:`MiniClap` contrastively on a tagged music dataset (see the module docstring).

    One parameter group ``"clap"``, loss term ``"infonce"``. Batches are :meth:`MusicDataset.batch` dicts (``x0`` mel
    and ``tag_ids``).

    Parameters
    ----------
    dataset : str or path, optional
        A dataset built by ``tempo-kit data build``; its tag vocabulary defines the known captions.
    tag_vocab : mapping, optional
        The tag vocabulary directly (instead of ``dataset``), fields in the order of ``TAG_FIELDS``.
    net : MiniClap, optional
        Architecture (and weights) to start from; its known captions are replaced by the vocabulary's.
    text_encoder : callable, optional
        ``list[str] -> (n, text_dim)`` sentence embeddings (default :func:`tempo_kit.text.embed_captions`, MiniLM).
    partial_prob : float
        Probability that a clip's caption names only a random non-empty subset of its tags.
    min_frames, gain_db, noise_std : float
        Augmentation (:func:`augment_mel`).
    lr, betas, weight_decay
        AdamW settings.
    """

    name = "clap"

    def __init__(self, *, dataset: str | Path | None = None, tag_vocab: Mapping[str, Sequence[str]] | None = None,
                 net: MiniClap | None = None, text_encoder: Callable[[list[str]], torch.Tensor] | None = None,
                 partial_prob: float = 0.5, min_frames: int = 128, gain_db: float = 6.0, noise_std: float = 0.02,
                 lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.01):
        super().__init__()
        if (dataset is None) == (tag_vocab is None):
            raise ValueError("the clap recipe needs exactly one of dataset= (a built dataset folder) or tag_vocab=")
        if not 0 <= partial_prob <= 1:
            raise ValueError(f"partial_prob must lie in [0, 1], got {partial_prob}")
        seen: set[str] = set()
        if tag_vocab is None:
            from ...data import MusicDataset

            data = MusicDataset(dataset)
            tag_vocab, seen = data.tag_vocab, set(data.captions)
        self.tag_vocab = {f: tuple(tag_vocab[f]) for f in TAG_FIELDS}
        texts = caption_variants(self.tag_vocab)
        if not seen <= set(texts):
            raise ValueError(f"captions of {dataset} do not follow the caption template, e.g. "
                             f"{sorted(seen - set(texts))[:2]}")
        if text_encoder is None:
            from ...text import embed_captions as text_encoder
        config = attrs.evolve(net.config if net is not None else MiniClapConfig(), captions=texts)
        self.model = MiniClap(config=config, caption_embeddings=torch.as_tensor(text_encoder(list(texts))).float())
        if net is not None:
            state = {k: v for k, v in net.state_dict().items() if k != "text_cache"}
            self.model.load_state_dict({**self.model.state_dict(), **state})
        self.partial_prob, self.min_frames, self.gain_db, self.noise_std = partial_prob, min_frames, gain_db, noise_std
        self.rule = UpdateRule(group="clap", lr=lr, betas=tuple(betas), weight_decay=weight_decay)

    def param_groups(self):
        return {"clap": trainable(self.model)}

    def update_rules(self):
        return [self.rule]

    def text_rows(self, tag_ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Rows of ``config.captions`` naming the tags ``tag_ids`` ``(batch, 4)`` where ``keep`` ``(batch, 4)`` is true."""
        rows = []
        for ids, kept in zip(tag_ids.tolist(), keep.tolist()):
            tags = {f: self.tag_vocab[f][i] for f, i, k in zip(TAG_FIELDS, ids, kept) if k}
            rows.append(self.model.caption_index[partial_caption(tags)])
        return torch.tensor(rows, device=tag_ids.device)

    def losses(self, batch, *, step, groups, generator=None):
        if not isinstance(batch, dict) or "tag_ids" not in batch:
            raise TypeError("the clap recipe needs MusicDataset batches (a dict with 'x0' and 'tag_ids')")
        x0, tag_ids = batch["x0"], batch["tag_ids"]
        dev = generator.device if generator is not None else x0.device
        n = tag_ids.shape[0]
        partial = torch.rand(n, 1, generator=generator, device=dev) < self.partial_prob
        subset = torch.rand(n, len(TAG_FIELDS), generator=generator, device=dev) < 0.5
        forced = F.one_hot(torch.randint(len(TAG_FIELDS), (n,), generator=generator, device=dev), len(TAG_FIELDS))
        subset = subset | (forced.bool() & ~subset.any(1, keepdim=True))  # at least one tag named
        keep = torch.where(partial, subset, torch.ones_like(subset)).to(tag_ids.device)
        positive = ((tag_ids[None, :, :] == tag_ids[:, None, :]) | ~keep[:, None, :]).all(-1)
        mel = augment_mel(x0, generator=generator, min_frames=self.min_frames, gain_db=self.gain_db,
                          noise_std=self.noise_std)
        audio = self.model.embed_audio(mel)
        text = self.model.embed_cached(self.text_rows(tag_ids, keep))
        with torch.autocast(device_type=x0.device.type, enabled=False):  # logits in float32 under bf16 training
            loss = multi_positive_infonce(text.float(), audio.float(), positive, self.model.logit_scale_value())
        return {"clap": {"infonce": loss}}

    def student(self):
        return self.model
