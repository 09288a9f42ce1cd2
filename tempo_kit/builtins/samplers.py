"""Built-in samplers."""

import math

from ..hookspecs import hookimpl
from . import register_all


@hookimpl
def register_samplers(register, context):
    from ..samplers import (CMMultistep, CTMGamma, DPMpp2M, DPMpp2MSDE, DPMpp2SAncestral, DPMpp3MSDE,
                            EulerAncestral, UniPC)

    register_all(register, (
        ("euler", euler,
         "EDM Euler (Karras et al. 2022, Alg. 1 without correction), optional churn; drives a denoiser"),
        ("heun", heun,
         "EDM Heun (Karras et al. 2022, Alg. 1/2), optional stochastic churn; drives a denoiser"),
        ("euler-ancestral", EulerAncestral,
         "Euler ancestral (k-diffusion sample_euler_ancestral), eta-scaled fresh noise; drives a denoiser"),
        ("dpmpp-2s-ancestral", DPMpp2SAncestral,
         "DPM-Solver++(2S) with ancestral noise, 2 calls per step; drives a denoiser"),
        ("dpmpp-2m", DPMpp2M,
         "DPM-Solver++(2M), deterministic multistep, 1 call per step (Lu et al. 2022); drives a denoiser"),
        ("dpmpp-2m-sde", DPMpp2MSDE,
         "DPM-Solver++(2M) SDE, midpoint or heun correction, eta-scaled noise; drives a denoiser"),
        ("dpmpp-3m-sde", DPMpp3MSDE,
         "DPM-Solver++(3M) SDE, third-order multistep with eta-scaled noise; drives a denoiser"),
        ("unipc", UniPC,
         "UniPC predictor-corrector (bh2, data prediction), order 1-3, 1 call per step; drives a denoiser"),
        ("cm", CMMultistep, "Consistency-model multistep ('ping-pong') sampling; drives a jump"),
        ("ctm-gamma", CTMGamma, "CTM gamma-sampling as in DITTO-2 Alg. 1, gamma in [0, 1]; drives a jump"),
        ("presto-s", presto_s,
         "Presto-S multistep sampling: one jump from sigma_max, then jumps re-noised to low levels "
         "(JumpRefineSchedule); drives a jump"),
    ))


def euler(*, schedule=None, s_churn: float = 0.0, s_min: float = 0.0, s_max: float = math.inf, s_noise: float = 1.0):
    """The ``euler`` sampler: :class:`~tempo_kit.samplers.EDMSampler` without Heun's correction."""
    return _edm(heun=False, schedule=schedule, s_churn=s_churn, s_min=s_min, s_max=s_max, s_noise=s_noise)


def heun(*, schedule=None, s_churn: float = 0.0, s_min: float = 0.0, s_max: float = math.inf, s_noise: float = 1.0):
    """The ``heun`` sampler: :class:`~tempo_kit.samplers.EDMSampler` with Heun's second-order correction."""
    return _edm(heun=True, schedule=schedule, s_churn=s_churn, s_min=s_min, s_max=s_max, s_noise=s_noise)


def _edm(*, schedule, **options):
    from ..samplers import EDMSampler

    return EDMSampler(**options) if schedule is None else EDMSampler(schedule=schedule, **options)


def presto_s(*, refine_max: float | None = None, refine_min: float | None = None, schedule=None, sigma_min: float = 0.0):
    """The ``presto-s`` sampler: :class:`~tempo_kit.samplers.CMMultistep` on a
    :class:`~tempo_kit.schedules.JumpRefineSchedule` (``sigma_min`` 0). ``refine_max`` / ``refine_min`` set the
    schedule's re-noise levels (default: the schedule's own), so a model's config can record them as plain numbers
    (``"sampler_args"`` of :meth:`tempo_kit.pipeline.Pipeline.save_pretrained`); ``schedule=`` replaces the schedule."""
    from ..samplers import CMMultistep
    from ..schedules import JumpRefineSchedule

    levels = {k: v for k, v in (("refine_max", refine_max), ("refine_min", refine_min)) if v is not None}
    if levels and schedule is not None:
        raise ValueError("give the presto-s sampler refine_max / refine_min or a schedule, not both")
    return CMMultistep(sigma_min=sigma_min, schedule=JumpRefineSchedule(**levels) if schedule is None else schedule)
