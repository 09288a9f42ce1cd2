"""Reproduce the DITTO-2 tables (and the Presto table, through ``bench_quality.py``) on the bundled reference models.

    .venv/bin/python benchmarks/reproduce.py --quick     # CI smoke run: 2 held-out targets, K = 8 (< 5 min, 2 cores)
    .venv/bin/python benchmarks/reproduce.py             # full run: 8 targets per task, DITTO's K (< 60 min)

Writes ``results.json``, ``report.md`` (every table, the claims checked, the settings) and plots to ``--out``
(default ``benchmarks/results/reproduce``, or ``benchmarks/results/reproduce/quick`` with ``--quick``); a full run
also copies the plots to ``--assets`` (``docs/assets``) for the docs page ``docs/reproduce.md``.

What is run (DITTO-2, Novack et al. 2024, Tables 1-3; DITTO, Novack et al. 2024, Sec. 4):

* Table 1: intensity, melody, structure, outpainting and inpainting with targets taken from held-out clips of the
  dataset (``--data``): a clip's intensity curve, its MFCC self-similarity (structure transfer, no smoothing), its
  score's top-voice pitch classes (melody; frames without a note are ignored), and its mel frames as the reference for
  outpainting (1 s overlap) and inpainting (1 s context each side, 4 s gap). Each task runs DITTO (teacher, 20-step
  Euler, per-step checkpointing) and DITTO-2 with the CM and the CTM surrogate (M = 1, decoding with 1, 2 and 4
  steps; the table shows the decoding steps with the best joint rank of control metric and FAD). All extractors read
  mel frames directly (no vocoder).
* Table 2: the (M, T) grid on intensity with the CTM surrogate, including the adaptive M schedule.
* Table 3: text adherence with the bundled CLAP-style model: the tag-conditioned teacher vs DITTO-2 (CTM) maximising
  CLAP similarity to the clip's caption, with the clip's tags and with null tags.
* Presto table: ``benchmarks/bench_quality.py``.

Every method starts from the same initial noise and runs on one batch of targets; times are wall seconds per clip
(batch time / batch size), NFE counts are network calls per generation (a batched call counts once), speed-ups and NFE
ratios are against DITTO in the same run. FAD is the Frechet distance of :func:`tempo_kit.metrics.mel_statistics`
of the generations against all held-out clips; with few generations it is biased upwards, equally for every method
of a table. The CLAP score is the cosine similarity of the bundled CLAP model's embeddings of output and caption.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import torch

from tempo_kit.control import (DITTO, DITTO2, IGNORE_INDEX, Objective, Target, count_network_calls,
                               intensity_from_audio, melody_from_frames, reference_target, structure_from_audio)
from tempo_kit.features import Intensity, LogChroma, MaskedReconstruction, MFCCSelfSimilarity, melody_accuracy
from tempo_kit.grad import NoGrad
from tempo_kit.losses import cosine, mse, nll

TASKS = ("intensity", "melody", "structure", "outpainting", "inpainting")
#: DITTO's optimisation steps (DITTO Sec. 5.1): 70 for intensity and painting, 150 for melody and structure.
PAPER_ITERATIONS = {"intensity": 70, "melody": 150, "structure": 150, "outpainting": 70, "inpainting": 70}
#: Table 2 rows: (M, T); M = "adaptive" is DITTO-2's 1/2/4 schedule.
GRID = ((1, 1), (1, 2), (1, 4), (2, 2), (2, 4), ("adaptive", 4))
METRIC = {"intensity": "MSE (dB^2)", "melody": "accuracy (%)", "structure": "MSE", "outpainting": "MSE (mel)",
          "inpainting": "MSE (mel)"}
HIGHER_IS_BETTER = {"melody"}
ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen(kw_only=True)
class Settings:
    """What a run does; ``settings("quick")`` and ``settings("full")`` are the two presets."""

    mode: str
    clips: int
    iterations: dict
    text_clips: int
    text_iterations: int
    presto_clips: int | None
    ditto_steps: int = 20
    decode_steps: tuple = (1, 2, 4)
    lr: float = 5e-3
    seed: int = 0
    tasks: tuple = TASKS
    progress: bool = True


def settings(mode: str, **overrides) -> Settings:
    """The ``"quick"`` (CI) or ``"full"`` preset, with keyword overrides."""
    if mode == "quick":
        base = dict(clips=2, iterations={t: 8 for t in TASKS}, text_clips=2, text_iterations=8, presto_clips=4)
    elif mode == "full":
        base = dict(clips=8, iterations=dict(PAPER_ITERATIONS), text_clips=8, text_iterations=70, presto_clips=None)
    else:
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(mode=mode, **base)


# ------------------------------------------------------------------------------------------------ models and data
@attrs.frozen(kw_only=True, eq=False)
class Bundle:
    """The loaded reference models and the held-out data they are evaluated on."""

    teacher: Any
    cm: Any
    ctm: Any
    clap: Any  # CLAP extractor (mel frames -> unit embedding) with embed_text(), or None
    tag_vocab: dict
    heldout: Any  # MusicDataset
    mel: Any  # MelSpec
    ref_stats: Any  # mel statistics of all held-out clips (FAD reference)
    weights: dict


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load_clap():
    """The bundled CLAP-style model as a mel-frame extractor (registered extractor ``"mini-clap"``), or None."""
    from tempo_kit.pretrained import available, load_pretrained
    from tempo_kit.registry import get

    if "clap" not in available():
        return None
    return get("extractors", "mini-clap", model=load_pretrained("clap")).eval()


def load_bundle(data: Path) -> Bundle:
    from tempo_kit.audio import MelSpec
    from tempo_kit.data import MusicDataset
    from tempo_kit.pretrained import available, load_pretrained, model_dir, pretrained_meta

    try:
        from tempo_kit.metrics import mel_statistics
    except ImportError:  # FAD columns become n/a
        mel_statistics = None

    heldout = MusicDataset(data, split="heldout")
    weights = {n: {"sha256": _digest(model_dir(n) / "model.safetensors"), "kind": pretrained_meta(n).get("kind")}
               for n in available()}
    return Bundle(teacher=load_pretrained("teacher"), cm=load_pretrained("cm"), ctm=load_pretrained("ctm"),
                  clap=load_clap(), tag_vocab=pretrained_meta("teacher")["tag_vocab"], heldout=heldout,
                  mel=MelSpec(**heldout.meta["mel_spec"]),
                  ref_stats=mel_statistics(heldout.mel.float()) if mel_statistics else None,
                  weights=weights)


def pick_clips(n_heldout: int, n: int) -> torch.Tensor:
    """``n`` held-out clip indices spread evenly over the split (deterministic)."""
    if n > n_heldout:
        raise ValueError(f"asked for {n} held-out targets but the split has {n_heldout} clips")
    return torch.linspace(0, n_heldout - 1, n).round().long()


def conditioning(bundle: Bundle, idx: torch.Tensor, *, null: bool = False) -> dict:
    """The clips' tags as the models' ``cond`` (``null=True``: the unconditional condition)."""
    from tempo_kit.data.dataset import encode_tags

    tags = encode_tags([bundle.heldout.records[i]["tags"] for i in idx.tolist()], bundle.tag_vocab)
    return {"tags": tags, "null": torch.full((len(idx),), null)}


# ------------------------------------------------------------------------------------------------------ the tasks
def build_task(task: str, batch: dict, mel) -> list[Objective]:
    """The control objective of ``task`` with one target per held-out clip of ``batch`` (mel-domain extractors)."""
    x = batch["x0"]
    if task == "intensity":
        ext = Intensity(mel=mel)
        target, loss = intensity_from_audio(x, extractor=ext), mse
    elif task == "melody":
        ext = LogChroma(mel=mel)
        pc = batch["pitch_class"]
        target = melody_from_frames(torch.where(pc < 0, IGNORE_INDEX, pc), extractor=ext)
        loss = functools.partial(nll, ignore_index=IGNORE_INDEX)
    elif task == "structure":
        ext = MFCCSelfSimilarity(mel=mel, smoothing=None)  # structure transfer: no smoothing (DITTO App. F)
        target, loss = structure_from_audio(x, extractor=ext), mse
    elif task in ("outpainting", "inpainting"):
        n, fr = x.shape[-1], mel.frame_rate
        ext = (MaskedReconstruction.outpainting(n_frames=n, overlap_s=1.0, frame_rate=fr) if task == "outpainting"
               else MaskedReconstruction.inpainting(n_frames=n, context_s=1.0, frame_rate=fr))
        target, loss = reference_target(x, extractor=ext, kind=task), mse
    else:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    return [Objective(extractor=ext, loss=loss, target=target, name=task)]


def control_metric(task: str, objective: Objective, output: torch.Tensor) -> list[float]:
    """Per-clip control metric of a decoded output: MSE to the target, or melody accuracy in percent."""
    with torch.no_grad():
        feature = objective.extractor(output)
        target = objective.align(feature)
        if task == "melody":
            return (100 * melody_accuracy(feature, target, ignore_index=IGNORE_INDEX)).tolist()
        return mse(feature, target, reduction="none").tolist()


def fad(bundle: Bundle, output: torch.Tensor) -> float | None:
    if bundle.ref_stats is None:
        return None
    from tempo_kit.metrics import frechet_distance, mel_statistics

    return float(frechet_distance(mel_statistics(output), bundle.ref_stats))


def clap_score(bundle: Bundle, output: torch.Tensor, captions: list[str]) -> float | None:
    """Mean cosine similarity of CLAP embeddings of each output and its caption (None without a CLAP model)."""
    if bundle.clap is None:
        return None
    with torch.no_grad():
        a, t = bundle.clap(output), bundle.clap.embed_text(captions)
        return float(torch.nn.functional.cosine_similarity(a, t.to(a), dim=-1).mean())


def measure(bundle: Bundle, *, label: str, seconds: float, nfe: int, output: torch.Tensor, captions: list[str],
            task: str | None = None, objective: Objective | None = None, **extra) -> dict:
    """One table row: time per clip, NFE per generation, FAD, CLAP score and the control metric."""
    row = {"method": label, "seconds_per_clip": seconds / output.shape[0], "seconds_batch": seconds, "nfe": nfe,
           "fad": fad(bundle, output), "clap": clap_score(bundle, output, captions), **extra}
    if task is not None:
        per_clip = control_metric(task, objective, output)
        row.update(metric=sum(per_clip) / len(per_clip), metric_per_clip=per_clip)
    return row


# ---------------------------------------------------------------------------------------------------- the methods
def ditto2_decodings(jump, objectives, *, eps, cond, iterations: int, surrogate_steps, decode_steps, s: Settings):
    """Optimise once through the ``surrogate_steps`` surrogate, then decode the optimised noise with each ``T``.

    The optimisation does not depend on the decoding steps, so decoding-only runs (``iterations=0``) from the
    optimised noise give the other ``T`` at the cost of their decode. Returns ``{T: (optimisation, decoding)}``
    results (the first ``T`` decodes inside the optimisation run).
    """
    gen = lambda: torch.Generator().manual_seed(s.seed + 1)  # noqa: E731 - same decoding noise for every method
    opt = DITTO2(iterations=iterations, lr=s.lr, decode_steps=decode_steps[0], surrogate_steps=surrogate_steps,
                 progress=s.progress)(jump, objectives, eps=eps, cond=cond, generator=gen())
    out = {decode_steps[0]: (opt, opt)}
    for T in decode_steps[1:]:
        out[T] = (opt, DITTO2(iterations=0, decode_steps=T, progress=False)(jump, objectives, eps=opt.eps, cond=cond,
                                                                            generator=gen()))
    return out


def _ditto2_row(bundle, label, opt, dec, *, captions, task, objective, **extra) -> dict:
    return measure(bundle, label=label, seconds=opt.time_optimization + dec.time_decoding,
                   nfe=opt.nfe_optimization + dec.nfe_decoding, output=dec.output, captions=captions, task=task,
                   objective=objective, nfe_optimization=opt.nfe_optimization, nfe_decoding=dec.nfe_decoding, **extra)


def _rank(values, *, reverse=False) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=reverse)
    ranks = [0] * len(values)
    for r, i in enumerate(order):
        ranks[i] = r
    return ranks


def best_decoding(rows: list[dict], task: str) -> dict:
    """The row with the best joint rank of control metric and FAD (DITTO-2 Table 1's "best (M, T)"); ties: fewer steps."""
    ranks = _rank([r["metric"] for r in rows], reverse=task in HIGHER_IS_BETTER)
    fad_ranks = _rank([r["fad"] for r in rows]) if rows[0]["fad"] is not None else [0] * len(rows)
    return min(zip(rows, ranks, fad_ranks), key=lambda z: (z[1] + z[2], z[0]["decode_steps"]))[0]


def run_task(bundle: Bundle, task: str, s: Settings) -> dict:
    """Table 1 for one task: DITTO and DITTO-2 (CM, CTM; every decoding step count) on the same targets and noise."""
    idx = pick_clips(len(bundle.heldout), s.clips)
    batch = bundle.heldout.batch(idx)
    objectives = build_task(task, batch, bundle.mel)
    cond, captions, K = conditioning(bundle, idx), batch["captions"], s.iterations[task]
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(s.seed))
    common = dict(captions=captions, task=task, objective=objectives[0])
    r = DITTO(iterations=K, steps=s.ditto_steps, lr=s.lr, progress=s.progress)(bundle.teacher, objectives, eps=eps,
                                                                                 cond=cond)
    rows = {"ditto": measure(bundle, label=f"DITTO (teacher, Euler {s.ditto_steps} steps, checkpointed)",
                             seconds=r.wall_time, nfe=r.nfe, output=r.output, nfe_optimization=r.nfe_optimization,
                             nfe_decoding=r.nfe_decoding, **common)}
    variants = {}
    for name, jump in (("cm", bundle.cm), ("ctm", bundle.ctm)):
        runs = ditto2_decodings(jump, objectives, eps=eps, cond=cond, iterations=K, surrogate_steps=1,
                                decode_steps=s.decode_steps, s=s)
        variants[name] = [_ditto2_row(bundle, f"DITTO-2 ({name.upper()}, M=1, T={T})", opt, dec, surrogate_steps=1,
                                      decode_steps=T, **common) for T, (opt, dec) in runs.items()]
        rows[name] = best_decoding(variants[name], task)
        if name == "ctm" and task == "intensity":
            variants["_ctm_runs"] = runs  # reused by Table 2
    base = rows["ditto"]
    for row in [base, *variants["cm"], *variants["ctm"]]:
        row["speedup"] = base["seconds_batch"] / row["seconds_batch"]
        row["nfe_ratio"] = base["nfe"] / row["nfe"]
        row["speedup_over_nfe_ratio"] = row["speedup"] / row["nfe_ratio"]
    extra = variants.pop("_ctm_runs", None)
    return {"task": task, "metric": METRIC[task], "iterations": K, "clips": idx.tolist(), "rows": rows,
            "all_decodings": variants, "_ctm_runs": extra, "_ctx": (objectives, cond, captions, eps, K)}


