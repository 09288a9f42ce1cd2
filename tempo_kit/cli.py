"""The ``tempo-kit`` command line. Each subcommand lives in :mod:`tempo_kit.commands` and is imported lazily."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings

# module name -> one-line help; each module defines ``configure(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "plugins": ("tempo_kit.commands.plugins", "list every registered component (kind, name, plugin)"),
    "demo": ("tempo_kit.commands.demo", "the main job: clips from tags and a DITTO-2 melody control with the bundled models"),
    "generate": ("tempo_kit.commands.generate", "clips from tags with a bundled model: WAV, spectrogram and timings per clip"),
    "control": ("tempo_kit.commands.control", "DITTO-2 control of a bundled model (or the toy generator) for one task; WAV, plot, summary"),
    "distill": ("tempo_kit.commands.distill", "train a registered recipe (edm, ase, presto-l, cm, ctm, presto-s, ...) from a config file"),
    "serve": ("tempo_kit.commands.serve", "a local web demo: generate from tags, draw an intensity curve or type a melody and hear DITTO-2 follow it"),
    "data": ("tempo_kit.commands.data", "build the rendered-music dataset (music21 corpus through FluidSynth) or summarise one"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" in the error of an invalid choice (subcommands and their parsers inherit it)."""

    def error(self, message: str):
        import re

        from .utils import did_you_mean

        def hint(m: re.Match) -> str:
            valid = [v.strip().strip("'\"") for v in m[2].split(",")]
            given = m[1].strip("'")
            return f"invalid choice: {m[1]}{did_you_mean(given, valid)} (choose from {m[2]})"

        super().error(re.sub(r"invalid choice: ('[^']*'|\S+) \(choose from (.*)\)", hint, message))


def build_parser(commands: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommands in ``commands`` (all when None) get their options, so ``tempo-kit --help``
    and a command's run import nothing the other commands need."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("tempo_kit")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from . import __version__ as release
    parser = _Parser(prog="tempo-kit", description="Fast, controllable music generation with diffusion models.")
    parser.add_argument("--version", action="version", version=f"tempo-kit {release}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error (also TEMPO_KIT_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if commands is None or name in commands:
            importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser([a for a in argv if a in SUBCOMMANDS][:1])
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2
    plain_format = warnings.formatwarning
    if not (args.debug or os.environ.get("TEMPO_KIT_DEBUG")):
        warnings.formatwarning = _one_line_warning(args.command)
    out = getattr(args, "out", None)
    made_out = _missing_folders(out)  # removed after a failure while still empty
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:
        _remove_if_empty(made_out)
        again = ("; run the same command again to resume from its last checkpoint (a run that saved none starts over "
                 "and moves its files aside)") if args.command == "distill" else ""
        print(f"tempo-kit {args.command}: interrupted; files already written are complete, nothing is half-written"
              f"{again}", file=sys.stderr)
        return 130
    except Exception as err:  # one line, never a traceback, unless asked for
        _remove_if_empty(made_out)
        if args.debug or os.environ.get("TEMPO_KIT_DEBUG"):
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = plain_format


def _missing_folders(out) -> list[str]:
    """``out`` and those of its parents that do not exist yet, innermost first (what a run may create)."""
    missing = []
    if out is not None:
        path = os.path.abspath(out)
        while not os.path.exists(path) and path != os.path.dirname(path):
            missing.append(path)
            path = os.path.dirname(path)
    return missing


def _remove_if_empty(folders) -> None:
    """Remove ``folders`` (those a run made, innermost first) while each exists and is empty: nothing a user could
    lose."""
    for folder in folders:
        if not os.path.exists(folder):  # never made (e.g. the output file itself)
            continue
        if not os.path.isdir(folder) or os.listdir(folder):
            return
        with contextlib.suppress(OSError):  # never turn the one-line error into a traceback
            os.rmdir(folder)


def _one_line_warning(command: str):
    """A ``warnings.formatwarning``: one line, ``tempo-kit COMMAND: warning: ...``, without the source line Python adds
    (warnings still go where Python sends them, so they can be filtered and recorded as usual)."""

    def format(message, category, filename, lineno, line=None) -> str:
        return f"tempo-kit {command}: warning: {' '.join(str(message).split())}\n"

    return format


#: Exceptions whose message is meant for the user as it is; anything else is reported with its type.
_USER_ERRORS = (ValueError, KeyError, LookupError, OSError, ImportError, RuntimeError)


def _user_errors() -> tuple[type[BaseException], ...]:
    from .registry import RegistryError
    from .training.trainer import TrainingDivergedError

    return (*_USER_ERRORS, RegistryError, TrainingDivergedError)


def one_line(err: BaseException) -> str:
    """The error as one line: its message for the user-facing kinds (a KeyError without its quotes), with its type
    otherwise, and a hint that ``TEMPO_KIT_DEBUG=1`` shows the traceback."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    message = " ".join(message.split()) or type(err).__name__
    if isinstance(err, _user_errors()):
        return message
    return f"{type(err).__name__}: {message} (an internal error; tempo-kit --debug ... shows the traceback)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
