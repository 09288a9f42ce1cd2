"""The trainer: gradient routing per parameter group, exact resume, outputs, EMA, bf16, CLI and config errors."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tempo_kit.cli import main as cli_main
from tempo_kit.models import BlockMLP, BlockMLPConfig, CheckpointMismatchError, load_denoiser
from tempo_kit.registry import UnknownComponentError
from tempo_kit.training import MixtureData, Recipe, TrainConfig, Trainer, UpdateRule, distill
from tempo_kit.training.recipes.edm import EDMRecipe

RING_DATA = {"name": "mixture"}  # the 2-D toy ring (tempo_kit.testing.toy.GaussianMixture.ring)

TINY = {"model": "block-mlp", "width": 16, "depth": 3}


class TwoGroups(Recipe):
    """A generator/critic-style toy: "gen" and "critic" alternate; a frozen teacher takes part in both losses."""

    name = "two-groups"

    def __init__(self):
        super().__init__()
        self.gen, self.critic, self.teacher = nn.Linear(2, 2), nn.Linear(2, 1), nn.Linear(2, 2).requires_grad_(False)

    def param_groups(self):
        return {"gen": list(self.gen.parameters()), "critic": list(self.critic.parameters())}

    def update_rules(self):
        return [UpdateRule(group="critic", every=3, offset=0, lr=1e-2), UpdateRule(group="gen", every=3, offset=2, lr=1e-2)]

    def losses(self, batch, *, step, groups, generator=None):
        fake = self.gen(batch)
        out = {}
        if "critic" in groups:  # the critic's loss depends on the generator's output too
            out["critic"] = {"score": (self.critic(fake) - self.critic(self.teacher(batch))).pow(2).mean()}
        if "gen" in groups:
            out["gen"] = {"adv": -self.critic(fake).mean(), "reg": (fake - self.teacher(batch)).pow(2).mean()}
        return out

    def student(self):
        return self.gen


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_only_active_groups_receive_gradients():
    torch.manual_seed(0)
    recipe = TwoGroups()
    data = lambda n, g: torch.randn(n, 2, generator=g)  # noqa: E731
    trainer = Trainer(recipe=recipe, data=data, config=TrainConfig(steps=6, batch_size=8, progress=False))
    teacher = _snapshot(recipe.teacher)
    expected = {0: "critic", 1: None, 2: "gen", 3: "critic", 4: None, 5: "gen"}
    for step in range(6):
        gen, critic = _snapshot(recipe.gen), _snapshot(recipe.critic)
        record = trainer.train_step()
        assert _changed(gen, recipe.gen) == (expected[step] == "gen"), step
        assert _changed(critic, recipe.critic) == (expected[step] == "critic"), step
        assert not _changed(teacher, recipe.teacher)
        if expected[step] == "gen":
            assert set(record) == {"gen/adv", "gen/reg", "gen/total"}
    assert all(p.grad is None for p in recipe.parameters())


class _Wrong(TwoGroups):
    def losses(self, batch, *, step, groups, generator=None):
        return {"gen": {"adv": self.gen(batch).mean()}}


def test_recipe_contract_violations_are_errors():
    data = lambda n, g: torch.randn(n, 2, generator=g)  # noqa: E731
    trainer = Trainer(recipe=_Wrong(), data=data, config=TrainConfig(steps=1, batch_size=4, progress=False))
    with pytest.raises(RuntimeError, match="active groups are \\['critic'\\]"):
        trainer.train_step()


def _edm(seed, **kw):
    torch.manual_seed(seed)
    return EDMRecipe(net=BlockMLP(config=BlockMLPConfig(width=16, depth=3)), lr=1e-2, **kw)


def _losses(out_dir):
    return [json.loads(line) for line in (out_dir / "losses.jsonl").read_text().splitlines()]


def test_resume_is_exact(tmp_path):
    cfg = dict(batch_size=16, progress=False, ema_decay=0.9, grad_clip=0.5)
    full = _edm(0)
    uninterrupted = Trainer(recipe=full, data=MixtureData(), config=TrainConfig(steps=7, out_dir=str(tmp_path / "a"), **cfg))
    uninterrupted.fit()
    # stop after 4 steps, then restart from the checkpoint with a differently initialized recipe
    Trainer(recipe=_edm(0), data=MixtureData(), config=TrainConfig(steps=4, out_dir=str(tmp_path / "b"), **cfg)).fit()
    resumed = _edm(123)
    trainer = Trainer(recipe=resumed, data=MixtureData(), config=TrainConfig(steps=7, out_dir=str(tmp_path / "b"), **cfg))
    result = trainer.fit(resume=True)
    assert [r["step"] for r in result.history] == [4, 5, 6]
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(7))
    for ra, rb in zip(a, b):
        assert ra["net/dsm"] == rb["net/dsm"], ra["step"]
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(uninterrupted.ema.parameters(), trainer.ema.parameters()):
        assert torch.equal(p, q)
    assert trainer.optimizers["net"].state_dict()["state"].keys() == uninterrupted.optimizers["net"].state_dict()["state"].keys()
    assert (tmp_path / "b" / "losses.png").is_file()
    assert (tmp_path / "b" / "student_ema" / "model.safetensors").is_file()
    den = load_denoiser(tmp_path / "b" / "student")
    x, sigma = torch.randn(3, 2), torch.ones(3)
    torch.testing.assert_close(den(x, sigma), resumed.student()(x, sigma))


def test_cooldown_decays_every_groups_lr_linearly_to_zero_and_resumes_exactly(tmp_path):
    recipe = TwoGroups()
    data = lambda n, g: torch.randn(n, 2, generator=g)  # noqa: E731
    trainer = Trainer(recipe=recipe, data=data, config=TrainConfig(steps=6, batch_size=8, progress=False, cooldown_steps=4))
    used = []  # the learning rate each optimiser step runs with, read when it is called
    for group, opt in trainer.optimizers.items():
        def step(opt=opt, group=group, inner=opt.step):
            used.append((trainer.step, group, opt.param_groups[0]["lr"]))
            return inner()
        opt.step = step
    records = [trainer.train_step() for _ in range(6)]
    assert used == [(0, "critic", 1e-2), (2, "gen", 1e-2), (3, "critic", pytest.approx(0.75e-2)),
                    (5, "gen", pytest.approx(0.25e-2))]
    assert [float(r["diag/lr_scale"]) for r in records] == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])

    class FailsAt5(MixtureData):  # the run dies at step 5; its step-4 checkpoint is resumed
        def sample_batch(self, batch_size, generator):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 6:
                raise RuntimeError("disk gone")
            return super().sample_batch(batch_size, generator)

    cfg = dict(steps=7, cooldown_steps=5, batch_size=16, progress=False, checkpoint_every=4)
    full = _edm(0)
    Trainer(recipe=full, data=MixtureData(), config=TrainConfig(out_dir=str(tmp_path / "a"), **cfg)).fit()
    with pytest.raises(RuntimeError, match="disk gone"):
        Trainer(recipe=_edm(0), data=FailsAt5(), config=TrainConfig(out_dir=str(tmp_path / "b"), **cfg)).fit()
    resumed = _edm(123)
    Trainer(recipe=resumed, data=MixtureData(), config=TrainConfig(out_dir=str(tmp_path / "b"), **cfg)).fit(resume=True)
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    with pytest.warns(UserWarning, match="another learning rate than this config's schedule"):  # steps raised: the
        Trainer(recipe=_edm(0), data=MixtureData(),  # cooldown moves later and the lr jumps back up
                config=TrainConfig(out_dir=str(tmp_path / "b"), **{**cfg, "steps": 9})).fit(resume=True)
    with pytest.raises(ValueError, match="cooldown_steps"):
        TrainConfig(steps=6, batch_size=8, cooldown_steps=7)


def test_ctrl_c_stops_after_the_step_and_saves_a_checkpoint(tmp_path):
    import os
    import signal

    class InterruptAt:  # sends SIGINT to this process while the batch of step 2 is drawn
        def __init__(self):
            self.data, self.calls = MixtureData(), 0

        def sample_batch(self, batch_size, generator):
            self.calls += 1
            if self.calls == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return self.data.sample_batch(batch_size, generator)

    cfg = dict(batch_size=16, progress=False, ema_decay=0.9)
    Trainer(recipe=_edm(0), data=MixtureData(), config=TrainConfig(steps=6, out_dir=str(tmp_path / "a"), **cfg)).fit()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 3; checkpoint saved"):
        Trainer(recipe=_edm(0), data=InterruptAt(), config=TrainConfig(steps=6, out_dir=str(tmp_path / "b"),
                                                                         **cfg)).fit()
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    result = Trainer(recipe=_edm(7), data=MixtureData(),
                     config=TrainConfig(steps=6, out_dir=str(tmp_path / "b"), **cfg)).fit(resume=True)
    assert result.resumed_from == 3
    assert [r["net/dsm"] for r in _losses(tmp_path / "b")] == [r["net/dsm"] for r in _losses(tmp_path / "a")]


def test_a_run_without_a_checkpoint_moves_the_earlier_files_aside(tmp_path):
    cfg = dict(batch_size=16, progress=False, out_dir=str(tmp_path / "r"))
    Trainer(recipe=_edm(0), data=MixtureData(), config=TrainConfig(steps=4, **cfg)).fit()
    (tmp_path / "r" / "checkpoint.safetensors").unlink()  # as after a kill before the first checkpoint
    result = Trainer(recipe=_edm(0), data=MixtureData(), config=TrainConfig(steps=2, **cfg)).fit(resume=True)
    assert result.resumed_from is None and result.replaced is not None
    assert [r["step"] for r in _losses(Path(result.replaced))] == [0, 1, 2, 3]  # the earlier log is kept whole
    assert [r["step"] for r in _losses(tmp_path / "r")] == [0, 1]


def test_ema_and_bf16():
    recipe = _edm(0)
    trainer = Trainer(recipe=recipe, data=MixtureData(), config=TrainConfig(steps=3, batch_size=8, ema_decay=0.5, bf16=True, progress=False))
    first = _snapshot(trainer.ema.module)
    result = trainer.fit()
    assert all(torch.isfinite(torch.tensor(r["net/dsm"])) for r in result.history)
    assert _changed(first, trainer.ema.module)
    for e, p in zip(trainer.ema.module.parameters(), recipe.student().parameters()):
        assert not e.requires_grad and e.shape == p.shape


def test_a_config_without_data_is_an_error_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"no \[data\] table .* name = 'mixture' for the 2-D toy ring"):
        distill("edm", {"train": {"steps": 1, "batch_size": 8, "out_dir": str(tmp_path / "r")}, "model": TINY})
    assert not (tmp_path / "r").exists()


def test_cli_and_config_file(tmp_path, capsys):
    config = tmp_path / "edm.toml"
    config.write_text(f"""
