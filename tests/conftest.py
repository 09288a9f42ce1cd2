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
