"""Subcommands of the ``tempo-kit`` CLI (see :mod:`tempo_kit.cli`)."""


def add_threads_option(parser) -> None:
    """``--threads N`` (default 1) for the commands that run the bundled models."""
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: %(default)s; the bundled models are small, so more threads add "
                             "synchronisation rather than speed, and on a busy machine run many times slower)")


def set_threads(args) -> None:
    """Apply ``--threads`` to torch's intra-op thread pool."""
    import torch

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)


def error_exit(err: Exception) -> int:
    """Print a user-facing error (a KeyError's message without its quotes) and return the exit status 1."""
    print(f"error: {err.args[0] if isinstance(err, KeyError) else err}")
    return 1
