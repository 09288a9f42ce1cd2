"""Caption retrieval with the CLAP-style model (MiniClap) on every held-out clip, trained vs untrained.

For each held-out clip the texts are ranked by cosine with its audio embedding; a clip counts as a top-k hit when its
own text is among the k best. Two text sets: the 8 instrument captions ("A piece played on flute", ...; chance 1/8
and 5/8) and every distinct full held-out caption (chance k / number of captions). Also the single-tag retrieval of
the other tags, the CLAP score (mean cosine of each clip with its own caption, and with the caption of another
clip), and the audio embedding time. The untrained baseline is the same architecture with fresh weights (seed 0)
and the same stored MiniLM caption embeddings. With a teacher (``--teacher``: a saved model folder, default the
bundled ``teacher`` when present) it also generates clips conditioned on each instrument alone (20 Heun steps, CFG
``--cfg``) and reports instrument retrieval on them: a joint check of the teacher's conditioning and of the embedding
on generated mels.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_clap.py [--model outputs/runs/clap/student_ema] [--run outputs/runs/clap]

``--model`` defaults to the run's ``student_ema`` when it exists, else the bundled ``clap``. Writes
``benchmarks/results/clap.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from tempo_kit.data import MusicDataset
from tempo_kit.vocab import TAG_FIELDS
from tempo_kit.models.io import load_model
from tempo_kit.models.mini_clap import MiniClap, mel_clap_score, partial_caption

RESULTS = Path(__file__).parent / "results"


def embed_audio(model: MiniClap, mel: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.embed_audio(mel[i:i + batch_size]) for i in range(0, len(mel), batch_size)])


def retrieval(audio: torch.Tensor, text: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> dict[str, float]:
    """Top-k accuracy of ranking the rows of ``text`` for each clip (``labels``: index of the clip's own text)."""
    with torch.no_grad():
        ranks = (audio @ text.T).argsort(dim=1, descending=True)
    out = {}
    for k in ks:
        k_eff = min(k, text.shape[0])
        out[f"top{k}"] = float((ranks[:, :k_eff] == labels[:, None]).any(1).float().mean())
        out[f"chance_top{k}"] = k_eff / text.shape[0]
    return out


def evaluate(model: MiniClap, data: MusicDataset) -> dict:
    model.eval()
    mel = data.mel.float()
    t0 = time.perf_counter()
    audio = embed_audio(model, mel)
    per_clip_ms = 1000 * (time.perf_counter() - t0) / len(mel)
    res = {"audio_embed_ms_per_clip": per_clip_ms}
    with torch.no_grad():
        for field_i, field in enumerate(TAG_FIELDS):
            values = data.tag_vocab[field]
            text = model.embed_text([partial_caption({field: v}) for v in values])
            res[f"{field}_captions"] = {"n_texts": len(values), **retrieval(audio, text, data.tag_ids[:, field_i])}
        captions = sorted(set(data.captions))
        labels = torch.tensor([captions.index(c) for c in data.captions])
        res["full_captions"] = {"n_texts": len(captions), **retrieval(audio, model.embed_text(captions), labels)}
    own = mel_clap_score(model, mel, data.captions)
    shifted = data.captions[len(data) // 2:] + data.captions[: len(data) // 2]
    other = mel_clap_score(model, mel, shifted)
    differs = torch.tensor([a != b for a, b in zip(data.captions, shifted)])
    res["clap_score_own_caption"] = float(own.mean())
    res["clap_score_other_caption"] = float(other[differs].mean())
    return res


def generated_by_instrument(teacher_source: str, vocab: dict, per_instrument: int, cfg: float, seed: int) -> dict:
    """Teacher samples conditioned on each instrument alone: ``{"mel": (n, 80, 256), "instrument": (n,)}``."""
    import tempo_kit
    from tempo_kit.data import encode_tags
    from tempo_kit.denoisers import CFGDenoiser
    from tempo_kit.models.blocks import null_condition
    from tempo_kit.models.io import load_denoiser

    if Path(teacher_source).is_dir():
        denoiser = load_denoiser(teacher_source).eval().requires_grad_(False)
    else:
        from tempo_kit.pretrained import load_pretrained

        denoiser = load_pretrained(teacher_source)
    model = CFGDenoiser(denoiser=denoiser, w=cfg, null_cond=null_condition) if cfg != 1.0 else denoiser
    labels = torch.arange(len(vocab["instrument"])).repeat_interleave(per_instrument)
    tags = encode_tags([{"instrument": vocab["instrument"][i]} for i in labels.tolist()], vocab)
    g = torch.Generator().manual_seed(seed)
    mels = []
    with torch.no_grad():
        for i in range(0, len(labels), 32):
            cond = {"tags": tags[i:i + 32], "null": torch.zeros(len(tags[i:i + 32]), dtype=torch.bool)}
            x_T = 80.0 * torch.randn(len(cond["tags"]), 80, 256, generator=g)
            mels.append(tempo_kit.get("samplers", "heun")(model, x_T, 20, cond=cond, generator=g))
    return {"mel": torch.cat(mels), "instrument": labels}


def evaluate_generated(model: MiniClap, gen: dict, vocab: dict) -> dict:
    model.eval()
    with torch.no_grad():
        text = model.embed_text([partial_caption({"instrument": v}) for v in vocab["instrument"]])
    audio = embed_audio(model, gen["mel"])
    prompts = [partial_caption({"instrument": vocab["instrument"][i]}) for i in gen["instrument"].tolist()]
    return {"n_texts": len(vocab["instrument"]), **retrieval(audio, text, gen["instrument"]),
            "clap_score_instrument_caption": float(mel_clap_score(model, gen["mel"], prompts).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="outputs/data/music")
    parser.add_argument("--run", default="outputs/runs/clap", help="training run (for steps and wall time)")
    parser.add_argument("--model", default=None, help="saved model folder (default: RUN/student_ema, else bundled)")
    parser.add_argument("--teacher", default=None, help="teacher model folder or bundled name (default: bundled "
                        "'teacher' when present; 'none' skips the generated clips)")
    parser.add_argument("--per-instrument", type=int, default=8, help="generated clips per instrument")
    parser.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance weight of the teacher")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = Path(args.run)
    source = args.model or (str(run / "student_ema") if (run / "student_ema").is_dir() else "bundled clap")
    if source == "bundled clap":
        from tempo_kit.pretrained import load_pretrained

        trained = load_pretrained("clap")
    else:
        trained = load_model(source)
    torch.manual_seed(0)  # weight init of the untrained baseline only
    untrained = MiniClap(config=trained.config, caption_embeddings=trained.text_cache)
    data = MusicDataset(args.data, split="heldout")
    training = {}
    log = run / "losses.jsonl"
    if log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        training = {"steps": rows[-1]["step"] + 1, "wall_s": rows[-1]["time"], "final_loss": rows[-1]["clap/infonce"],
                    "first_loss": rows[0]["clap/infonce"]}
    result = {
        "model": source, "data": args.data, "heldout_clips": len(data),
        "params": {"total": sum(p.numel() for p in trained.parameters()),
                   "audio": sum(p.numel() for n, p in trained.named_parameters() if n.startswith("audio_")),
                   "text": sum(p.numel() for p in trained.text_proj.parameters())},
        "training": training, "trained": evaluate(trained, data), "untrained": evaluate(untrained, data),
        "generated": None,
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                    "load_average_1min": os.getloadavg()[0]},
    }
    teacher = args.teacher
    if teacher is None:
        from tempo_kit.pretrained import available

        teacher = "teacher" if "teacher" in available() else "none"
    if teacher != "none":
        t0 = time.perf_counter()
        gen = generated_by_instrument(teacher, data.tag_vocab, args.per_instrument, args.cfg, seed=0)
        result["generated"] = {"teacher": teacher, "cfg": args.cfg, "steps": "heun 20", "clips": len(gen["mel"]),
                               "sampling_s": time.perf_counter() - t0,
                               "trained": evaluate_generated(trained, gen, data.tag_vocab),
                               "untrained": evaluate_generated(untrained, gen, data.tag_vocab)}
    result["machine"]["load_average_1min"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "clap.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "clap.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    t, u = r["trained"], r["untrained"]
    tr = r["training"]
    trained_line = (f"Trained {tr['steps']} steps in {tr['wall_s'] / 60:.1f} min (loss {tr['first_loss']:.2f} -> "
                    f"{tr['final_loss']:.2f}). " if tr else "")
    lines = [
        "# CLAP-style model (MiniClap): caption retrieval on held-out clips", "",
        f"{r['heldout_clips']} held-out clips of `{r['data']}`, model `{r['model']}` "
        f"({r['params']['total'] / 1e3:.0f} k parameters: audio tower {r['params']['audio'] / 1e3:.0f} k, text "
        f"projection {r['params']['text'] / 1e3:.0f} k). {trained_line}Untrained = same architecture, fresh weights. "
        "A hit at k: the clip's own text is among the k texts closest to its audio embedding.", "",
        "| texts | n | trained top-1 | trained top-5 | untrained top-1 | untrained top-5 | chance top-1 | chance top-5 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("instrument_captions", "instrument captions"), ("full_captions", "full held-out captions"),
                       ("collection_captions", "collection captions"), ("tempo_captions", "tempo captions"),
                       ("mode_captions", "mode captions")):
        a, b = t[key], u[key]
        lines.append(f"| {label} | {a['n_texts']} | {a['top1']:.3f} | {a['top5']:.3f} | {b['top1']:.3f} | "
                     f"{b['top5']:.3f} | {a['chance_top1']:.3f} | {a['chance_top5']:.3f} |")
    lines += ["", "| | trained | untrained |", "|---|---|---|",
              f"| CLAP score, own caption | {t['clap_score_own_caption']:.3f} | {u['clap_score_own_caption']:.3f} |",
              f"| CLAP score, another clip's (different) caption | {t['clap_score_other_caption']:.3f} | "
              f"{u['clap_score_other_caption']:.3f} |",
              f"| audio embedding, ms per clip (batch 64, {r['machine']['threads']} thread) | "
              f"{t['audio_embed_ms_per_clip']:.2f} | {u['audio_embed_ms_per_clip']:.2f} |",
              ""]
    g = r.get("generated")
    if g:
        a, b = g["trained"], g["untrained"]
        lines += [f"Generated clips: {g['clips']} clips from teacher `{g['teacher']}` ({g['steps']} steps, CFG "
                  f"{g['cfg']:g}), each conditioned on one instrument only; retrieval over the {a['n_texts']} instrument "
                  "captions (this measures the teacher's conditioning and the embedding on generated mels together).",
                  "", "| | top-1 | top-5 | CLAP score (instrument caption) |", "|---|---|---|---|",
                  f"| trained | {a['top1']:.3f} | {a['top5']:.3f} | {a['clap_score_instrument_caption']:.3f} |",
                  f"| untrained | {b['top1']:.3f} | {b['top5']:.3f} | {b['clap_score_instrument_caption']:.3f} |",
                  f"| chance | {a['chance_top1']:.3f} | {a['chance_top5']:.3f} | |", ""]
    lines += [f"1-minute load average at the end of the run: {r['machine']['load_average_1min']:.1f} (shared "
              "machine: timings are noisy).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
