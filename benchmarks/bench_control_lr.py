"""The learning rate of each control method, chosen by one sweep on validation targets (DITTO and DITTO-2 alike).

For every task of ``reproduce.py`` the targets are ``--clips`` clips of the *training* split (spread evenly over it), so
they are disjoint from the held-out clips ``reproduce.py`` tests on. Each method runs the task's K (``reproduce.py``'s
full preset) at each learning rate of ``--lrs`` from the same initial noise: DITTO through the teacher's sampler
(``reproduce.py``'s DITTO: 20 steps, backpropagated) and DITTO-2 on each bundled surrogate (CM, CTM, Presto-S) with a
one-step surrogate and one-step decode (``M=1, T=1``) and through a 2-step decode (``surrogate_steps="decode"``, ``T=2``),
and on any other jump model given with ``--surrogate NAME=PATH`` (labelled ``DITTO-2 NAME ...``). Reports the control
metric of the output (mean over targets) and its FAD on mel statistics against the whole training split, per learning
rate.

The choice is the setting with the best control metric among those whose FAD mel is at most twice the lowest FAD mel
of the settings compared (:data:`FAD_CAP`; ties go to the smaller learning rate): control alone picks learning rates
at which the outputs stop sounding like music (DITTO on structure at lr 0.15: the best control, with FAD mel 4.8
against 0.58 at lr 0.005 on these targets), and the comparison DITTO-2 is judged on asks for both. Until 2026-12-05
the choice was the best joint rank (sum of ranks) of control and FAD; with a fifth learning rate and the norm prior it
picked settings at either end of the grid (DITTO on outpainting: lr 0.15 with FAD mel 1.67 against 0.26-0.31 for the
next settings), since a sum of ranks does not weigh how large a gap is.

Each learning rate runs with and without ``norm_prior="project"`` (``--norm-priors``): the optimised noise rescaled
onto the Gaussian shell after every step, the bundled-model pipeline's default, which DITTO's class offers as well; the
choice is over (variant, learning rate, norm prior) alike for both families. ``--optimizers`` names the optimizers of
the noise each setting runs with (default Adam alone; ``adam adam-sample`` adds
:class:`tempo_kit.control.ditto.SampleAdam`, one second moment per sample): a third setting of the same choice.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_control_lr.py`` (about 2 CPU hours; ``--tasks`` splits it
over processes, ``--methods`` runs some methods only, ``--merge`` joins result files that share no task, method and
optimizer).
Writes ``benchmarks/results/control_lr.{json,md}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import sys
from collections import Counter
import time
from pathlib import Path

import torch
from tempo_kit.control.ditto import OPTIMIZERS
from tempo_kit.utils import levels_text, parse_levels

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
from _report import add_output_options, write_results  # noqa: E402
import reproduce as R  # noqa: E402

LRS = (5e-3, 1.5e-2, 5e-2, 1.5e-1, 5e-1)
PRIORS = (None, "project")


def load_jump(path):
    """A saved one-step model as a jump: a consistency-kind pretrained folder (or bundled name) as it is, a training
    snapshot of an x0-predicting denoiser wrapped as a consistency jump."""
    from tempo_kit.jumps import ConsistencyJump, Jump
    from tempo_kit.pretrained import load_pretrained

    model = load_pretrained(path)
    return model if isinstance(model, Jump) else ConsistencyJump(denoiser=model)


def one_step(K: int, lr: float, prior, opt: str):
    """DITTO-2 with a one-step surrogate and a one-step decode (``M=1, T=1``), any surrogate."""
    from tempo_kit.control import DITTO2

    return DITTO2(iterations=K, lr=lr, decode_steps=1, norm_prior=prior, optimizer=opt, progress=False)


def methods(bundle, decode_levels=()) -> dict:
    """Label -> (factory(K, lr, norm_prior, optimizer) -> method, model) for DITTO and each DITTO-2 variant (DITTO
    backpropagates without checkpointing, as in ``reproduce.py``: the same gradients, less time). Each tuple of
    ``decode_levels`` adds, per surrogate, DITTO-2 optimised through a decode re-noised to those levels
    (``DITTO2(decode_levels=...)``), labelled e.g. ``"DITTO-2 PRESTO-S decode at 0.15"``."""
    from tempo_kit.control import DITTO, DITTO2
    from tempo_kit.grad import Backprop

    out = {"DITTO": (lambda K, lr, prior, opt: DITTO(iterations=K, steps=20, lr=lr, grad=Backprop(), norm_prior=prior,
                                                     optimizer=opt, progress=False), bundle.teacher)}
    for name, jump in bundle.surrogates.items():
        out[f"DITTO-2 {name.upper()} M=1 T=1"] = (one_step, jump)
        out[f"DITTO-2 {name.upper()} decode T=2"] = (
            lambda K, lr, prior, opt: DITTO2(iterations=K, lr=lr, decode_steps=2, surrogate_steps="decode",
                                             norm_prior=prior, optimizer=opt, progress=False), jump)
        for levels in decode_levels:
            out[decode_label(name, levels)] = (
                lambda K, lr, prior, opt, levels=tuple(levels): DITTO2(iterations=K, lr=lr, decode_levels=levels,
                                                                       surrogate_steps="decode", norm_prior=prior,
                                                                       optimizer=opt, progress=False), jump)
    return out


def optimizer(row: dict) -> str:
    """The optimizer of the noise of a row or a choice (those written before the choice existed ran Adam)."""
    return row.get("optimizer", "adam")


def variant(row: dict) -> str:
    """The row's method with its norm prior and a non-default optimizer, e.g. ``"DITTO + project + adam-sample"``."""
    return (row["method"] + (f" + {row['norm_prior']}" if row.get("norm_prior") else "")  # as R.setting
            + (f" + {optimizer(row)}" if optimizer(row) != "adam" else ""))


