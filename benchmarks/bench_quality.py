"""Generation quality and speed of the bundled reference models: FAD, CLAP score, latency, real-time factor, NFE.

For every system (the teacher with EDM Heun at 20 and 40 steps, CM, CTM and Presto-S at a few step counts, the
layer-dropped teachers ASE and Presto-L, Presto-LS, an untrained network and a noise baseline) the benchmark

1. generates ``n_clips`` mel clips conditioned on the tags of the held-out clips (clip ``i`` takes the tags of held-out
   clip ``i mod n_heldout``), from the same initial noise ``x_T = sigma_max * eps_i`` and the same per-step noise in
   every system, in batches, without classifier-free guidance (``w = 1``: one network call per denoiser evaluation;
   the bundled students were distilled from the unguided teacher);
2. computes the Fréchet distance to the held-out clips on two embeddings: :func:`~tempo_kit.metrics.mel_statistics`
   (``FAD mel``) and the bundled CLAP-style audio embedding (``FAD CLAP``), plus the CLAP score (cosine between each
   clip's audio embedding and the caption of the held-out clip whose tags it was given);
3. times one clip at batch 1 (two warm-up calls, then ``latency_repeats`` interleaved rounds over all systems so load
   changes hit all alike, a cheap system repeated within a round to last about 0.25 s; the median round is
   reported), counts the network calls (NFE) and transformer-block evaluations
   of that clip, and derives the per-step latency, the real-time factor (seconds of audio per second of wall time;
   also with the bundled vocoder's batch-1 time added) and, against the 40-step teacher, the measured speed-up next
   to the NFE ratio.

Reference rows: ``noise`` is :func:`~tempo_kit.metrics.average_spectrum_noise` (white noise per mel bin with the
held-out clips' per-bin mean and spread); ``untrained`` is the teacher's architecture with random weights (PyTorch's
default init, every zero-initialised parameter re-drawn with std 0.02, so the network is not the identity)
sampled like the teacher; ``real (train)`` is ``n_clips`` random training clips (other pieces than the held-out
ones), the floor an FAD can reach at this sample size, scored for CLAP against their own captions.

Writes ``quality.json``, ``quality.md`` and ``quality_fad_steps.png`` to ``--out`` (default benchmarks/results).
Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quality.py [--n-clips 200] [--quick]``. Models are read
with :func:`tempo_kit.pretrained.load_pretrained` (``$TEMPO_KIT_WEIGHTS`` or ``--weights`` picks another folder); a
system whose model is not bundled is skipped and listed as missing.

The function API (:func:`run_quality`, :func:`write_results`, :func:`markdown`) is what other scripts call.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import torch

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1] / "outputs" / "data" / "music"
TEACHER = "teacher-heun-40"  # the reference row for speed-ups and FAD targets
FEW_STEP = ("presto-s", "cm", "ctm", "presto-ls")  # families of the step-count plot
TARGETS = {"far_below": 0.5, "presto_s_fad_ratio": 1.25, "presto_s_speedup": 10.0}


@attrs.frozen(kw_only=True)
class System:
    """One row of the benchmark.

    Parameters
    ----------
    name : str
        Row label, e.g. ``"presto-s-4"``.
    family : str
        Group for the step-count plot (``"teacher"``, ``"cm"``, ``"ctm"``, ``"presto-s"``, ...).
    model : str or None
        Bundled model (:func:`tempo_kit.pretrained.load_pretrained`); ``None`` for the built-in reference rows.
    sampler : str or None
        Registered sampler; ``None`` for rows that do not sample.
    steps : int
        Sampling steps.
    sampler_kwargs : dict
        Keyword arguments of the sampler (e.g. ``{"gamma": 0.2}``).
    grid : int
        0: the sampler's default schedule (``sampler.schedule.sigmas(steps)``, what ``tempo_kit.generate`` uses);
        ``N > 0``: ``steps`` levels picked from the ``N``-step teacher grid (:func:`~tempo_kit.schedules.decoding_sigmas`,
        as DITTO-2 decodes). The Karras schedule's last level before 0 is ``sigma_min``, where a jump sampler's last
        step changes almost nothing; the teacher-grid levels avoid that.
    """

    name: str
    family: str
    model: str | None = None
    sampler: str | None = None
    steps: int = 0
    sampler_kwargs: dict = attrs.field(factory=dict)
    grid: int = 0

    def sigmas(self, sampler) -> torch.Tensor:
        """The noise levels this row samples with."""
        from tempo_kit.schedules import decoding_sigmas, teacher_grid

        return decoding_sigmas(self.steps, grid=teacher_grid(self.grid)) if self.grid else sampler.schedule.sigmas(self.steps)


def default_systems(*, quick: bool = False) -> list[System]:
    """The benchmark's rows; ``quick`` keeps the baselines, the 40-step teacher and one or two step counts per student."""
    few = (1, 4) if quick else (1, 2, 4)
    rows = [System(name="real (train)", family="real"), System(name="noise", family="baseline"),
            System(name="untrained", family="baseline", model="teacher", sampler="heun", steps=40)]
    if not quick:
        rows.append(System(name="teacher-heun-20", family="teacher", model="teacher", sampler="heun", steps=20))
    rows.append(System(name=TEACHER, family="teacher", model="teacher", sampler="heun", steps=40))
    rows += [System(name=f"cm-{n}", family="cm", model="cm", sampler="cm", steps=n) for n in few]
    rows += [System(name=f"ctm-{n}", family="ctm", model="ctm", sampler="ctm-gamma", steps=n,
                    sampler_kwargs={"gamma": 0.2}) for n in few]
    rows += [System(name=f"presto-s-{n}", family="presto-s", model="presto-s", sampler="presto-s", steps=n)
             for n in ((1, 4) if quick else (1, 2, 4, 8))]
    rows += [System(name="ase-heun-40", family="ase", model="ase", sampler="heun", steps=40),
             System(name="presto-l-heun-40", family="presto-l", model="presto-l", sampler="heun", steps=40)]
    rows += [System(name=f"presto-ls-{n}", family="presto-ls", model="presto-ls", sampler="presto-s", steps=n)
             for n in ((4,) if quick else (1, 2, 4))]
    if not quick:  # the same generators at decoding levels from the 20-step teacher grid (see System.grid)
        for family, sampler, kwargs, steps in (("cm", "cm", {}, (2, 4)), ("ctm", "ctm-gamma", {"gamma": 0.2}, (2, 4)),
                                               ("presto-s", "presto-s", {}, (2, 4, 8)), ("presto-ls", "presto-s", {}, (2, 4))):
            rows += [System(name=f"{family}-{n} grid", family=f"{family} grid", model=family, sampler=sampler, steps=n,
                            sampler_kwargs=kwargs, grid=20) for n in steps]
    return rows


