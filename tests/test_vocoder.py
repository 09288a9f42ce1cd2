"""Vocoder and Griffin-Lim: shapes, gradients, phase retrieval, the training recipe, save/load and bad inputs."""

import math

import numpy as np
import pytest
import torch

import tempo_kit
from tempo_kit.audio import MelSpec
from tempo_kit.models.io import load_model, save_model
from tempo_kit.testing.synth import example_music
from tempo_kit.training import TrainConfig, Trainer
from tempo_kit.training.recipes.vocoder import (VocoderRecipe, multi_resolution_stft_loss, phase_derivative_loss,
                                               random_crops)
from tempo_kit.vocoder import GriffinLim, GriffinLimConfig, Vocoder, VocoderConfig, istft

SPEC = MelSpec()
HOP = SPEC.hop_length


def tiny_vocoder(**kw) -> Vocoder:
    return Vocoder(config=VocoderConfig(channels=16, depth=1, expansion=2.0, **kw))


def tiny_direct() -> Vocoder:
    return tiny_vocoder(phase="direct")


@pytest.fixture(scope="module")
def music():
    """Two music-like clips of 24 frames: audio (2, 1, 24 * hop) and its model-space mel (2, 80, 24)."""
    frames = 24
    audio = torch.stack([torch.from_numpy(example_music(duration=frames * HOP / SPEC.sample_rate + 0.1, seed=s))
                         for s in range(2)])[:, : frames * HOP].float()
    mel = SPEC.to_model(audio)[..., :frames]
    return audio.unsqueeze(1), mel


@pytest.mark.parametrize("make", [tiny_vocoder, tiny_direct, lambda: GriffinLim(config=GriffinLimConfig(n_iter=2))])
def test_output_shape_and_frame_grid(make, music):
    _, mel = music
    out = make()(mel[..., :10])
    assert out.shape == (2, 1, 10 * HOP) and torch.isfinite(out).all()
    assert SPEC.num_frames(out.shape[-1]) == 11  # frame t of the output is centred at sample t * hop, like the input


@pytest.mark.parametrize("make", [tiny_vocoder, tiny_direct, lambda: GriffinLim(config=GriffinLimConfig(n_iter=2))])
def test_gradient_reaches_the_mel(make, music):
    _, mel = music
    mel = mel[..., :8].clone().requires_grad_()
    out = make()(mel)
    SPEC.to_model(out).mean().backward()
    assert torch.isfinite(mel.grad).all() and mel.grad.abs().sum() > 0


def test_gradient_on_silence_is_finite():
    mel = torch.full((1, 80, 6), -1.0, requires_grad=True)
    tiny_vocoder()(mel).square().sum().backward()
    assert torch.isfinite(mel.grad).all()


def test_griffin_lim_beats_random_phase(music):
    audio, mel = music

    def errors(n_iter):
        out = GriffinLim(config=GriffinLimConfig(n_iter=n_iter))(mel)
        mel_err = (SPEC.to_model(out)[..., 2:mel.shape[-1] - 2] - mel[..., 2:-2]).abs().mean().item()
        return mel_err, multi_resolution_stft_loss(out, audio)["sc"].item()

    (mel0, sc0), (mel16, sc16) = errors(0), errors(16)
    assert mel16 < 0.7 * mel0, (mel0, mel16)
    assert sc16 < sc0, (sc0, sc16)


def test_griffin_lim_is_deterministic_and_takes_a_generator(music):
    _, mel = music
    gl = GriffinLim(config=GriffinLimConfig(n_iter=1))
    assert torch.equal(gl(mel[..., :6]), gl(mel[..., :6]))
    other = gl(mel[..., :6], generator=torch.Generator().manual_seed(7))
    assert not torch.allclose(other, gl(mel[..., :6]))
    with pytest.raises(ValueError, match="GriffinLim needs at least 3 mel frames"):
        gl(mel[..., :2])  # the reflection padding of its STFT is n_fft / 2 = 2 frames
    assert gl(mel[..., :3]).shape[-1] == 3 * 512


