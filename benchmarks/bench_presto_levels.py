"""Re-noise levels of few-step Presto-S sampling, chosen on validation clips (training split, never the test clips).

``n`` training-split clips stratified by tag set are the reference; every row generates one clip per reference clip
with its tags from the same noise (the ``presto-s`` sampler with the given levels; the 40-step Heun teacher for the
ratio) and is scored with the quality ruler of ``benchmarks/_quality.py`` (FAD on mel statistics and pretrained
CREPE, 95% paired-bootstrap intervals of the ratio to the teacher, whole pieces resampled).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_presto_levels.py [--student tempo_kit/weights/presto-s]``
(``--student A=DIR B=DIR`` compares students on the same clips; ``--levels 80 80,9.7232,0.47`` replaces the table).
Writes ``benchmarks/results/presto_levels_validation.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from _report import add_output_options, environment, write_results  # noqa: E402
from bench_quality import DATA, _generate, _model_cond  # noqa: E402

#: Level sets (the last level before 0 is where the final jump starts); "default" is the sampler's own 4-step levels
#: (:class:`~tempo_kit.schedules.JumpRefineSchedule`), "k5" 4 of the 5-step Karras levels.
LEVELS = {"4 steps, default (jump, then refine)": None, "4 steps, Karras": [80, 9.7232, 0.46998, 0.002],
          "3 steps, Karras without 0.002": [80, 9.7232, 0.46998], "4 of a 5-point Karras grid": "k5",
          "80, 10, 2, 0.5": [80, 10, 2, 0.5], "80, 2, 0.5, 0.1": [80, 2, 0.5, 0.1],
          "80, 0.3, 0.1, 0.03": [80, 0.3, 0.1, 0.03], "1 step": [80]}


def parse_levels(specs: list[str]) -> dict:
    """``"80,10,2.5"`` -> ``{"80, 10, 2.5": [80.0, 10.0, 2.5]}`` (the re-noise levels before the final jump to 0)."""
    out = {}
    for spec in specs:
        levels = [float(v) for v in spec.replace(" ", "").split(",") if v]
        if not levels or any(b >= a for a, b in zip(levels, levels[1:])) or levels[-1] <= 0:
            raise ValueError(f"levels must be positive and decreasing, got {spec!r}")
        out[", ".join(f"{v:g}" for v in levels)] = levels
    return out


class Validation:
    """``n_clips`` training-split clips stratified by tag set (never the held-out test clips), their quality-ruler
    statistics, and one initial noise per clip: what every validation benchmark of the Presto students starts from."""

    def __init__(self, n_clips: int, *, data=DATA, seed: int = 7):
        from tempo_kit.data.dataset import MusicDataset

        self.seed, self.code = seed, Q.git_commit()
        self.train = MusicDataset(data, split="train", load_audio=True)
        self.src = Q.select_reference(self.train.records, n_clips, seed=seed)
        self.ruler = Q.load_ruler(independent=True, sample_rate=self.train.sample_rate)
        self.reference = self.ruler.score(self.train.mel[self.src].float(),
                                          self.train.audio[self.src].float() / 32767)
        self.eps = torch.randn(len(self.src), *self.train.mel.shape[1:],
                               generator=torch.Generator().manual_seed(seed))

    def generate(self, model, sampler, sigmas, start: torch.Tensor | None = None, *,
                 vocabulary: str = "teacher") -> torch.Tensor:
        """One clip per reference clip with its tags, from ``sigmas[0] * start`` (default: the shared noise).
        ``vocabulary``: the bundled name or folder whose tag vocabulary encodes the tags (the model's own)."""
        records = self.train.records
        return _generate(model, sampler, torch.as_tensor(sigmas, dtype=torch.float64),
                         self.eps if start is None else start,
                         lambda idx: _model_cond(vocabulary, records, [self.src[i] for i in idx]),
                         batch_size=64, noise_seed=self.seed + 1, progress=False, label="")

    @staticmethod
    def vocabulary(folder, fallback: str = "teacher") -> str:
        """Whose tag vocabulary encodes a model's tags: ``folder``'s own when its config records one (a bundled or
        ``bundle_model.py`` folder), else ``fallback``'s (a training run's folder records none; its teacher's)."""
        from tempo_kit.pretrained import pretrained_meta

        return str(folder) if "tag_vocab" in pretrained_meta(Path(folder)) else fallback

    def compare(self, stats: dict, *, teacher: str, n_boot: int, models=("teacher", "vocoder"),
                **extra) -> tuple[dict, dict]:
        """FADs of ``stats`` against the reference with intervals (whole pieces resampled), and the environment
        (with the weights' hashes of ``models``, bundled names or folders)."""
        records = self.train.records
        pieces = [Q.piece(records[i]) for i in self.src]
        fads = Q.compare(stats, self.reference, teacher=teacher, n_boot=n_boot, seed=self.seed, groups=pieces)
        env = environment(**Q.provenance(records=records, idx=self.src, seed=self.seed,
                                         models=list(models), n_boot=n_boot), **self.code, **extra)
        return fads, env


def run(student: str | dict[str, str], *, n_clips: int, data=DATA, seed: int = 7, n_boot: int = 200,
        levels_table=None, teacher: str = "teacher") -> dict:
    """Rows for each level set of ``student`` (a folder, or ``{label: folder}`` to compare students on the same clips:
    rows ``"label: levels"``); ratios to ``teacher`` (bundled name or folder) at 40 Heun steps, the one the students
    were distilled from."""
    from tempo_kit.jumps import ConsistencyJump
    from tempo_kit.metrics import mel_statistics_shift
    from tempo_kit.models.io import file_sha256, load_denoiser
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.registry import get
    from tempo_kit.schedules import KarrasSchedule

    v = Validation(n_clips, data=data, seed=seed)

    def sample(model, sampler, sigmas, vocabulary):
        return v.ruler.score(v.generate(model, sampler, sigmas, vocabulary=vocabulary))

    heun, presto = get("samplers", "heun"), get("samplers", "presto-s")
    reference = f"{Path(teacher).name}, 40 Heun steps"
    stats = {reference: sample(load_pretrained(teacher), heun, heun.schedule.sigmas(40), teacher)}
    students = student if isinstance(student, dict) else {"": student}
    levels = {}
    for label, folder in students.items():
        model = ConsistencyJump(denoiser=load_denoiser(folder)).eval().requires_grad_(False)
        vocabulary = v.vocabulary(folder, fallback=teacher)
        for lname, lv in (levels_table or LEVELS).items():
            name = f"{label}: {lname}" if label else lname
            sigmas = (presto.schedule.sigmas(4).tolist() if lv is None
                      else KarrasSchedule().sigmas(5).tolist()[:4] + [0.0] if lv == "k5" else [*lv, 0.0])
            levels[name] = [round(s, 4) for s in sigmas]
            stats[name] = sample(model, presto, sigmas, vocabulary)
            print(f"{name}: {levels[name]}", flush=True)
    fads, env = v.compare(stats, teacher=reference, n_boot=n_boot, models=[teacher, "vocoder"], student=student,
                          teacher_model=teacher,
                          student_sha256={label: file_sha256(Path(f) / "model.safetensors")
                                          for label, f in students.items()})
    shifts = {name: mel_statistics_shift(row["mel"], v.reference["mel"]) for name, row in stats.items()}
    return {"environment": env, "levels": levels, "fad": fads, "mel_shift": shifts}


def _students(student) -> str:
    return (", ".join(f"{k} = `{v}`" for k, v in student.items()) if isinstance(student, dict) else f"`{student}`")


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = ["# Presto-S sampling levels on validation clips", "",
             f"{env['n']} training-split clips (stratified by tag set; validation, disjoint from the held-out test "
             f"clips), student {_students(env['student'])}, seed {env['seed']}, "
             f"commit `{(env.get('commit') or '?')[:10]}`. "
             f"FAD [95% interval] and ratio to the 40-step teacher (`{env.get('teacher_model', 'teacher')}`) on the "
             "same clips [95% interval]; *spread shift*: the mean over bands of how far the clips' band-level "
             "spread over time lies from the reference clips', in their standard deviations (negative: flatter "
             "dynamics; `tempo_kit.metrics.mel_statistics_shift`, a point value). Produced by "
             f"`{env.get('command', 'benchmarks/bench_presto_levels.py')}`.", "",
             "| levels | sigmas | FAD CREPE | ratio | FAD mel | ratio | spread shift |", "|---|---|---|---|---|---|---|"]
    shifts = result.get("mel_shift", {})
    for name, cell in result["fad"].items():
        sig = ", ".join(f"{s:g}" for s in result["levels"].get(name, [])) or "-"
        spread = f"{shifts[name]['spread']:+.2f}" if name in shifts else "-"
        lines.append(f"| {name} | {sig} | {Q.fmt_cell(cell['crepe'])} | {Q.fmt_cell(cell['crepe'], 'ratio')} | "
                     f"{Q.fmt_cell(cell['mel'])} | {Q.fmt_cell(cell['mel'], 'ratio')} | {spread} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", nargs="+", default=["tempo_kit/weights/presto-s"],
                   help="saved Presto-S folder, or several as LABEL=FOLDER to compare them on the same clips")
    p.add_argument("--n-clips", type=int, default=128)
    p.add_argument("--data", default=str(DATA), help="dataset folder whose training split holds the validation clips")
    p.add_argument("--levels", nargs="+", default=None, metavar="L1,L2,...",
                   help="level sets to compare instead of the built-in table, e.g. 80,10,2.5 80")
    add_output_options(p, "presto_levels_validation")
    p.add_argument("--teacher", default="teacher", help="the students' teacher (bundled name or folder), sampled with "
                                                        "40 Heun steps for the ratios (default: teacher)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        student = (args.student[0] if len(args.student) == 1 and "=" not in args.student[0]
                   else Q.labelled_paths(args.student))
    except ValueError as err:
        p.error(str(err))
    result = run(student, n_clips=args.n_clips, levels_table=parse_levels(args.levels) if args.levels else None,
                 teacher=args.teacher, data=args.data)
    result["environment"]["command"] = Q.command_line("benchmarks/bench_presto_levels.py", argv)
    write_results(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