def validation_targets(bundle, data: Path, clips: int):
    """``(indices, batch, cond)`` of ``clips`` training-split clips spread over the split: targets disjoint from the
    held-out clips ``reproduce.py`` tests on."""
    from tempo_kit.data import MusicDataset
    from tempo_kit.data.dataset import encode_tags

    train = MusicDataset(data, split="train")
    idx = torch.linspace(0, len(train) - 1, clips).round().long()
    tags = encode_tags([train.records[i]["tags"] for i in idx.tolist()], bundle.tag_vocab)
    return idx, train.batch(idx), {"tags": tags, "null": torch.zeros(clips, dtype=torch.bool)}


def split_targets(bundle, data: Path, clips: int, split: str):
    """``(indices, batch, cond)``: :func:`validation_targets` (``split="train"``) or ``reproduce.py``'s held-out test
    targets (``"heldout"``)."""
    if split == "train":
        return validation_targets(bundle, data, clips)
    idx = R.pick_clips(len(bundle.heldout), clips)
    return idx, bundle.heldout.batch(idx), R.conditioning(bundle, idx)


def run(data: Path, *, clips: int, lrs, tasks, priors=PRIORS, only=None, seed: int = 0, decode_levels=(),
        optimizers=("adam",), surrogates=None) -> dict:
    from tempo_kit.data import MusicDataset
    from tempo_kit.metrics import frechet_distance, mel_statistics

    bundle = R.load_bundle(data, independent=False)
    clash = sorted(set(surrogates or {}) & set(bundle.surrogates))
    if clash:
        raise ValueError(f"--surrogate names {clash} are the bundled surrogates'; give another NAME")
    bundle.surrogates.update({name: load_jump(path) for name, path in (surrogates or {}).items()})
    idx, batch, cond = validation_targets(bundle, data, clips)
    reference = mel_statistics(MusicDataset(data, split="train").mel.float())  # FAD reference: the whole split
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(seed))
    runs = methods(bundle, decode_levels)
    unknown = sorted(set(only or ()) - set(runs))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; the sweep's methods are {sorted(runs)}")
    rows = []
    for task in tasks:
        objectives = R.build_task(task, batch, bundle.mel)
        K = R.PAPER_ITERATIONS[task]
        for label, (make, model) in runs.items():
            if only and label not in only:
                continue
            for opt, prior, lr in itertools.product(optimizers, priors, lrs):
                row = {"task": task, "method": label, "norm_prior": prior, "lr": lr, "K": K, "optimizer": opt}
                name = f"{task} {variant(row)} lr {lr:g}"
                t0 = time.process_time()
                try:
                    r = make(K, lr, prior, opt)(model, objectives, eps=eps, cond=cond,
                                                generator=torch.Generator().manual_seed(seed + 1))
                except FloatingPointError as err:  # diverged at this lr: a result of the sweep, not a crash
                    rows.append({**row, "metric": None, "diverged": str(err),
                                 "cpu_seconds": time.process_time() - t0})
                    print(f"{name}: diverged ({err})", flush=True)
                    continue
                if not torch.isfinite(r.output).all():  # a finite loss can hide a non-finite output off the mask
                    rows.append({**row, "metric": None, "diverged": "non-finite output",
                                 "cpu_seconds": time.process_time() - t0})
                    print(f"{name}: diverged (non-finite output)", flush=True)
                    continue
                values = R.control_metric(task, objectives[0], r.output)
                fad = frechet_distance(mel_statistics(r.output), reference)
                rows.append({**row, "metric": statistics.mean(values), "fad": fad, "per_target": values,
                             "eps_mean_square": float(r.eps.pow(2).mean()),
                             "cpu_seconds": time.process_time() - t0})
                print(f"{name}: {rows[-1]['metric']:.4g}, FAD mel {fad:.3g} "
                      f"({rows[-1]['cpu_seconds']:.0f} CPU s)", flush=True)
    return {"rows": rows, "clips": idx.tolist(), "lrs": list(lrs), "priors": list(priors), "seed": seed,
            "optimizers": list(optimizers),
            "fad_targets": frechet_distance(mel_statistics(batch["x0"].float()), reference)}