recipe = "edm"
[train]
steps = 3
batch_size = 8
out_dir = "{tmp_path / 'run'}"
progress = false
[data]
name = "mixture"
[model]
model = "block-mlp"
width = 16
depth = 2
[recipe_args]
lr = 1e-3
""")
    assert cli_main(["distill", "--config", str(config)]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    assert len(_losses(tmp_path / "run")) == 3
    # the Presto-L recipe on the trained student, from a JSON config and the Python API
    result = distill("presto-l", {"data": RING_DATA, "train": {"steps": 2, "batch_size": 8, "progress": False},
                                  "recipe_args": {"teacher": str(tmp_path / "run" / "student"), "freeze_time_embedder": False}})
    assert set(result.history[-1]) == {"step", "student/dsm", "student/self_teacher", "student/total"}


def test_bad_configs(tmp_path):
    train = {"steps": 2, "batch_size": 8, "progress": False}
    with pytest.raises(UnknownComponentError, match="unknown recipe 'edn'.*Did you mean 'edm'"):
        distill("edn", {"data": RING_DATA, "train": train, "model": TINY})
    with pytest.raises(FileNotFoundError, match="teacher checkpoint not found"):
        distill("ase", {"data": RING_DATA, "train": train, "recipe_args": {"teacher": str(tmp_path / "nope")}})
    with pytest.raises(UnknownComponentError, match="unknown router"):
        distill("ase", {"data": RING_DATA, "train": train, "recipe_args": {"teacher": TINY, "router": "early-exit"}})
    with pytest.raises(ValueError, match="layer budget 5 is outside \\[1, 3\\]"):
        distill("presto-l", {"data": RING_DATA, "train": train, "recipe_args": {"teacher": TINY, "router": {"name": "presto-l", "budget": 5}}})
    with pytest.raises(ValueError, match="unknown \\[train\\] option"):
        distill("edm", {"data": RING_DATA, "train": {**train, "stpes": 3}, "model": TINY})
    with pytest.raises(ValueError, match="unknown config section"):
        distill("edm", {"data": RING_DATA, "train": train, "modle": TINY})
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        TrainConfig(steps=0, batch_size=8)
    with pytest.raises(TypeError, match="steps must be an integer, got 3000.0"):  # TOML's 3e3 is a float
        TrainConfig(steps=3e3, batch_size=8)
    with pytest.raises(ValueError, match="grad_clip must be a finite number > 0"):
        TrainConfig(steps=1, batch_size=8, grad_clip=0.0)
    assert TrainConfig(steps=1, batch_size=8, grad_clip=None).grad_clip is None
    with pytest.raises(TypeError, match="ema_decay must be a finite number, got '0.9'"):  # a quoted TOML value
        TrainConfig(steps=1, batch_size=8, ema_decay="0.9")
    with pytest.raises(ValueError, match=r"ema_decay must lie in \[0, 1\), got 1"):
        TrainConfig(steps=1, batch_size=8, ema_decay=1)
    with pytest.raises(ValueError, match="ema_decay must be a finite number >= 0, got -0.5"):
        TrainConfig(steps=1, batch_size=8, ema_decay=-0.5)
    # resuming a run with a different architecture
    out = str(tmp_path / "run")
    distill("edm", {"data": RING_DATA, "train": {**train, "out_dir": out}, "model": TINY})
    with pytest.raises(CheckpointMismatchError, match="does not match the architecture"):
        distill("edm", {"data": RING_DATA, "train": {**train, "steps": 4, "out_dir": out}, "model": {**TINY, "width": 32}})
    with pytest.raises(CheckpointMismatchError, match="written by recipe 'edm'"):
        distill("ase", {"data": RING_DATA, "train": {**train, "steps": 4, "out_dir": out}, "recipe_args": {"teacher": out + "/student"}})


def test_example_configs_are_valid():
    from pathlib import Path

    from tempo_kit.registry import get_registry
    from tempo_kit.training import load_config
    from tempo_kit.training.api import build_data

    files = sorted((Path(__file__).parent.parent / "configs").rglob("*.toml"))  # examples, reference, experiments
    assert files
    for path in files:
        cfg = load_config(path)
        TrainConfig.from_dict(cfg["train"])
        get_registry().entry("recipes", cfg["recipe"])
        if cfg.get("data", {}).get("name", "mixture") == "mixture":
            assert build_data(cfg.get("data")).sample_batch(4, torch.Generator()).shape == (4, 2)


def test_a_nan_loss_stops_before_the_update_and_keeps_the_last_checkpoint(tmp_path):
    from tempo_kit.training import TrainingDivergedError

    class Diverges(TwoGroups):
        def losses(self, batch, *, step, groups, generator=None):
            out = super().losses(batch, step=step, groups=groups, generator=generator)
            if step == 3:  # the critic's turn
                out["critic"]["nan"] = torch.tensor(float("nan"))
            return out

    recipe = Diverges()
    config = TrainConfig(steps=8, batch_size=4, progress=False, out_dir=str(tmp_path), checkpoint_every=2)
    trainer = Trainer(recipe=recipe, data=MixtureData(), config=config)
    with pytest.raises(TrainingDivergedError, match=r"step 3: loss critic/nan = nan .*checkpoint .* is kept"):
        trainer.fit()
    assert all(torch.isfinite(p).all() for p in recipe.parameters())
    # The checkpoint of step 2 is intact and resumable; the log stops at the last finite step.
    fresh = Trainer(recipe=TwoGroups(), data=MixtureData(), config=config)
    assert fresh.load() == 2
    assert [json.loads(line)["step"] for line in (tmp_path / "losses.jsonl").read_text().splitlines()] == [0, 1, 2]


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_a_non_finite_gradient_of_a_finite_loss_stops_before_any_update(tmp_path, grad_clip):
    """Both groups step together; at step 3 the second group's gradient is NaN (sqrt at 0: the value is 0, the
    gradient inf * 0) while its loss is finite: neither group is updated, not even the first one, whose gradient is
    fine."""
    from tempo_kit.training import TrainingDivergedError

    class NanGradient(TwoGroups):
        def update_rules(self):
            return [UpdateRule(group="critic", lr=1e-2), UpdateRule(group="gen", lr=1e-2)]

        def losses(self, batch, *, step, groups, generator=None):
            out = super().losses(batch, step=step, groups=groups, generator=generator)
            if step == 3:
                self.before = _snapshot(self)
                w = self.gen.weight
                out["gen"]["sqrt"] = (w - w.detach()).square().sum().sqrt()
            return out

    recipe = NanGradient()
    config = TrainConfig(steps=8, batch_size=4, progress=False, out_dir=str(tmp_path), checkpoint_every=2,
                         grad_clip=grad_clip)
    with pytest.raises(TrainingDivergedError, match=r"step 3: the gradient of group 'gen' is not finite .*is kept"):
        Trainer(recipe=recipe, data=MixtureData(), config=config).fit()
    assert all(torch.equal(a, b) for a, b in zip(recipe.before, _snapshot(recipe)))  # the critic's update too
    assert Trainer(recipe=NanGradient(), data=MixtureData(), config=config).load() == 2


def test_snapshots_along_training_are_loadable_models(tmp_path):
    config = TrainConfig(steps=6, batch_size=8, progress=False, ema_decay=0.5, out_dir=str(tmp_path), snapshot_every=3)
    recipe = _edm(0)
    Trainer(recipe=recipe, data=MixtureData(), config=config).fit()
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["step_3", "step_6"]
    last, final = load_denoiser(tmp_path / "snapshots" / "step_6"), load_denoiser(tmp_path / "student_ema")
    x, sigma = torch.randn(3, 2), torch.ones(3)
    torch.testing.assert_close(last(x, sigma), final(x, sigma))
    with pytest.raises(ValueError):
        TrainConfig(steps=1, batch_size=1, snapshot_every=-1)


@pytest.mark.parametrize("recipe, args", [
    ("edm", {}), ("cm", {"teacher": TINY, "w_range": None}), ("ctm", {"teacher": TINY, "w_range": None}),
    ("presto-s", {"teacher": TINY}), ("presto-l", {"teacher": TINY}),
])
def test_same_seed_fresh_runs_are_bitwise_identical(tmp_path, recipe, args):
    """Networks are built after seeding from the run's seed: two fresh runs agree in every saved tensor and loss."""
    from safetensors.torch import load_file

    runs = []
    for k in range(2):
        torch.randn(7)  # whatever the caller did with the global generator before
        cfg = {"data": RING_DATA, "train": {"steps": 2, "batch_size": 8, "progress": False,
                                            "out_dir": str(tmp_path / f"run{k}")},
               "recipe_args": args, **({"model": TINY} if recipe == "edm" else {})}
        runs.append(distill(recipe, cfg))
    assert runs[0].history == [{**r, "time": h["time"]} for r, h in zip(runs[1].history, runs[0].history)]
    files = sorted(p.relative_to(tmp_path / "run0") for p in (tmp_path / "run0").rglob("*.safetensors"))
    assert files
    for rel in files:
        a, b = load_file(str(tmp_path / "run0" / rel)), load_file(str(tmp_path / "run1" / rel))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{recipe}: {rel} differs between two runs of one seed"
    other = distill(recipe, {**cfg, "train": {**cfg["train"], "seed": 1, "out_dir": str(tmp_path / "seed1")}})
    losses = [{k: v for k, v in r.history[0].items() if k != "time"} for r in (runs[0], other)]
    assert losses[0] != losses[1]  # the seed does reach the networks and the noise


