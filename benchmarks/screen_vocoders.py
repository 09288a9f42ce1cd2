"""Screen vocoder snapshots during training: point values only, no intervals, no verdicts (use bench_vocoder.py).

For each vocoder folder (the bundled vocoder first): MR-STFT (spectral convergence + log-magnitude L1) to the original
waveform on every third held-out clip, as a ratio to the bundled vocoder's on the same clips, and FAD CREPE of
tag-matched training clips vocoded against all held-out recordings (bench_vocoder.py's protocol); with ``--levels``
also the log-magnitude error by the level of the original's STFT bin (dB below the clip's peak) at each FFT size of
the MR-STFT distance, and the share of bins at that level; with ``--phase`` where the vocoder's CREPE distance lies:
the mean squared distance of CREPE-tiny frames of the vocoded clip to the real clip's, and of two hybrids on the
vocoder's synthesis STFT (its magnitudes with the real phase; the real magnitudes with its phase). About 3 minutes
per vocoder on 2 cores for the 296 held-out clips of ``outputs/data/music``.

    .venv/bin/python benchmarks/screen_vocoders.py outputs/runs/vocoder_sub2/snapshots/step_8000 [...] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _quality as Q  # noqa: E402
from bench_vocoder import BUNDLED, load_vocoder, vocode  # noqa: E402

from tempo_kit.audio import MelSpec  # noqa: E402
from tempo_kit.data import MusicDataset  # noqa: E402
from tempo_kit.metrics import ClipStats, bootstrap_frechet  # noqa: E402
from tempo_kit.training.recipes.vocoder import multi_resolution_stft_loss  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vocoders", nargs="+", help="saved vocoder folders (or git:REV for the bundled one at REV)")
    parser.add_argument("--root", default="outputs/data/music")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--levels", action="store_true", help="log-magnitude error by level of the original's bins")
    parser.add_argument("--phase", action="store_true", help="CREPE frame distance of magnitude/phase hybrids")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from tempo_kit.models.crepe import CrepeEmbedding

    held = MusicDataset(args.root, split="heldout", load_audio=True)
    train = MusicDataset(args.root, split="train", load_audio=True)
    spec = MelSpec(**held.meta["mel_spec"])
    src = Q.select_reference(held.records, None, seed=0)
    samples = held.mel.shape[-1] * spec.hop_length
    every_third = src[::3]
    ref_mel, ref_audio = held.mel[every_third].float(), held.audio[every_third, :samples].float() / 32767
    pick = Q.matched_train_clips(train.records, [held.records[i] for i in src], seed=3)
    crepe = CrepeEmbedding(capacity="tiny")
    reference = ClipStats.from_embeddings(crepe(held.audio[src, :samples].float() / 32767, spec.sample_rate))
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for path in [BUNDLED, *args.vocoders]:
            model = load_vocoder(path, Path(tmp))
            out = vocode(model, ref_mel)
            mr = torch.tensor([float(sum(multi_resolution_stft_loss(out[j:j + 1], ref_audio[j:j + 1]).values()))
                               for j in range(len(every_third))])
            base = mr if base is None else base
            fad = bootstrap_frechet(ClipStats.from_embeddings(crepe(vocode(model, train.mel[pick].float()),
                                                                    spec.sample_rate)), reference)
            print(f"{path}: MR-STFT {float(mr.mean()):.4f} ({float(mr.mean() / base.mean()):.4f}x the bundled "
                  f"vocoder's); FAD CREPE {fad:.5f}", flush=True)
            if args.levels:
                print_levels(out, ref_audio)
            if args.phase and hasattr(model, "spectrum"):
                print_phase(model, ref_mel, ref_audio, crepe, spec.sample_rate)


def print_levels(out: torch.Tensor, ref: torch.Tensor, bands=(-120, -80, -60, -40, -20, 1)) -> None:
    """Mean |log|S_ref| - log|S_out||| (the MR-STFT's log-magnitude term) by the reference bin's level in dB below
    its clip's peak, and the share of bins at that level, per FFT size."""
    for n_fft in (512, 1024, 2048):
        kw = dict(n_fft=n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)
        P, R = torch.stft(out, **kw).abs(), torch.stft(ref, **kw).abs()
        err = (torch.log(R + 1e-7) - torch.log(P + 1e-7)).abs()
        db = 20 * torch.log10(R / R.amax(dim=(1, 2), keepdim=True) + 1e-12)
        cells = []
        for lo, hi in zip((-300,) + bands[:-1], bands):
            m = (db >= lo) & (db < hi)
            cells.append(f"[{lo}, {min(hi, 0)}) dB: {float(m.float().mean()):.0%} of bins, error "
                         f"{float(err[m].mean()) if m.any() else float('nan'):.2f}")
        print(f"  n_fft {n_fft}: " + "; ".join(cells), flush=True)


@torch.inference_mode()
def print_phase(model, mel: torch.Tensor, ref: torch.Tensor, crepe, sample_rate: int) -> None:
    """Mean squared distance of CREPE-tiny frames to the real clip's: the vocoded clip, and on the vocoder's synthesis
    STFT its magnitudes with the real clip's phase, the real magnitudes with its phase."""
    n_fft, hop = model.synth.n_fft, model.synth.hop_length
    window = torch.hann_window(n_fft)
    S = torch.cat([model.spectrum(m) for m in mel.split(8)])
    R = torch.stft(ref, n_fft, hop, window=window, center=True, return_complex=True)[..., : S.shape[-1]]
    real = crepe(ref, sample_rate)

    def distance(spectrum):
        audio = torch.istft(spectrum, n_fft, hop, window=window, center=True, length=ref.shape[-1])
        return float((crepe(audio, sample_rate) - real).norm(dim=-1).square().mean())

    print(f"  CREPE frame distance to the real clip: vocoded {distance(S):.3f}; its magnitudes with the real phase "
          f"{distance(torch.polar(S.abs(), R.angle())):.3f}; the real magnitudes with its phase "
          f"{distance(torch.polar(R.abs(), S.angle())):.3f}", flush=True)


if __name__ == "__main__":
    main()
