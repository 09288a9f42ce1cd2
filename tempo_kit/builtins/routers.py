"""Built-in routers."""

from ..hookspecs import hookimpl
from . import lazy, register_all


@hookimpl
def register_routers(register, context):
    register_all(register, (
        ("none", lazy("routers", "NoRouter"), "every block runs (full depth)"),
        ("ase", lazy("routers", "EarlyExitRouter"),
         "ASE time-dependent early exit: drop the last blocks, more at high sigma"),
        ("presto-l", lazy("routers", "PrestoLRouter"),
         "Presto-L: keep the final block, drop the ones before it, budget-conditioned"),
    ))
