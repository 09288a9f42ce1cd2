"""Inpainting: keep 0.5 s of a reference clip at both edges and generate the gap (DITTO-2, toy mel generator).

    .venv/bin/python examples/control_inpainting.py --fast
"""

import torch
from _control_common import parse, reference_clip, report

from tempo_kit.control import DITTO2, Objective, reference_target
from tempo_kit.features.masks import MaskedReconstruction
from tempo_kit.losses import mse
from tempo_kit.testing.control import toy_generator

args = parse(__doc__, 40)
gen = toy_generator(frames=128)
reference = reference_clip(gen)
extractor = MaskedReconstruction.inpainting(n_frames=gen.shape[-1], context_s=0.5)
target = reference_target(reference, extractor=extractor, kind="inpainting")
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, [Objective(extractor=extractor, loss=mse, target=target)], shape=gen.shape,
    generator=torch.Generator().manual_seed(args.seed))
report(result, f"{args.out}/control_inpainting.png")
