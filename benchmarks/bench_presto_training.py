"""Quality of a Presto-S (or any jump) student along its training, on the quality ruler, next to its diagnostics.

For each snapshot (``tempo-kit distill`` with ``snapshot_every`` writes ``RUN/snapshots/step_<N>``) the script samples
``n`` tag-paired clips at 1 and 4 steps (the ``presto-s`` sampler at its default levels) and scores them with the
ruler of ``benchmarks/_quality.py`` against the same reference clips as the 40-step Heun teacher, CM and CTM at 4
steps (FAD on mel statistics and on pretrained CREPE, with 95% paired-bootstrap intervals of the ratio to the
teacher). Next to each snapshot it averages the run's logged diagnostics over the steps since the previous one
(``diag/*`` of :meth:`tempo_kit.training.Recipe.diagnostics`: the real and fake scores' denoising error on generated
samples, their disagreement, the GAN head's accuracy).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_presto_training.py RUN_DIR [RUN_DIR ...] [--n-clips 96]``
(a snapshot may also be given as ``LABEL=FOLDER``). Writes ``presto_training.{json,md,png}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from _report import environment  # noqa: E402
from bench_quality import DATA, RESULTS, _generate, _model_cond  # noqa: E402

DIAGNOSTICS = ("diag/real_dsm_on_generated", "diag/fake_dsm_on_generated", "diag/fake_real_gap", "diag/disc_accuracy",
               "generator/dmd")


def snapshots(specs: list[str]) -> list[tuple[str, int | None, Path]]:
    """``(label, step, folder)`` for each ``RUN_DIR`` (its ``snapshots/step_N``, in step order) or ``LABEL=FOLDER``."""
    out = []
    for spec in specs:
        if "=" in spec:
            label, folder = spec.split("=", 1)
            m = re.search(r"(\d+)$", label)
            out.append((label, int(m.group(1)) if m else None, Path(folder)))
            continue
        run = Path(spec)
        found = sorted((int(p.name[5:]), p) for p in (run / "snapshots").glob("step_*") if p.name[5:].isdigit())
        if not found:
            raise FileNotFoundError(f"no snapshots in {run / 'snapshots'} (train with snapshot_every > 0)")
        out += [(f"{run.name} step {step}", step, p) for step, p in found]
    return out


def diagnostics(run: Path, lo: int, hi: int) -> dict[str, float]:
    """Mean of the logged diagnostics over steps ``lo <= step < hi`` of ``run/losses.jsonl``."""
    path = run / "losses.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if lo <= r["step"] < hi]
    return {k: statistics.mean(r[k] for r in rows if k in r) for k in DIAGNOSTICS if any(k in r for r in rows)}


def run(specs: list[str], *, n_clips: int, heldout=DATA, seed: int = 0, n_boot: int = 200) -> dict:
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.jumps import ConsistencyJump
    from tempo_kit.models.io import load_denoiser
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.registry import get

    code = Q.git_commit()  # the code that runs: taken now, not when the run ends
    held = MusicDataset(heldout, split="heldout", load_audio=True)
    src = Q.select_reference(held.records, n_clips, seed=seed)
    ruler = Q.load_ruler(independent=True, sample_rate=held.sample_rate)
    reference = ruler.score(held.mel[src].float(), held.audio[src].float() / 32767)
    eps = torch.randn(len(src), *held.mel.shape[1:], generator=torch.Generator().manual_seed(seed))

    def cond(idx):
        return _model_cond("teacher", held.records, [src[i] for i in idx])

    def sample(model, sampler, steps):
        return ruler.score(_generate(model, sampler, sampler.schedule.sigmas(steps), eps, cond, batch_size=50,
                                     noise_seed=seed + 1, progress=False, label=""))

    stats = {"teacher-heun-40": sample(load_pretrained("teacher"), get("samplers", "heun"), 40),
             "cm-4": sample(load_pretrained("cm"), get("samplers", "cm"), 4),
             "ctm-4": sample(load_pretrained("ctm"), get("samplers", "ctm-gamma", gamma=0.2), 4)}
    presto = get("samplers", "presto-s")
    rows, previous = [], {}
    for label, step, folder in snapshots(specs):
        model = ConsistencyJump(denoiser=load_denoiser(folder)).eval().requires_grad_(False)
        for steps in (1, 4):
            stats[f"{label} | {steps}"] = sample(model, presto, steps)
        run_dir = folder.parent.parent if folder.parent.name == "snapshots" else folder.parent
        lo = previous.get(run_dir, 0)
        rows.append({"label": label, "step": step, "folder": str(folder),
                     "diagnostics": diagnostics(run_dir, lo, step if step is not None else 10**12)})
        previous[run_dir] = step or 0
    pieces = [Q.piece(held.records[i]) for i in src]
    fads = Q.compare(stats, reference, teacher="teacher-heun-40", n_boot=n_boot, seed=seed, groups=pieces)
    for row in rows:
        row["fad"] = {steps: fads[f"{row['label']} | {steps}"] for steps in (1, 4)}
    return {"environment": environment(**Q.provenance(records=held.records, idx=src, seed=seed,
                                                       models=["teacher", "cm", "ctm", "vocoder"], n_boot=n_boot),
                                     **code),
            "baselines": {k: fads[k] for k in ("teacher-heun-40", "cm-4", "ctm-4")}, "snapshots": rows}


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(result: dict) -> str:
    env, base = result["environment"], result["baselines"]
    lines = ["# Presto-S quality along training", "",
             f"{env['n']} tag-paired clips per row (seed {env['seed']}, commit `{(env.get('commit') or '?')[:10]}`); "
             "FAD [95% interval] and ratio to the 40-step teacher [95% interval] on pretrained CREPE frames (vocoded "
             "audio) and on mel statistics. Diagnostics: means of the logged `diag/*` values since the previous "
             "snapshot (- where the run logged none). Produced by `benchmarks/bench_presto_training.py`.", "",
             "Baselines: " + "; ".join(f"{k}: CREPE {Q.fmt_cell(v['crepe'])}, mel {Q.fmt_cell(v['mel'])}"
                                       for k, v in base.items()), "",
             "| snapshot | CREPE ratio, 1 step | CREPE ratio, 4 steps | mel ratio, 1 step | mel ratio, 4 steps | "
             "real / fake DSM on generated | fake-real gap | GAN head accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["snapshots"]:
        d = r["diagnostics"]
        dsm = (f"{d['diag/real_dsm_on_generated']:.3f} / {d['diag/fake_dsm_on_generated']:.3f}"
               if "diag/real_dsm_on_generated" in d else "-")
        lines.append(f"| {r['label']} | {Q.fmt_cell(r['fad'][1]['crepe'], 'ratio')} | "
                     f"{Q.fmt_cell(r['fad'][4]['crepe'], 'ratio')} | {Q.fmt_cell(r['fad'][1]['mel'], 'ratio')} | "
                     f"{Q.fmt_cell(r['fad'][4]['mel'], 'ratio')} | {dsm} | {_num(d.get('diag/fake_real_gap'))} | "
                     f"{_num(d.get('diag/disc_accuracy'))} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    runs: dict[str, list[dict]] = {}
    for r in result["snapshots"]:
        if r["step"] is not None:
            runs.setdefault(r["label"].rsplit(" ", 1)[0], []).append(r)
    for col, emb in enumerate(("crepe", "mel")):
        for row, steps in enumerate((1, 4)):
            ax = axes[row, col]
            for i, (run, rows) in enumerate(runs.items()):
                x = [r["step"] for r in rows]
                cells = [r["fad"][steps][emb] for r in rows]
                ax.errorbar(x, [c["ratio"] for c in cells], marker="o", capsize=3, color=f"C{i}", label=run,
                            yerr=[[max(c["ratio"] - c["ratio_low"], 0) for c in cells],
                                  [max(c["ratio_high"] - c["ratio"], 0) for c in cells]])
            for name, style in (("cm-4", ":"), ("ctm-4", "--")):
                ax.axhline(result["baselines"][name][emb]["ratio"], color="k", ls=style, lw=1, label=name)
            ax.axhline(1.0, color="k", lw=1, label="teacher (Heun 40)")
            ax.set_title(f"{steps} step{'s' * (steps > 1)}, FAD {'CREPE' if emb == 'crepe' else 'mel'}", fontsize=10)
            ax.set_ylabel("ratio to the teacher")
    for ax in axes[1]:
        ax.set_xlabel("training step")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders with snapshots/, or LABEL=MODEL_FOLDER")
    parser.add_argument("--n-clips", type=int, default=96, help="tag-stratified reference clips (default 96)")
    parser.add_argument("--heldout", default=str(DATA))
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        result = run(args.runs, n_clips=args.n_clips, heldout=args.heldout, seed=args.seed)
    except (ModuleNotFoundError, FileNotFoundError) as err:
        print(f"bench_presto_training: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "presto_training.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "presto_training.md").write_text(markdown(result))
    plot(result, out / "presto_training.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