#: A setting counts as keeping the music when its FAD mel is at most this multiple of the lowest FAD mel among the
#: settings it is chosen from (for a family, its most conservative setting; melody control raises every method's FAD).
FAD_CAP = 2.0


def _pick(rows: list[dict]) -> dict:
    """The row with the best control metric among those whose FAD mel is at most :data:`FAD_CAP` times the lowest of
    ``rows``; ties go to the smaller lr, then to no prior, then to Adam."""
    cap = FAD_CAP * min(r["fad"] for r in rows)
    sign = -1.0 if rows[0]["task"] in R.HIGHER_IS_BETTER else 1.0
    kept = [r for r in rows if r["fad"] <= cap]
    return min(kept, key=lambda r: (sign * r["metric"], r["lr"], r.get("norm_prior") is not None,
                                    optimizer(r) != "adam"))


def _finished(result: dict, task: str, keep) -> list[dict]:
    """The task's rows kept by ``keep(row)`` that ran to a finite control metric and FAD."""
    return [r for r in result["rows"] if r["task"] == task and keep(r) and r["metric"] is not None
            and math.isfinite(r["metric"]) and math.isfinite(r["fad"])]


def _chosen(result: dict, key) -> dict:
    """``{task: {key(row): row}}``: the row :func:`_pick` chooses among each task's finished rows of one key."""
    out: dict = {}
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        for name in dict.fromkeys(key(r) for r in result["rows"] if r["task"] == task):
            rows = _finished(result, task, lambda r, name=name: key(r) == name)
            if rows:  # none when every setting diverged
                out.setdefault(task, {})[name] = _pick(rows)
    return out


