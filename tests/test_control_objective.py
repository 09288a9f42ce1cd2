"""Objectives: alignment of targets and predictions, domain checks, default weights, clear errors."""

import pytest
import torch
from torch import nn

from tempo_kit.control.objective import Objective, check_objectives, evaluate_objectives, resolve_weights
from tempo_kit.control.targets import Target, intensity_curve, melody_from_frames, structure_from_form
from tempo_kit.features.chroma import LogChroma
from tempo_kit.features.intensity import Intensity
from tempo_kit.features.structure import MFCCSelfSimilarity
from tempo_kit.losses import mse, nll


@pytest.fixture(scope="module")
def intensity():
    return Intensity()


def test_objective_computes_loss_and_broadcasts_unbatched_target(intensity):
    target = intensity_curve("crescendo", n_frames=20, extractor=intensity)
    obj = Objective(extractor=intensity, loss=mse, target=target)
    assert obj.name == "intensity" and obj.weight is None and obj.domain == "mel"
    x = torch.zeros(3, 80, 20)
    loss, feature = obj(x)
    assert feature.shape == (3, 20) and loss.ndim == 0
    assert loss == pytest.approx(float(((feature - target.value) ** 2).mean()), rel=1e-5)


def test_registered_loss_name_and_plain_tensor_target():
    class Ident(nn.Module):
        domain = "latent"

        def forward(self, x):
            return x

    obj = Objective(extractor=Ident(), loss=lambda f, y: ((f - y) ** 2).mean(), target=torch.ones(4, 8), name="id")
    assert obj.target.kind == "feature"
    assert float(obj(torch.ones(2, 4, 8))[0]) == 0.0
    with pytest.raises(TypeError, match="loss must be a callable"):
        Objective(extractor=Ident(), loss=3, target=torch.ones(4))


def test_a_melody_with_rests_takes_the_targets_ignore_index_into_a_named_loss():
    import functools

    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_notes

    chroma = LogChroma()
    tune = melody_from_notes([("C5", 1), ("r", 1), ("E5", 1)], tempo=120, extractor=chroma, n_frames=100)
    assert bool((tune.value == IGNORE_INDEX).any())  # the rest and the frames after the tune
    x = torch.randn(2, 80, 100, generator=torch.Generator().manual_seed(0))
    by_name, _ = Objective(extractor=chroma, loss="nll", target=tune)(x)
    bound, _ = Objective(extractor=chroma, loss=functools.partial(nll, ignore_index=IGNORE_INDEX), target=tune)(x)
    torch.testing.assert_close(by_name, bound)
    with pytest.raises(ValueError, match="pitch classes must lie"):  # a loss told nothing of the rests still refuses
        Objective(extractor=chroma, loss=lambda f, y: nll(f, y), target=tune)(x)


def test_wrong_length_names_frames_and_seconds(intensity):
    obj = Objective(extractor=intensity, loss=mse, target=intensity_curve("swell", n_frames=30, extractor=intensity))
    with pytest.raises(ValueError, match=r"target 30 frames = 0\.70 s, output 20 frames = 0\.46 s"):
        obj(torch.zeros(1, 80, 20))


def test_batch_mismatch_and_class_range():
    ext = LogChroma()
    batched = melody_from_frames(torch.zeros(2, 16, dtype=torch.long), extractor=ext)
    obj = Objective(extractor=ext, loss=nll, target=batched)
    assert obj(torch.zeros(2, 80, 16))[1].shape == (2, 12, 16)
    with pytest.raises(ValueError, match="batch size 2 but the output has batch size 3"):
        obj(torch.zeros(3, 80, 16))
    too_many = Objective(extractor=ext, loss=nll, target=Target(value=torch.full((16,), 15), kind="melody"))
    with pytest.raises(ValueError, match="class 15 is out of range for a feature with 12 classes"):
        too_many(torch.zeros(1, 80, 16))


def test_misbehaving_extractor_is_blamed_by_name():
    class Detached(nn.Module):
        domain = "latent"

        def forward(self, x):
            return x.detach().mean(dim=1)

    class Flattened(nn.Module):
        domain = "latent"

        def forward(self, x):
            return x.mean(dim=(0, 1))

    x = torch.zeros(2, 4, 8, requires_grad=True)
    detached = Objective(extractor=Detached(), loss=mse, target=torch.zeros(8), name="mine")
    with pytest.raises(ValueError, match="objective 'mine': the output of extractor Detached does not depend"):
        detached(x)
    assert detached(x.detach())[0] == 0  # no gradient needed: a detached feature is fine
    flat = Objective(extractor=Flattened(), loss=mse, target=torch.zeros(8), name="flat")
    with pytest.raises(ValueError, match=r"extractor Flattened returned shape \(8,\) for a batch of 2"):
        flat(x)


def test_extractor_with_its_own_parameters_on_a_detached_input_is_blamed():
    class ParamOnly(nn.Module):  # needs grad through its weight only: torch would fail later, deep in the optimiser
        domain = "latent"

        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return self.scale * x.detach().mean(dim=1)

    x = torch.zeros(2, 4, 8, requires_grad=True)
    obj = Objective(extractor=ParamOnly(), loss=mse, target=torch.zeros(8), name="mine")
    with pytest.raises(ValueError, match="objective 'mine': the output of extractor ParamOnly does not depend"):
        obj(x)
    traced = Objective(extractor=lambda x: x.mean(dim=1), loss=mse, target=torch.zeros(8))
    assert traced(torch.zeros(2, 4, 8).requires_grad_() * 2)[0].requires_grad  # a non-leaf input is traced through


