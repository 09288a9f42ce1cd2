"""Built-in losses: ``factory(**options) -> loss(feature, target) -> scalar``."""

import functools

from ..hookspecs import hookimpl
from . import register_all


def _loss(name):
    def factory(**kw):
        from .. import losses

        fn = getattr(losses, name)
        return functools.partial(fn, **kw) if kw else fn

    return factory


_LOSSES = (
    ("mse", "Mean squared error per item (DITTO intensity, structure, painting)"),
    ("nll", "NLL of per-frame pitch classes 0-11 under log-chroma (DITTO melody)"),
    ("cosine", "1 - cosine similarity per item (DITTO-2 CLAP text adherence)"),
    ("pearson", "Negative Pearson correlation per item (DITTO App. C)"),
    ("octave_spread", "Spread of each tune note's octave profile inside the note, on octave-resolved log-chroma"),
    ("onset_deficit", "How far the spectral flux at the target's note starts falls short of a level (hinge)"),
)


@hookimpl
def register_losses(register, context):
    register_all(register, ((name, _loss(name), description) for name, description in _LOSSES))