# -- models ------------------------------------------------------------------------------------------------------------
def _precond(model):
    """The EDM preconditioner inside a denoiser or jump (follows ``.denoiser``)."""
    from tempo_kit.denoisers import EDMPrecond

    node = model
    while not isinstance(node, EDMPrecond):
        node = getattr(node, "denoiser", None)
        if node is None:
            raise TypeError(f"{type(model).__name__} wraps no EDMPrecond; cannot count its network calls")
    return node


@contextlib.contextmanager
def counting(model):
    """Count raw-network calls (NFE) and transformer-block evaluations of ``model`` while the context is open.

    Wraps the preconditioner's raw network (a :class:`~tempo_kit.routers.RoutedNet` counts as one call however many
    blocks it runs) with an :class:`~tempo_kit.denoisers.NFECounter` and hooks every block. Yields a dict with
    ``nfe`` and ``blocks`` that is updated in place.
    """
    from tempo_kit.denoisers import NFECounter

    pre = _precond(model)
    net = pre.net
    blocks = getattr(getattr(net, "net", net), "blocks", [])
    counts = {"nfe": 0, "blocks": 0}
    counter = NFECounter(net)

    def hook(*_):
        counts["blocks"] += 1

    handles = [b.register_forward_hook(hook) for b in blocks]
    pre.net = counter
    try:
        yield counts
    finally:
        counts["nfe"] = counter.nfe
        pre.net = net
        for h in handles:
            h.remove()


