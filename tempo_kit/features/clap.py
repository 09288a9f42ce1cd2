"""CLAP text adherence: a frozen, deterministic, batched and differentiable CLAP audio embedding (DITTO-2 Sec. 5.4).

``f(x) = normalize(CLAP_audio(logmel(resample_48k(x))))``, compared with a cached, normalised CLAP text embedding
through the ``cosine`` loss (``1 - f^T y``). Compared with ``laion_clap`` and HF's ``ClapFeatureExtractor`` +
``ClapModel``:

* the log-mel is computed in torch (:class:`ClapLogMel`) and matches ``ClapFeatureExtractor`` for both truncation
  modes to about 1e-4 dB (``tests/test_features_clap.py``), so gradients reach the waveform;
* every random choice is made deterministic: ``rand_trunc`` crops at the centre (or the start, or tiles the clip into
  windows whose embeddings are averaged), ``fusion`` takes the middle offset of each of its three ranges, and
  ``is_longer`` follows the clip's true length (HF marks a *random* item of a short batch as longer, so an embedding
  depends on its batch neighbours);
* the model is loaded only from a local directory (``local_files_only=True``), kept in ``eval()`` with frozen weights
  even when the extractor is put in train mode; text embeddings are cached per caption.

transformers is an optional dependency (extra ``clap``), imported when a model is loaded.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio.resample import Resample
from ..audio.spectral import Spectrogram
from ._common import add_dither
from .base import Extractor, as_audio

__all__ = ["ClapEmbedding", "ClapLogMel"]

TRUNCATIONS = ("fusion", "rand_trunc")
PADDINGS = ("repeatpad", "repeat", "pad")
CROPS = ("center", "start", "tile")


class ClapLogMel(nn.Module):
    """Differentiable ``ClapFeatureExtractor``: 48 kHz waveform -> ``input_features`` and ``is_longer``.

    Parameters
    ----------
    feature_size, sampling_rate, hop_length, max_length_s, fft_window_size, frequency_min, frequency_max
        As ``ClapFeatureExtractor`` (defaults: 64 mel bins, 48 kHz, hop 480, 10 s, 1024-point FFT, 0-14000 Hz).
    truncation : {"fusion", "rand_trunc"}
        ``fusion``: HTK mel without normalisation, 4 stacked views (``(batch, 4, frames, 64)``); ``rand_trunc``:
        slaney mel, one view (``(batch, 1, frames, 64)``).
    padding : {"repeatpad", "repeat", "pad"}
        How clips shorter than ``max_length_s`` are filled.
    crop : {"center", "start"}
        Deterministic crop of long clips in ``rand_trunc`` mode (``"tile"`` is handled by :class:`ClapEmbedding`).

    Notes
    -----
    ``forward(y)``: ``(batch, samples)`` at 48 kHz -> ``(input_features, is_longer)`` with ``is_longer`` of shape
    ``(batch, 1)``. All items of a batch have the same length, hence take the same branch.
    """

    def __init__(self, *, feature_size: int = 64, sampling_rate: int = 48000, hop_length: int = 480,
                 max_length_s: float = 10, fft_window_size: int = 1024, frequency_min: float = 0.0,
                 frequency_max: float = 14000.0, truncation: str = "fusion", padding: str = "repeatpad",
                 crop: str = "center"):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        if truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if crop not in ("center", "start"):
            raise ValueError(f"crop must be 'center' or 'start', got {crop!r}")
        self.truncation, self.padding, self.crop = truncation, padding, crop
        self.sampling_rate, self.hop_length, self.feature_size = int(sampling_rate), int(hop_length), feature_size
        self.max_samples = int(max_length_s * sampling_rate)
        self.spectrogram = Spectrogram(n_fft=fft_window_size, hop_length=hop_length, center=True, pad_mode="reflect")
        htk = truncation == "fusion"
        fb = mel_filter_bank(num_frequency_bins=fft_window_size // 2 + 1, num_mel_filters=feature_size,
                             min_frequency=frequency_min, max_frequency=frequency_max, sampling_rate=sampling_rate,
                             norm=None if htk else "slaney", mel_scale="htk" if htk else "slaney")
        self.register_buffer("fb", torch.as_tensor(np.asarray(fb).T, dtype=torch.float32), persistent=False)

    @classmethod
    def from_feature_extractor(cls, fe, **overrides) -> "ClapLogMel":
        """Build from a ``ClapFeatureExtractor``'s settings."""
        kw = dict(feature_size=fe.feature_size, sampling_rate=fe.sampling_rate, hop_length=fe.hop_length,
                  max_length_s=fe.max_length_s, fft_window_size=fe.fft_window_size, frequency_min=fe.frequency_min,
                  frequency_max=fe.frequency_max, truncation=fe.truncation, padding=fe.padding)
        kw.update(overrides)
        return cls(**kw)

    def log_mel(self, y: torch.Tensor) -> torch.Tensor:
        """``(batch, samples) -> (batch, frames, feature_size)`` in dB (floor -100 dB), as HF's feature extractor."""
        mel = torch.einsum("mf,bft->btm", self.fb.to(y), self.spectrogram(y))
        return 10.0 * torch.log10(mel.clamp_min(1e-10))

    def _fill(self, y: torch.Tensor) -> torch.Tensor:
        n, max_n = y.shape[-1], self.max_samples
        if self.padding == "repeat":
            y = y.repeat(1, max_n // n + 1)[:, :max_n]
        elif self.padding == "repeatpad":
            y = y.repeat(1, max_n // n)
        return F.pad(y, (0, max_n - y.shape[-1]))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if y.ndim != 2 or y.shape[-1] == 0:
            raise ValueError(f"ClapLogMel expects a 48 kHz waveform (batch, samples), got shape {tuple(y.shape)}")
        batch, n = y.shape
        longer = False
        if n > self.max_samples and self.truncation == "rand_trunc":
            start = (n - self.max_samples) // 2 if self.crop == "center" else 0
            feats = self.log_mel(y[:, start:start + self.max_samples])[:, None]
            longer = True
        elif n > self.max_samples:  # fusion of a long clip
            mel = self.log_mel(y)
            chunk, total = self.max_samples // self.hop_length + 1, mel.shape[1]
            if chunk == total:
                feats = mel[:, None].expand(-1, 4, -1, -1)
            else:
                ranges = np.array_split(np.arange(total - chunk + 1), 3)
                starts = [int(r[len(r) // 2]) if len(r) else 0 for r in ranges]
                shrink = F.interpolate(mel[:, None], size=[chunk, mel.shape[-1]], mode="bilinear",
                                       align_corners=False)
                feats = torch.cat([shrink] + [mel[:, None, s:s + chunk] for s in starts], dim=1)
                longer = True
        else:
            mel = self.log_mel(self._fill(y) if n < self.max_samples else y)
            feats = mel[:, None].expand(-1, 4, -1, -1) if self.truncation == "fusion" else mel[:, None]
        return feats, torch.full((batch, 1), longer, dtype=torch.bool, device=y.device)


class ClapEmbedding(Extractor):
    """Normalised CLAP audio embedding ``(batch, dim)`` of a waveform; frozen and deterministic.

    Parameters
    ----------
    model : transformers.ClapModel
        A loaded model (see :meth:`from_pretrained` to load one from a local directory).
    sample_rate : int
        Rate of the input waveform; it is resampled to the log-mel's rate (48 kHz) in torch.
    logmel : ClapLogMel, optional
        Front end; default ``ClapLogMel(truncation="fusion" if the model is fused else "rand_trunc")``.
    crop : {"center", "start", "tile"}
        Long clips: one deterministic window, or every ``max_length_s`` window (the last one aligned to the end) with
        their embeddings averaged. Only for ``rand_trunc``; fusion sees the whole clip anyway.
    tokenizer : optional
        Tokenizer for :meth:`embed_text`; loaded lazily from ``model_dir`` when not given.
    dither : float
        Fixed dither on the input waveform so digital silence has a non-zero gradient.
    """

    domain = "audio"
    frame_rate = None

    def __init__(self, *, model, sample_rate: int = 22050, logmel: ClapLogMel | None = None, crop: str = "center",
                 tokenizer=None, model_dir: str | None = None, dither: float = 1e-5):
        super().__init__()
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        fused = bool(getattr(model.config.audio_config, "enable_fusion", False))
        if logmel is None:
            logmel = ClapLogMel(truncation="fusion" if fused else "rand_trunc",
                                feature_size=model.config.audio_config.num_mel_bins,
                                crop="center" if crop == "tile" else crop)
        if (logmel.truncation == "fusion") != fused:
            raise ValueError(f"log-mel truncation {logmel.truncation!r} does not fit a model with "
                             f"enable_fusion={fused} (fusion needs a fused model, rand_trunc an unfused one)")
        self.model = model.eval().requires_grad_(False)
        self.logmel, self.crop, self.dither = logmel, crop, float(dither)
        self.sample_rate = int(sample_rate)
        self.resample = Resample(orig_sr=sample_rate, new_sr=logmel.sampling_rate)
        self.tokenizer, self.model_dir = tokenizer, model_dir
        self._text_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, **kwargs) -> "ClapEmbedding":
        """Load ``ClapModel`` (and, if present, its feature-extractor settings) from a local directory; never a hub."""
        from transformers import ClapFeatureExtractor, ClapModel

        model_dir = os.fspath(model_dir)
        if not os.path.isdir(model_dir):
            raise FileNotFoundError(f"CLAP model directory not found: {model_dir!r} (models are never downloaded; "
                                    f"pass a local directory saved with save_pretrained)")
        model = ClapModel.from_pretrained(model_dir, local_files_only=True)
        if "logmel" not in kwargs and os.path.exists(os.path.join(model_dir, "preprocessor_config.json")):
            fe = ClapFeatureExtractor.from_pretrained(model_dir, local_files_only=True)
            fused = bool(model.config.audio_config.enable_fusion)
            crop = kwargs.get("crop", "center")
            kwargs["logmel"] = ClapLogMel.from_feature_extractor(
                fe, truncation="fusion" if fused else "rand_trunc", crop="center" if crop == "tile" else crop)
        return cls(model=model, model_dir=model_dir, **kwargs)

    def train(self, mode: bool = True) -> "ClapEmbedding":
        super().train(mode)
        self.model.eval()  # batch norm and dropout stay frozen: the embedding is a fixed function
        return self

    def _embed48(self, y48: torch.Tensor) -> torch.Tensor:
        feats, is_longer = self.logmel(y48)
        out = self.model.get_audio_features(input_features=feats, is_longer=is_longer)
        out = out if isinstance(out, torch.Tensor) else out.pooler_output
        return F.normalize(out, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``(batch, samples)`` or ``(batch, channels, samples)`` at ``sample_rate`` -> ``(batch, dim)``."""
        y48 = self.resample(add_dither(as_audio(x), self.dither))
        window = self.logmel.max_samples
        if self.crop != "tile" or self.logmel.truncation != "rand_trunc" or y48.shape[-1] <= window:
            return self._embed48(y48)
        n = y48.shape[-1]
        starts = list(range(0, n - window + 1, window))
        if starts[-1] + window < n:
            starts.append(n - window)
        embs = torch.stack([self._embed48(y48[:, s:s + window]) for s in starts])
        return F.normalize(embs.mean(0), dim=-1)

    def embed_text(self, texts) -> torch.Tensor:
        """Normalised text embeddings ``(len(texts), dim)`` (cached per caption, computed without gradients)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            if self.tokenizer is None:
                if self.model_dir is None:
                    raise ValueError("embed_text needs a tokenizer: pass tokenizer= or load with from_pretrained")
                from transformers import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            device = next(self.model.parameters()).device
            tokens = self.tokenizer(missing, padding=True, return_tensors="pt").to(device)
            with torch.no_grad():
                out = self.model.get_text_features(input_ids=tokens["input_ids"],
                                                   attention_mask=tokens.get("attention_mask"))
            out = F.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=-1)
            self._text_cache.update(zip(missing, out))
        return torch.stack([self._text_cache[t] for t in texts])

    def target(self, text: str) -> torch.Tensor:
        """The ``(dim,)`` target for the ``cosine`` loss: the normalised embedding of one caption."""
        return self.embed_text([text])[0]
