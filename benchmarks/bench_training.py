"""Training and routed-inference timings of the reference DiT (~4 M parameters, width 256, 6 blocks, patch 4).

1. EDM training steps/s (forward + backward + AdamW through the Trainer) on a batch of 16 log-mel clips of 80 x 256
   frames, fp32 vs bf16 autocast;
2. per-step forward latency (batch 1, 80 x 256, no grad) of the full model vs ASE-routed vs Presto-L-routed at several
   layer budgets, as ratios to the full model within the same run.

Both wall-clock and process-CPU times are recorded (CPU time is the meaningful one on a shared, busy machine).

Writes ``benchmarks/results/bench_training.json`` and ``.md``.

    .venv/bin/python benchmarks/bench_training.py [--steps 20] [--repeats 30] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from tempo_kit.denoisers import EDMPrecond
from tempo_kit.models import DiT, DiTConfig
from tempo_kit.routers import EarlyExitRouter, PrestoLRouter, RoutedNet
from tempo_kit.training import TensorData, TrainConfig, Trainer
from tempo_kit.training.recipes.edm import EDMRecipe

RESULTS = Path(__file__).parent / "results"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_speed(*, bf16: bool, steps: int, device: str, batch: int, frames: int) -> dict[str, float]:
    """Optimizer steps per second of wall-clock time and per second of process CPU time."""
    torch.manual_seed(0)
    recipe = EDMRecipe(net=DiT(config=DiTConfig()), lr=1e-4)
    data = TensorData(x0=0.5 * torch.randn(64, 80, frames))
    trainer = Trainer(recipe=recipe, data=data,
                      config=TrainConfig(steps=steps + 3, batch_size=batch, bf16=bf16, progress=False, device=device))
    for _ in range(3):  # warm-up
        trainer.train_step()
    _sync(trainer.device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step()
    _sync(trainer.device)
    return {"wall": steps / (time.perf_counter() - t0), "cpu": steps / (time.process_time() - c0)}


def latencies(denoisers: dict[str, torch.nn.Module], x, sigma, repeats: int) -> dict[str, dict[str, float]]:
    """Median wall-clock and process-CPU seconds of one call of each denoiser.

    The denoisers are timed in interleaved rounds, so a change of machine load affects all of them alike.
    """
    wall = {k: [] for k in denoisers}
    cpu = {k: [] for k in denoisers}
    with torch.no_grad():
        for i in range(repeats + 3):
            for name, den in denoisers.items():
                _sync(x.device)
                t0, c0 = time.perf_counter(), time.process_time()
                den(x, sigma)
                _sync(x.device)
                if i >= 3:
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
    return {k: {"wall": statistics.median(wall[k]), "cpu": statistics.median(cpu[k])} for k in denoisers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", default=str(RESULTS / "bench_training"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    speed = {name: train_speed(bf16=bf16, steps=args.steps, device=args.device, batch=args.batch, frames=args.frames)
             for name, bf16 in (("fp32", False), ("bf16", True))}

    torch.manual_seed(0)
    net = DiT(config=DiTConfig(budget_embedding=True)).to(device)
    with torch.no_grad():  # non-zero modulation so every block does real work
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    depth = net.num_blocks
    x = torch.randn(1, 80, args.frames, device=device)
    sigma = torch.full((1,), 10.0, device=device)
    denoisers = {("full", depth): EDMPrecond(net=net)}
    for name, router_cls in (("ase", EarlyExitRouter), ("presto-l", PrestoLRouter)):
        for budget in range(depth - 1, 0, -1):
            denoisers[(name, budget)] = EDMPrecond(net=RoutedNet(net=net, router=router_cls(budget=budget)))
        scheduled = int(router_cls().budgets(sigma.cpu(), depth)[0])  # the default schedule at sigma = 10
        denoisers[(f"{name} schedule @ sigma=10", scheduled)] = EDMPrecond(net=RoutedNet(net=net, router=router_cls()))
    times = latencies(denoisers, x, sigma, args.repeats)
    full = times[("full", depth)]
    rows = [{"model": name, "budget": budget, "seconds": t, "ratio": t["wall"] / full["wall"],
             "cpu_ratio": t["cpu"] / full["cpu"]} for (name, budget), t in times.items()]

    result = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "params": sum(p.numel() for p in DiT().parameters()),
        "train": {"batch": args.batch, "frames": args.frames, "steps": args.steps,
                  "steps_per_s": speed, "bf16_speedup_wall": speed["bf16"]["wall"] / speed["fp32"]["wall"],
                  "bf16_speedup_cpu": speed["bf16"]["cpu"] / speed["fp32"]["cpu"]},
        "forward_latency": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    md = [f"# Reference DiT training and routed inference ({result['device']}, torch {result['torch']}, "
          f"{result['threads']} threads)", "",
          f"DiT: {result['params'] / 1e6:.2f} M parameters (width 256, 6 blocks, patch 4).", "",
          f"## EDM training, batch {args.batch} of 80 x {args.frames}", "",
          "| precision | steps/s (wall) | steps/s (process CPU) | wall ratio to fp32 | CPU ratio to fp32 |",
          "|---|---|---|---|---|"]
    for k, v in speed.items():
        md.append(f"| {k} | {v['wall']:.2f} | {v['cpu']:.2f} | {v['wall'] / speed['fp32']['wall']:.2f} | "
                  f"{v['cpu'] / speed['fp32']['cpu']:.2f} |")
    md += ["", f"## Forward latency, batch 1 of 80 x {args.frames} (median of {args.repeats})", "",
           "| model | active blocks | ms (wall) | ms (process CPU) | wall ratio to full | CPU ratio to full |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['budget']} | {1e3 * r['seconds']['wall']:.2f} | {1e3 * r['seconds']['cpu']:.2f} | "
                  f"{r['ratio']:.2f} | {r['cpu_ratio']:.2f} |")
    md += ["", f"Measured at load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; under contention the "
           "process-CPU columns are the more meaningful ones."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