def untrained_like(name: str = "teacher", *, seed: int = 0):
    """The bundled model's architecture with random weights, as an EDM denoiser (see the module docstring)."""
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.models.io import build_model
    from tempo_kit.pretrained import model_dir

    meta = json.loads((model_dir(name) / "config.json").read_text())
    with torch.random.fork_rng(devices=[]):  # PyTorch's default initialisers draw from the global generator
        torch.manual_seed(seed)
        net = build_model({"model": meta["model"], "config": meta["config"]})
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # zero-initialised parameters (adaLN-Zero, output and refiner layers) would make F = 0
        for p in net.parameters():
            if not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    net.requires_grad_(False)
    precond = {k: v for k, v in meta.get("precond", {}).items() if k in ("sigma_data",)}
    return EDMPrecond(net=net, **precond).eval()


def _model_cond(model_name: str, records: list[dict], idx: list[int]) -> dict:
    """``{"tags": multi-hot}`` of the given held-out records in the model's own tag vocabulary."""
    from tempo_kit.data.dataset import encode_tags
    from tempo_kit.pretrained import pretrained_meta

    vocab = {f: tuple(v) for f, v in pretrained_meta(model_name)["tag_vocab"].items()}
    return {"tags": encode_tags([records[i]["tags"] for i in idx], vocab)}


