"""What one DITTO / DITTO-2 iteration costs on the bundled models, next to what its network calls alone cost.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ditto.py [--iterations 10] [--steps 20] [--repeats 5]

DITTO optimises the initial noise through the bundled teacher's sampler (DPM-Solver++(2M), ``--steps`` steps), with
per-step checkpointing (:class:`~tempo_kit.grad.Checkpointed`, the default) and with plain backpropagation; DITTO-2
optimises it through the one-step CTM and CM surrogates. The task is an intensity crescendo on a 5.94 s clip.

For each method the benchmark measures the time per optimisation iteration (``time_optimization / K``, median of
``--repeats`` runs) and the *bound*: the sum of the parts an iteration cannot avoid, each timed alone with the same
inputs, interleaved with the runs so load changes hit all alike:

* checkpointed DITTO: ``T`` network calls without a graph + ``T`` calls with a graph and their backward passes +
  the objective (extractor and loss, forward and backward);
* DITTO with backprop: ``T`` calls with a graph and their backward passes + the objective;
* DITTO-2: ``M`` jump calls with a graph and their backward passes + the objective.

``overhead`` is the measured time over the bound (target: at most 1.10 for DITTO). Network forward calls and backward
passes are counted (``ControlResult.nfe_optimization`` / ``backward_optimization``). Writes
``benchmarks/results/bench_ditto.json`` and ``.md`` with the git commit.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    from tempo_kit.control import DITTO, DITTO2, Objective
    from tempo_kit.control.targets import intensity_curve
    from tempo_kit.features.intensity import Intensity
    from tempo_kit.grad import Backprop, Checkpointed
    from tempo_kit.pipeline import Pipeline, tag_conditions
    from tempo_kit.losses import mse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=10, help="K optimisation steps per timed run")
    parser.add_argument("--steps", type=int, default=20, help="T sampler steps of DITTO")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (median reported)")
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    commit = Q.git_commit()
    K, T = args.iterations, args.steps

    teacher, ctm, cm = (Pipeline.from_pretrained(n) for n in ("teacher", "ctm", "cm"))
    cond = tag_conditions([{"instrument": "piano", "tempo": "moderate"}], model="teacher")
    extractor = Intensity()
    objective = Objective(extractor=extractor, loss=mse,
                          target=intensity_curve("crescendo", n_frames=args.frames, extractor=extractor))
    eps = torch.randn(1, 80, args.frames, generator=torch.Generator().manual_seed(0))
    ditto = {"checkpointed": DITTO(iterations=K, steps=T, progress=False),
             "backprop": DITTO(iterations=K, steps=T, grad=Backprop(), progress=False)}
    assert isinstance(ditto["checkpointed"].grad, Checkpointed)
    sigmas = ditto["checkpointed"].sigmas()[:-1].float()
    denoiser = teacher.model

    def objective_part():
        x0 = eps.clone().requires_grad_(True)
        torch.autograd.grad(objective(x0)[0], x0)

    def calls_without_graph():
        with torch.no_grad():
            for s in sigmas:
                denoiser(80 * eps, s.expand(1), cond)

    def calls_with_backward(model, levels, *args_):
        def run():
            for s in levels:
                x = (80 * eps).requires_grad_(True)
                out = model(x, s.expand(1), *args_, cond)
                torch.autograd.grad(out.square().mean(), x)
        return run

    jump_sigma_max = torch.tensor([80.0])
    parts = {"objective": objective_part, "calls_no_graph": calls_without_graph,
             "calls_fwd_bwd": calls_with_backward(denoiser, sigmas),
             "ctm_jump_fwd_bwd": calls_with_backward(ctm.model, jump_sigma_max, torch.zeros(1)),
             "cm_jump_fwd_bwd": calls_with_backward(cm.model, jump_sigma_max, torch.zeros(1))}
    methods = {f"DITTO, DPM-Solver++(2M) {T} steps, checkpointed": (ditto["checkpointed"], denoiser),
               f"DITTO, DPM-Solver++(2M) {T} steps, backprop": (ditto["backprop"], denoiser),
               "DITTO-2, CTM surrogate (M = 1)": (DITTO2(iterations=K, decode_steps=1, progress=False), ctm.model),
               "DITTO-2, CM surrogate (M = 1)": (DITTO2(iterations=K, decode_steps=1, progress=False), cm.model)}

    def run(method, model):
        return method(model, [objective], eps=eps, cond=cond)

    for fn in parts.values():  # warm-up
        fn()
    results = {label: run(*m) for label, m in methods.items()}
    times: dict[str, list[float]] = {k: [] for k in (*parts, *methods)}
    for _ in range(args.repeats):
        for name, fn in parts.items():
            times[name].append(_timed(fn))
        for label, m in methods.items():
            r = run(*m)
            times[label].append(r.time_optimization / K)
            results[label] = r
    med = {k: statistics.median(v) for k, v in times.items()}
    bounds = [med["calls_no_graph"] + med["calls_fwd_bwd"] + med["objective"],
              med["calls_fwd_bwd"] + med["objective"],
              med["ctm_jump_fwd_bwd"] + med["objective"], med["cm_jump_fwd_bwd"] + med["objective"]]
    rows = []
    for (label, _), bound in zip(methods.items(), bounds):
        r = results[label]
        rows.append({"method": label, "ms_per_iteration": 1000 * med[label], "bound_ms": 1000 * bound,
                     "overhead": med[label] / bound, "range_ms": [1000 * min(times[label]), 1000 * max(times[label])],
                     "forward_calls_per_iteration": r.nfe_optimization / K,
                     "backward_passes_per_iteration": r.backward_optimization / K})
    base = rows[0]["ms_per_iteration"]
    meta = {**commit, "K": K, "T": T, "frames": args.frames, "repeats": args.repeats, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "machine": platform.machine(),
            "parts_ms": {k: 1000 * med[k] for k in parts}, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ditto.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    p = meta["parts_ms"]
    lines = [
        "# Cost of a DITTO / DITTO-2 iteration on the bundled models", "",
        f"Intensity crescendo on one {args.frames}-frame clip; K = {K} iterations per run, median of {args.repeats} "
        f"interleaved rounds; {meta['threads']} thread(s), torch {torch.__version__}; git commit "
        f"`{(commit['commit'] or 'unknown')[:10]}`{' (dirty)' if commit['dirty'] else ''}, {meta['date']}. Produced by "
        "`benchmarks/bench_ditto.py`.", "",
        f"Parts, each timed alone: {T} teacher calls without a graph {p['calls_no_graph']:.1f} ms; {T} teacher calls "
        f"with a graph + backward {p['calls_fwd_bwd']:.1f} ms; one CTM jump + backward {p['ctm_jump_fwd_bwd']:.1f} ms; "
        f"one CM jump + backward {p['cm_jump_fwd_bwd']:.1f} ms; objective (extractor + loss, forward + backward) "
        f"{p['objective']:.2f} ms.", "",
        "| method | ms / iteration [range] | bound (parts) ms | overhead | forward calls / it. | backward passes / it. "
        "| time vs checkpointed DITTO |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['ms_per_iteration']:.1f} [{r['range_ms'][0]:.1f}, {r['range_ms'][1]:.1f}] "
                     f"| {r['bound_ms']:.1f} | {r['overhead']:.3f} | {r['forward_calls_per_iteration']:g} "
                     f"| {r['backward_passes_per_iteration']:g} | {r['ms_per_iteration'] / base:.3f} |")
    lines += ["", "Overhead = measured / bound; what is left over is the sampler's arithmetic, Adam and Python. "
              "Checkpointing costs the extra calls without a graph; where memory allows (a few clips on a CPU), plain "
              "backpropagation is the leaner DITTO.", ""]
    (out / "bench_ditto.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
