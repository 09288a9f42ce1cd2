"""Bad input gets a clear ValueError naming the problem, never a shape crash deep inside torch."""

import math

import pytest
import torch

import tempo_kit
from tempo_kit import losses
from tempo_kit.audio import MFCC, Chroma, MelSpec, Spectrogram
from tempo_kit.audio.resample import Resample
from tempo_kit.features import (
    Intensity,
    LogChroma,
    LoopFree,
    MaskedReconstruction,
    MFCCSelfSimilarity,
    melody_accuracy,
    time_mask,
)

SPEC = MelSpec()
RATE = SPEC.frame_rate


# -- inputs --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Intensity, LogChroma, MFCCSelfSimilarity])
def test_mel_extractor_rejects_audio_and_wrong_mel_count(cls):
    with pytest.raises(ValueError, match=r"n_mels=80"):
        cls(domain="mel")(torch.zeros(2, 22050))
    with pytest.raises(ValueError, match=r"n_mels=80"):
        cls(domain="mel")(torch.zeros(2, 64, 100))
    with pytest.raises(ValueError, match="waveform"):
        cls(domain="audio")(torch.zeros(2, 1, 80, 100))
    with pytest.raises(ValueError, match="domain"):
        cls(domain="latent")


def test_front_end_arguments():
    with pytest.raises(ValueError, match="pad_mode"):
        Spectrogram(pad_mode="symmetric")
    with pytest.raises(ValueError, match="win_length"):
        Spectrogram(n_fft=512, win_length=1024)
    with pytest.raises(ValueError, match="power"):
        Spectrogram(power=0.0)
    with pytest.raises(ValueError, match="fewer than n_fft"):
        Spectrogram(n_fft=2048, center=False)(torch.zeros(1, 1000))
    with pytest.raises(ValueError, match="floating waveform"):
        Spectrogram()(torch.zeros(1, 4096, dtype=torch.long))
    with pytest.raises(ValueError, match="highpass_hz"):
        Chroma(highpass_hz=20000.0)
    with pytest.raises(ValueError, match="norm"):
        Chroma(norm=2)
    with pytest.raises(ValueError, match="n_mfcc"):
        MFCC(n_mfcc=200)
    with pytest.raises(ValueError, match="smoothing"):
        MFCCSelfSimilarity(smoothing=8)
    with pytest.raises(ValueError, match="needs audio input"):
        LogChroma(domain="mel", method="cqt")
    with pytest.raises(ValueError, match="method"):
        LogChroma(method="vqt")
    with pytest.raises(ValueError, match="sample rates"):
        Resample(orig_sr=22050.5, new_sr=48000)


# -- rates -----------------------------------------------------------------------------------------------------------
def test_mismatched_sample_or_frame_rate():
    ext = Intensity()
    ext.check_rates(sample_rate=22050, frame_rate=RATE)  # matching rates pass
    with pytest.raises(ValueError, match="sample rate of 22050 .* at 44100"):
        ext.check_rates(sample_rate=44100)
    with pytest.raises(ValueError, match="frame rate"):
        ext.check_rates(frame_rate=86.13)
    with pytest.raises(ValueError, match="frame rate"):
        MaskedReconstruction.outpainting(n_frames=100).check_rates(frame_rate=21.5)


# -- targets -----------------------------------------------------------------------------------------------------------
def test_target_of_wrong_length():
    f = Intensity()(SPEC.to_model(torch.zeros(1, SPEC.num_samples(100))))
    with pytest.raises(ValueError, match="length 90 on its last axis but the feature has 100"):
        losses.mse(f, torch.zeros(90))
    with pytest.raises(ValueError, match="does not match feature"):
        losses.mse(torch.zeros(2, 3, 10), torch.zeros(4, 10))
    with pytest.raises(ValueError, match="100 frames"):
        losses.nll(torch.zeros(1, 12, 100), torch.zeros(90, dtype=torch.long))


@pytest.mark.parametrize("fn", [losses.mse, losses.cosine, losses.pearson])
def test_nan_in_target(fn):
    y = torch.zeros(10)
    y[3] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(torch.zeros(2, 10), y)


@pytest.mark.parametrize("bad", [12, -1, 40])
def test_pitch_classes_outside_0_to_11(bad):
    y = torch.zeros(20, dtype=torch.long)
    y[5] = bad
    lp = torch.log_softmax(torch.randn(1, 12, 20), 1)
    with pytest.raises(ValueError, match=rf"0\.\.11; got \[{bad}\]"):
        losses.nll(lp, y)
    with pytest.raises(ValueError, match="0..11"):
        melody_accuracy(lp, y)


def test_pitch_class_types():
    lp = torch.log_softmax(torch.randn(2, 12, 4), 1)
    with pytest.raises(ValueError, match="fractional"):
        losses.nll(lp, torch.tensor([0.5, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="NaN"):
        losses.nll(lp, torch.tensor([math.nan, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="batch 3"):
        losses.nll(lp, torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(batch, classes, frames\)"):
        losses.nll(torch.zeros(12, 4), torch.zeros(4, dtype=torch.long))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(torch.zeros(2, 3), torch.zeros(3), reduction="max")


# -- masks -------------------------------------------------------------------------------------------------------------
def test_empty_masks():
    with pytest.raises(ValueError, match="empty mask"):
        time_mask(100, [(1.0, 1.0)], frame_rate=RATE)
    with pytest.raises(ValueError, match="empty mask"):
        time_mask(100, [(10.0, 12.0)], frame_rate=RATE)  # beyond the 2.3 s clip
    with pytest.raises(ValueError, match="empty mask"):
        MaskedReconstruction.outpainting(n_frames=100, overlap_s=0.0)
    with pytest.raises(ValueError, match="gen_mask is empty"):
        MaskedReconstruction(gen_mask=torch.zeros(100, dtype=torch.bool))
    with pytest.raises(ValueError, match="empty mask"):
        LoopFree(overlap_s=0.001)
    with pytest.raises(ValueError, match="gap is empty"):
        MaskedReconstruction.inpainting(n_frames=100, context_s=2.0)
    with pytest.raises(ValueError, match="non-negative"):
        time_mask(100, [(None, math.nan)], frame_rate=RATE)


def test_mask_and_input_disagree():
    ext = MaskedReconstruction.outpainting(n_frames=100, overlap_s=1.0)
    with pytest.raises(ValueError, match="120 frames .* built for 100"):
        ext(torch.zeros(1, 80, 120))
    with pytest.raises(ValueError, match="reference contains NaN"):
        ext.target(torch.full((1, 80, 100), math.nan))
    with pytest.raises(ValueError, match="selects 43 frames but ref_mask selects 10"):
        MaskedReconstruction(gen_mask=time_mask(100, [(None, 1.0)], frame_rate=RATE),
                             ref_mask=torch.arange(100) < 10)
    with pytest.raises(ValueError, match="twice the overlap"):
        LoopFree(overlap_s=1.0)(torch.zeros(1, 80, 50))


def test_registry_names_unknown_extractor():
    with pytest.raises(KeyError, match="intensity"):
        tempo_kit.get("extractors", "intensty")