def test_untrained_vocoder_magnitude_is_the_mel_prior(music):
    _, mel = music
    voc = tiny_vocoder()
    with torch.no_grad():
        mag = voc.spectrum(mel).abs()
        prior = GriffinLim().magnitude(mel)
    torch.testing.assert_close(mag, prior, rtol=1e-3, atol=1e-3)


def test_if_phase_advances_at_bin_centres_and_integrates_the_deviation():
    voc = tiny_vocoder()
    zero = torch.zeros(1, 1025, 6)
    phase = voc.phase(zero, zero)
    k = torch.arange(1025, dtype=torch.float64)[:, None]
    step = torch.polar(torch.ones(1025, 5, dtype=torch.float64), phase[0].double().diff(dim=-1))
    expected = torch.polar(torch.ones(1025, 5, dtype=torch.float64), (2 * torch.pi * k * HOP / 2048).expand(-1, 5))
    torch.testing.assert_close(step, expected, atol=1e-4, rtol=0)
    shifted = voc.phase(torch.full_like(zero, 0.1), zero)  # a constant deviation adds 0.1 rad per frame
    torch.testing.assert_close(shifted - phase, 0.1 * torch.arange(1, 7.0).expand(1, 1025, 6), atol=1e-4, rtol=0)


def test_random_crops_are_aligned():
    frames, total = 5, 20
    mel = torch.arange(total).float().expand(3, 80, total).clone()
    audio = torch.arange(total * HOP).float().expand(3, 1, -1).clone()
    m, a = random_crops(mel, audio, frames, HOP, generator=torch.Generator().manual_seed(0))
    assert m.shape == (3, 80, frames) and a.shape == (3, 1, frames * HOP)
    torch.testing.assert_close(a[:, 0, 0], m[:, 0, 0] * HOP)
    torch.testing.assert_close(a[:, 0, -1], (m[:, 0, -1] + 1) * HOP - 1)
    with pytest.raises(ValueError, match="cannot crop"):
        random_crops(mel, audio, total + 1, HOP)


def test_recipe_trains_two_steps(music):
    audio, mel = music
    batch = {"x0": mel, "audio": audio}
    recipe = tempo_kit.get("recipes", "vocoder", net=tiny_vocoder(), crop_frames=8, fft_sizes=(256, 512))
    before = [p.detach().clone() for p in recipe.student().parameters()]
    trainer = Trainer(recipe=recipe, data=lambda n, g: batch,
                      config=TrainConfig(steps=2, batch_size=2, progress=False))
    result = trainer.fit()
    assert result.step == 2
    assert set(result.history[0]) >= {"net/sc", "net/log_mag", "net/mel"}
    assert all(torch.isfinite(torch.tensor(v)) for h in result.history for v in h.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, recipe.student().parameters()))


def test_recipe_needs_audio(music):
    _, mel = music
    recipe = VocoderRecipe(net=tiny_vocoder(), crop_frames=8)
    with pytest.raises(ValueError, match="load_audio"):
        recipe.losses({"x0": mel}, step=0, groups=frozenset({"net"}))
    with pytest.raises(ValueError, match="crop_frames"):
        VocoderRecipe(net=tiny_vocoder(), crop_frames=4)


def test_phase_derivative_loss_sees_phase_not_magnitude_or_time_shift(music):
    """Zero on the target itself and on a louder copy; near zero for a one-sample shift (group delay and
    instantaneous frequency barely move); large where the phase is random; at most 2; finite gradients even for a
    silent output."""
    audio = music[0].squeeze(1)
    kw = dict(fft_sizes=(256, 512))
    same, louder = phase_derivative_loss(audio, audio, **kw), phase_derivative_loss(2 * audio, audio, **kw)
    assert all(float(v) < 1e-4 for v in [*same.values(), *louder.values()])
    shifted = phase_derivative_loss(torch.roll(audio, 1, -1), audio, **kw)
    S = torch.stft(audio, 512, 128, window=torch.hann_window(512), return_complex=True)
    rand = torch.polar(S.abs(), 2 * math.pi * torch.rand(S.shape, generator=torch.Generator().manual_seed(0)))
    scrambled = torch.istft(rand, 512, 128, window=torch.hann_window(512), length=audio.shape[-1])
    noisy = phase_derivative_loss(scrambled, audio, **kw)
    for k in ("gd", "iaf"):
        assert float(shifted[k]) < 0.05 < 0.5 < float(noisy[k]) <= 2
    for quiet in (torch.zeros_like(audio), 1e-15 * audio):  # products of four tiny magnitudes underflow float32
        quiet.requires_grad_(True)
        sum(phase_derivative_loss(quiet, audio, **kw).values()).backward()
        assert torch.isfinite(quiet.grad).all()


