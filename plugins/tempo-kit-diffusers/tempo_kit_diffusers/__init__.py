"""tempo-kit-diffusers: Stable Audio Open's architecture from diffusers as a tempo_kit denoiser over latents.

``import tempo_kit_diffusers`` does not import diffusers; the functions below do, when called.
"""

from .stable_audio import (
    SIGMA_MAX,
    SIGMA_MIN,
    TINY_TRANSFORMER_CONFIG,
    TINY_VAE_CONFIG,
    OobleckDecoder,
    StableAudio,
    StableAudioNet,
    StableAudioNetConfig,
    stable_audio_from_config,
    stable_audio_from_pretrained,
    stable_audio_null_condition,
)
from .text import StableAudioText, text_from_pretrained, tiny_text

__all__ = [
    "SIGMA_MAX",
    "SIGMA_MIN",
    "TINY_TRANSFORMER_CONFIG",
    "TINY_VAE_CONFIG",
    "OobleckDecoder",
    "StableAudio",
    "StableAudioNet",
    "StableAudioNetConfig",
    "stable_audio_from_config",
    "stable_audio_from_pretrained",
    "stable_audio_null_condition",
    "StableAudioText",
    "text_from_pretrained",
    "tiny_text",
]
__version__ = "0.1.0"
