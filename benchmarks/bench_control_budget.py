"""Control against CPU time: DITTO and DITTO-2 with the number of iterations K swept, on the held-out targets.

For each task (``--tasks``, default all five) the held-out targets of ``reproduce.py`` (``--clips``, spread
over the split, one batch) are controlled from the same initial noise by DITTO (the bundled teacher, DPM-Solver++(2M)
20 steps, backprop), DITTO-2 on the CTM (one-step surrogate and decode; and through the 2-step decode) and DITTO-2 on
Presto-S (one step) at every K of ``--ks``, each at its own learning rate, norm prior and optimizer chosen on
validation targets (``benchmarks/results/control_lr.json``, :data:`SWEPT`); the 2-step decode is re-noised to the level
chosen there with its lr (0.15 for the CTM on melody, structure and the painting tasks, as ``reproduce.py``'s full
preset and the library's default). Each (method, K) is its own run; reported: process CPU
seconds per clip, the control metric of the output (mean over the targets) and FAD mel against all held-out clips
(biased upwards at this n; compare within a task). A user reads off which method wins at each budget.

The budget table answers "is DITTO-2's curve at or below DITTO's at every budget DITTO reaches": for each DITTO run
and each DITTO-2 variant, the DITTO-2 run with the largest K whose CPU time per clip is within DITTO's (chosen by
budget, not by outcome) is compared with it on the same targets: the ratio of mean MSEs (at most 1 is at least as
good) or the difference of mean melody accuracy in points (at least 0), with a paired bootstrap interval over the
targets; a verdict only where the interval decides.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_control_budget.py`` (about 45 min on one core). Writes
``benchmarks/results/control_budget.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
import bench_control_lr as LR  # noqa: E402
from _report import add_output_options, write_results  # noqa: E402
from tempo_kit.utils import levels_text  # noqa: E402
import reproduce as R  # noqa: E402

RESULTS = Path(__file__).parent / "results"


#: The sweep's (``benchmarks/bench_control_lr.py``) label of each method run here: each runs at its own validation
#: choice of learning rate, norm prior and optimizer, read from ``control_lr.json``; a ``--student`` takes those
#: :func:`student_settings` names (another surrogate's, or its own from a ``--choices`` file).
SWEPT = {"DITTO (teacher, 20 steps)": "DITTO", "DITTO-2 (CTM, one step)": "DITTO-2 CTM M=1 T=1",
         "DITTO-2 (CTM, through the 2-step decode)": "DITTO-2 CTM decode T=2",
         "DITTO-2 (PRESTO-S, one step)": "DITTO-2 PRESTO-S M=1 T=1"}


#: ``--student LABEL=PATH@KEY``: whose validation choices (lr, norm prior, optimizer) a student's one-step row uses:
#: the one-step CTM's or Presto-S's, or (any other KEY) those a sweep with ``bench_control_lr.py --surrogate KEY=PATH``
#: chose for the student itself, read with ``--choices``.
STUDENT_SETTINGS = {"ctm": "DITTO-2 CTM M=1 T=1", "presto-s": "DITTO-2 PRESTO-S M=1 T=1"}


def student_settings(key: str) -> str:
    """The sweep label of ``--student ...@KEY``'s settings."""
    return STUDENT_SETTINGS.get(key) or f"DITTO-2 {key.upper()} M=1 T=1"