def test_recipe_with_phase_weight_logs_and_trains_the_phase_terms(music):
    audio, mel = music
    recipe = VocoderRecipe(net=tiny_vocoder(), crop_frames=8, fft_sizes=(256, 512), phase_weight=0.5)
    terms = recipe.losses({"x0": mel, "audio": audio}, step=0, groups=frozenset({"net"}),
                          generator=torch.Generator().manual_seed(0))["net"]
    assert {"gd", "iaf"} <= set(terms) and all(0 < float(terms[k].detach()) <= 0.5 * 2 for k in ("gd", "iaf"))
    sum(terms.values()).backward()
    assert recipe.net.head.weight.grad.abs().sum() > 0
    assert "gd" not in VocoderRecipe(net=tiny_vocoder(), crop_frames=8).losses(
        {"x0": mel, "audio": audio}, step=0, groups=frozenset({"net"}))["net"]
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="phase_weight"):
            VocoderRecipe(net=tiny_vocoder(), crop_frames=8, phase_weight=bad)


def test_save_load_round_trip(tmp_path, music):
    _, mel = music
    voc = tiny_vocoder()
    with torch.no_grad():
        voc.head.weight.normal_()  # non-trivial magnitude residual
    save_model(voc, tmp_path / "voc")
    loaded = load_model(tmp_path / "voc")
    assert isinstance(loaded, Vocoder) and loaded.config == voc.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel[..., :6]), voc(mel[..., :6]))
    gl = tempo_kit.get("models", "griffin-lim", n_iter=3)
    save_model(gl, tmp_path / "gl")
    assert load_model(tmp_path / "gl").config.n_iter == 3


@pytest.mark.parametrize("bad", [torch.randn(2, 64, 10), torch.randn(80, 10), torch.zeros(1, 80, 10, dtype=torch.long),
                                 torch.randn(1, 80, 0)])
def test_bad_input_shapes_raise(bad):
    for module in (tiny_vocoder(), GriffinLim(config=GriffinLimConfig(n_iter=1))):
        with pytest.raises(ValueError, match="n_mels=80"):
            module(bad)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="odd kernel"):
        VocoderConfig(kernel=4)
    with pytest.raises(ValueError, match="phase"):
        VocoderConfig(phase="angle")
    with pytest.raises(ValueError, match="n_iter"):
        GriffinLimConfig(n_iter=-1)
    with pytest.raises(ValueError, match="momentum"):
        GriffinLimConfig(momentum=1.0)


def test_bundled_vocoder_beats_its_untrained_self(music):
    from tempo_kit.pretrained import available, load_pretrained

    if "vocoder" not in available():
        pytest.skip("no bundled vocoder in tempo_kit/weights")
    _, mel = music
    trained = load_pretrained("vocoder")
    untrained = Vocoder(config=trained.config)
    with torch.no_grad():
        errors = [(SPEC.to_model(v(mel))[..., 2:mel.shape[-1] - 2] - mel[..., 2:-2]).abs().mean().item()
                  for v in (trained, untrained)]
    assert errors[0] < errors[1], errors


