"""The plugin registry: one pluggy ``PluginManager("tempo_kit")``, built-ins registered exactly like third-party plugins.

Environment variables
---------------------
``TEMPO_KIT_LOAD_PLUGINS``
    Comma-separated entry-point names to load (empty string: load no third-party plugin). Unset: load all.
``TEMPO_KIT_STRICT_PLUGINS``
    ``1`` makes a plugin that fails to load or register an error instead of a warning.
``TEMPO_KIT_TRACE_PLUGINS``
    ``1`` prints every plugin load and hook call to stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import warnings
from typing import Any, Callable, Iterable

import attrs
import pluggy

from . import hookspecs
from .utils import closest, did_you_mean

__all__ = [
    "KINDS",
    "Entry",
    "HookContext",
    "Registry",
    "RegistryError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginLoadWarning",
    "PluginLoadError",
    "get_registry",
    "reset_registry",
    "get",
    "names",
]

ENTRY_POINT_GROUP = "tempo_kit"
KINDS = ("models", "samplers", "routers", "extractors", "losses", "recipes")


def singular(kind: str) -> str:
    """``"losses"`` -> ``"loss"``, ``"samplers"`` -> ``"sampler"``."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]

BUILTIN_PLUGINS = (
    "tempo_kit.builtins.samplers",
    "tempo_kit.builtins.models",
    "tempo_kit.builtins.routers",
    "tempo_kit.builtins.extractors",
    "tempo_kit.builtins.losses",
    "tempo_kit.builtins.recipes",
)


class RegistryError(Exception):
    """Base class of registry errors."""


