"""tempo_kit.pretrained and scripts/bundle_model.py on a tiny model bundled into a temporary weights folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.jumps import ConsistencyJump, EulerJump
from tempo_kit.models import DiT, DiTConfig
from tempo_kit.models.io import save_model
from tempo_kit.pretrained import available, load_pretrained, model_card, pretrained_meta, tag_condition

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bundle_model", ROOT / "scripts" / "bundle_model.py")
bundle_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle_model)
VOCAB = {"instrument": ["flute", "organ"], "collection": ["bach", "essen"], "tempo": ["fast", "slow"],
         "mode": ["major", "minor"]}


def _bundle(tmp_path: Path, name: str, kind: str, net: torch.nn.Module, log_times=(1.0, 2.0)) -> Path:
    run = tmp_path / "runs" / name
    save_model(net, run / "student_ema")
    rows = [{"step": i * 10, "net/dsm": 0.5, "time": t} for i, t in enumerate(log_times)]
    (run / "losses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = json.dumps({"tag_vocab": VOCAB})
    assert bundle_model.main([name, "--from", str(run / "student_ema"), "--kind", kind, "--meta", meta,
                              "--out", str(tmp_path / "w"), "--description", f"tiny {kind}"]) == 0
    return tmp_path / "w"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("pretrained")
    net = DiT(config=DiTConfig.tiny(in_channels=8, num_tags=8))
    for name, kind in (("teacher", "denoiser"), ("cm", "consistency"), ("ctm", "ctm")):
        root = _bundle(tmp_path, name, kind, EDMPrecond(net=net), log_times=(1.0, 2.0, 0.5, 1.5))
    return root, net


@pytest.fixture
def weights(bundled, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(bundled[0]))
    return bundled


def test_bundled_models_load_by_name_as_the_right_wrapper(weights):
    root, net = weights
    assert available() == ["cm", "ctm", "teacher"]
    teacher = load_pretrained("teacher")
    assert isinstance(teacher, EDMPrecond) and not teacher.training
    assert isinstance(load_pretrained("cm"), ConsistencyJump)
    assert isinstance(load_pretrained("ctm"), EulerJump)
    assert all(not p.requires_grad for p in teacher.parameters())
    # float16 on disk, float32 when loaded, equal to the saved network up to float16 rounding
    saved = {k: v for k, v in net.state_dict().items()}
    for k, v in teacher.net.state_dict().items():
        assert v.dtype == torch.float32 and torch.allclose(v, saved[k], atol=1e-3, rtol=1e-3)
    x = torch.randn(2, 8, 16, requires_grad=True)
    teacher(x, torch.ones(2), tag_condition(instrument="flute", batch=2)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable w.r.t. its input (DITTO-2)


def test_model_card_records_steps_and_resumed_wall_time(weights):
    text = model_card("teacher")
    assert "tiny denoiser" in text and "Steps: 31" in text and "parameters and buffers" in text
    assert "Wall time: 0.1 min" in text  # segments 2.0 s + 1.5 s (the log restarts its clock on resume)
    assert pretrained_meta("teacher")["kind"] == "denoiser"


def test_tag_condition_multi_hot_and_null(weights):
    cond = tag_condition(instrument="organ", mode="minor", batch=3)
    assert cond["tags"].shape == (3, 8) and cond["tags"][0].tolist() == [0, 1, 0, 0, 0, 0, 0, 1]
    assert not cond["null"].any()
    assert tag_condition(batch=2)["null"].all()  # no tag at all: the unconditional (null) condition
    with pytest.raises(ValueError, match="unknown instrument 'tuba'; valid: flute, organ"):
        tag_condition(instrument="tuba")


def test_unknown_name_lists_the_available_ones(weights):
    with pytest.raises(KeyError, match="available: cm, ctm, teacher"):
        load_pretrained("nope")


def test_empty_weights_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(tmp_path / "missing"))
    assert available() == []
    with pytest.raises(KeyError, match="available: none"):
        load_pretrained("teacher")


def test_model_card_metrics_name_the_images_a_results_file_links(tmp_path):
    """A results file's relative image link would break in the card (which lives in the weights folder): the card
    names the image's path instead; absolute addresses stay links."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "quality.md").write_text("# Q\n\n![FAD against steps](fad.png)\n\n![remote](https://x.org/a.png)\n")
    text = bundle_model.metrics_section([results / "quality.md"])
    assert f"FAD against steps: `{results / 'fad.png'}`" in text and "](fad.png)" not in text
    assert "![remote](https://x.org/a.png)" in text


def test_model_card_image_rewrite_keeps_titles_schemes_and_normalises(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "q.md").write_text('![t](a.png "Title")\n![u](HTTPS://x.org/a.png)\n![p](../plots/b.png)\n')
    text = bundle_model.metrics_section([results / "q.md"])
    assert f"t: `{results / 'a.png'}`" in text and "![u](HTTPS://x.org/a.png)" in text
    assert f"p: `{tmp_path / 'plots' / 'b.png'}`" in text


def test_run_stats_take_the_steps_from_the_checkpoint(tmp_path):
    from tempo_kit.training.checkpoint import save_checkpoint

    rows = [{"step": 0, "net/dsm": 1.0, "time": 1.0}, {"step": 100, "net/dsm": 0.5, "time": 9.0}]
    (tmp_path / "losses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bundle_model.run_stats(tmp_path)["steps"] == 101  # the log alone: its last logged step
    save_checkpoint(tmp_path / "checkpoint.safetensors", recipe=torch.nn.Linear(1, 1), optimizers={}, step=150, seed=0)
    stats = bundle_model.run_stats(tmp_path)
    assert stats["steps"] == 150 and stats["wall_seconds"] == 9.0 and stats["last_losses"] == {"net/dsm": 0.5}


def test_model_card_names_the_dataset_each_stage_trained_on(tmp_path):
    """The card's data line follows the configs' [data] roots, first stage first, each once: a stage on the larger
    corpus names that corpus's build command, not the 200-piece one."""
    small, big, other = (tmp_path / f"{n}.toml" for n in ("small", "big", "other"))
    for path, root in ((small, "outputs/data/music"), (big, "outputs/data/music_big"), (other, "data/mine")):
        path.write_text(f'recipe = "vocoder"\n[data]\nname = "music"\nroot = "{root}"\n')
    assert bundle_model.data_commands([small, small, big]) == [
        bundle_model.DATA_COMMANDS["outputs/data/music"], bundle_model.DATA_COMMANDS["outputs/data/music_big"]]
    assert "--max-pieces 700" in bundle_model.DATA_COMMANDS["outputs/data/music_big"]
    assert bundle_model.data_commands([other]) == ["a dataset built at data/mine"]
    assert bundle_model.data_commands([tmp_path / "gone.toml"]) == [bundle_model.DATA_COMMANDS["outputs/data/music"]]
