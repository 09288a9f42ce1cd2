"""tempo_kit.Pipeline on a folder of tiny untrained models: from_pretrained / save_pretrained round trip, the
sha256 check, devices and dtypes, argument checks and control."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pretrained_fake import make_fake_weights
from tempo_kit import Pipeline
from tempo_kit.pipeline import control_defaults, tag_conditions
from tempo_kit.models.io import WeightsDamagedError
from tempo_kit.registry import ComponentArgumentError

TAGS = {"instrument": "flute", "mode": "major"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_fake_weights(tmp_path_factory.mktemp("weights"), names=("teacher", "ctm", "cm"))


@pytest.fixture(autouse=True)
def _bundled(weights, monkeypatch):
    monkeypatch.setenv("TEMPO_KIT_WEIGHTS", str(weights))


@pytest.mark.parametrize("name", ["ctm", "teacher"])
def test_save_and_load_round_trip_bit_for_bit(name, tmp_path):
    pipe = Pipeline.from_pretrained(name, steps=2)
    clips = pipe(TAGS, n=2, seed=3, frames=64)
    pipe.save_pretrained(tmp_path / "saved")
    again = Pipeline.from_pretrained(tmp_path / "saved")
    assert (again.sampler, again.steps, again.cfg) == (pipe.sampler, 2, pipe.cfg)
    other = again(TAGS, n=2, seed=3, frames=64)
    assert torch.equal(other.mel, clips.mel) and torch.equal(other.audio, clips.audio)
    card = (tmp_path / "saved" / "MODEL_CARD.md").read_text()
    assert "Untrained test model" in card and "2 steps" in card
    assert (tmp_path / "saved" / "vocoder" / "model.safetensors").is_file()


def test_a_different_seed_gives_different_clips_and_sample_is_the_unvocoded_call():
    pipe = Pipeline.from_pretrained("ctm")
    a, b = pipe(TAGS, seed=0, frames=64), pipe(TAGS, seed=1, frames=64)
    assert not torch.equal(a.mel, b.mel)
    assert torch.equal(pipe.sample(TAGS, seed=0, frames=64), a.mel)


def test_griffin_lim_pipeline_saves_no_vocoder_and_keeps_its_choice(tmp_path):
    pipe = Pipeline.from_pretrained("cm", vocoder="griffin-lim")
    pipe.save_pretrained(tmp_path / "gl")
    assert not (tmp_path / "gl" / "vocoder").exists()
    assert Pipeline.from_pretrained(tmp_path / "gl").vocoder_name == "griffin-lim"
    Pipeline.from_pretrained("cm").save_pretrained(tmp_path / "again")  # a neural vocoder, then griffin-lim over it
    pipe.save_pretrained(tmp_path / "again")
    assert not (tmp_path / "again" / "vocoder").exists()
    assert Pipeline.from_pretrained(tmp_path / "again").vocoder_name == "griffin-lim"


def test_a_replaced_weights_file_is_an_error_naming_it(tmp_path):
    Pipeline.from_pretrained("ctm").save_pretrained(tmp_path / "m")
    Pipeline.from_pretrained("cm").save_pretrained(tmp_path / "other")
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(WeightsDamagedError, match="m/model.safetensors"):
        Pipeline.from_pretrained(tmp_path / "m")


def test_a_config_without_a_weights_hash_loads_with_a_warning(tmp_path):
    Pipeline.from_pretrained("ctm").save_pretrained(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    meta = json.loads(config.read_text())
    del meta["weights_sha256"]
    config.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="m/config.json' records no weights_sha256") as caught:
        Pipeline.from_pretrained(tmp_path / "m")
    assert caught[0].filename == __file__  # the caller's line, not the library's loader


def test_from_pretrained_reads_each_config_once(tmp_path, monkeypatch):
    from pathlib import Path

    Pipeline.from_pretrained("ctm").save_pretrained(tmp_path / "m")
    reads, read_text = [], Path.read_text

    def counting(self, *args, **kwargs):
        if self.name == "config.json":
            reads.append(self.parent.name)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    Pipeline.from_pretrained(tmp_path / "m")
    assert sorted(reads) == ["m", "vocoder"]


def test_unknown_names_suggest_the_closest():
    with pytest.raises(KeyError, match="did you mean 'ctm'"):
        Pipeline.from_pretrained("ctn")
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        Pipeline.from_pretrained("no/such/folder")
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.pipeline import load_vocoder, tag_conditions
    from tempo_kit.pretrained import load_pretrained

    with pytest.raises(ValueError, match=r"unknown instrument 'flutee' \(did you mean 'flute'\?\)"):
        tag_conditions([{"instrument": "flutee"}], model="ctm")
    with pytest.raises(ValueError, match=r"unknown tag field 'instrumnet' \(did you mean 'instrument'\?\)"):
        tag_conditions([{"instrumnet": "flute"}], model="ctm")
    with pytest.raises(ValueError, match=r"unknown vocoder 'griffin_lim' \(did you mean 'griffin-lim'\?\)"):
        load_vocoder("griffin_lim")
    with pytest.raises(ValueError, match=r"unknown control task 'melodi' \(did you mean 'melody'\?\)"):
        task_objectives("melodi", n_frames=64)
    with pytest.raises(ValueError, match="device 'cuda:7' is not available here; available: cpu"):
        load_pretrained("ctm", device="cuda:7")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"device": "cuda:7"}, ValueError, "not available here; available: cpu"),
    ({"device": "toaster"}, ValueError, "unknown device"),
    ({"dtype": "int8"}, ValueError, "valid: float32, bfloat16, float16"),
    ({"dtype": "float16"}, ValueError, "float16 needs a GPU"),
    ({"steps": 0}, ValueError, "steps must be >= 1"),
    ({"steps": 2.5}, TypeError, "steps must be an integer"),
    ({"sampler": "heun"}, ValueError, "drives a denoiser"),
    ({"cfg": 3.0}, ValueError, "cfg applies to denoisers"),
])
def test_bad_settings_are_clear_errors(kwargs, error, message):
    if kwargs.get("device") == "cuda:7" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(error, match=message):
        Pipeline.from_pretrained("ctm", **kwargs)


def test_call_arguments_are_checked():
    pipe = Pipeline.from_pretrained("ctm")
    with pytest.raises(ValueError, match="multiple of the model's patch"):
        pipe(TAGS, frames=65)
    with pytest.raises(ValueError, match="seconds or frames, not both"):
        pipe(TAGS, frames=64, seconds=1.0)
    with pytest.raises(ValueError, match="seconds must be a finite number > 0, got nan"):
        pipe(TAGS, seconds=float("nan"))
    with pytest.raises(TypeError, match="seconds must be a finite number, got '2'"):
        pipe(TAGS, seconds="2")
    with pytest.raises(ValueError, match="unknown instrument"):
        pipe({"instrument": "kazoo"})
    assert pipe(TAGS, steps=np.int64(1), frames=64).steps == 1  # numpy integers are integers
    assert pipe.frames(seconds=1.5) == 64  # 64.6 frames, rounded to whole 32-frame patches
    assert pipe.frames(seconds=np.float32(1.5)) == 64
    with pytest.raises(ValueError, match=r"unknown tag field 'instrumnt' \(did you mean 'instrument'\?\); fields: instrument"):
        pipe.sample({"instrumnt": "flute"}, frames=64)
    with pytest.raises(ValueError, match="unknown tag field 'batch'"):
        pipe.sample({"batch": 3}, frames=64)
    for bad in ("flute", ["flute"], 5):
        with pytest.raises(TypeError, match="tags must be a dict"):
            pipe.sample(bad, frames=64)
    for seed, error in ((None, TypeError), (1.5, TypeError), (-1, ValueError), (2**70, ValueError)):
        with pytest.raises(error, match="seed must be"):
            pipe.sample(TAGS, frames=64, seed=seed)
    assert torch.equal(pipe.sample(TAGS, frames=64, seed=np.int64(3)), pipe.sample(TAGS, frames=64, seed=3))
    with pytest.raises(ValueError, match="seconds must give at most 4096 frames"):
        pipe.sample(TAGS, seconds=1e9)
    with pytest.raises(ValueError, match="frames must be at most 4096"):
        pipe.frames(frames=4096 + 32)
    with pytest.raises(TypeError, match="tags must be one dict"):
        pipe.control("intensity", tags=[TAGS], iterations=1, frames=64, progress=False)
    with pytest.raises(TypeError, match="task must be a task name"):
        pipe.control(None, iterations=1, frames=64, progress=False)
    from tempo_kit.control.tasks import task_objectives

    for task in ("intensity", task_objectives("intensity", n_frames=64)):  # an octave weight it would not use
        with pytest.raises(ValueError, match="octave_weight applies to the named melody task"):
            pipe.control(task, octave_weight=2.0, iterations=1, frames=64, progress=False)
        with pytest.raises(ValueError, match="onset_weight applies to the named melody task"):
            pipe.control(task, onset_weight=2.0, iterations=1, frames=64, progress=False)
    own = task_objectives("intensity", n_frames=64)
    with pytest.raises(ValueError, match="domain applies to a named task"):
        pipe.control(own, domain="audio", iterations=1, frames=64, progress=False)
    with pytest.raises(ValueError, match="target applies to a named task"):
        pipe.control(own, target=own[0].target, iterations=1, frames=64, progress=False)
    with pytest.raises(ValueError, match="intensity and melody tasks only"):
        pipe.control("structure", domain="audio", iterations=1, frames=64, progress=False)
    with pytest.raises(ValueError, match="needs a target of kind 'melody'"):
        pipe.control("melody", target=own[0].target, iterations=1, frames=64, progress=False)
    with pytest.raises(TypeError, match=r"task must be a task name \(e.g. 'melody'\) or a non-empty list of Objective"):
        pipe.control(["intensity"], iterations=1, frames=64, progress=False)
    with pytest.raises(ValueError, match="seconds must give at most 4096 frames"):
        pipe(TAGS, seconds=1e308)  # was an OverflowError while rounding
    with pytest.raises(ValueError, match="1025 clips in one call: at most 1024"):
        pipe(TAGS, n=1025)
    from tempo_kit.control import Target

    with pytest.raises(ValueError, match=r"intensity target is \(frames,\) or \(batch, frames\).*\(1, 1, 64\)"):
        pipe.control("intensity", target=Target(value=torch.full((1, 1, 64), -20.0), kind="intensity"), frames=64,
                     iterations=1, progress=False)
    with pytest.raises(ValueError, match="one pitch class per frame holds integers"):
        pipe.control("melody", target=Target(value=torch.zeros(64), kind="melody"), frames=64, iterations=1,
                     progress=False)


def test_odd_loading_options_are_named_and_useless_guidance_is_said():
    with pytest.raises(ValueError, match="sampler must be a registered sampler's name"):
        Pipeline.from_pretrained("ctm", sampler="")  # was: the model's own sampler, silently
    with pytest.raises(TypeError, match="sampler must be a registered sampler's name"):
        Pipeline.from_pretrained("ctm", sampler=3)
    with pytest.raises(ValueError, match="unknown dtype"):
        Pipeline.from_pretrained("ctm", dtype=["float32"])
    with pytest.warns(UserWarning, match="cfg 3 has no effect on clips without tags") as caught:
        Pipeline.from_pretrained("teacher", cfg=3.0, steps=1)(None, frames=64)
    assert caught[0].filename == __file__


def test_numpy_and_tensor_counts_are_stored_as_ints_and_saved(tmp_path):
    from tempo_kit.clips import save_clips
    from tempo_kit.control import Target

    pipe = Pipeline.from_pretrained("ctm")
    clips = pipe(TAGS, seed=np.int64(3), steps=np.int64(1), frames=64)
    assert type(clips.seed) is int and type(clips.steps) is int
    save_clips(clips, tmp_path / "a")
    assert json.loads((tmp_path / "a" / "clips.json").read_text())["seed"] == 3
    assert pipe(TAGS, seed=torch.tensor(3), frames=64).seed == 3
    run = pipe.control("intensity", target=Target(value=torch.full((64,), -20), kind="intensity"), frames=64,
                       iterations=np.int64(1), lr=np.float32(0.05), progress=False)  # whole dB: values, not classes
    json.dumps(run.summary())
    assert type(run.summary()["iterations"]) is int and type(run.summary()["lr"]) is float
    run = pipe.control("intensity", frames=64, iterations=1, decode_steps=np.int64(2),
                       decode_levels=[np.float32(0.5)], progress=False)
    json.dumps(run.summary())
    from tempo_kit.control.tasks import task_objectives

    own = (o for o in task_objectives("intensity", n_frames=64))  # a generator is read once, not used up by a check
    assert pipe.control(own, frames=64, iterations=1, progress=False).result.final_losses
    with pytest.raises(TypeError, match="non-empty list of Objective"):
        pipe.control([], frames=64, iterations=1, progress=False)


def test_a_saved_module_that_is_no_vocoder_is_refused(tmp_path):
    from tempo_kit.models.io import save_model
    from tempo_kit.registry import get

    folder = save_model(get("models", "block-mlp", dim=4, width=8, depth=1), tmp_path / "mlp")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, "pretrained": {"kind": "module"}}))
    with pytest.raises(ValueError, match="holds a BlockMLP that is no vocoder"):
        Pipeline.from_pretrained("ctm", vocoder=folder)


def test_a_vocoder_of_another_mel_space_still_loads(tmp_path):
    from tempo_kit.models.io import save_model
    from tempo_kit.pipeline import load_vocoder
    from tempo_kit.vocoder import Vocoder, VocoderConfig

    folder = save_model(Vocoder(config=VocoderConfig(n_mels=8, channels=8, depth=1)), tmp_path / "voc8")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, "pretrained": {"kind": "module"}}))
    assert load_vocoder(folder).spec.n_mels == 8


def test_the_frame_bound_is_the_clis():
    from tempo_kit import commands, pipeline

    assert pipeline.MAX_FRAMES == commands.MAX_FRAMES


def test_save_pretrained_never_replaces_what_is_not_a_saved_model(tmp_path):
    pipe = Pipeline.from_pretrained("ctm", vocoder="griffin-lim")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="holds something other than a saved model"):
        pipe.save_pretrained(tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"
    for name in ("a", "b"):  # a model-like config.json without the pipeline's table; a vocoder/ with a user's file
        (tmp_path / name / "vocoder").mkdir(parents=True)
        (tmp_path / name / "model.safetensors").write_bytes(b"")
        (tmp_path / name / "config.json").write_text(json.dumps(
            {"model": "dit", "config": {}, **({"pretrained": {"kind": "denoiser"}} if name == "b" else {})}))
        (tmp_path / name / "vocoder" / "mine.txt").write_text("precious")
        with pytest.raises(FileExistsError, match="holds something other than a saved model"):
            pipe.save_pretrained(tmp_path / name)
        assert (tmp_path / name / "vocoder" / "mine.txt").read_text() == "precious"
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "config.json").write_text('{"name": "my project"}')
    (tmp_path / "proj" / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileExistsError, match="holds something other than a saved model"):
        pipe.save_pretrained(tmp_path / "proj")
    assert (tmp_path / "proj" / "config.json").read_text() == '{"name": "my project"}'
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        pipe.save_pretrained(tmp_path / "afile")
    assert not (tmp_path / ".afile.saving").exists() and (tmp_path / "afile").read_text() == "x"
    with pytest.raises(ValueError, match="needs a folder of its own"):
        pipe.save_pretrained(".")
    pipe.save_pretrained(tmp_path / "saved")
    pipe.save_pretrained(tmp_path / "saved")  # a saved model's folder is replaced
    (tmp_path / "empty").mkdir()
    assert pipe.save_pretrained(tmp_path / "empty") == tmp_path / "empty"


def test_a_config_without_tag_vocabulary_or_a_generator_as_vocoder_fail_at_load(tmp_path):
    pipe = Pipeline.from_pretrained("ctm", vocoder="griffin-lim")
    path = pipe.save_pretrained(tmp_path / "saved")
    with pytest.raises(ValueError, match="holds a ctm, not a vocoder"):
        Pipeline.from_pretrained("ctm", vocoder=str(path))
    config = json.loads((path / "config.json").read_text())
    del config["pretrained"]["tag_vocab"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="saved/config.json' records no tag vocabulary.*bundle_model.py"):
        Pipeline.from_pretrained(path)
    with pytest.raises(ValueError, match="saved/config.json' records no tag vocabulary"):  # not a bare KeyError
        tag_conditions([TAGS], model=path)


def test_bfloat16_runs_and_stays_close_to_float32():
    full = Pipeline.from_pretrained("ctm")(TAGS, seed=0, frames=64)
    half = Pipeline.from_pretrained("ctm", dtype="bfloat16")(TAGS, seed=0, frames=64)
    assert half.mel.dtype == torch.float32 and half.audio.dtype == torch.float32
    assert torch.isfinite(half.audio).all()
    assert (half.mel - full.mel).norm() / full.mel.norm() < 0.05


def test_the_vocoder_alone_in_bfloat16_gives_the_float32_clip():
    pipe = Pipeline.from_pretrained("ctm")
    full = pipe(TAGS, seed=0, frames=64)
    pipe.vocoder.to(torch.bfloat16)
    half = pipe(TAGS, seed=0, frames=64)
    assert torch.equal(half.mel, full.mel) and half.audio.dtype == torch.float32
    assert (half.audio - full.audio).norm() / full.audio.norm() < 0.05


@pytest.mark.parametrize("optimizer", ["adam", "adam-sample"])
def test_bfloat16_control_optimises_float32_noise(optimizer):
    clip = Pipeline.from_pretrained("ctm", dtype="bfloat16").control("intensity", iterations=3, frames=64,
                                                                     optimizer=optimizer, progress=False)
    assert clip.result.eps.dtype == torch.float32 and clip.result.output.dtype == torch.float32
    assert torch.isfinite(clip.audio).all() and clip.result.loss_history.shape == (3,)


def test_control_runs_on_a_jump_and_refuses_a_denoiser():
    clip = Pipeline.from_pretrained("ctm").control("intensity", iterations=2, frames=64, progress=False)
    assert clip.audio.shape[0] == 1 and clip.result.nfe_optimization > 0
    with pytest.raises(ValueError, match="needs a distilled jump"):
        Pipeline.from_pretrained("teacher").control("intensity", iterations=2, frames=64)


def test_control_decode_levels_are_recorded_and_checked_against_decode_steps():
    pipe = Pipeline.from_pretrained("ctm")
    clip = pipe.control("intensity", iterations=1, frames=64, decode_levels=[0.15], progress=False)
    assert (clip.decode_steps, clip.decode_levels, clip.summary()["decode_levels"]) == (2, (0.15,), [0.15])
    assert clip.result.nfe_decoding == 2
    default = pipe.control("intensity", iterations=1, frames=64, progress=False)
    assert default.decode_levels == control_defaults("ctm")["decode_levels"]
    # the optimizer by task: SampleAdam on the painting tasks, Adam elsewhere, recorded; an explicit one wins
    assert (default.optimizer, default.summary()["optimizer"], default.summary()["norm_prior"]) == (
        "adam", "adam", "project")
    painting = pipe.control("outpainting", iterations=1, frames=64, progress=False)
    assert painting.optimizer == control_defaults("ctm", "outpainting")["optimizer"] == "adam-sample"
    assert pipe.control("inpainting", iterations=1, frames=64, optimizer="adam", progress=False).optimizer == "adam"
    grid = pipe.control("intensity", iterations=1, frames=64, decode_steps=2, progress=False)
    assert grid.decode_levels is None  # an explicit T decodes at the teacher grid's levels
    with pytest.raises(ValueError, match="contradicts decode_levels"):
        pipe.control("intensity", iterations=1, frames=64, decode_steps=3, decode_levels=[0.15], progress=False)
    with pytest.raises(TypeError, match="sequence of noise levels"):
        pipe.control("intensity", iterations=1, frames=64, decode_levels="0.15", progress=False)


def test_saved_config_records_the_pipeline_settings(tmp_path):
    Pipeline.from_pretrained("teacher", sampler="euler", steps=5, cfg=2.0).save_pretrained(tmp_path / "t")
    table = json.loads((tmp_path / "t" / "config.json").read_text())["pretrained"]
    assert (table["sampler"], table["steps"], table["cfg"], table["kind"]) == ("euler", 5, 2.0, "denoiser")
    assert Pipeline.from_pretrained("teacher", cfg=np.float32(2.0), vocoder="griffin-lim").cfg == 2.0  # numpy weights
    for bad in (True, float("inf"), "2"):
        with pytest.raises(ValueError, match="cfg must be a finite guidance weight"):
            Pipeline.from_pretrained("teacher", cfg=bad, vocoder="griffin-lim")


def test_sampler_args_are_saved_with_their_sampler_and_dropped_with_another(tmp_path):
    levels = {"refine_max": 0.5, "refine_min": 0.05}
    pipe = Pipeline.from_pretrained("cm", sampler="presto-s", steps=4, sampler_args=levels)
    clips = pipe(TAGS, seed=2, frames=64)
    assert clips.sigmas[1:4] == pytest.approx((0.5, 0.5 ** 0.5 * 0.05 ** 0.5, 0.05))
    default = Pipeline.from_pretrained("cm", sampler="presto-s", steps=4)(TAGS, seed=2, frames=64)
    assert default.sigmas[1] == pytest.approx(0.15) and not torch.equal(default.mel, clips.mel)
    pipe.save_pretrained(tmp_path / "p")
    assert json.loads((tmp_path / "p" / "config.json").read_text())["pretrained"]["sampler_args"] == levels
    assert "sampler `presto-s` (refine_max=0.5, refine_min=0.05)" in (tmp_path / "p" / "MODEL_CARD.md").read_text()
    again = Pipeline.from_pretrained(tmp_path / "p")
    assert again.sampler_args == levels and torch.equal(again(TAGS, seed=2, frames=64).mel, clips.mel)
    assert Pipeline.from_pretrained(tmp_path / "p", sampler="cm").sampler_args == {}  # they belong to presto-s
    assert Pipeline.from_pretrained(tmp_path / "p", sampler="presto-s").sampler_args == levels  # its own: kept
    assert "sampler_args" not in again.meta  # one live value: the attribute
    plain = Pipeline.from_pretrained(tmp_path / "p", sampler_args={})  # the sampler's own defaults again
    assert plain(TAGS, seed=2, frames=64).sigmas[1] == pytest.approx(0.15)
    plain.save_pretrained(tmp_path / "p")
    assert "sampler_args" not in json.loads((tmp_path / "p" / "config.json").read_text())["pretrained"]
    with pytest.raises(ComponentArgumentError, match="unknown option 'refine'.*refine_max"):
        Pipeline.from_pretrained("cm", sampler="presto-s", sampler_args={"refine": 0.5})
    with pytest.raises(TypeError, match="sampler_args must be a dict"):
        Pipeline.from_pretrained("cm", sampler_args=[0.5])
    from tempo_kit.schedules import KarrasSchedule

    karras = Pipeline.from_pretrained("cm", sampler="presto-s", sampler_args={"schedule": KarrasSchedule()})
    with pytest.raises(ValueError, match="cannot be saved in config.json"):  # runs, but is no JSON
        karras.save_pretrained(tmp_path / "k")
    assert not (tmp_path / "k").exists() and not list(tmp_path.glob(".k.saving"))


def test_a_save_that_fails_half_way_leaves_nothing_beside_the_folder(tmp_path, monkeypatch):
    import tempo_kit.pipeline as module

    pipe = Pipeline.from_pretrained("cm")
    pipe.save_pretrained(tmp_path / "m")
    before = (tmp_path / "m" / "config.json").read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module.time, "strftime", boom)  # fails after the weights are written, before the card
    with pytest.raises(RuntimeError, match="disk full"):
        pipe.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"] and (tmp_path / "m" / "config.json").read_text() == before


def test_a_bfloat16_pipeline_reloads_in_bfloat16_and_resaving_does_not_nest_cards(tmp_path):
    pipe = Pipeline.from_pretrained("ctm", dtype="bfloat16")
    clips = pipe(TAGS, seed=1, frames=64)
    pipe.save_pretrained(tmp_path / "b")
    again = Pipeline.from_pretrained(tmp_path / "b")
    assert again.dtype == torch.bfloat16 and torch.equal(again(TAGS, seed=1, frames=64).audio, clips.audio)
    again.save_pretrained(tmp_path / "b")
    assert (tmp_path / "b" / "MODEL_CARD.md").read_text().count("Saved by") == 1
    assert not list(tmp_path.glob(".*saving"))


def test_control_objectives_on_audio_run_through_the_pipelines_vocoder():
    from tempo_kit.control import Objective
    from tempo_kit.control.targets import intensity_curve
    from tempo_kit.features import Intensity
    from tempo_kit.losses import mse

    pipe = Pipeline.from_pretrained("ctm")
    ext = Intensity(domain="audio")
    n = ext.num_frames(64 * ext.mel.hop_length)  # the vocoder's 64 frames of audio, read by an STFT
    target = intensity_curve("crescendo", n_frames=n, extractor=ext, low_db=-35.0, high_db=-15.0)
    clip = pipe.control([Objective(extractor=ext, loss=mse, target=target)], iterations=2, frames=64, progress=False)
    feature = clip.result.features[Objective(extractor=ext, loss=mse, target=target).name]
    assert feature.shape[-1] == n == 65  # the objective read audio, not the 64 mel frames
    assert not torch.equal(clip.result.eps, torch.randn(1, 80, 64, generator=torch.Generator().manual_seed(0)))


def test_a_melody_objective_on_audio_reports_mel_and_audio_accuracy():
    import functools

    from tempo_kit.control import Objective
    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_frames
    from tempo_kit.features import LogChroma
    from tempo_kit.losses import nll

    ext = LogChroma(domain="audio")
    pcs = torch.arange(65) // 8 % 12  # one more frame than the 64 mel frames: the STFT of the vocoded audio
    target = melody_from_frames(pcs, extractor=ext)
    clip = Pipeline.from_pretrained("ctm").control(
        [Objective(extractor=ext, loss=functools.partial(nll, ignore_index=IGNORE_INDEX), target=target)],
        iterations=2, frames=64, progress=False)
    assert set(clip.accuracy) == {"mel", "audio", "uncontrolled_mel", "uncontrolled_audio"}
    assert all(0.0 <= v <= 1.0 for v in clip.accuracy.values())


def test_a_tag_list_and_another_n_is_an_error():
    """One dict per clip fixes the count: an n that disagrees was once dropped silently."""
    from tempo_kit.pipeline import Pipeline

    tags = [{"instrument": "flute"}, {"instrument": "organ"}]
    assert len(Pipeline._tag_list(tags, None)) == 2 and len(Pipeline._tag_list(tags, 2)) == 2
    assert len(Pipeline._tag_list({"instrument": "flute"}, None)) == 1
    assert len(Pipeline._tag_list({"instrument": "flute"}, 3)) == 3
    with pytest.raises(ValueError, match="n=3 but 2 tag dicts"):
        Pipeline._tag_list(tags, 3)
