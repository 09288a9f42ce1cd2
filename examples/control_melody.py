"""Melody control: follow a note list (names and beats at 120 bpm) with DITTO-2 on a bundled distilled model.

    .venv/bin/python examples/control_melody.py                 # the bundled CTM, the pipeline's K
    .venv/bin/python examples/control_melody.py --model presto-s --fast

Rests carry no target. The pipeline's melody task reads the pitch classes of the mel frames and of the vocoded audio
and keeps each note in one register; the accuracy printed is the share of target frames whose strongest pitch class
is the target's, on the audio, against the same noise decoded without control.
"""

from _control_common import parse, report

from tempo_kit import Pipeline
from tempo_kit.control import melody_from_notes
from tempo_kit.features import LogChroma

args = parse(__doc__)
pipe = Pipeline.from_pretrained(args.model)  # a bundled distilled model: DITTO-2's surrogate
notes = [("C5", 1), ("E5", 1), ("G5", 1), ("r", 0.5), ("B4", 1.5), ("C5", 2), ("G4", 1), ("A4", 1), ("B4", 1),
         ("C5", 2)]  # (note, beats)
target = melody_from_notes(notes, tempo=120, extractor=LogChroma(), n_frames=pipe.frames())
run = pipe.control("melody", target=target, tags={"instrument": "flute"}, iterations=args.iterations,
                   seed=args.seed, progress=False)
print(f"melody accuracy on the audio {100 * run.accuracy['audio']:.1f}% "
      f"(uncontrolled {100 * run.accuracy['uncontrolled_audio']:.1f}%)")
report(run, args.out, "control_melody")
