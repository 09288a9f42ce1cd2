"""Bundle a trained model folder into ``tempo_kit/weights/NAME`` (float16 weights, config, model card).

    .venv/bin/python scripts/bundle_model.py teacher --from outputs/runs/teacher/student_ema --kind denoiser \
        --config configs/reference/teacher.toml --metrics benchmarks/results/quality.md

Several ``--from`` folders (lowest noise range first) with ``--edges`` are combined into one model of noise-level
experts (:func:`tempo_kit.models.combine_experts`); give each expert's training stages with ``--previous``.

The model card records what anyone needs to rebuild the weights: the dataset command, the training command and config,
the steps and wall time read from the run's ``losses.jsonl``, the last logged losses, and the metrics files given with
``--metrics`` (Markdown included as it is, JSON as a code block). `--metrics-only` refreshes just the Metrics section
of a bundled card (new benchmark figures, same weights).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("denoiser", "consistency", "ctm", "module")
DATA_COMMANDS = {  # the dataset commands of docs/models.md and docs/distillation/steps.md, by data root
    "outputs/data/music": "tempo-kit data build --out outputs/data/music --collections bach,essen --max-pieces 200 --workers 2",
    "outputs/data/music_big": "tempo-kit data build --out outputs/data/music_big --collections bach,essen --max-pieces 700 "
                              "--workers 2",
}


def data_commands(config_paths: list[Path]) -> list[str]:
    """The dataset command of each data root the configs train on (in order, once each; the first stage first)."""
    from tempo_kit.training.config import load_config

    roots = []
    for path in config_paths:
        root = load_config(path).get("data", {}).get("root") if Path(path).is_file() else None
        if root is None:
            print(f"bundle_model: {path} names no data root (or is missing); the card's data line leaves it out",
                  file=sys.stderr)
        elif os.path.normpath(root) not in roots:
            roots.append(os.path.normpath(root))
    return [DATA_COMMANDS.get(r, f"a dataset built at {r}") for r in roots or ["outputs/data/music"]]


def run_stats(run_dir: Path) -> dict:
    """Steps, wall time (summed over resumed segments) and the last logged losses of a training run."""
    path = run_dir / "losses.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    timed = [r for r in rows if "time" in r]
    wall, prev = 0.0, 0.0
    for r in timed:  # time restarts at 0 when a run resumes: add up each segment's last value
        if r["time"] < prev:
            wall += prev
        prev = r["time"]
    wall += prev
    last = rows[-1] if rows else {}
    losses = {k: round(v, 5) for k, v in last.items() if k not in ("step", "time") and isinstance(v, (int, float))}
    steps = int(last.get("step", -1)) + 1  # the log keeps every log_every-th step: the checkpoint knows the last one
    if (run_dir / "checkpoint.safetensors").is_file():
        from safetensors import safe_open

        with safe_open(str(run_dir / "checkpoint.safetensors"), "pt") as f:
            steps = int((f.metadata() or {}).get("step", steps))
    return {"steps": steps, "wall_seconds": round(wall, 1), "last_losses": losses}


def tag_vocab(config: dict) -> dict | None:
    data = config.get("data", {})
    if data.get("name") != "music":
        return None
    from tempo_kit.data import MusicDataset

    return {k: list(v) for k, v in MusicDataset(ROOT / data["root"], split="heldout").tag_vocab.items()}


def card(name: str, *, kind: str, description: str, meta: dict, stats: dict, config_path: Path | None,
         command: str, n_params: int, size: int, metrics: list[Path], previous: list[tuple[str, dict]] = ()) -> str:
    lines = [f"# {name}", "", description, "",
             f"- Load: `tempo_kit.pretrained.load_pretrained({name!r})` (kind `{kind}`)",
             f"- Architecture: `{meta.get('model')}` {json.dumps(meta.get('config', {}))}",
             f"- Stored values: {n_params:,} (parameters and buffers; {size / 1e6:.2f} MB as float16 safetensors)"]
    if meta.get("router"):
        lines.append(f"- Router: {json.dumps(meta['router'])}")
    if meta.get("precond") and kind != "module":
        lines.append(f"- EDM preconditioning: {json.dumps(meta['precond'])}")
    lines += ["", "## How it was made", "",
              "- Data: " + ", then ".join(f"`{c}`" for c in data_commands(
                  [Path(c) for c, _ in previous] + ([config_path] if config_path is not None else []))) +
              " (music21 corpus rendered through FluidSynth with TimGM6mb; train split)",
              f"- Command: `{command}`"]
    for stage_config, stage in previous:
        lines.append(f"- Earlier stage: `tempo-kit distill --config {stage_config}`, {stage['steps']:,} steps, "
                     f"{stage['wall_seconds'] / 60:.1f} min, last losses {json.dumps(stage['last_losses'])}")
    if stats:
        lines += [f"- Steps: {stats['steps']:,}",
                  f"- Wall time: {stats['wall_seconds'] / 60:.1f} min on the 2-core CPU (shared with other jobs)",
                  f"- Last logged losses: {json.dumps(stats['last_losses'])}"]
    if config_path is not None:
        lines += ["", f"Config (`{config_path.relative_to(ROOT) if config_path.is_absolute() else config_path}`):", "",
                  "```toml", config_path.read_text().strip(), "```"]
    return "\n".join(lines).rstrip() + "\n" + metrics_section(metrics)


def metrics_section(metrics: list[Path]) -> str:
    """The card's ``## Metrics`` section: each file's text under a line naming it (empty without files). An image
    the file links by a relative path becomes a line naming the image's path (the card lives elsewhere)."""
    if not metrics:
        return ""
    lines = ["", "## Metrics", ""]
    for path in metrics:
        text = re.sub(r"!\[([^\]]*)\]\((?![A-Za-z][\w+.-]*:|/|#)([^)\s]+)(?:\s+\"[^\"]*\")?\)",
                      lambda m: f"{m[1]}: `{os.path.normpath(path.parent / m[2])}`", path.read_text().strip())
        lines += [f"From `{path}`:", ""]
        lines += ["```json", text, "```", ""] if path.suffix == ".json" else [text, ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--from", dest="src", nargs="+",
                        help="saved model folder (a run's student_ema or student), or several noise-level experts, "
                             "lowest noise range first, with --edges")
    parser.add_argument("--edges", type=float, nargs="+", default=None,
                        help="with several --from folders: the noise levels between their ranges (increasing)")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--config", default=None, help="the training config (copied into the card)")
    parser.add_argument("--command", default=None, help="training command (default: tempo-kit distill --config CONFIG)")
    parser.add_argument("--description", default="")
    parser.add_argument("--metrics", nargs="*", default=[], help="Markdown or JSON files with the model's metrics")
    parser.add_argument("--meta", default="{}", help="JSON merged into the config's 'pretrained' table")
    parser.add_argument("--previous", nargs=2, action="append", default=[], metavar=("CONFIG", "RUN_DIR"),
                        help="an earlier training stage of this model (its config and run folder), for the card")
    parser.add_argument("--out", default=str(ROOT / "tempo_kit" / "weights"))
    parser.add_argument("--metrics-only", action="store_true",
                        help="keep the bundled weights and card, replace only the card's Metrics section with --metrics")
    args = parser.parse_args(argv)
    if args.metrics_only:
        if not args.metrics:
            parser.error("--metrics-only needs --metrics FILE (the new figures)")
        path = Path(args.out) / args.name / "MODEL_CARD.md"
        text = path.read_text()
        head = text.split("\n## Metrics\n")[0].rstrip()
        path.write_text(head + "\n" + metrics_section([Path(m) for m in args.metrics]))
        print(f"updated the metrics of {path}")
        return 0

    if not args.src or not args.kind:
        parser.error("--from and --kind are required (except with --metrics-only)")
    from tempo_kit.training.config import load_config

    if (len(args.src) > 1) != (args.edges is not None):
        parser.error("several --from folders need --edges (one fewer), and --edges needs several --from folders")
    previous = [(c, run_stats(Path(r))) for c, r in args.previous]
    missing = [r for (c, r), (_, stats) in zip(args.previous, previous) if not stats]
    if missing:
        parser.error(f"--previous run folder(s) without a losses.jsonl: {', '.join(missing)}")
    config_path = Path(args.config) if args.config else None
    config = load_config(config_path) if config_path else {}
    pretrained = {"kind": args.kind, **json.loads(args.meta)}
    vocab = tag_vocab(config)
    if vocab is not None and "tag_vocab" not in pretrained:
        pretrained["tag_vocab"] = vocab
    out = Path(args.out) / args.name
    tmp = out.with_name(f".{args.name}.bundling")  # built aside, then swapped in: a failure leaves the bundle as it was
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _build(args, tmp, pretrained=pretrained, config_path=config_path, previous=previous)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"bundled {args.name} -> {out} ({(out / 'model.safetensors').stat().st_size / 1e6:.2f} MB)")
    return 0


