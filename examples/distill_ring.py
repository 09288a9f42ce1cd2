"""Train an EDM teacher on a 2-D ring, distill it with one step-distillation recipe, sample the student in 1, 2, 4 steps.

    .venv/bin/python examples/distill_ring.py --recipe {cm,ctm,presto-s} [--out runs/example_ring] [--steps 1500]

Prints the energy distance to the data of the teacher's 40-step Heun samples, of the teacher used as a 1-step jump
(the "before" row) and of the student with its own sampler: CM multistep (``cm``), gamma-sampling with gamma = 0.2
(``ctm``, DITTO-2's CTM) or Presto-S multistep (``presto-s``: continuous-time DMD2 with a GAN head). The ring is
unconditional, so no CFG weight is distilled (``w_range=None``); for a conditional teacher build it with
``w_embedding=True`` and keep the default range. The teacher is trained once per ``--out`` and reused.
"""

from __future__ import annotations

from pathlib import Path

from _ring_common import RING_DATA, parser, ring_samples, sample, train_teacher

from tempo_kit.jumps import ConsistencyJump, EulerJump
from tempo_kit.models import load_denoiser
from tempo_kit.testing.toy import energy_distance
from tempo_kit.training import distill

#: recipe -> (train-steps fraction, recipe_args, saved student folder, jump class, sampler)
RECIPES = {
    "cm": (0.5, {"w_range": None, "lr": 1e-4}, "student", ConsistencyJump, "cm"),
    "ctm": (0.5, {"w_range": None, "lr": 1e-4}, "student", EulerJump, "ctm-gamma"),
    "presto-s": (1.0, {"lr_generator": 5e-4, "lr_fake": 5e-4}, "student_ema", ConsistencyJump, "presto-s"),
}


def main():
    options = parser(__doc__, "runs/example_ring")
    options.add_argument("--recipe", choices=RECIPES, default="cm")
    args = options.parse_args()
    out = Path(args.out)
    fraction, recipe_args, saved, jump, sampler = RECIPES[args.recipe]
    data = ring_samples()
    teacher_dir = train_teacher(out, args.steps, depth=4)
    teacher = load_denoiser(teacher_dir)
    distill(args.recipe, {"data": RING_DATA, "train": {"steps": int(args.steps * fraction), "batch_size": 256, "ema_decay": 0.99,
                                    "out_dir": str(out / args.recipe)},
                          "recipe_args": {"teacher": str(teacher_dir), **recipe_args}})
    student = jump(denoiser=load_denoiser(out / args.recipe / saved))
    rows = [("teacher, 40-step Heun", energy_distance(sample(teacher, "heun", 40), data)),
            ("teacher as 1-step jump", energy_distance(sample(ConsistencyJump(denoiser=teacher), "cm", 1), data))]
    rows += [(f"{args.recipe} student, {k}-step", energy_distance(sample(student, sampler, k), data)) for k in (1, 2, 4)]
    for name, ed in rows:
        print(f"{name:26s} energy distance {float(ed):.4f}")


if __name__ == "__main__":
    main()
