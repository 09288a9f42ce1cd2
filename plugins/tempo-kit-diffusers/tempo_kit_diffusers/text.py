"""Stable Audio Open's text conditioning: a prompt and a length become the DiT's ``cond``, as ``StableAudioPipeline``
builds it.

``encoder_hidden_states`` = ``[P(T5(prompt)) * mask, s_start, s_total]`` along tokens and ``global_hidden_states`` =
``[s_start, s_total]`` along channels, where ``P`` is ``StableAudioProjectionModel``'s text projection and ``s_*`` its
number conditioners of the start and total seconds (``(batch, 1, conditioning_dim)`` each). The unconditional
version for guidance is :func:`~tempo_kit_diffusers.stable_audio_null_condition` (zero tokens, same timing).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

__all__ = ["StableAudioText", "text_from_pretrained", "tiny_text", "TINY_WORDS"]

#: Vocabulary of the tiny random tokenizer (tests and examples; a real folder brings T5's tokenizer).
TINY_WORDS = ("a calm slow fast loud soft piano guitar drums strings synth bass pad ambient techno jazz folk loop beat "
              "melody chords with and in of the bpm warm bright dark lofi solo").split()


class StableAudioText(nn.Module):
    """Prompt and seconds -> Stable Audio ``cond`` (frozen T5 encoder + projection model; no gradients).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Pads to ``tokenizer.model_max_length`` tokens (128 for Stable Audio Open) and truncates longer prompts, with a
        warning that says how many tokens were dropped.
    text_encoder : transformers.T5EncoderModel
    projection : diffusers StableAudioProjectionModel
    """

    def __init__(self, *, tokenizer, text_encoder: nn.Module, projection: nn.Module):
        super().__init__()
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder.eval().requires_grad_(False)
        self.projection = projection.eval().requires_grad_(False)

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)

    @torch.no_grad()
    def forward(self, prompt: str | Sequence[str], *, seconds_end: float, seconds_start: float = 0.0) -> dict:
        """The ``cond`` of one clip per prompt.

        Parameters
        ----------
        prompt : str or sequence of str
            One text per clip (a str is one clip).
        seconds_end, seconds_start : float
            The timing tokens, as ``StableAudioPipeline``'s ``audio_end_in_s`` / ``audio_start_in_s``: where the clip
            ends and starts, in seconds (with ``seconds_start = 0`` the end is the clip's length).

        Returns
        -------
        dict
            ``encoder_hidden_states`` (batch, max_tokens + 2, conditioning_dim) and ``global_hidden_states``
            (batch, 1, 2 * conditioning_dim), on the encoder's device and dtype.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"prompt must be a string or a non-empty list of strings, got {prompt!r}")
        if not 0 <= seconds_start < seconds_end:
            raise ValueError(f"need 0 <= seconds_start < seconds_end, got {seconds_start}, {seconds_end}")
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.max_tokens, truncation=True,
                                return_tensors="pt")
        full = max(len(ids) for ids in self.tokenizer(prompts)["input_ids"])
        if full > self.max_tokens:
            warnings.warn(f"a prompt has {full} tokens; the text encoder reads the first {self.max_tokens}, the rest "
                          "is dropped", stacklevel=2)
        weight = next(self.projection.parameters(), None)
        device = weight.device if weight is not None else torch.device("cpu")
        ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask)[0]
        hidden = self.projection(text_hidden_states=hidden).text_hidden_states * mask[..., None].to(hidden.dtype)
        n = len(prompts)
        seconds = self.projection(start_seconds=torch.full((n,), float(seconds_start), device=device),
                                  end_seconds=torch.full((n,), float(seconds_end), device=device))
        start, total = seconds.seconds_start_hidden_states, seconds.seconds_end_hidden_states
        start, total = start.to(hidden.dtype), total.to(hidden.dtype)
        return {"encoder_hidden_states": torch.cat([hidden, start, total], dim=1),
                "global_hidden_states": torch.cat([start, total], dim=2)}


def text_from_pretrained(path: str | Path, *, dtype: torch.dtype = torch.float32) -> StableAudioText:
    """Tokenizer, T5 encoder and projection model from a local Stable Audio folder (``tokenizer/``,
    ``text_encoder/``, ``projection_model/``; nothing is downloaded)."""
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel
    from transformers import AutoTokenizer, T5EncoderModel

    path = Path(path)
    for sub in ("tokenizer", "text_encoder", "projection_model"):
        if not (path / sub).is_dir():
            raise FileNotFoundError(f"{str(path / sub)!r} is missing: a prompt needs the folder's tokenizer/, "
                                    "text_encoder/ and projection_model/ as diffusers saves Stable Audio Open")
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-shard loading bar is noise in logs
    try:
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True)
        encoder = T5EncoderModel.from_pretrained(path / "text_encoder", local_files_only=True, dtype=dtype)
        projection = StableAudioProjectionModel.from_pretrained(path / "projection_model", local_files_only=True,
                                                                torch_dtype=dtype)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return StableAudioText(tokenizer=tokenizer, text_encoder=encoder, projection=projection)


def tiny_text(*, conditioning_dim: int, seed: int = 0, max_tokens: int = 12) -> StableAudioText:
    """A random tiny text conditioning (word-level tokenizer over :data:`TINY_WORDS`, a 1-layer T5) for tests."""
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {w: i for i, w in enumerate(("<pad>", "</s>", "<unk>", *TINY_WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                        model_max_length=max_tokens)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = T5EncoderModel(T5Config(vocab_size=len(vocab), d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                          num_heads=2, decoder_start_token_id=0))
        projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=conditioning_dim, min_value=0,
                                                max_value=512)
    return StableAudioText(tokenizer=tokenizer, text_encoder=encoder, projection=projection)
