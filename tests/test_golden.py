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
    assert now.get("sampler_args") == stored.get("sampler_args"), "the model's sampler options changed"
    for key in ("mel", "audio"):  # float32 on CPU: equal up to summation order across machines
        assert now[key]["mean"] == pytest.approx(stored[key]["mean"], abs=2e-4), (name, key)
        assert now[key]["std"] == pytest.approx(stored[key]["std"], rel=1e-3), (name, key)
        assert now[key]["samples"] == pytest.approx(stored[key]["samples"], abs=2e-3), (name, key)


def test_a_degenerate_step_count_warns_that_the_output_left_the_model_range():
    """Presto-S at 64 steps (made for 1-4) produces mel frames far above the model space: a warning says so, besides
    to_audio's scaling; its default steps do not warn."""
    import warnings

    from tempo_kit import Pipeline
    from tempo_kit.pretrained import available

    if "presto-s" not in available():
        pytest.skip("bundled presto-s is not installed")
    pipe = Pipeline.from_pretrained("presto-s")
    with pytest.warns(UserWarning, match="left the range the model was trained on"):
        pipe.sample({"instrument": "flute"}, steps=64, frames=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.sample({"instrument": "flute"}, frames=64)
