"""Train the mel vocoder: multi-resolution STFT loss plus a model-space mel L1 on random crops of (mel, audio) pairs,
optionally with adversarial and feature-matching losses.

Reconstruction losses follow Yamamoto et al. 2020 (Parallel WaveGAN, Eq. 4-6: spectral convergence +
log-STFT-magnitude L1 summed over FFT sizes) and the mel reconstruction term of Vocos / HiFi-GAN (an L1 between the mel
of the output and the input mel, here in the project's model space). With ``adversarial_weight > 0`` a second parameter
group ``"disc"`` trains HiFi-GAN's multi-period discriminator (Kong et al. 2020, Sec. 2.2) and a multi-resolution
STFT-magnitude discriminator (Jang et al. 2021, UnivNet; as in Vocos), both slimmed for CPU training, with the
least-squares GAN loss and the feature-matching L1 of HiFi-GAN (Eq. 1-3).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..recipe import Recipe, UpdateRule, trainable
from .common import frozen

__all__ = ["VocoderRecipe", "Discriminators", "multi_resolution_stft_loss", "phase_derivative_loss", "random_crops"]


def _stft_pairs(pred: torch.Tensor, target: torch.Tensor, fft_sizes):
    """The complex STFTs ``(P, T)`` of two waveforms of one shape at each FFT size (Hann window, hop a quarter)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction and target waveforms differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    pred, target = pred.reshape(pred.shape[0], -1).float(), target.reshape(target.shape[0], -1).float()
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=pred.device)
        kw = dict(n_fft=n_fft, hop_length=n_fft // 4, window=window, center=True, return_complex=True)
        yield torch.stft(pred, **kw), torch.stft(target, **kw)


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
    sc, log_mag = 0.0, 0.0
    for P, T in _stft_pairs(pred, target, fft_sizes):
        mag_p = torch.sqrt(P.real.square() + P.imag.square() + eps**2)
        mag_t = torch.sqrt(T.real.square() + T.imag.square() + eps**2)
        num = (mag_t - mag_p).square().sum(dim=(1, 2))
        den = mag_t.square().sum(dim=(1, 2))
        sc = sc + torch.sqrt((num + eps) / (den + eps)).mean()
        log_mag = log_mag + (torch.log(mag_t + eps) - torch.log(mag_p + eps)).abs().mean()
    return {"sc": sc / len(fft_sizes), "log_mag": log_mag / len(fft_sizes)}


def phase_derivative_loss(pred: torch.Tensor, target: torch.Tensor, *, fft_sizes=(512, 1024, 2048),
                          eps: float = 1e-8) -> dict[str, torch.Tensor]:
    """Distance of the STFT phase's derivatives, across frequency (group delay) and across time (instantaneous
    frequency), weighted by the target's magnitude and averaged over STFT resolutions.

    After the group-delay and instantaneous-angular-frequency losses of APNet (Ai & Ling 2023, Sec. 3.3.2), which
    take the anti-wrapped ``|x - 2 pi round(x / 2 pi)|`` of the difference ``x`` of the two phases' first
    differences. Here each first difference is the unit phasor of ``S_j conj(S_i)`` (no phase is unwrapped or taken
    with ``angle``) and the distance is the chord ``|u_pred - u_target| = 2 |sin(x / 2)|``: about ``|x|`` for small
    ``x``, at most 2, with finite gradients where the output is silent (``angle`` and ``atan2`` divide by products
    of four magnitudes there; a training run with ``atan2`` turned NaN). Each bin pair is weighted by the geometric
    mean of the target's two magnitudes (its quiet, noise-like bins carry no phase to match).

    Parameters
    ----------
    pred, target : Tensor, shape ``(batch, samples)`` or ``(batch, 1, samples)``
        Waveforms.
    fft_sizes : sequence of int
        FFT sizes; Hann window of that size, hop a quarter of it.
    eps : float
        Added to a phasor's magnitude before normalising it.

    Returns
    -------
    dict with ``"gd"`` (between neighbouring bins of a frame) and ``"iaf"`` (between neighbouring frames of a bin),
    each in ``[0, 2]``.
    """
    out = {"gd": 0.0, "iaf": 0.0}
    for P, T in _stft_pairs(pred, target, fft_sizes):
        for name, dim in (("gd", -2), ("iaf", -1)):
            n = P.shape[dim] - 1
            dp = P.narrow(dim, 1, n) * P.narrow(dim, 0, n).conj()
            dt = T.narrow(dim, 1, n) * T.narrow(dim, 0, n).conj()
            product = dt.abs()
            chord = (dp / (dp.abs() + eps) - dt / (product + eps)).abs()
            weight = product.sqrt()  # geometric mean of the two target magnitudes
            out[name] = out[name] + (weight * chord).sum() / (weight.sum() + eps)
    return {k: v / len(fft_sizes) for k, v in out.items()}


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


class _ConvStack(nn.Module):
    """2-D convolutions with leaky ReLU; returns the logits map and every layer's output (for feature matching)."""

    def __init__(self, layers: list[nn.Conv2d]):
        super().__init__()
        self.convs = nn.ModuleList(layers[:-1])
        self.out = layers[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        x = self.out(x)
        return x.flatten(1), features + [x]


class PeriodDiscriminator(_ConvStack):
    """HiFi-GAN sub-discriminator of period ``p``: the waveform folded to ``(samples / p, p)``, strided convs along time."""

    def __init__(self, period: int, channels: tuple[int, ...] = (16, 32, 64)):
        layers, c_in = [], 1
        for c in channels:
            layers.append(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0)))
            c_in = c
        layers += [nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0)), nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0))]
        super().__init__(layers)
        self.period = int(period)

    def forward(self, audio: torch.Tensor):
        B, _, T = audio.shape
        x = F.pad(audio, (0, (-T) % self.period), mode="reflect")
        return super().forward(x.view(B, 1, -1, self.period))