class UnknownComponentError(RegistryError, KeyError):
    """A name that no plugin registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ComponentArgumentError(RegistryError, TypeError):
    """Keyword arguments a component does not take, or a required one missing; the message lists the valid ones."""


def check_arguments(target: Callable[..., Any], kwargs: dict, what: str) -> None:
    """Raise :class:`ComponentArgumentError` when ``target(**kwargs)`` would fail to bind: an unknown keyword (with the
    closest valid one) or a missing required one. A target whose signature cannot be read, or that takes ``**kwargs``
    for unknown names, is not checked for them."""
    import inspect

    try:
        params = inspect.signature(target, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError):
        return
    named = [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    valid = [p.name for p in named]
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        for key in kwargs:
            if key not in valid:
                raise ComponentArgumentError(f"{what}: unknown option {key!r}{did_you_mean(key, valid)}; valid "
                                             f"options: {', '.join(valid) or 'none'}")
    missing = [p.name for p in named if p.default is p.empty and p.name not in kwargs]
    if missing:
        raise ComponentArgumentError(f"{what}: missing required option(s) {', '.join(missing)}")


class DuplicateComponentError(RegistryError):
    """Two plugins registered the same name for the same kind."""


class PluginLoadError(RegistryError):
    """A plugin failed to load or register in strict mode."""


class PluginLoadWarning(UserWarning):
    """A plugin failed to load or register; the rest of tempo_kit keeps working."""


@attrs.frozen(kw_only=True)
class HookContext:
    """What every ``register_<kind>s`` hook receives besides ``register``; grows without changing hook signatures."""

    kind: str
    registry: "Registry"


@attrs.frozen(kw_only=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class Registry:
    """Components by kind and name, collected from built-in and entry-point plugins.

    Parameters
    ----------
    load_entry_points : bool
        Discover third-party plugins from the ``tempo_kit`` entry-point group.
    plugins : iterable of modules or objects, optional
        Extra plugins (modules or objects with hook implementations) to register, e.g. in tests.
    strict : bool, optional
        Raise instead of warning when a plugin fails; default from ``TEMPO_KIT_STRICT_PLUGINS``.
    """

    def __init__(self, *, load_entry_points: bool = True, plugins: Iterable[Any] = (), strict: bool | None = None):
        self.strict = _truthy(os.environ.get("TEMPO_KIT_STRICT_PLUGINS")) if strict is None else strict
        self.trace = _truthy(os.environ.get("TEMPO_KIT_TRACE_PLUGINS"))
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.failed: dict[str, str] = {}
        for module_name in BUILTIN_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)
        if load_entry_points:
            self._load_entry_points()
        for plugin in plugins:
            self._add(lambda p=plugin: p, getattr(plugin, "__name__", None) or repr(plugin))
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._collect()

    # -- loading -----------------------------------------------------------------------------------------------
    def _fail(self, plugin: str, exc: BaseException, what: str) -> None:
        message = f"tempo_kit plugin {plugin!r} failed to {what}: {type(exc).__name__}: {exc}"
        self.failed[plugin] = message
        if self.strict:
            raise PluginLoadError(message) from exc
        warnings.warn(message, PluginLoadWarning, stacklevel=3)

    def _log(self, message: str) -> None:
        if self.trace:
            print(f"tempo_kit plugins: {message}", file=sys.stderr)

    def _add(self, load: Callable[[], Any], name: str) -> None:
        self._log(f"loading {name!r}")
        try:
            plugin = load()
            self.pm.register(plugin, name=name)
        except BaseException as exc:  # a broken plugin must never break the rest, not even by exiting or skipping
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(name, exc, "load")
            return
        try:  # a hook implementation without a matching spec (e.g. a misspelt hook name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            self._fail(name, exc, "load")

    def _load_entry_points(self) -> None:
        selected = os.environ.get("TEMPO_KIT_LOAD_PLUGINS")
        allowed = None if selected is None else {s.strip() for s in selected.split(",") if s.strip()}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            self._add(ep.load, ep.name)

    def _collect(self) -> None:
        """Call every plugin's hooks, then add each plugin's components all at once: a plugin whose hook fails adds
        nothing (all or nothing), and a name taken by an earlier plugin (built-ins come first) is skipped with a
        warning naming both plugins (strict mode: :class:`DuplicateComponentError`)."""
        staged: dict[str, list[Entry]] = {}
        broken: set[str] = set()
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                plugin = impl.plugin_name
                if plugin in broken:
                    continue
                entries = staged.setdefault(plugin, [])

                def register(name: str, factory: Callable[..., Any], *, description: str = "",
                             _kind=kind, _plugin=plugin, _entries=entries) -> None:
                    _entries.append(self._entry(_kind, name, factory, _plugin, description))

                # pluggy lets an implementation accept a subset of the spec's arguments
                available = {"register": register, "context": HookContext(kind=kind, registry=self)}
                self._log(f"calling {plugin}.register_{kind}")
                try:
                    impl.function(**{arg: available[arg] for arg in impl.argnames})
                except BaseException as exc:  # pytest.skip() at import time is a BaseException too
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    broken.add(plugin)
                    self._fail(plugin, exc, f"register {kind}")
        for plugin, _ in self.pm.list_name_plugin():  # registration order: built-ins first
            if plugin in broken:
                continue
            for entry in staged.get(plugin, []):
                existing = self._entries[entry.kind].get(entry.name)
                if existing is None:
                    self._entries[entry.kind][entry.name] = entry
                    continue
                message = (f"{singular(entry.kind)} {entry.name!r} is registered twice: by plugin "
                           f"{existing.plugin!r} and by plugin {plugin!r}; the second is skipped")
                if self.strict:
                    raise DuplicateComponentError(message)
                self.failed[plugin] = "; ".join(filter(None, [self.failed.get(plugin), message]))
                warnings.warn(message, PluginLoadWarning, stacklevel=3)

    @staticmethod
    def _entry(kind: str, name: str, factory: Callable[..., Any], plugin: str, description: str) -> Entry:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"plugin {plugin!r} registered a {singular(kind)} with an invalid name {name!r}")
        if not callable(factory):
            raise RegistryError(f"plugin {plugin!r} registered {singular(kind)} {name!r} with a non-callable factory")
        return Entry(kind=kind, name=name, factory=factory, plugin=plugin, description=description)

    # -- lookups -----------------------------------------------------------------------------------------------
    def _check_kind(self, kind: str) -> str:
        if not isinstance(kind, str):
            raise TypeError(f"a component kind is a string (one of {', '.join(KINDS)}), got {kind!r}")
        if kind not in self._entries:
            plural = {singular(k): k for k in self._entries}.get(kind)  # the singular too: "sampler", "loss"
            if plural is not None:
                return plural
            raise UnknownComponentError(f"unknown component kind {kind!r}{did_you_mean(kind, KINDS)}; valid kinds: "
                                        f"{', '.join(KINDS)}")
        return kind

    def entry(self, kind: str, name: str) -> Entry:
        """The :class:`Entry` for ``name``; raises :class:`UnknownComponentError` listing the valid names."""
        kind = self._check_kind(kind)
        try:
            return self._entries[kind][name]
        except KeyError:
            valid = sorted(self._entries[kind])
            close = closest(name, valid)
            hint = f" Did you mean {close!r}?" if close else ""
            raise UnknownComponentError(
                f"unknown {singular(kind)} {name!r}.{hint} Valid names: {', '.join(valid) or '(none registered)'}"
            ) from None

    def get(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build the component ``name`` of ``kind`` with keyword arguments (checked against the factory's signature:
        :class:`ComponentArgumentError` names an unknown or missing one)."""
        factory = self.entry(kind, name).factory
        check_arguments(factory, kwargs, f"{kind} {name!r}")
        return factory(**kwargs)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[self._check_kind(kind)])

    def entries(self) -> list[Entry]:
        return [e for kind in KINDS for e in sorted(self._entries[kind].values(), key=lambda e: e.name)]


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the process-wide registry (it is rebuilt, re-reading entry points, on next use)."""
    global _REGISTRY
    _REGISTRY = None


def get(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Shortcut for ``get_registry().get(kind, name, **kwargs)``, e.g. ``get("samplers", "ctm-gamma", gamma=0.2)``."""
    return get_registry().get(kind, name, **kwargs)


def names(kind: str) -> list[str]:
    """Registered names of one kind."""
    return get_registry().names(kind)