def run_grid(bundle: Bundle, intensity: dict, s: Settings) -> dict:
    """Table 2: the (M, T) grid on intensity with the CTM surrogate (M = 1 reuses Table 1's optimisation)."""
    objectives, cond, captions, eps, K = intensity["_ctx"]
    common = dict(captions=captions, task="intensity", objective=objectives[0])
    runs = {1: intensity["_ctm_runs"]}
    for m in sorted({m for m, _ in GRID if m != 1}, key=str):
        runs[m] = ditto2_decodings(bundle.ctm, objectives, eps=eps, cond=cond, iterations=K, surrogate_steps=m,
                                   decode_steps=sorted({t for mm, t in GRID if mm == m}), s=s)
    rows = []
    for m, t in GRID:
        opt, dec = runs[m][t]
        rows.append(_ditto2_row(bundle, f"M={m}, T={t}", opt, dec, surrogate_steps=m, decode_steps=t, **common))
    base = intensity["rows"]["ditto"]
    for row in rows:
        row["speedup"] = base["seconds_batch"] / row["seconds_batch"]
        row["nfe_ratio"] = base["nfe"] / row["nfe"]
        row["speedup_over_nfe_ratio"] = row["speedup"] / row["nfe_ratio"]
    return {"iterations": K, "rows": rows, "ditto": base}