class ResolutionDiscriminator(_ConvStack):
    """UnivNet / Vocos sub-discriminator: 2-D convs over the STFT magnitude at one resolution (hop ``n_fft / 4``)."""

    def __init__(self, n_fft: int, channels: int = 16):
        c = channels
        super().__init__([nn.Conv2d(1, c, (7, 5), (2, 2), padding=(3, 2)), nn.Conv2d(c, c, (5, 3), (2, 1), padding=(2, 1)),
                          nn.Conv2d(c, c, (5, 3), (2, 1), padding=(2, 1)), nn.Conv2d(c, c, 3, padding=1),
                          nn.Conv2d(c, 1, 3, padding=1)])
        self.n_fft = int(n_fft)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, audio: torch.Tensor):
        S = torch.stft(audio.flatten(1), self.n_fft, self.n_fft // 4, window=self.window, center=True,
                       return_complex=True)
        return super().forward(S.abs().unsqueeze(1))


class Discriminators(nn.ModuleList):
    """The sub-discriminators: one per period (HiFi-GAN MPD) and one per FFT size (multi-resolution).

    ``forward(audio (batch, 1, samples))`` -> list of ``(logits (batch, n), features [tensor, ...])``, one per
    sub-discriminator.
    """

    def __init__(self, *, periods=(2, 3, 5, 7, 11), fft_sizes=(512, 1024, 2048)):
        super().__init__([PeriodDiscriminator(p) for p in periods] + [ResolutionDiscriminator(n) for n in fft_sizes])

    def forward(self, audio: torch.Tensor):
        return [d(audio) for d in self]


