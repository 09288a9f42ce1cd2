"""Teacher solvers: distance to a high-NFE reference vs network calls, and per-step overhead against k-diffusion.

(a) **Convergence on the bundled teacher.** ``n`` held-out tag sets (the quality ruler's stratified subset, so the tag
    mix is the held-out one) and one initial noise per clip; every deterministic built-in sampler runs from the same
    ``x_T`` at several NFE budgets, and its output is compared with the teacher's 40-step Heun sample (79 NFE, the
    teacher's default). The distance is the RMSE over mel bins and frames per clip, averaged over clips, with a 95%
    cluster-bootstrap interval (whole pieces resampled, as the ruler does); ratios to Heun at the same NFE are paired
    (same clips, same resamples). A sanity row checks the reference itself: Heun at 80 steps (159 NFE) must be much
    closer to it than any sampler under test at 19 NFE, else the run fails (exit 2). Stochastic samplers (ancestral,
    SDE) solve a different equation; they are scored by FAD (``bench_quality.py --systems teacher-...``), not here.
(b) **Per-step overhead.** Each sampler and its k-diffusion reference drive the same trivial denoiser (``0.5 x``, no
    network) over 40 steps in one process; the ratio of the medians of interleaved rounds is the overhead ratio. Needs
    the k-diffusion wheel (``bash scripts/setup.sh dev``); skipped with a note otherwise.

Writes benchmarks/results/solvers.{json,md}. Run: ``.venv/bin/python benchmarks/bench_solvers.py`` (about 10 min on
2 CPU cores at the default n = 48).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _kdiffusion  # noqa: E402
import _quality as Q  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1] / "outputs" / "data" / "music"
#: Deterministic samplers under test: row label -> (registry name, kwargs).
SOLVERS = {
    "euler": ("euler", {}),
    "heun": ("heun", {}),
    "dpmpp-2m": ("dpmpp-2m", {}),
    "dpmpp-2m-sde (eta 0, heun)": ("dpmpp-2m-sde", {"eta": 0.0, "solver_type": "heun"}),
    "dpmpp-3m-sde (eta 0)": ("dpmpp-3m-sde", {"eta": 0.0}),
    "unipc-2": ("unipc", {"order": 2}),
    "unipc-3": ("unipc", {"order": 3}),
}
BUDGETS = (5, 9, 19, 39)
FINE_STEPS = 200  # Heun steps of the converged reference (399 NFE)
TARGET_RATIO = 2.0  # the best new sampler at least 2x closer than Heun at 9 and 19 NFE
OVERHEAD_BOUND = 1.2


def steps_for(sampler, budget: int) -> int | None:
    """The step count whose NFE equals ``budget`` (None if no count does)."""
    for steps in range(1, budget + 1):
        try:
            if sampler.nfe(steps) == budget:
                return steps
        except ValueError:  # e.g. UniPC of order 3 at fewer than 3 steps
            continue
    return None


def rmse_per_clip(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.double() - b.double()).square().flatten(1).mean(1).sqrt()


def _cell(boot: torch.Tensor, point: float) -> dict:
    from tempo_kit.metrics import interval

    return {"value": point, "ci": list(interval(boot, point=point, level=Q.LEVEL))}


def mean_interval(values: torch.Tensor, counts: torch.Tensor) -> dict:
    """Mean of per-clip values and its bootstrap interval from the shared resampling ``counts``."""
    boot = (counts * values).sum(1) / counts.sum(1)
    return _cell(boot, float(values.mean()))


def ratio_interval(num: torch.Tensor, den: torch.Tensor, counts: torch.Tensor) -> dict:
    """Ratio of mean per-clip values, paired: both means from the same resamples."""
    boot = ((counts * num).sum(1)) / ((counts * den).sum(1))
    return _cell(boot, float(num.mean() / den.mean()))


def run_convergence(*, n: int, heldout, batch_size: int, seed: int, n_boot: int, progress: bool) -> dict:
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.pipeline import Pipeline, tag_conditions
    from tempo_kit.metrics import bootstrap_counts, verdict
    from tempo_kit.registry import get
    from tempo_kit.utils import progress_bar

    held = MusicDataset(heldout, split="heldout", load_audio=False)
    src = Q.select_reference(held.records, n, seed=seed)
    tags = [held.records[i]["tags"] for i in src]
    pieces = [Q.piece(held.records[i]) for i in src]
    teacher = Pipeline.from_pretrained("teacher", vocoder="griffin-lim")
    n_mels, frames = held.mel.shape[1:]
    eps = torch.randn(len(src), n_mels, frames, generator=torch.Generator().manual_seed(seed))

    def sample(sampler, steps: int) -> torch.Tensor:
        sigmas = sampler.schedule.sigmas(steps)
        out = []
        for start in range(0, len(src), batch_size):
            idx = slice(start, start + batch_size)
            with torch.inference_mode():
                out.append(sampler(teacher.model, sigmas[0] * eps[idx], sigmas, cond=tag_conditions(tags[idx])))
        return torch.cat(out)

    heun = get("samplers", "heun")
    reference = sample(heun, 40)  # the teacher's default, 79 NFE: the yardstick
    fine = sample(heun, FINE_STEPS)  # converged: what the ranking is judged against
    jobs = [(label, budget) for label in SOLVERS for budget in BUDGETS]
    rows, dist, dist_fine = [], {}, {}
    counts = bootstrap_counts(len(src), n_boot, generator=torch.Generator().manual_seed(seed), groups=pieces)
    bar = progress_bar(len(jobs), desc="solvers", enabled=progress)  # a terminal only, never in a log
    for label, budget in jobs:
        name, kwargs = SOLVERS[label]
        sampler = get("samplers", name, **kwargs)
        steps = steps_for(sampler, budget)
        bar.update(1)  # counted when it starts: one sample call per job, or none
        if steps is None:
            continue
        t0 = time.perf_counter()
        out = sample(sampler, steps)
        seconds = time.perf_counter() - t0
        dist[label, budget] = rmse_per_clip(out, reference)
        dist_fine[label, budget] = rmse_per_clip(out, fine)
        rows.append({"sampler": label, "registry": name, "kwargs": kwargs, "nfe": budget, "steps": steps,
                     "rmse": mean_interval(dist[label, budget], counts),
                     "rmse_fine": mean_interval(dist_fine[label, budget], counts), "seconds": seconds})
    bar.close()
    half = rmse_per_clip(sample(heun, FINE_STEPS // 2), fine)
    sanity = {f"heun-40 (79 NFE) vs heun-{FINE_STEPS} ({2 * FINE_STEPS - 1} NFE)":
              mean_interval(rmse_per_clip(reference, fine), counts),
              f"heun-{FINE_STEPS // 2} vs heun-{FINE_STEPS} (the fine reference's own error, about 4/3 of this)":
              mean_interval(half, counts)}
    best_19 = min(float(d.mean()) for k, d in dist_fine.items() if k[1] == 19)
    failures = [] if float(half.mean()) < 0.2 * best_19 else [
        f"the fine reference is not converged: heun-{FINE_STEPS // 2} is {float(half.mean()):.3g} from it, the best "
        f"sampler at 19 NFE {best_19:.3g}"]
    targets = []
    for budget in (9, 19):
        for which, d in (("79-NFE Heun", dist), (f"{2 * FINE_STEPS - 1}-NFE Heun", dist_fine)):
            candidates = [k for k in d if k[1] == budget and k[0] not in ("euler", "heun")]
            best = min(candidates, key=lambda k: float(d[k].mean()))
            cell = ratio_interval(d["heun", budget], d[best], counts)
            targets.append({"target": f"at {budget} NFE the best new sampler is >= {TARGET_RATIO:g}x closer to the "
                                      f"{which} sample than Heun", "best": best[0], "ratio_heun_over_best": cell,
                            "verdict": verdict(*cell["ci"], at_least=TARGET_RATIO)})
    return {"n": len(src), "rows": rows, "sanity": sanity, "sanity_failures": failures, "targets": targets,
            "reference": f"teacher with its bundled cfg: heun 40 steps (79 NFE) and heun {FINE_STEPS} steps",
            "provenance": Q.provenance(records=held.records, idx=src, seed=seed, models=["teacher"], n_boot=n_boot)}


# -- (b) overhead --------------------------------------------------------------------------------------------------------
OVERHEAD = {  # ours (registry name, kwargs) -> k-diffusion function
    "euler": ("euler", {}, "sample_euler"),
    "heun": ("heun", {}, "sample_heun"),
    "euler-ancestral": ("euler-ancestral", {}, "sample_euler_ancestral"),
    "dpmpp-2s-ancestral": ("dpmpp-2s-ancestral", {}, "sample_dpmpp_2s_ancestral"),
    "dpmpp-2m": ("dpmpp-2m", {}, "sample_dpmpp_2m"),
    "dpmpp-2m-sde": ("dpmpp-2m-sde", {}, "sample_dpmpp_2m_sde"),
    "dpmpp-3m-sde": ("dpmpp-3m-sde", {}, "sample_dpmpp_3m_sde"),
}


def run_overhead(*, steps: int = 40, rounds: int = 15, inner: int = 20) -> dict:
    from tempo_kit.registry import get
    from tempo_kit.samplers import draw_noise
    from tempo_kit.schedules import karras_sigmas

    k = _kdiffusion.load_sampling()
    if k is None:
        return {"skipped": "k-diffusion is not installed (bash scripts/setup.sh dev installs the wheel)"}

    class Trivial(torch.nn.Module):
        def forward(self, x, sigma, cond=None):
            return 0.5 * x

    model = Trivial()
    sigmas = karras_sigmas(steps, dtype=torch.float32)
    x_T = sigmas[0] * torch.randn(1, 80, 256, generator=torch.Generator().manual_seed(0))
    noise = draw_noise(steps, x_T, torch.Generator().manual_seed(1))
    rows = []
    for label, (name, kwargs, ref_name) in OVERHEAD.items():
        sampler = get("samplers", name, **kwargs)
        ref = getattr(k, ref_name)
        ref_kwargs = {"disable": True}
        if "noise_sampler" in inspect.signature(ref).parameters:  # the same pre-drawn noise as ours, no Brownian tree
            ref_kwargs["noise_sampler"] = lambda sigma, sigma_next: noise[0]

        def ours():
            sampler(model, x_T, sigmas, noise=noise if sampler.needs_noise else None)

        def theirs():
            ref(model, x_T, sigmas, **ref_kwargs)

        times = {"ours": [], "k-diffusion": []}
        for fn in (ours, theirs):
            fn()
        for _ in range(rounds):
            for key, fn in (("ours", ours), ("k-diffusion", theirs)):
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                times[key].append((time.perf_counter() - t0) / inner / steps * 1e6)
        med = {key: float(torch.tensor(v).median()) for key, v in times.items()}
        rows.append({"sampler": label, "us_per_step": med["ours"], "k_us_per_step": med["k-diffusion"],
                     "ratio": med["ours"] / med["k-diffusion"]})
    worst = max(r["ratio"] for r in rows)
    return {"steps": steps, "shape": [1, 80, 256], "rows": rows, "worst_ratio": worst,
            "target": f"per-step overhead within {OVERHEAD_BOUND}x of k-diffusion's",
            "verdict": "MET" if worst <= OVERHEAD_BOUND else "NOT MET"}


# -- report --------------------------------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    conv, over = result["convergence"], result["overhead"]
    code = result["git"]
    lines = ["# Teacher solvers: convergence and overhead", "",
             f"Commit `{code['commit']}`{' (dirty tree)' if code['dirty'] else ''}; {result['threads']} thread(s); "
             f"`{result['command']}`.", "",
             f"## (a) Distance to the teacher's ODE solution (n = {conv['n']} tag-paired held-out clips)", "",
             "RMSE in normalised mel units per clip, mean over clips, 95% cluster-bootstrap interval (by piece); every "
             "sampler starts from the same x_T per clip. Two references: the teacher's default (Heun, 40 steps, "
             f"79 NFE) and a converged one (Heun, {FINE_STEPS} steps). Distances to the 79-NFE sample below about "
             "the first sanity row measure that sample's own error as much as the sampler's.", ""]
    nfes = sorted({r["nfe"] for r in conv["rows"]})
    for key, title in (("rmse", "79-NFE Heun"), ("rmse_fine", f"{2 * FINE_STEPS - 1}-NFE Heun")):
        lines += [f"Distance to the {title} sample:", "",
                  "| sampler | " + " | ".join(f"{b} NFE" for b in nfes) + " |", "|---" * (len(nfes) + 1) + "|"]
        for label in dict.fromkeys(r["sampler"] for r in conv["rows"]):
            cells = {r["nfe"]: r for r in conv["rows"] if r["sampler"] == label}
            lines.append(f"| {label} | " + " | ".join(
                Q.fmt_interval(cells[b][key]["value"], cells[b][key]["ci"]) + f" ({cells[b]['steps']} st.)"
                if b in cells else "-" for b in nfes) + " |")
        lines.append("")
    for name, cell in conv["sanity"].items():
        lines.append(f"- sanity: {name}: {Q.fmt_interval(cell['value'], cell['ci'])}")
    lines.append("- " + ("FAILED: " + "; ".join(conv["sanity_failures"]) if conv["sanity_failures"] else
                         "the fine reference is converged (its error is under a fifth of the best distance at 19 NFE)"))
    lines += ["", "| target | best | Heun / best | verdict |", "|---|---|---|---|"]
    for t in conv["targets"]:
        c = t["ratio_heun_over_best"]
        lines.append(f"| {t['target']} | {t['best']} | {Q.fmt_interval(c['value'], c['ci'])} | {t['verdict']} |")
    lines += ["", "## (b) Per-step overhead against k-diffusion (trivial denoiser, same process)", ""]
    if "skipped" in over:
        lines.append(f"Skipped: {over['skipped']}.")
    else:
        lines += ["| sampler | ours (us/step) | k-diffusion (us/step) | ratio |", "|---|---|---|---|"]
        lines += [f"| {r['sampler']} | {r['us_per_step']:.1f} | {r['k_us_per_step']:.1f} | {r['ratio']:.2f} |"
                  for r in over["rows"]]
        lines += ["", f"{over['target']}: worst ratio {over['worst_ratio']:.2f} - **{over['verdict']}**."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=48, help="held-out clips (tag-stratified subset)")
    parser.add_argument("--heldout", default=str(DATA))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    git = Q.git_commit()
    if not (Path(args.heldout) / "manifest.jsonl").is_file():
        print(f"bench_solvers: no dataset at {args.heldout}; build it with `tempo-kit data build` (see "
              "docs/reproduce.md)", file=sys.stderr)
        return 1
    conv = run_convergence(n=args.n_clips, heldout=args.heldout, batch_size=args.batch_size, seed=args.seed,
                           n_boot=args.n_boot, progress=not args.no_progress)
    over = run_overhead()
    result = {"git": git, "threads": args.threads, "command": "python benchmarks/bench_solvers.py "
              + " ".join(argv if argv is not None else sys.argv[1:]), "convergence": conv, "overhead": over}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "solvers.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (out / "solvers.md").write_text(md)
    print(md)
    if conv["sanity_failures"]:
        print("bench_solvers: " + "; ".join(conv["sanity_failures"]), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
