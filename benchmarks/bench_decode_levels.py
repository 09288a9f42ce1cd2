"""DITTO-2 control at each decoding setting, on validation targets (issue: decoding that keeps control).

For the bundled CTM and CM surrogates, DITTO-2 runs the intensity task (its 3 curves: crescendo, decrescendo, swell),
the melody task (4 random melodies, never the bundled tunes, which are the test targets of the demo and
``reproduce.py``) and the structure task (forms ABA, AAB, ABAB) with the defaults (K = 200, lr 0.05) and decodes the
optimised noise with: 1 step; 2 steps on the 20-step teacher grid (first re-noise level 1.98); 2 steps with an
explicit first level s; and, optimised through the decode itself (``surrogate_steps="decode"``, the pipeline's
default), 2 and 4 grid steps. Reports the control metric of the decoded output (intensity MSE in dB^2 and structure
MSE, lower is better; melody frame accuracy on the mel output, higher is better), mean over targets and seeds with a
bootstrap interval over targets x seeds. Except for the runs through the decode, the optimisation is shared: every
decode of one target starts from the same optimised noise. FAD of each decode (uncontrolled) is in
``quality_decode.md``. Writes benchmarks/results/decode_levels.{json,md}.
Run: ``.venv/bin/python benchmarks/bench_decode_levels.py`` (about 20 min on one core).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SETTINGS = {"T=1": dict(decode_steps=1), "T=2 grid (s=1.98)": dict(decode_steps=2),
            "T=2 s=0.05": dict(decode_levels=(0.05,)), "T=2 s=0.1": dict(decode_levels=(0.1,)),
            "T=2 s=10": dict(decode_levels=(10.0,)), "T=2 s=20": dict(decode_levels=(20.0,)),
            "T=2 s=40": dict(decode_levels=(40.0,)),
            "T=2 through the decode": dict(decode_steps=2, surrogate_steps="decode"),
            "T=4 through the decode": dict(decode_steps=4, surrogate_steps="decode")}
TASKS = {"intensity": range(3), "melody": range(4), "structure": range(3)}


def metric(task: str, result) -> float:
    """Intensity, structure: MSE of the decoded output's feature; melody: frame accuracy of the decoded output."""
    from tempo_kit.control import IGNORE_INDEX
    from tempo_kit.features.chroma import melody_accuracy

    obj = result.objectives[0]
    if task == "melody":
        return float(melody_accuracy(result.features[obj.name], obj.target.value, ignore_index=IGNORE_INDEX))
    return float(result.final_losses[obj.name])


def run(models, seeds, iterations: int) -> dict:
    from tempo_kit.audio.mel import MelSpec
    from tempo_kit.control import DITTO2
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.pipeline import CONTROL_DEFAULTS, tag_conditions
    from tempo_kit.pretrained import load_pretrained

    shape = (1, MelSpec().n_mels, 256)
    rows = []
    for model in models:
        jump = load_pretrained(model)
        cond = tag_conditions([{"instrument": "flute", "mode": "major"}], model=model)
        for task, variants in TASKS.items():
            for variant in variants:
                objectives = task_objectives(task, n_frames=256, variant=variant)
                for seed in seeds:
                    eps = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
                    base = DITTO2(iterations=iterations, lr=CONTROL_DEFAULTS["lr"], decode_steps=1, progress=False)
                    first = base(jump, objectives, eps=eps, cond=cond, generator=torch.Generator().manual_seed(seed + 1))
                    for label, kw in SETTINGS.items():
                        if kw.get("surrogate_steps") == "decode":  # its own optimisation, through the decode
                            r = DITTO2(iterations=iterations, lr=CONTROL_DEFAULTS["lr"], progress=False, **kw)(
                                jump, objectives, eps=eps, cond=cond, generator=torch.Generator().manual_seed(seed + 1))
                        else:  # decode the one-step optimisation's noise (K = 0: no new optimisation)
                            decode = DITTO2(iterations=0, decode_steps=kw.get("decode_steps", 2),
                                            decode_levels=kw.get("decode_levels"), progress=False)
                            r = decode(jump, objectives, eps=first.eps, cond=cond,
                                       generator=torch.Generator().manual_seed(seed + 1))
                        rows.append({"model": model, "task": task, "variant": variant, "seed": seed, "setting": label,
                                     "metric": metric(task, r)})
    return {"rows": rows}


def summarise(rows: list[dict], n_boot: int = 1000) -> dict:
    from tempo_kit.metrics import interval

    out = {}
    gen = torch.Generator().manual_seed(0)
    for key in sorted({(r["model"], r["task"]) for r in rows}):
        out[f"{key[0]} / {key[1]}"] = cells = {}
        for label in SETTINGS:
            v = torch.tensor([r["metric"] for r in rows if (r["model"], r["task"]) == key and r["setting"] == label],
                             dtype=torch.float64)
            boot = v[torch.randint(len(v), (n_boot, len(v)), generator=gen)].mean(1)
            cells[label] = {"mean": float(v.mean()), "ci": list(interval(boot, point=float(v.mean()))), "n": len(v)}
    return out


def markdown(result: dict) -> str:
    lines = ["# DITTO-2 control by decoding setting (validation targets)", "",
             f"Commit `{result['git']['commit']}`{' (dirty tree)' if result['git']['dirty'] else ''}; K = "
             f"{result['iterations']}; `{result['command']}`.", "",
             "Control metric of the decoded output: intensity MSE in dB^2 and structure MSE (lower is better), melody frame accuracy on "
             "the mel output (higher is better); mean over targets x seeds [95% bootstrap interval]. Every decode of a "
             "target starts from the same noise optimised through the one-step surrogate, except the 'through the "
             "decode' columns, which optimise through the decode itself (``surrogate_steps=\"decode\"``, T jumps per "
             "iteration).", "",
             "| surrogate / task | " + " | ".join(SETTINGS) + " |", "|---" * (len(SETTINGS) + 1) + "|"]
    for key, cells in result["summary"].items():
        lines.append(f"| {key} | " + " | ".join(
            Q.fmt_interval(cells[s]["mean"], cells[s]["ci"]) for s in SETTINGS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="ctm,cm")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    git = Q.git_commit()
    result = run(args.models.split(","), [int(s) for s in args.seeds.split(",")], args.iterations)
    result.update(summary=summarise(result["rows"]), git=git, iterations=args.iterations,
                  command="python benchmarks/bench_decode_levels.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    (out / "decode_levels.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "decode_levels.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