def test_resume_tolerates_a_cut_last_log_line(tmp_path):
    out = tmp_path / "run"
    train = {"steps": 2, "batch_size": 8, "progress": False, "out_dir": str(out)}
    distill("edm", {"data": RING_DATA, "train": train, "model": TINY})
    with open(out / "losses.jsonl", "a") as log:
        log.write('{"step": 2, "student/ds')  # killed while writing
    result = distill("edm", {"data": RING_DATA, "train": {**train, "steps": 4}, "model": TINY})
    assert [r["step"] for r in result.history] == [2, 3]
    assert [json.loads(line)["step"] for line in (out / "losses.jsonl").read_text().splitlines()] == [0, 1, 2, 3]
    (out / "losses.jsonl").write_text('{"step": 0}\nnot json\n{"step": 1}\n')
    with pytest.raises(ValueError, match=r"losses.jsonl: line 2 is not a JSON record"):
        distill("edm", {"data": RING_DATA, "train": {**train, "steps": 6}, "model": TINY})


def test_config_mistakes_name_their_table_and_the_valid_options(tmp_path):
    """Mistakes outside [train] once surfaced as internal TypeErrors without the table, the option or a suggestion."""
    train = {"steps": 1, "batch_size": 8, "progress": False}
    with pytest.raises(ValueError, match=r"\[model\] / \[recipe_args\] recipe 'edm': .*unknown option 'widht' "
                                         r"\(did you mean 'width'\?\)"):
        distill("edm", {"data": RING_DATA, "train": train, "model": {**TINY, "widht": 8}})
    with pytest.raises(ValueError, match=r"\[recipe_args\] recipe 'cm': .*missing required option\(s\) teacher"):
        distill("cm", {"data": RING_DATA, "train": train})
    for lr, why in (("ten", "must be a finite number, got 'ten'"), (-1, "must be a finite number >= 0, got -1.0")):
        with pytest.raises(ValueError, match=rf"\[recipe_args\] recipe 'edm': lr of parameter group 'net' {why}"):
            distill("edm", {"data": RING_DATA, "train": train, "model": TINY, "recipe_args": {"lr": lr}})
    with pytest.raises(ValueError, match=r"\[data\]: .*ring\(\) got an unexpected keyword argument 'foo'"
                                         r"|\[data\]: .*foo"):
        distill("edm", {"data": {**RING_DATA, "foo": 1}, "train": train, "model": TINY})
    with pytest.raises(ValueError, match=r"\[train\]: steps must be an integer, got 'ten'"):
        distill("edm", {"data": RING_DATA, "train": {**train, "steps": "ten"}, "model": TINY})
    for flag in ("bf16", "progress"):  # a quoted "false" once switched bf16 on
        with pytest.raises(TypeError, match=f"{flag} must be true or false, got 'false'"):
            TrainConfig(steps=1, batch_size=8, **{flag: "false"})
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'adam', got 'sgdd'"):
        TrainConfig(steps=1, batch_size=8, optimizer="sgdd")
    bad = tmp_path / "bad.toml"
    bad.write_text("recipe edm\n")
    with pytest.raises(ValueError, match=f"{bad}: not valid TOML"):
        distill(config=bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="top level must be a table of sections, got a list"):
        distill(config=listed)
    with pytest.raises(ValueError, match="device 'cuda' is not available here|unknown device"):
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        distill("edm", {"data": RING_DATA, "train": {**train, "device": "cuda"}, "model": TINY})