def test_adversarial_recipe_trains_both_groups_apart(music):
    """With adversarial_weight > 0 a "disc" group trains the discriminators; each group's loss moves only its own
    parameters (the generator's adversarial term flows through the frozen discriminators into the vocoder)."""
    from tempo_kit.training.recipes.vocoder import Discriminators

    audio, mel = music
    recipe = VocoderRecipe(net=tiny_vocoder(), crop_frames=8, fft_sizes=(256, 512), adversarial_weight=1.0,
                           feature_weight=2.0, disc_batch=1, periods=(2, 3), disc_fft_sizes=(256,))
    assert isinstance(recipe.disc, Discriminators) and len(recipe.disc) == 3
    assert set(recipe.param_groups()) == {"net", "disc"} and [r.group for r in recipe.update_rules()] == ["net", "disc"]
    terms = recipe.losses({"x0": mel, "audio": audio}, step=0, groups=frozenset({"net", "disc"}),
                          generator=torch.Generator().manual_seed(0))
    assert set(terms["net"]) == {"sc", "log_mag", "mel", "adv", "fm"} and set(terms["disc"]) == {"gan"}
    assert all(p.requires_grad for p in recipe.disc.parameters())  # frozen only during the generator's turn
    net_params, disc_params = list(recipe.net.parameters()), list(recipe.disc.parameters())
    g_net = torch.autograd.grad(terms["net"]["adv"], net_params + disc_params, allow_unused=True, retain_graph=True)
    assert any(g is not None and g.abs().sum() > 0 for g in g_net[: len(net_params)])
    assert all(g is None for g in g_net[len(net_params):])
    g_disc = torch.autograd.grad(terms["disc"]["gan"], net_params + disc_params, allow_unused=True)
    assert all(g is None for g in g_disc[: len(net_params)])
    assert any(g is not None and g.abs().sum() > 0 for g in g_disc[len(net_params):])
    trainer = Trainer(recipe=recipe, data=lambda n, g: {"x0": mel, "audio": audio},
                      config=TrainConfig(steps=2, batch_size=2, progress=False))
    assert {"disc/gan", "net/adv", "net/fm"} <= set(trainer.fit().history[-1])


def test_adversarial_recipe_rejects_bad_settings():
    with pytest.raises(ValueError, match="adversarial_weight"):
        VocoderRecipe(net=tiny_vocoder(), crop_frames=8, adversarial_weight=-1.0)
    with pytest.raises(ValueError, match="disc_batch"):
        VocoderRecipe(net=tiny_vocoder(), crop_frames=8, adversarial_weight=1.0, disc_batch=0)
    assert VocoderRecipe(net=tiny_vocoder(), crop_frames=8).disc is None


@pytest.mark.parametrize("make", [tiny_vocoder, lambda: GriffinLim(config=GriffinLimConfig(n_iter=1))])
def test_non_finite_mel_and_wrong_frame_rate_raise(make, music):
    _, mel = music
    module = make()
    for value in (float("nan"), float("inf")):
        bad = mel.clone()
        bad[1, 3, 4] = value
        with pytest.raises(ValueError, match=r"1 NaN or infinite values .*clips \[1\]"):
            module(bad)
    with pytest.raises(ValueError, match=r"43.07 frames/s \(hop 512 at 22050 Hz\).*got frames at 86.13"):
        module(mel, frame_rate=SPEC.sample_rate / 256)
    assert module(mel[..., :4], frame_rate=SPEC.frame_rate).shape == (2, 1, 4 * HOP)


