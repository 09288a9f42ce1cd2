"""In-, outpainting and looping against a reference clip, and a clip that loops on itself, DITTO-2 on a bundled
distilled model.

    .venv/bin/python examples/control_painting.py               # all four tasks, the bundled CTM, K = 70
    .venv/bin/python examples/control_painting.py --task outpainting --fast

The reference is a clip the same pipeline generates (any model-space mel clip of the output's length works, e.g. a
recording's frames from ``tempo_kit.audio.MelSpec``). Inpainting keeps 1 s of it at both edges and fills the gap;
outpainting continues it (the new clip's first second matches the reference's last); looping makes the new clip's
end flow into the reference's start. Each objective is an MSE on the masked mel frames
(:class:`~tempo_kit.features.masks.MaskedReconstruction`). Looping without a reference makes the clip's last second
match its own first (:class:`~tempo_kit.features.masks.LoopFree`, DITTO App. E).
"""

from pathlib import Path

import torch
from _control_common import parse, report

from tempo_kit import Pipeline
from tempo_kit.clips import save_wav, to_audio
from tempo_kit.control import Objective, reference_target
from tempo_kit.features.masks import LoopFree, MaskedReconstruction

TASKS = ("inpainting", "outpainting", "looping", "looping-free")
args = parse(__doc__, task={"choices": TASKS, "default": None, "help": "one task (default: all four)"})
pipe = Pipeline.from_pretrained(args.model)  # a bundled distilled model: DITTO-2's surrogate
tags = {"instrument": "organ", "collection": "bach"}
reference = pipe(tags, seed=99).mel[0]  # (80, 256) model-space mel frames
n = reference.shape[-1]
masks = {"inpainting": MaskedReconstruction.inpainting(n_frames=n, context_s=1.0),
         "outpainting": MaskedReconstruction.outpainting(n_frames=n, overlap_s=1.0),
         "looping": MaskedReconstruction.looping(n_frames=n, overlap_s=1.0),
         "looping-free": LoopFree(overlap_s=1.0)}
for task in [args.task] if args.task else TASKS:
    target = reference_target(None if task == "looping-free" else reference, extractor=masks[task], kind=task)
    run = pipe.control([Objective(extractor=masks[task], loss="mse", target=target)], tags=tags,
                       iterations=70 if args.iterations is None else args.iterations, optimizer="adam-sample", seed=args.seed, progress=False)
    if task == "outpainting":  # the reference followed by the new clip past the shared second, vocoded
        k = int(masks[task].gen_mask.sum())
        stitched = torch.cat([reference, run.result.output[0, :, k:].float()], dim=-1)[None]
        with torch.no_grad():
            audio = to_audio(stitched, pipe.vocoder)[0]
        print(f"wrote {save_wav(Path(args.out) / 'control_outpainting_stitched.wav', audio, run.sample_rate)} "
              f"(reference + continuation, {stitched.shape[-1]} mel frames)")
    report(run, args.out, f"control_{task}", seamless=task.startswith("looping"))
