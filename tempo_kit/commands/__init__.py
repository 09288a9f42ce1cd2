"""Subcommands of the ``tempo-kit`` CLI (see :mod:`tempo_kit.cli`)."""


def bounded(kind, low, high):
    """An argparse ``type`` accepting ``kind`` values in ``[low, high]`` (finite); anything else is a one-line usage
    error naming the valid range."""
    import argparse
    import math

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if not math.isfinite(value) or not low <= value <= high:
            shown = str if kind is int else (lambda v: f"{v:g}")
            raise argparse.ArgumentTypeError(f"must be in [{shown(low)}, {shown(high)}], got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


#: Upper bounds of the CLI's size options: far beyond any useful run, low enough that no request exhausts memory.
MAX_STEPS, MAX_FRAMES, MAX_ITERATIONS, MAX_CLIPS = 1000, 4096, 100_000, 256


def add_threads_option(parser) -> None:
    """``--threads N`` (default 1) for the commands that run the bundled models."""
    parser.add_argument("--threads", type=bounded(int, 1, 256), default=1,
                        help="torch threads (default: %(default)s; the bundled models are small, so more threads add "
                             "synchronisation rather than speed, and on a busy machine run many times slower)")


def set_threads(args) -> None:
    """Apply ``--threads`` to torch's intra-op thread pool."""
    import torch

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)


def check_out(path) -> None:
    """Create the output folder and check that it can be written, before any compute (one-line error if not)."""
    import os
    from pathlib import Path

    if not str(path).strip():
        raise ValueError("--out is empty: name the output folder (e.g. --out outputs/clips; '.' for this folder)")
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create the output folder {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to the output folder {path}: permission denied")
