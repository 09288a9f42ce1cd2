"""Intensity control: make a clip swell (crescendo then decrescendo) with DITTO-2 on the toy mel generator.

    .venv/bin/python examples/control_intensity.py --fast
"""

import torch
from _control_common import parse, report

from tempo_kit.control import DITTO2, Objective, intensity_curve
from tempo_kit.features.intensity import Intensity
from tempo_kit.losses import mse
from tempo_kit.testing.control import toy_generator

args = parse(__doc__, 40)
gen = toy_generator(frames=128)  # (1, 80, 128): 3 s of model-space mel frames at 43 frames/s
extractor = Intensity(window_s=0.5)  # smoothed dB energy, read directly from mel frames
target = intensity_curve("swell", n_frames=gen.shape[-1], extractor=extractor, low_db=-40, high_db=-15)
objectives = [Objective(extractor=extractor, loss=mse, target=target)]
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(args.seed))
report(result, f"{args.out}/control_intensity.png")