def gan_losses(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares discriminator loss ``sum_d E[(D(y) - 1)^2] + E[D(y_hat)^2]`` and feature matching
    ``sum_d mean_l |D_l(y) - D_l(y_hat)|`` (HiFi-GAN Eq. 1 and 3); ``fake`` holds the outputs on the generated audio
    (detached for the discriminator loss by the caller)."""
    disc = sum(((r - 1).square().mean() + f.square().mean()) for (r, _), (f, _) in zip(real, fake))
    fm = sum(sum((a.detach() - b).abs().mean() for a, b in zip(fr, ff)) / len(fr) for (_, fr), (_, ff) in zip(real, fake))
    return disc, fm


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
        AdamW settings (``betas`` and ``weight_decay`` also for the discriminators).
    adversarial_weight : float
        Weight of the generator's least-squares GAN loss ``sum_d E[(D(y_hat) - 1)^2]`` (term ``"adv"``); 0 (default)
        trains without discriminators.
    feature_weight : float
        Weight of the feature-matching L1 (term ``"fm"``), used when ``adversarial_weight > 0``.
    disc_lr : float
        Learning rate of the discriminators (group ``"disc"``, term ``"gan"``).
    periods, disc_fft_sizes : sequence of int
        Periods of the multi-period and FFT sizes of the multi-resolution discriminators.
    disc_batch : int
        The GAN terms use the first ``disc_batch`` crops of each batch (the discriminators cost several times the
        vocoder's update on a CPU).
    phase_weight : float
        Weight of the phase-derivative terms ``"gd"`` and ``"iaf"`` (:func:`phase_derivative_loss` on ``fft_sizes``);
        0 (default) leaves the phase to the magnitude losses.
    """

    name = "vocoder"

    def __init__(self, *, net: nn.Module | None = None, crop_frames: int = 32, fft_sizes=(512, 1024, 2048),
                 mel_weight: float = 5.0, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, adversarial_weight: float = 0.0, feature_weight: float = 0.0,
                 disc_lr: float = 2e-4, periods=(2, 3, 5, 7, 11), disc_fft_sizes=(512, 1024, 2048),
                 disc_batch: int = 8, phase_weight: float = 0.0):
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
        if adversarial_weight < 0 or feature_weight < 0:
            raise ValueError(f"adversarial_weight and feature_weight must be >= 0, got {adversarial_weight}, {feature_weight}")
        self.adversarial_weight, self.feature_weight = float(adversarial_weight), float(feature_weight)
        if not phase_weight >= 0:
            raise ValueError(f"phase_weight must be >= 0, got {phase_weight}")
        self.phase_weight = float(phase_weight)
        self.rules = [UpdateRule(group="net", lr=lr, betas=tuple(betas), weight_decay=weight_decay)]
        self.disc, self.disc_batch = None, int(disc_batch)
        if self.disc_batch < 1:
            raise ValueError(f"disc_batch must be >= 1, got {disc_batch}")
        if self.adversarial_weight > 0:
            self.disc = Discriminators(periods=tuple(periods), fft_sizes=tuple(disc_fft_sizes))
            self.rules.append(UpdateRule(group="disc", lr=disc_lr, betas=tuple(betas), weight_decay=weight_decay))

    def param_groups(self):
        groups = {"net": trainable(self.net)}
        if self.disc is not None:
            groups["disc"] = trainable(self.disc)
        return groups

    def update_rules(self):
        return self.rules

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
        if self.phase_weight > 0:
            phase = phase_derivative_loss(pred, audio, fft_sizes=self.fft_sizes)
            terms.update({k: self.phase_weight * v for k, v in phase.items()})
        out = {"net": terms}
        if self.disc is not None:
            audio, pred = audio[: self.disc_batch], pred[: self.disc_batch]
            real = self.disc(audio)
            if "disc" in groups:
                out["disc"] = {"gan": gan_losses(real, self.disc(pred.detach()))[0]}
            with frozen(self.disc):  # the generator's turn: gradients flow through D into the vocoder only
                fake = self.disc(pred)
            terms["adv"] = self.adversarial_weight * sum((f - 1).square().mean() for f, _ in fake)
            terms["fm"] = self.feature_weight * gan_losses(real, fake)[1]
        return out

    def student(self):
        return self.net
