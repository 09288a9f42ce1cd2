"""The documentation is tested: every hook is documented with its exact signature, every code block marked runnable
runs, every public module has an API page, and ``mkdocs build --strict`` passes.

A runnable block is a ```` ```python ```` fence whose previous line is exactly ``<!-- runnable -->`` (invisible on the
rendered page), or ``<!-- runnable: slow -->`` for a block that takes more than a few seconds (run with ``-m slow``).
Each block runs on its own, in a fresh namespace, with a temporary directory as working directory.
"""

from __future__ import annotations

import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tempo_kit
from tempo_kit import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKS_PAGE = DOCS / "plugins" / "hooks.md"
MARKER = re.compile(r"<!-- runnable(?P<slow>: slow)? -->")
# Packages whose modules are implementation details of the CLI or the registry, not public API.
NOT_API = {"tempo_kit.builtins", "tempo_kit.commands", "tempo_kit.__main__"}


# -- hook documentation ---------------------------------------------------------------------------------------------
def _hookspecs() -> dict[str, object]:
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, marker)}


def test_there_are_hookspecs():
    assert len(_hookspecs()) >= 5, "hookspec discovery found too few hooks; the marker lookup is broken"


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hook_is_documented_with_its_signature(name):
    text = HOOKS_PAGE.read_text()
    signature = f"{name}{inspect.signature(_hookspecs()[name])}"
    assert re.search(rf"^#+ .*`?{re.escape(name)}`?", text, re.M), f"docs/plugins/hooks.md has no heading for {name}"
    assert signature in text, f"docs/plugins/hooks.md does not show the exact signature `{signature}`"


def test_hooks_page_documents_no_stale_hook():
    documented = set(re.findall(r"^#+ .*?`?(register_\w+)`?", HOOKS_PAGE.read_text(), re.M))
    stale = documented - set(_hookspecs())
    assert not stale, f"docs/plugins/hooks.md documents hooks that tempo_kit.hookspecs does not define: {sorted(stale)}"


# -- runnable code blocks -------------------------------------------------------------------------------------------
def runnable_blocks(root: Path = DOCS) -> list[tuple[str, str, bool]]:
    """``(id, code, slow)`` of every block marked runnable under ``root``; a marker not followed by a python fence is
    an error."""
    blocks = []
    for path in sorted(root.rglob("*.md")):
        lines = path.read_text().splitlines()
        fence = None  # the backtick run that opened the fence we are in (markers inside a fence are examples)
        for i, line in enumerate(lines):
            ticks = re.match(r"\s*(`{3,})", line)
            if ticks and fence is None:
                fence = ticks.group(1)
            elif ticks and line.strip() == fence:
                fence = None
            marker = MARKER.fullmatch(line.strip())
            if marker is None or fence is not None:
                continue
            where = f"{path.relative_to(root)}:{i + 1}"
            opening = lines[i + 1].strip() if i + 1 < len(lines) else ""  # the next line opens the fence itself
            if not re.fullmatch(r"```py(thon)?(\s.*)?", opening):
                raise ValueError(f"{where}: '{line.strip()}' must be followed directly by a ```python fence, got "
                                 f"{opening!r}")
            end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise ValueError(f"{where}: unterminated code block")
            blocks.append((where, "\n".join(lines[i + 2:end]), marker["slow"] is not None))
    return blocks


def test_block_parser_finds_marked_blocks_only(tmp_path):
    (tmp_path / "page.md").write_text(
        "text\n<!-- runnable -->\n```python\nx = 1\n```\n\n```python\nnot run\n```\n"
        "<!-- runnable: slow -->\n```python\ny = 2\n```\n<!-- runnable: later -->\n```python\nz = 3\n```\n"
        "````markdown\n<!-- runnable -->\n```python\nshown = 4\n```\n````\n"
    )
    assert [(code, slow) for _, code, slow in runnable_blocks(tmp_path)] == [("x = 1", False), ("y = 2", True)]
    (tmp_path / "two.md").write_text("<!-- runnable -->\n```python\na = 1\n```\ntext\n<!-- runnable -->\n```python\n"
                                     "b = 2\n```\n")  # a second block on a page, after an odd number of fences
    assert [code for where, code, _ in runnable_blocks(tmp_path) if "two.md" in where] == ["a = 1", "b = 2"]
    (tmp_path / "bad.md").write_text("<!-- runnable -->\n\n```python\nz = 3\n```\n")
    with pytest.raises(ValueError, match="bad.md:1"):
        runnable_blocks(tmp_path)


BLOCKS = runnable_blocks()


def test_docs_have_runnable_blocks():
    assert len(BLOCKS) >= 5


@pytest.mark.timeout(120)
@pytest.mark.parametrize("code", [pytest.param(code, id=where, marks=[pytest.mark.slow] if slow else [])
                                  for where, code, slow in BLOCKS])
