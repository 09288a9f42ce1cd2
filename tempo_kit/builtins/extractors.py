"""Built-in extractors."""

from ..hookspecs import hookimpl


@hookimpl
def register_extractors(register, context):
    pass
