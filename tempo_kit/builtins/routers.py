"""Built-in routers."""

from ..hookspecs import hookimpl
from . import lazy


@hookimpl
def register_routers(register, context):
    register("none", lazy("routers", "NoRouter"), description="every block runs (full depth)")
    register("ase", lazy("routers", "EarlyExitRouter"), description="ASE time-dependent early exit: drop the last blocks, more at high sigma")
    register("presto-l", lazy("routers", "PrestoLRouter"),
             description="Presto-L: keep the final block, drop the ones before it, budget-conditioned")
