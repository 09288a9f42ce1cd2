"""Mel -> waveform quality and speed: the trained vocoder vs Griffin-Lim vs the untrained vocoder, on held-out music.

For each method, vocodes held-out clips of the music dataset (``outputs/data/music``, split ``heldout``; 256 frames =
5.94 s each), re-analyses the audio with :class:`~tempo_kit.audio.MelSpec` and reports

* ``mel_l1``: mean |MelSpec(vocoder(mel)) - mel| in model space (1 unit = 60 dB; 0.01 = 0.6 dB), all frames;
* ``stft_sc``: multi-resolution spectral convergence against the original audio (phase-sensitive: lower = closer to
  the real waveform's STFT at 512/1024/2048);
* ``rtf_1t`` / ``rtf_<threads>t``: real-time factor, seconds of audio per second of wall time (``rtf_cpu_*``: per
  CPU-second of the process) for a batch of ``--rtf-batch`` clips at 1 and ``--threads`` torch threads, best of
  ``--repeats``.

The trained vocoder is the bundled one (``load_pretrained("vocoder")``) when present, else the latest training run
(``outputs/runs/vocoder/student_ema`` or ``student``). Writes ``benchmarks/results/vocoder.json`` and ``.md``.

    .venv/bin/python benchmarks/bench_vocoder.py [--clips 64] [--threads 2] [--run outputs/runs/vocoder]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from tempo_kit.audio import MelSpec
from tempo_kit.data import MusicDataset
from tempo_kit.training.recipes.vocoder import multi_resolution_stft_loss
from tempo_kit.vocoder import GriffinLim, GriffinLimConfig, Vocoder

RESULTS = Path(__file__).parent / "results"


def trained_vocoder(run: Path) -> tuple[torch.nn.Module | None, str]:
    from tempo_kit.models.io import load_model
    from tempo_kit.pretrained import available, load_pretrained

    if "vocoder" in available():
        return load_pretrained("vocoder"), "bundled (load_pretrained('vocoder'), fp16 weights)"
    for sub in ("student_ema", "student"):
        if (run / sub / "config.json").is_file():
            return load_model(run / sub).eval(), str(run / sub)
    return None, "none found"


@torch.no_grad()
def quality(model, mel: torch.Tensor, audio: torch.Tensor, spec: MelSpec, batch: int) -> dict[str, float]:
    l1, sc = [], []
    for i in range(0, mel.shape[0], batch):
        x, y = mel[i:i + batch], audio[i:i + batch, :, : mel.shape[-1] * spec.hop_length]
        out = model(x)
        l1.append((spec.to_model(out)[..., : x.shape[-1]] - x).abs().mean(dim=(1, 2)))
        sc.append(torch.stack([multi_resolution_stft_loss(out[j:j + 1], y[j:j + 1])["sc"] for j in range(len(x))]))
    l1, sc = torch.cat(l1), torch.cat(sc)
    return {"mel_l1": l1.mean().item(), "mel_l1_std": l1.std().item(), "stft_sc": sc.mean().item()}


@torch.no_grad()
def speed(model, mel: torch.Tensor, spec: MelSpec, repeats: int) -> dict[str, float]:
    model(mel)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        model(mel)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    seconds = mel.shape[0] * mel.shape[-1] * spec.hop_length / spec.sample_rate
    return {"rtf": seconds / min(wall), "rtf_cpu": seconds / min(cpu), "wall_s": min(wall), "audio_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="outputs/data/music")
    parser.add_argument("--run", default="outputs/runs/vocoder")
    parser.add_argument("--clips", type=int, default=64, help="held-out clips scored (>= 50)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rtf-batch", type=int, default=4, help="clips vocoded at once for the speed measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the speed measurement")
    parser.add_argument("--quality-threads", type=int, default=1,
                        help="torch threads while scoring quality (1 holds up best on a busy shared machine)")
    args = parser.parse_args()

    data = MusicDataset(args.root, split="heldout", load_audio=True)
    n = min(args.clips, len(data))
    clips = data.batch(torch.arange(n))
    mel, audio = clips["x0"], clips["audio"]
    spec = MelSpec(**data.meta["mel_spec"])

    trained, source = trained_vocoder(Path(args.run))
    methods = {}
    if trained is not None:
        methods["vocoder (trained)"] = trained
    methods["griffin-lim 4 it"] = GriffinLim(config=GriffinLimConfig(n_iter=4))
    methods["griffin-lim 32 it"] = GriffinLim(config=GriffinLimConfig(n_iter=32))
    methods["griffin-lim 64 it"] = GriffinLim(config=GriffinLimConfig(n_iter=64))
    methods["pinv magnitude, random phase"] = GriffinLim(config=GriffinLimConfig(n_iter=0))
    with torch.random.fork_rng():  # a fixed, local seed for the untrained baseline's initialization
        torch.manual_seed(0)
        methods["vocoder (untrained)"] = Vocoder(config=trained.config if trained is not None else None)

    rows = []
    for name, model in methods.items():
        model.eval()
        torch.set_num_threads(args.quality_threads)
        row = {"method": name, "params": sum(p.numel() for p in model.parameters()),
               **quality(model, mel, audio, spec, args.batch)}
        for threads in sorted({1, args.threads}):
            torch.set_num_threads(threads)
            row.update({f"{k}_{threads}t": v for k, v in speed(model, mel[: args.rtf_batch], spec, args.repeats).items()})
        rows.append(row)
        print(row, flush=True)
    with torch.no_grad():
        floor = (spec.to_model(audio[..., : mel.shape[-1] * spec.hop_length])[..., : mel.shape[-1]] - mel).abs().mean()

    meta = {
        "clips": n, "split": "heldout", "frames": mel.shape[-1], "trained_source": source, "threads": args.threads,
        "rtf_batch": args.rtf_batch, "repeats": args.repeats, "torch": torch.__version__,
        "machine": platform.machine(), "processor": platform.processor(),
        "load_average_1min": os.getloadavg()[0], "original_audio_mel_l1": floor.item(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vocoder.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# Vocoder: mel -> waveform on held-out music",
        "",
        f"{n} held-out clips of {mel.shape[-1]} frames ({mel.shape[-1] * spec.hop_length / spec.sample_rate:.2f} s at "
        f"{spec.sample_rate} Hz). mel L1: mean |MelSpec(audio) - mel| in model space (1 = 60 dB); the original audio "
        f"scores {floor.item():.2g}. STFT SC: multi-resolution spectral convergence against the original waveform "
        f"(512/1024/2048). RTF: seconds of audio per wall-second (per CPU-second of the process in brackets), batch "
        f"of {args.rtf_batch} clips, best of {args.repeats}, at 1 and {args.threads} torch threads; 1-minute load "
        f"average {meta['load_average_1min']:.1f}. On a shared, busy machine the multi-threaded timings collapse "
        "whenever another job holds a core (threads wait for each other): compare rows within this run, and prefer "
        f"the 1-thread column. Trained vocoder: {source}.",
        "",
        f"| method | params | mel L1 | STFT SC | RTF, 1 thread | RTF, {args.threads} threads |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['params']:,} | {r['mel_l1']:.4f} ± {r['mel_l1_std']:.4f} | "
                     f"{r['stft_sc']:.3f} | {r['rtf_1t']:.1f} ({r['rtf_cpu_1t']:.1f}) | "
                     f"{r[f'rtf_{args.threads}t']:.1f} ({r[f'rtf_cpu_{args.threads}t']:.1f}) |")
    (RESULTS / "vocoder.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
