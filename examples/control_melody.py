"""Melody control: follow a note list (names and beats at 120 bpm) with DITTO-2 on the toy mel generator.

    .venv/bin/python examples/control_melody.py --fast
"""

import functools

import torch
from _control_common import parse, report

from tempo_kit.control import DITTO2, IGNORE_INDEX, Objective, melody_from_notes
from tempo_kit.features.chroma import LogChroma, melody_accuracy
from tempo_kit.losses import nll
from tempo_kit.testing.control import toy_generator

args = parse(__doc__, 80)
gen = toy_generator(frames=128)
extractor = LogChroma()  # log pitch-class distribution per frame, from mel frames
notes = [("C5", 0.5), ("E5", 0.5), ("G5", 0.5), ("r", 0.25), ("B4", 0.75), ("C5", 1.5)]  # (note, beats)
target = melody_from_notes(notes, tempo=120, extractor=extractor, n_frames=gen.shape[-1])  # rests: no target
loss = functools.partial(nll, ignore_index=IGNORE_INDEX)
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, [Objective(extractor=extractor, loss=loss, target=target)], shape=gen.shape,
    generator=torch.Generator().manual_seed(args.seed))
acc = float(melody_accuracy(result.features["melody"], target.value, ignore_index=IGNORE_INDEX))
print(f"melody accuracy {100 * acc:.1f}%")
report(result, f"{args.out}/control_melody.png")
