"""Shared by the benchmark scripts that write ``{"environment": ..., "results": [...]}`` JSON plus a Markdown table."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``), with ``+bf16`` where it has
    bfloat16 instructions (x86 ``avx512_bf16`` / ``amx_bf16``, Arm ``bf16``): timings are comparable only on one
    model."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith(("flags", "Features"))), [])
    return name + (" +bf16" if {"avx512_bf16", "amx_bf16", "bf16"} & set(flags) else "")


def environment(**extra) -> dict:
    """Date, CPU model and count, torch threads, 1-minute load average, Python and torch versions, plus ``extra``."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(), "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
            "python": platform.python_version(), "torch": torch.__version__, **extra}


def write_report(out, env: dict, rows: list[dict], lines: list[str], **extra) -> None:
    """Write ``OUT.json`` (environment, rows and any ``extra`` entries) and ``OUT.md`` (the given lines)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"environment": env, "results": rows, **extra}, indent=2))
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


def add_output_options(parser, stem: str, *, threads: bool = True) -> None:
    """The options every results-writing script shares: ``--out`` (results folder, default ``benchmarks/results``),
    ``--name`` (file stem, default ``stem``; read by :func:`write_results`) and, with ``threads``, ``--threads``
    (torch threads, default 1)."""
    if threads:
        parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="results folder")
    parser.add_argument("--name", default=stem, help="result file stem (default: %(default)s)")


def write_results(out, stem: str, result: dict, markdown: str) -> None:
    """Write ``OUT/STEM.json`` (the result) and ``OUT/STEM.md`` (its report) and print the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
