"""Subcommands of the ``tempo-kit`` CLI (see :mod:`tempo_kit.cli`)."""
