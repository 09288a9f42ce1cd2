"""Outpainting: continue a reference clip; the first 0.5 s of the new clip must match its last 0.5 s (DITTO-2, toy).

    .venv/bin/python examples/control_outpainting.py --fast
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
extractor = MaskedReconstruction.outpainting(n_frames=gen.shape[-1], overlap_s=0.5)
target = reference_target(reference, extractor=extractor, kind="outpainting")
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, [Objective(extractor=extractor, loss=mse, target=target)], shape=gen.shape,
    generator=torch.Generator().manual_seed(args.seed))
k = int(extractor.gen_mask.sum())
stitched = torch.cat([reference, result.output[0, :, k:]], dim=-1)  # reference + continuation
print(f"stitched clip: {tuple(stitched.shape)} mel frames")
report(result, f"{args.out}/control_outpainting.png")
