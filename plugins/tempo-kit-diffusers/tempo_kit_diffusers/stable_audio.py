"""Stable Audio Open's architecture (diffusers' ``StableAudioDiTModel`` + ``AutoencoderOobleck``) as tempo_kit parts.

Preconditioning. diffusers samples Stable Audio with ``CosineDPMSolverMultistepScheduler`` (``sigma_data = 1``,
``prediction_type = "v_prediction"``), whose ``precondition_inputs`` / ``precondition_noise`` /
``precondition_outputs`` are, for ``x = x0 + sigma eps``:

* ``c_in = 1 / sqrt(sigma^2 + 1)``, ``c_noise = atan(sigma) * 2 / pi`` (the model's continuous time ``t``),
* ``x0 = c_skip x + c_out v`` with ``c_skip = 1 / (sigma^2 + 1)``, ``c_out = -sigma / sqrt(sigma^2 + 1)``,

which is EDM's preconditioning (Karras et al. 2022, Table 1) with ``sigma_data = 1``, a sign flip on ``c_out`` and
another ``c_noise``. :class:`StableAudioNet` therefore presents the DiT as a raw EDM network: it receives EDM's
``c_noise = ln(sigma) / 4`` from :class:`tempo_kit.EDMPrecond`, recovers ``sigma = exp(4 c_noise)``, feeds the DiT
``atan(sigma) * 2 / pi`` and returns ``-v``. ``EDMPrecond(net=StableAudioNet(...), sigma_data=1.0)`` is then exactly
diffusers' denoiser (tested against the scheduler's own functions), and everything that works with ``EDMPrecond``
(consistency boundary parameterization, trainable copies for distillation, layer routing, GAN features) works here.

Conditioning is given as tensors in ``cond``: ``"encoder_hidden_states"`` ``(batch, tokens,
cross_attention_input_dim)`` (T5 prompt embeddings projected by Stable Audio's projection model, with the
seconds-start/-total tokens appended, as ``StableAudioPipeline`` builds them) and ``"global_hidden_states"``
``(batch, 1, global_states_input_dim)``; ``"encoder_attention_mask"`` ``(batch, tokens)`` is optional.
:meth:`StableAudio.condition` builds them from a prompt with the folder's T5 encoder (:mod:`tempo_kit_diffusers.text`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from tempo_kit import CFGDenoiser, ConsistencyJump, EDMPrecond, KarrasSchedule

from .text import StableAudioText, text_from_pretrained, tiny_text

__all__ = [
    "StableAudioNet",
    "StableAudioNetConfig",
    "OobleckDecoder",
    "StableAudio",
    "stable_audio_from_pretrained",
    "stable_audio_from_config",
    "stable_audio_null_condition",
    "TINY_TRANSFORMER_CONFIG",
    "TINY_VAE_CONFIG",
    "SIGMA_MIN",
    "SIGMA_MAX",
]

# Stable Audio Open's noise range (CosineDPMSolverMultistepScheduler defaults).
SIGMA_MIN, SIGMA_MAX = 0.3, 500.0

# Tiny random configurations for tests and examples (~40 k + ~30 k parameters; 8 latent channels, 32x down-sampling;
# global states = the two seconds tokens of the projection model side by side, as in Stable Audio Open).
TINY_TRANSFORMER_CONFIG = dict(
    sample_size=32, in_channels=8, num_layers=2, attention_head_dim=8, num_attention_heads=4,
    num_key_value_attention_heads=2, out_channels=8, cross_attention_dim=16, time_proj_dim=16,
    global_states_input_dim=20, cross_attention_input_dim=10,
)
TINY_VAE_CONFIG = dict(
    encoder_hidden_size=8, downsampling_ratios=[2, 4, 4], channel_multiples=[1, 2, 2], decoder_channels=8,
    decoder_input_channels=8, audio_channels=2, sampling_rate=8000,
)


@attrs.frozen(kw_only=True)
class StableAudioNetConfig:
    """What tempo_kit's recipes read from a block model's ``config`` (the GAN head's width)."""

    width: int
    num_blocks: int
    in_channels: int
    cross_attention_input_dim: int
    global_states_input_dim: int


def _rotary(dit: nn.Module, length: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    cos, sin = get_1d_rotary_pos_embed(dit.config.attention_head_dim // 2, length, use_real=True,
                                       repeat_interleave_real=False)
    return cos.to(device=device, dtype=dtype), sin.to(device=device, dtype=dtype)


class StableAudioNet(nn.Module):
    """Raw network ``F(x_in, c_noise, cond) = -v`` around a diffusers ``StableAudioDiTModel`` (see module docstring).

    Implements tempo_kit's block protocol (``embed`` / ``run_block`` / ``final`` / ``num_blocks``), so layer routers
    (ASE, Presto-L) and Presto-S's GAN head (``hidden``) work without an architecture registry.

    Parameters
    ----------
    dit : StableAudioDiTModel
        The transformer; its weights are used as they are.

    Notes
    -----
    ``x_in`` has shape ``(batch, in_channels, frames)`` (latent frames, time last); ``c_noise = ln(sigma) / 4`` has
    shape ``(batch,)``. The DiT prepends one global token; ``global_hidden_states`` must hold exactly one token.
    """

    def __init__(self, *, dit: nn.Module):
        super().__init__()
        self.dit = dit
        cfg = dit.config
        self.config = StableAudioNetConfig(
            width=int(cfg.num_attention_heads * cfg.attention_head_dim), num_blocks=int(cfg.num_layers),
            in_channels=int(cfg.in_channels), cross_attention_input_dim=int(cfg.cross_attention_input_dim),
            global_states_input_dim=int(cfg.global_states_input_dim),
        )

    @property
    def blocks(self) -> nn.ModuleList:
        return self.dit.transformer_blocks

    @property
    def num_blocks(self) -> int:
        return len(self.dit.transformer_blocks)

    def _cond(self, cond: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        cfg, b = self.config, x.shape[0]
        keys = ("encoder_hidden_states", "global_hidden_states")
        if cond is None or (isinstance(cond, dict) and not any(k in cond for k in keys)):
            # unconditional (other keys, e.g. a router's "budget", are not the DiT's business): zero tokens
            return (x.new_zeros(b, 1, cfg.cross_attention_input_dim), x.new_zeros(b, 1, cfg.global_states_input_dim),
                    None)
        if not isinstance(cond, dict) or not all(k in cond for k in keys):
            got = sorted(cond) if isinstance(cond, dict) else type(cond).__name__
            raise ValueError("Stable Audio conditioning must be a dict with 'encoder_hidden_states' (batch, tokens, "
                             f"{cfg.cross_attention_input_dim}) and 'global_hidden_states' (batch, 1, "
                             f"{cfg.global_states_input_dim}); got {got}")
        ehs, ghs = cond["encoder_hidden_states"], cond["global_hidden_states"]
        if ehs.ndim != 3 or ehs.shape[0] not in (1, b) or ehs.shape[-1] != cfg.cross_attention_input_dim:
            raise ValueError(f"encoder_hidden_states must have shape (batch={b}, tokens, "
                             f"{cfg.cross_attention_input_dim}), got {tuple(ehs.shape)}")
        if ghs.ndim != 3 or ghs.shape[0] not in (1, b) or ghs.shape[1:] != (1, cfg.global_states_input_dim):
            raise ValueError(f"global_hidden_states must have shape (batch={b}, 1, {cfg.global_states_input_dim}), "
                             f"got {tuple(ghs.shape)}")
        mask = cond.get("encoder_attention_mask")
        return (ehs.to(x.dtype).expand(b, -1, -1), ghs.to(x.dtype).expand(b, -1, -1),
                None if mask is None else mask.expand(b, -1))

    # -- the block protocol --------------------------------------------------------------------------------------
    def embed(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> tuple[torch.Tensor, dict]:
        """Tokens ``(batch, 1 + frames, width)`` (global token first) and the per-call context of the blocks."""
        dit = self.dit
        if x_in.ndim != 3 or x_in.shape[1] != self.config.in_channels:
            raise ValueError(f"expected latents (batch, {self.config.in_channels}, frames), got {tuple(x_in.shape)}")
        ehs, ghs, mask = self._cond(cond, x_in)
        sigma = torch.exp(4.0 * c_noise.to(torch.float32))
        t = torch.atan(sigma) * (2.0 / math.pi)                                  # diffusers' precondition_noise
        glob = dit.global_proj(ghs) + dit.timestep_proj(dit.time_proj(t.to(x_in.dtype)))[:, None]
        h = dit.preprocess_conv(x_in) + x_in
        h = torch.cat([glob, dit.proj_in(h.transpose(1, 2))], dim=-2)
        context = {"cross": dit.cross_attention_proj(ehs), "mask": mask,
                   "rotary": _rotary(dit, h.shape[1], h.device, h.dtype)}
        return h, context

    def run_block(self, i: int, h: torch.Tensor, c: dict) -> torch.Tensor:
        return self.dit.transformer_blocks[i](hidden_states=h, attention_mask=None, encoder_hidden_states=c["cross"],
                                              encoder_attention_mask=c["mask"], rotary_embedding=c["rotary"])

    def final(self, h: torch.Tensor, c: dict) -> torch.Tensor:
        """``-v`` of shape ``(batch, in_channels, frames)`` (the global token is dropped)."""
        out = self.dit.proj_out(h).transpose(1, 2)[:, :, 1:]
        return -(self.dit.postprocess_conv(out) + out)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        h, c = self.embed(x_in, c_noise, cond)
        for i in range(self.num_blocks):
            h = self.run_block(i, h, c)
        return self.final(h, c)

    def hidden(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None, *, layer: int) -> torch.Tensor:
        """Tokens after block ``layer`` without the global token, ``(batch, width, frames)`` (Presto-S GAN head)."""
        h, c = self.embed(x_in, c_noise, cond)
        for i in range(layer + 1):
            h = self.run_block(i, h, c)
        return h[:, 1:].transpose(1, 2)


def stable_audio_null_condition(cond: Any) -> Any:
    """Unconditional ``cond`` for classifier-free guidance as ``StableAudioPipeline`` makes it: zero prompt tokens,
    the same timing (global) tokens."""
    if cond is None:
        return None
    return {**cond, "encoder_hidden_states": torch.zeros_like(cond["encoder_hidden_states"])}


class OobleckDecoder(nn.Module):
    """Differentiable decode ``latents (batch, C, frames) -> audio (batch, audio_channels, frames * hop)`` through a
    frozen ``AutoencoderOobleck``; declares ``input_domain="latent"``, ``domain="audio"`` and ``sample_rate`` so
    DITTO / DITTO-2 route audio-domain objectives through it.
    """

    input_domain = "latent"
    domain = "audio"

    def __init__(self, *, vae: nn.Module):
        super().__init__()
        self.vae = vae.requires_grad_(False)
        self.sample_rate = int(vae.config.sampling_rate)
        self.hop_length = int(math.prod(vae.config.downsampling_ratios))

    def num_samples(self, frames: int) -> int:
        return frames * self.hop_length

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 3 or z.shape[1] != self.vae.config.decoder_input_channels:
            raise ValueError(f"expected latents (batch, {self.vae.config.decoder_input_channels}, frames), got "
                             f"{tuple(z.shape)}")
        return self.vae.decode(z).sample


@attrs.frozen(kw_only=True, eq=False)
class StableAudio:
    """A Stable Audio model as tempo_kit sees it.

    Attributes
    ----------
    denoiser : EDMPrecond
        ``D(x, sigma, cond) -> x0`` over latents, ``sigma_data = 1`` (the teacher for distillation, the model for DITTO).
    decoder : OobleckDecoder
        Differentiable latents -> audio.
    latent_shape : tuple
        ``(channels, frames)`` of one latent clip (``sample_size`` frames).
    schedule : KarrasSchedule
        Karras levels over Stable Audio's noise range ``[0.3, 500]``; pass it to samplers (``schedule=``).
    output_domain : str
        ``"latent"``.
    text : StableAudioText or None
        Prompt -> ``cond`` (T5 + projection model); None when the folder has no text encoder.
    """

    denoiser: EDMPrecond
    decoder: OobleckDecoder
    latent_shape: tuple
    schedule: KarrasSchedule = KarrasSchedule(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX)
    output_domain: str = "latent"
    text: StableAudioText | None = None

    @property
    def sample_rate(self) -> int:
        return self.decoder.sample_rate

    @property
    def seconds(self) -> float:
        """Length of the audio of one latent clip, in seconds (the longest clip the model makes)."""
        return self.decoder.num_samples(self.latent_shape[1]) / self.sample_rate

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "StableAudio":
        """The same model with its networks moved to ``device`` / cast to ``dtype`` (modules move in place)."""
        for part in (self.denoiser, self.decoder, self.text):
            if part is not None:
                part.to(device=device, dtype=dtype)
        return self

    def condition(self, prompt: str | list[str], *, seconds: float | None = None, seconds_start: float = 0.0) -> dict:
        """``cond`` from a prompt (one clip per string) and where the clip ends, in seconds (default :attr:`seconds`;
        the pipeline's ``audio_end_in_s``, the clip's length when ``seconds_start`` is 0), as ``StableAudioPipeline``
        builds it; see :class:`~tempo_kit_diffusers.text.StableAudioText`."""
        if self.text is None:
            raise ValueError("this Stable Audio model has no text encoder: load a folder with tokenizer/, "
                             "text_encoder/ and projection_model/, or pass cond tensors yourself")
        return self.text(prompt, seconds_end=self.seconds if seconds is None else seconds, seconds_start=seconds_start)

    def generate(self, prompt: str | list[str], *, n: int = 1, steps: int = 100, guidance: float = 7.0,
                 seconds: float | None = None, seed: int = 0, sampler: str = "dpmpp-2m-sde") -> torch.Tensor:
        """Audio from a prompt: ``n`` clips per prompt, sampled over :attr:`schedule` with classifier-free guidance.

        Parameters
        ----------
        prompt : str or list of str
        n : int
            Clips per prompt.
        steps : int
            Sampling steps (``StableAudioPipeline``'s default is 100).
        guidance : float
            CFG weight, Imagen convention; as in the pipeline, guidance applies only above 1 (the default is 7).
        seconds : float, optional
            Length of the returned audio, at most :attr:`seconds` (the default); the model is told this length.
        seed : int
            Seeds the initial and per-step noise.
        sampler : str
            Any registered sampler that drives a denoiser (``tempo-kit plugins``); it runs over :attr:`schedule`.

        Returns
        -------
        Tensor, shape (len(prompts) * n, audio_channels, seconds * sample_rate)
            Float audio at :attr:`sample_rate`.
        """
        import tempo_kit

        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        seconds = self.seconds if seconds is None else float(seconds)
        if not 0 < seconds <= self.seconds:
            raise ValueError(f"seconds must be in (0, {self.seconds:.2f}] (the model's clip length), got {seconds}")
        if n < 1 or steps < 1:
            raise ValueError(f"n and steps must be >= 1, got n={n}, steps={steps}")
        solver = tempo_kit.get("samplers", sampler)
        if solver.drives != "denoiser":
            raise ValueError(f"sampler {sampler!r} drives a {solver.drives}; Stable Audio needs one that drives a "
                             "denoiser (e.g. dpmpp-2m-sde, heun, euler)")
        solver = attrs.evolve(solver, schedule=self.schedule)
        cond = self.condition([p for p in prompts for _ in range(n)], seconds=seconds)
        weight = next(self.denoiser.parameters())
        generator = torch.Generator().manual_seed(seed)
        x_T = self.schedule.sigma_max * torch.randn((len(prompts) * n, *self.latent_shape), generator=generator)
        model = self.denoiser if guidance <= 1 else CFGDenoiser(denoiser=self.denoiser, w=guidance,
                                                                 null_cond=stable_audio_null_condition)
        with torch.no_grad():
            latents = solver(model, x_T.to(weight), steps, cond=cond, generator=generator)
            audio = self.decoder(latents)
        return audio[..., :int(seconds * self.sample_rate)].float()

    def jump(self) -> ConsistencyJump:
        """The denoiser used as a jump to ``x0`` (a one-step surrogate for DITTO-2; what Presto-S distills)."""
        return ConsistencyJump(denoiser=self.denoiser)


def _bundle(dit: nn.Module, vae: nn.Module, text: StableAudioText | None = None) -> StableAudio:
    if dit.config.in_channels != vae.config.decoder_input_channels:
        raise ValueError(f"the transformer has {dit.config.in_channels} latent channels but the autoencoder decodes "
                         f"{vae.config.decoder_input_channels}")
    if text is not None:
        width = text.projection.config.conditioning_dim
        if (dit.config.cross_attention_input_dim, dit.config.global_states_input_dim) != (width, 2 * width):
            raise ValueError(f"the projection model's conditioning_dim {width} does not fit the transformer "
                             f"(cross_attention_input_dim {dit.config.cross_attention_input_dim}, "
                             f"global_states_input_dim {dit.config.global_states_input_dim}; expected {width}, "
                             f"{2 * width})")
    dit.eval()
    vae.eval()
    return StableAudio(denoiser=EDMPrecond(net=StableAudioNet(dit=dit), sigma_data=1.0), decoder=OobleckDecoder(vae=vae),
                       latent_shape=(int(dit.config.in_channels), int(dit.config.sample_size)), text=text)


def stable_audio_from_config(*, transformer_config: dict | None = None, vae_config: dict | None = None,
                             seed: int = 0, dtype: torch.dtype = torch.float32, text: bool = True) -> StableAudio:
    """Random Stable Audio models from configs (default: the tiny test configs), weights drawn from ``seed``; with
    ``text=True`` a tiny random tokenizer + T5 + projection model (:func:`~tempo_kit_diffusers.text.tiny_text`) whose
    width fits the transformer."""
    from diffusers import AutoencoderOobleck, StableAudioDiTModel

    with torch.random.fork_rng(devices=[]):  # diffusers initializes from the global CPU generator; leave it as it was
        torch.manual_seed(seed)
        dit = StableAudioDiTModel(**(transformer_config or TINY_TRANSFORMER_CONFIG))
        vae = AutoencoderOobleck(**(vae_config or TINY_VAE_CONFIG))
    encoder = tiny_text(conditioning_dim=int(dit.config.cross_attention_input_dim), seed=seed) if text else None
    if dtype != torch.float32:
        dit, vae = dit.to(dtype), vae.to(dtype)
        encoder = encoder.to(dtype) if encoder is not None else None
    return _bundle(dit, vae, encoder)


def stable_audio_from_pretrained(path: str | Path, *, transformer_subfolder: str = "transformer",
                                 vae_subfolder: str = "vae", dtype: torch.dtype = torch.float32) -> StableAudio:
    """Load Stable Audio weights from a local directory only (``local_files_only=True``; nothing is downloaded).

    Parameters
    ----------
    path : str or Path
        A directory in the diffusers pipeline layout (``stabilityai/stable-audio-open-1.0`` saved locally):
        ``transformer/`` and ``vae/`` sub-directories with ``config.json`` and safetensors weights.
    transformer_subfolder, vae_subfolder : str
        Sub-directory names.
    dtype : torch.dtype

    The prompt side (``tokenizer/``, ``text_encoder/``, ``projection_model/``) is loaded when the folder has it
    (:func:`~tempo_kit_diffusers.text.text_from_pretrained`); without it :attr:`StableAudio.text` is None and
    conditioning is given as tensors.
    """
    from diffusers import AutoencoderOobleck, StableAudioDiTModel

    path = Path(path)
    for sub in (transformer_subfolder, vae_subfolder):
        if not (path / sub / "config.json").is_file():
            raise FileNotFoundError(f"{str(path / sub)!r} has no config.json: give a local directory with "
                                    f"'{transformer_subfolder}/' and '{vae_subfolder}/' saved by diffusers (weights are "
                                    "never downloaded)")
    dit = StableAudioDiTModel.from_pretrained(path, subfolder=transformer_subfolder, local_files_only=True,
                                              torch_dtype=dtype)
    vae = AutoencoderOobleck.from_pretrained(path, subfolder=vae_subfolder, local_files_only=True, torch_dtype=dtype)
    text = text_from_pretrained(path, dtype=dtype) if (path / "text_encoder").is_dir() else None
    return _bundle(dit, vae, text)
