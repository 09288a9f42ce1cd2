"""``tempo-kit plugins [--json]``: list every registered component with its kind, name and plugin."""

from __future__ import annotations

import json


def configure(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    import warnings

    from ..registry import PluginLoadWarning, get_registry, singular

    with warnings.catch_warnings():
        if not args.json:  # the table lists the failures itself, once (with --json they go to stderr as warnings)
            warnings.simplefilter("ignore", PluginLoadWarning)
        registry = get_registry()
    rows = [{"kind": singular(e.kind), "name": e.name, "plugin": e.plugin, "description": e.description}
            for e in registry.entries()]
    if args.json:
        print(json.dumps({"components": rows, "failed_plugins": registry.failed}, indent=2))
        return 0
    widths = [max([len(h)] + [len(r[h]) for r in rows]) for h in ("kind", "name", "plugin")]
    print(f"{'KIND':<{widths[0]}}  {'NAME':<{widths[1]}}  {'PLUGIN':<{widths[2]}}  DESCRIPTION")
    for r in rows:
        print(f"{r['kind']:<{widths[0]}}  {r['name']:<{widths[1]}}  {r['plugin']:<{widths[2]}}  {r['description']}")
    for plugin, message in registry.failed.items():
        print(f"warning: {message}")
    return 0
