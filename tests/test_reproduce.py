"""benchmarks/reproduce.py in quick mode on a tiny fake weights folder and a tiny synthetic dataset (slow test), and its
pure helpers (fast tests).

``make_tiny_dataset`` writes harmonic tone clips with known pitch classes in :class:`~tempo_kit.data.MusicDataset`'s
format; ``add_fake_clap`` adds an untrained bundled ``clap`` model to a fake weights folder written by
``test_bench_quality.write_fake_weights``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_bench_quality import load_script, write_fake_weights

VOCAB = {"instrument": ["flute", "organ", "piano"], "collection": ["bach", "essen"], "tempo": ["fast", "slow"],
         "mode": ["major", "minor"]}


def _reproduce():
    return load_script("benchmarks/reproduce.py")


def caption(tags: dict) -> str:
    return f"A {tags['tempo']} tune in a {tags['mode']} key played on {tags['instrument']}"


def make_tiny_dataset(root, *, clips: int = 8, heldout: int = 4, frames: int = 64, seed: int = 0) -> Path:
    """``clips`` clips of four harmonic tones each (``frames`` mel frames), the last ``heldout`` held out; the score's
    pitch class of every frame is stored like the real dataset's top voice."""
    import attrs
    from safetensors.numpy import save_file

    from tempo_kit.audio import MelSpec

    root = Path(root)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    spec = MelSpec()
    n = frames * spec.hop_length
    audio, pitch = [], []
    for _ in range(clips):
        notes = np.repeat(rng.integers(60, 80, size=4), frames // 4 + 1)[:frames]
        f0 = 440.0 * 2 ** ((np.repeat(notes, spec.hop_length) - 69) / 12)
        phase = 2 * np.pi * np.cumsum(f0) / spec.sample_rate
        envelope = np.linspace(rng.uniform(0.1, 1), rng.uniform(0.1, 1), n)
        audio.append(0.3 * envelope * sum(np.sin(k * phase) / k for k in (1, 2, 3)))
        pitch.append(notes % 12)
    with torch.no_grad():
        mel = spec.to_model(torch.from_numpy(np.stack(audio).astype(np.float32)))[..., :frames].numpy()
    wave = np.round(np.stack(audio) * 32767).astype(np.int16)  # the CREPE embedding reads real clips' audio
    save_file({"mel": mel.astype(np.float16), "audio": wave, "pitch_class": np.stack(pitch).astype(np.int8)},
              str(root / "shards" / "tones.safetensors"))
    rows = []
    for i in range(clips):
        tags = {f: values[(i + k) % len(values)] for k, (f, values) in enumerate(VOCAB.items())}
        rows.append({"id": f"tones:{i:03d}", "split": "heldout" if i >= clips - heldout else "train",
                     "shard": "shards/tones.safetensors", "row": i, "tags": tags, "caption": caption(tags)})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta.json").write_text(json.dumps({"mel_spec": attrs.asdict(spec), "sample_rate": spec.sample_rate,
                                                "hop_length": spec.hop_length, "clip_frames": frames}))
    return root


def add_fake_clap(weights, *, captions, seed: int = 0, **config) -> Path:
    """An untrained bundled ``clap`` (MiniClap) whose caption cache holds random sentence embeddings of ``captions``."""
    from tempo_kit.models.io import save_model
    from tempo_kit.models.mini_clap import MiniClap, MiniClapConfig

    cfg = MiniClapConfig(**{"channels": (16, 16, 16), "dim": 16, "text_hidden": 16, "groups": 4, **config},
                         captions=tuple(dict.fromkeys(captions)))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MiniClap(config=cfg, caption_embeddings=torch.randn(len(cfg.captions), cfg.text_dim, generator=gen))
    path = save_model(model, Path(weights) / "clap")
    table = json.loads((path / "config.json").read_text())
    table["pretrained"] = {"kind": "module", "tag_vocab": VOCAB}
    (path / "config.json").write_text(json.dumps(table, indent=2))
    return path


