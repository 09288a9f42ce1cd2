"""Train the mel vocoder: multi-resolution STFT loss plus a model-space mel L1 on random crops of (mel, audio) pairs.

Losses follow Yamamoto et al. 2020 (Parallel WaveGAN, Eq. 4-6: spectral convergence + log-STFT-magnitude L1 summed
over FFT sizes) and the mel reconstruction term of Vocos / HiFi-GAN (an L1 between the mel of the output and the
input mel, here in the project's model space). No adversarial term: the recipe stays a single, cheap update.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..recipe import Recipe, UpdateRule, trainable

__all__ = ["VocoderRecipe", "multi_resolution_stft_loss", "random_crops"]


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor, *, fft_sizes=(512, 1024, 2048),
                               eps: float = 1e-7) -> dict[str, torch.Tensor]:
    """Spectral convergence and log-magnitude L1, averaged over STFT resolutions (Yamamoto et al. 2020, Eq. 4-6).

    Parameters
    ----------
    pred, target : Tensor, shape ``(batch, samples)`` or ``(batch, 1, samples)``
        Waveforms.
    fft_sizes : sequence of int
        FFT sizes; each uses a Hann window of that size and a hop of a quarter of it.

    Returns
    -------
    dict with ``"sc"`` (``||S_t - S_p||_F / ||S_t||_F``, per item then averaged) and ``"log_mag"``
    (``mean |log(S_t + eps) - log(S_p + eps)|``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction and target waveforms differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    pred, target = pred.reshape(pred.shape[0], -1).float(), target.reshape(target.shape[0], -1).float()
    sc, log_mag = 0.0, 0.0
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=pred.device)
        kw = dict(n_fft=n_fft, hop_length=n_fft // 4, window=window, center=True, return_complex=True)
        P, T = torch.stft(pred, **kw), torch.stft(target, **kw)
        mag_p = torch.sqrt(P.real.square() + P.imag.square() + eps**2)
        mag_t = torch.sqrt(T.real.square() + T.imag.square() + eps**2)
        num = (mag_t - mag_p).square().sum(dim=(1, 2))
        den = mag_t.square().sum(dim=(1, 2))
        sc = sc + torch.sqrt((num + eps) / (den + eps)).mean()
        log_mag = log_mag + (torch.log(mag_t + eps) - torch.log(mag_p + eps)).abs().mean()
    return {"sc": sc / len(fft_sizes), "log_mag": log_mag / len(fft_sizes)}


def random_crops(mel: torch.Tensor, audio: torch.Tensor, frames: int, hop_length: int, *,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned random crops: mel frames ``[t, t + frames)`` and samples ``[t * hop, (t + frames) * hop)`` per item.

    Parameters
    ----------
    mel : Tensor, shape ``(batch, n_mels, total_frames)``
    audio : Tensor, shape ``(batch, 1, samples)`` with ``samples >= total_frames * hop_length``
    frames : int
        Crop length in frames (``<= total_frames``).

    Returns
    -------
    ``(mel_crop (batch, n_mels, frames), audio_crop (batch, 1, frames * hop_length))``
    """
    B, _, total = mel.shape
    if audio.ndim != 3 or audio.shape[0] != B or audio.shape[1] != 1:
        raise ValueError(f"audio must be (batch={B}, 1, samples), got {tuple(audio.shape)}")
    if not 1 <= frames <= total or audio.shape[-1] < total * hop_length:
        raise ValueError(f"cannot crop {frames} frames from {total} mel frames with {audio.shape[-1]} samples "
                         f"(need 1 <= frames <= frames available and samples >= frames * hop {hop_length})")
    device = generator.device if generator is not None else mel.device
    start = torch.randint(total - frames + 1, (B,), generator=generator, device=device).to(mel.device)
    idx = start[:, None] + torch.arange(frames, device=mel.device)
    mel_crop = mel.gather(2, idx[:, None, :].expand(-1, mel.shape[1], -1))
    sidx = start[:, None] * hop_length + torch.arange(frames * hop_length, device=mel.device)
    return mel_crop, audio.gather(2, sidx[:, None, :])


class VocoderRecipe(Recipe):
    """Train a mel -> waveform network (default :class:`~tempo_kit.vocoder.Vocoder`) on ``(mel, audio)`` batches.

    Batches are dicts with ``"x0"`` (model-space mel, ``(batch, n_mels, frames)``) and ``"audio"`` (``(batch, 1,
    frames * hop + ...)``), as :class:`~tempo_kit.data.MusicDataset` (``load_audio=True``) gives them. Each step draws
    one random crop per clip with the step's generator. One parameter group ``"net"``; loss terms ``"sc"``,
    ``"log_mag"`` (multi-resolution STFT) and ``"mel"`` (model-space L1, ``mel_weight`` times, edge frames excluded
    because their STFT windows reach outside the crop).

    Parameters
    ----------
    net : nn.Module, optional
        The vocoder (``forward(mel) -> (batch, 1, frames * hop)``, a ``spec`` :class:`~tempo_kit.audio.MelSpec`
        attribute); default ``Vocoder()``.
    crop_frames : int
        Frames per training crop (32 frames = 0.74 s).
    fft_sizes : sequence of int
        Resolutions of the STFT loss.
    mel_weight : float
        Weight of the mel L1 term.
    lr, betas, weight_decay
        AdamW settings.
    """

    name = "vocoder"

    def __init__(self, *, net: nn.Module | None = None, crop_frames: int = 32, fft_sizes=(512, 1024, 2048),
                 mel_weight: float = 5.0, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        super().__init__()
        from ...vocoder import Vocoder

        self.net = net if net is not None else Vocoder()
        if not hasattr(self.net, "spec"):
            raise TypeError(f"the vocoder network must carry its MelSpec as .spec, {type(self.net).__name__} does not")
        edge = self.net.spec.n_fft // (2 * self.net.spec.hop_length)
        if crop_frames <= 2 * edge:
            raise ValueError(f"crop_frames must exceed {2 * edge} (edge frames excluded from the mel loss), got {crop_frames}")
        self.crop_frames, self.edge, self.fft_sizes = int(crop_frames), edge, tuple(fft_sizes)
        self.mel_weight = float(mel_weight)
        self.rule = UpdateRule(group="net", lr=lr, betas=tuple(betas), weight_decay=weight_decay)

    def param_groups(self):
        return {"net": trainable(self.net)}

    def update_rules(self):
        return [self.rule]

    def losses(self, batch: Any, *, step, groups, generator=None):
        if not isinstance(batch, dict) or "audio" not in batch or "x0" not in batch:
            raise ValueError("the vocoder recipe needs batches with 'x0' (mel) and 'audio': use [data] load_audio = true")
        spec = self.net.spec
        mel, audio = random_crops(batch["x0"].float(), batch["audio"].float(), self.crop_frames, spec.hop_length,
                                  generator=generator)
        pred = self.net(mel)
        terms = multi_resolution_stft_loss(pred, audio, fft_sizes=self.fft_sizes)
        inner = slice(self.edge, self.crop_frames - self.edge)
        mel_pred = spec.to_model(pred.float())[..., : self.crop_frames]
        terms["mel"] = self.mel_weight * (mel_pred[..., inner] - mel[..., inner]).abs().mean()
        return {"net": terms}

    def student(self):
        return self.net
