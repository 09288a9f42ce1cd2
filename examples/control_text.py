"""Text adherence with CLAP (DITTO-2 Sec. 5.4): optimise the noise of a bundled distilled model so that the CLAP
embedding of its output matches a caption's.

With the bundled CLAP-style model (``clap`` in tempo_kit.pretrained, extractor ``"mini-clap"``) the embedding reads
the generator's mel frames, so no vocoder is in the loop; captions outside the model's known captions need the
``text`` extra (MiniLM). With a Hugging Face ``ClapModel`` (``--clap-dir``, a local folder: nothing is downloaded) the
embedding reads the vocoded audio, through the pipeline's vocoder.

    .venv/bin/python examples/control_text.py                   # the bundled CTM and CLAP, K = 70, no tags
    .venv/bin/python examples/control_text.py --caption "A slow chorale in a minor key sung by a choir" --fast
    .venv/bin/python examples/control_text.py --clap-dir DIR --caption "a calm piano song"  # a local ClapModel

``--backend hf`` without ``--clap-dir`` builds a tiny random CLAP (transformers' ``ClapConfig``; the ``clap`` extra)
whose target is the embedding of another clip of the pipeline, since a random model's text tower means nothing: a
check of the plumbing, not of text control.
"""

import sys

import torch
from _control_common import parse, report

import tempo_kit
from tempo_kit import Pipeline
from tempo_kit.clips import sample_rate_of
from tempo_kit.control import Objective, Target


def hf_clap(args, pipe):
    """A ``ClapEmbedding`` on audio and its target: a local ClapModel and the caption's embedding, or a tiny random
    model and another clip's embedding."""
    try:
        import transformers
    except ImportError:
        sys.exit("control_text --backend hf needs transformers (pip install 'tempo_kit[clap]')")
    from tempo_kit.features.clap import ClapEmbedding, ClapLogMel

    if args.clap_dir:
        clap = ClapEmbedding.from_pretrained(args.clap_dir, sample_rate=sample_rate_of(pipe.vocoder))
        return clap, clap.target(args.caption)
    cfg = transformers.ClapConfig(
        text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, projection_dim=8),
        audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, depths=[1, 1], num_attention_heads=[1, 1],
                          patch_embeds_hidden_size=8, hidden_size=16, enable_fusion=False, projection_dim=8),
        projection_dim=8)
    torch.manual_seed(0)  # weight init of the tiny random model only
    clap = ClapEmbedding(model=transformers.ClapModel(cfg), sample_rate=sample_rate_of(pipe.vocoder),
                         logmel=ClapLogMel(feature_size=16, max_length_s=2.5, truncation="rand_trunc"))
    with torch.no_grad():
        return clap, clap(pipe(seed=7).audio)[0]


args = parse(__doc__, caption={"default": "A fast folk song in a major key played on flute"},
             backend={"choices": ("bundled", "hf"), "default": "bundled",
                      "help": "the bundled CLAP-style model on mel frames, or a Hugging Face ClapModel on audio"},
             clap_dir={"default": None, "help": "local folder of a saved ClapModel (never downloaded); implies hf"})
pipe = Pipeline.from_pretrained(args.model)  # a bundled distilled model: DITTO-2's surrogate
if args.backend == "bundled" and not args.clap_dir:
    clap = tempo_kit.get("extractors", "mini-clap")  # reads mel frames
    target = clap.target(args.caption)
else:
    clap, target = hf_clap(args, pipe)
objective = Objective(extractor=clap, loss="cosine", target=Target(value=target, kind="text"))
run = pipe.control([objective], iterations=70 if args.iterations is None else args.iterations, seed=args.seed, progress=False)  # no tags
last = 1 - run.result.final_losses[objective.name]
what = repr(args.caption) if args.backend == "bundled" or args.clap_dir else "another clip (tiny random CLAP)"
first = (f"{1 - float(run.result.loss_history[0]):.3f} at the first iteration -> "
         if len(run.result.loss_history) else "")
print(f"CLAP similarity to {what}: {first}{last:.3f} in the decoded output")
report(run, args.out, "control_text")
