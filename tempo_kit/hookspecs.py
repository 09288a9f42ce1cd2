"""Every tempo_kit hook, in one place.

A plugin is a module (or object) with functions named like the specs below, decorated with
``tempo_kit.hookimpl``, and exposed through the ``tempo_kit`` entry-point group::

    [project.entry-points.tempo_kit]
    my_plugin = "my_package.plugin"

Each hook receives ``register(name, factory, *, description="")`` and a :class:`~tempo_kit.registry.HookContext`.
``factory(**kwargs)`` builds the component. Names are global per kind; registering a name twice is an error that
names both plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("tempo_kit")
hookimpl = pluggy.HookimplMarker("tempo_kit")


@hookspec
def register_models(register, context):
    """Register network architectures and pretrained-model loaders (denoisers, generators, vocoders)."""


@hookspec
def register_samplers(register, context):
    """Register samplers (EDM Euler/Heun, CM multistep, CTM gamma, Presto-S, ...)."""


@hookspec
def register_routers(register, context):
    """Register layer routers (``sigma -> active blocks``: ASE, Presto-L, ...)."""


@hookspec
def register_extractors(register, context):
    """Register differentiable feature extractors (intensity, chroma, MFCC self-similarity, CLAP, ...)."""


@hookspec
def register_losses(register, context):
    """Register control losses (MSE, NLL, cosine, Pearson, ...)."""


@hookspec
def register_recipes(register, context):
    """Register training recipes (EDM, CM, CTM, Presto-S, ASE, Presto-L, ...)."""
