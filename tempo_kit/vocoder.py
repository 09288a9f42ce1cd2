"""Mel -> waveform: a small Vocos-style neural vocoder and a differentiable Griffin-Lim fallback.

Both modules read model-space mel frames ``(batch, n_mels, frames)`` (:class:`~tempo_kit.audio.MelSpec`) and return a
waveform ``(batch, 1, frames * hop_length)`` whose frame ``t`` is centred at sample ``t * hop_length``, the same grid
:meth:`MelSpec.to_model <tempo_kit.audio.MelSpec.to_model>` uses, so ``spec.to_model(vocoder(x))[..., :frames]`` lines
up with ``x``. Both are differentiable with respect to the mel input (a control feature defined on audio can be
back-propagated to mel frames).

* :class:`Vocoder` (registered model ``"vocoder"``): 1-D ConvNeXt blocks over mel frames and a head that predicts the
  log-magnitude (as a residual over the mel pseudo-inverse) and the phase of an STFT with the mel front end's
  ``n_fft`` / ``hop_length``, turned into audio by an inverse STFT (:func:`istft`; Siuzdak 2023, Vocos, Sec. 3).
  Trained by the ``"vocoder"`` recipe (:mod:`tempo_kit.training.recipes.vocoder`).
* :class:`GriffinLim` (registered model ``"griffin-lim"``): clamped pseudo-inverse magnitude from the mel power,
  then a fixed number of fast Griffin-Lim iterations (Griffin & Lim 1984; Perraudin et al. 2013, momentum 0.99 as in
  ``librosa.griffinlim``). No weights; needs no training.
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np
import torch
from torch import nn

from .audio.mel import MelSpec

__all__ = ["VocoderConfig", "Vocoder", "GriffinLimConfig", "GriffinLim", "mel_to_linear_power", "check_mel", "istft"]


def check_mel(mel: torch.Tensor, spec: MelSpec, who: str, frame_rate: float | None = None) -> None:
    """Raise ``ValueError`` unless ``mel`` is a finite floating ``(batch, n_mels, frames)`` tensor with ``frames >= 1``
    (and, when the caller states its ``frame_rate`` in frames per second, the rate of ``spec``); the message names the
    expected shape and rate."""
    expected = (f"model-space mel frames (batch, n_mels={spec.n_mels}, frames) at {spec.frame_rate:.2f} frames/s "
                f"(hop {spec.hop_length} at {spec.sample_rate} Hz)")
    if not isinstance(mel, torch.Tensor) or mel.ndim != 3 or mel.shape[1] != spec.n_mels or mel.shape[2] < 1 \
            or not mel.is_floating_point():
        shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
        raise ValueError(f"{who} expects {expected} as a floating tensor, got {shape}")
    if frame_rate is not None and not math.isclose(float(frame_rate), spec.frame_rate, rel_tol=1e-3):
        raise ValueError(f"{who} expects {expected}, got frames at {float(frame_rate):.2f} frames/s: resample the audio "
                         f"to {spec.sample_rate} Hz and analyse it with hop {spec.hop_length}")
    bad = ~torch.isfinite(mel.detach())
    if bad.any():
        raise ValueError(f"{who}: the mel frames hold {int(bad.sum())} NaN or infinite values (of {mel.numel()}, in "
                         f"clips {sorted(set(bad.flatten(1).any(1).nonzero().flatten().tolist()))[:8]}); nothing to vocode")


class _MelInverse(nn.Module):
    """Base of the mel -> waveform modules: the mel filterbank's pseudo-inverse and the STFT window as buffers that
    follow the module's device but stay float32 under ``.to(dtype)`` or ``.bfloat16()``. Rounded to bfloat16, the
    pseudo-inverse's cancelling entries misplace the quiet bins: a vocoder's MR-STFT distance grew by 3-4%, while its
    network in bfloat16 changes it by less than 0.01% (99 held-out clips)."""

    def _register_inverse(self, spec: MelSpec) -> np.ndarray:
        """Register the pseudo-inverse of ``spec``'s mel filterbank and the Hann window of its ``n_fft``
        (non-persistent buffers); returns the filterbank ``(n_mels, n_freq)``."""
        fb = spec.mel_filterbank()  # (n_mels, n_freq) float64
        self.register_buffer("fb_pinv", torch.as_tensor(np.linalg.pinv(fb), dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(spec.n_fft, periodic=True), persistent=False)
        return fb

    def _apply(self, fn, recurse=True):
        kept = {name: self._buffers.get(name) for name in ("fb_pinv", "window")}
        super()._apply(fn, recurse)
        for name, buffer in kept.items():
            new = self._buffers.get(name)
            if buffer is not None and new is not None and new.dtype != buffer.dtype:  # a cast: the exact float32
                self._buffers[name] = buffer.to(new.device)  # values on the device that fn chose
        return self


def mel_to_linear_power(power: torch.Tensor, fb_pinv: torch.Tensor) -> torch.Tensor:
    """Non-negative STFT power ``S`` with ``fb @ S ~ power``: the filterbank pseudo-inverse, clamped at zero.

    Non-negative least squares (as ``librosa.feature.inverse.mel_to_stft``, or multiplicative NNLS updates) fits the
    loud bins better but, on the project's music, gives a larger model-space (dB) mel error after Griffin-Lim
    (0.036-0.038 vs 0.029 at 32 iterations), so the clamped pseudo-inverse is used.

    Parameters
    ----------
    power : Tensor, shape ``(batch, n_mels, frames)``
        Mel power (linear, non-negative).
    fb_pinv : Tensor, shape ``(n_freq, n_mels)``
        Pseudo-inverse of the mel filterbank.

    Returns
    -------
    Tensor, shape ``(batch, n_freq, frames)``: linear STFT power.
    """
    # computed frames-major, (batch, frames, n_freq) in memory: the vocoder's synthesis reads it that way
    return torch.matmul(power.transpose(-1, -2), fb_pinv.to(power).T).clamp_min(0.0).transpose(-1, -2)


def _mel_power(mel: torch.Tensor, spec: MelSpec) -> torch.Tensor:
    # far-out-of-range frames (an untrained or diverged model) overflow 10^(dB/10) to inf, and inf - inf in the
    # pseudo-inverse is NaN: cap the power (1e30 = +300 dB) so the waveform stays finite
    return (spec.from_model(mel.float()).clamp(max=1e30) - spec.amin).clamp_min(0.0)



def _mel_spec(config) -> MelSpec:
    """The model-space mel of a vocoder config (its rate, FFT size, hop and mel count; fmax at Nyquist)."""
    return MelSpec(sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                   n_mels=config.n_mels, fmax=config.sample_rate / 2)

@functools.lru_cache(maxsize=16)
def _bin_phase(n_freq: int, frames: int, hop_length: int, n_fft: int, device: torch.device) -> torch.Tensor:
    """``pi k + omega_k t`` ``(frames, n_freq)``, the phase of bin ``k`` advancing at its centre frequency (exact modulo
    ``2 pi``: integer arithmetic before the scaling). Cached: a pure function of its arguments, never modified."""
    k = torch.arange(n_freq, device=device)
    t = torch.arange(frames, device=device)
    advance = (t[:, None] * k[None, :] * hop_length) % n_fft * (2 * math.pi / n_fft)
    return advance + math.pi * (k % 2)


def istft(S: torch.Tensor, window: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Inverse STFT of a frames-major complex STFT: ``torch.istft(S.mT, n_fft, hop_length, window=window, center=True,
    length=frames * hop_length)`` without transposing ``S`` (the vocoder's head writes it frames-major).

    Each frame's inverse real FFT, times the window, is overlap-added at ``t * hop_length``; the sum is divided by the
    overlap-added squared window and the first ``n_fft / 2`` samples (the centring pad) are dropped.

    Parameters
    ----------
    S : complex Tensor, shape ``(batch, frames, n_fft // 2 + 1)``
    window : Tensor, shape ``(n_fft,)``
        Synthesis window (cast to the real dtype of ``S``); ``n_fft`` a multiple of ``hop_length``, and the
        overlap-added square of the window at least 1e-11 on every kept sample (as ``torch.istft`` checks; Hann
        needs at least three frames per window for that).
    hop_length : int

    Returns
    -------
    Tensor, shape ``(batch, frames * hop_length)``

    Raises
    ------
    ValueError
        On another shape, an ``n_fft`` that is not a multiple of ``hop_length``, or a window whose overlap-added square
        falls below 1e-11 on a kept sample.
    """
    n_fft = window.shape[-1]
    if S.ndim != 3 or not S.is_complex() or S.shape[-1] != n_fft // 2 + 1 or window.ndim != 1 \
            or hop_length < 1 or n_fft % hop_length:
        raise ValueError(f"istft expects a complex (batch, frames, n_fft // 2 + 1 = {n_fft // 2 + 1}) STFT and n_fft "
                         f"{n_fft} a multiple of hop_length {hop_length}, got {tuple(S.shape)} ({S.dtype}), a "
                         f"{tuple(window.shape)} window")
    (B, T, _), r = S.shape, n_fft // hop_length  # r frames overlap each sample
    window = window.to(S.real.dtype)
    frames = (torch.fft.irfft(S, n=n_fft, dim=-1) * window).view(B, T, r, hop_length)
    out, envelope = frames.new_zeros(B, T + r - 1, hop_length), window.new_zeros(T + r - 1, hop_length)
    for j, w2 in enumerate(window.square().view(r, hop_length)):  # part j of frame t lands in block t + j
        out[:, j:j + T] += frames[:, :, j]
        envelope[j:j + T] += w2
    kept = slice(n_fft // 2, n_fft // 2 + T * hop_length)  # cut before dividing: the envelope is 0 at sample 0
    envelope = envelope.flatten()[kept]
    if bool(envelope.min() < 1e-11):
        raise ValueError(f"istft: the window's overlap-added square falls to {float(envelope.min()):.2g} at hop "
                         f"{hop_length} (n_fft {n_fft}): the signal cannot be rebuilt there; use a smaller hop")
    return out.flatten(1)[:, kept] / envelope


@attrs.frozen(kw_only=True)
class VocoderConfig:
    """Architecture of :class:`Vocoder`.

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels : int
        The mel model space (:class:`~tempo_kit.audio.MelSpec` with its other fields at their defaults) and, with
        ``subframes = 1``, the STFT the head predicts (same frame grid). ``n_fft`` must be a multiple of
        ``hop_length`` and at least three times it (the overlap-add of :func:`istft`).
    subframes : int
        STFT frames the head predicts per mel frame: the iSTFT runs with ``n_fft / subframes`` and ``hop_length /
        subframes`` (both must divide), a window ``subframes`` times shorter, so a note onset spreads over less time;
        the head's output size, and so its cost, stays about the same. 1: the mel front end's own STFT.
    channels : int
        Width of the ConvNeXt trunk.
    depth : int
        Number of ConvNeXt blocks.
    kernel : int
        Depthwise kernel size along frames (odd).
    expansion : float
        Hidden width of each block's pointwise MLP, as a multiple of ``channels``.
    layer_scale : float
        Initial layer scale of each ConvNeXt block. Blocks that a model grown with ``init_from`` adds keep it, so 0
        makes them start as identities (the grown vocoder first computes what the saved one did).
    phase : {"if", "direct"}
        ``"direct"``: the head predicts each bin's phase per frame (Vocos). ``"if"``: it predicts an
        instantaneous-frequency deviation from the bin centre, integrated over frames, plus a phase offset
        (see :meth:`Vocoder.phase`). A translation-invariant network gives the same direct phase to every frame
        of a steady tone, which is inconsistent except at every fourth bin; the integrated form makes a steady
        tone's phase advance at its frequency from the start.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 80
    subframes: int = 1
    channels: int = 128
    depth: int = 6
    kernel: int = 7
    expansion: float = 3.0
    layer_scale: float = 0.1
    phase: str = attrs.field(default="if", validator=attrs.validators.in_(("if", "direct")))

    def __attrs_post_init__(self):
        if self.channels < 1 or self.depth < 0 or self.kernel < 1 or self.kernel % 2 == 0 or self.expansion <= 0:
            raise ValueError(f"VocoderConfig needs channels >= 1, depth >= 0, an odd kernel and expansion > 0, got "
                             f"{self.channels}, {self.depth}, {self.kernel}, {self.expansion}")
        if not (math.isfinite(self.layer_scale) and self.layer_scale >= 0):
            raise ValueError(f"VocoderConfig needs a finite layer_scale >= 0, got {self.layer_scale}")
        if self.n_fft % self.hop_length or self.n_fft < 3 * self.hop_length:
            raise ValueError(f"VocoderConfig needs n_fft a multiple of hop_length, at least three times it (the "
                             f"overlap-add of the iSTFT; with two frames per window a Hann window's overlap-added "
                             f"square vanishes at the clip's end), got n_fft {self.n_fft}, hop_length {self.hop_length}")
        s = self.subframes
        if not (isinstance(s, int) and not isinstance(s, bool) and s >= 1 and self.n_fft % s == 0
                and self.hop_length % s == 0):
            raise ValueError(f"VocoderConfig needs subframes, an integer >= 1 that divides n_fft {self.n_fft} and "
                             f"hop_length {self.hop_length}, got {s!r}")

    def mel_spec(self) -> MelSpec:
        return _mel_spec(self)

    def synthesis_spec(self) -> MelSpec:
        """The mel bands on the STFT the head predicts (``n_fft / subframes``, ``hop_length / subframes``)."""
        return attrs.evolve(self.mel_spec(), n_fft=self.n_fft // self.subframes,
                            hop_length=self.hop_length // self.subframes)


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block: depthwise conv, LayerNorm, pointwise MLP (GELU), layer scale, residual (Liu et al. 2022)."""

    def __init__(self, *, channels: int, kernel: int, hidden: int, layer_scale: float = 0.1):
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.pw1 = nn.Linear(channels, hidden)
        self.pw2 = nn.Linear(hidden, channels)
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(h).transpose(1, 2)
        y = self.pw2(nn.functional.gelu(self.pw1(self.norm(y))))
        return h + (self.gamma * y).transpose(1, 2)


class Vocoder(_MelInverse):
    """Vocos-style mel vocoder: ConvNeXt trunk over frames -> STFT log-magnitude and phase -> :func:`istft`.

    Implements Siuzdak 2023 (Vocos, Sec. 3: Fourier-domain head, ``exp(m) (cos p + i sin p)``) with the log-magnitude
    predicted as a residual over the clamped mel pseudo-inverse (:func:`mel_to_linear_power`), so an untrained
    vocoder already reproduces the mel's spectral envelope and training mostly learns phase and fine structure. By
    default (``config.phase = "if"``) the phase is integrated over frames from a predicted instantaneous-frequency
    deviation (:meth:`phase`) instead of being predicted per frame.

    Parameters
    ----------
    config : VocoderConfig

    Notes
    -----
    ``forward(mel, frame_rate=None)``: mel ``(batch, n_mels, frames)`` in model space -> audio ``(batch, 1, frames *
    hop_length)`` in [-1, 1] (not clipped), float32. After ``.to(torch.bfloat16)`` the ConvNeXt trunk and the head run
    in bfloat16 (about 25% less CPU where the CPU has bf16 instructions) while the magnitude prior, the phase
    integration and the iSTFT stay in float32 (``benchmarks/bench_vocoder.py`` has a bf16 row: speed and quality).
    Non-finite mel values, another band count or (when ``frame_rate`` is given, in frames per second) another frame
    rate are a ``ValueError`` naming the expected shape and rate.
    """

    registry_name = "vocoder"

    def __init__(self, *, config: VocoderConfig | None = None):
        super().__init__()
        self.config = config = config or VocoderConfig()
        self.spec = config.mel_spec()
        self.synth = config.synthesis_spec()
        n_freq = self.synth.n_fft // 2 + 1
        empty = int((self._register_inverse(self.synth).sum(1) == 0).sum())
        if empty:
            raise ValueError(f"subframes={config.subframes} leaves {empty} of the {config.n_mels} mel bands without a "
                             f"bin of the {self.synth.n_fft}-point synthesis STFT; use fewer subframes")
        self.embed = nn.Conv1d(config.n_mels, config.channels, config.kernel, padding=config.kernel // 2)
        self.embed_norm = nn.LayerNorm(config.channels)
        hidden = int(round(config.channels * config.expansion))
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(channels=config.channels, kernel=config.kernel, hidden=hidden,
                          layer_scale=config.layer_scale) for _ in range(config.depth)
        )
        self.out_norm = nn.LayerNorm(config.channels)
        # output channels ordered (part, bin, subframe): part 0 the log-magnitude residual, then the phase part(s)
        self.head = nn.Conv1d(config.channels, (3 if config.phase == "if" else 2) * n_freq * config.subframes, 1)
        with torch.no_grad():  # magnitude residual (and IF deviation) start at zero: the untrained model outputs the
            self.head.bias.zero_()  # mel-prior magnitude, each bin advancing at its centre frequency ("if")
            self.head.weight[: (n_freq if config.phase == "direct" else 2 * n_freq) * config.subframes].zero_()

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def magnitude_prior(self, mel: torch.Tensor) -> torch.Tensor:
        """Log STFT magnitude ``(batch, n_freq, frames * subframes)`` implied by the mel alone: the clamped filterbank
        pseudo-inverse on the synthesis STFT. With ``subframes = s > 1`` the model-space mel is interpolated linearly
        between mel frames (the last frame held) and its power divided by ``s^2``: a window ``s`` times shorter
        gathers ``s^2`` times less power from a steady tone. (A view of a frames-major tensor, as :meth:`spectrum`.)"""
        s = self.config.subframes
        if s > 1:
            following = torch.cat([mel[..., 1:], mel[..., -1:]], -1)
            mel = torch.stack([torch.lerp(mel, following, j / s) for j in range(s)], -1).flatten(-2)
        S = mel_to_linear_power(_mel_power(mel, self.spec), self.fb_pinv) / s**2
        return 0.5 * torch.log(S + self.spec.amin)

    def spectrum(self, mel: torch.Tensor, *, frame_rate: float | None = None) -> torch.Tensor:
        """Predicted complex STFT ``(batch, n_fft / subframes // 2 + 1, frames * subframes)`` (the synthesis STFT);
        ``frame_rate`` as in :func:`check_mel`. It is a view of a frames-major tensor (``spectrum(mel).mT`` is
        contiguous), the layout :func:`istft` reads."""
        check_mel(mel, self.spec, "Vocoder", frame_rate)
        h = self.embed(mel.to(self.embed.weight.dtype))  # the trunk runs in the weights' dtype (bf16 after .to(...))
        h = self.embed_norm(h.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        h = self.out_norm(h.transpose(1, 2))  # (batch, frames, channels)
        # The head is a 1x1 convolution whose output channels are stored in (part, bin, subframe) order; applied as a
        # linear map with its rows taken in (subframe, part, bin) order, its output (batch, frames, subframe, part,
        # bin) is frames-major (batch, frames * subframes, part, bin) with no copy. The head's output, the phase sums
        # over frames and the iSTFT always in float32.
        parts, s = 3 if self.config.phase == "if" else 2, self.config.subframes
        weight = self.head.weight.view(parts, -1, s, h.shape[-1]).permute(2, 0, 1, 3).flatten(0, 2)
        bias = self.head.bias.view(parts, -1, s).permute(2, 0, 1).flatten()
        out = nn.functional.linear(h, weight, bias).float()
        out = out.view(out.shape[0], out.shape[1] * s, parts, -1)
        log_mag, *phase = out.unbind(2)
        magnitude = torch.exp((self.magnitude_prior(mel.float()).mT + log_mag).clamp(max=math.log(1e4)))
        phi = self.phase(*(p.mT for p in phase)).mT
        return torch.complex(magnitude * torch.cos(phi), magnitude * torch.sin(phi)).mT  # faster than torch.polar

    def phase(self, deviation: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """STFT phase ``(batch, n_freq, frames)`` from the head's outputs.

        ``"direct"``: ``deviation`` is the phase. ``"if"``: ``phi[k, t] = pi k + omega_k t + cumsum_t(deviation)[k, t]
        + offset[k, t]`` with the bin-centre advance ``omega_k = 2 pi k hop / n_fft`` of the synthesis STFT (exact
        modulo 2 pi) and ``pi k`` the phase step between neighbouring bins of one windowed sinusoid
        (``torch.stft`` frames start half a window before their centre). A sinusoid of frequency ``f`` is
        consistent when every bin of its main lobe gets ``deviation = 2 pi hop (f - f_k) / sample_rate``.
        """
        if offset is None:
            return deviation
        n_freq, frames = deviation.shape[-2:]
        base = _bin_phase(n_freq, frames, self.synth.hop_length, self.synth.n_fft, deviation.device).T
        return base.to(deviation.dtype) + torch.cumsum(deviation, dim=-1) + offset

    def forward(self, mel: torch.Tensor, *, frame_rate: float | None = None) -> torch.Tensor:
        S = self.spectrum(mel, frame_rate=frame_rate).mT
        return istft(S, self.window.to(S.real.dtype), self.synth.hop_length).unsqueeze(1)


@attrs.frozen(kw_only=True)
class GriffinLimConfig:
    """Settings of :class:`GriffinLim`.

    Parameters
    ----------
    sample_rate, n_fft, hop_length, n_mels : int
        The mel model space (other :class:`~tempo_kit.audio.MelSpec` fields at their defaults).
    n_iter : int
        Griffin-Lim iterations (0: the random initial phase only).
    momentum : float
        Fast Griffin-Lim momentum (0: classic Griffin-Lim; librosa's default 0.99).
    seed : int
        Seed of the random initial phase when ``forward`` gets no generator (so the module is deterministic).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 80
    n_iter: int = 32
    momentum: float = 0.99
    seed: int = 0

    def __attrs_post_init__(self):
        if self.n_iter < 0:
            raise ValueError(f"n_iter must be >= 0, got {self.n_iter}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")

    def mel_spec(self) -> MelSpec:
        return _mel_spec(self)


class GriffinLim(_MelInverse):
    """Differentiable mel inversion: pseudo-inverse magnitude, then fast Griffin-Lim phase retrieval on ``torch.stft``/``istft``.

    Implements Griffin & Lim 1984 (Eq. 6, iterated STFT consistency projection) with the momentum of Perraudin, Balazs
    & Sondergaard 2013 (fast Griffin-Lim), as ``librosa.griffinlim``. The whole chain is differentiable (gradients
    flow through every iteration), so it can stand in for :class:`Vocoder` when no trained weights are available.

    Parameters
    ----------
    config : GriffinLimConfig

    Notes
    -----
    ``forward(mel, generator=None, frame_rate=None)``: mel ``(batch, n_mels, frames)`` -> audio ``(batch, 1, frames *
    hop_length)``; bad input as for :class:`Vocoder`.
    The initial phase is uniform random, drawn from ``generator`` (default: a generator seeded with ``config.seed``).
    """

    registry_name = "griffin-lim"

    def __init__(self, *, config: GriffinLimConfig | None = None):
        super().__init__()
        self.config = config = config or GriffinLimConfig()
        self.spec = config.mel_spec()
        self._register_inverse(self.spec)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """STFT magnitude ``(batch, n_freq, frames)`` estimated from the mel (clamped filterbank pseudo-inverse)."""
        S = mel_to_linear_power(_mel_power(mel, self.spec), self.fb_pinv).contiguous()  # the layout of torch.stft
        return torch.sqrt(S + self.spec.amin)

    def forward(self, mel: torch.Tensor, *, generator: torch.Generator | None = None,
                frame_rate: float | None = None) -> torch.Tensor:
        check_mel(mel, self.spec, "GriffinLim", frame_rate)
        cfg = self.config
        shortest = cfg.n_fft // (2 * cfg.hop_length) + 1  # its STFT pads n_fft / 2 by reflection
        if mel.shape[-1] < shortest:
            raise ValueError(f"GriffinLim needs at least {shortest} mel frames (n_fft {cfg.n_fft}, hop "
                             f"{cfg.hop_length}), got {mel.shape[-1]}; the neural vocoder takes any length")
        mag = self.magnitude(mel)
        if generator is None:
            generator = torch.Generator(device=mel.device).manual_seed(cfg.seed)
        phase = 2 * math.pi * torch.rand(mag.shape, generator=generator, device=generator.device).to(mag.device)
        window = self.window.to(mag.dtype)
        length = mag.shape[-1] * cfg.hop_length
        stft = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=window, center=True)
        angles = torch.polar(torch.ones_like(mag), phase)
        rebuilt = torch.zeros_like(angles)
        for _ in range(cfg.n_iter):
            previous = rebuilt
            audio = torch.istft(mag * angles, length=length, **stft)
            rebuilt = torch.stft(audio, return_complex=True, **stft)[..., : mag.shape[-1]]
            angles = rebuilt - (cfg.momentum / (1 + cfg.momentum)) * previous
            angles = angles / torch.sqrt(angles.real.square() + angles.imag.square() + 1e-16)
        return torch.istft(mag * angles, length=length, **stft).unsqueeze(1)