# -- generation and timing ---------------------------------------------------------------------------------------------
def _generate(model, sampler, sigmas: torch.Tensor, eps: torch.Tensor, cond_fn, *, batch_size: int, noise_seed: int,
              progress: bool, label: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    from tempo_kit.samplers import draw_noise

    steps = len(sigmas) - 1
    gen = torch.Generator().manual_seed(noise_seed)
    out = []
    for start in tqdm(range(0, len(eps), batch_size), desc=label, disable=not progress, leave=False):
        idx = list(range(start, min(start + batch_size, len(eps))))
        x_T = sigmas[0] * eps[idx]
        noise = draw_noise(steps, x_T, gen) if sampler.needs_noise else None
        with torch.inference_mode():
            out.append(sampler(model, x_T, sigmas, cond=cond_fn(idx), noise=noise))
    return torch.cat(out)


def _latency_rounds(runs: dict[str, Any], repeats: int, *, min_seconds: float = 0.25) -> dict[str, list[float]]:
    """Seconds per call of each callable in ``repeats`` interleaved rounds (so load changes hit all alike).

    Two warm-up calls each; a round of a cheap callable runs it ``k`` times back to back (``k`` chosen from the second
    warm-up so a round lasts about ``min_seconds``, at most 50) and reports the mean, which damps scheduler jitter.
    """
    inner = {}
    for name, fn in runs.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, min(50, math.ceil(min_seconds / max(time.perf_counter() - t0, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / inner[name])
    return times


def _embed_chunks(fn, x, chunk: int = 64) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([fn(x[i:i + chunk]).float() for i in range(0, len(x), chunk)])


# -- the benchmark -----------------------------------------------------------------------------------------------------
def run_quality(*, n_clips: int = 200, heldout: str | os.PathLike = DATA, systems: list[System] | None = None,
                quick: bool = False, batch_size: int = 50, latency_repeats: int = 5, threads: int = 1, seed: int = 0,
                mel_bands: int = 16, progress: bool = True) -> dict:
    """Run the benchmark and return its results as a JSON-able dict (see :func:`write_results`, :func:`markdown`).

    Parameters
    ----------
    n_clips : int
        Generated clips per system (>= 2).
    heldout : path
        Dataset folder (:class:`~tempo_kit.data.MusicDataset`); its ``heldout`` split is the FAD reference and the
        source of the conditioning tags and captions, its ``train`` split (if any) the ``real (train)`` row.
    systems : list of System, optional
        Default :func:`default_systems` (``quick`` picks the short list).
    batch_size : int
        Generation batch size (timing is always at batch 1).
    latency_repeats : int
        Interleaved timing rounds (median reported).
    threads : int
        ``torch.set_num_threads`` for the whole run.
    seed : int
        Seed of the initial noise, the per-step noise and the baselines (the same in every system).
    mel_bands : int
        Bands of the mel-statistics embedding (capped at the number of mel bins).
    """
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.metrics import average_spectrum_noise, clap_score, frechet_distance, mel_statistics
    from tempo_kit.pretrained import available, load_pretrained, weights_dir
    from tempo_kit.registry import get

    if n_clips < 2:
        raise ValueError(f"n_clips must be >= 2, got {n_clips}")
    torch.set_num_threads(threads)
    systems = default_systems(quick=quick) if systems is None else systems
    t_start = time.perf_counter()
    held = MusicDataset(heldout, split="heldout")
    ref_mel = held.mel.float()
    n_mels, frames = ref_mel.shape[1:]
    clip_seconds = frames * held.hop_length / held.sample_rate
    bands = min(mel_bands, n_mels)
    idx_all = list(range(n_clips))
    src = [i % len(held) for i in idx_all]  # held-out clip whose tags and caption clip i uses
    captions = [held.records[i]["caption"] for i in src]
    bundled = set(available())

    clap = load_pretrained("clap") if "clap" in bundled else None
    vocoder = load_pretrained("vocoder") if "vocoder" in bundled else None

    def embed(mel: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"mel": mel_statistics(mel, n_bands=bands)}
        if clap is not None:
            out["clap"] = _embed_chunks(clap.embed_audio, mel)
        return out

    ref_emb = embed(ref_mel)
    def embed_text(texts: list[str]) -> torch.Tensor | None:
        if clap is None:
            return None
        with torch.inference_mode():
            return clap.embed_text(texts).float()

    text_emb = embed_text(captions)

    eps = torch.randn(n_clips, n_mels, frames, generator=torch.Generator().manual_seed(seed))
    models: dict[str, Any] = {}
    missing: list[str] = []
    rows: list[dict] = []
    latency_runs: dict[str, Any] = {}
    for system in systems:
        row: dict[str, Any] = {"name": system.name, "family": system.family, "model": system.model,
                               "sampler": system.sampler, "steps": system.steps, **system.sampler_kwargs}
        if system.grid:
            row["grid"] = system.grid
        t0 = time.perf_counter()
        row_text = text_emb  # the captions a row's clips are scored against
        if system.family == "baseline" and system.sampler is None:
            mel = average_spectrum_noise(ref_mel, n_clips, generator=torch.Generator().manual_seed(seed + 2))
        elif system.family == "real":
            try:
                train = MusicDataset(heldout, split="train")
            except ValueError:
                missing.append(f"{system.name} (no train split)")
                continue
            pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 3))[:n_clips]
            mel = train.mel[pick].float()
            row_text = embed_text([train.records[i]["caption"] for i in pick.tolist()])
        else:
            if system.model not in bundled:
                missing.append(f"{system.name} (bundled model {system.model!r} not in {weights_dir()})")
                continue
            if system.name == "untrained":
                model = untrained_like(system.model, seed=seed)
            else:
                model = models.get(system.model) or models.setdefault(system.model, load_pretrained(system.model))
            sampler = get("samplers", system.sampler, **system.sampler_kwargs)
            name = system.model

            def cond_fn(idx, name=name):
                return _model_cond(name, held.records, [src[i] for i in idx])

            sigmas = system.sigmas(sampler)
            mel = _generate(model, sampler, sigmas, eps, cond_fn, batch_size=batch_size, noise_seed=seed + 1,
                            progress=progress, label=system.name)
            row["batched_s_per_clip"] = (time.perf_counter() - t0) / n_clips
            one_cond = cond_fn([0])
            x1 = sigmas[0] * eps[:1]
            noise1 = (torch.randn((system.steps, *x1.shape), generator=torch.Generator().manual_seed(seed + 4))
                      if sampler.needs_noise else None)

            def one_clip(model=model, sampler=sampler, x1=x1, sigmas=sigmas, cond=one_cond, noise=noise1):
                with torch.inference_mode():
                    return sampler(model, x1, sigmas, cond=cond, noise=noise)

            with counting(model) as counts:
                one_clip()
            depth = len(getattr(getattr(_precond(model).net, "net", _precond(model).net), "blocks", [])) or None
            row.update(nfe=counts["nfe"], nfe_expected=sampler.nfe(system.steps), blocks=counts["blocks"],
                       block_fraction=counts["blocks"] / (counts["nfe"] * depth) if depth and counts["nfe"] else None)
            latency_runs[system.name] = one_clip
        if not torch.isfinite(mel).all():
            row["nonfinite_clips"] = int((~torch.isfinite(mel)).flatten(1).any(1).sum())
            mel = torch.nan_to_num(mel, nan=0.0, posinf=10.0, neginf=-10.0)
        emb = embed(mel)
        row["fad_mel"] = frechet_distance(emb["mel"], ref_emb["mel"])
        if clap is not None:
            row["fad_clap"] = frechet_distance(emb["clap"], ref_emb["clap"])
            row["clap_score"] = float(clap_score(emb["clap"], row_text).mean())
        row["eval_wall_s"] = time.perf_counter() - t0
        rows.append(row)

    rounds = _latency_rounds(latency_runs, latency_repeats)
    latency = {name: statistics.median(ts) for name, ts in rounds.items()}
    vocoder_s = None
    if vocoder is not None:
        mel1 = ref_mel[:1]

        def vocode():
            with torch.inference_mode():
                return vocoder(mel1)

        vocoder_s = statistics.median(_latency_rounds({"vocoder": vocode}, latency_repeats)["vocoder"])
    by_name = {r["name"]: r for r in rows}
    teacher = by_name.get(TEACHER)
    for row in rows:
        if row["name"] not in latency:
            continue
        lat = latency[row["name"]]
        row.update(latency_s=lat, latency_rounds_s=rounds[row["name"]], latency_per_step_s=lat / row["steps"],
                   latency_per_nfe_s=lat / max(row["nfe"], 1),
                   rtf=clip_seconds / lat)
        if vocoder_s is not None:
            row["rtf_with_vocoder"] = clip_seconds / (lat + vocoder_s)
        if teacher is not None and "latency_s" in teacher:
            row["speedup_vs_teacher"] = teacher["latency_s"] / lat
            row["nfe_ratio_vs_teacher"] = teacher["nfe"] / max(row["nfe"], 1)
            row["speedup_over_nfe_ratio"] = row["speedup_vs_teacher"] / row["nfe_ratio_vs_teacher"]
    reference = {"n_heldout": len(held)}
    if clap is not None:
        reference["clap_score_heldout"] = float(clap_score(ref_emb["clap"], embed_text(held.captions)).mean())
    result = {
        "meta": {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "n_clips": n_clips, "n_heldout": len(held), "clip_seconds": clip_seconds, "quick": quick,
            "batch_size": batch_size, "latency_repeats": latency_repeats, "threads": threads, "seed": seed,
            "mel_bands": bands, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0], "weights_dir": str(weights_dir()),
            "heldout": str(heldout), "bundled": sorted(bundled), "missing": missing,
            "guidance": "w = 1 (no classifier-free guidance) for every system",
            "vocoder_latency_s": vocoder_s, "clap": clap is not None, "wall_s": None,
        },
        "reference": reference,
        "systems": rows,
    }
    result["checks"] = target_checks(result)
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    return result