def best(result: dict) -> dict:
    """``{task: {variant: lr}}``: each method's learning rate chosen by :func:`_pick`, per norm prior
    (:func:`variant`)."""
    return {t: {n: r["lr"] for n, r in by.items()} for t, by in _chosen(result, variant).items()}


def choices(result: dict) -> dict:
    """``{task: {method: {"lr": lr, "norm_prior": prior, "optimizer": optimizer}}}``: each method's setting chosen by
    :func:`_pick` over all three, the rule of ``reproduce.py``'s full preset (which reads DITTO and each surrogate's default decoding:
    ``DITTO-2 CTM decode T=2``, ``DITTO-2 CM M=1 T=1``)."""
    return {t: {m: {"lr": r["lr"], "norm_prior": r.get("norm_prior"), "optimizer": optimizer(r)}
                for m, r in by.items()} for t, by in _chosen(result, lambda r: r["method"]).items()}


def decode_label(surrogate: str, levels) -> str:
    """The label :func:`methods` gives DITTO-2 on ``surrogate`` optimised through a decode re-noised to ``levels``
    (:func:`decode_of` reads it back): ``("ctm", (0.15,))`` -> ``"DITTO-2 CTM decode at 0.15"``."""
    return f"DITTO-2 {surrogate.upper()} decode at {levels_text(levels)}"


def decode_of(method: str) -> tuple[str, tuple | None] | None:
    """``(surrogate, levels)`` of a label of DITTO-2 optimised through a 2-step decode: ``"DITTO-2 CTM decode T=2"``
    -> ``("ctm", None)`` (the grid's level), ``"DITTO-2 CTM decode at 0.15"`` -> ``("ctm", (0.15,))``; None for other
    methods, decodes of more steps (``"decode at 0.5, 0.1"``) included."""
    m = re.fullmatch(r"DITTO-2 (\S+) decode (?:T=2|at ([^,]+))", method)
    if m is None:
        return None
    return m[1].lower(), None if m[2] is None else tuple(float(v) for v in m[2].split(","))


def decode_choices(result: dict) -> dict:
    """``{task: {surrogate: {"decode_levels", "lr", "norm_prior", "optimizer"}}}``: per surrogate, the setting :func:`_pick`
    chooses among *all* its methods optimised through a 2-step decode (the grid's level and each ``decode at``
    level, pooled), so the decode's re-noise level is chosen by the same rule as the learning rate
    (``reproduce.py``'s full preset reads the CTM's, its default decoding)."""
    out: dict = {}
    for task in dict.fromkeys(r["task"] for r in result["rows"]):
        for name in dict.fromkeys(d[0] for r in result["rows"] if (d := decode_of(r["method"]))):
            rows = _finished(result, task, lambda r, name=name: (decode_of(r["method"]) or ("",))[0] == name)
            if rows:
                r = _pick(rows)
                levels = decode_of(r["method"])[1]
                out.setdefault(task, {})[name] = {"decode_levels": None if levels is None else list(levels),
                                                  "lr": r["lr"], "norm_prior": r.get("norm_prior"),
                                                  "optimizer": optimizer(r)}
    return out


def _levels(levels) -> str:
    return "grid" if levels is None else f"at {levels_text(levels)}"


def _commits(result: dict) -> str:
    """The commit that ran the sweep, or each part's when runs of different commits were merged."""
    def one(git):
        return f"`{(git['commit'] or 'unknown')[:10]}`{' (dirty)' if git['dirty'] else ''}"

    parts = result.get("parts", [])
    if len({p["git"]["commit"] for p in parts}) < 2:
        return f"Commit {one(result['git'])}"
    return "Commits " + "; ".join(f"{one(p['git'])} ({', '.join(p['methods'])} on {', '.join(p['tasks'])}"
                                  f"{', with ' + ', '.join(p['optimizers']) if p.get('optimizers', ['adam']) != ['adam'] else ''})"
                                  for p in parts)