def _build(args, tmp: Path, *, pretrained: dict, config_path: Path | None, previous: list) -> None:
    """Write the float16 weights, config and card of the bundle into ``tmp``."""
    from tempo_kit.models.io import file_sha256

    src = Path(args.src[0])
    if len(args.src) > 1:
        from tempo_kit.models import combine_experts, save_model

        src = save_model(combine_experts(args.src, args.edges), tmp / "combined")
    meta = json.loads((src / "config.json").read_text())
    state = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src / "model.safetensors")).items()}
    save_file(state, str(tmp / "model.safetensors"))
    meta["weights_sha256"] = file_sha256(tmp / "model.safetensors")  # of the float16 file, checked on every load
    (tmp / "config.json").write_text(json.dumps({**meta, "pretrained": pretrained}, indent=2) + "\n")
    command = args.command or f"tempo-kit distill --config {args.config}"
    shutil.rmtree(tmp / "combined", ignore_errors=True)
    text = card(args.name, kind=args.kind, description=args.description, meta=meta,
                stats=run_stats(src.parent) if len(args.src) == 1 else {},
                config_path=config_path, command=command, n_params=sum(v.numel() for v in state.values()),
                size=(tmp / "model.safetensors").stat().st_size, metrics=[Path(m) for m in args.metrics],
                previous=previous)
    (tmp / "MODEL_CARD.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