# -- report --------------------------------------------------------------------------------------------------------------
def target_checks(result: dict) -> list[dict]:
    """The issue's targets as ``{"target", "met" (True / False / None = not measurable), "detail"}``."""
    rows = {r["name"]: r for r in result["systems"]}
    meta = result["meta"]
    checks = []

    def add(target, met, detail):
        checks.append({"target": target, "met": met, "detail": detail})

    enough = meta["n_clips"] >= 200 and meta["n_heldout"] >= 200
    add("at least 200 generated and 200 held-out clips", enough,
        f"{meta['n_clips']} generated per system, {meta['n_heldout']} held-out")
    t = rows.get(TEACHER)
    for key, label in (("fad_mel", "FAD mel"), ("fad_clap", "FAD CLAP")):
        if t is None or key not in t:
            add(f"teacher {label} far below untrained and noise", None, "teacher or embedding not available")
            continue
        others = {n: rows[n][key] for n in ("untrained", "noise") if n in rows and key in rows[n]}
        worst = min(others.values()) if others else None
        met = None if worst is None else t[key] <= TARGETS["far_below"] * worst
        detail = f"teacher {t[key]:.4g} vs " + ", ".join(f"{n} {v:.4g}" for n, v in others.items())
        if worst is not None:
            detail += f" (ratio to the closer baseline {t[key] / worst:.3f}; target <= {TARGETS['far_below']})"
        add(f"teacher {label} far below untrained and noise (at most {TARGETS['far_below']:g}x the closer one)", met,
            detail)
    p = rows.get("presto-s-4")
    for key, label in (("fad_mel", "FAD mel"), ("fad_clap", "FAD CLAP")):
        if t is None or p is None or key not in p or key not in t:
            add(f"Presto-S 4-step {label} within 25% of the teacher's", None, "Presto-S, teacher or embedding missing")
            continue
        ratio = p[key] / max(t[key], 1e-12)
        add(f"Presto-S 4-step {label} within 25% of the teacher's", ratio <= TARGETS["presto_s_fad_ratio"],
            f"Presto-S-4 {p[key]:.4g} vs teacher {t[key]:.4g}: ratio {ratio:.3f} (target <= 1.25)")
    if t is not None and p is not None and "latency_s" in p:
        add("Presto-S 4-step at least 10x faster per clip than the teacher", p["speedup_vs_teacher"] >= 10,
            f"{1e3 * t['latency_s']:.1f} ms vs {1e3 * p['latency_s']:.1f} ms per clip: {p['speedup_vs_teacher']:.1f}x "
            f"(NFE {t['nfe']} vs {p['nfe']}: {p['nfe_ratio_vs_teacher']:.2f}x)")
    else:
        add("Presto-S 4-step at least 10x faster per clip than the teacher", None, "Presto-S or teacher missing")
    ls, s = rows.get("presto-ls-4"), rows.get("presto-s-4")
    if ls is not None and s is not None and "latency_s" in ls and "latency_s" in s:
        add("Presto-LS faster per step than Presto-S (4 steps)", ls["latency_per_step_s"] < s["latency_per_step_s"],
            f"{1e3 * ls['latency_per_step_s']:.2f} vs {1e3 * s['latency_per_step_s']:.2f} ms per step "
            f"({s['latency_per_step_s'] / ls['latency_per_step_s']:.2f}x); blocks per clip {ls['blocks']} vs "
            f"{s['blocks']}")
    else:
        add("Presto-LS faster per step than Presto-S (4 steps)", None, "Presto-LS or Presto-S missing")
    return checks