def test_resuming_is_reported_and_a_fresh_run_keeps_the_one_it_replaces(tmp_path):
    out = tmp_path / "run"
    cfg = {"data": RING_DATA, "model": TINY, "train": {"steps": 3, "batch_size": 8, "progress": False,
                                                       "out_dir": str(out)}}
    first = distill("edm", cfg)
    assert first.resumed_from is None and first.replaced is None
    more = distill("edm", cfg, steps=5)
    assert more.resumed_from == 3 and more.step == 5
    with pytest.warns(UserWarning, match="already at step 5 >= steps = 4: nothing to train"):
        assert distill("edm", cfg, steps=4).step == 5
    old_log = (out / "losses.jsonl").read_text()
    fresh = distill("edm", cfg, resume=False)
    moved = out / fresh.replaced.split("/")[-1]
    assert fresh.step == 3 and moved.is_dir() and (moved / "losses.jsonl").read_text() == old_log
    assert (moved / "checkpoint.safetensors").is_file() and (moved / "student").is_dir()
    assert [json.loads(x)["step"] for x in (out / "losses.jsonl").read_text().splitlines()] == [0, 1, 2]
    (tmp_path / "afile").write_text("hi")
    with pytest.raises(NotADirectoryError, match="is a file"):
        distill("edm", {**cfg, "train": {**cfg["train"], "out_dir": str(tmp_path / "afile")}})
    assert (tmp_path / "afile").read_text() == "hi"
    assert oct((out / "checkpoint.safetensors").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_run_that_fails_at_its_first_step_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Exception):  # the ring's 2-D points do not fit a 3-D network
        distill("edm", {"data": RING_DATA, "model": {**TINY, "dim": 3},
                        "train": {"steps": 2, "batch_size": 8, "progress": False, "out_dir": str(out)}})
    assert not out.exists()


