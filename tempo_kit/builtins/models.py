"""Built-in models."""

from ..hookspecs import hookimpl


@hookimpl
def register_models(register, context):
    pass