def step_trend(result: dict, key: str = "fad_mel") -> dict[str, list[tuple[int, float]]]:
    """``family -> [(steps, value of key), ...]`` for the few-step families (with and without ``grid``)."""
    out: dict[str, list] = {}
    for r in result["systems"]:
        if r["family"].removesuffix(" grid") in FEW_STEP and key in r:
            out.setdefault(r["family"], []).append((r["steps"], r[key]))
    return {k: sorted(v) for k, v in out.items()}


def _fmt(value, spec: str = ".3g", scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def markdown(result: dict, *, plot_name: str | None = "quality_fad_steps.png") -> str:
    """The Markdown report of :func:`run_quality`'s result."""
    meta, ref = result["meta"], result["reference"]
    word = {True: "**MET**", False: "**NOT MET**", None: "not measured"}
    lines = ["# Generation quality and speed of the bundled models", "", "<!-- --8<-- [start:report] -->",
             f"{meta['n_clips']} generated clips per system against {meta['n_heldout']} held-out clips "
             f"({meta['clip_seconds']:.2f} s each), {meta['date_utc']} UTC, CPU ({meta['cpus']} cores, 1-min load "
             f"average {meta['load_average_1min']:.1f} at the end), {meta['threads']} intra-op thread(s), torch "
             f"{meta['torch']}; {meta['guidance']}. Produced by `benchmarks/bench_quality.py` (method in its "
             f"docstring){' in quick mode' if meta['quick'] else ''}; total wall time {meta['wall_s']:.0f} s. Absolute "
             "times depend on the machine's load; ratios are taken within one run.", ""]
    if meta["missing"]:
        lines += ["Not measured: " + "; ".join(meta["missing"]) + ".", ""]
    lines += ["## Targets", ""]
    lines += [f"- {word[c['met']]} {c['target']}: {c['detail']}." for c in result["checks"]]
    lines += ["", "## All systems", "",
              "Latency: one clip at batch 1 (median of the interleaved timing rounds). RTF: seconds of audio per second of wall "
              "time" + (f" (with vocoder: plus its {1e3 * meta['vocoder_latency_s']:.1f} ms per clip)"
                        if meta["vocoder_latency_s"] is not None else "; no vocoder bundled") +
              ". NFE: network calls per clip (counted); blocks: transformer blocks evaluated per clip. Speed-up and "
              f"NFE ratio are relative to `{TEACHER}`; their quotient is 1 when time is proportional to NFE.", "",
              "| system | steps | NFE | blocks | latency (ms) | per step (ms) | RTF | RTF +voc | batched (ms/clip) | "
              "speed-up | NFE ratio | speed-up / NFE ratio | FAD mel | FAD CLAP | CLAP score |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["systems"]:
        lines.append(
            f"| {r['name']} | {r['steps'] or '-'} | {r.get('nfe', '-')} | {r.get('blocks', '-')} | "
            f"{_fmt(r.get('latency_s'), '.1f', 1e3)} | {_fmt(r.get('latency_per_step_s'), '.2f', 1e3)} | "
            f"{_fmt(r.get('rtf'), '.1f')} | {_fmt(r.get('rtf_with_vocoder'), '.1f')} | "
            f"{_fmt(r.get('batched_s_per_clip'), '.1f', 1e3)} | {_fmt(r.get('speedup_vs_teacher'), '.2f')} | "
            f"{_fmt(r.get('nfe_ratio_vs_teacher'), '.2f')} | {_fmt(r.get('speedup_over_nfe_ratio'), '.2f')} | "
            f"{_fmt(r['fad_mel'], '.4g')} | {_fmt(r.get('fad_clap'), '.4g')} | {_fmt(r.get('clap_score'), '.3f')} |")
    if "clap_score_heldout" in ref:
        lines += ["", f"CLAP score of the held-out clips with their own captions: {ref['clap_score_heldout']:.3f}."]
    lines += ["", "## Step count", "",
              "Rows and families marked `grid` sample at decoding levels picked from the 20-step teacher grid "
              "(`decoding_sigmas`, as DITTO-2 decodes); the others use the sampler's default Karras schedule (what "
              "`tempo_kit.generate` uses), whose last level before 0 is `sigma_min` = 0.002, so there the last step of "
              "a jump sampler changes almost nothing (2 default steps give nearly the 1-step FAD).", ""]
    for key, label in (("fad_mel", "FAD mel"), ("fad_clap", "FAD CLAP")):
        for family, points in step_trend(result, key).items():
            seq = ", ".join(f"{n} steps {v:.4g}" for n, v in points)
            values = [v for _, v in points]
            trend = ("falls with every added step" if all(b < a for a, b in zip(values, values[1:])) else
                     "rises with every added step" if all(b > a for a, b in zip(values, values[1:])) else
                     "is not monotone")
            lines.append(f"- {family}, {label}: {seq}" + (f"; it {trend}." if len(points) > 1 else "."))
    lines.append("<!-- --8<-- [end:report] -->")  # the docs include this section (the plot lives beside the file)
    if plot_name:
        lines += ["", f"![FAD against sampling steps]({plot_name})"]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | os.PathLike) -> Path | None:
    """FAD (mel statistics, and CLAP when measured) against steps for Presto-S, CM and CTM, with the teacher lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {r["name"]: r for r in result["systems"]}
    keys = [k for k in ("fad_mel", "fad_clap") if any(k in r for r in result["systems"])]
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for color, family in enumerate(FEW_STEP):
            one = [(1, r[key]) for r in result["systems"] if r["family"] == family and r["steps"] == 1 and key in r]
            for suffix, style in (("", "-"), (" grid", "--")):
                pts = sorted((r["steps"], r[key]) for r in result["systems"]
                             if r["family"] == family + suffix and key in r)
                if suffix and pts:
                    pts = sorted(one + pts)  # one step is the same jump from sigma_max on either schedule
                if pts:
                    ax.plot(*zip(*pts), marker="o", ls=style, color=f"C{color}", label=family + suffix)
        for name, style in ((TEACHER, "-"), ("teacher-heun-20", "--")):
            if name in rows and key in rows[name]:
                ax.axhline(rows[name][key], color="k", ls=style, lw=1, label=name)
        for name, color in (("untrained", "tab:red"), ("noise", "tab:gray"), ("real (train)", "tab:green")):
            if name in rows and key in rows[name]:
                ax.axhline(rows[name][key], color=color, ls=":", lw=1, label=name)
        ax.set_xscale("log", base=2)
        steps = sorted({r["steps"] for r in result["systems"] if r["family"].removesuffix(" grid") in FEW_STEP})
        ax.set_xticks(steps, [str(n) for n in steps])
        ax.set_yscale("log")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel({"fad_mel": "FAD (mel statistics)", "fad_clap": "FAD (CLAP embedding)"}[key])
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_results(result: dict, out: str | os.PathLike = RESULTS, *, stem: str = "quality") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>_fad_steps.png`` to ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "png": out / f"{stem}_fad_steps.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    plot(result, paths["png"])
    paths["md"].write_text(markdown(result, plot_name=paths["png"].name))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, help="generated clips per system (default 200, 16 with --quick)")
    parser.add_argument("--quick", action="store_true", help="16 clips (unless --n-clips is given) and fewer systems")
    parser.add_argument("--out", default=str(RESULTS), help="results folder (default benchmarks/results)")
    parser.add_argument("--heldout", default=str(DATA), help="dataset folder with a heldout split")
    parser.add_argument("--weights", help="folder of bundled models (sets TEMPO_KIT_WEIGHTS)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--latency-repeats", type=int, help="timing rounds (default 5, 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.weights:
        os.environ["TEMPO_KIT_WEIGHTS"] = args.weights
    n_clips = args.n_clips or (16 if args.quick else 200)
    repeats = args.latency_repeats or (2 if args.quick else 5)
    result = run_quality(n_clips=n_clips, heldout=args.heldout, quick=args.quick, batch_size=args.batch_size,
                         latency_repeats=repeats, threads=args.threads, seed=args.seed, progress=not args.no_progress)
    paths = write_results(result, args.out)
    print(paths["md"].read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