def test_a_fresh_run_that_fails_at_once_puts_the_previous_run_back(tmp_path):
    """--no-resume moves the previous run aside; if the new run fails before its first step the previous one is
    restored, so the next plain run resumes it (it once found nothing and started from step 0)."""
    out = tmp_path / "run"
    cfg = {"data": RING_DATA, "model": TINY, "train": {"steps": 2, "batch_size": 8, "progress": False,
                                                       "out_dir": str(out)}}
    distill("edm", cfg)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(Exception):
        distill("edm", {**cfg, "model": {**TINY, "dim": 3}}, resume=False)
    assert sorted(p.name for p in out.iterdir()) == before
    assert distill("edm", cfg, steps=3).resumed_from == 2
    made = tmp_path / "empty"
    made.mkdir()  # a folder the user made stays, without an empty log in it
    with pytest.raises(Exception):
        distill("edm", {**cfg, "model": {**TINY, "dim": 3}, "train": {**cfg["train"], "out_dir": str(made)}})
    assert made.is_dir() and not any(made.iterdir())


def test_config_errors_name_their_table_and_keep_the_library_error_type(tmp_path):
    from tempo_kit.models import save_model

    save_model(BlockMLP(config=BlockMLPConfig(width=8, depth=2)), tmp_path / "small")
    config = {"data": RING_DATA, "train": {"steps": 1, "batch_size": 8, "progress": False},
              "model": {**TINY, "init_from": str(tmp_path / "small")}}
    with pytest.raises(CheckpointMismatchError, match=r"^\[model\] / \[recipe_args\] recipe 'edm': init_from"):
        distill("edm", config)


def test_a_caller_that_ignores_or_handles_sigint_keeps_it(tmp_path):
    import signal

    from tempo_kit.training.trainer import _GracefulStop

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job of a script
    try:
        stop = _GracefulStop(enabled=True)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        stop.restore()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
