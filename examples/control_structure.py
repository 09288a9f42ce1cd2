"""Structure control: an "ABA" form as an MFCC self-similarity target, DITTO-2 on the toy mel generator.

    .venv/bin/python examples/control_structure.py --fast
"""

import torch
from _control_common import parse, report

from tempo_kit.control import DITTO2, Objective, structure_from_form
from tempo_kit.features.structure import MFCCSelfSimilarity
from tempo_kit.losses import mse
from tempo_kit.testing.control import toy_generator

args = parse(__doc__, 40)
gen = toy_generator(frames=96)
extractor = MFCCSelfSimilarity()  # cosine self-similarity of z-scored MFCCs, smoothed
target = structure_from_form("ABA", n_frames=gen.shape[-1], extractor=extractor)
result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
    gen.ctm_jump, [Objective(extractor=extractor, loss=mse, target=target)], shape=gen.shape,
    generator=torch.Generator().manual_seed(args.seed))
report(result, f"{args.out}/control_structure.png")
