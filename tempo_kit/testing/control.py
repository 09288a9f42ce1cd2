"""A small differentiable mel generator for tests, examples and benchmarks of the control loop.

The same random convolutional network serves as an EDM denoiser (for DITTO), as a consistency jump and as a CTM
Euler jump (for DITTO-2). It is not trained, so its outputs are not music, but it is a smooth, expressive map from
noise to mel frames of the model-space shape ``(batch, n_mels, frames)``: exactly what is needed to check that the
optimisers steer features, count network calls and stay fast.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

from ..denoisers import EDMPrecond
from ..jumps import ConsistencyJump, EulerJump
from ..control.tasks import TASKS, task_objectives

__all__ = ["ToyMelNet", "ToyGenerator", "toy_generator", "toy_task", "TOY_TASKS", "AdditiveDecoder"]


class ToyMelNet(nn.Module):
    """``F(x_in, c_noise, cond) = 0.6 x_in + 0.1 conv2(silu(conv1(x_in) + emb)) - 0.5``: a skip path plus two random
    1-D convolutions over time, with a noise-level and condition embedding.

    The skip path keeps the map from noise to output well conditioned in the mel-bin basis (a random rotation there
    slows Adam's per-coordinate steps a lot), so every output frame can be steered; the offset puts the output at a
    plausible model-space level (about -35 dB).

    Parameters
    ----------
    n_mels : int
        Channels (mel bins).
    hidden : int
        Hidden channels.
    kernel : int
        Temporal kernel size (odd).
    seed : int
        Seed of the (local) generator used for the random weights.

    Notes
    -----
    ``cond`` may be ``None`` or a dict with ``"w"`` (a float or a ``(batch,)`` tensor: a distilled CFG weight) and/or
    ``"label"`` (a ``(batch,)`` float tensor); both shift the hidden activations.
    """

    def __init__(self, *, n_mels: int = 80, hidden: int = 128, kernel: int = 5, seed: int = 0):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, n_mels, kernel, padding=kernel // 2)
        self.noise_emb = nn.Linear(1, hidden)
        self.cond_emb = nn.Linear(2, hidden)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                bound = 1.0 / max(1, p.shape[-1] if p.ndim == 1 else p[0].numel()) ** 0.5
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound * (2.0 if p.ndim == 3 else 1.0))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        h = self.conv1(x) + self.noise_emb(c_noise.to(x.dtype)[:, None])[..., None]
        if cond is not None:
            w = torch.as_tensor(cond.get("w", 0.0), dtype=x.dtype, device=x.device).expand(x.shape[0])
            label = torch.as_tensor(cond.get("label", 0.0), dtype=x.dtype, device=x.device).expand(x.shape[0])
            h = h + self.cond_emb(torch.stack([w, label], 1))[..., None]
        return 0.6 * x + 0.1 * self.conv2(torch.nn.functional.silu(h)) - 0.5


@attrs.frozen(kw_only=True, eq=False)
class ToyGenerator:
    """One :class:`ToyMelNet` seen as a denoiser, a consistency jump and a CTM Euler jump (shared weights)."""

    net: ToyMelNet
    denoiser: EDMPrecond
    cm_jump: ConsistencyJump
    ctm_jump: EulerJump
    shape: tuple


def toy_generator(*, n_mels: int = 80, frames: int = 64, batch: int = 1, hidden: int = 128, seed: int = 0) -> ToyGenerator:
    """Build the toy generator; ``shape`` is the output shape ``(batch, n_mels, frames)``."""
    net = ToyMelNet(n_mels=n_mels, hidden=hidden, seed=seed).requires_grad_(False)
    return ToyGenerator(
        net=net,
        denoiser=EDMPrecond(net=net),
        cm_jump=ConsistencyJump(denoiser=EDMPrecond(net=net, consistency=True)),
        ctm_jump=EulerJump(denoiser=EDMPrecond(net=net)),
        shape=(batch, n_mels, frames),
    )


class AdditiveDecoder(nn.Module):
    """Mel frames -> audio with one sine per mel band, amplitude from the band's model-space level: a differentiable,
    parameter-free stand-in for a vocoder, for audio-domain objectives on the toy generator.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input ``(batch, n_mels, frames)``; band ``m`` sounds at the centre of slaney mel band ``m``
        up to 11025 Hz.
    hop : int
        Samples per frame.

    Notes
    -----
    ``forward``: ``(batch, n_mels, frames) -> (batch, frames * hop)`` at 22050 Hz.
    """

    input_domain, domain, sample_rate = "mel", "audio", 22050

    def __init__(self, n_mels: int = 80, hop: int = 512):
        super().__init__()
        import librosa

        self.hop = hop
        freqs = librosa.mel_frequencies(n_mels=n_mels + 2, fmax=11025)[1:-1]
        self.register_buffer("freqs", torch.as_tensor(freqs, dtype=torch.float32))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        amp = torch.pow(10.0, (mel * 60 - 20) / 20).clamp_max(10.0) * 0.05  # model space -> amplitude
        amp = amp.repeat_interleave(self.hop, dim=-1)
        t = torch.arange(amp.shape[-1], dtype=mel.dtype) / self.sample_rate
        return torch.einsum("bmt,mt->bt", amp, torch.sin(2 * torch.pi * self.freqs[:, None] * t))


TOY_TASKS = TASKS


def toy_task(name: str, *, generator: ToyGenerator, variant: int = 0) -> list:
    """Objectives for one control task on the toy generator's output shape (used by tests, examples and the CLI):
    :func:`~tempo_kit.control.tasks.task_objectives`, with another output of the same generator as the reference of
    the painting tasks.

    ``variant`` picks a different target of the same task (crescendo vs decrescendo, another melody, "ABA" vs
    "AAB", another reference clip), so two runs can be compared.
    """

    def reference(seed: int) -> torch.Tensor:
        eps = torch.randn(generator.shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return generator.cm_jump(80.0 * eps, 80.0, 0.0)[0]

    return task_objectives(name, n_frames=generator.shape[-1], variant=variant, reference=reference)
