"""tempo_kit: fast, controllable music generation with diffusion models.

DITTO-2 inference-time control through distilled surrogates, and Presto step/layer distillation, as a plug-in library.
Heavy optional dependencies are imported lazily; ``import tempo_kit`` costs little more than ``import torch``.
"""

from .denoisers import CFGDenoiser, Denoiser, EDMPrecond, NFECounter, VPDenoiser
from .grad import Backprop, Checkpointed, GradStrategy, NoGrad
from .hookspecs import hookimpl
from .jumps import ConsistencyJump, EulerJump, Jump, ODEJump
from .registry import get, get_registry, names
from .samplers import CMMultistep, CTMGamma, EDMSampler, Sampler
from .schedules import KarrasSchedule, LogNormalSigma, decoding_sigmas, karras_sigmas, teacher_grid
from .utils import append_dims

__version__ = "0.1.0"

__all__ = [
    "Backprop",
    "CFGDenoiser",
    "CMMultistep",
    "CTMGamma",
    "Checkpointed",
    "ConsistencyJump",
    "Denoiser",
    "EDMPrecond",
    "EDMSampler",
    "EulerJump",
    "GradStrategy",
    "Jump",
    "KarrasSchedule",
    "LogNormalSigma",
    "NFECounter",
    "NoGrad",
    "ODEJump",
    "Pipeline",
    "Sampler",
    "VPDenoiser",
    "append_dims",
    "decoding_sigmas",
    "get",
    "get_registry",
    "hookimpl",
    "karras_sigmas",
    "names",
    "teacher_grid",
]


def __getattr__(name: str):
    """``tempo_kit.Pipeline`` is imported on first use, so ``import tempo_kit`` stays light."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'tempo_kit' has no attribute {name!r}")