def all_captions() -> list[str]:
    import itertools

    return [caption(dict(zip(VOCAB, combo))) for combo in itertools.product(*VOCAB.values())]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("reproduce")
    data = make_tiny_dataset(base / "data")
    dit = {"in_channels": 80, "patch": 16, "width": 32, "depth": 4, "heads": 2,
           "num_tags": sum(len(v) for v in VOCAB.values())}
    weights = write_fake_weights(base / "weights", dit=dit, tag_vocab=VOCAB, vocoder={"channels": 8, "depth": 1})
    add_fake_clap(weights, captions=all_captions())
    return data, weights


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_mode_writes_every_table(tiny, tmp_path, monkeypatch, one_thread):
    data, weights = tiny
    # --weights sets TEMPO_KIT_WEIGHTS for the process; set here, monkeypatch restores it after the test (delenv of an
    # unset variable records nothing, and the fake weights then leaked into later tests)
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    out = tmp_path / "out"
    results = _reproduce().main(["--quick", "--data", str(data), "--weights", str(weights), "--out", str(out),
                                 "--iterations", "3", "--no-progress"])
    saved = json.loads((out / "results.json").read_text())
    assert saved["settings"]["mode"] == "quick" and set(saved["table1"]) == set(results["table1"])
    for task, res in saved["table1"].items():
        d = res["rows"]["ditto"]
        assert (d["nfe"], d["backward"]) == (3 * 20 + 20, 3 * 20), task  # KT + T forward, KT backward (backprop)
        for name in ("cm", "ctm"):
            r = res["rows"][name]
            T = r["decode_steps"]
            assert T in (1, 2, 4)
            assert r["nfe"] == (3 * T + T if r["surrogate_steps"] == "decode" else 3 + T)
            assert r["speedup"] > 0 and abs(r["nfe_ratio"] - d["nfe"] / r["nfe"]) < 1e-9
            assert np.isfinite(r["fad"]) and -1 <= r["clap"] <= 1
        if task == "melody":
            assert all(0 <= v <= 100 for v in d["metric_per_clip"])
    grid = [(r["surrogate_steps"], r["decode_steps"], r["nfe_optimization"]) for r in saved["table2"]["rows"]]
    assert grid == [(1, 1, 3), (1, 2, 3), (1, 4, 3), (2, 2, 6), (2, 4, 6), ("adaptive", 4, 4)]
    conditions = [r["condition"] for r in saved["table3"]["rows"]]
    assert conditions == ["tags", "tags", "none (null tags)"]
    assert saved["presto"]["available"] and (out / "presto_quality.md").exists()
    assert {c["verdict"] for c in saved["claims"]} <= {"no verdict (quick preset)", "NOT CHECKED"}
    report = (out / "report.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Presto table", "## Claims"):
        assert heading in report
    assert (out / "reproduce_tradeoff.png").stat().st_size > 0 and (out / "reproduce_grid.png").exists()


def test_best_decoding_balances_control_and_fad():
    rep = _reproduce()
    rows = [{"decode_steps": 1, "metric": 1.0, "fad": 9.0}, {"decode_steps": 2, "metric": 1.1, "fad": 2.0},
            {"decode_steps": 4, "metric": 3.0, "fad": 2.5}]
    assert rep.best_decoding(rows, "intensity")["decode_steps"] == 2
    # melody accuracy: higher is better; equal joint ranks go to fewer steps
    assert rep.best_decoding([dict(r, fad=1.0) for r in rows], "melody")["decode_steps"] == 4
    assert rep.best_decoding([dict(r, fad=-r["metric"]) for r in rows], "intensity")["decode_steps"] == 1


def test_claims_need_speed_and_control_and_fad_decided_by_intervals():
    rep = _reproduce()

    def row(speedup, values, fad=1.0, wall=None, **extra):
        return {"speedup": wall or speedup, "speedup_cpu": speedup, "metric": sum(values) / len(values),
                "metric_per_clip": values, "decode_steps": 2, "surrogate_steps": 1, "nfe_ratio": 30.0,
                "speedup_over_nfe_ratio": speedup / 30, "fad": fad, **extra}

    def cmp(stat, low, high, verdict):
        return {"stat": stat, "low": low, "high": high, "verdict": verdict, "family": {"verdict": verdict}}

    def task(speedup, control, fad=("MET", 1.0), wall=None):
        r = row(speedup, [1.0, 2.0], fad=fad[1], wall=wall, control_vs_ditto=cmp(0.5, 0.3, 0.8, control),
                fad_vs_ditto={"ratio": fad[1], "low": fad[1] - 0.05, "high": fad[1] + 0.05, "verdict": fad[0],
                              "family": {"verdict": fad[0]}})
        return {"rows": {"ditto": row(1.0, [2.0, 3.0]), "cm": r, "ctm": r}}

    ok = rep.claims({"intensity": task(12.0, "MET"), "melody": task(15.0, "MET", fad=("MET", 1.04))}, {})
    assert [c["verdict"] for c in ok] == ["MET", "MET", "MET", "NOT CHECKED"]
    assert ok[0]["checks"][0]["reason"] is None
    slow = rep.claims({"intensity": task(9.0, "MET", wall=12.0)}, {})  # the claim reads CPU time
    worse = rep.claims({"melody": task(20.0, "NOT MET")}, {})
    blurred = rep.claims({"melody": task(20.0, "MET", fad=("NOT MET", 1.3))}, {})
    assert slow[0]["verdict"] == worse[0]["verdict"] == blurred[0]["verdict"] == "NOT MET"
    assert "network calls" in slow[0]["checks"][0]["reason"] and "FAD mel" in blurred[0]["checks"][0]["reason"]
    assert "domain gap" in worse[0]["checks"][0]["reason"]  # a 2-step decode of noise optimised in one step
    # an interval that does not decide leaves the task, and so the claim, undecided; one NOT MET task decides it
    unsure = rep.claims({"intensity": task(12.0, "UNDECIDED"), "melody": task(15.0, "MET")}, {})
    assert unsure[0]["verdict"] == "UNDECIDED" and unsure[0]["checks"][0]["reason"] is None
    assert rep.claims({"intensity": task(12.0, "UNDECIDED"), "melody": task(15.0, "NOT MET")}, {})[0]["verdict"] == "NOT MET"
    quick = rep.claims({"intensity": task(12.0, "MET")}, {}, quick=True)
    assert [c["verdict"] for c in quick] == ["no verdict (quick preset)"] * 3 + ["NOT CHECKED"]
    assert {ch["verdict"] for ch in quick[0]["checks"]} == {"no verdict (quick preset)"}
    assert quick[2]["checks"][0]["by_surrogate"] == {"cm": "no verdict", "ctm": "no verdict"}