def test_runnable_block(code, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the examples use tiny networks: one thread avoids oversubscribing a small machine
    try:
        exec(compile(code, "<docs block>", "exec"), {"__name__": "__docs__"})
    finally:
        torch.set_num_threads(threads)


# -- API reference coverage -----------------------------------------------------------------------------------------
def _public_modules() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(tempo_kit.__path__, "tempo_kit.", onerror=lambda name: None):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or any(info.name.startswith(n) for n in NOT_API):
            continue
        found.append(info.name)
    return found


def test_every_public_module_has_an_api_page():
    text = "\n".join(p.read_text() for p in (DOCS / "reference").rglob("*.md"))
    documented = set(re.findall(r"^::: (tempo_kit[\w.]*)", text, re.M))
    missing = [m for m in _public_modules()
               if not any(m == d or m.startswith(d + ".") or d.startswith(m + ".") for d in documented)]
    assert not missing, f"modules without a '::: module' block under docs/reference/: {missing}"


# -- the site builds ------------------------------------------------------------------------------------------------
@pytest.mark.slow  # 10-45 s (mkdocstrings renders every module); CI runs it with -m slow
@pytest.mark.timeout(300)
def test_mkdocs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (install the 'docs' extra)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    # every audio player plays a file that the built site has (a wrong relative path is silent in mkdocs)
    players = [(html, src) for html in site.rglob("*.html")
               for src in re.findall(r'<audio[^>]*\ssrc="([^"]+)"', html.read_text())]
    assert len(players) > 40
    broken = [f"{html.relative_to(site)}: {src}" for html, src in players if not (html.parent / src).resolve().is_file()]
    assert not broken, f"audio players whose file is not in the site: {broken}"


# -- the plugin on "Writing a plugin" works as printed --------------------------------------------------------------
def _titled_files(page: Path) -> dict[str, str]:
    """Code blocks with ``title="path"`` in their info string, by path."""
    text = page.read_text()
    return {m["title"]: m["code"] for m in re.finditer(
        r'^```\w+ title="(?P<title>[^"]+)"\n(?P<code>.*?)^```$', text, re.M | re.S)}


def test_plugin_page_builds_a_working_plugin(tmp_path, monkeypatch):
    import importlib
    import tomllib

    files = _titled_files(DOCS / "plugins" / "writing.md")
    assert {"pyproject.toml", "test_brightness.py"} <= {Path(p).name for p in files}
    for rel, code in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(code)
    package = tmp_path / Path(next(iter(files))).parts[0]
    entry_points = tomllib.loads((package / "pyproject.toml").read_text())["project"]["entry-points"]["tempo_kit"]
    module_name = entry_points["brightness"]
    assert (package / f"{module_name}.py").exists(), "the entry point must name the plugin module"
    monkeypatch.syspath_prepend(str(package))
    for name in (module_name, "test_brightness"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    tests = importlib.import_module("test_brightness")
    ran = [name for name in dir(tests) if name.startswith("test_")]
    for name in ran:
        getattr(tests, name)()
    assert len(ran) == 3, ran
    for name in (module_name, "test_brightness"):  # do not leak the temporary modules into other tests
        sys.modules.pop(name, None)


# -- assets ---------------------------------------------------------------------------------------------------------
def test_assets_are_small_and_used():
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md")) + (ROOT / "mkdocs.yml").read_text()
    assets = [p for p in (DOCS / "assets").iterdir() if p.is_file()]
    assert assets
    too_big = [f"{p.name} ({p.stat().st_size // 1024} KB)" for p in assets if p.stat().st_size > 200 * 1024]
    assert not too_big, f"docs/assets files over 200 KB: {too_big}"
    total = sum(p.stat().st_size for p in assets)
    assert total < 8 * 2**20, f"docs/assets holds {total / 2**20:.1f} MB (budget 8 MB)"
    unused = [p.name for p in assets if f"assets/{p.name}" not in pages]
    assert not unused, f"docs/assets files no page uses: {unused}"


def test_sphinx_roles_become_inline_code():
    sys.path.insert(0, str(DOCS))
    try:
        from griffe_rst_roles import convert
    finally:
        sys.path.remove(str(DOCS))
    text = "see :class:`~tempo_kit.jumps.EulerJump`, :func:`tempo_kit.get`, :meth:`plot <ControlResult.plot>`; ``x``"
    assert convert(text) == "see `EulerJump`, `tempo_kit.get`, `plot`; ``x``"
    assert convert("called like this::\n\n    f(x)\n") == "called like this:\n\n    f(x)\n"
    assert convert("a::b stays") == "a::b stays"


def test_hooks_page_lists_every_builtin_component():
    from tempo_kit.registry import Registry

    text = HOOKS_PAGE.read_text()
    sections = dict(re.findall(r"^### `register_(\w+)`\n(.*?)(?=^##)", text + "\n## end", re.M | re.S))
    registry = Registry(load_entry_points=False)
    missing = [f"{e.kind}/{e.name}" for e in registry.entries()
               if e.plugin.startswith("tempo_kit.builtins") and f"`{e.name}`" not in sections.get(e.kind, "")]
    assert not missing, f"built-in components not listed under their hook on docs/plugins/hooks.md: {missing}"


def test_api_reference_gives_attrs_classes_their_real_signature():
    """The docs' griffe extension gives every attrs class the __init__ attrs makes at run time: the same init fields,
    with a default exactly where attrs has one (so no defaulted field is rendered "required")."""
    import importlib
    import inspect

    import attrs
    import griffe

    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from griffe_rst_roles import AttrsInit
    finally:
        sys.path.pop(0)
    package = griffe.load("tempo_kit", search_paths=[str(ROOT)], extensions=griffe.load_extensions(AttrsInit()))
    checked = 0

    def walk(obj):
        nonlocal checked
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.is_module:
                walk(member)
            elif member.is_class and "__init__" in member.members and member.members["__init__"].lineno == member.lineno:
                real = getattr(importlib.import_module(member.module.path), member.name, None)
                if real is None or not attrs.has(real):
                    continue
                runtime = [(p.name, p.default is not inspect.Parameter.empty, p.kind == p.KEYWORD_ONLY)
                           for p in inspect.signature(real.__init__).parameters.values() if p.name != "self"]
                static = [(p.name, p.default is not None, p.kind is griffe.ParameterKind.keyword_only)
                          for p in member.members["__init__"].parameters if p.name != "self"]
                assert static == runtime, f"{member.path}: docs {static} vs attrs {runtime}"
                checked += 1

    walk(package)
    assert checked >= 40, checked
