"""Built-in routers."""

from ..hookspecs import hookimpl


@hookimpl
def register_routers(register, context):
    from ..routers import EarlyExitRouter, NoRouter, PrestoLRouter

    register("none", NoRouter, description="every block runs (full depth)")
    register("ase", EarlyExitRouter, description="ASE time-dependent early exit: drop the last blocks, more at high sigma")
    register("presto-l", PrestoLRouter,
             description="Presto-L: keep the final block, drop the ones before it, budget-conditioned")
