"""How well each noise level's jump of a Presto-S generator lands: mean squared distance between ``G(x_k, sigma_k)``
and the end of the teacher's probability-flow ODE from ``x_k``, per level, on a regression-pairs file, and the signed
mean of ``G(x_k, sigma_k)`` minus that end (a level shift of the whole spectrogram, which re-noising and jumping again
adds up).

A one-step sample needs a good jump from ``sigma_max``; a multi-step sample also needs good jumps from the re-noise
levels (``presto-s`` at 4 steps: 9.72 and 0.47 after 80). The teacher's own one-step denoiser ``D(x_k, sigma_k)`` is
a row for scale: a jump that lands farther than it at low noise leaves noise in the sample. Use pairs the generators
did not train on for a held-out view (e.g. ``tempo-kit data ode-pairs --seed 2``).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_presto_jumps.py PAIRS LABEL=FOLDER [LABEL=FOLDER ...]``
(``teacher`` is always a row). Writes ``presto_jumps.{json,md}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from _report import add_output_options, environment, write_results  # noqa: E402



def run(pairs_path: str, models: dict[str, str], *, teacher: str = "tempo_kit/weights/teacher", per_level: int = 96,
        seed: int = 0) -> dict:
    from tempo_kit.models.io import file_sha256, load_denoiser, read_safetensors

    pairs = read_safetensors(pairs_path)
    nets = {"teacher D (one denoising step)": load_denoiser(teacher).eval()}
    nets.update({label: load_denoiser(folder).eval() for label, folder in models.items()})
    gen = torch.Generator().manual_seed(seed)
    levels = pairs["sigma"].unique().flip(0)
    errors: dict[str, list[float]] = {label: [] for label in nets}
    bias: dict[str, list[float]] = {label: [] for label in nets}
    with torch.inference_mode():
        for s in levels:
            idx = (pairs["sigma"] == s).nonzero().squeeze(1)
            idx = idx[torch.randperm(idx.numel(), generator=gen)[:per_level]]
            j = pairs["trajectory"][idx]
            x, end, cond = pairs["x"][idx].float(), pairs["x0"][j].float(), {"tags": pairs["tags"][j]}
            for label, net in nets.items():
                miss = net(x, pairs["sigma"][idx], cond) - end
                errors[label].append(float(miss.pow(2).mean()))
                bias[label].append(float(miss.mean()))
    env = environment(**Q.git_commit(), pairs=str(pairs_path), teacher=str(teacher), per_level=per_level, seed=seed,
                      models={label: {"folder": f, "sha256": file_sha256(Path(f) / "model.safetensors")}
                              for label, f in models.items()})
    return {"environment": env, "sigma": [float(s) for s in levels], "mse": errors, "bias": bias}


def markdown(result: dict) -> str:
    env = result["environment"]
    labels = list(result["mse"])
    lines = ["# Jump error per noise level", "",
             f"Mean squared distance between each model's jump `G(x_k, sigma_k)` and the teacher's ODE end from `x_k`, "
             f"{env['per_level']} pairs per level of `{env['pairs']}`, commit `{(env.get('commit') or '?')[:10]}`. "
             "Produced by `benchmarks/bench_presto_jumps.py`.", "",
             "| sigma | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for i, s in enumerate(result["sigma"]):
        lines.append(f"| {s:.3g} | " + " | ".join(f"{result['mse'][k][i]:.2e}" for k in labels) + " |")
    if "bias" in result:
        lines += ["", "Mean of `G(x_k, sigma_k)` minus the ODE end (model-space mel units; negative: a darker, quieter "
                  "spectrogram):", "", "| sigma | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for i, s in enumerate(result["sigma"]):
            lines.append(f"| {s:.3g} | " + " | ".join(f"{result['bias'][k][i]:+.4f}" for k in labels) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs", help="a regression-pairs file ('tempo-kit data ode-pairs')")
    p.add_argument("models", nargs="+", metavar="LABEL=FOLDER", help="saved generators to score")
    p.add_argument("--teacher", default="tempo_kit/weights/teacher", help="the teacher the pairs were solved with")
    p.add_argument("--per-level", type=int, default=96)
    add_output_options(p, "presto_jumps", threads=False)
    args = p.parse_args(argv)
    try:
        models = Q.labelled_paths(args.models)
    except ValueError as err:
        p.error(str(err))
    result = run(args.pairs, models, teacher=args.teacher,
                 per_level=args.per_level)
    write_results(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
