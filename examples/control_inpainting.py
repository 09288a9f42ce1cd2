"""Inpainting: keep 0.5 s of a reference clip at both edges and generate the gap (DITTO-2, toy mel generator).

    .venv/bin/python examples/control_inpainting.py --fast
"""

import torch
from _control_common import parse, report

from tempo_kit.control import DITTO2, Objective, reference_target
from tempo_kit.control.toy import toy_generator
from tempo_kit.features.masks import MaskedReconstruction
from tempo_kit.losses import mse

args = parse(__doc__, 40)
gen = toy_generator(frames=128)
with torch.no_grad():  # the reference: another clip of the same generator (any mel clip of this shape works)
    reference = gen.ctm_jump(80.0 * torch.randn(gen.shape, generator=torch.Generator().manual_seed(99)), 80.0, 0.0)[0]
extractor = MaskedReconstruction.inpainting(n_frames=gen.shape[-1], context_s=0.5)
target = reference_target(reference, extractor=extractor, kind="inpainting")
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, [Objective(extractor=extractor, loss=mse, target=target)], shape=gen.shape,
    generator=torch.Generator().manual_seed(args.seed))
report(result, f"{args.out}/control_inpainting.png")