def test_claim_over_surrogates_needs_one_surrogate_per_task_at_the_family_level():
    rep = _reproduce()

    def row(speed, control, fad, family=None):
        part = lambda v, f: {"verdict": v, "family": {"verdict": f or v}}  # noqa: E731
        return {"speedup_cpu": speed, "control_vs_ditto": part(control, family), "fad_vs_ditto": part(fad, None)}

    table = {"intensity": {"rows": {"cm": row(20, "NOT MET", "MET"), "ctm": row(10.5, "MET", "MET")}},
             "melody": {"rows": {"cm": row(20, "NOT MET", "MET"), "ctm": row(9.3, "MET", "MET")}}}
    claim = rep.any_surrogate(table)
    assert [(c["task"], c["verdict"]) for c in claim["checks"]] == [("intensity", "MET"), ("melody", "NOT MET")]
    assert claim["verdict"] == "NOT MET" and claim["checks"][0]["by_surrogate"] == {"cm": "NOT MET", "ctm": "MET"}
    # met at 95% but not at the family level: the best of several surrogates is not taken at face value
    table["melody"]["rows"]["cm"] = row(20, "MET", "MET", family="UNDECIDED")
    assert rep.any_surrogate(table)["verdict"] == "UNDECIDED"
    assert "98.3%" in claim["claim"]


def test_claim_row_is_the_default_decoding_not_the_best_on_the_test_targets():
    rep = _reproduce()
    rows = [{"surrogate_steps": 1, "decode_steps": 1, "metric": 5.0, "fad": 5.0},
            {"surrogate_steps": 1, "decode_steps": 2, "metric": 1.0, "fad": 1.0},
            {"surrogate_steps": "decode", "decode_steps": 2, "metric": 3.0, "fad": 3.0}]
    assert rep.claim_row(rows, "ctm", "intensity") is rows[2]  # a CTM decodes through its 2 steps
    assert rep.claim_row(rows, "consistency", "intensity") is rows[0]  # CM, Presto-S: one step
    fallback = rep.claim_row(rows[1:2], "consistency", "intensity")  # the default was not run
    assert fallback["chosen_on_test"] and fallback["decode_steps"] == 2


