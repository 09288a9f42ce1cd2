"""Tests for tempo_kit.testing: the contract checks pass on the built-ins and catch deliberately broken components."""

import numpy as np
import pytest
import torch
from torch import nn

from tempo_kit.denoisers import CFGDenoiser, EDMPrecond
from tempo_kit.features.base import Extractor
from tempo_kit.jumps import ConsistencyJump, EulerJump, ODEJump
from tempo_kit.samplers import CTMGamma, EDMSampler
from tempo_kit.testing import TinyDenoiserNet, check_denoiser, check_extractor, check_jump, check_sampler
from tempo_kit.testing.toy import ExactJump, GaussianMixture
from tempo_kit.utils import append_dims, as_sigma, check_int, check_number

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (2, 8)


def teacher():
    return EDMPrecond(net=TinyDenoiserNet(shape=SHAPE, generator=torch.Generator().manual_seed(0)).double())


def example():
    return torch.randn(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


SIGMA = torch.tensor([0.05, 1.0, 20.0], dtype=torch.float64)


# -- built-ins pass ----------------------------------------------------------------------------------------------------
def test_builtin_denoisers_pass():
    check_denoiser(teacher(), example(), SIGMA)
    check_denoiser(EDMPrecond(net=teacher().net, consistency=True), example(), SIGMA)
    cond = torch.randn(3, *SHAPE, dtype=torch.float64)
    check_denoiser(CFGDenoiser(denoiser=teacher(), w=3.0), example(), SIGMA, cond=cond)
    mix = GaussianMixture.ring(components=4)
    check_denoiser(mix, torch.randn(4, 2, dtype=torch.float64), 0.7)


def test_builtin_jumps_pass():
    x = 5 * example()
    check_jump(EulerJump(denoiser=teacher()), x, 5.0, torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64), boundary=True)
    check_jump(ODEJump(denoiser=teacher()), x, 5.0, 1.0, boundary=True)
    check_jump(ConsistencyJump(denoiser=teacher()), x, 5.0, 0.0)
    check_jump(ExactJump(data=GaussianMixture.ring(components=3), substeps=4), torch.randn(3, 2, dtype=torch.float64),
               2.0, 0.5, boundary=True)


class RMS(Extractor):
    """Frame RMS energy of a waveform: a minimal extractor (frames of 64 samples, hop 64)."""

    domain, sample_rate, frame_rate = "audio", 16000, 250.0

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        frames = x.unfold(-1, 64, 64)
        return (frames.square().mean(-1) + self.eps).sqrt()

    def num_frames(self, n_input):
        return n_input // 64


def test_extractor_check_passes_on_a_correct_extractor():
    check_extractor(RMS(), torch.randn(1, 1024))
    check_extractor(RMS(), torch.randn(2, 1000))


# -- broken components are caught --------------------------------------------------------------------------------------
class BatchMixing(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x - x.mean(0, keepdim=True)


class Noisy(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x + 1e-3 * torch.randn_like(x)


class WrongShape(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x[..., :-1]


class NaNAtSmallSigma(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x / (as_sigma(sigma, x) - 1e-3)[:, None, None].clamp_min(0)


class TensorSigmaOnly(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x / (1 + sigma[:, None, None] ** 2)


class Detached(nn.Module):
    def forward(self, x, sigma, cond=None):
        return x.detach() * 0.5


@pytest.mark.parametrize("broken, message", [
    (BatchMixing(), "batch independence"),
    (Noisy(), "two calls with the same input differ"),
    (WrongShape(), "output shape"),
    (NaNAtSmallSigma(), "non-finite"),
    (TensorSigmaOnly(), "raised TypeError.*float sigma"),
    (Detached(), "gradients cannot flow"),
])
def test_check_denoiser_catches_broken_denoisers(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_denoiser(broken, example(), SIGMA)


class NaNJumpToZero(nn.Module):
    def forward(self, x, sigma_from, sigma_to, cond=None):
        s = append_dims(as_sigma(sigma_to, x), x.ndim)
        return x * s / s


def test_check_jump_catches_broken_jumps():
    with pytest.raises(AssertionError, match="sigma_to=0"):
        check_jump(NaNJumpToZero(), example(), 2.0, 1.0)
    with pytest.raises(AssertionError, match=r"G\(x, t, t\) != x"):
        check_jump(ConsistencyJump(denoiser=teacher()), example(), 2.0, 1.0, boundary=True)


class FreshNoiseSampler(CTMGamma):
    """Ignores the given noise and draws its own: breaks 'same noise, same output'."""

    def step(self, model, x, sigma, sigma_next, *, cond, noise, index, n_steps):
        return super().step(model, x, sigma, sigma_next, cond=cond, noise=torch.randn_like(x), index=index,
                            n_steps=n_steps)


class WrongNFE(EDMSampler):
    def nfe(self, steps, model=None):
        return steps


def test_check_sampler_catches_broken_samplers():
    x_T = 5 * example()
    with pytest.raises(AssertionError, match="same noise gave different outputs"):
        check_sampler(FreshNoiseSampler(gamma=0.3), EulerJump(denoiser=teacher()), x_T, 3)
    with pytest.raises(AssertionError, match=r"called the network 5 times .* says 3"):
        check_sampler(WrongNFE(heun=True), teacher(), x_T, 3)


class SqrtNoEps(RMS):
    def __init__(self):
        super().__init__(eps=0.0)


class BatchNormalized(RMS):
    def forward(self, x):
        out = super().forward(x)
        return out / out.amax()


class BadFrames(RMS):
    def num_frames(self, n_input):
        return n_input // 32


class BadDomain(RMS):
    domain = "spectrogram"


@pytest.mark.parametrize("broken, message", [
    (SqrtNoEps(), r"non-finite values \(zeros input \(silence\)\)"),
    (BatchNormalized(), "batch independence"),
    (BadFrames(), "num_frames"),
    (BadDomain(), "domain must be one of"),
])
def test_check_extractor_catches_broken_extractors(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_extractor(broken, torch.randn(1, 1024))


def test_check_sampler_takes_numpy_step_counts():
    x_T = 80 * example()
    check_sampler(EDMSampler(), teacher(), x_T, np.int64(3))


def test_check_int_and_check_number_name_the_argument():
    assert check_int(np.int64(3), "steps", low=1) == 3 and type(check_int(np.int64(3), "steps")) is int
    for bad in (2.0, True, "3", None, torch.tensor([1, 2])):
        with pytest.raises(TypeError, match="steps must be an integer"):
            check_int(bad, "steps", low=1)
    with pytest.raises(ValueError, match="seed must be >= 0 and <= 9, got 10"):
        check_int(10, "seed", low=0, high=9)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        check_int(0, "steps", low=1)
    assert check_number(np.float32(0.5), "lr", positive=True) == 0.5 and check_number(0, "weight") == 0.0
    for bad in ("0.1", True, None, [1.0]):
        with pytest.raises(TypeError, match="lr must be a finite number"):
            check_number(bad, "lr")
    for bad in (float("nan"), float("inf"), -1e-9):
        with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
            check_number(bad, "weight")
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0.0"):
        check_number(0.0, "lr", positive=True)


def test_check_int_refuses_arrays_bool_tensors_and_check_number_huge_ints():
    assert check_int(torch.tensor(4), "steps") == 4 and check_int(np.int32(2), "steps") == 2
    for bad in (torch.tensor(True), torch.tensor([[5]]), np.array([3]), np.bool_(True)):
        with pytest.raises(TypeError, match="steps must be an integer"):
            check_int(bad, "steps")
    with pytest.raises(ValueError, match="lr must be a finite number"):
        check_number(10**400, "lr")