def markdown(result: dict) -> str:
    lrs = result["lrs"]
    lines = ["# Learning rate of each control method (validation targets)", "", f"{_commits(result)}; "
             f"{len(result['clips'])} training-split clips as targets (disjoint from reproduce.py's held-out test "
             f"targets), seed {result['seed']}, K as in reproduce.py's full preset; `benchmarks/bench_control_lr.py`.",
             "", "Each cell: control metric of the output, mean over the targets (intensity, structure and painting: "
             "MSE, lower is better; melody: frame accuracy in %, higher is better) / FAD on mel statistics against the "
             f"whole training split (the targets themselves: {result['fad_targets']:.3g}; biased upwards at "
             f"{len(result['clips'])} clips, compare within a task). **Bold**: the method's learning rate with the best "
             f"control among those with a FAD mel at most {FAD_CAP:g}x the method's lowest; diverged: the loss went non-finite. *+ project*: with "
             "`norm_prior=\"project\"` (the noise rescaled onto the Gaussian shell after every step); *+ adam-sample*: "
             "optimised with `SampleAdam` (one second moment per sample) instead of Adam.",
             "", "| task | method | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |", "|---" * (len(lrs) + 2) + "|"]
    chosen = best(result)
    cells: dict = {}
    for r in result["rows"]:
        cells.setdefault((r["task"], variant(r)), {})[r["lr"]] = r

    def cell(r, bold):
        text = "diverged" if r["metric"] is None else f"{r['metric']:.4g} / {r['fad']:.3g}"
        return f"**{text}**" if bold else text

    for (task, method), by_lr in cells.items():
        fmt = [cell(by_lr[lr], chosen.get(task, {}).get(method) == lr) if lr in by_lr else "-" for lr in lrs]
        lines.append(f"| {task} | {method} | " + " | ".join(fmt) + " |")
    picks = choices(result)
    lines += ["", "Chosen per task and method over learning rate, norm prior and optimizer (the best control among the "
              f"method's settings with a FAD mel at most {FAD_CAP:g}x its lowest; `reproduce.py`'s full preset reads "
              "DITTO and each surrogate's default decoding):", ""]
    lines += [f"- {task}: " + "; ".join(f"{m} {R.setting(c['lr'], c['norm_prior'], c['optimizer'])}"
                                       for m, c in by.items()) for task, by in picks.items()]
    decodes = decode_choices(result)
    levels_run = Counter(d[0] for d in {decode_of(r["method"]) for r in result["rows"]} if d)
    several = {name for name, n in levels_run.items() if n > 1}  # surrogates whose decode ran at more than one level
    if several:
        lines += ["", "Each surrogate's 2-step decode optimised through, its re-noise level chosen by the same rule over "
                  "all its levels pooled (*grid*: the teacher grid's level; `reproduce.py`'s full preset reads the "
                  "CTM's):", ""]
        lines += [f"- {task}: " + "; ".join(f"{name.upper()} {_levels(c['decode_levels'])} "
                                           f"{R.setting(c['lr'], c['norm_prior'], c['optimizer'])}"
                                           for name, c in by.items() if name in several)
                  for task, by in decodes.items()]
    return "\n".join(lines + [""])


def _part(result: dict) -> dict:
    """What one run contributed to a merged result: its commit, tasks, methods and optimizers."""
    return {"git": result["git"], "tasks": sorted({r["task"] for r in result["rows"]}),
            "methods": sorted({r["method"] for r in result["rows"]}),
            "optimizers": sorted({optimizer(r) for r in result["rows"]})}


