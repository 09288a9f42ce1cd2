"""Built-in losses."""

from ..hookspecs import hookimpl


@hookimpl
def register_losses(register, context):
    pass
