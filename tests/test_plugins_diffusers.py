"""plugins/tempo-kit-diffusers: Stable Audio Open's architecture as a tempo_kit denoiser, on tiny random models.

No weights are downloaded: the models are built offline from tiny configurations (``TINY_*_CONFIG``), and the
local-directory loader is tested on a tiny model saved to a temporary directory. Skipped when diffusers is missing
(it is a dependency of the plugin only, never of tempo_kit).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from tempo_kit.registry import Registry  # noqa: E402
from tempo_kit.testing import check_denoiser, check_jump  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "tempo-kit-diffusers"))  # the source tree (the package name is unique)

import tempo_kit_diffusers as td  # noqa: E402
from tempo_kit_diffusers import plugin as td_plugin  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # diffusers' Oobleck uses the deprecated weight_norm
    pytest.mark.usefixtures("one_thread"),  # tiny tensors: thread start-up dominates on a busy machine
]


@pytest.fixture(scope="module")
def model() -> td.StableAudio:
    return td.stable_audio_from_config(seed=0)


def _cond(batch: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    cfg = td.TINY_TRANSFORMER_CONFIG
    return {"encoder_hidden_states": torch.randn(batch, 3, cfg["cross_attention_input_dim"], generator=g),
            "global_hidden_states": torch.randn(batch, 1, cfg["global_states_input_dim"], generator=g)}


def _latents(batch: int, scale: float = 1.0, seed: int = 1) -> torch.Tensor:
    return scale * torch.randn(batch, 8, 32, generator=torch.Generator().manual_seed(seed))


# -- the denoiser ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.3, 2.0, 80.0, 500.0])
def test_preconditioning_is_exactly_diffusers_scheduler(model, sigma):
    """D(x, sigma) equals CosineDPMSolverMultistepScheduler's precondition_inputs/noise/outputs around the raw DiT."""
    pytest.importorskip("torchsde")  # the scheduler class needs it
    from diffusers import CosineDPMSolverMultistepScheduler
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    scheduler = CosineDPMSolverMultistepScheduler(sigma_data=1.0, prediction_type="v_prediction")
    x, cond = _latents(2, scale=sigma), _cond(2)
    dit = model.denoiser.net.dit
    rotary = get_1d_rotary_pos_embed(dit.config.attention_head_dim // 2, 33, use_real=True, repeat_interleave_real=False)
    with torch.no_grad():
        v = dit(scheduler.precondition_inputs(x, sigma), scheduler.precondition_noise(torch.tensor(sigma)).expand(2),
                encoder_hidden_states=cond["encoder_hidden_states"], global_hidden_states=cond["global_hidden_states"],
                rotary_embedding=rotary, return_dict=False)[0]
        expected = scheduler.precondition_outputs(x, v, sigma)
        ours = model.denoiser(x, torch.full((2,), sigma), cond)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def test_denoiser_and_jump_pass_the_contract_suite(model):
    cond = _cond(2)
    check_denoiser(model.denoiser, _latents(2, 3.0), torch.tensor([0.5, 20.0]), cond)
    check_denoiser(model.denoiser, _latents(2), 1.0)  # unconditional
    check_jump(model.jump(), _latents(2, 10.0), torch.tensor([5.0, 20.0]), torch.tensor([0.0, 0.0]), cond)


def test_null_condition_zeroes_the_prompt_and_keeps_the_timing(model):
    cond = _cond(2)
    null = td.stable_audio_null_condition(cond)
    assert torch.equal(null["global_hidden_states"], cond["global_hidden_states"])
    assert not null["encoder_hidden_states"].any()
    with torch.no_grad():
        a = model.denoiser(_latents(2, 5.0), torch.full((2,), 5.0), cond)
        b = model.denoiser(_latents(2, 5.0), torch.full((2,), 5.0), null)
    assert not torch.allclose(a, b), "the prompt embedding has no effect"


def test_bad_conditioning_and_latents_raise_clear_errors(model):
    x, sigma = _latents(2), torch.ones(2)
    with pytest.raises(ValueError, match="global_hidden_states"):
        model.denoiser(x, sigma, {"encoder_hidden_states": torch.zeros(2, 3, 10)})
    with pytest.raises(ValueError, match=r"global_hidden_states must have shape \(batch=2, 1, 20\)"):
        model.denoiser(x, sigma, {**_cond(2), "global_hidden_states": torch.zeros(2, 2, 20)})
    with pytest.raises(ValueError, match="encoder_hidden_states must have shape"):
        model.denoiser(x, sigma, {**_cond(2), "encoder_hidden_states": torch.zeros(2, 3, 7)})
    with pytest.raises(ValueError, match=r"latents \(batch, 8, frames\)"):
        model.denoiser(torch.zeros(2, 4, 32), sigma)


def test_block_protocol_routes_layers(model):
    from tempo_kit import EDMPrecond
    from tempo_kit.models.blocks import is_block_model
    from tempo_kit.routers import EarlyExitRouter, NoRouter, RoutedNet

    net = model.denoiser.net
    assert is_block_model(net) and net.num_blocks == td.TINY_TRANSFORMER_CONFIG["num_layers"]
    x, sigma, cond = _latents(2, 2.0), torch.full((2,), 2.0), _cond(2)
    with torch.no_grad():
        full = model.denoiser(x, sigma, cond)
        routed_full = EDMPrecond(net=RoutedNet(net=net, router=NoRouter()), sigma_data=1.0)(x, sigma, cond)
        shallow = EDMPrecond(net=RoutedNet(net=net, router=EarlyExitRouter(budget=1)), sigma_data=1.0)(x, sigma, cond)
        h, c = net.embed(model.denoiser.scalings(sigma)[2][:, None, None] * x, sigma.log() / 4, cond)
        expected_shallow = net.final(net.run_block(0, h, c), c)
    torch.testing.assert_close(routed_full, full)
    assert not torch.allclose(shallow, full)
    c_skip, c_out, _ = (s[:, None, None] for s in model.denoiser.scalings(sigma))
    torch.testing.assert_close(shallow, c_skip * x + c_out * expected_shallow)


# -- decode and loading ------------------------------------------------------------------------------------------------
def test_decoder_is_differentiable_and_declares_its_domains(model):
    dec = model.decoder
    assert (dec.input_domain, dec.domain, dec.sample_rate) == ("latent", "audio", 8000)
    z = _latents(1).requires_grad_(True)
    audio = dec(z)
    assert audio.shape == (1, 2, dec.num_samples(32)) == (1, 2, 1024)
    audio.square().mean().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in dec.parameters())
    with pytest.raises(ValueError, match="latents"):
        dec(torch.zeros(1, 3, 8))