def methods(bundle, task: str, students: dict | None = None, choices: dict | None = None,
            decodes: dict | None = None) -> dict:
    """Label -> (factory(K) -> method, model, (lr, norm prior, optimizer)): DITTO, DITTO-2 on the CTM (one step;
    through the 2-step decode) and on Presto-S (one step) when bundled, and one one-step DITTO-2 row per ``students``
    entry (label -> (jump, the sweep label whose settings it takes), :func:`load_students`). The methods are the
    sweep's (``bench_control_lr.methods``) at its settings: ``choices`` (the sweep's ``{task: {label: {"lr", "norm_prior"}}}``) and, for a decode, ``decodes`` (its ``{task: {surrogate:
    {"decode_levels", "lr", "norm_prior"}}}``: the re-noise level chosen with the lr, as ``reproduce.py``'s full
    preset reads it; a row through a decode at a chosen level says so in its label). Both default to the committed
    ``control_lr.json``'s."""
    committed = json.loads((RESULTS / "control_lr.json").read_text()) if choices is None or decodes is None else {}
    choices = (choices or committed["choices"])[task]
    decodes = (decodes or committed.get("decode_choices", {})).get(task, {})
    settings = {name: (c["lr"], c["norm_prior"], LR.optimizer(c)) for name, c in choices.items()}
    runs, levels_used = {}, []
    for label, name in SWEPT.items():
        decode = LR.decode_of(name)
        if decode and decode[0] in decodes:  # the decode's level is chosen with its lr
            chosen = decodes[decode[0]]
            if chosen["decode_levels"]:
                levels_used.append(tuple(chosen["decode_levels"]))
                name = LR.decode_label(decode[0], chosen["decode_levels"])
                label = f"{label[:-1]} at {levels_text(chosen['decode_levels'])})"
            settings[name] = (chosen["lr"], chosen["norm_prior"], LR.optimizer(chosen))
        runs[label] = (name, None)
    swept = LR.methods(bundle, list(dict.fromkeys(levels_used)))
    out = {}
    for label, (name, jump) in runs.items():
        if name in swept:  # not when its surrogate is not bundled
            out[label] = (lambda K, make=swept[name][0], setting=settings[name]: make(K, *setting),
                          jump or swept[name][1], settings[name])
    for label, (jump, name) in (students or {}).items():
        if name not in settings:
            raise ValueError(f"{task}: no validation choice {name!r} for student {label!r} (give the sweep's result "
                             f"with --choices)")
        out[f"DITTO-2 ({label}, one step)"] = (lambda K, setting=settings[name]: LR.one_step(K, *setting), jump,
                                               settings[name])
    return out


def parse_student(spec: str) -> tuple[str, str, str]:
    """``LABEL=PATH[@KEY]`` -> ``(label, path, sweep label of its settings)``."""
    label, sep, rest = spec.partition("=")
    path, _, key = rest.partition("@")
    if not sep or not path:
        raise SystemExit(f"--student takes LABEL=PATH[@KEY], got {spec!r}")
    return label, path, student_settings(key or "ctm")


def load_students(specs) -> dict:
    """``LABEL=PATH[@KEY]`` -> label -> (jump, sweep label of its settings): a saved one-step model (a consistency-kind
    pretrained folder, or a training snapshot of an x0-predicting denoiser, which is wrapped as a consistency jump)
    run at the validation choices :func:`student_settings` names (default the one-step CTM's)."""
    out = {}
    for label, path, settings in map(parse_student, specs):
        if label in {key.upper() for key in STUDENT_SETTINGS} or label in out:  # the rows 'DITTO-2 (CTM, ...)', ...
            raise SystemExit(f"--student label {label!r} is taken (a built-in row or another student)")
        out[label] = (LR.load_jump(path), settings)
    return out


def merge_choices(committed: dict, extra_choices) -> dict:
    """``control_lr.json``'s choices with those of students' own sweeps added; a sweep may add labels, never replace
    a committed one (the built-in rows keep their settings)."""
    merged = {task: dict(by) for task, by in committed.items()}
    for extra in extra_choices:
        for task, by in extra["choices"].items():
            clash = sorted(set(by) & set(merged.get(task, {})))
            if clash:
                raise ValueError(f"--choices: {task} {clash} would replace the committed choice; pass a sweep of the "
                                 f"student's own surrogate (bench_control_lr.py --surrogate ... --methods ...)")
            merged.setdefault(task, {}).update(by)
    return merged


def run(data: Path, *, tasks, ks, ditto_ks, clips: int, seed: int = 0, students: dict | None = None,
        extra_choices=()) -> dict:
    committed = merge_choices(json.loads((RESULTS / "control_lr.json").read_text())["choices"], extra_choices)
    missing = [f"{task}: {label!r} ({name})" for task in tasks for label, (_, name) in (students or {}).items()
               if name not in committed.get(task, {})]
    if missing:  # before any work: a run must not stop half-way
        raise ValueError(f"no validation choice for {'; '.join(missing)}; pass its sweep with --choices or run only "
                         f"the tasks it covers (--tasks)")
    bundle = R.load_bundle(data, independent=False)
    R.warm_up(bundle)
    idx = R.pick_clips(len(bundle.heldout), clips)
    batch = bundle.heldout.batch(idx)
    cond = R.conditioning(bundle, idx)
    eps = torch.randn(batch["x0"].shape, generator=torch.Generator().manual_seed(seed))
    rows, diverged, rates = [], [], {}
    for task in tasks:
        objectives = R.build_task(task, batch, bundle.mel)
        runs = methods(bundle, task, students, choices=committed)
        rates[task] = {label: list(setting) for label, (_, _, setting) in runs.items()}
        for label, (make, model, _) in runs.items():
            for K in (ditto_ks if label.startswith("DITTO (") else ks):
                t0 = time.process_time()
                try:
                    r = make(K)(model, objectives, eps=eps, cond=cond,
                                generator=torch.Generator().manual_seed(seed + 1))
                except FloatingPointError as err:  # diverged: reported, and left out of the curves and the budgets
                    print(f"{task} {label} K={K}: diverged ({err})", flush=True)
                    diverged.append({"task": task, "method": label, "K": K, "error": str(err)})
                    continue
                cpu = time.process_time() - t0
                values = R.control_metric(task, objectives[0], r.output)
                rows.append({"task": task, "method": label, "K": K, "cpu_s_per_clip": cpu / clips,
                             "metric": statistics.mean(values), "values": values,
                             "fad": R.fad(bundle, r.output, embeddings=("mel",))["fad"]})
                print(f"{task} {label} K={K}: {rows[-1]['metric']:.4g}, FAD mel {rows[-1]['fad']:.3g}, "
                      f"{rows[-1]['cpu_s_per_clip']:.2f} CPU s/clip", flush=True)
    return {"rows": rows, "diverged": diverged, "clips": idx.tolist(), "seed": seed, "rates": rates,
            "budget": budget_table(rows, seed=seed)}


