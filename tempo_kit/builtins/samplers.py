"""Built-in samplers."""

from ..hookspecs import hookimpl


@hookimpl
def register_samplers(register, context):
    from ..samplers import CMMultistep, CTMGamma, EDMSampler

    register("euler", lambda **kw: EDMSampler(heun=False, **kw),
             description="EDM Euler (Karras et al. 2022, Alg. 1 without correction), optional churn; drives a denoiser")
    register("heun", lambda **kw: EDMSampler(heun=True, **kw),
             description="EDM Heun (Karras et al. 2022, Alg. 1/2), optional stochastic churn; drives a denoiser")
    register("cm", CMMultistep, description="Consistency-model multistep ('ping-pong') sampling; drives a jump")
    register("ctm-gamma", CTMGamma, description="CTM gamma-sampling as in DITTO-2 Alg. 1, gamma in [0, 1]; drives a jump")
    register("presto-s", lambda **kw: CMMultistep(sigma_min=0.0, **kw),
             description="Presto-S multistep sampling: jump to x0, re-noise to the next Karras level; drives a jump")
