"""Hook implementations: the entry point ``diffusers`` in group ``tempo_kit`` names this module.

diffusers (5-20 s to import) is imported only when a model is built, never when tempo_kit loads its plugins.
"""

import tempo_kit


def _stable_audio(*, path=None, **kw):
    from .stable_audio import stable_audio_from_pretrained

    if path is None:
        raise TypeError("the 'stable-audio' model needs path= (a local directory with transformer/ and vae/ saved by "
                        "diffusers); use 'stable-audio-random' for random weights")
    return stable_audio_from_pretrained(path, **kw)


def _stable_audio_random(**kw):
    from .stable_audio import stable_audio_from_config

    return stable_audio_from_config(**kw)


@tempo_kit.hookimpl
def register_models(register, context):
    register("stable-audio", _stable_audio,
             description="Stable Audio Open (diffusers DiT + Oobleck VAE) from a local directory: v-prediction as an "
                         "EDM denoiser over latents with a differentiable decode (tempo-kit-diffusers)")
    register("stable-audio-random", _stable_audio_random,
             description="Stable Audio architecture with random weights from configs (default: tiny, for tests) "
                         "(tempo-kit-diffusers)")