def test_versus_ditto_pairs_the_targets():
    from tempo_kit.metrics import ClipStats, bootstrap_counts, bootstrap_frechet

    rep = _reproduce()
    gen = torch.Generator().manual_seed(0)
    ref = ClipStats.from_embeddings(torch.randn(64, 3, generator=gen, dtype=torch.float64))
    stats = ClipStats.from_embeddings(torch.randn(8, 3, generator=gen, dtype=torch.float64))

    far = ClipStats.from_embeddings(3 + torch.randn(8, 3, generator=gen, dtype=torch.float64))

    def row(values, crepe=stats):
        return {"metric_per_clip": values, "fad": float(bootstrap_frechet(stats, ref)),
                "fad_crepe": float(bootstrap_frechet(crepe, ref)), "_stats": {"mel": stats, "crepe": crepe}}

    refs = {"mel": ref, "crepe": ref}
    ditto = row([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    half = row([v / 2 for v in ditto["metric_per_clip"]])  # half DITTO's MSE on every target, same outputs
    counts = bootstrap_counts(8, 500, generator=torch.Generator().manual_seed(1))
    rep.versus_ditto(half, ditto, "intensity", refs, counts)
    c, f = half["control_vs_ditto"], half["fad_vs_ditto"]
    assert c["stat"] == pytest.approx(0.5) and c["low"] == pytest.approx(0.5) and c["verdict"] == "MET"
    assert f["low"] == pytest.approx(1.0) and f["verdict"] == "MET"  # same outputs: ratio 1 in every resample
    assert set(rep.fad_parts(half)) == {"mel", "crepe"} and half["fad_crepe_vs_ditto"]["verdict"] == "MET"
    off = row(half["metric_per_clip"], crepe=far)  # as good on mel statistics, far off on CREPE
    rep.versus_ditto(off, ditto, "intensity", refs, counts)
    assert off["fad_vs_ditto"]["verdict"] == "MET" and off["fad_crepe_vs_ditto"]["verdict"] == "NOT MET"
    off.update(speedup=20.0, speedup_cpu=20.0, nfe_ratio=20.0, speedup_over_nfe_ratio=1.0, metric=4.5,
               method="DITTO-2 (CM, M=1, T=1)", decode_steps=1, surrogate_steps=1)
    ditto.update(metric=4.5)
    check = rep.claims({"intensity": {"rows": {"ditto": ditto, "cm": off}}}, {})[0]
    assert "FAD mel and FAD CREPE" in check["claim"] and check["verdict"] == "NOT MET"
    assert "FAD CREPE" in check["checks"][0]["reason"] and "FAD mel" not in check["checks"][0]["reason"]
    melody = row([v - 1 for v in ditto["metric_per_clip"]])  # one point lower on every target
    rep.versus_ditto(melody, ditto, "melody", refs, counts)
    assert melody["control_vs_ditto"]["high"] == pytest.approx(-1.0) and melody["control_vs_ditto"]["verdict"] == "NOT MET"
    assert melody["control_vs_ditto"]["family"]["verdict"] == "NOT MET"  # the same shift in every resample
    noisy = row([v * w for v, w in zip(ditto["metric_per_clip"], (0.2, 1.9, 0.3, 1.7, 0.4, 1.2, 0.5, 0.6))])
    rep.versus_ditto(noisy, ditto, "intensity", refs, counts)
    c = noisy["control_vs_ditto"]
    assert c["family"]["low"] <= c["low"] and c["family"]["high"] >= c["high"]  # wider at the family level


def test_settings_presets_and_errors():
    rep = _reproduce()
    assert rep.settings("full").iterations == rep.PAPER_ITERATIONS
    assert rep.settings("quick", clips=3).clips == 3
    with pytest.raises(ValueError, match="mode"):
        rep.settings("medium")
    with pytest.raises(ValueError, match="held-out"):
        rep.pick_clips(3, 5)
    with pytest.raises(ValueError, match="unknown task"):
        rep.build_task("looping", {"x0": torch.zeros(1, 80, 64)}, None)


def test_control_budget_runs_each_method_at_its_own_validation_choice():
    budget = load_script("benchmarks/bench_control_budget.py")
    bundle = SimpleNamespace(teacher="teacher", surrogates={"ctm": "ctm", "presto-s": "presto-s"})
    choices = {"melody": {"DITTO": {"lr": 0.05, "norm_prior": None},
                          "DITTO-2 CTM M=1 T=1": {"lr": 0.15, "norm_prior": "project"},
                          "DITTO-2 CTM decode T=2": {"lr": 0.5, "norm_prior": "project"},
                          "DITTO-2 PRESTO-S M=1 T=1": {"lr": 0.015, "norm_prior": None}}}
    students = {"mine": ("jump", budget.STUDENT_SETTINGS["ctm"]), "other": ("jump2", budget.STUDENT_SETTINGS["presto-s"])}
    runs = budget.methods(bundle, "melody", students, choices=choices, decodes={})
    assert {label: setting for label, (_, _, setting) in runs.items()} == {
        "DITTO (teacher, 20 steps)": (0.05, None, "adam"), "DITTO-2 (CTM, one step)": (0.15, "project", "adam"),
        "DITTO-2 (CTM, through the 2-step decode)": (0.5, "project", "adam"),
        "DITTO-2 (PRESTO-S, one step)": (0.015, None, "adam"), "DITTO-2 (mine, one step)": (0.15, "project", "adam"),
        "DITTO-2 (other, one step)": (0.015, None, "adam")}
    with pytest.raises(SystemExit, match=r"LABEL=PATH\[@KEY\]"):
        budget.load_students(["tempo_kit/weights/presto-s-long"])
    # a student at its own sweep's choices (bench_control_lr.py --surrogate KEY=PATH, read with --choices)
    assert budget.student_settings("presto-s-long") == "DITTO-2 PRESTO-S-LONG M=1 T=1"
    own = {"melody": {**choices["melody"], "DITTO-2 PRESTO-S-LONG M=1 T=1": {"lr": 0.5, "norm_prior": None}}}
    own_runs = budget.methods(bundle, "melody", {"long": ("jump3", budget.student_settings("presto-s-long"))},
                              choices=own, decodes={})
    make, model, setting = own_runs["DITTO-2 (long, one step)"]
    assert (model, setting, make(9).iterations, make(9).lr, make(9).decode_steps) == ("jump3", (0.5, None, "adam"),
                                                                                      9, 0.5, 1)
    sweep = {"melody": {"DITTO-2 PRESTO-S-LONG M=1 T=1": own["melody"]["DITTO-2 PRESTO-S-LONG M=1 T=1"]}}
    assert budget.merge_choices(choices, [{"choices": sweep}])["melody"] == own["melody"]
    with pytest.raises(ValueError, match=r"would replace the committed choice"):  # a sweep never resets a built-in row
        budget.merge_choices(choices, [{"choices": {"melody": {"DITTO": {"lr": 0.5, "norm_prior": None}}}}])
    with pytest.raises(SystemExit, match="label 'CTM' is taken"):
        budget.load_students(["CTM=tempo_kit/weights/presto-s-long"])
    with pytest.raises(ValueError, match="no validation choice 'DITTO-2 PRESTO-S-LONG M=1 T=1' for student 'long'"):
        budget.methods(bundle, "melody", {"long": ("jump3", budget.student_settings("presto-s-long"))},
                       choices=choices, decodes={})
    through = runs["DITTO-2 (CTM, through the 2-step decode)"][0](7)
    assert (through.iterations, through.lr, through.decode_steps, through.surrogate_steps) == (7, 0.5, 2, "decode")
    assert runs["DITTO (teacher, 20 steps)"][0](3).lr == 0.05 and runs["DITTO-2 (mine, one step)"][1] == "jump"
    # the decode's re-noise level chosen on validation with its lr (as reproduce.py's full preset reads it)
    decodes = {"melody": {"ctm": {"decode_levels": [0.15], "lr": 0.05, "norm_prior": None}}}
    runs = budget.methods(bundle, "melody", choices=choices, decodes=decodes)
    assert "DITTO-2 (CTM, through the 2-step decode)" not in runs
    make, model, setting = runs["DITTO-2 (CTM, through the 2-step decode at 0.15)"]
    through = make(4)
    assert (model, setting, through.lr, through.decode_levels, through.surrogate_steps) == (
        "ctm", (0.05, None, "adam"), 0.05, (0.15,), "decode")
    grid = {"melody": {"ctm": {"decode_levels": None, "lr": 0.015, "norm_prior": "project",
                               "optimizer": "adam-sample"}}}
    runs = budget.methods(bundle, "melody", choices=choices, decodes=grid)
    make, _, setting = runs["DITTO-2 (CTM, through the 2-step decode)"]
    assert setting == (0.015, "project", "adam-sample") and make(2).optimizer == "adam-sample"


def test_control_lr_adds_methods_optimised_through_decodes_at_given_levels():
    lr = load_script("benchmarks/bench_control_lr.py")
    bundle = SimpleNamespace(teacher="teacher", surrogates={"presto-s": "jump"})
    plain = lr.methods(bundle)
    runs = lr.methods(bundle, [(0.15,), (0.5, 0.1)])
    added = sorted(set(runs) - set(plain))
    assert added == ["DITTO-2 PRESTO-S decode at 0.15", "DITTO-2 PRESTO-S decode at 0.5, 0.1"]
    make, model = runs["DITTO-2 PRESTO-S decode at 0.5, 0.1"]
    ditto = make(9, 0.05, "project", "adam-sample")
    assert model == "jump" and (ditto.iterations, ditto.lr, ditto.norm_prior, ditto.optimizer) == (
        9, 0.05, "project", "adam-sample")
    assert tuple(ditto.decode_levels) == (0.5, 0.1) and ditto.surrogate_steps == "decode"
    assert tuple(runs["DITTO-2 PRESTO-S decode at 0.15"][0](9, 0.05, None, "adam").decode_levels) == (0.15,)


def test_control_budget_table_compares_within_the_budget_and_decides_only_with_the_interval():
    budget = load_script("benchmarks/bench_control_budget.py").budget_table
    d = "DITTO (teacher, 20 steps)"
    rows = [
        {"task": "intensity", "method": d, "K": 10, "cpu_s_per_clip": 1.0, "fad": 0.3, "values": [4.0, 5.0, 6.0, 5.0]},
        {"task": "intensity", "method": "DITTO-2 a", "K": 20, "cpu_s_per_clip": 0.5, "fad": 0.3,
         "values": [1.0, 1.2, 0.8, 1.0]},
        {"task": "intensity", "method": "DITTO-2 a", "K": 40, "cpu_s_per_clip": 1.5, "fad": 0.3,  # over the budget
         "values": [0.1, 0.1, 0.1, 0.1]},
        {"task": "melody", "method": d, "K": 10, "cpu_s_per_clip": 1.0, "fad": 0.3, "values": [80.0, 90.0, 70.0, 60.0]},
        {"task": "melody", "method": "DITTO-2 a", "K": 20, "cpu_s_per_clip": 0.9, "fad": 0.3,
         "values": [90.0, 60.0, 80.0, 70.0]},
    ]
    for r in rows:
        r["metric"] = sum(r["values"]) / len(r["values"])
    table = {b["task"]: b for b in budget(rows)}
    assert table["intensity"]["K"] == 20 and table["intensity"]["stat"] == pytest.approx(0.2)  # the K that fits
    assert table["intensity"]["verdict"] == "MET" and table["intensity"]["high"] < 1
    assert table["melody"]["stat"] == pytest.approx(0.0) and table["melody"]["verdict"] == "UNDECIDED"
    rows.append({"task": "melody", "method": "DITTO-2 b", "K": 20, "cpu_s_per_clip": 0.9, "fad": 0.3,
                 "values": [90.0, 90.0, 90.0, 90.0], "metric": 90.0})
    assert [(b["task"], b["variant"]) for b in budget(rows)] == [  # each task's own variants only
        ("intensity", "DITTO-2 a"), ("melody", "DITTO-2 a"), ("melody", "DITTO-2 b")]
    rows[1]["cpu_s_per_clip"] = 2.0  # nothing within the budget
    assert budget(rows)[0]["verdict"] == "no DITTO-2 run within the budget"


def test_control_lr_choice_weighs_control_and_fad():
    lr = load_script("benchmarks/bench_control_lr.py")

    def row(method, rate, metric, fad):
        return {"task": "melody", "method": method, "lr": rate, "metric": metric, "fad": fad}

    # control alone would pick lr 0.05 (97%), at a FAD mel 6x the lowest (0.3); within twice the lowest FAD the best
    # control is lr 0.015
    rows = [row("DITTO", 0.005, 65.0, 0.3), row("DITTO", 0.015, 84.0, 0.5), row("DITTO", 0.05, 97.0, 1.8),
            row("DITTO", 0.15, 84.0, 3.0), row("DITTO-2 CM M=1 T=1", 0.05, 70.0, 0.25),
            row("DITTO-2 CM M=1 T=1", 0.15, 80.0, 0.2), row("DITTO-2 CTM M=1 T=1", 0.15, None, None)]
    result = {"rows": rows}
    assert lr.best(result)["melody"] == {"DITTO": 0.015, "DITTO-2 CM M=1 T=1": 0.15}
    # diverged rows (metric None) never count
    assert lr.choices(result) == {"melody": {"DITTO": {"lr": 0.015, "norm_prior": None, "optimizer": "adam"},
                                             "DITTO-2 CM M=1 T=1": {"lr": 0.15, "norm_prior": None,
                                                                    "optimizer": "adam"}}}
    # the norm prior is one more setting of the same choice: each (method, prior) gets its own best lr, and the
    # method's choice carries the prior of the winning row
    projected = rows + [{**row("DITTO", 0.05, 98.0, 0.4), "norm_prior": "project"}]
    assert lr.best({"rows": projected})["melody"]["DITTO + project"] == 0.05
    assert lr.choices({"rows": projected})["melody"]["DITTO"] == {"lr": 0.05, "norm_prior": "project",
                                                                  "optimizer": "adam"}
    # so is the optimizer: a variant of its own, and the choice carries it
    sample = projected + [{**row("DITTO", 0.15, 99.0, 0.45), "norm_prior": "project", "optimizer": "adam-sample"}]
    assert lr.best({"rows": sample})["melody"]["DITTO + project + adam-sample"] == 0.15
    assert lr.choices({"rows": sample})["melody"]["DITTO"] == {"lr": 0.15, "norm_prior": "project",
                                                               "optimizer": "adam-sample"}
    # a NaN metric or FAD never wins a rank
    assert lr.best({"rows": rows + [row("DITTO", 0.5, float("nan"), 0.1), row("DITTO", 1.5, 99.0, float("nan"))]}
                   )["melody"]["DITTO"] == 0.015
    # the cap is relative: on a task where every setting moves FAD (melody), the least is the yardstick; a row
    # at exactly twice the lowest FAD still counts, and equal control goes to the smaller lr
    edge = [row("DITTO", 0.005, 90.0, 1.0), row("DITTO", 0.05, 95.0, 2.0), row("DITTO", 0.15, 95.0, 2.0),
            row("DITTO", 0.5, 99.0, 2.01)]
    assert lr.best({"rows": edge})["melody"]["DITTO"] == 0.05
    everything_diverged = {"rows": [row("DITTO", 0.05, None, None)]}
    assert lr.choices(everything_diverged) == {}


def test_control_lr_merges_runs_that_share_no_task_and_method():
    lr = load_script("benchmarks/bench_control_lr.py")
    base = {"git": {"commit": "abc", "dirty": False}, "clips": [0, 1], "lrs": [0.05], "priors": [None], "seed": 0}
    a = {**base, "rows": [{"task": "melody", "method": "DITTO"}]}
    b = {**base, "rows": [{"task": "intensity", "method": "DITTO"}]}
    merged = lr.merge([a, b])
    assert [r["task"] for r in merged["rows"]] == ["melody", "intensity"] and merged["git"] == base["git"]
    with pytest.raises(ValueError, match="share a"):
        lr.merge([a, a])
    with pytest.raises(ValueError, match="'lrs' differ"):
        lr.merge([a, {**b, "lrs": [0.5]}])
    # a method added later, run at another commit: each part keeps its commit, and a merge of merges keeps them all
    later = {**base, "git": {"commit": "def", "dirty": False}, "rows": [{"task": "melody", "method": "DITTO-2 X"}]}
    mixed = lr.merge([lr.merge([a, b]), later])
    assert mixed["git"]["commit"] is None
    assert [(p["git"]["commit"], p["tasks"], p["methods"]) for p in mixed["parts"]] == [
        ("abc", ["melody"], ["DITTO"]), ("abc", ["intensity"], ["DITTO"]), ("def", ["melody"], ["DITTO-2 X"])]
    assert lr._commits(mixed).startswith("Commits `abc` (DITTO on melody); `abc` (DITTO on intensity); `def`")
    # the same method with another optimizer, run later with other priors: merged, the priors joined
    sample = {**base, "priors": ["project"], "optimizers": ["adam-sample"],
              "rows": [{"task": "melody", "method": "DITTO", "optimizer": "adam-sample"}]}
    both = lr.merge([a, sample])
    assert both["priors"] == [None, "project"] and both["optimizers"] == ["adam", "adam-sample"]
    with pytest.raises(ValueError, match="share a"):
        lr.merge([both, sample])


def test_likely_reason_names_what_the_row_did():
    R = _reproduce()
    row = {"speedup_cpu": 9.6, "nfe_ratio": 10.0, "speedup_over_nfe_ratio": 0.96, "decode_steps": 2,
           "surrogate_steps": "decode"}
    reason = R._likely_reason(row, control_ok=False)
    assert "only 10.0x fewer network calls" in reason and "through its 2-step decode" in reason
    one_step = R._likely_reason({**row, "speedup_cpu": 19.0, "nfe_ratio": 20.0, "decode_steps": 1,
                                 "surrogate_steps": 1}, control_ok=False)
    assert "(one step)" in one_step and "network calls" not in one_step
    gap = R._likely_reason({**row, "speedup_cpu": 19.0, "nfe_ratio": 20.0, "surrogate_steps": 1}, control_ok=False)
    assert "domain gap" in gap
    slow = R._likely_reason({**row, "speedup_cpu": 8.0, "nfe_ratio": 20.0, "decode_steps": 1}, control_ok=True)
    assert "time does not fall with the network calls" in slow
    assert R._likely_reason({**row, "speedup_cpu": 19.0, "nfe_ratio": 20.0}, control_ok=True) is None


def test_full_preset_rates_are_the_committed_sweeps_choice():
    """reproduce.py's full preset reads DITTO's and each surrogate's default decoding's choice in control_lr.json."""
    R = _reproduce()
    sweep = json.loads((Path(__file__).parents[1] / "benchmarks/results/control_lr.json").read_text())
    picks, decodes = sweep["choices"], sweep["decode_choices"]
    variant = {"cm": "DITTO-2 CM M=1 T=1", "presto-s": "DITTO-2 PRESTO-S M=1 T=1"}
    ditto2 = lambda task, name: {"lr": R.FULL_LR_DITTO2[task][name], "norm_prior": R.FULL_PRIOR_DITTO2[task],  # noqa: E731
                                 "optimizer": R.FULL_OPTIMIZER_DITTO2[task][name]}
    for task in R.TASKS:
        assert picks[task]["DITTO"] == {"lr": R.FULL_LR_DITTO[task], "norm_prior": R.FULL_PRIOR_DITTO[task],
                                        "optimizer": R.FULL_OPTIMIZER_DITTO[task]}
        for name, label in variant.items():
            assert picks[task][label] == ditto2(task, name)
        # the CTM's 2-step decode: its re-noise level chosen with the lr, over the grid's and 0.15 pooled
        levels = R.FULL_DECODE_LEVELS_DITTO2.get(task, {}).get("ctm")
        assert decodes[task]["ctm"] == {"decode_levels": None if levels is None else list(levels),
                                        **ditto2(task, "ctm")}


def test_decode_choice_pools_a_surrogates_levels():
    """bench_control_lr's decode choice compares one surrogate's grid-level and re-noised decodes under one FAD cap."""
    lr = load_script("benchmarks/bench_control_lr.py")
    assert lr.decode_of("DITTO-2 CTM decode T=2") == ("ctm", None)
    assert lr.decode_of("DITTO-2 PRESTO-S decode at 0.5") == ("presto-s", (0.5,))
    assert lr.decode_of("DITTO-2 PRESTO-S decode at 0.5, 0.1") is None  # a 3-step decode is not pooled with 2-step ones
    assert lr.decode_of("DITTO-2 CTM M=1 T=1") is None and lr.decode_of("DITTO") is None
    row = lambda method, lr_, metric, fad: {"task": "intensity", "method": method, "lr": lr_, "metric": metric,  # noqa: E731
                                           "fad": fad, "norm_prior": None}
    rows = [row("DITTO-2 CTM decode T=2", 0.05, 0.4, 0.2), row("DITTO-2 CTM decode at 0.15", 0.05, 0.3, 0.39),
            row("DITTO-2 CTM decode at 0.15", 0.5, 0.1, 0.41), row("DITTO-2 CTM M=1 T=1", 0.05, 0.01, 0.2)]
    # 0.41 is over twice the lowest FAD (0.2) of the pooled decodes; the one-step row is not a decode
    assert lr.decode_choices({"rows": rows}) == {"intensity": {"ctm": {"decode_levels": [0.15], "lr": 0.05,
                                                                       "norm_prior": None, "optimizer": "adam"}}}


def test_melody_benchmark_decodes_as_each_model_defaults_or_as_asked():
    """bench_melody_control's --decode-levels: 'default' leaves the model's decoding, 'grid' the teacher grid's T
    levels (the model's T unless given), a comma list those levels."""
    bench = load_script("benchmarks/bench_melody_control.py")
    assert bench._levels("default;grid;0.5,0.1") == ["default", "grid", (0.5, 0.1)]
    assert bench._decoding("ctm", None, "default") == {"decode_steps": None, "decode_levels": None}
    assert bench._decoding("ctm", None, "grid") == {"decode_steps": 2, "decode_levels": None}
    assert bench._decoding("cm", None, "grid") == {"decode_steps": 1, "decode_levels": None}
    assert bench._decoding("ctm", 4, "grid") == {"decode_steps": 4, "decode_levels": None}
    assert bench._decoding("ctm", None, (0.15,)) == {"decode_steps": None, "decode_levels": (0.15,)}
    assert bench._t({"decode_steps": 2, "decode_levels": [0.15]}) == "2 (at 0.15)"


def test_rows_and_report_name_the_decode_levels():
    R = _reproduce()
    assert R._through(None) == "through the decode" and R._through((0.15,)) == "through a decode at 0.15"
    text = R._decode_levels_text({"melody": {"ctm": (0.15,)}, "structure": {"ctm": [0.5, 0.1]}})
    assert "CTM at 0.15 on melody, CTM at 0.5, 0.1 on structure" in text and R._decode_levels_text({}) == ""


def _intensity_rows(default, best, uncontrolled):
    def row(setting, values, iterations=200):
        return {"setting": setting, "model": "ctm", "iterations": iterations, "audio_mse": float(np.mean(values)),
                "per_target": [{"audio_mse": v} for v in values]}

    return [row("default", default), row("other", best), row("uncontrolled", uncontrolled, iterations=0)]


def test_intensity_audio_default_against_best_is_judged_by_its_interval():
    bench = load_script("benchmarks/bench_intensity_audio.py")
    far = bench.checks(_intensity_rows([9.0, 10.0, 11.0, 12.0], [1.0, 2.0, 3.0, 4.0], [90.0] * 4), n_boot=500,
                       seed=0, quick=False)
    assert far["best"] == "other" and far["default_minus_best"] == pytest.approx(8.0)
    assert far["low"] == pytest.approx(8.0) and far["verdict"] == "NOT MET"  # the same gap on every target
    near = bench.checks(_intensity_rows([1.5, 2.5, 3.5, 4.5], [1.0, 2.0, 3.0, 4.0], [90.0] * 4), n_boot=500,
                        seed=0, quick=False)
    assert near["verdict"] == "MET" and not near["sanity_failures"]
    noisy = bench.checks(_intensity_rows([1.0, 9.0, 1.0, 9.0], [2.0, 2.0, 2.0, 2.0], [90.0] * 4), n_boot=500,
                         seed=0, quick=False)
    assert noisy["verdict"] == "UNDECIDED" and noisy["low"] < 3 < noisy["high"]
    assert bench.checks(_intensity_rows([5.0] * 4, [4.0] * 4, [90.0] * 4), n_boot=50, seed=0,
                        quick=True)["verdict"] == "no verdict (quick)"
    broken = bench.checks(_intensity_rows([95.0] * 4, [4.0] * 4, [90.0] * 4), n_boot=50, seed=0, quick=False)
    assert broken["sanity_failures"] == ["default: audio MSE not below the uncontrolled row's"]


def test_intensity_audio_loudness_is_rms_in_db_on_the_model_frames():
    bench = load_script("benchmarks/bench_intensity_audio.py")
    t = torch.arange(64 * 512) / 22050
    db = bench.loudness_db(0.5 * torch.sin(2 * torch.pi * 440 * t), 64)
    assert db.shape == (64,)
    assert db[4:-4] == pytest.approx(torch.full((56,), 20 * np.log10(0.5 / np.sqrt(2)), dtype=torch.float64), abs=0.05)


@pytest.mark.slow
def test_intensity_audio_quick_run_on_the_bundled_models(tmp_path, one_thread):
    bench = load_script("benchmarks/bench_intensity_audio.py")
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "intensity_audio.json").read_text())
    assert saved["targets"] == 2 and saved["checks"]["verdict"] == "no verdict (quick)" and saved["commit"]
    rows = {r["setting"]: r for r in saved["rows"]}
    assert rows["uncontrolled (K = 0)"]["audio_mse"] > rows["default"]["audio_mse"]
    assert rows["default"]["decode_levels"] == [0.15] and rows["default"]["surrogate_steps"] == "decode"
    assert "| ctm | default | audio |" in (tmp_path / "intensity_audio.md").read_text()
    assert rows["default"]["objective_reads"] == "audio"  # the task's default since the validation curves chose it
    assert rows["previous default: objective on the mel frames, K 200"]["objective_reads"] == "mel"
    assert bench.main(["--quick", "--split", "validation", "--out", str(tmp_path), "--stem", "val"]) == 0
    saved = json.loads((tmp_path / "val.json").read_text())
    assert saved["split"] == "validation" and saved["checks"]["verdict"] == "no verdict (quick)"
    assert [r["objective_reads"] for r in saved["rows"]] == ["mel", "audio", "audio", "audio", "mel+audio",
                                                              "mel+audio", "mel+audio", "audio"]  # K = 0 last