def teacher_sampler():
    """The teacher's own sampler and step count (its ``pretrained`` table; EDM Heun with 40 steps by default)."""
    from tempo_kit.pretrained import pretrained_meta
    from tempo_kit.registry import get

    meta = pretrained_meta("teacher")
    return get("samplers", meta.get("sampler", "heun")), int(meta.get("steps", 40))


def run_text(bundle: Bundle, s: Settings) -> dict | None:
    """Table 3: CLAP text adherence of the tag-conditioned teacher vs DITTO-2 (CTM) maximising CLAP similarity."""
    if bundle.clap is None:
        return None
    idx = pick_clips(len(bundle.heldout), s.text_clips)
    batch = bundle.heldout.batch(idx)
    captions = batch["captions"]
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(s.seed + 2))
    sampler, steps = teacher_sampler()
    sigmas = sampler.schedule.sigmas(steps)
    cond = conditioning(bundle, idx)
    with count_network_calls(bundle.teacher) as (teacher, counter):
        t0 = time.perf_counter()
        x0 = sampler(teacher, float(sigmas[0]) * eps, sigmas, cond=cond, grad=NoGrad())
        seconds = time.perf_counter() - t0
    rows = [measure(bundle, label=f"Teacher ({type(sampler).__name__}, {steps} steps)", condition="tags",
                    seconds=seconds, nfe=counter.nfe, output=x0, captions=captions)]
    with torch.no_grad():
        text = bundle.clap.embed_text(captions)
    objectives = [Objective(extractor=bundle.clap, loss=cosine, target=Target(value=text, kind="text"), name="text")]
    for condition, null in (("tags", False), ("none (null tags)", True)):
        runs = ditto2_decodings(bundle.ctm, objectives, eps=eps, cond=conditioning(bundle, idx, null=null),
                                iterations=s.text_iterations, surrogate_steps=1, decode_steps=(2,), s=s)
        opt, dec = runs[2]
        rows.append(_ditto2_row(bundle, "DITTO-2 (CTM, M=1, T=2)", opt, dec, condition=condition, captions=captions,
                                task=None, objective=None))
    return {"iterations": s.text_iterations, "clips": idx.tolist(), "rows": rows}


