"""``tempo-kit control TASK``: run DITTO-2 (or DITTO) for one control task on the toy mel generator, save a plot.

The toy generator is a small random convolutional network (:mod:`tempo_kit.control.toy`); trained models plug in
through the same :class:`~tempo_kit.control.DITTO2` call once they are available.
"""

from __future__ import annotations

import json
from pathlib import Path

TASKS = ("intensity", "melody", "structure", "inpainting", "outpainting", "looping", "looping-free")


def configure(parser) -> None:
    parser.add_argument("task", choices=TASKS, help="control task")
    parser.add_argument("--method", choices=("ditto2", "ditto"), default="ditto2",
                        help="optimise through a 1-step surrogate (ditto2) or the full sampler (ditto)")
    parser.add_argument("--iterations", type=int, default=40, help="K optimisation steps (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="Adam learning rate on eps (default %(default)s for the toy; DITTO uses 5e-3)")
    parser.add_argument("--steps", type=int, default=8, help="DITTO sampler steps T (default: %(default)s)")
    parser.add_argument("--decode-steps", type=int, default=1, help="DITTO-2 decoding steps (default: %(default)s)")
    parser.add_argument("--surrogate-steps", default="1", help="DITTO-2 surrogate steps M, or 'adaptive'")
    parser.add_argument("--frames", type=int, default=64, help="output length in mel frames (default: %(default)s)")
    parser.add_argument("--fast", action="store_true", help="at most 10 iterations")
    parser.add_argument("--out", default="outputs/control", help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import torch

    from ..control import DITTO, DITTO2
    from ..control.toy import toy_generator, toy_task

    iterations = min(args.iterations, 10) if args.fast else args.iterations
    gen = toy_generator(frames=args.frames)
    objectives = toy_task(args.task, generator=gen)
    generator = torch.Generator().manual_seed(args.seed)
    if args.method == "ditto":
        method = DITTO(iterations=iterations, lr=args.lr, steps=args.steps, progress=not args.quiet)
        result = method(gen.denoiser, objectives, shape=gen.shape, generator=generator)
    else:
        m = args.surrogate_steps if args.surrogate_steps == "adaptive" else int(args.surrogate_steps)
        method = DITTO2(iterations=iterations, lr=args.lr, decode_steps=args.decode_steps, surrogate_steps=m,
                        progress=not args.quiet)
        result = method(gen.ctm_jump, objectives, shape=gen.shape, generator=generator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.task}_{args.method}"
    result.plot(out / f"{stem}.png")
    summary = {
        "task": args.task, "method": result.method, "iterations": iterations,
        "first_loss": float(result.loss_history[0]) if iterations else None,
        "last_loss": float(result.loss_history[-1]) if iterations else None,
        "final_losses": result.final_losses, "nfe_optimization": result.nfe_optimization,
        "nfe_decoding": result.nfe_decoding, "seconds": round(result.wall_time, 3),
    }
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    print(f"wrote {out / (stem + '.png')} and {out / (stem + '.json')}")
    return 0