def test_intensity_audio_validation_curves_are_not_the_test_curves():
    from tempo_kit.features import Intensity

    bench = load_script("benchmarks/bench_intensity_audio.py")
    test, val = (bench.targets_of(split, False, 256, Intensity()) for split in ("test", "validation"))
    assert len(test) == len(val) == 12
    assert not {tuple(sorted(t.items())) for _, t, _ in test} & {tuple(sorted(t.items())) for _, t, _ in val}
    for _, _, v in val:
        assert v.value.shape == (256,) and v.kind == "intensity"
        assert all(not torch.allclose(v.value, t.value, atol=1.0) for _, _, t in test)


@pytest.mark.slow
def test_control_optimizer_runs_on_a_tiny_dataset(tiny, tmp_path, monkeypatch, one_thread):
    data, weights = tiny
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))
    bench = load_script("benchmarks/bench_control_optimizer.py")
    assert bench.main(["--data", str(data), "--clips", "2", "--tasks", "outpainting", "--surrogates", "ctm",
                       "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "control_optimizer.json").read_text())
    rows = {r["optimizer"]: r for r in saved["rows"]}
    assert set(rows) == {"uncontrolled", "adam", "adam-sample"} and saved["git"]["commit"]
    assert rows["uncontrolled"]["moved_unread"] == 0 and rows["uncontrolled"]["metric"] > rows["adam"]["metric"]
    del rows["uncontrolled"]
    # the frames the objective reads move more than the others, and SampleAdam moves the others less than Adam
    assert all(r["moved_read"] > r["moved_unread"] for r in rows.values())
    assert rows["adam-sample"]["moved_unread"] < rows["adam"]["moved_unread"]
    assert (tmp_path / "control_optimizer.png").stat().st_size > 0
