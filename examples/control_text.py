"""Text adherence with CLAP (DITTO-2 Sec. 5.4): optimise the noise so the CLAP embedding of the output matches a
caption's.

With the bundled CLAP-style model (``clap`` in tempo_kit.pretrained, extractor ``"mini-clap"``) the embedding reads
the generator's mel frames directly, so no vocoder is needed; captions outside the model's known captions need the
``text`` extra (MiniLM). With a Hugging Face ``ClapModel`` (``--clap-dir``) the embedding reads audio, so a
differentiable decoder (mel -> audio) is passed.

    .venv/bin/python examples/control_text.py --fast                     # bundled model if present, else a tiny random CLAP
    .venv/bin/python examples/control_text.py --backend bundled --caption "A fast folk song in a major key played on flute"
    .venv/bin/python examples/control_text.py --clap-dir DIR --caption "a calm piano song"  # a local ClapModel

Without the bundled model and without ``--clap-dir`` a tiny random CLAP (transformers' ``ClapConfig``) is built and
the target is the embedding of another clip, since a random model's text tower means nothing; needs the ``clap`` extra
(transformers).
"""

import sys

import torch
from _control_common import report

from tempo_kit.control import DITTO2, Objective, Target
from tempo_kit.losses import cosine
from tempo_kit.testing.control import AdditiveDecoder, toy_generator


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--clap-dir", default=None, help="local directory of a saved ClapModel (never downloaded)")
    parser.add_argument("--backend", choices=("auto", "bundled", "hf"), default="auto",
                        help="bundled MiniClap on mel frames, or a Hugging Face ClapModel on audio (auto: bundled if present)")
    parser.add_argument("--caption", default="A fast folk song in a major key played on flute")
    parser.add_argument("--out", default="outputs")
    args = parser.parse_args()
    if args.fast:
        args.iterations = min(args.iterations, 8)
    from tempo_kit.pretrained import available

    if args.backend == "bundled" or (args.backend == "auto" and not args.clap_dir and "clap" in available()):
        import tempo_kit

        gen, clap = toy_generator(frames=64), tempo_kit.get("extractors", "mini-clap")  # reads mel: no decoder
        objectives = [Objective(extractor=clap, loss=cosine, target=Target(value=clap.target(args.caption), kind="text"))]
        result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
            gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0))
        report(result, f"{args.out}/control_text.png")
        return
    try:
        import transformers
    except ImportError:
        sys.exit("control_text needs transformers (pip install 'tempo_kit[clap]')")
    from tempo_kit.features.clap import ClapEmbedding, ClapLogMel

    gen, decoder = toy_generator(frames=64), AdditiveDecoder()
    if args.clap_dir:
        clap = ClapEmbedding.from_pretrained(args.clap_dir, sample_rate=22050)
        y = clap.target(args.caption)
    else:
        cfg = transformers.ClapConfig(
            text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=64, projection_dim=8),
            audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, depths=[1, 1],
                              num_attention_heads=[1, 1], patch_embeds_hidden_size=8, hidden_size=16,
                              enable_fusion=False, projection_dim=8),
            projection_dim=8)
        torch.manual_seed(0)  # weight init of the tiny random model only
        clap = ClapEmbedding(model=transformers.ClapModel(cfg), sample_rate=22050,
                             logmel=ClapLogMel(feature_size=16, max_length_s=2.5, truncation="rand_trunc"))
        with torch.no_grad():
            other = gen.ctm_jump(80.0 * torch.randn(gen.shape, generator=torch.Generator().manual_seed(7)), 80.0, 0.0)
            y = clap(decoder(other))[0]
    objectives = [Objective(extractor=clap, loss=cosine, target=Target(value=y, kind="text"))]
    result = DITTO2(iterations=args.iterations, lr=args.lr, decode_steps=1)(
        gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0), decoder=decoder)
    report(result, f"{args.out}/control_text.png")


if __name__ == "__main__":
    main()
