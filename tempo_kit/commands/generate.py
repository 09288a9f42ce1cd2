"""``tempo-kit generate``: clips from tags with a bundled model; WAV + spectrogram per clip and a summary with timings."""

from __future__ import annotations

import json

from . import MAX_CLIPS, MAX_STEPS, add_threads_option, bounded, check_out, set_threads


def configure(parser) -> None:
    from ..pipeline import DEFAULT_MODEL, DTYPES, VOCODERS

    parser.add_argument("--tags", default="",
                        help="FIELD=VALUE pairs, e.g. instrument=flute,mode=major (fields: instrument, collection, "
                             "tempo, mode; none = unconditional)")
    parser.add_argument("--n", type=bounded(int, 1, MAX_CLIPS), default=2, help="number of clips (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="bundled generator: ctm, cm, presto-s, presto-ls (distilled jumps), teacher, ase, presto-l "
                             "(denoisers) (default: %(default)s)")
    parser.add_argument("--sampler", default=None,
                        help="any registered sampler that drives the model's kind (plugins included; `tempo-kit "
                             "plugins` lists them), e.g. dpmpp-2m for the teacher (default: the model's own)")
    parser.add_argument("--steps", type=bounded(int, 1, MAX_STEPS), default=None, help="sampling steps (default: the model's own)")
    parser.add_argument("--cfg", type=bounded(float, -100, 100), default=None, help="guidance weight for teacher/ase/presto-l")
    parser.add_argument("--vocoder", choices=VOCODERS, default=None,
                        help="mel -> audio (default: the model folder's own vocoder, else the bundled one)")
    parser.add_argument("--seconds", type=bounded(float, 0.2, 95.0), default=None,
                        help="clip length in seconds, rounded to the models' 8-frame patches (default: 5.94)")
    parser.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps: one that is available here")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="the networks' dtype: float32 (default), bfloat16, float16 (GPU only)")
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    parser.add_argument("--out", default="outputs/generate", help="output directory (default: %(default)s)")
    add_threads_option(parser)


def run(args) -> int:
    from ..clips import parse_tags, save_clips
    from ..pipeline import generate

    set_threads(args)
    check_out(args.out)
    clips = generate(parse_tags(args.tags), n=args.n, model=args.model, sampler=args.sampler, steps=args.steps,
                     cfg=args.cfg, seed=args.seed, seconds=args.seconds, vocoder=args.vocoder, device=args.device,
                     dtype=args.dtype)
    paths = save_clips(clips, args.out)
    s = clips.summary()
    if args.quiet:
        print(f"wrote {len(paths)} files to {args.out}")
        return 0
    print(f"{s['clips']} clips x {s['audio_seconds'] / s['clips']:.2f} s with {s['model']} ({s['sampler']}, "
          f"{s['steps']} steps) + {s['vocoder']}: sample {s['wall_seconds']['sample']:.2f} s, vocode "
          f"{s['wall_seconds']['vocode']:.2f} s (load {s['wall_seconds']['load']:.2f} s); real-time factor "
          f"{s['rtf_cpu']:.1f}x per CPU second, {s['rtf_wall']:.1f}x wall")
    print(json.dumps({k: s[k] for k in ("wall_seconds", "cpu_seconds", "rtf_cpu", "rtf_wall")}))
    print(f"wrote {len(paths)} files to {args.out}")
    return 0
