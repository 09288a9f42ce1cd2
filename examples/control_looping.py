"""Looping: with a reference (the end flows into the reference start) and reference-free (the clip loops on itself).

    .venv/bin/python examples/control_looping.py --fast
"""

import torch
from _control_common import parse, reference_clip, report

from tempo_kit.control import DITTO2, Objective, reference_target
from tempo_kit.features.masks import LoopFree, MaskedReconstruction
from tempo_kit.losses import mse
from tempo_kit.testing.control import toy_generator

args = parse(__doc__, 40)
gen = toy_generator(frames=128)
reference = reference_clip(gen)
n = gen.shape[-1]
tasks = {
    "looping": MaskedReconstruction.looping(n_frames=n, overlap_s=0.5),
    "looping-free": LoopFree(overlap_s=0.5),  # DITTO App. E: x[..., -o:] == x[..., :o]
}
for kind, extractor in tasks.items():
    target = reference_target(reference if kind == "looping" else None, extractor=extractor, kind=kind)
    result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
        gen.ctm_jump, [Objective(extractor=extractor, loss=mse, target=target)], shape=gen.shape,
        generator=torch.Generator().manual_seed(args.seed))
    report(result, f"{args.out}/control_{kind}.png")
