"""How much of DITTO-2's one-step output survives a 2-step decode, on the bundled surrogates (issue: decoding that keeps
control).

For each bundled surrogate (CM with its multistep sampler, CTM with gamma-sampling at gamma 0.2) and each feature a
control reads (intensity in dB, log-chroma), :func:`tempo_kit.control.drift.decode_drift` decodes ``[80, s, 0]`` from
the same initial noise for first re-noise levels ``s`` from 0.01 to 40 and reports the feature drift from the one-step
output relative to the distance between independent one-step outputs (0: everything kept, 1: nothing kept), over
``n`` initial noises with held-out-style tags. The level DITTO-2's default 2-step decode uses (picked from the 20-step
teacher grid) is marked. Writes benchmarks/results/decode_drift.{json,md,png}.
Run: ``.venv/bin/python benchmarks/bench_decode_drift.py`` (about a minute).
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
TAGS = [{"instrument": i, "mode": m} for i in ("flute", "piano", "strings", "organ", "clarinet", "choir", "brass",
                                                  "harpsichord") for m in ("major", "minor")]


def run(n: int, seed: int) -> dict:
    from tempo_kit.control.drift import decode_drift
    from tempo_kit.features.chroma import LogChroma
    from tempo_kit.features.intensity import Intensity
    from tempo_kit.pipeline import tag_conditions
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.samplers import CMMultistep, CTMGamma
    from tempo_kit.schedules import decoding_sigmas, teacher_grid

    levels = torch.logspace(-2, torch.log10(torch.tensor(40.0)), 14).tolist()
    default_level = float(decoding_sigmas(2, grid=teacher_grid(20))[1])
    tags = [TAGS[i % len(TAGS)] for i in range(n)]
    x_T = 80.0 * torch.randn(n, 80, 256, generator=torch.Generator().manual_seed(seed))
    extractors = {"intensity (dB)": Intensity(), "log-chroma": LogChroma()}
    out = {"levels": levels, "default_level": default_level, "n": n, "seed": seed, "rows": {}}
    for name, sampler in (("cm", CMMultistep()), ("ctm", CTMGamma(gamma=0.2))):
        jump = load_pretrained(name)
        cond = tag_conditions(tags, model=name)
        for feature, extractor in extractors.items():
            r = decode_drift(jump, sampler, extractor, x_T=x_T, levels=levels, cond=cond,
                             generator=torch.Generator().manual_seed(seed + 1))
            at_default = decode_drift(jump, sampler, extractor, x_T=x_T, levels=[default_level], cond=cond,
                                      generator=torch.Generator().manual_seed(seed + 1))
            out["rows"][f"{name} / {feature}"] = {"relative": r["relative"].tolist(), "drift": r["drift"].tolist(),
                                                  "ceiling": r["ceiling"],
                                                  "relative_at_default": float(at_default["relative"][0])}
    return out


def markdown(result: dict) -> str:
    levels = result["levels"]
    show = [i for i, s in enumerate(levels) if i % 2 == 0] + [len(levels) - 1]
    show = sorted(set(show))
    lines = ["# Decode drift of the bundled surrogates", "",
             f"Commit `{result['git']['commit']}`{' (dirty tree)' if result['git']['dirty'] else ''}; "
             f"n = {result['n']} initial noises, seed {result['seed']}; `{result['command']}`.", "",
             "Feature drift of a 2-step decode `[80, s, 0]` from the one-step output of the same initial noise, divided "
             "by the distance between one-step outputs of independent noises (0: the decode keeps what the first jump "
             "made, 1: it keeps nothing of it). DITTO-2 optimises the one-step output, so this is the share of control "
             f"a 2-step decode can lose. DITTO-2's default 2-step decode re-noises to s = {result['default_level']:.3g} "
             "(the middle of the 20-step teacher grid).", "",
             "| surrogate / feature | " + " | ".join(f"s = {levels[i]:.3g}" for i in show) + " | at the default s |",
             "|---" * (len(show) + 2) + "|"]
    for label, row in result["rows"].items():
        lines.append(f"| {label} | " + " | ".join(f"{row['relative'][i]:.2f}" for i in show)
                     + f" | **{row['relative_at_default']:.2f}** |")
    lines += ["", "![decode drift against the first re-noise level](decode_drift.png)", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = Q.run_at_commit(run, args.n, args.seed)
    result.update(command="python benchmarks/bench_decode_drift.py " + " ".join(
        argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decode_drift.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "decode_drift.md").write_text(markdown(result))

    from tempo_kit.control.drift import plot_drift

    curves = {label: {"levels": result["levels"], "relative": torch.tensor(row["relative"])}
              for label, row in result["rows"].items()}
    fig = plot_drift(curves, title="2-step decode: feature drift from the one-step output")
    ax = fig.axes[0]
    ax.axvline(result["default_level"], color="k", lw=1, ls="--", label="DITTO-2's default 2-step level")
    ax.legend(fontsize=8)
    fig.savefig(out / "decode_drift.png", dpi=100)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
