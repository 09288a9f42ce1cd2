"""The layer order of ``tempo_kit`` (imports point only down; ``docs/contributing.md``), checked on the source.

Every ``import`` / ``from ... import`` of a ``tempo_kit`` module (at module level or inside a function: a lazy import
is still a dependency) is read with :mod:`ast`. A module's layer is the one of its unit: its top-level module
(``tempo_kit.X``), or a submodule listed in :data:`UNITS` by its dotted path (``testing.control``: the test scaffolding
is split by what each part imports).
An import from a lower layer into a higher one is a violation, and so is one between ``control`` and ``training``
(side by side). The few known violations are listed in :data:`KNOWN` with the reason they remain; the test fails on a
new one, and also when a listed one is gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tempo_kit"

#: Layers from the bottom up; ``control`` and ``training`` share a rank but must not import each other.
RANK = {"core": 0, "models": 1, "data": 2, "control": 3, "training": 3, "pipelines": 4, "commands": 5}
UNITS = {
    "core": ("utils", "denoisers", "jumps", "samplers", "schedules", "grad", "routers", "losses", "audio", "registry",
             "hookspecs", "builtins", "metrics", "vocab", "features", "testing"),
    "models": ("models", "vocoder", "text"),
    "data": ("data",),
    "control": ("control", "testing.control"),
    "training": ("training",),
    "pipelines": ("pipeline", "clips", "pretrained"),
    "commands": ("commands", "cli"),
}
LAYER = {unit: layer for layer, units in UNITS.items() for unit in units}

#: ``(importer, imported)`` module pairs that break the order today, and why they remain.
KNOWN = {
    ("tempo_kit.data.tunes", "tempo_kit.control.targets"): "Tune.target() builds a melody control target",
    ("tempo_kit.data.tunes", "tempo_kit.pretrained"): "the bundled tunes live next to the bundled weights",
    ("tempo_kit.features.mini_clap", "tempo_kit.models.io"): "the CLAP extractor loads its network from a folder",
    ("tempo_kit.features.mini_clap", "tempo_kit.pretrained"): "the CLAP extractor loads the bundled network by name",
}


def _imports(root: Path = ROOT) -> dict[str, set[str]]:
    """``module -> {imported tempo_kit modules}`` for every module of the package."""
    out: dict[str, set[str]] = collections.defaultdict(set)
    for path in root.rglob("*.py"):
        parts = ("tempo_kit",) + path.relative_to(root).with_suffix("").parts
        package = parts[:-1]  # the package a relative import starts from (the folder, also for __init__)
        module = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                target = ".".join(p for p in (base, node.module or "") if p)
                if not target.startswith("tempo_kit"):
                    continue
                if node.module:
                    out[module].add(target)
                    # from tempo_kit.testing import control: a submodule with a unit of its own is imported too
                    out[module].update(f"{target}.{a.name}" for a in node.names
                                       if _unit(f"{target}.{a.name}") != _unit(target))
                else:  # from . import x: x is a module of the package
                    out[module].update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                out[module].update(a.name for a in node.names if a.name.startswith("tempo_kit"))
    return out


def _unit(module: str) -> str | None:
    """``tempo_kit.X.y -> "X"``, or the longest dotted prefix listed in UNITS (``tempo_kit.testing.control``)."""
    parts = module.split(".")[1:]
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in LAYER:
            return ".".join(parts[:n])
    return parts[0] if parts else None


def _violations(root: Path = ROOT) -> set[tuple[str, str]]:
    bad = set()
    for importer, targets in _imports(root).items():
        for target in targets:
            a, b = _unit(importer), _unit(target)
            if a is None or b is None or a == b or b == "__version__":
                continue
            assert a in LAYER and b in LAYER, f"{a if a not in LAYER else b!r} has no layer: add it to UNITS"
            la, lb = LAYER[a], LAYER[b]
            if RANK[lb] > RANK[la] or (RANK[lb] == RANK[la] and la != lb):
                bad.add((importer, target))
    return bad


def test_imports_point_down():
    found = _violations()
    new = sorted(found - set(KNOWN))
    gone = sorted(set(KNOWN) - found)
    assert not new, "imports against the layer order (commands > pipelines > control | training > data > models > " \
                    "core): " + ", ".join(f"{a} -> {b}" for a, b in new)
    assert not gone, f"no longer imported, remove from KNOWN: {gone}"


def test_no_cycle_between_units_outside_known():
    """The top-level units form no import cycle once the known exceptions are left out (Tarjan's SCCs)."""
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for importer, targets in _imports().items():
        for target in targets:
            if (importer, target) in KNOWN:
                continue
            a, b = _unit(importer), _unit(target)
            if a and b and a != b and b in LAYER:
                graph[a].add(b)
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles between units: {cycles}"


def test_the_checker_sees_a_planted_violation(tmp_path):
    """The checker is not vacuous: a core module importing the training stack (lazily) is reported."""
    (tmp_path / "utils.py").write_text("def f():\n    from .training import trainer\n")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "__init__.py").write_text("from ..utils import f\n")
    assert _violations(tmp_path) == {("tempo_kit.utils", "tempo_kit.training")}


def test_a_listed_submodule_has_the_layer_of_its_unit(tmp_path):
    """``testing.control`` is in the control layer: the core part of ``testing`` may not import it, in either form."""
    (tmp_path / "testing").mkdir()
    (tmp_path / "testing" / "__init__.py").write_text("from .control import g\n")
    (tmp_path / "testing" / "toy.py").write_text("def f():\n    from tempo_kit.testing import control\n")
    (tmp_path / "testing" / "control.py").write_text("from ..control import tasks\nfrom . import toy\n")
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "__init__.py").write_text("")
    assert _violations(tmp_path) == {("tempo_kit.testing", "tempo_kit.testing.control"),
                                     ("tempo_kit.testing.toy", "tempo_kit.testing.control")}