def test_loud_audio_is_normalised_and_said_so(tmp_path):
    import soundfile

    from tempo_kit.clips import normalise_peaks, save_wav

    audio = torch.tensor([[0.5, -0.25], [4.0, -2.0]])
    with pytest.warns(UserWarning, match=r"1 of 2 clips peaked above full scale \(up to 4.00, \+12.0 dB\)"):
        out = normalise_peaks(audio)
    torch.testing.assert_close(out, torch.tensor([[0.5, -0.25], [1.0, -0.5]]))  # quiet clips untouched, never raised
    out, gain = normalise_peaks(audio, warn=False, return_gain=True)  # the scaling is reported, per clip
    torch.testing.assert_close(gain, torch.tensor([0.0, 20 * math.log10(4.0)]))
    with pytest.warns(UserWarning, match="scaled down"):
        save_wav(tmp_path / "loud.wav", torch.tensor([0.0, 2.0, -1.0]), 22050)
    written, _ = soundfile.read(tmp_path / "loud.wav")
    assert abs(written[1] - 1.0) < 1e-4 and abs(written[2] + 0.5) < 1e-4  # scaled, not clipped at -1
    for audio, rate, message in ((torch.zeros(1000, 2), 22050, r"would be 1000 channels of 2 samples"),
                                 (torch.zeros(100), 0, "sample_rate must be an integer number of Hz"),
                                 (torch.zeros(100), 22050.5, "sample_rate must be"),
                                 (torch.zeros(100), True, "sample_rate must be")):
        with pytest.raises(ValueError, match=message):
            save_wav(tmp_path / "bad.wav", audio, rate)
    with pytest.raises(ValueError, match="writes .wav files"):
        save_wav(tmp_path / "bad.mp3", torch.zeros(100), 22050)
    assert not list(tmp_path.glob("bad*"))
    save_wav(tmp_path / "stereo.wav", torch.zeros(2, 1000).numpy(), 22050)  # numpy arrays too
    assert soundfile.info(str(tmp_path / "stereo.wav")).channels == 2
    held = torch.full((22050,), 0.5)  # a note held to the end of the clip: faded in and out over 10 ms in the file
    save_wav(tmp_path / "held.wav", held, 22050)
    written, _ = soundfile.read(tmp_path / "held.wav")
    assert abs(written[0]) < 1e-3 and abs(written[-1]) < 1e-3 and abs(written[220] - 0.5) < 1e-4
    assert abs(written[110] - 0.25) < 0.01 and np.all(np.diff(written[:221]) >= 0)  # a half cosine, monotone
    assert torch.equal(held, torch.full((22050,), 0.5))  # the tensor itself is untouched
    save_wav(tmp_path / "cut.wav", held, 22050, fade_ms=0)
    assert abs(soundfile.read(tmp_path / "cut.wav")[0][-1] - 0.5) < 1e-4
    with pytest.raises(ValueError, match="fade_ms"):
        save_wav(tmp_path / "bad.wav", held, 22050, fade_ms=-1)


@pytest.mark.parametrize("make", [tiny_vocoder, lambda: GriffinLim(config=GriffinLimConfig(n_iter=2))])
def test_bf16_keeps_the_dsp_constants_in_float32(make):
    """``.to(torch.bfloat16)`` casts the network but keeps the filterbank pseudo-inverse and the window float32 (the
    values, not a float32 copy of rounded ones) on the module's device."""
    voc = make()
    exact = {name: getattr(voc, name).clone() for name in ("fb_pinv", "window")}
    voc.to(torch.bfloat16)
    for name, value in exact.items():
        assert torch.equal(getattr(voc, name), value) and getattr(voc, name).dtype == torch.float32
    assert all(p.dtype == torch.bfloat16 for p in voc.parameters())
    assert voc.float().fb_pinv.dtype == torch.float32
    voc.to("meta", torch.bfloat16)  # they follow the device
    assert all(getattr(voc, name).device.type == "meta" and getattr(voc, name).dtype == torch.float32
               for name in ("fb_pinv", "window"))


def test_the_bundled_vocoder_in_bf16_keeps_its_float32_quality(music):
    """The bundled vocoder in bfloat16 is as close to the original waveform as in float32 (rounding the pseudo-inverse
    to bfloat16 made it 4% further on held-out music)."""
    from tempo_kit.pretrained import available, load_pretrained

    if "vocoder" not in available():
        pytest.skip("no bundled vocoder in tempo_kit/weights")
    audio, mel = music
    voc = load_pretrained("vocoder")
    with torch.no_grad():
        ref = sum(multi_resolution_stft_loss(voc(mel), audio).values())
        out = voc.to(torch.bfloat16)(mel)
        half = sum(multi_resolution_stft_loss(out, audio).values())
    assert voc.embed.weight.dtype == torch.bfloat16 and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert abs(float(half / ref) - 1) < 0.005, (float(half), float(ref))


