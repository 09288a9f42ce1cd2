"""Built-in routers."""

from ..hookspecs import hookimpl


@hookimpl
def register_routers(register, context):
    pass