def run_presto(s: Settings) -> dict:
    """The Presto table, delegated to ``benchmarks/bench_quality.py`` (its function API)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import bench_quality  # noqa: F401
    except ImportError as err:
        return {"available": False, "reason": f"benchmarks/bench_quality.py could not be imported ({err})"}
    finally:
        sys.path.pop(0)
    return {"available": False, "reason": "bench_quality.py has no function API yet"}


# ------------------------------------------------------------------------------------------------------- reporting
def claims(table1: dict, presto: dict) -> list[dict]:
    """The two headline claims, checked against this run's figures."""
    out = []
    for surrogate in ("cm", "ctm"):
        checks = []
        for task, res in table1.items():
            d, r = res["rows"]["ditto"], res["rows"][surrogate]
            better = r["metric"] >= d["metric"] if task in HIGHER_IS_BETTER else r["metric"] <= d["metric"]
            checks.append({"task": task, "speedup": r["speedup"], "control_ok": better, "ditto_metric": d["metric"],
                           "ditto2_metric": r["metric"], "met": r["speedup"] >= 10 and better})
        out.append({"claim": f"DITTO-2 ({surrogate.upper()}) is at least 10x faster than DITTO on every task with an "
                             "equal or better control metric", "met": all(c["met"] for c in checks), "checks": checks})
    p = presto.get("claim")
    out.append(p or {"claim": "Presto-LS is at least 10x faster than the 40-step teacher with FAD within 25%",
                     "met": None, "reason": presto.get("reason", "not measured")})
    return out


