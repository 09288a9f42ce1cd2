"""Spectral front end timings: tempo_kit (torch.stft + librosa filterbanks) vs nnAudio vs librosa.

Measures mel spectrogram, MFCC and chroma on a batch of music-like clips (tempo_kit.testing.synth.example_music) on
the CPU, forward only and forward + backward where the implementation is differentiable, and reports every timing as a
ratio to tempo_kit's within the same run (machines differ; ratios are what carry over). Writes
``benchmarks/results/bench_features.json`` and ``.md``.

    .venv/bin/python benchmarks/bench_features.py [--batch 4] [--seconds 6] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from tempo_kit.audio import MFCC, Chroma, CQTChroma, MelSpectrogram
from tempo_kit.testing.synth import example_music

SR = 22050
RESULTS = Path(__file__).parent / "results"


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (librosa's first call JIT-compiles; torch allocates)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def forward_backward(module, y):
    def run():
        x = y.clone().requires_grad_()
        module(x).sum().backward()

    return run


def forward(module, y):
    def run():
        with torch.no_grad():
            module(y)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: like librosa's numpy FFT)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from nnAudio.features import MFCC as NNMFCC
    from nnAudio.features import MelSpectrogram as NNMel

    audio = np.stack([example_music(duration=args.seconds, seed=s) for s in range(args.batch)])
    y = torch.from_numpy(audio)
    mel_kw = dict(n_fft=2048, hop_length=512, n_mels=128)
    ours = {
        "mel": MelSpectrogram(sample_rate=SR, **mel_kw),
        "mfcc": MFCC(sample_rate=SR, n_mfcc=20, **mel_kw),
        "chroma_stft": Chroma(sample_rate=SR, n_fft=2048, hop_length=512),
        "chroma_cqt": CQTChroma(sample_rate=SR, hop_length=512),
    }
    nn_audio = {
        "mel": NNMel(sr=SR, n_fft=2048, hop_length=512, n_mels=128, pad_mode="constant", verbose=False),
        "mfcc": NNMFCC(sr=SR, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128, pad_mode="constant", verbose=False),
    }
    librosa_fn = {
        "mel": lambda: librosa.feature.melspectrogram(y=audio, sr=SR, **mel_kw),
        "mfcc": lambda: librosa.feature.mfcc(y=audio, sr=SR, n_mfcc=20, **mel_kw),
        "chroma_stft": lambda: librosa.feature.chroma_stft(y=audio, sr=SR, n_fft=2048, hop_length=512, tuning=0),
        "chroma_cqt": lambda: librosa.feature.chroma_cqt(y=audio, sr=SR, hop_length=512, tuning=0),
    }

    rows = []
    for feature, module in ours.items():
        base_fwd = best_time(forward(module, y), args.repeats)
        base_bwd = best_time(forward_backward(module, y), args.repeats)
        row = {"feature": feature, "tempo_kit_forward_s": base_fwd, "tempo_kit_fwd_bwd_s": base_bwd}
        if feature in nn_audio:
            row["nnaudio_forward_ratio"] = best_time(forward(nn_audio[feature], y), args.repeats) / base_fwd
            row["nnaudio_fwd_bwd_ratio"] = best_time(forward_backward(nn_audio[feature], y), args.repeats) / base_bwd
        row["librosa_forward_ratio"] = best_time(librosa_fn[feature], args.repeats) / base_fwd
        rows.append(row)
        print(row)

    meta = {
        "batch": args.batch, "seconds": args.seconds, "repeats": args.repeats, "sample_rate": SR,
        "torch": torch.__version__, "librosa": librosa.__version__, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "processor": platform.processor(), "timing": "best of repeats, CPU",
        "load_average_1min": os.getloadavg()[0],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_features.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))

    def fmt(v):
        return "-" if v is None else f"{v:.2f}x"

    lines = [
        "# Spectral front end: tempo_kit vs nnAudio vs librosa",
        "",
        f"Batch {args.batch} x {args.seconds:g} s at {SR} Hz, CPU ({meta['threads']} threads), best of "
        f"{args.repeats}. Ratios are the other implementation's time divided by tempo_kit's in the same run "
        "(> 1: tempo_kit is faster). nnAudio has no chroma; librosa is forward-only (numpy). The chroma_cqt row is "
        "tempo_kit's CQTChroma, which runs nnAudio's CQT2010v2 and folds it with librosa's cq_to_chroma. "
        f"1-minute load average at the end of the run: {meta['load_average_1min']:.1f} (shared machine: absolute "
        "times are noisy, ratios within the run are what to compare).",
        "",
        "| feature | tempo_kit fwd (ms) | tempo_kit fwd+bwd (ms) | nnAudio fwd | nnAudio fwd+bwd | librosa fwd |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['feature']} | {1e3 * r['tempo_kit_forward_s']:.1f} | {1e3 * r['tempo_kit_fwd_bwd_s']:.1f} | "
            f"{fmt(r.get('nnaudio_forward_ratio'))} | {fmt(r.get('nnaudio_fwd_bwd_ratio'))} | "
            f"{fmt(r['librosa_forward_ratio'])} |"
        )
    (RESULTS / "bench_features.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
