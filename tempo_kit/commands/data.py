"""``tempo-kit data``: build the rendered-music dataset (``build``), summarise one (``info``), export its held-out
tunes (``export-tunes``) or write teacher ODE pairs for Presto-S's regression term (``ode-pairs``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import bounded


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def configure(parser) -> None:
    from ..data.build import DEFAULT_PROGRAMS
    from ..data.corpus import COLLECTIONS
    from ..data.render import PROGRAMS

    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="render music21 corpus pieces through FluidSynth into a clip dataset",
                           description="Render music21 corpus pieces through FluidSynth into ~6 s clips with "
                                       "model-space mel frames, tags, captions and top-voice pitch classes. "
                                       "Resumable: a rerun skips what is done.")
    build.add_argument("--out", required=True, help="dataset directory (an existing one is resumed)")
    build.add_argument("--collections", default="bach,essen",
                       help=f"comma-separated, from: {', '.join(COLLECTIONS)} (default: %(default)s)")
    build.add_argument("--programs", default=",".join(DEFAULT_PROGRAMS),
                       help=f"comma-separated instruments, from: {', '.join(PROGRAMS)} (default: %(default)s)")
    build.add_argument("--max-pieces", type=bounded(int, 1, 10**6), default=None, help="pieces per collection (default: all)")
    build.add_argument("--pieces", default=None,
                       help="comma-separated piece ids to render instead (e.g. bach/bwv321,essen/kinder0/210)")
    build.add_argument("--clips-per-piece", type=bounded(int, 1, 1000), default=4, help="clips cut per rendering (default: %(default)s)")
    build.add_argument("--programs-per-piece", type=bounded(int, 1, 128), default=2,
                       help="instruments each piece is rendered with (default: %(default)s)")
    build.add_argument("--heldout", type=bounded(float, 0, 1), default=0.1, help="held-out fraction of pieces (default: %(default)s)")
    build.add_argument("--workers", type=bounded(int, 1, 256), default=1, help="rendering processes (default: %(default)s)")
    build.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: Debian's TimGM6mb)")
    build.add_argument("--backend", choices=("auto", "pyfluidsynth", "cli"), default="auto")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    info = sub.add_parser("info", help="count the clips of a dataset by split and tag")
    info.add_argument("dir", help="dataset directory")
    tunes = sub.add_parser("export-tunes", help="write the held-out folk tunes bundled as melody targets",
                           description="Write one clip per held-out piece (top-voice pitch class per frame, caption, "
                                       "tags) as the tunes file the main job and `tempo-kit control melody` read.")
    tunes.add_argument("dir", help="dataset directory")
    tunes.add_argument("--out", default=None, help="tunes file (default: the bundled one, tunes.json in the weights "
                                                   "folder, $TEMPO_KIT_WEIGHTS or the package's, whatever the current "
                                                   "folder)")
    tunes.add_argument("--collection", default="essen", help="collection of the tunes (default: %(default)s)")
    tunes.add_argument("--max-tunes", type=bounded(int, 1, 10**4), default=16, help="at most this many pieces (default: %(default)s)")
    tunes.add_argument("--split", choices=("heldout", "train"), default="heldout",
                       help="pieces of the held-out split (the bundled test tunes) or of the training split "
                            "(validation tunes for choosing control settings) (default: %(default)s)")
    pairs = sub.add_parser("ode-pairs", help="solve a teacher's ODE from noise into pairs for Presto-S's regression term",
                           description="Solve the teacher's probability-flow ODE (Heun, Karras levels) from Gaussian "
                                       "noise for N training clips' tags and keep states along each trajectory with "
                                       "the trajectory's end: the regression_pairs file of the presto-s recipe.")
    pairs.add_argument("--teacher", required=True, help="teacher model folder (e.g. tempo_kit/weights/teacher)")
    pairs.add_argument("--data", required=True, help="dataset directory (tags are drawn from its train split)")
    pairs.add_argument("--out", required=True, help="safetensors file to write")
    pairs.add_argument("--n", type=bounded(int, 1, 10**6), default=2048, help="trajectories (default: %(default)s)")
    pairs.add_argument("--steps", type=bounded(int, 1, 1000), default=20, help="Heun steps (default: %(default)s)")
    pairs.add_argument("--states", type=bounded(int, 1, 1000), default=6,
                       help="states kept per trajectory, at most --steps (default: %(default)s)")
    pairs.add_argument("--cfg", type=bounded(float, 0, 100), default=1.0,
                       help="the teacher's guidance weight, equal to the recipe's w_real (default: %(default)s, none)")
    pairs.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0, help="noise and tag draws (default: %(default)s)")
    pairs.add_argument("--sigma-max", type=bounded(float, 1e-3, 1e4), default=None,
                       help="noise level the trajectories start at (default: the Karras schedule's, 80)")
    pairs.add_argument("--from-data", action="store_true",
                       help="start each trajectory from its training clip noised to --sigma-max (the input of a "
                            "multi-step sampler's later jumps) instead of from pure noise")
    pairs.add_argument("--from-student", metavar="DIR", default=None,
                       help="start each trajectory from a jump model's one-step sample for its tags (a saved "
                            "Presto-S folder), noised to --sigma-max: the input its own multi-step sampling gives it "
                            "after the first jump (DMD2's backward simulation, for the regression term)")


def _ode_pairs(args) -> int:
    import time

    import torch

    from ..data import MusicDataset
    from ..models.io import atomic_save, load_denoiser
    from ..schedules import KarrasSchedule
    from ..training.recipes.presto_s import teacher_ode_pairs

    if args.states > args.steps:
        raise ValueError(f"--states ({args.states}) cannot exceed --steps ({args.steps})")
    if args.from_data and args.from_student:
        raise ValueError("give --from-data or --from-student, not both")
    origin = "--from-data" if args.from_data else "--from-student" if args.from_student else None
    if origin and args.sigma_max is None:
        raise ValueError(f"{origin} needs --sigma-max: the re-noise level the trajectories start at (e.g. 2.5)")
    schedule = KarrasSchedule() if args.sigma_max is None else KarrasSchedule(sigma_max=args.sigma_max)
    if schedule.sigma_max <= schedule.sigma_min:
        raise ValueError(f"--sigma-max must exceed the schedule's sigma_min ({schedule.sigma_min:g}), got "
                         f"{schedule.sigma_max:g}")
    out = Path(args.out)
    if out.is_dir():
        raise IsADirectoryError(f"--out {str(out)!r} is a folder; give the safetensors file to write")
    # made before the work, so an unusable place fails at once (the CLI removes the folders it made if the run fails)
    out.parent.mkdir(parents=True, exist_ok=True)
    teacher = load_denoiser(args.teacher).eval()
    data = MusicDataset(args.data, split="train")
    generator = torch.Generator().manual_seed(args.seed)
    rows = torch.randint(len(data), (args.n,), generator=generator)  # tags (and with --from-data the clips' mel)
    tags, shape = data.tags[rows].float(), tuple(data.mel.shape[1:])
    start = time.perf_counter()
    clean = data.mel[rows].float() if args.from_data else None
    if args.from_student:
        clean = _one_step_samples(args.from_student, tags, shape, generator=generator)
    pairs = teacher_ode_pairs(teacher, tags, shape, steps=args.steps, states=args.states, w=args.cfg,
                              schedule=schedule, start=clean, generator=generator)
    atomic_save({k: v.contiguous() for k, v in pairs.items()}, out)
    level = f"{schedule.sigma_max:g}"
    origin = (f"training clips noised to {level}" if args.from_data else
              f"{args.from_student}'s one-step samples noised to {level}" if args.from_student else f"noise at {level}")
    print(f"wrote {pairs['x'].shape[0]} states of {args.n} trajectories from {origin} ({args.steps} Heun steps) to "
          f"{out} in {time.perf_counter() - start:.1f} s")
    return 0


def _one_step_samples(folder, tags, shape, *, generator, batch_size: int = 64):
    """One-step samples ``(n, *shape)`` of a saved Presto-S (a bundled folder or a run's ``student_ema``) for
    multi-hot ``tags`` ``(n, num_tags)``, from noise at the Karras ``sigma_max``."""
    import torch

    from ..jumps import ConsistencyJump
    from ..models.io import load_denoiser
    from ..registry import get

    student = ConsistencyJump(denoiser=load_denoiser(folder)).eval().requires_grad_(False)
    sampler = get("samplers", "presto-s")
    sigmas = sampler.schedule.sigmas(1)
    out = []
    with torch.no_grad():
        for first in range(0, tags.shape[0], batch_size):
            cond = {"tags": tags[first:first + batch_size]}
            x_T = sigmas[0] * torch.randn((cond["tags"].shape[0], *shape), generator=generator)
            out.append(sampler(student, x_T.float(), sigmas, cond=cond))
    return torch.cat(out)


def run(args) -> int:
    if args.data_command == "ode-pairs":
        return _ode_pairs(args)
    if args.data_command == "build":
        from ..data import build_dataset

        report = build_dataset(
            args.out, collections=_names(args.collections), programs=_names(args.programs),
            max_pieces=args.max_pieces, pieces=None if args.pieces is None else _names(args.pieces),
            clips_per_piece=args.clips_per_piece,
            programs_per_piece=args.programs_per_piece, heldout_fraction=args.heldout, workers=args.workers,
            soundfont=args.soundfont, backend=args.backend, progress=not args.quiet)
        print(f"{report.out}: {report.clips} clips ({report.new_clips} new); units rendered {report.units_rendered}, "
              f"resumed {report.units_resumed}, without clips {report.units_skipped}; "
              f"{report.audio_seconds:.0f} s of audio at {report.realtime_factor:.0f}x real time, "
              f"wall {report.wall_seconds:.1f} s")
        return 0

    if args.data_command == "export-tunes":
        from ..data.tunes import export_tunes, tunes_path

        if args.out is not None and Path(args.out).is_dir():
            raise IsADirectoryError(f"--out {args.out!r} is a folder; give the tunes file to write, e.g. "
                                    f"{str(Path(args.out) / 'tunes.json')!r}")

        out = args.out or tunes_path()
        tunes = export_tunes(args.dir, out, collection=args.collection, max_tunes=args.max_tunes, split=args.split)
        print(f"wrote {len(tunes)} tunes to {out}{'' if args.out else ' (the bundled tunes file)'}")
        return 0

    from ..data import MusicDataset

    if Path(args.dir).exists() and not Path(args.dir).is_dir():
        raise NotADirectoryError(f"{args.dir!r} is a file, not a dataset folder (tempo-kit data build --out DIR)")
    ds = MusicDataset(args.dir)
    print(f"{args.dir}: {len(ds)} clips")
    for key, values in [("split", [r["split"] for r in ds.records])] + [
            (field, [r["tags"][field] for r in ds.records]) for field in ds.tag_vocab]:
        print(f"  {key:11s} " + ", ".join(f"{v} {n}" for v, n in sorted(Counter(values).items())))
    return 0
