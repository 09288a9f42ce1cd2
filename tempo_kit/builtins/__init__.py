"""Built-in plugins: tempo_kit registers its own components through the same hooks as third-party plugins.

Their factories import the module that defines a component only when it is built (:func:`lazy`), so looking up a
sampler never imports the training stack, the dataset builder or the vocoder.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable


def lazy(module: str, name: str, config: str | None = None) -> Callable[..., Any]:
    """A factory that imports ``tempo_kit.<module>`` when called and builds ``name(**kw)``, or
    ``name(config=config(**kw))`` for the attrs-configured networks."""

    def factory(**kw: Any) -> Any:
        from ..registry import check_arguments

        mod = importlib.import_module(f"tempo_kit.{module}")
        cls = getattr(mod, name)
        check_arguments(getattr(mod, config) if config else cls, kw, name)
        return cls(config=getattr(mod, config)(**kw)) if config else cls(**kw)

    factory.__name__ = factory.__qualname__ = name
    return factory


def register_all(register: Callable[..., Any], table: Iterable[tuple[str, Callable[..., Any], str]]) -> None:
    """Register every ``(name, factory, description)`` row of a built-in plugin's table, in order."""
    for name, factory, description in table:
        register(name, factory, description=description)