def merge(results: list[dict]) -> dict:
    """One result from runs on the same targets and learning rates that share no (task, method, optimizer), each
    run's rows kept as they are. Runs of different commits may be joined (e.g. a method added to the sweep later):
    ``parts`` records which commit ran which tasks and methods. The choice of a method compares its rows across runs
    only where they differ in optimizer (the same targets, noise and learning rates; the priors are joined)."""
    first = results[0]
    for r in results[1:]:
        for key in ("clips", "lrs", "seed"):
            if r.get(key) != first.get(key):
                raise ValueError(f"cannot merge runs whose {key!r} differ: {first.get(key)} vs {r.get(key)}")
    seen = [{(row["task"], row["method"], optimizer(row)) for row in r["rows"]} for r in results]
    if sum(map(len, seen)) != len(set().union(*seen)):
        raise ValueError("cannot merge runs that share a (task, method, optimizer)")
    parts = [p for r in results for p in r.get("parts", [_part(r)])]
    commits = {p["git"]["commit"] for p in parts}
    git = first["git"] if len(commits) == 1 else {"commit": None, "dirty": any(p["git"]["dirty"] for p in parts)}
    union = lambda key, default: list(dict.fromkeys(v for r in results for v in r.get(key, default)))  # noqa: E731
    return {**first, "git": git, "parts": parts, "rows": [row for r in results for row in r["rows"]],
            "priors": union("priors", ()), "optimizers": union("optimizers", ["adam"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(R.ROOT / "outputs" / "data" / "music"))
    parser.add_argument("--clips", type=int, default=8, help="validation targets per task (at least 2, for an FAD)")
    parser.add_argument("--lrs", type=float, nargs="+", default=list(LRS))
    parser.add_argument("--norm-priors", nargs="+", default=["none", "project"], choices=["none", "project", "penalty"])
    parser.add_argument("--optimizers", nargs="+", default=["adam"], choices=list(OPTIMIZERS),
                        help="optimizers of the noise (adam-sample: one second moment per sample, SampleAdam)")
    parser.add_argument("--tasks", nargs="+", default=list(R.TASKS))
    parser.add_argument("--methods", nargs="+", metavar="LABEL",
                        help="run only these methods (labels as in the report, e.g. 'DITTO-2 PRESTO-S M=1 T=1')")
    parser.add_argument("--decode-levels", nargs="+", type=parse_levels, default=[], metavar="L1,L2,...",
                        help="also run DITTO-2 optimised through a decode re-noised to these levels (one method per "
                             "comma list and surrogate, e.g. 0.15 or 0.5,0.1)")
    parser.add_argument("--surrogate", action="append", default=[], metavar="NAME=PATH",
                        help="also sweep DITTO-2 on this jump model (a bundled name or folder), labelled by NAME, e.g. "
                             "presto-s-long=tempo_kit/weights/presto-s-long (repeatable)")
    add_output_options(parser, "control_lr")  # control_lr: the preset's source
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="join the result files of runs that share no (task, method, optimizer) into --name "
                             "instead of running")
    args = parser.parse_args(argv)
    if args.clips < 2:
        parser.error(f"--clips must be at least 2 (an FAD needs two clips), got {args.clips}")
    if any(not all(spec.partition("=")[::2]) for spec in args.surrogate):
        parser.error(f"--surrogate takes NAME=PATH, got {args.surrogate}")
    surrogates = dict(spec.partition("=")[::2] for spec in args.surrogate)
    if args.merge:
        result = merge([json.loads(Path(p).read_text()) for p in args.merge])
    else:
        torch.set_num_threads(args.threads)
        priors = [None if p == "none" else p for p in args.norm_priors]
        result = Q.run_at_commit(run, Path(args.data), clips=args.clips, lrs=args.lrs, tasks=args.tasks,
                                 priors=priors, only=args.methods, decode_levels=args.decode_levels,
                                 optimizers=args.optimizers, surrogates=surrogates)
        result["surrogates"] = surrogates
    result["best"] = best(result)
    result["choices"] = choices(result)
    result["decode_choices"] = decode_choices(result)
    write_results(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
