"""Generation quality and speed of the bundled reference models: FAD, CLAP score, latency, real-time factor, NFE.

For every system (the teacher with EDM Heun at 20 and 40 steps, CM, CTM and Presto-S at a few step counts, the
layer-dropped teachers ASE and Presto-L, Presto-LS, an untrained network and a noise baseline) the benchmark

1. generates ``n_clips`` mel clips conditioned on the tags of the reference clips (clip ``i`` takes the tags of
   reference clip ``i``: all held-out clips, or a subset with their tag mix, ``_quality.select_reference``), from the
   same initial noise ``x_T = sigma_max * eps_i`` and the same per-step noise in
   every system, in batches, without classifier-free guidance (``w = 1``: one network call per denoiser evaluation;
   the bundled students were distilled from the unguided teacher);
2. computes the Fréchet distance to the reference clips on three embeddings (``_quality.Ruler``):
   :func:`~tempo_kit.metrics.mel_statistics` (``FAD mel``), the bundled CLAP-style audio embedding (``FAD CLAP``) and
   pretrained CREPE-tiny frames of the vocoded audio (``FAD CREPE``, a network this project did not train), plus the CLAP score (cosine between each
   clip's audio embedding and the caption of the held-out clip whose tags it was given), and the frame change
   (:func:`~tempo_kit.metrics.frame_change`) as a ratio to the reference clips';
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

``--model ROW=FOLDER[:SAMPLER:STEPS]`` adds a saved model (e.g. a teacher run's ``student_ema``) as the row ``ROW``.

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

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1] / "outputs" / "data" / "music"
TEACHER = "teacher-heun-40"  # the reference row for speed-ups and FAD targets
FEW_STEP = ("presto-s", "cm", "ctm", "presto-ls")  # families of the step-count plot
PAIRS = (("presto-s-4", "cm-4"), ("presto-s-4", "ctm-4"))  # paired FAD ratios besides those to the teacher


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
        0: the sampler's default schedule (``sampler.schedule.sigmas(steps)``, what ``tempo_kit.pipeline`` uses);
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
    levels: tuple = ()

    def sigmas(self, sampler) -> torch.Tensor:
        """The noise levels this row samples with."""
        from tempo_kit.schedules import decoding_sigmas, teacher_grid

        if self.levels:
            return torch.tensor([80.0, *self.levels, 0.0], dtype=torch.float64)
        return decoding_sigmas(self.steps, grid=teacher_grid(self.grid)) if self.grid else sampler.schedule.sigmas(self.steps)


def default_systems(*, quick: bool = False) -> list[System]:
    """The benchmark's rows: the ruler's sanity rows, the teacher, and each student at a few step counts; ``quick``
    keeps the sanity rows, the 40-step teacher and one or two step counts per student."""
    few = (1, 4) if quick else (1, 2, 4)
    rows = [System(name=Q.FLOOR, family="real"), System(name=Q.VOCODED, family="real"),
            System(name=Q.NOISE, family="baseline"),
            System(name=Q.UNTRAINED, family="baseline", model="teacher", sampler="heun", steps=40)]
    if not quick:
        rows.append(System(name="teacher-heun-20", family="teacher", model="teacher", sampler="heun", steps=20))
    rows.append(System(name=TEACHER, family="teacher", model="teacher", sampler="heun", steps=40))
    rows += [System(name=f"cm-{n}", family="cm", model="cm", sampler="cm", steps=n) for n in few]
    rows += [System(name=f"ctm-{n}", family="ctm", model="ctm", sampler="ctm-gamma", steps=n,
                    sampler_kwargs={"gamma": 0.2}) for n in few]
    rows += [System(name=f"presto-s-{n}", family="presto-s", model="presto-s", sampler="presto-s", steps=n)
             for n in few]
    rows += [System(name="ase-heun-40", family="ase", model="ase", sampler="heun", steps=40),
             System(name="presto-l-heun-40", family="presto-l", model="presto-l", sampler="heun", steps=40)]
    rows += [System(name=f"presto-ls-{n}", family="presto-ls", model="presto-ls", sampler="presto-s", steps=n)
             for n in few]
    return rows


def model_system(spec: str) -> System:
    """The row of ``--model ROW=FOLDER[:SAMPLER:STEPS]``: a saved model folder sampled with a registered sampler
    (default Heun, 40 steps; a folder whose name has colons needs the explicit ``:SAMPLER:STEPS``). The folder's
    ``pretrained`` kind must suit the sampler (whose options are the folder's ``sampler_args`` when it is the folder's
    own sampler, :func:`tempo_kit.pipeline.saved_sampler_args`): a jump sampler (``cm``, ``ctm-gamma``, ``presto-s``)
    needs a consistency or CTM model (a run's ``student_ema`` records no kind: bundle it with ``scripts/bundle_model.py --out FOLDER``)."""
    from tempo_kit.pipeline import saved_sampler_args
    from tempo_kit.pretrained import pretrained_meta, tag_vocab
    from tempo_kit.registry import get

    row, sep, rest = spec.partition("=")
    folder, sampler, steps = rest, "heun", "40"
    head = rest.rsplit(":", 2)
    if len(head) == 3 and head[2].isdigit() and Path(head[0], "config.json").is_file():
        folder, sampler, steps = head
    if not (sep and row and "/" not in row and Path(folder, "config.json").is_file()):
        raise ValueError(f"--model takes ROW=FOLDER[:SAMPLER:STEPS] with a saved model in FOLDER (its config.json), "
                         f"got {spec!r}")
    if int(steps) < 1:
        raise ValueError(f"--model {spec!r}: STEPS must be a positive integer, got {steps!r}")
    drives = get("samplers", sampler).drives  # an unknown sampler: the registry's error, listing the valid ones
    meta = pretrained_meta(Path(folder))
    try:
        tag_vocab(Path(folder), meta=meta)
    except ValueError as err:
        raise ValueError(f"--model {spec!r}: {err}") from None
    kind = meta.get("kind", "denoiser")
    if (drives == "jump") != (kind in ("consistency", "ctm")):
        raise ValueError(f"--model {spec!r}: the sampler {sampler!r} drives a {drives} but {folder} holds a {kind}")
    family = row.removesuffix(f"-{int(steps)}") or row  # "presto-s-long-4" and "presto-s-long-1": one plot line
    return System(name=row, family=family, model=str(Path(folder).resolve()), sampler=sampler, steps=int(steps),
                  sampler_kwargs=saved_sampler_args(meta, sampler))


def solver_systems() -> list[System]:
    """The teacher under other solvers at no more than half the 40-step Heun teacher's 79 NFE (``bench_solvers.py``
    measures their convergence); selected with ``--systems`` only, e.g. ``--systems teacher-dpmpp-2m-20``."""
    rows = [System(name="teacher-heun-10", family="teacher heun", model="teacher", sampler="heun", steps=10)]
    for name, kwargs, steps in (("dpmpp-2m", {}, (10, 20)), ("unipc", {}, (10, 20)), ("dpmpp-2m-sde", {}, (20, 39)),
                                ("dpmpp-3m-sde", {}, (20, 39)), ("euler-ancestral", {}, (39,)),
                                ("dpmpp-2s-ancestral", {}, (10, 20))):
        rows += [System(name=f"teacher-{name}-{n}", family=f"teacher {name}", model="teacher", sampler=name, steps=n,
                        sampler_kwargs=kwargs) for n in steps]
    return rows


def decode_systems() -> list[System]:
    """DITTO-2's decodes: 2 steps on the 20-step teacher grid (its default, first level 1.98) or with an explicit
    first re-noise level (``bench_decode_drift.py`` shows which levels keep control); selected with ``--systems``."""
    rows = []
    for model, sampler, kwargs in (("ctm", "ctm-gamma", {"gamma": 0.2}), ("cm", "cm", {})):
        rows.append(System(name=f"{model}-2-grid20", family=f"{model} decode", model=model, sampler=sampler, steps=2,
                           sampler_kwargs=kwargs, grid=20))
        rows += [System(name=f"{model}-2-s{s:g}", family=f"{model} decode", model=model, sampler=sampler, steps=2,
                        sampler_kwargs=kwargs, levels=(s,)) for s in (0.1, 0.15, 20.0)]
    return rows


def presto_level_systems() -> list[System]:
    """Presto-S and Presto-LS sampled at other re-noise levels than their sampler's default: the 20-step teacher grid,
    and explicit levels for 4 and 2 steps; selected with ``--systems``."""
    rows = []
    for model in ("presto-s", "presto-ls"):
        rows.append(System(name=f"{model}-4-grid20", family=f"{model} levels", model=model, sampler="presto-s",
                           steps=4, grid=20))
        for levels in ((20.0, 5.0, 1.0), (10.0, 2.0, 0.5), (5.0, 1.0, 0.2), (2.0, 0.5, 0.1), (1.0,), (0.3,), (3.0,)):
            rows.append(System(name=f"{model}-{len(levels) + 1}-s" + "_".join(f"{v:g}" for v in levels),
                               family=f"{model} levels", model=model, sampler="presto-s", steps=len(levels) + 1,
                               levels=levels))
    return rows


# -- models ------------------------------------------------------------------------------------------------------------
def _expert_nets(net) -> list:
    """The block networks behind a preconditioner's raw network: itself, the network a layer router wraps, or each of
    its noise-level experts (:class:`~tempo_kit.models.NoiseExperts`, each maybe inside its own layer router)."""
    inner = getattr(net, "net", net)
    return [getattr(e, "net", e) for e in getattr(inner, "experts", [inner])]


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
    blocks = [b for expert in _expert_nets(net) for b in getattr(expert, "blocks", [])]
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
    from tempo_kit.pipeline import tag_conditions

    return tag_conditions([records[i]["tags"] for i in idx], model=model_name)


# -- generation and timing ---------------------------------------------------------------------------------------------
def _generate(model, sampler, sigmas: torch.Tensor, eps: torch.Tensor, cond_fn, *, batch_size: int, noise_seed: int,
              progress: bool, label: str) -> torch.Tensor:
    from tempo_kit.samplers import draw_noise
    from tempo_kit.utils import progress_bar

    steps = len(sigmas) - 1
    gen = torch.Generator().manual_seed(noise_seed)
    out = []
    starts = range(0, len(eps), batch_size)
    bar = progress_bar(len(starts), desc=label, enabled=progress)  # a terminal only, never in a log
    for start in starts:
        idx = list(range(start, min(start + batch_size, len(eps))))
        x_T = sigmas[0] * eps[idx]
        noise = draw_noise(steps, x_T, gen) if sampler.needs_noise else None
        with torch.inference_mode():
            out.append(sampler(model, x_T, sigmas, cond=cond_fn(idx), noise=noise))
        bar.update(1)
    bar.close()
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


# -- the benchmark -----------------------------------------------------------------------------------------------------
def run_quality(*, n_clips: int | None = None, heldout: str | os.PathLike = DATA, systems: list[System] | None = None,
                quick: bool = False, batch_size: int = 50, latency_repeats: int = 5, threads: int = 1, seed: int = 0,
                mel_bands: int = 16, n_boot: int = 200, independent: bool = True, progress: bool = True,
                draws: int = 1, pairs: tuple[tuple[str, str], ...] = PAIRS) -> dict:
    """Run the benchmark and return its results as a JSON-able dict (see :func:`write_results`, :func:`markdown`).

    Parameters
    ----------
    n_clips : int, optional
        Reference clips, and generated clips per system (paired, see :mod:`_quality`): all held-out clips when None,
        else a subset of ``n_clips`` stratified by tag set (>= 2).
    heldout : path
        Dataset folder (:class:`~tempo_kit.data.MusicDataset`); its ``heldout`` split is the FAD reference and the
        source of the conditioning tags and captions, its ``train`` split (if any) the ``real (train)`` row.
    systems : list of System, optional
        Default :func:`default_systems` (``quick`` picks the short list).
    quick : bool
        Short list of systems and no verdicts (a quick run checks that everything runs, not the claims).
    batch_size : int
        Generation batch size (timing is always at batch 1).
    latency_repeats : int
        Interleaved timing rounds (median reported).
    threads : int
        ``torch.set_num_threads`` for the whole run.
    seed : int
        Seed of the reference subset, the initial noise, the per-step noise, the baselines and the bootstrap.
    mel_bands : int
        Bands of the mel-statistics embedding (capped at the number of mel bins).
    n_boot : int
        Bootstrap resamples of every interval.
    independent : bool
        Also score on the independent CREPE embedding (needs the ``eval`` extra).
    draws : int
        Generated clips per reference clip and system (each from its own initial noise, all with the reference clip's
        tags; draw 0 is the ``draws=1`` run). The draws of reference clip ``i`` are pooled into one unit
        (:meth:`~tempo_kit.metrics.ClipStats.fold`) that the bootstrap resamples with clip ``i``: more draws narrow
        the generated side of every interval, the reference side stays the held-out set. Real rows (``real (train)``,
        ``vocoded real``) keep one clip per reference clip.
    pairs : tuple of (str, str)
        Rows ``(a, b)`` whose paired FAD ratio ``a / b`` is reported with its interval (those whose rows ran), besides
        every row's ratio to the 40-step teacher; default Presto-S 4 steps against CM and CTM at 4 steps.
    """
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.metrics import average_spectrum_noise, clap_score, frame_change, mel_statistics_shift
    from tempo_kit.pretrained import available, load_pretrained, weights_dir
    from tempo_kit.registry import get

    if n_clips is not None and n_clips < 2:
        raise ValueError(f"n_clips must be >= 2, got {n_clips}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    torch.set_num_threads(threads)
    systems = default_systems(quick=quick) if systems is None else systems
    t_start = time.perf_counter()
    code = Q.git_commit()  # the code that runs: taken now, not when the run ends
    held = MusicDataset(heldout, split="heldout", load_audio=independent)
    src = Q.select_reference(held.records, n_clips, seed=seed)  # clip i of every row takes the tags of held-out clip src[i]
    n_clips = len(src)
    ref_mel = held.mel[src].float()
    n_mels, frames = ref_mel.shape[1:]
    clip_seconds = frames * held.hop_length / held.sample_rate
    captions = [held.records[i]["caption"] for i in src]
    bundled = set(available())
    ruler = Q.load_ruler(independent=independent, sample_rate=held.sample_rate, mel_bands=mel_bands)
    ref_audio = held.audio[src].float() / 32767 if independent else None
    reference = ruler.score(ref_mel, ref_audio)
    clap = ruler.clap

    def embed_text(texts: list[str]) -> torch.Tensor | None:
        if clap is None:
            return None
        with torch.inference_mode():
            return clap.embed_text(texts).float()

    text_emb = embed_text(captions)
    eps = [torch.randn(n_clips, n_mels, frames, generator=torch.Generator().manual_seed(seed + 1000 * d))
           for d in range(draws)]  # the initial noise of each draw (draw 0: that of a one-draw run)
    models: dict[str, Any] = {}
    missing: list[str] = []
    rows: list[dict] = []
    stats: dict[str, dict] = {}
    clap_emb: dict[str, torch.Tensor] = {}
    latency_runs: dict[str, Any] = {}
    change: dict[str, torch.Tensor] = {}  # frame_change per reference clip (mean over a row's draws)
    for system in systems:
        row: dict[str, Any] = {"name": system.name, "family": system.family, "model": Q.repo_path(system.model),
                               "sampler": system.sampler, "steps": system.steps, **system.sampler_kwargs}
        if system.grid:
            row["grid"] = system.grid
        t0 = time.perf_counter()
        row_text, audio = text_emb, None  # the captions a row's clips are scored against; real audio if any
        row_draws = draws  # generated clips per reference clip in this row (real clips: one)
        if system.family == "baseline" and system.sampler is None:
            mel = average_spectrum_noise(ref_mel, n_clips * draws, generator=torch.Generator().manual_seed(seed + 2))
        elif system.name == Q.VOCODED:
            if ruler.vocoder is None:
                missing.append(f"{system.name} (no bundled vocoder)")
                continue
            from tempo_kit.audio import MelSpec

            audio, row_draws = ruler.vocode(ref_mel), 1
            mel = getattr(ruler.vocoder, "spec", MelSpec()).to_model(audio)[..., :frames]
        elif system.family == "real":
            try:
                train = MusicDataset(heldout, split="train", load_audio=independent)
            except ValueError:
                missing.append(f"{system.name} (no train split)")
                continue
            pick = Q.matched_train_clips(train.records, [held.records[i] for i in src], seed=seed + 3)
            mel, row_draws = train.mel[pick].float(), 1
            audio = train.audio[pick].float() / 32767 if independent else None
            row_text = embed_text([train.records[i]["caption"] for i in pick])
        else:
            if system.model not in bundled and not Path(system.model).is_dir():
                missing.append(f"{system.name} (bundled model {system.model!r} not in {weights_dir()})")
                continue
            if system.name == Q.UNTRAINED:
                model = untrained_like(system.model, seed=seed)
            else:
                model = models.get(system.model) or models.setdefault(system.model, load_pretrained(system.model))
            sampler = get("samplers", system.sampler, **system.sampler_kwargs)
            name = system.model

            def cond_fn(idx, name=name):
                return _model_cond(name, held.records, [src[i] for i in idx])

            sigmas = system.sigmas(sampler)
            mel = torch.cat([_generate(model, sampler, sigmas, eps_d, cond_fn, batch_size=batch_size,
                                       noise_seed=seed + 1 + 1000 * d, progress=progress, label=system.name)
                             for d, eps_d in enumerate(eps)])
            row["batched_s_per_clip"] = (time.perf_counter() - t0) / (n_clips * draws)
            one_cond = cond_fn([0])
            x1 = sigmas[0] * eps[0][:1]
            noise1 = (torch.randn((system.steps, *x1.shape), generator=torch.Generator().manual_seed(seed + 4))
                      if sampler.needs_noise else None)

            def one_clip(model=model, sampler=sampler, x1=x1, sigmas=sigmas, cond=one_cond, noise=noise1):
                with torch.inference_mode():
                    return sampler(model, x1, sigmas, cond=cond, noise=noise)

            with counting(model) as counts:
                one_clip()
            depth = len(getattr(_expert_nets(_precond(model).net)[0], "blocks", [])) or None  # blocks per call
            row.update(nfe=counts["nfe"], nfe_expected=sampler.nfe(system.steps), blocks=counts["blocks"],
                       block_fraction=counts["blocks"] / (counts["nfe"] * depth) if depth and counts["nfe"] else None)
            latency_runs[system.name] = one_clip
        if not torch.isfinite(mel).all():
            row["nonfinite_clips"] = int((~torch.isfinite(mel)).flatten(1).any(1).sum())
            mel = torch.nan_to_num(mel, nan=0.0, posinf=10.0, neginf=-10.0)
        row_stats = ruler.score(mel, audio)
        if clap is not None:
            row["clap_score"] = float(clap_score(_clap_audio(row_stats["clap"]), row_text.repeat(row_draws, 1)).mean())
        stats[system.name] = {emb: st.fold(row_draws) for emb, st in row_stats.items()}
        if "nonfinite_clips" not in row:  # a row repaired with nan_to_num has no meaningful frame change
            change[system.name] = frame_change(mel).view(row_draws, n_clips).mean(0)
        row["eval_wall_s"] = time.perf_counter() - t0
        rows.append(row)

    pieces = [Q.piece(held.records[i]) for i in src]  # the cluster bootstrap's groups
    fads = Q.compare(stats, reference, teacher=TEACHER, n_boot=n_boot, seed=seed, pairs=pairs, groups=pieces)
    changes = Q.mean_ratios(change, frame_change(ref_mel), n_boot=n_boot, seed=seed, groups=pieces)
    for row in rows:
        if row["name"] in stats:
            row["mel_shift"] = mel_statistics_shift(stats[row["name"]]["mel"], reference["mel"])
        if row["name"] in changes:
            cell = changes[row["name"]]
            row.update(frame_change=cell["mean"], frame_change_ratio=cell["ratio"],
                       frame_change_ratio_ci=[cell["ratio_low"], cell["ratio_high"]])
        for emb, cell in fads[row["name"]].items():
            row[f"fad_{emb}"] = cell["fad"]
            row[f"fad_{emb}_ci"] = [cell["low"], cell["high"]]
            if "ratio" in cell:
                row[f"fad_{emb}_ratio"] = cell["ratio"]
                row[f"fad_{emb}_ratio_ci"] = [cell["ratio_low"], cell["ratio_high"]]
    rounds = _latency_rounds(latency_runs, latency_repeats)
    latency = {name: statistics.median(ts) for name, ts in rounds.items()}
    vocoder_s = None
    if ruler.vocoder is not None:
        mel1 = ref_mel[:1]

        def vocode():
            with torch.inference_mode():
                return ruler.vocoder(mel1)

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
            if vocoder_s is not None:
                row["speedup_with_vocoder"] = (teacher["latency_s"] + vocoder_s) / (lat + vocoder_s)
                row["vocoder_share"] = vocoder_s / (lat + vocoder_s)
    ref_info = {"n_heldout": len(held), "n_reference": n_clips, "frame_change": float(frame_change(ref_mel).mean())}
    if clap is not None:
        ref_info["clap_score_reference"] = float(clap_score(_clap_audio(reference["clap"]), text_emb).mean())
    used = sorted({s.model for s in systems if s.model in bundled or s.model in models} | ({"clap", "vocoder"} & bundled))
    result = {
        "meta": {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "n_clips": n_clips, "draws": draws, "n_heldout": len(held), "clip_seconds": clip_seconds, "quick": quick,
            "batch_size": batch_size, "latency_repeats": latency_repeats, "threads": threads, "seed": seed,
            "mel_bands": min(mel_bands, n_mels), "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0], "weights_dir": Q.repo_path(weights_dir()),
            "heldout": Q.repo_path(heldout),
            "bundled": sorted(bundled), "missing": missing, "embeddings": list(ruler.embeddings),
            "pairing": "clip i of every row takes the tags and caption of reference clip i and the same initial noise"
                       + (f"; each generated row has {draws} draws per reference clip, pooled per clip" if draws > 1
                          else ""),
            "guidance": "w = 1 (no classifier-free guidance) for every system",
            "vocoder_latency_s": vocoder_s, "clap": clap is not None, "wall_s": None,
            **Q.provenance(records=held.records, idx=src, seed=seed, models=used, n_boot=n_boot), **code,
        },
        "reference": ref_info,
        "systems": rows,
    }
    result["comparisons"] = {k: v for k, v in fads.items() if " / " in k}
    result["sanity_failures"] = Q.sanity_failures(fads, teacher=TEACHER)
    result["checks"] = target_checks(result)
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    return result


def _clap_audio(stats) -> torch.Tensor:
    """Per-clip CLAP audio embeddings back from their :class:`ClipStats` (one embedding per clip: the sum)."""
    return stats.total.float()


# -- report --------------------------------------------------------------------------------------------------------------
#: The issue's targets: FAD ratio to the 40-step teacher (upper bound of the 95% interval) and speed-up.
TARGETS = {"presto_s_4": 1.15, "presto_s_1": 1.35, "presto_ls_4": 1.25, "presto_ls_speedup": 15.0, "solver": 1.1}
#: Embeddings the FAD targets are judged on: the independent one and the mel statistics.
JUDGED = ("crepe", "mel")


def target_checks(result: dict) -> list[dict]:
    """The targets as ``{"target", "verdict", "detail"}``; ``verdict`` is MET / NOT MET / UNDECIDED from the 95%
    interval (:func:`tempo_kit.metrics.verdict`), ``"no verdict (quick preset)"`` in quick mode, or ``"not
    measured"``. The ruler's own ordering check comes first."""
    from tempo_kit.metrics import verdict

    rows = {r["name"]: r for r in result["systems"]}
    quick = result["meta"]["quick"]
    checks = []

    def add(target, v, detail):
        checks.append({"target": target, "verdict": v, "detail": detail})

    failures = result.get("sanity_failures", [])
    def floor(e):
        return Q.VOCODED if e == "crepe" else Q.FLOOR

    add("ruler sanity: floor < teacher < noise on every embedding (floor: real training clips; on CREPE the vocoded "
        "reference clips)", "NOT MET" if failures else "MET", "; ".join(failures) if failures else ", ".join(
            f"{Q.LABELS[e]} {rows[floor(e)]['fad_' + e]:.3g} < {rows[TEACHER]['fad_' + e]:.3g} < "
            f"{rows[Q.NOISE]['fad_' + e]:.3g}" for e in result["meta"]["embeddings"]
            if all(k in rows and f"fad_{e}" in rows[k] for k in (floor(e), TEACHER, Q.NOISE))))

    gate = "no verdict (ruler failed)" if failures else None  # a ruler that fails its own check decides nothing

    def decide(cell: dict, bound: float) -> str:
        return gate or Q.ratio_verdict(cell, at_most=bound, quick=quick)

    def ratio_check(name: str, bound: float, label: str):
        for emb in JUDGED:
            row = rows.get(name)
            key = f"fad_{emb}_ratio"
            target = f"{label} {Q.LABELS[emb]} within {100 * (bound - 1):.0f}% of the 40-step teacher's"
            if row is None or key not in row:
                add(target, "not measured", f"{name}, {TEACHER} or the {emb} embedding missing")
                continue
            lo, hi = row[f"{key}_ci"]
            v = decide({"ratio_low": lo, "ratio_high": hi}, bound)
            add(target, v, f"{name} {row['fad_' + emb]:.4g} vs teacher {rows[TEACHER]['fad_' + emb]:.4g}: ratio "
                           f"{row[key]:.3f} [{lo:.3f}, {hi:.3f}] (target <= {bound:g})")

    ratio_check("presto-s-4", TARGETS["presto_s_4"], "Presto-S 4 steps:")
    for other in ("cm-4", "ctm-4"):
        pair = result.get("comparisons", {}).get(f"presto-s-4 / {other}", {})
        for emb in JUDGED:
            target = f"Presto-S 4 steps: {Q.LABELS[emb]} better than {other}"
            if emb not in pair:
                add(target, "not measured", f"presto-s-4, {other} or the {emb} embedding missing")
                continue
            c = pair[emb]
            v = decide(c, 1.0)
            add(target, v, f"FAD ratio presto-s-4 / {other} {c['ratio']:.3f} [{c['ratio_low']:.3f}, "
                           f"{c['ratio_high']:.3f}] (target < 1)")
    ratio_check("presto-s-1", TARGETS["presto_s_1"], "Presto-S 1 step:")
    for name in [r["name"] for r in result["systems"] if r["name"] in {s.name for s in solver_systems()}]:
        ratio_check(name, TARGETS["solver"], f"{name} ({rows[name].get('nfe', '?')} NFE):")
    ratio_check("presto-ls-4", TARGETS["presto_ls_4"], "Presto-LS 4 steps:")
    ls, t = rows.get("presto-ls-4"), rows.get(TEACHER)
    target = f"Presto-LS 4 steps at least {TARGETS['presto_ls_speedup']:g}x faster per clip than the teacher (sampling)"
    if ls is None or t is None or "latency_s" not in ls or "latency_s" not in t:
        add(target, "not measured", "Presto-LS or teacher missing")
    else:
        per_round = [a / b for a, b in zip(t["latency_rounds_s"], ls["latency_rounds_s"])]
        lo, hi = min(per_round), max(per_round)
        v = gate or ("no verdict (quick preset)" if quick else verdict(lo, hi, at_least=TARGETS["presto_ls_speedup"]))
        voc = (f"; with the vocoder {ls['speedup_with_vocoder']:.1f}x (vocoder {100 * ls['vocoder_share']:.0f}% of "
               f"Presto-LS's time per clip)" if "speedup_with_vocoder" in ls else "")
        add(target, v, f"{ls['speedup_vs_teacher']:.1f}x (range over timing rounds {lo:.1f}-{hi:.1f}x; NFE "
                       f"{t['nfe']} vs {ls['nfe']}){voc}")
    return checks


def _fmt(value, spec: str = ".3g", scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def markdown(result: dict, *, plot_name: str | None = "quality_fad_steps.png") -> str:
    """The Markdown report of :func:`run_quality`'s result."""
    meta, ref = result["meta"], result["reference"]
    embs = meta["embeddings"]
    commit = f"`{meta['commit'][:10]}`{' (with uncommitted changes)' if meta['dirty'] else ''}" if meta.get("commit") else "unknown"
    draws = meta.get("draws", 1)
    generated = (f"{meta['n_clips']} generated clips per system, clip *i* of every system conditioned on the tags of "
                 f"reference clip *i*" if draws == 1 else
                 f"{draws} x {meta['n_clips']} generated clips per system, draw *d* of clip *i* of every system "
                 f"conditioned on the tags of reference clip *i* (the real rows: one clip per reference clip)")
    lines = ["# Generation quality and speed of the bundled models", "", "<!-- --8<-- [start:report] -->",
             f"{generated} ({meta['n_clips']} of the {meta['n_heldout']} held-out clips, "
             f"{meta['clip_seconds']:.2f} s each) and started from the same noise; {meta['guidance']}. FAD on "
             + ", ".join(Q.LABELS[e] for e in embs) + " (CREPE: pretrained CREPE-tiny frames on the vocoded audio, a "
             f"model this project did not train), each with a 95% paired-bootstrap interval ({meta['n_boot']} "
             "resamples of whole pieces, every clip of a drawn piece); ratios are to the 40-step teacher with intervals "
             "from the same resamples. "
             f"Git commit {commit}, seed {meta['seed']}, {meta['date_utc']} UTC, CPU ({meta['cpus']} cores, 1-min "
             f"load {meta['load_average_1min']:.1f} at the end), {meta['threads']} thread(s), torch {meta['torch']}. "
             f"Produced by `{meta.get('command', 'benchmarks/bench_quality.py')}`"
             f"{' in quick mode (no verdicts)' if meta['quick'] else ''}; "
             f"total wall time {meta['wall_s']:.0f} s. Times depend on the machine's load; ratios are taken within one "
             "run.", ""]
    if meta["missing"]:
        lines += ["Not measured: " + "; ".join(meta["missing"]) + ".", ""]
    lines += ["## Targets", "", "A verdict is given only when the 95% interval decides it (UNDECIDED otherwise; for the "
              "speed-up, the range over the timing rounds), and none when the ruler fails its own sanity check.", ""]
    lines += [f"- **{c['verdict']}{' (n too small)' if c['verdict'] == 'UNDECIDED' else ''}** {c['target']}: "
              f"{c['detail']}." for c in result["checks"]]
    lines += ["", "## Quality", "", "FAD [95% interval] and the ratio to the teacher's FAD [95% interval]. Sanity rows: "
              f"`{Q.FLOOR}` (training clips of other pieces with the reference's tags: the floor), `{Q.VOCODED}` (the "
              f"reference clips through the bundled vocoder: the floor of every generated row on CREPE), `{Q.NOISE}` "
              f"(average-spectrum noise) and `{Q.UNTRAINED}` (the teacher's architecture with random weights). *Frame "
              "change ratio*: the mean squared change of each mel bin from one frame to the next "
              "(`tempo_kit.metrics.frame_change`) over the row's clips, divided by the same mean over the reference "
              "clips" + (f" ({ref['frame_change']:.4f} in model units)" if "frame_change" in ref else "") + ", with "
              "its 95% paired-bootstrap interval. Real renders change mostly at note starts; a ratio well above 1 "
              "means faster change than in real clips (flicker or fine noise, or many more note starts), below 1 "
              "smoother clips (blurred onsets).", "",
              "| system | steps | " + " | ".join(f"{Q.LABELS[e]} | ratio" for e in embs) + " | CLAP score | frame change ratio |",
              "|---|---|" + "---|---|" * len(embs) + "---|---|"]
    for r in result["systems"]:
        cells = []
        for e in embs:
            cells.append(Q.fmt_interval(r[f"fad_{e}"], r[f"fad_{e}_ci"]) if f"fad_{e}_ci" in r else "-")
            cells.append(Q.fmt_interval(r.get(f"fad_{e}_ratio"), r.get(f"fad_{e}_ratio_ci"), ".2f"))
        lines.append(f"| {r['name']} | {r['steps'] or '-'} | " + " | ".join(cells) + f" | {_fmt(r.get('clap_score'), '.3f')} | "
                     f"{Q.fmt_interval(r.get('frame_change_ratio'), r.get('frame_change_ratio_ci'), '.2f')} |")
    if "clap_score_reference" in ref:
        lines += ["", f"CLAP score of the reference clips with their own captions: {ref['clap_score_reference']:.3f}."]
    if result.get("comparisons"):
        lines += ["", "## Paired ratios", "", "FAD of the first row over the second's, from the same bootstrap "
                  "resamples [95% interval]; the row named after it is the better one, named only when the interval "
                  "excludes 1.", "",
                  "| rows | " + " | ".join(Q.LABELS[e] for e in embs) + " |", "|---|" + "---|" * len(embs)]
        verdicts = not (meta["quick"] or result.get("sanity_failures"))  # none in quick mode or when the ruler failed

        def word(c: dict, a: str, b: str) -> str:
            if not verdicts:
                return ""
            return ": " + (a if c["ratio_high"] < 1 else b if c["ratio_low"] > 1 else "undecided")

        for key, cells in result["comparisons"].items():
            a, b = key.split(" / ")
            lines.append(f"| {key} | " + " | ".join(
                f"{Q.fmt_interval(cells[e]['ratio'], (cells[e]['ratio_low'], cells[e]['ratio_high']), '.2f')}"
                f"{word(cells[e], a, b)}" if e in cells else "-" for e in embs) + " |")
    lines += ["", "The few-step rows use each sampler's default levels. CM and CTM: the Karras levels, whose last level "
              "before 0 is `sigma_min` = 0.002: the last step of a jump sampler changes almost nothing there, so 2 "
              "steps measure like 1. Presto-S and Presto-LS (the `presto-s` sampler): one jump from 80, then jumps "
              "re-noised to levels evenly spaced in log sigma between `refine_max` and `refine_min` of "
              "`JumpRefineSchedule` (chosen on validation clips, `benchmarks/bench_presto_levels.py`)."]
    shifts = [r for r in result["systems"] if "mel_shift" in r]
    if shifts:
        lines += ["", "## Where the mel-statistics distance comes from", "", "FAD mel split into its mean term "
                  "(|mu - mu_ref|^2) and the rest (covariances), and the shift of each row's mean band level, spread "
                  "over time and spread of the frame-to-frame change from the reference clips', in the reference's "
                  "standard deviations, averaged over the bands (`tempo_kit.metrics.mel_statistics_shift`; point "
                  "values, no interval). Negative spread: flatter dynamics than the real clips.", "",
                  "| system | steps | FAD mel | mean term | covariance term | level shift | spread shift | change shift |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in shifts:
            m = r["mel_shift"]
            lines.append(f"| {r['name']} | {r['steps'] or '-'} | {m['distance']:.4f} | {m['mean_term']:.4f} | "
                         f"{m['covariance_term']:.4f} | {m['level']:+.2f} | {m['spread']:+.2f} | {m['change']:+.2f} |")
    lines += ["", "## Speed", "",
              "Latency: one clip at batch 1 (median of the interleaved timing rounds). RTF: seconds of audio per second of "
              "wall time" + (f"; +voc: with the bundled vocoder's {1e3 * meta['vocoder_latency_s']:.1f} ms per clip"
                            if meta["vocoder_latency_s"] is not None else "; no vocoder bundled") +
              ". NFE: network calls per clip (counted); blocks: transformer blocks evaluated per clip. Speed-ups are "
              f"relative to `{TEACHER}`.", "",
              "| system | steps | NFE | blocks | latency (ms) | per step (ms) | RTF | RTF +voc | speed-up | speed-up +voc | "
              "NFE ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["systems"]:
        if "latency_s" not in r:
            continue
        lines.append(
            f"| {r['name']} | {r['steps'] or '-'} | {r.get('nfe', '-')} | {r.get('blocks', '-')} | "
            f"{_fmt(r.get('latency_s'), '.1f', 1e3)} | {_fmt(r.get('latency_per_step_s'), '.2f', 1e3)} | "
            f"{_fmt(r.get('rtf'), '.1f')} | {_fmt(r.get('rtf_with_vocoder'), '.1f')} | "
            f"{_fmt(r.get('speedup_vs_teacher'), '.2f')} | {_fmt(r.get('speedup_with_vocoder'), '.2f')} | "
            f"{_fmt(r.get('nfe_ratio_vs_teacher'), '.2f')} |")
    lines += ["", "## Provenance", "", f"- weights sha256: " + ", ".join(f"{k} `{v[:12]}`" for k, v in
                                                                     meta["weights_sha256"].items()),
              "- tag mix of the reference (and of every row): " + "; ".join(
                  f"{f}: " + ", ".join(f"{v} {c}" for v, c in vals.items()) for f, vals in meta["tag_mix"].items())]
    lines.append("<!-- --8<-- [end:report] -->")  # the docs include this section (the plot lives beside the file)
    if plot_name:
        lines += ["", f"![FAD against sampling steps]({plot_name})"]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | os.PathLike) -> Path | None:
    """FAD (each embedding, with its 95% interval) against network calls per clip for Presto-S, CM, CTM, Presto-LS, the
    teacher's solver rows and the ``--model`` rows (one line per row name without its ``-STEPS``), with the 40-step
    teacher (and a ``teacher-long-heun-40`` row, e.g. ``--model teacher-long-heun-40=tempo_kit/weights/teacher-long``)
    and the sanity rows as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {r["name"]: r for r in result["systems"]}
    keys = [f"fad_{e}" for e in result["meta"]["embeddings"]]
    saved = {r["family"] for r in result["systems"] if r.get("model") and os.sep in r["model"]}  # --model rows
    families = [*FEW_STEP, *sorted({r["family"] for r in result["systems"] if r["family"].startswith("teacher ")}),
                *sorted(saved - set(FEW_STEP))]
    nfe = lambda r: r.get("nfe") or r["steps"]  # noqa: E731
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for color, family in enumerate(families):
            pts = sorted((nfe(r), r[key], *r[f"{key}_ci"]) for r in result["systems"]
                         if r["family"] == family and key in r)
            if pts:
                n, v, lo, hi = zip(*pts)
                ax.errorbar(n, v, yerr=[[max(a - b, 0) for a, b in zip(v, lo)], [max(b - a, 0) for a, b in zip(v, hi)]], marker="o",
                            capsize=3, color=f"C{color}", label=family)
        for name, color, style in ((TEACHER, "k", "-"), ("teacher-heun-20", "k", "--"),
                                   ("teacher-long-heun-40", "tab:purple", "-."), (Q.FLOOR, "tab:green", ":"),
                                   (Q.VOCODED, "tab:olive", ":"), (Q.NOISE, "tab:gray", ":")):
            if name in rows and key in rows[name]:
                ax.axhline(rows[name][key], color=color, ls=style, lw=1, label=name)
        ax.set_xscale("log", base=2)
        calls = sorted({nfe(r) for r in result["systems"] if r["family"] in families})
        ax.set_xticks(calls, [str(n) for n in calls])
        ax.set_yscale("log")
        ax.set_xlabel("network calls per clip")
        ax.set_ylabel(Q.LABELS[key[4:]])
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=100)
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, help="reference and generated clips per system (default: all held-out "
                                                    "clips; 16 with --quick), a tag-stratified subset when smaller")
    parser.add_argument("--quick", action="store_true", help="16 clips (unless --n-clips is given), fewer systems, "
                                                             "no verdicts")
    parser.add_argument("--systems", help="comma-separated row names to run besides the sanity rows and the 40-step "
                                          "teacher, which always run (e.g. presto-s-1,presto-s-4,cm-4,ctm-4)")
    parser.add_argument("--model", action="append", default=[], metavar="ROW=FOLDER[:SAMPLER:STEPS]",
                        help="also score the model saved in FOLDER (e.g. a run's student_ema, or a folder made by "
                             "scripts/bundle_model.py) as the row ROW, with a registered sampler and steps (default "
                             "heun:40, as the teacher); repeatable")
    parser.add_argument("--pair", action="append", default=[], metavar="A/B",
                        help="also report the paired FAD ratio of row A over row B with its interval (e.g. "
                             "presto-s-long-4/teacher-long-heun-40); repeatable")
    parser.add_argument("--out", default=str(RESULTS), help="results folder (default benchmarks/results)")
    parser.add_argument("--stem", default="quality", help="file name stem of the results (default quality)")
    parser.add_argument("--heldout", default=str(DATA), help="dataset folder with a heldout split")
    parser.add_argument("--weights", help="folder of bundled models (sets TEMPO_KIT_WEIGHTS)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--latency-repeats", type=int, help="timing rounds (default 5, 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples per interval")
    parser.add_argument("--no-independent", action="store_true",
                        help="skip the CREPE embedding (no 'eval' extra); the report says so")
    parser.add_argument("--draws", type=int, default=1,
                        help="generated clips per reference clip and system, pooled per reference clip in the "
                             "bootstrap (default 1; more narrows the intervals)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws must be >= 1, got {args.draws}")
    if args.weights:
        os.environ["TEMPO_KIT_WEIGHTS"] = args.weights
    systems = default_systems(quick=args.quick)
    if args.systems:
        systems += [s for s in (*solver_systems(), *decode_systems(), *presto_level_systems())
                    if s.name not in {t.name for t in systems}]
        keep = {s.strip() for s in args.systems.split(",")}
        unknown = keep - {s.name for s in systems}
        if unknown:
            parser.error(f"unknown system(s) {sorted(unknown)}; valid: {', '.join(s.name for s in systems)}")
        keep |= {*Q.SANITY, TEACHER}  # the ruler's sanity rows and the reference row always run
        systems = [s for s in systems if s.name in keep]
    for spec in args.model:
        try:
            row = model_system(spec)
        except ValueError as err:
            parser.error(str(err))
        if row.name in {s.name for s in (*systems, *default_systems())} or row.family in ("real", "baseline"):
            parser.error(f"--model {spec!r}: the row name {row.name!r} is taken; choose another")
        systems.append(row)
    pairs = list(PAIRS)
    for spec in args.pair:
        a, sep, b = spec.partition("/")
        unknown = [r for r in (a, b) if r not in {s.name for s in systems}]
        if not (sep and a and b) or unknown or a == b:
            parser.error(f"--pair takes A/B with two rows of this run, got {spec!r}"
                         + (f" ({', '.join(map(repr, unknown))} not among them)" if sep and a and b else ""))
        pairs.append((a, b))
    n_clips = args.n_clips or (16 if args.quick else None)
    repeats = args.latency_repeats or (2 if args.quick else 5)
    try:
        result = run_quality(n_clips=n_clips, heldout=args.heldout, systems=systems, quick=args.quick,
                             batch_size=args.batch_size, latency_repeats=repeats, threads=args.threads, seed=args.seed,
                             n_boot=args.n_boot, independent=not args.no_independent, progress=not args.no_progress,
                             draws=args.draws, pairs=tuple(pairs))
    except ModuleNotFoundError as err:
        print(f"bench_quality: {err}", file=sys.stderr)
        return 1
    result["meta"]["command"] = Q.command_line("benchmarks/bench_quality.py", argv)
    paths = write_results(result, args.out, stem=args.stem)
    print(paths["md"].read_text())
    if result["sanity_failures"]:
        print(f"bench_quality: {'warning (quick preset): ' if args.quick else ''}the ruler's sanity ordering failed: "
              + "; ".join(result["sanity_failures"]), file=sys.stderr)
        return 0 if args.quick else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
