"""The bundled models still produce what they produced when their golden values were stored (tests/golden.py)."""

import json

import pytest

from golden import GENERATORS, PATH, compute

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def current():
    from tempo_kit.pretrained import available

    missing = [n for n in (*GENERATORS, "vocoder") if n not in available()]
    if missing:
        pytest.skip(f"bundled models {missing} are not installed")
    return compute()


@pytest.mark.parametrize("name", GENERATORS)
def test_bundled_generator_matches_its_golden_output(current, name):
    stored = json.loads(PATH.read_text())[name]
    now = current[name]
    assert (now["sampler"], now["steps"]) == (stored["sampler"], stored["steps"]), "the model's default sampler changed"
    for key in ("mel", "audio"):  # float32 on CPU: equal up to summation order across machines
        assert now[key]["mean"] == pytest.approx(stored[key]["mean"], abs=2e-4), (name, key)
        assert now[key]["std"] == pytest.approx(stored[key]["std"], rel=1e-3), (name, key)
        assert now[key]["samples"] == pytest.approx(stored[key]["samples"], abs=2e-3), (name, key)