def test_a_vocoder_grown_with_zero_layer_scale_starts_as_the_saved_one(tmp_path, music):
    from tempo_kit.training.api import build_recipe

    torch.manual_seed(0)
    small = Vocoder(config=VocoderConfig(channels=16, depth=2))
    with torch.no_grad():
        for p in small.head.parameters():
            p.normal_(0, 0.05)  # a non-trivial vocoder (the head starts at zero)
    save_model(small, tmp_path / "small")
    grown = build_recipe("vocoder", net={"model": "vocoder", "channels": 16, "depth": 4, "layer_scale": 0.0,
                                         "init_from": str(tmp_path / "small")}).net
    mel = music[1][:1]
    assert len(grown.blocks) == 4 and grown.config.layer_scale == 0.0
    with torch.no_grad():
        torch.testing.assert_close(grown(mel), small(mel), rtol=0, atol=0)
    with pytest.raises(ValueError, match="layer_scale"):
        VocoderConfig(layer_scale=float("nan"))


def test_subframes_synthesise_on_a_shorter_stft_with_the_head_in_subframe_order():
    """``subframes = s``: the head predicts s STFT frames of n_fft / s per mel frame; the magnitude prior is the
    synthesis STFT's pseudo-inverse of the mel interpolated between frames, at the power of the shorter window;
    head channel (part, bin, j) drives subframe j of every frame."""
    torch.manual_seed(0)
    s, mel = 2, torch.rand(1, 80, 12) - 0.8
    voc = Vocoder(config=VocoderConfig(channels=16, depth=1, subframes=s))
    one = Vocoder(config=VocoderConfig(channels=16, depth=1, n_fft=1024, hop_length=256))  # the synthesis STFT alone
    n_freq, amin = 1024 // 2 + 1, voc.spec.amin
    with torch.no_grad():
        prior = voc.magnitude_prior(mel)
        assert prior.shape == (1, n_freq, 12 * s)
        mel_up = torch.stack([mel, (mel + torch.cat([mel[..., 1:], mel[..., -1:]], -1)) / 2], -1).flatten(-2)
        power = torch.exp(2 * one.magnitude_prior(mel_up)) - amin
        torch.testing.assert_close(prior, 0.5 * torch.log(power / s**2 + amin), atol=1e-4, rtol=1e-4)
        voc.head.bias[1:n_freq * s:s] = 0.5  # the magnitude residual of subframe 1 of every bin
        S = voc.spectrum(mel)
        torch.testing.assert_close(S.abs().log()[..., 0::2], prior[..., 0::2].clamp(max=math.log(1e4)))
        torch.testing.assert_close(S.abs().log()[..., 1::2], (prior[..., 1::2] + 0.5).clamp(max=math.log(1e4)))
        assert voc(mel).shape == (1, 1, 12 * 512)
        half = voc.to(torch.bfloat16).magnitude_prior(mel.repeat(1, 1, 40).to(torch.bfloat16))  # 480 frames
        assert half.shape == (1, n_freq, 960) and torch.isfinite(half).all()
    for bad in (3, True, 0):
        with pytest.raises(ValueError, match="subframes"):
            VocoderConfig(subframes=bad)
    with pytest.raises(ValueError, match="without a bin"):
        Vocoder(config=VocoderConfig(subframes=8))


