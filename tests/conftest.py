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