def test_misshaped_feature_blames_the_extractor_not_a_fitting_target(intensity):
    class HalfRate(nn.Module):  # declares the mel frame rate, returns every second frame
        domain, frame_rate, sample_rate = "mel", intensity.frame_rate, intensity.sample_rate

        def forward(self, x):
            return intensity(x)[:, ::2]

    class Transposed(nn.Module):  # (batch, frames, 12) instead of (batch, 12, frames)
        domain, frame_rate, sample_rate = "mel", intensity.frame_rate, intensity.sample_rate

        def forward(self, x):
            return x[:, :12].transpose(1, 2)

    x = torch.zeros(1, 80, 64)
    half = Objective(extractor=HalfRate(), loss=mse, target=intensity_curve("swell", n_frames=64, extractor=intensity))
    with pytest.raises(ValueError, match=r"extractor HalfRate returned shape \(1, 32\).*target's 64 frames fit the "
                                         r"input, so the extractor's output is mis-shaped"):
        half(x)
    chroma = Objective(extractor=Transposed(), loss=nll, target=Target(value=torch.zeros(64, dtype=torch.long),
                                                                       kind="melody", frame_rate=intensity.frame_rate))
    with pytest.raises(ValueError, match=r"extractor Transposed returned shape \(1, 64, 12\)"):
        chroma(x)
    # a target of the wrong length is still the target's fault
    short = Objective(extractor=intensity, loss=mse, target=intensity_curve("swell", n_frames=32, extractor=intensity))
    with pytest.raises(ValueError, match="build the target for the output length"):
        short(x)


def test_mismatched_rates_are_refused(intensity):
    other_rate = intensity_curve("crescendo", n_frames=20, frame_rate=86.13)
    with pytest.raises(ValueError, match=r"86\.130 frames/s but Intensity produces 43\.066 frames/s"):
        Objective(extractor=intensity, loss=mse, target=other_rate)
    other_sr = intensity_curve("crescendo", n_frames=20, frame_rate=intensity.frame_rate, sample_rate=44100)
    with pytest.raises(ValueError, match="44100 Hz but Intensity assumes 22050 Hz"):
        Objective(extractor=intensity, loss=mse, target=other_sr)
    with pytest.raises(ValueError, match="non-negative"):
        Objective(extractor=intensity, loss=mse, target=torch.zeros(20), weight=-1.0)


class FakeVocoder(nn.Module):
    input_domain, domain, sample_rate = "mel", "audio", 22050

    def forward(self, x):
        return x.mean(1).repeat_interleave(512, dim=-1)


def test_domain_checks_and_decoder(intensity):
    audio_ext = Intensity(domain="audio")
    target = intensity_curve("crescendo", n_frames=20, extractor=audio_ext)
    obj = Objective(extractor=audio_ext, loss=mse, target=target)
    with pytest.raises(ValueError, match="reads 'audio' but the model outputs 'mel' and no decoder"):
        check_objectives([obj], output_domain="mel")
    wrong = FakeVocoder()
    wrong.domain = "latent"
    with pytest.raises(ValueError, match="decoder maps 'mel' -> 'latent'"):
        check_objectives([obj], output_domain="mel", decoder=wrong)
    slow = FakeVocoder()
    slow.sample_rate = 16000
    with pytest.raises(ValueError, match="16000 Hz"):
        check_objectives([obj], output_domain="mel", decoder=slow)
    with pytest.raises(ValueError, match="model's mel output is at 44100 Hz"):
        check_objectives([Objective(extractor=intensity, loss=mse, target=target)], sample_rate=44100)
    checked = check_objectives([obj], output_domain="mel", decoder=FakeVocoder())
    total, losses, feats, decoded = evaluate_objectives(torch.zeros(1, 80, 19), checked, [1.0], decoder=FakeVocoder())
    assert decoded.shape == (1, 19 * 512) and feats["intensity"].shape == (1, 20) and total == losses["intensity"]


def test_task_validation(intensity):
    t = intensity_curve("crescendo", n_frames=20, extractor=intensity)
    with pytest.raises(ValueError, match="at least one objective"):
        check_objectives([])
    with pytest.raises(ValueError, match=r"\['intensity'\] appear more than once"):
        check_objectives([Objective(extractor=intensity, loss=mse, target=t)] * 2)
    with pytest.raises(TypeError, match="Objective instances"):
        check_objectives([intensity])


def test_app_h_default_weights(intensity):
    loud = Objective(extractor=intensity, loss=mse, target=intensity_curve("swell", n_frames=16, extractor=intensity))
    chroma = LogChroma()
    mel = Objective(extractor=chroma, loss=nll, target=melody_from_frames(torch.zeros(16, dtype=torch.long), extractor=chroma))
    ss = MFCCSelfSimilarity()
    struct = Objective(extractor=ss, loss=mse, target=structure_from_form("ABA", n_frames=16, extractor=ss))
    assert resolve_weights([loud]) == [1.0]
    assert resolve_weights([loud, mel]) == [0.25, 1.0]
    assert resolve_weights([loud, struct]) == [1 / 40, 1.0]
    explicit = Objective(extractor=intensity, loss=mse, target=loud.target, weight=0.5)
    assert resolve_weights([explicit, struct]) == [0.5, 1.0]
