"""Sampling benchmarks: memory of checkpointed vs full backprop, and sampler overhead per step.

(a) Peak memory of one gradient (forward + backward) through a 20-step Euler chain of the reference DiT
    (``tempo_kit.models.dit.DiT`` with its default config, about 4 M parameters; its zero-initialized output layers are
    re-initialized randomly so the network is non-trivial). There is no CUDA here, so memory is measured as the growth
    of the process's peak resident set size (``ru_maxrss``) in a fresh subprocess per measurement: the baseline is the
    RSS after building the model and one warm-up 1-step gradient, the peak is ``ru_maxrss`` after the 20-step gradient.
    A second, allocator-independent figure is the size of the distinct activation storages autograd saves for backward
    during the forward pass (``torch.autograd.graph.saved_tensors_hooks``; weights excluded). For checkpointing it counts only what outlives the checkpointed
    segments (the recomputation in the backward pass saves one segment at a time), so it is a lower bound there; the RSS
    figure includes that recomputation.
(b) Sampler overhead: wall time per step of each sampler driving a trivial model (a denoiser/jump that returns its
    input scaled; no network), against one forward call of the reference DiT at batch 1 on 80 x 256 mel frames.

Writes benchmarks/results/sampling.json and sampling.md. Run: ``.venv/bin/python benchmarks/bench_sampling.py``.
Timings use one intra-op thread and are the best of several repeats; ratios are within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
SHAPE = (80, 256)  # mel bins x frames, the reference model's input


def reference_denoiser():
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.models.dit import DiT, DiTConfig

    net = DiT(config=DiTConfig())
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the zero-initialized output layers would make F = 0: randomize them
        for layer in (net.adaln, net.adaln_out, net.patch_out):
            layer.weight.copy_(0.02 * torch.randn(layer.weight.shape, generator=gen))
    for p in net.parameters():
        p.requires_grad_(False)  # DITTO optimizes x_T only
    return EDMPrecond(net=net), sum(p.numel() for p in net.parameters())


# -- (a) memory ----------------------------------------------------------------------------------------------------------
def _memory_child(strategy: str, steps: int, batch: int) -> dict:
    import resource

    from tempo_kit import get
    from tempo_kit.grad import Backprop, Checkpointed

    torch.set_num_threads(1)
    denoiser, _ = reference_denoiser()
    sampler = get("samplers", "euler")
    grad = {"backprop": Backprop(), "checkpoint": Checkpointed()}[strategy]
    gen = torch.Generator().manual_seed(0)
    weights = {t.untyped_storage().data_ptr() for t in [*denoiser.parameters(), *denoiser.buffers()]}

    def gradient(n):
        x_T = (80 * torch.randn(batch, *SHAPE, generator=gen)).requires_grad_(True)
        storages = {}

        def pack(t):
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:  # count each activation storage once, never the weights
                storages[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = sampler(denoiser, x_T, n, grad=grad)
        out.square().mean().backward()
        return sum(storages.values())

    gradient(1)  # warm-up: allocator pools, lazy initialisation
    rss_before = _current_rss()
    saved = gradient(steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_rss_growth_mb": (peak - rss_before) / 2**20, "saved_for_backward_mb": saved / 2**20}


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def measure_memory(steps: int, batch: int, repeats: int) -> dict:
    out = {}
    for strategy in ("backprop", "checkpoint"):
        runs = []
        for _ in range(repeats):
            proc = subprocess.run([sys.executable, __file__, "--memory-child", strategy, "--steps", str(steps),
                                   "--batch", str(batch)], capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        out[strategy] = {key: min(r[key] for r in runs) for key in runs[0]}
    out["ratio_backprop_over_checkpoint_rss"] = (out["backprop"]["peak_rss_growth_mb"]
                                                 / max(out["checkpoint"]["peak_rss_growth_mb"], 1e-9))
    return out


# -- (b) overhead ----------------------------------------------------------------------------------------------------------
def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_overhead(steps: int, repeats: int) -> dict:
    from torch import nn

    from tempo_kit import get
    from tempo_kit.grad import Checkpointed

    class TrivialDenoiser(nn.Module):
        def forward(self, x, sigma, cond=None):
            return 0.5 * x

    class TrivialJump(nn.Module):
        def forward(self, x, sigma_from, sigma_to, cond=None):
            return 0.5 * x

    denoiser, n_params = reference_denoiser()
    x = torch.randn(1, *SHAPE)
    c_noise = torch.zeros(1)
    with torch.no_grad():
        denoiser.net(x, c_noise, None)
        model_call = _best(lambda: denoiser.net(x, c_noise, None), repeats)
    x_T = 80 * x
    rows = {}
    for name, kwargs, model in [("euler", {}, TrivialDenoiser()), ("heun", {}, TrivialDenoiser()),
                                ("heun", {"s_churn": 10.0}, TrivialDenoiser()), ("cm", {}, TrivialJump()),
                                ("ctm-gamma", {"gamma": 0.2}, TrivialJump()), ("presto-s", {}, TrivialJump())]:
        sampler = get("samplers", name, **kwargs)
        label = name + "".join(f" {k}={v}" for k, v in kwargs.items())
        noise = torch.randn(steps, *x_T.shape) if sampler.needs_noise else None
        sampler(model, x_T, steps, noise=noise)
        per_step = _best(lambda: sampler(model, x_T, steps, noise=noise), repeats) / steps
        x_grad = x_T.clone().requires_grad_(True)

        def with_grad():
            sampler(model, x_grad, steps, noise=noise, grad=Checkpointed()).sum().backward()

        with_grad()
        per_step_grad = _best(with_grad, repeats) / steps
        rows[label] = {"per_step_ms": 1e3 * per_step, "per_step_checkpointed_fwd_bwd_ms": 1e3 * per_step_grad,
                       "nfe_per_step": sampler.nfe(steps) / steps,
                       "overhead_over_model_call": per_step / model_call}
    return {"model": f"tempo_kit.models.dit.DiT (default config, {n_params / 1e6:.2f} M parameters)",
            "model_call_ms": 1e3 * model_call, "steps": steps, "samplers": rows}


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sampling.json").write_text(json.dumps(results, indent=2))
    mem, ovh = results["memory"], results["overhead"]
    lines = [
        "# Sampling: checkpointing memory and sampler overhead",
        "",
        f"CPU ({results['cpus']} cores, 1-min load average {results['load_average_1min']:.1f} at the end of the run), "
        f"{results['threads']} intra-op thread, torch {results['torch']}. Produced by `benchmarks/bench_sampling.py`; "
        "method in its docstring. Absolute times scale with the machine's load; the ratios are taken within one run.",
        "",
        f"## (a) Memory of one gradient through a {mem['steps']}-step Euler chain (batch {mem['batch']} x 80 x 256, "
        "reference DiT)",
        "",
        "| strategy | peak RSS growth (MB) | saved for backward in the forward pass (MB) |",
        "|---|---|---|",
    ]
    for s in ("backprop", "checkpoint"):
        lines.append(f"| {s} | {mem[s]['peak_rss_growth_mb']:.1f} | {mem[s]['saved_for_backward_mb']:.1f} |")
    lines += ["", f"Full backprop needs {mem['ratio_backprop_over_checkpoint_rss']:.1f}x the peak memory of per-step "
                  "checkpointing (RSS growth, best of the repeats, fresh process each).", "",
              f"## (b) Sampler overhead per step (trivial model, batch 1 x 80 x 256, {ovh['steps']} steps)", "",
              f"One forward call of {ovh['model']}: **{ovh['model_call_ms']:.2f} ms**.", "",
              "| sampler | overhead per step (ms) | / one DiT call | per step, checkpointed fwd+bwd (ms) |",
              "|---|---|---|---|"]
    for label, r in ovh["samplers"].items():
        lines.append(f"| {label} | {r['per_step_ms']:.3f} | {r['overhead_over_model_call']:.3f} | "
                     f"{r['per_step_checkpointed_fwd_bwd_ms']:.3f} |")
    (RESULTS / "sampling.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-child", choices=["backprop", "checkpoint"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(_memory_child(args.memory_child, args.steps, args.batch)))
        return 0
    torch.set_num_threads(1)
    memory = measure_memory(args.steps, args.batch, args.repeats)
    memory.update(steps=args.steps, batch=args.batch)
    overhead = measure_overhead(args.steps, max(5, args.repeats))
    results = {"torch": torch.__version__, "threads": 1, "machine": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0], "memory": memory, "overhead": overhead}
    write(results)
    print((RESULTS / "sampling.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
