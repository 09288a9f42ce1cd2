"""Structure control: an "ABA" form as an MFCC self-similarity target, DITTO-2 on a bundled distilled model.

    .venv/bin/python examples/control_structure.py              # the bundled CTM, K = 150
    .venv/bin/python examples/control_structure.py --form AABA --fast

The objective is built by hand (extractor, loss, target) and passed to ``Pipeline.control`` as a list: any
differentiable feature of the mel frames composes with any bundled surrogate this way.
"""

from _control_common import parse, report

from tempo_kit import Pipeline
from tempo_kit.control import Objective, structure_from_form
from tempo_kit.features import MFCCSelfSimilarity

args = parse(__doc__, form={"default": "ABA", "help": "the form, one letter a section (default: %(default)s)"})
pipe = Pipeline.from_pretrained(args.model)  # a bundled distilled model: DITTO-2's surrogate
extractor = MFCCSelfSimilarity()  # cosine self-similarity of z-scored MFCCs of the mel frames, smoothed
target = structure_from_form(args.form, n_frames=pipe.frames(), extractor=extractor)
run = pipe.control([Objective(extractor=extractor, loss="mse", target=target)], tags={"instrument": "piano"},
                   iterations=150 if args.iterations is None else args.iterations, seed=args.seed, progress=False)
report(run, args.out, "control_structure")
