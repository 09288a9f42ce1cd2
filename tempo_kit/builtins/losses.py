"""Built-in losses: ``factory(**options) -> loss(feature, target) -> scalar``."""

import functools

from ..hookspecs import hookimpl


def _loss(name):
    def factory(**kw):
        from .. import losses

        fn = getattr(losses, name)
        return functools.partial(fn, **kw) if kw else fn

    return factory


@hookimpl
def register_losses(register, context):
    register("mse", _loss("mse"), description="Mean squared error per item (DITTO intensity, structure, painting)")
    register("nll", _loss("nll"), description="NLL of per-frame pitch classes 0-11 under log-chroma (DITTO melody)")
    register("cosine", _loss("cosine"), description="1 - cosine similarity per item (DITTO-2 CLAP text adherence)")
    register("pearson", _loss("pearson"), description="Negative Pearson correlation per item (DITTO App. C)")