def test_weights_load_from_a_local_directory_only(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model.denoiser.net.dit.save_pretrained(tmp_path / "transformer")
    model.decoder.vae.save_pretrained(tmp_path / "vae")
    registry = Registry(load_entry_points=False, plugins=[td_plugin], strict=True)
    loaded = registry.get("models", "stable-audio", path=str(tmp_path))
    x, sigma, cond = _latents(2, 4.0), torch.full((2,), 4.0), _cond(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.denoiser(x, sigma, cond), model.denoiser(x, sigma, cond))
        torch.testing.assert_close(loaded.decoder(x), model.decoder(x))
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        registry.get("models", "stable-audio", path=str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="path="):
        registry.get("models", "stable-audio")
    assert isinstance(registry.get("models", "stable-audio-random", seed=1), td.StableAudio)


def test_random_models_are_seeded_and_leave_the_global_generator_alone(model):
    state = torch.random.get_rng_state()
    again = td.stable_audio_from_config(seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), b in zip(model.denoiser.state_dict().items(), again.denoiser.state_dict().values()):
        assert torch.equal(a, b), name


# -- prompts ----------------------------------------------------------------------------------------------------------
def _save_folder(model, path):
    """A tiny Stable Audio folder in the diffusers pipeline layout, prompt side included."""
    model.denoiser.net.dit.save_pretrained(path / "transformer")
    model.decoder.vae.save_pretrained(path / "vae")
    model.text.tokenizer.save_pretrained(path / "tokenizer")
    model.text.text_encoder.save_pretrained(path / "text_encoder")
    model.text.projection.save_pretrained(path / "projection_model")
    return path


def test_prompt_conditioning_is_what_stable_audio_pipeline_builds(model):
    """cond from a prompt equals StableAudioPipeline's encode_prompt + encode_duration, concatenated as its __call__
    does (run on the same tiny tokenizer, T5 and projection model)."""
    from types import SimpleNamespace

    from diffusers import StableAudioPipeline

    prompts = ["a calm piano loop", "fast techno beat with bass and drums"]
    cond = model.condition(prompts, seconds=0.1, seconds_start=0.02)
    parts = SimpleNamespace(tokenizer=model.text.tokenizer, text_encoder=model.text.text_encoder,
                            projection_model=model.text.projection)
    with torch.no_grad():
        prompt_embeds = StableAudioPipeline.encode_prompt(parts, prompts, "cpu", False)
        start, end = StableAudioPipeline.encode_duration(parts, 0.02, 0.1, "cpu", False, 2)
    torch.testing.assert_close(cond["encoder_hidden_states"], torch.cat([prompt_embeds, start, end], dim=1))
    torch.testing.assert_close(cond["global_hidden_states"], torch.cat([start, end], dim=2))
    cfg = td.TINY_TRANSFORMER_CONFIG
    assert cond["global_hidden_states"].shape == (2, 1, cfg["global_states_input_dim"])
    with torch.no_grad():  # the DiT reads it
        model.denoiser(_latents(2), torch.ones(2), cond)


def test_generate_from_a_prompt_is_seeded_and_checks_its_arguments(model):
    audio = model.generate(["a calm piano loop", "fast techno"], n=2, steps=3, seconds=0.1, seed=3)
    assert audio.shape == (4, 2, 800) and torch.isfinite(audio).all()
    torch.testing.assert_close(model.generate(["a calm piano loop", "fast techno"], n=2, steps=3, seconds=0.1, seed=3),
                               audio)
    assert not torch.allclose(audio[0], audio[1]), "two clips of one prompt share their noise"
    # the prompt and the guidance change the clip (same seed, so the same noise)
    calm, techno = (model.generate(p, steps=3, seconds=0.1, seed=3) for p in ("a calm piano loop", "fast techno"))
    assert not torch.allclose(calm, techno, atol=1e-5), "the prompt has no effect"
    plain = model.generate("a calm piano loop", steps=3, seconds=0.1, seed=3, guidance=1.0)
    assert not torch.allclose(calm, plain, atol=1e-5), "guidance has no effect"
    # as in the pipeline, guidance applies only above 1
    torch.testing.assert_close(model.generate("a calm piano loop", steps=3, seconds=0.1, seed=3, guidance=0.0), plain)
    assert model.generate("a calm piano loop", steps=2, sampler="euler").shape == (1, 2, round(model.seconds * 8000))
    with pytest.raises(ValueError, match="seconds must be in"):
        model.generate("a calm piano loop", seconds=60.0)
    with pytest.raises(ValueError, match="drives a jump"):
        model.generate("a calm piano loop", steps=2, sampler="cm")
    with pytest.raises(ValueError, match="prompt must be"):
        model.generate([], steps=2)
    with pytest.raises(ValueError, match="seconds_start < seconds_end"):
        model.condition("a calm piano loop", seconds=0.05, seconds_start=0.1)
    with pytest.warns(UserWarning, match="reads the first 12"):
        model.condition("a " * 30)
    without = td.stable_audio_from_config(seed=0, text=False)
    with pytest.raises(ValueError, match="no text encoder"):
        without.generate("a calm piano loop", steps=2)


def test_generate_command_makes_wavs_from_a_prompt_with_a_local_folder(model, tmp_path, monkeypatch, capsys):
    import soundfile

    from tempo_kit import cli, registry

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _save_folder(model, tmp_path / "sao")
    loaded = td.stable_audio_from_pretrained(folder)
    torch.testing.assert_close(loaded.generate("warm pad", steps=2, seconds=0.05),
                               model.generate("warm pad", steps=2, seconds=0.05))
    monkeypatch.setattr(registry, "_REGISTRY", Registry(load_entry_points=False, plugins=[td_plugin], strict=True))
    out = tmp_path / "out"
    argv = ["generate", "--model", "stable-audio", "--model-path", str(folder), "--prompt", "warm pad", "--n", "2",
            "--steps", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "wrote 2 files" in capsys.readouterr().out
    data, rate = soundfile.read(out / "prompt_1.wav")
    assert rate == 8000 and data.shape == (1024, 2)
    assert cli.main(argv[:7] + ["--n", "1"] + argv[9:]) == 0  # a rerun with fewer clips leaves none of the last run's
    assert sorted(p.name for p in out.glob("*.wav")) == ["prompt_0.wav"]
    assert cli.main(argv + ["--dtype", "bfloat16"]) == 0  # the model moved to the dtype (was: an import error)
    capsys.readouterr()
    for bad, message in [(["generate", "--prompt", "warm pad"], "needs a plugin model"),
                         (["generate", "--model", "ctm", "--prompt", "warm pad"], "needs a plugin model"),
                         (["generate", "--model", "stable-audio", "--model-path", str(folder)], "give --prompt"),
                         (["generate", "--model", "dit", "--prompt", "x"], "does not generate from a prompt"),
                         (argv[:-2] + ["--tags", "mode=major", "--out", str(out)], "--tags and --vocoder")]:
        assert cli.main(bad) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# -- control and distillation ------------------------------------------------------------------------------------------
def test_ditto2_intensity_control_reduces_the_loss(model):
    """Intensity of the decoded audio steered towards a crescendo (+-6 dB around the uncontrolled output's level: the
    random tiny model cannot reach arbitrary absolute levels)."""
    from tempo_kit import CMMultistep
    from tempo_kit.audio import MelSpec
    from tempo_kit.control.ditto import DITTO2
    from tempo_kit.control.objective import Objective
    from tempo_kit.features import Intensity

    mel = MelSpec(sample_rate=model.sample_rate, n_fft=256, hop_length=64, n_mels=32, fmax=model.sample_rate / 2)
    ext = Intensity(domain="audio", mel=mel, window_s=0.1)
    cond, jump = _cond(1), model.jump()
    eps = torch.randn(1, *model.latent_shape, generator=torch.Generator().manual_seed(0))
    sigma_max = torch.tensor([model.schedule.sigma_max])
    with torch.no_grad():
        level = ext(model.decoder(jump(sigma_max * eps, sigma_max, torch.zeros(1), cond)))[0]
    target = level + torch.linspace(-6.0, 6.0, level.numel())
    objective = Objective(extractor=ext, loss="mse", target=target, name="intensity")
    ditto = DITTO2(iterations=8, lr=1.0, decode_steps=1, progress=False, sampler=CMMultistep(schedule=model.schedule))
    result = ditto(jump, [objective], eps=eps, cond=cond, decoder=model.decoder, output_domain=model.output_domain)
    history = result.objective_history["intensity"]
    assert history[-1] < 0.7 * history[0], history
    assert result.final_losses["intensity"] < 0.7 * float(history[0])
    assert result.audio.shape == (1, 2, 1024) and result.nfe == 8 + 1


def test_presto_s_distillation_trains_the_generator_and_keeps_the_teacher(model):
    from tempo_kit.training.config import TrainConfig
    from tempo_kit.training.data import TensorData
    from tempo_kit.training.recipes.presto_s import PrestoSRecipe
    from tempo_kit.training.trainer import Trainer

    g = torch.Generator().manual_seed(0)
    data = TensorData(x0=torch.randn(8, *model.latent_shape, generator=g), cond=_cond(8, seed=3))
    teacher = td.stable_audio_from_config(seed=0).denoiser  # a fresh copy: the module fixture stays untouched
    recipe = PrestoSRecipe(teacher=teacher, p_gen=model.schedule, fake_updates=2, lr_generator=1e-3, lr_fake=1e-3,
                           null_cond=td.stable_audio_null_condition, disc_norm_groups=8)
    before = {name: {k: v.clone() for k, v in getattr(recipe, name).state_dict().items()}
              for name in ("teacher", "generator", "fake", "discriminator")}
    result = Trainer(recipe=recipe, data=data, config=TrainConfig(steps=3, batch_size=2, progress=False)).fit()
    assert result.step == 3
    assert {"generator/dmd", "generator/gan", "fake_score/dsm", "fake_score/gan"} <= set(result.history[2])

    def changed(name):
        now = getattr(recipe, name).state_dict()
        return max(float((now[k] - v).abs().max()) for k, v in before[name].items())

    assert changed("teacher") == 0.0
    assert changed("generator") > 0 and changed("fake") > 0 and changed("discriminator") > 0
    x = torch.randn(2, *model.latent_shape, generator=g) * 500.0
    with torch.no_grad():
        out = recipe.student()(x, torch.full((2,), 500.0), torch.zeros(2), _cond(2))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_entry_point_names_the_hook_module():
    import importlib
    import tomllib

    project = tomllib.loads((ROOT / "plugins" / "tempo-kit-diffusers" / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("diffusers") for dep in _tempo_kit_dependencies()), "diffusers leaked into tempo_kit"
    assert any(dep.startswith("diffusers") for dep in project["dependencies"])
    module = importlib.import_module(project["entry-points"]["tempo_kit"]["diffusers"])
    registry = Registry(load_entry_points=False, plugins=[module], strict=True)
    assert {"stable-audio", "stable-audio-random"} <= set(registry.names("models"))


def _tempo_kit_dependencies() -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [d for deps in project.get("optional-dependencies", {}).values() for d in deps]


def test_the_docs_session_example_runs(monkeypatch, capsys):
    """The self-contained Stable Audio example of docs/plugins/bundled.md runs as written (plugin registered)."""
    import re

    from tempo_kit import registry

    page = (ROOT / "docs" / "plugins" / "bundled.md").read_text()
    code = re.search(r"A whole session, self-contained.*?```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.setattr(registry, "_REGISTRY", Registry(load_entry_points=False, plugins=[td_plugin], strict=True))
    exec(compile(code, "docs/plugins/bundled.md", "exec"), {"__name__": "__docs__"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "torch.Size([2, 2, 1024]) 8000"
    before, after = map(float, lines[1].split(" -> "))
    assert after < before
