"""The ``tempo-kit`` command line. Each subcommand lives in :mod:`tempo_kit.commands` and is imported lazily."""

from __future__ import annotations

import argparse
import importlib
import sys

# module name -> one-line help; each module defines ``configure(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "plugins": ("tempo_kit.commands.plugins", "list every registered component (kind, name, plugin)"),
    "demo": ("tempo_kit.commands.demo", "the main job: clips from tags and a DITTO-2 melody control with the bundled models"),
    "generate": ("tempo_kit.commands.generate", "clips from tags with a bundled model: WAV, spectrogram and timings per clip"),
    "control": ("tempo_kit.commands.control", "DITTO-2 control of a bundled model (or the toy generator) for one task; WAV, plot, summary"),
    "distill": ("tempo_kit.commands.distill", "train a registered recipe (edm, ase, presto-l, cm, ctm, presto-s, ...) from a config file"),
    "data": ("tempo_kit.commands.data", "build the rendered-music dataset (music21 corpus through FluidSynth) or summarise one"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tempo-kit", description="Fast, controllable music generation with diffusion models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
