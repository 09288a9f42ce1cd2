"""DITTO vs DITTO-2 on the toy mel generator: wall time, network calls and final control loss, as ratios within one run.

    .venv/bin/python benchmarks/bench_ditto.py [--iterations 20] [--steps 20] [--decode-steps 2] [--repeats 3]

Writes ``benchmarks/results/bench_ditto.json`` and ``.md``. The toy network is tiny, so absolute times mostly measure
framework overhead; the NFE columns are exact and the time ratio is what the cost model predicts (``K + T`` vs
``2KT + T`` calls) as long as network calls dominate.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from tempo_kit.control import DITTO, DITTO2
from tempo_kit.control.toy import toy_generator, toy_task
from tempo_kit.samplers import CTMGamma


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20, help="K optimisation steps")
    parser.add_argument("--steps", type=int, default=20, help="T sampler steps of DITTO")
    parser.add_argument("--decode-steps", type=int, default=2, help="T decoding steps of DITTO-2")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per method (median reported)")
    parser.add_argument("--task", default="intensity")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = toy_generator(frames=64, hidden=64)
    objectives = toy_task(args.task, generator=gen)
    K, T, Td = args.iterations, args.steps, args.decode_steps
    methods = {
        f"DITTO (Euler {T} steps, checkpointed)": (
            DITTO(iterations=K, steps=T, sampler="euler", progress=False), gen.denoiser),
        f"DITTO-2 CTM (M=1, T={Td}, gamma=0.2)": (
            DITTO2(iterations=K, decode_steps=Td, sampler=CTMGamma(gamma=0.2), progress=False), gen.ctm_jump),
        f"DITTO-2 CM (M=1, T={Td})": (DITTO2(iterations=K, decode_steps=Td, progress=False), gen.cm_jump),
        f"DITTO-2 CTM (adaptive M, T={Td})": (
            DITTO2(iterations=K, decode_steps=Td, surrogate_steps="adaptive", progress=False), gen.ctm_jump),
    }
    # warm-up (first calls build caches and import lazily)
    DITTO2(iterations=2, progress=False)(gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0))
    rows = []
    for label, (method, model) in methods.items():
        times, result = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = method(model, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0))
            times.append(time.perf_counter() - t0)
        rows.append({"method": label, "seconds": sorted(times)[len(times) // 2], "nfe": result.nfe,
                     "nfe_optimization": result.nfe_optimization, "nfe_decoding": result.nfe_decoding,
                     "final_loss": result.final_losses[objectives[0].name],
                     "first_loss": float(result.loss_history[0]) if K else None})
    base = rows[0]
    for r in rows:
        r["time_ratio_vs_ditto"] = r["seconds"] / base["seconds"]
        r["nfe_ratio_vs_ditto"] = r["nfe"] / base["nfe"]
    meta = {"task": args.task, "K": K, "T_ditto": T, "T_decode": Td, "repeats": args.repeats,
            "shape": list(gen.shape), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "cost_model": {"ditto": 2 * K * T + T, "ditto2_m1": K + Td}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ditto.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        f"# DITTO vs DITTO-2 on the toy mel generator ({args.task}, K = {K})", "",
        f"Output shape {tuple(gen.shape)}, median of {args.repeats} runs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. Ratios are relative to DITTO in the same run.", "",
        "| method | wall time (s) | time ratio | NFE (opt + decode) | NFE ratio | first loss | final loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first = "-" if r["first_loss"] is None else f"{r['first_loss']:.4g}"
        lines.append(f"| {r['method']} | {r['seconds']:.3f} | {r['time_ratio_vs_ditto']:.3f} | {r['nfe']} "
                     f"({r['nfe_optimization']} + {r['nfe_decoding']}) | {r['nfe_ratio_vs_ditto']:.4f} | {first} "
                     f"| {r['final_loss']:.4g} |")
    lines += ["", f"Cost model: DITTO 2KT + T = {2 * K * T + T} calls; DITTO-2 (M = 1) K + T = {K + Td} calls.", "",
              "Loss columns: Adam at DITTO's lr 5e-3. The toy network is untrained, so its T-step sampler and its "
              "one-step jump give unrelated outputs and a multi-step decode drifts from the one-step surrogate; the "
              "losses are not a quality comparison between the methods (see tests/test_control_ditto.py for "
              "behaviour).", ""]
    (out / "bench_ditto.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
