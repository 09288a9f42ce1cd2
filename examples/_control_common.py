"""Shared command line of the control examples (the bundled distilled model, K, the output folder) and what each
example writes (the target-vs-achieved plot and the vocoded clip)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tempo_kit.clips import FADE_MS, save_wav

#: Iterations of ``--fast``: a smoke run for CI (seconds; the control has barely started).
FAST_ITERATIONS = 4


def parse(description: str, **extra) -> argparse.Namespace:
    """``--model`` (a bundled distilled model: its jump is DITTO-2's surrogate), ``--iterations`` (DITTO-2's K;
    default the pipeline's for the task), ``--fast``, ``--seed``, ``--out``; ``extra``: more options by name, as
    ``add_argument`` keyword dicts."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ctm", help="bundled distilled model: ctm, cm, presto-s, presto-s-long, "
                                                       "presto-ls (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=None, help="DITTO-2's K (default: the pipeline's for the task)")
    parser.add_argument("--fast", action="store_true", help=f"{FAST_ITERATIONS} iterations unless --iterations says (a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/examples", help="folder for the plot and the clip")
    for name, kwargs in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    args = parser.parse_args()
    if args.fast and args.iterations is None:
        args.iterations = FAST_ITERATIONS
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return args


def report(run, out: str, stem: str, *, seamless: bool = False) -> None:
    """Print the run's losses, network calls and time; write ``stem.png`` (targets vs achieved features, the output's
    mel frames, the loss history) and ``stem.wav`` (no fades where the clip must loop)."""
    result = run.result
    png = Path(out) / f"{stem}.png"
    result.plot(png)
    wav = save_wav(Path(out) / f"{stem}.wav", run.audio[0], run.sample_rate, fade_ms=0 if seamless else FADE_MS)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.final_losses.items())
    history = result.loss_history
    path = (f"loss {float(history[0]):.4g} -> {float(history[-1]):.4g}, " if len(history) else "no optimisation, ")
    print(f"{result.method} on {run.model}, K = {run.iterations}: {path}decoded: {losses}; {result.nfe_optimization} "
          f"+ {result.nfe_decoding} network calls, {result.wall_time:.1f} s; wrote {png} and {wav}")
