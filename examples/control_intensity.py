"""Intensity control: a clip that swells (quiet, loud at 3 s, quiet again), DITTO-2 on a bundled distilled model.

    .venv/bin/python examples/control_intensity.py              # the bundled CTM, the pipeline's K (seconds on a CPU)
    .venv/bin/python examples/control_intensity.py --model cm --fast

The target is drawn as points (dB at given seconds, linear in between); the objective reads the loudness of the
vocoded audio, through the vocoder, as ``tempo-kit control intensity`` does.
"""

from _control_common import parse, report

from tempo_kit import Pipeline
from tempo_kit.control import intensity_from_points
from tempo_kit.features import Intensity

args = parse(__doc__)
pipe = Pipeline.from_pretrained(args.model)  # a bundled distilled model: DITTO-2's surrogate
n = pipe.frames()  # 256 mel frames: 5.94 s at 43 frames/s
swell = intensity_from_points([-38, -16, -36], seconds=[0.5, 3.0, 5.5], n_frames=n, extractor=Intensity())
run = pipe.control("intensity", target=swell, tags={"instrument": "strings"}, iterations=args.iterations,
                   seed=args.seed, progress=False)
report(run, args.out, "control_intensity")
