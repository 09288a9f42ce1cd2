"""Shared pytest configuration: ``-m slow`` selects the longer checks; the default run leaves them out."""

import pytest


def pytest_collection_modifyitems(config, items):
    """Deselect ``@pytest.mark.slow`` tests unless a marker expression (``-m ...``) was given."""
    if config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture
def one_thread():
    """Run a test with one intra-op thread: for the many tiny tensor ops of the analytic toy tests, thread start-up
    dominates (about 20x slower with 2 threads on a busy 2-core machine). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


FIXTURE_PLUGINS = ("good", "broken", "duplicate", "typo")


@pytest.fixture(scope="session")
def plugin_sites(tmp_path_factory):
    """One site directory per plugin distribution in ``tests/fixtures/plugin_<name>``: the module next to a
    ``*.dist-info`` holding ``METADATA`` and the ``entry_points.txt`` generated from the ``pyproject.toml``. A directory
    on ``sys.path`` is exactly where importlib.metadata discovers installed distributions."""
    import shutil
    import tomllib
    from pathlib import Path

    sites = {}
    for name in FIXTURE_PLUGINS:
        src = Path(__file__).parent / "fixtures" / f"plugin_{name}"
        project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
        site = tmp_path_factory.mktemp(f"site_{name}")
        for module in src.glob("*.py"):
            shutil.copy(module, site / module.name)
        dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
        lines = []
        for group, eps in project["entry-points"].items():
            lines += [f"[{group}]"] + [f"{k} = {v}" for k, v in eps.items()]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        sites[name] = site
    return sites


@pytest.fixture
def install_plugins(plugin_sites, monkeypatch):
    """``install_plugins("good", "broken")`` makes those fixture plugins discoverable for one test; the process-wide
    registry is reset before and after, and the plugin modules are forgotten afterwards."""
    import sys

    from tempo_kit import registry

    installed = []

    def install(*names):
        for name in names:
            monkeypatch.syspath_prepend(str(plugin_sites[name]))
            installed.append(name)
        registry.reset_registry()
        return [str(plugin_sites[n]) for n in names]

    yield install
    for name in installed:
        sys.modules.pop(f"tempo_kit_fixture_{name}", None)
    registry.reset_registry()