def budget_table(rows: list[dict], *, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """DITTO-2 (each variant, largest K within the budget) against every DITTO run of the same task (see the module
    docstring); paired bootstrap over the targets."""
    from tempo_kit.metrics import interval, verdict

    out = []
    for d in (r for r in rows if r["method"].startswith("DITTO (")):
        higher = d["task"] in R.HIGHER_IS_BETTER
        for variant in dict.fromkeys(r["method"] for r in rows if r["method"].startswith("DITTO-2")
                                     and r["task"] == d["task"]):  # the variants run on this task
            within = [r for r in rows if r["task"] == d["task"] and r["method"] == variant
                      and r["cpu_s_per_clip"] <= d["cpu_s_per_clip"]]
            row = {"task": d["task"], "ditto_K": d["K"], "budget_s": d["cpu_s_per_clip"], "ditto_metric": d["metric"],
                   "ditto_fad": d["fad"], "variant": variant, "verdict": "no DITTO-2 run within the budget"}
            if within:
                r = max(within, key=lambda x: x["K"])
                a, b = torch.tensor(d["values"], dtype=torch.float64), torch.tensor(r["values"], dtype=torch.float64)
                idx = torch.randint(len(a), (n_boot, len(a)), generator=torch.Generator().manual_seed(seed))
                if higher:  # accuracy points gained by DITTO-2
                    stat, boot = float(b.mean() - a.mean()), b[idx].mean(1) - a[idx].mean(1)
                else:  # DITTO-2's MSE as a fraction of DITTO's
                    stat, boot = float(b.mean() / a.mean()), b[idx].mean(1) / a[idx].mean(1).clamp_min(1e-30)
                low, high = interval(boot)
                row.update(K=r["K"], cpu_s_per_clip=r["cpu_s_per_clip"], metric=r["metric"], fad=r["fad"],
                           stat=stat, low=low, high=high,
                           verdict=verdict(low, high, at_least=0.0) if higher else verdict(low, high, at_most=1.0))
            out.append(row)
    return out


def markdown(result: dict, name: str = "control_budget") -> str:
    lines = ["# Control against CPU time (K swept)", "",
             f"Commit `{(result['git']['commit'] or 'unknown')[:10]}`{' (dirty)' if result['git']['dirty'] else ''}; "
             f"{len(result['clips'])} held-out targets in one batch, seed {result['seed']}, one thread; "
             "`benchmarks/bench_control_budget.py`. Control metric: MSE (intensity, dB^2; lower is better) or frame "
             "accuracy in % (melody; higher is better), mean over the targets; FAD mel against all held-out clips "
             "(biased upwards at this n). Learning rate, norm prior and optimizer of each method, its own choice on validation targets "
             "(`benchmarks/results/control_lr.md`): " + "; ".join(
                 f"{t}: " + ", ".join(f"{m} {R.setting(*setting)}" for m, setting in by.items())
                 for t, by in result.get("rates", {}).items()) + "." + "".join(
                 f" One-step surrogate {label!r}: `{s['path']}` at the settings of '{s['settings']}'."
                 for label, s in result.get("students", {}).items())
             + "".join(f" Students' own choices from `{f}`." for f in result.get("choices_files", [])), "",
             "| task | method | K | CPU s / clip | control metric | FAD mel |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['task']} | {r['method']} | {r['K']} | {r['cpu_s_per_clip']:.2f} | {r['metric']:.4g} "
                     f"| {r['fad']:.3g} |")
    lines += [f"| {d['task']} | {d['method']} | {d['K']} | - | diverged | - |" for d in result.get("diverged", [])]
    if result.get("budget"):
        lines += ["", "## At every DITTO budget", "",
                  "For each DITTO run, each DITTO-2 variant's run with the largest K within the same CPU time per "
                  "clip. Statistic: DITTO-2's mean MSE as a fraction of DITTO's (at or below DITTO: at most 1), or "
                  "DITTO-2's mean melody accuracy minus DITTO's in points (at least 0); 95% paired bootstrap interval "
                  "over the targets. Verdict: DITTO-2 at least as good as DITTO at that budget (MET / NOT MET only when "
                  "the interval decides).", "",
                  "| task | DITTO K | budget (CPU s / clip) | DITTO metric | DITTO FAD mel | DITTO-2 variant | K "
                  "| CPU s / clip | metric | FAD mel | statistic [95% interval] | verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b in result.get("budget", []):  # empty without DITTO runs
        head = (f"| {b['task']} | {b['ditto_K']} | {b['budget_s']:.2f} | {b['ditto_metric']:.4g} | {b['ditto_fad']:.3g} "
                f"| {b['variant'][len('DITTO-2 '):]} |")
        if "K" not in b:
            lines.append(f"{head} - | - | - | - | - | {b['verdict']} |")
            continue
        lines.append(f"{head} {b['K']} | {b['cpu_s_per_clip']:.2f} | {b['metric']:.4g} | {b['fad']:.3g} "
                     f"| {b['stat']:.3g} [{b['low']:.3g}, {b['high']:.3g}] | {b['verdict']} |")
    return "\n".join(lines + ["", f"![control against CPU time]({name}.png)", ""])


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(r["task"] for r in result["rows"]))
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax in axes[len(tasks):]:
        ax.set_axis_off()
    for ax, task in zip(axes, tasks):
        for i, method in enumerate(dict.fromkeys(r["method"] for r in result["rows"])):
            rs = [r for r in result["rows"] if r["task"] == task and r["method"] == method]
            if not rs:  # a variant run on other tasks only: no empty legend entry
                continue
            ax.plot([r["cpu_s_per_clip"] for r in rs], [r["metric"] for r in rs], "o-", color=f"C{i}", label=method)
            for r in rs:
                ax.annotate(str(r["K"]), (r["cpu_s_per_clip"], r["metric"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xscale("log")
        if task not in R.HIGHER_IS_BETTER:
            ax.set_yscale("log")
        ax.set(xlabel="CPU seconds per clip", ylabel=R.METRIC[task], title=f"{task} (labels: K)")
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=90)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(R.ROOT / "outputs" / "data" / "music"))
    parser.add_argument("--tasks", nargs="+", default=list(R.TASKS))
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20, 40, 70, 150, 300, 600, 1200])
    parser.add_argument("--ditto-ks", type=int, nargs="*", default=[5, 10, 20, 40, 70, 150],
                        help="DITTO's K values (none: DITTO-2 rows only)")
    parser.add_argument("--student", action="append", default=[], metavar="LABEL=PATH[@KEY]",
                        help="also run DITTO-2 with this one-step model as surrogate and decoder (repeatable), at the "
                             "validation settings of the one-step ctm (default), presto-s, or KEY from --choices")
    parser.add_argument("--choices", nargs="+", default=[], metavar="JSON",
                        help="result files of bench_control_lr.py --surrogate KEY=PATH whose choices join "
                             "control_lr.json's (a student's own settings, @KEY)")
    parser.add_argument("--clips", type=int, default=8)
    add_output_options(parser, "control_budget", threads=False)  # one thread: the timings compare CPU time
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = Q.run_at_commit(run, Path(args.data), tasks=args.tasks, ks=args.ks, ditto_ks=args.ditto_ks,
                             clips=args.clips, students=load_students(args.student),
                             extra_choices=[json.loads(Path(f).read_text()) for f in args.choices])
    result["students"] = {label: {"path": path, "settings": settings}
                          for label, path, settings in map(parse_student, args.student)}
    result["choices_files"] = list(args.choices)
    write_results(args.out, args.name, result, markdown(result, args.name))
    if not result["rows"]:
        print(f"every run diverged: no curve to plot (see {args.name}.md)", file=sys.stderr)
        return 1
    plot(result, Path(args.out) / f"{args.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
