"""Hook implementations: the entry point ``extra-controls`` in group ``tempo_kit`` names this module.

Factories import :mod:`tempo_kit_extra_controls.features` (and librosa) only when a component is built, so loading the
plugin costs nothing at ``import tempo_kit`` time.
"""

import functools

import tempo_kit


def _centroid(**kw):
    from .features import SpectralCentroid

    return SpectralCentroid(**kw)


def _density(**kw):
    from .features import OnsetDensity

    return OnsetDensity(**kw)


def _one_sided(**kw):
    from .features import one_sided_mse

    return functools.partial(one_sided_mse, **kw) if kw else one_sided_mse


@tempo_kit.hookimpl
def register_extractors(register, context):
    register("spectral-centroid", _centroid,
             description="Brightness: spectral centroid per frame in Hz or log-Hz; mel frames or audio (extra-controls)")
    register("rhythmic-density", _density,
             description="Onset strength (positive dB spectral flux), smoothed per frame or a rate in dB/s (extra-controls)")


@tempo_kit.hookimpl
def register_losses(register, context):
    register("one-sided-mse", _one_sided,
             description="Squared shortfall below (or excess above) the target only (extra-controls)")
