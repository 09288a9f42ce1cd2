"""Built-in recipes."""

from ..hookspecs import hookimpl


@hookimpl
def register_recipes(register, context):
    pass