def _f(x, digits=3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.0f}"


def markdown(results: dict) -> str:
    meta, s = results["meta"], results["settings"]
    lines = [f"# Reproducing the DITTO-2 and Presto tables ({s['mode']} run)", "",
             f"Run {meta['date']} on {meta['machine']} ({meta['threads']} torch threads, load average "
             f"{meta['load_average']}), torch {meta['torch']}, {meta['wall_minutes']:.1f} min in all. Weights: "
             + ", ".join(f"{n} {w['sha256']}" for n, w in meta["weights"].items()) + ".", "",
             f"{s['clips']} held-out targets per task in one batch; DITTO and DITTO-2 run the same K per task "
             f"({', '.join(f'{t} {k}' for t, k in s['iterations'].items())}), Adam lr {s['lr']}. Time is wall "
             "seconds per clip (batch time / batch size); NFE counts network calls per generation (checkpoint "
             "recomputation included, no CFG: the distilled models have no guidance weight, so the teacher runs "
             "unguided too). Speed-up and NFE ratio are against DITTO in the same run; *eff.* = speed-up / NFE "
             "ratio (1 = time falls exactly with the network calls). Extractors read mel frames (no vocoder).", ""]
    lines += ["## Table 1: controllable generation (DITTO-2 Table 1)", "",
              "| task | method | time (s/clip) | NFE | speed-up | NFE ratio | eff. | FAD | CLAP | control metric |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for task, res in results["table1"].items():
        for key in ("ditto", "cm", "ctm"):
            r = res["rows"][key]
            lines.append(f"| {task} | {r['method']} | {_f(r['seconds_per_clip'])} | {r['nfe']} | {_f(r['speedup'])}x "
                         f"| {_f(r['nfe_ratio'])} | {_f(r['speedup_over_nfe_ratio'], 2)} | {_f(r['fad'])} "
                         f"| {_f(r['clap'])} | {_f(r['metric'], 4)} {res['metric']} |")
    lines += ["", "Every decoding step count (the rows above are the best joint rank of control metric and FAD):", "",
              "| task | surrogate | T | time (s/clip) | NFE | speed-up | FAD | CLAP | control metric |",
              "|---|---|---|---|---|---|---|---|---|"]
    for task, res in results["table1"].items():
        for name, rows in res["all_decodings"].items():
            for r in rows:
                lines.append(f"| {task} | {name.upper()} | {r['decode_steps']} | {_f(r['seconds_per_clip'])} "
                             f"| {r['nfe']} | {_f(r['speedup'])}x | {_f(r['fad'])} | {_f(r['clap'])} "
                             f"| {_f(r['metric'], 4)} |")
    g = results.get("table2")
    if g:
        d = g["ditto"]
        lines += ["", "## Table 2: (M, T) grid on intensity, CTM surrogate (DITTO-2 Table 2)", "",
                  f"DITTO on the same targets: {_f(d['seconds_per_clip'])} s/clip, {d['nfe']} NFE, FAD {_f(d['fad'])}, "
                  f"MSE {_f(d['metric'], 4)}.", "",
                  "| M | T | time (s/clip) | NFE (opt + decode) | speed-up | NFE ratio | eff. | FAD | CLAP | MSE (dB^2) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in g["rows"]:
            lines.append(f"| {r['surrogate_steps']} | {r['decode_steps']} | {_f(r['seconds_per_clip'])} | {r['nfe']} "
                         f"({r['nfe_optimization']} + {r['nfe_decoding']}) | {_f(r['speedup'])}x | {_f(r['nfe_ratio'])} "
                         f"| {_f(r['speedup_over_nfe_ratio'], 2)} | {_f(r['fad'])} | {_f(r['clap'])} "
                         f"| {_f(r['metric'], 4)} |")
    t = results.get("table3")
    lines += ["", "## Table 3: text adherence (DITTO-2 Table 3)", ""]
    if t:
        lines += [f"{len(t['clips'])} held-out captions; DITTO-2 maximises the bundled CLAP model's similarity to the "
                  f"caption for K = {t['iterations']} steps. The CLAP score uses the same model, so it measures "
                  "adherence to that model only.", "",
                  "| method | condition | time (s/clip) | NFE | FAD | CLAP |", "|---|---|---|---|---|---|"]
        for r in t["rows"]:
            lines.append(f"| {r['method']} | {r['condition']} | {_f(r['seconds_per_clip'])} | {r['nfe']} "
                         f"| {_f(r['fad'])} | {_f(r['clap'])} |")
    else:
        lines.append("Not run: no bundled `clap` model in the weights folder.")
    lines += ["", "## Presto table", ""]
    p = results["presto"]
    lines += ([p["markdown"]] if p.get("markdown") else
              [f"Produced by `benchmarks/bench_quality.py` (see its results under `benchmarks/results/`); not "
               f"included in this run: {p.get('reason')}."])
    lines += ["", "## Claims", ""]
    for c in results["claims"]:
        verdict = {True: "MET", False: "NOT MET", None: "NOT CHECKED"}[c["met"]]
        lines.append(f"- **{verdict}**: {c['claim']}.")
        for ch in c.get("checks", []):
            lines.append(f"    - {ch['task']}: {ch['speedup']:.1f}x faster; control {_f(ch['ditto2_metric'], 4)} vs "
                         f"DITTO {_f(ch['ditto_metric'], 4)} ({'equal or better' if ch['control_ok'] else 'worse'})")
        if c.get("detail"):
            lines.append(f"    - {c['detail']}")
        if c.get("reason"):
            lines.append(f"    - {c['reason']}")
    notes = results.get("notes")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _fad_scale(rows) -> float:
    return 200 / max([r["fad"] or 0 for r in rows] + [1e-9])


def plots(results: dict, out: Path) -> list[Path]:
    """Fig. 4-style trade-off per task (time vs control metric, marker area ~ FAD) and the Table 2 grid."""
    from matplotlib.figure import Figure

    paths = []
    t1 = results["table1"]
    fig = Figure(figsize=(3.2 * len(t1), 3.0), layout="constrained")
    for k, (task, res) in enumerate(t1.items()):
        ax = fig.add_subplot(1, len(t1), k + 1)
        rows = [("DITTO", "k", [res["rows"]["ditto"]])] + [(n.upper(), c, res["all_decodings"][n])
                                                           for n, c in (("cm", "C0"), ("ctm", "C1"))]
        scale = _fad_scale([r for _, _, rs in rows for r in rs])
        for name, color, rs in rows:
            ax.scatter([r["seconds_per_clip"] for r in rs], [r["metric"] for r in rs], s=[20 + scale * (r["fad"] or 0) for r in rs],
                       c=color, alpha=0.6, label=name)
            for r in rs:
                if "decode_steps" in r:
                    ax.annotate(str(r["decode_steps"]), (r["seconds_per_clip"], r["metric"]), fontsize=7)
        ax.set(xscale="log", title=task, xlabel="s / clip", ylabel=res["metric"])
    fig.axes[0].legend(fontsize=7)
    paths.append(out / "reproduce_tradeoff.png")
    fig.savefig(paths[-1], dpi=80)
    g = results.get("table2")
    if g:
        fig = Figure(figsize=(4.5, 3.2), layout="constrained")
        ax = fig.add_subplot()
        rows = [g["ditto"] | {"surrogate_steps": "DITTO", "decode_steps": s_} for s_ in [results["settings"]["ditto_steps"]]]
        rows += g["rows"]
        scale = _fad_scale(rows)
        for r in rows:
            ax.scatter(r["seconds_per_clip"], r["metric"], s=20 + scale * (r["fad"] or 0), alpha=0.6,
                       c="k" if r["surrogate_steps"] == "DITTO" else "C1")
            ax.annotate(f"{r['surrogate_steps']}/{r['decode_steps']}", (r["seconds_per_clip"], r["metric"]), fontsize=7)
        ax.set(xscale="log", xlabel="s / clip", ylabel="intensity MSE (dB^2)",
               title="Intensity, M/T (marker area ~ FAD)")
        paths.append(out / "reproduce_grid.png")
        fig.savefig(paths[-1], dpi=80)
    return paths


def _public(obj):
    """Drop the private (``_``-prefixed) entries that hold tensors and results."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_public(v) for v in obj]
    return obj


def run(s: Settings, *, data: Path, out: Path, assets: Path | None = None, weights: Path | None = None) -> dict:
    """Run every table with settings ``s`` and write ``results.json``, ``report.md`` and plots to ``out``."""
    from tempo_kit.pretrained import WEIGHTS_ENV

    if weights is not None:
        os.environ[WEIGHTS_ENV] = str(weights)
    start = time.perf_counter()
    bundle = load_bundle(data)
    table1 = {task: run_task(bundle, task, s) for task in s.tasks}
    table2 = run_grid(bundle, table1["intensity"], s) if "intensity" in table1 else None
    table3 = run_text(bundle, s)
    presto = run_presto(s)
    results = {
        "settings": attrs.asdict(s),
        "table1": table1, "table2": table2, "table3": table3, "presto": presto,
        "claims": claims(table1, presto),
        "notes": [] if bundle.clap is not None else ["No bundled CLAP model: CLAP scores and Table 3 are missing."],
    }
    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()} "
        f"{os.cpu_count()} cores", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()), "weights": bundle.weights,
        "data": str(data), "heldout_clips": len(bundle.heldout), "wall_minutes": (time.perf_counter() - start) / 60}
    results = _public(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "report.md").write_text(markdown(results))
    for path in plots(results, out):
        if assets is not None:
            assets.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, assets / path.name)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI mode: 2 targets per task, K = 8")
    parser.add_argument("--data", type=Path, default=ROOT / "outputs" / "data" / "music", help="dataset folder")
    parser.add_argument("--weights", type=Path, default=None,
                        help="bundled-models folder (default: $TEMPO_KIT_WEIGHTS or tempo_kit/weights)")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--assets", default=None,
                        help="folder the plots are copied to for the docs page ('' for none; default: docs/assets "
                             "for a full run, none for --quick)")
    parser.add_argument("--clips", type=int, default=None, help="held-out targets per task (overrides the preset)")
    parser.add_argument("--iterations", type=int, default=None, help="K for every task (overrides the preset)")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of " + ",".join(TASKS))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = "quick" if args.quick else "full"
    tasks = tuple(args.tasks.split(",")) if args.tasks else None
    if tasks and "intensity" not in tasks:
        tasks = ("intensity", *tasks)  # Table 2 builds on the intensity run
    iterations = {t: args.iterations for t in TASKS} if args.iterations else None
    s = settings(mode, clips=args.clips, iterations=iterations, tasks=tasks, progress=not args.no_progress,
                 text_clips=args.clips, text_iterations=args.iterations)
    out = args.out or ROOT / "benchmarks" / "results" / "reproduce" / ("quick" if args.quick else "")
    assets = args.assets if args.assets is not None else ("" if args.quick else str(ROOT / "docs" / "assets"))
    results = run(s, data=args.data, out=out, assets=Path(assets) if assets else None, weights=args.weights)
    print((out / "report.md").read_text())
    return results


if __name__ == "__main__":
    main()
