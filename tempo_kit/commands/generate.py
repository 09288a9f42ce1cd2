"""``tempo-kit generate``: clips from tags with a bundled model (WAV + spectrogram per clip and a summary with timings),
or from a text prompt with a plugin model that generates from prompts (``--prompt``, e.g. Stable Audio Open)."""

from __future__ import annotations

import json

from . import MAX_CLIPS, MAX_STEPS, add_threads_option, bounded, check_out, set_threads


def configure(parser) -> None:
    from ..pipeline import DEFAULT_MODEL, DTYPES, GENERATORS, VOCODERS

    parser.add_argument("--prompt", default=None,
                        help="text prompt, for a plugin model that generates from prompts (e.g. --model stable-audio "
                             "--model-path DIR from tempo-kit-diffusers); --tags and --vocoder do not apply")
    parser.add_argument("--model-path", default=None,
                        help="local folder of a plugin model's weights (passed to it as path=; nothing is downloaded)")
    parser.add_argument("--tags", default="",
                        help="FIELD=VALUE pairs, e.g. instrument=flute,mode=major (fields: instrument, collection, "
                             "tempo, mode; none = unconditional)")
    parser.add_argument("--n", type=bounded(int, 1, MAX_CLIPS), default=2, help="number of clips (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"bundled generator: {', '.join(GENERATORS)} (default: %(default)s)")
    parser.add_argument("--sampler", default=None,
                        help="any registered sampler that drives the model's kind (plugins included; `tempo-kit "
                             "plugins` lists them), e.g. dpmpp-2m for the teacher (default: the model's own)")
    parser.add_argument("--steps", type=bounded(int, 1, MAX_STEPS), default=None, help="sampling steps (default: the model's own)")
    parser.add_argument("--cfg", type=bounded(float, -100, 100), default=None, help="guidance weight for the denoisers (teacher, teacher-long, ase, presto-l)")
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


def _from_prompt(args) -> int:
    """``--prompt``: a registered model whose ``generate(prompt, n=, steps=, guidance=, seconds=, seed=, sampler=)``
    returns audio ``(n, channels, samples)`` at its ``sample_rate``; one WAV per clip."""
    import time
    from pathlib import Path

    from ..clips import save_wav
    from ..pretrained import available
    from ..registry import get
    from ..utils import folder_lock

    if args.model in available() or args.tags or args.vocoder:
        raise ValueError("--prompt needs a plugin model that reads text (e.g. --model stable-audio --model-path DIR); "
                         "--tags and --vocoder belong to the bundled models")
    start = time.perf_counter()
    model = get("models", args.model, **({"path": args.model_path} if args.model_path else {}))
    if not callable(getattr(model, "generate", None)) or not hasattr(model, "sample_rate"):
        raise ValueError(f"model {args.model!r} does not generate from a prompt (it has no generate(prompt, ...) and "
                         "sample_rate)")
    if args.device != "cpu" or args.dtype != "float32":
        from ..pipeline import _dtype
        from ..utils import check_device

        device = check_device(args.device)
        model = model.to(device=device, dtype=_dtype(args.dtype, device))
    options = {"steps": args.steps, "guidance": args.cfg, "seconds": args.seconds, "sampler": args.sampler}
    loaded = time.perf_counter()
    audio = model.generate(args.prompt, n=args.n, seed=args.seed, **{k: v for k, v in options.items() if v is not None})
    done = time.perf_counter()
    out = Path(args.out)
    with folder_lock(out):  # a second run into the folder fails at once; the last run's prompt clips go first
        for old in out.glob("prompt_*.wav"):
            old.unlink()
        paths = [save_wav(out / f"prompt_{i}.wav", clip, model.sample_rate) for i, clip in enumerate(audio)]
    if not args.quiet:
        print(f"{len(paths)} clips x {audio.shape[-1] / model.sample_rate:.2f} s with {args.model} from the prompt "
              f"{args.prompt!r}: sample + decode {done - loaded:.2f} s (load {loaded - start:.2f} s)")
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def run(args) -> int:
    from ..clips import parse_tags, save_clips
    from ..pipeline import generate
    from ..utils import count_text

    set_threads(args)
    check_out(args.out)
    if args.prompt is not None or args.model_path is not None:
        if args.prompt is None or not args.prompt.strip():
            raise ValueError("--model-path is for prompt models: give --prompt TEXT too")
        return _from_prompt(args)
    clips = generate(parse_tags(args.tags), n=args.n, model=args.model, sampler=args.sampler, steps=args.steps,
                     cfg=args.cfg, seed=args.seed, seconds=args.seconds, vocoder=args.vocoder, device=args.device,
                     dtype=args.dtype)
    paths = save_clips(clips, args.out)
    s = clips.summary()
    if args.quiet:
        print(f"wrote {len(paths)} files to {args.out}")
        return 0
    print(f"{s['clips']} clips x {s['audio_seconds'] / s['clips']:.2f} s with {s['model']} ({s['sampler']}, "
          f"{count_text(s['steps'], 'step')}) + {s['vocoder']}: sample {s['wall_seconds']['sample']:.2f} s, vocode "
          f"{s['wall_seconds']['vocode']:.2f} s (load {s['wall_seconds']['load']:.2f} s); real-time factor "
          f"{s['rtf_cpu']:.1f}x per CPU second, {s['rtf_wall']:.1f}x wall")
    print(json.dumps({k: s[k] for k in ("wall_seconds", "cpu_seconds", "rtf_cpu", "rtf_wall")}))
    print(f"wrote {len(paths)} files to {args.out}")
    return 0