@pytest.mark.parametrize("n_fft,hop,frames", [(2048, 512, 7), (1024, 256, 1), (64, 32, 5), (48, 16, 3)])
def test_istft_is_torch_istft_on_a_frames_major_stft_with_its_gradient(n_fft, hop, frames):
    torch.manual_seed(0)
    S = torch.randn(2, frames, n_fft // 2 + 1, dtype=torch.complex128, requires_grad=True)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    ours = istft(S, window, hop)
    theirs = torch.istft(S.mT, n_fft=n_fft, hop_length=hop, window=window, center=True, length=frames * hop)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    probe = torch.randn_like(ours)
    grad, = torch.autograd.grad((ours * probe).sum(), S)
    expected, = torch.autograd.grad((theirs * probe).sum(), S)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_the_vocoder_needs_an_overlap_add_of_whole_hops():
    for n_fft, hop in ((2048, 768), (512, 512), (2048, 1024)):
        with pytest.raises(ValueError, match="n_fft a multiple of hop_length"):
            VocoderConfig(n_fft=n_fft, hop_length=hop)


def test_istft_names_what_it_cannot_invert():
    window, S = torch.hann_window(2048, periodic=True), torch.zeros(1, 4, 1025, dtype=torch.complex64)
    for bad, args in (("shape", (S[0], window, 512)), ("bins", (S[..., :-1], window, 512)),
                      ("real", (S.real, window, 512)), ("hop", (S, window, 768))):
        with pytest.raises(ValueError, match="istft expects"):
            istft(*args)
    with pytest.raises(ValueError, match="overlap-added square falls"):  # two frames per window: 5e-12 at the end
        istft(S, window, 1024)
    assert istft(S, window.to(torch.bfloat16), 512).dtype == torch.float32  # the window follows S


@pytest.mark.parametrize("phase", ["if", "direct"])
@pytest.mark.parametrize("s", [1, 2, 4])
def test_the_head_runs_as_a_linear_map_in_subframe_order(phase, s):
    """The head's 1x1 convolution, channels (part, bin, subframe), applied as a linear map with its rows in (subframe,
    part, bin) order gives what the convolution gives, its subframes interleaved in time."""
    torch.manual_seed(0)
    voc = Vocoder(config=VocoderConfig(channels=16, depth=1, subframes=s, phase=phase))
    with torch.no_grad():
        for p in voc.head.parameters():
            p.normal_()
        mel = torch.rand(2, 80, 6) - 0.8
        h = voc.embed(mel)
        h = voc.embed_norm(h.transpose(1, 2)).transpose(1, 2)
        for block in voc.blocks:
            h = block(h)
        h = voc.out_norm(h.transpose(1, 2)).transpose(1, 2)
        parts = 3 if phase == "if" else 2
        out = voc.head(h).view(2, parts, -1, s, 6).transpose(3, 4).reshape(2, parts, -1, 6 * s)  # (part, bin, time)
        log_mag = (voc.magnitude_prior(mel) + out[:, 0]).clamp(max=math.log(1e4))
        expected = torch.polar(torch.exp(log_mag), voc.phase(*out[:, 1:].unbind(1)))
        torch.testing.assert_close(voc.spectrum(mel), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_the_magnitude_prior_of_a_real_clip_matches_its_synthesis_stft_on_loud_bins(s):
    from tempo_kit.testing.synth import example_music

    voc = Vocoder(config=VocoderConfig(channels=8, depth=1, subframes=s))
    audio = torch.from_numpy(example_music(sample_rate=22050, duration=3.0, seed=0)).float()
    mel = voc.spec.to_model(audio[None])
    with torch.no_grad():
        prior = voc.magnitude_prior(mel)
    true = torch.stft(audio, voc.synth.n_fft, voc.synth.hop_length, window=voc.window, return_complex=True).abs()
    n = min(prior.shape[-1], true.shape[-1])
    prior, true = prior[0, :, :n], true.clamp_min(1e-9).log()[:, :n]
    loud = true > true.max() - math.log(100.0)  # within 40 dB of the clip's peak
    assert abs(float((prior - true)[loud].median())) < 0.2


def test_init_skip_starts_a_new_head_on_a_saved_trunk(tmp_path):
    from tempo_kit.training.api import build_recipe

    torch.manual_seed(0)
    saved = Vocoder(config=VocoderConfig(channels=16, depth=1))
    save_model(saved, tmp_path / "saved")
    spec = {"model": "vocoder", "channels": 16, "depth": 1, "subframes": 2, "init_from": str(tmp_path / "saved")}
    with pytest.raises(Exception, match="do not fit"):  # the head has another shape
        build_recipe("vocoder", net=spec)
    net = build_recipe("vocoder", net={**spec, "init_skip": ["head."]}).net
    torch.testing.assert_close(net.embed.weight, saved.embed.weight)
    assert net.head.weight.shape != saved.head.weight.shape
    for bad, match in ((["nohead."], "no saved tensor"), ("head.", "list of non-empty"), ([""], "list of non-empty"),
                       (5, "list of non-empty")):
        with pytest.raises(ValueError, match=match):
            build_recipe("vocoder", net={**spec, "init_skip": bad})
    with pytest.raises(ValueError, match="init_from"):
        build_recipe("vocoder", net={"model": "vocoder", "channels": 16, "depth": 1, "init_skip": ["head."]})
