"""DITTO / DITTO-2: network-call accounting, behaviour on every task, fixed noise, norm prior, decoder hook, errors.

Everything runs on the toy mel generator (tempo_kit.testing.control): 80 mel bins x 48 frames, a few hundred
milliseconds per run. The learning rate is 10x DITTO's 5e-3 so that a few dozen iterations suffice on the toy.
"""

import math

import numpy as np
import pytest
import torch

from tempo_kit.control import DITTO, DITTO2, Objective, adaptive_m_schedule, intensity_curve
from tempo_kit.denoisers import CFGDenoiser
from tempo_kit.features.chroma import melody_accuracy
from tempo_kit.features.intensity import Intensity
from tempo_kit.grad import Backprop
from tempo_kit.losses import mse
from tempo_kit.samplers import CMMultistep, CTMGamma, EDMSampler
from tempo_kit.testing.control import TOY_TASKS, AdditiveDecoder, toy_generator, toy_task

LR = 0.05


@pytest.fixture(scope="module")
def gen():
    return toy_generator(frames=48, hidden=32)


@pytest.fixture(scope="module")
def tasks(gen):
    return {(name, v): toy_task(name, generator=gen, variant=v) for name in TOY_TASKS for v in (0, 1)}


def seed(s=0):
    return torch.Generator().manual_seed(s)


def run2(gen, objectives, **kw):
    kw = {"iterations": 25, "lr": LR, "decode_steps": 1, "progress": False, **kw}
    return DITTO2(**kw)(gen.ctm_jump, objectives, shape=gen.shape, generator=seed())


# ------------------------------------------------------------------------------------------------- cost accounting
@pytest.mark.parametrize("jump, sampler, T", [("cm_jump", CMMultistep(), 2), ("ctm_jump", CTMGamma(gamma=0.2), 3)])
def test_ditto2_costs_exactly_k_plus_t(gen, tasks, jump, sampler, T):
    K = 5
    r = DITTO2(iterations=K, decode_steps=T, sampler=sampler, progress=False)(
        getattr(gen, jump), tasks["intensity", 0], shape=gen.shape, generator=seed(), cond={"w": 4.0})
    assert (r.nfe_optimization, r.nfe_decoding, r.nfe) == (K, T, K + T)  # distilled w: no CFG doubling
    assert r.backward_optimization == K  # one backward pass per surrogate jump
    assert r.m_schedule == (1,) * K and r.method == "ditto-2"


def test_ditto_costs_about_2kt_and_doubles_with_cfg(gen, tasks):
    K, T = 3, 4
    ditto = DITTO(iterations=K, steps=T, progress=False)
    r = ditto(gen.denoiser, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert (r.nfe_optimization, r.nfe_decoding) == (2 * K * T, T)  # checkpoint recomputation doubles the T calls
    assert r.backward_optimization == K * T
    cfg = CFGDenoiser(denoiser=gen.denoiser, w=3.0, null_cond=None)
    r_cfg = ditto(cfg, tasks["intensity", 0], shape=gen.shape, generator=seed(), cond={"w": 0.0, "label": 1.0})
    assert (r_cfg.nfe_optimization, r_cfg.nfe_decoding) == (4 * K * T, 2 * T)
    r_bp = DITTO(iterations=K, steps=T, grad=Backprop(), progress=False)(
        gen.denoiser, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert (r_bp.nfe_optimization, r_bp.backward_optimization) == (K * T, K * T)  # no recomputation
    assert gen.denoiser.net is gen.net  # the counter was removed again


def test_ditto_through_a_multistep_solver_checkpointed_equals_backprop(gen, tasks):
    """DPM-Solver++(2M) carries its previous denoised output between steps; checkpointing must recompute it exactly."""
    import copy

    import numpy as np

    from tempo_kit.grad import Checkpointed

    denoiser = copy.deepcopy(gen.denoiser).double()
    eps = torch.randn(gen.shape, generator=seed(), dtype=torch.float64)
    runs = [DITTO(iterations=3, steps=np.int64(6), sampler="dpmpp-2m", grad=grad, lr=LR, progress=False)(
        denoiser, tasks["intensity", 0], eps=eps) for grad in (Backprop(), Checkpointed())]
    assert runs[0].sigma_max == 80.0  # numpy's int is a step count, not a sigma
    assert not torch.equal(runs[0].eps, eps)  # the optimisation moved
    torch.testing.assert_close(runs[1].eps, runs[0].eps, rtol=0, atol=1e-10)
    torch.testing.assert_close(runs[1].loss_history, runs[0].loss_history, rtol=1e-10, atol=0)
    assert (runs[0].nfe_optimization, runs[1].nfe_optimization) == (3 * 6, 2 * 3 * 6)


@pytest.mark.parametrize("K", [0, 1, 7, 8, 16, 70, 150, 201])
def test_adaptive_m_schedule_sums_to_k(K):
    ms = adaptive_m_schedule(K)
    assert len(ms) == K and list(ms) == sorted(ms)
    assert (ms.count(2), ms.count(4)) == ((3 * K) // 8, K // 8)
    if K == 70:
        assert (ms.count(1), ms.count(2), ms.count(4)) == (36, 26, 8)


def test_adaptive_run_spends_one_call_per_surrogate_jump(gen, tasks):
    K, T = 16, 2
    r = DITTO2(iterations=K, decode_steps=T, surrogate_steps="adaptive", progress=False)(
        gen.ctm_jump, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert r.m_schedule == adaptive_m_schedule(K) and r.nfe_optimization == sum(r.m_schedule) == 28
    assert r.backward_optimization == 28
    assert r.nfe_decoding == T


# -------------------------------------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("task", TOY_TASKS)
def test_every_task_is_controlled(gen, tasks, task):
    objectives = tasks[task, 0]
    name = objectives[0].name
    before = run2(gen, objectives, iterations=0)
    after = run2(gen, objectives)
    hist = after.loss_history
    assert hist.shape == (25,) and after.objective_history[name].shape == (25,)
    assert hist[-1] <= 0.5 * hist[0], f"{task}: loss fell only from {hist[0]:.4g} to {hist[-1]:.4g}"
    # the decoded output's feature moved toward the target
    assert after.final_losses[name] <= 0.5 * before.final_losses[name]
    if task == "looping-free":  # its target is always "the two edges agree": no second target to compare with
        return
    other = run2(gen, tasks[task, 1])
    own_loss = objectives[0](after.output)[0]
    cross_loss = objectives[0](other.output)[0]
    assert cross_loss > 2 * own_loss, f"{task}: a different target did not give a clearly different output"
    assert (after.output - other.output).abs().mean() > 0.02


def test_melody_accuracy_exceeds_80_percent(gen, tasks):
    objectives = tasks["melody", 0]
    r = run2(gen, objectives, iterations=80)
    target = objectives[0].target.value
    assert (target >= 0).all() and target.numel() == gen.shape[-1]  # a note in every frame, changing every frame
    acc = float(melody_accuracy(r.features["melody"], target))
    before = float(melody_accuracy(run2(gen, objectives, iterations=0).features["melody"], target))
    assert acc > 0.8 and before < 0.3


def test_ctm_gamma_decoding_keeps_the_control(gen, tasks):
    objectives = tasks["intensity", 0]
    kw = {"decode_steps": 2, "sampler": CTMGamma(gamma=0.05)}
    before, after = run2(gen, objectives, iterations=0, **kw), run2(gen, objectives, **kw)
    # a 2-step decode drifts from the 1-step surrogate (DITTO-2 Sec. 5.1), but still moves toward the target
    assert after.final_losses["intensity"] < 0.8 * before.final_losses["intensity"]


def test_ditto_through_the_full_sampler_is_controlled(gen, tasks):
    objectives = tasks["intensity", 0]
    r = DITTO(iterations=20, steps=4, lr=LR, progress=False)(gen.denoiser, objectives, shape=gen.shape, generator=seed())
    assert r.loss_history[-1] <= 0.5 * r.loss_history[0]
    assert r.final_losses["intensity"] == pytest.approx(float(r.loss_history[-1]), rel=0.5)
    assert torch.allclose(r.x_T, r.sigma_max * r.eps) and r.sigma_max == pytest.approx(80.0)


def test_multi_objective_histories(gen, tasks):
    objectives = tasks["intensity", 0] + tasks["inpainting", 0]
    r = run2(gen, objectives, iterations=10)
    assert r.weights == {"intensity": 1 / 40, "inpainting": 1.0}  # DITTO App. H
    total = r.weights["intensity"] * r.objective_history["intensity"] + r.objective_history["inpainting"]
    assert torch.allclose(r.loss_history, total, rtol=1e-5)


# ------------------------------------------------------------------------------------------ fixed noise, priors, ...
def test_per_step_noise_is_held_fixed(gen, tasks):
    objectives = tasks["intensity", 0]
    tiny = {"lr": 1e-12, "iterations": 4, "progress": False}
    cm = DITTO2(surrogate_steps=2, **tiny)(gen.cm_jump, objectives, shape=gen.shape, generator=seed())
    churn = DITTO(sampler=EDMSampler(heun=False, s_churn=5.0), steps=3, **tiny)(
        gen.denoiser, objectives, shape=gen.shape, generator=seed())
    for r in (cm, churn):  # eps barely moves, so a fresh noise draw per iteration would show in the loss
        assert torch.allclose(r.loss_history, r.loss_history[0].expand(4), rtol=1e-6)
    again = DITTO2(surrogate_steps=2, **tiny)(gen.cm_jump, objectives, shape=gen.shape, generator=seed())
    assert torch.equal(again.output, cm.output)


def test_norm_priors(gen):
    loud = Intensity(window_s=0.25)
    objectives = [Objective(extractor=loud, loss=mse,
                            target=intensity_curve("constant", n_frames=48, extractor=loud, high_db=0.0))]
    d = math.prod(gen.shape[1:])
    projected = run2(gen, objectives, iterations=10, norm_prior="project")
    assert projected.eps.flatten(1).norm(dim=1).item() == pytest.approx(math.sqrt(d), rel=1e-5)
    free = run2(gen, objectives, iterations=30, lr=0.1)
    kept = run2(gen, objectives, iterations=30, lr=0.1, norm_prior="penalty", prior_weight=100.0)
    assert kept.prior_history.shape == (30,) and free.prior_history is None
    shell = lambda r: abs(float(r.eps.pow(2).mean()) - 1)  # noqa: E731
    assert shell(kept) < 0.5 * shell(free)


def _steps(optimizer_cls, grad: torch.Tensor, n: int = 5, **kw) -> torch.Tensor:
    """The parameter after ``n`` steps of ``optimizer_cls`` from 0 with the fixed gradient ``grad``."""
    p = torch.zeros_like(grad, requires_grad=True)
    opt = optimizer_cls([p], **kw)
    for _ in range(n):
        p.grad = grad.clone()
        opt.step()
    return p.detach()


def test_sample_adam_is_adam_with_one_second_moment_per_sample():
    from tempo_kit.control.ditto import SampleAdam

    g = torch.randn(3, 1, dtype=torch.float64)
    # one coordinate per sample: the per-sample second moment is Adam's own
    assert torch.allclose(_steps(SampleAdam, g, lr=0.1), _steps(torch.optim.Adam, g, lr=0.1), rtol=1e-12)
    # a coordinate with a 1000x smaller gradient moves 1000x less (Adam moves it as far as the others)
    g = torch.ones(2, 4, dtype=torch.float64)
    g[:, 2:] = 1e-3
    sample, adam = _steps(SampleAdam, g, lr=0.1), _steps(torch.optim.Adam, g, lr=0.1)
    assert torch.allclose(sample[:, 2:] / sample[:, :2], torch.full((2, 2), 1e-3, dtype=torch.float64))
    assert torch.allclose(adam[:, 2:], adam[:, :2], rtol=1e-3)
    # the samples of a batch stay independent problems: a sample's steps do not depend on the others' gradients
    g = torch.randn(4, 6, dtype=torch.float64)
    batch = _steps(SampleAdam, g * torch.tensor([1.0, 1e3, 1e-3, 1.0], dtype=torch.float64)[:, None], lr=0.1)
    assert torch.allclose(batch[:1], _steps(SampleAdam, g[:1], lr=0.1), rtol=1e-12)
    # a 1-D parameter is a batch of one-coordinate samples: Adam itself
    g = torch.randn(5, dtype=torch.float64)
    assert torch.allclose(_steps(SampleAdam, g, lr=0.1), _steps(torch.optim.Adam, g, lr=0.1), rtol=1e-12)
    with pytest.raises(ValueError, match="sample dimension"):
        SampleAdam([torch.zeros((), requires_grad=True)])
    with pytest.raises(ValueError, match="betas in"):
        SampleAdam([torch.zeros(2, requires_grad=True)], betas=(0.9, 1.0))


def test_optimizer_choice(gen, tasks):
    objectives = tasks[("intensity", 0)]
    sample = run2(gen, objectives, iterations=5, lr=0.05, optimizer="adam-sample")
    adam = run2(gen, objectives, iterations=5, lr=0.05)
    assert not torch.equal(sample.eps, adam.eps) and sample.loss_history[-1] < sample.loss_history[0]
    with pytest.raises(ValueError, match="optimizer must be one of"):
        DITTO2(optimizer="sgd")
    with pytest.raises(ValueError, match="adam-sample"):
        DITTO(optimizer="Adam")


def test_decoder_hook_for_audio_domain_extractors(gen):
    ext = Intensity(domain="audio", window_s=0.25)
    n = ext.num_frames(48 * 512)
    objectives = [Objective(extractor=ext, loss=mse, target=intensity_curve("crescendo", n_frames=n, extractor=ext,
                                                                           low_db=-50, high_db=-30))]
    with pytest.raises(ValueError, match="no decoder was given"):
        run2(gen, objectives)
    voc = AdditiveDecoder()
    r = DITTO2(iterations=20, lr=LR, decode_steps=1, progress=False)(
        gen.ctm_jump, objectives, shape=gen.shape, generator=seed(), decoder=voc)
    assert r.loss_history[-1] <= 0.5 * r.loss_history[0]
    assert r.audio is not None and r.audio.shape == (1, 48 * 512)
    assert not any(p.requires_grad for p in voc.parameters())


def test_progress_bar_only_on_a_terminal(gen, tasks, capsys, monkeypatch):
    import sys

    DITTO2(iterations=2, progress=True)(gen.ctm_jump, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: no bar in logs
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    DITTO2(iterations=2, progress=True)(gen.ctm_jump, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert "DITTO-2" in capsys.readouterr().err
    DITTO2(iterations=2, progress=False)(gen.ctm_jump, tasks["intensity", 0], shape=gen.shape, generator=seed())
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------------------------------------- errors
def test_bad_inputs_give_clear_errors(gen, tasks):
    objectives = tasks["intensity", 0]
    with pytest.raises(ValueError, match="give the initial noise eps= or an output shape="):
        DITTO2(progress=False)(gen.ctm_jump, objectives)
    with pytest.raises(ValueError, match="finite"):
        DITTO2(progress=False)(gen.ctm_jump, objectives, eps=torch.full(gen.shape, float("nan")))
    with pytest.raises(TypeError, match="drives a denoiser.*got the jump EulerJump"):
        DITTO(progress=False)(gen.ctm_jump, objectives, shape=gen.shape)
    with pytest.raises(TypeError, match="drives a jump"):
        DITTO2(progress=False)(gen.denoiser, objectives, shape=gen.shape)
    with pytest.raises(ValueError, match=r"surrogate_steps \(or 'adaptive', 'decode'\) must be >= 1 and <= 20, got 0"):
        DITTO2(surrogate_steps=0)
    with pytest.raises(TypeError, match="surrogate_steps .* must be an integer, got 2.0"):
        DITTO2(surrogate_steps=2.0)
    with pytest.raises(ValueError, match="surrogate_steps"):
        DITTO2(surrogate_steps="fast")
    with pytest.raises(ValueError, match="decode_steps"):
        DITTO2(decode_steps=30)
    with pytest.raises(ValueError, match=r"norm_prior must be one of \[None, 'penalty', 'project'\], got 'sphere'"):
        DITTO2(norm_prior="sphere")
    for kwargs, error, message in (({"iterations": 1.5}, TypeError, "iterations must be an integer, got 1.5"),
                                   ({"iterations": True}, TypeError, "iterations must be an integer"),
                                   ({"iterations": "2"}, TypeError, "iterations must be an integer"),
                                   ({"lr": "0.1"}, TypeError, "lr must be a finite number"),
                                   ({"lr": float("inf")}, ValueError, "lr must be a finite number > 0, got inf"),
                                   ({"lr": 0}, ValueError, "lr must be a finite number > 0"),
                                   ({"decode_steps": 2.0}, TypeError, "decode_steps must be an integer"),
                                   ({"decode_levels": "21"}, TypeError, "decode_levels must be a sequence"),
                                   ({"decode_levels": 1.0}, TypeError, "decode_levels must be a sequence"),
                                   ({"decode_levels": {0.5: 1}}, TypeError, "decode_levels must be a sequence"),
                                   ({"decode_levels": ["a"]}, TypeError, "decode_levels must be a sequence"),
                                   ({"decode_levels": np.zeros((2, 2))}, TypeError, "decode_levels must be a sequence")):
        with pytest.raises(error, match=message):
            DITTO2(**kwargs)
    assert DITTO2(surrogate_steps=np.int64(2), iterations=np.int64(3)).surrogate_steps == 2
    with pytest.raises(ValueError, match=r"target 48 frames.*output 32 frames"):
        DITTO2(iterations=1, progress=False)(gen.ctm_jump, objectives, shape=(1, 80, 32))


def test_a_diverging_optimisation_names_the_iteration_and_the_lr(gen, tasks):
    import attrs

    calls = []

    def nan_after_first(feature, target):  # finite for the initial noise, non-finite once the noise has moved
        calls.append(1)
        return mse(feature, target) * (1.0 if len(calls) == 1 else math.nan)

    objectives = [attrs.evolve(tasks["intensity", 0][0], loss=nan_after_first)]
    with pytest.raises(FloatingPointError, match=r"non-finite loss \(nan\) at iteration 2 of 5; the optimisation "
                                                 r"diverged: try a lower lr than 0\.05"):
        run2(gen, objectives, iterations=5)
    calls.clear()
    calls.append(1)  # non-finite from the very first iteration: a bad objective, not a learning rate
    with pytest.raises(FloatingPointError, match=r"at iteration 1 of 5$"):
        run2(gen, objectives, iterations=5)
    calls.clear()  # finite through all 5 iterations, non-finite only on the final decode
    objectives = [attrs.evolve(tasks["intensity", 0][0],
                               loss=lambda f, t: mse(f, t) * (math.nan if calls.append(1) or len(calls) > 5 else 1.0))]
    with pytest.raises(FloatingPointError, match=r"in the final decode after 5 iterations; the optimised noise may "
                                                 r"have diverged: try a lower lr than 0\.05"):
        run2(gen, objectives, iterations=5)
    calls.clear()  # no iteration at all: the noise never moved, so no learning-rate hint
    calls.extend([1] * 5)
    with pytest.raises(FloatingPointError, match=r"in the final decode$"):
        run2(gen, objectives, iterations=0)


def test_count_network_calls_counts_a_routed_network_as_a_whole():
    """A RoutedNet runs its inner network block by block (never its forward): the count is of the RoutedNet."""
    from tempo_kit.control.ditto import count_network_calls
    from tempo_kit.denoisers import EDMPrecond
    from tempo_kit.models import DiT, DiTConfig
    from tempo_kit.routers import RoutedNet, router_from_spec

    net = DiT(config=DiTConfig.tiny())
    routed = EDMPrecond(net=RoutedNet(net=net, router=router_from_spec({"name": "ase", "budget": 2})))
    x = torch.randn(2, 4, 8)
    with count_network_calls(routed) as (model, counter):
        model(x, torch.ones(2))
        model(x, torch.full((2,), 0.1))
    assert counter.nfe == 2
    assert model is routed and isinstance(routed.net, RoutedNet)  # counted by a hook: the model is not changed
    assert not routed.net._forward_pre_hooks  # and the hook is gone


def test_decode_drift_is_zero_at_tiny_levels_and_names_bad_input(gen):
    from tempo_kit.control import decode_drift
    from tempo_kit.features.intensity import Intensity

    x_T = 80 * torch.randn(4, *gen.shape[1:], generator=seed())
    extractor = Intensity(mel=gen.mel) if hasattr(gen, "mel") else Intensity()
    r = decode_drift(gen.ctm_jump, CTMGamma(gamma=0.2), extractor, x_T=x_T, levels=[1e-4, 1.0, 40.0],
                     generator=seed(1))
    assert r["relative"].shape == (3,) and r["ceiling"] > 0
    assert float(r["relative"][0]) < 1e-3  # re-noising to almost nothing keeps the one-step output
    assert bool((r["drift"] >= 0).all())
    with pytest.raises(ValueError, match=r"re-noise levels must lie in \(0, sigma_max = 80\), got \[0.0, 90.0\]"):
        decode_drift(gen.ctm_jump, CTMGamma(), extractor, x_T=x_T, levels=[0.0, 1.0, 90.0])
    with pytest.raises(ValueError, match="batch of at least 2"):
        decode_drift(gen.ctm_jump, CTMGamma(), extractor, x_T=x_T[:1], levels=[1.0])


@pytest.mark.parametrize("jump, sampler", [("cm_jump", CMMultistep()), ("ctm_jump", CTMGamma(gamma=0.2))])
def test_decode_surrogate_optimises_the_returned_output(gen, tasks, jump, sampler):
    """surrogate_steps="decode": the optimised function is the decode itself (same levels and per-step noise), so the
    returned output is what the last iteration optimised, and T calls are spent per iteration."""
    K, T = 30, 2
    objectives = tasks["intensity", 0]
    name = objectives[0].name
    kw = dict(iterations=K, lr=LR, decode_steps=T, sampler=sampler, progress=False)
    model = getattr(gen, jump)
    r = DITTO2(surrogate_steps="decode", **kw)(model, objectives, shape=gen.shape, generator=seed(), cond={"w": 4.0})
    assert r.m_schedule == (T,) * K and (r.nfe_optimization, r.backward_optimization) == (K * T, K * T)
    # one more iteration at lr -> 0 from the result's noise, with the same per-step noise (the generator in the
    # state after drawing eps): its first loss is the decoded output's loss
    g = seed()
    torch.randn(gen.shape, generator=g)
    again = DITTO2(surrogate_steps="decode", **{**kw, "iterations": 1, "lr": 1e-12})(
        model, objectives, eps=r.eps, generator=g, cond={"w": 4.0})
    assert again.loss_history[0] == pytest.approx(r.final_losses[name] * again.weights[name], rel=1e-5)
    one = DITTO2(surrogate_steps=1, **kw)(model, objectives, shape=gen.shape, generator=seed(), cond={"w": 4.0})
    assert r.final_losses[name] < one.final_losses[name]
    with pytest.raises(ValueError, match="'adaptive', 'decode' or an int"):
        DITTO2(surrogate_steps="decoder")


def test_the_melody_task_can_read_the_vocoded_audio():
    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_frames
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.features import LogChroma

    tune = melody_from_frames(torch.arange(64) % 12, extractor=LogChroma())
    (obj,) = task_objectives("melody", n_frames=64, target=tune, domain="audio")
    assert obj.domain == "audio" and obj.extractor.domain == "audio"
    assert obj.target.value.shape == (65,)  # the STFT of 64 frames' audio: one more frame, without a target
    assert torch.equal(obj.target.value[:64], tune.value) and obj.target.value[64] == IGNORE_INDEX
    (random,) = task_objectives("melody", n_frames=64, domain="audio")
    assert random.target.value.shape == (65,)
    for bad, error, message in ((1.5, TypeError, "variant must be an integer, got 1.5"),
                                (True, TypeError, "must be an integer"), ("0", TypeError, "must be an integer"),
                                (-1, ValueError, "variant must be >= 0 and <= 2147483647, got -1")):
        with pytest.raises(error, match=message):
            task_objectives("intensity", n_frames=64, variant=bad)
    assert task_objectives("intensity", n_frames=64, variant=np.int64(1))[0].target.value.shape == (64,)
    mel, audio = task_objectives("melody", n_frames=64, target=tune, domain="mel+audio")
    assert (mel.domain, mel.name, mel.weight, audio.domain, audio.name, audio.weight) == (
        "mel", "melody", 0.5, "audio", "melody_audio", 0.5)
    assert torch.equal(mel.target.value, tune.value) and torch.equal(audio.target.value, obj.target.value)
    with pytest.raises(ValueError, match="intensity and melody tasks only"):
        task_objectives("structure", n_frames=64, domain="audio")
    with pytest.raises(ValueError, match="domain must be"):
        task_objectives("melody", n_frames=64, domain="latent")


def test_the_intensity_task_can_read_the_vocoded_audio():
    from tempo_kit.control.targets import intensity_from_points, melody_from_frames
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.features import Intensity, LogChroma

    curve = intensity_from_points([-40.0, -15.0, -30.0], n_frames=64, extractor=Intensity())
    (mel,) = task_objectives("intensity", n_frames=64, target=curve)
    assert mel.domain == "mel" and mel.target is curve
    (audio,) = task_objectives("intensity", n_frames=64, target=curve, domain="audio")
    assert audio.domain == "audio" and audio.extractor.domain == "audio"
    assert audio.target.value.shape == (65,)  # the STFT has one frame more: the curve's last value held
    assert torch.equal(audio.target.value[:64], curve.value) and audio.target.value[64] == curve.value[-1]
    both = task_objectives("intensity", n_frames=64, target=curve, domain="mel+audio")
    assert [(o.name, o.domain, o.weight) for o in both] == [("intensity", "mel", 0.5), ("intensity_audio", "audio", 0.5)]
    (preset,) = task_objectives("intensity", n_frames=64, domain="audio", variant=2)  # the swell, held one frame more
    assert preset.target.value.shape == (65,) and preset.target.value[64] == preset.target.value[63] == -35.0
    loss, _ = audio(torch.randn(1, 64 * 512, requires_grad=True))  # it differentiates through the waveform
    assert loss.requires_grad and torch.isfinite(loss)
    with pytest.raises(ValueError, match="needs a target of kind 'intensity', got a 'melody' target"):
        task_objectives("intensity", n_frames=64, target=melody_from_frames(torch.zeros(64, dtype=torch.long),
                                                                             extractor=LogChroma()))
    with pytest.raises(ValueError, match="takes no target of yours"):
        task_objectives("structure", n_frames=64, target=curve)
    with pytest.raises(TypeError, match="target must be a tempo_kit.control.Target"):
        task_objectives("intensity", n_frames=64, target=curve.value)
    with pytest.raises(ValueError, match="variant=1 picks a preset target"):
        task_objectives("intensity", n_frames=64, target=curve, variant=1)
    short = intensity_from_points([-30.0], n_frames=32, extractor=Intensity())
    for domain in ("audio", "mel+audio"):  # a target for another length: named in mel frames and seconds
        with pytest.raises(ValueError, match="target has 32 frames; the output has 64 mel frames"):
            task_objectives("intensity", n_frames=64, target=short, domain=domain)


def test_the_melody_task_can_keep_each_note_in_one_register():
    from tempo_kit.control.targets import melody_from_frames
    from tempo_kit.control.tasks import MELODY_OCTAVES, task_objectives
    from tempo_kit.features import LogChroma

    tune = melody_from_frames(torch.arange(64) // 8 % 12, extractor=LogChroma())
    for domain, names in (("mel", ["melody", "melody_octaves"]), ("audio", ["melody", "melody_octaves"]),
                          ("mel+audio", ["melody", "melody_audio", "melody_octaves"])):
        objectives = task_objectives("melody", n_frames=64, target=tune, domain=domain, octave_weight=2.0)
        assert [o.name for o in objectives] == names
    register = objectives[-1]
    assert (register.domain, register.weight, register.extractor.octaves) == ("mel", 2.0, MELODY_OCTAVES)
    x = torch.randn(1, 80, 64, requires_grad=True)
    loss, feature = register(x)
    assert feature.shape == (1, 12 * (MELODY_OCTAVES[1] - MELODY_OCTAVES[0] + 1), 64) and loss.requires_grad
    assert len(task_objectives("melody", n_frames=64, target=tune, octave_weight=0.0)) == 1
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="octave_weight must be a finite number >= 0"):
            task_objectives("melody", n_frames=64, octave_weight=bad)
    with pytest.raises(ValueError, match="melody task only"):
        task_objectives("intensity", n_frames=64, octave_weight=1.0)


def test_the_melody_task_can_make_each_note_start_clearly():
    from tempo_kit.control.targets import IGNORE_INDEX, melody_from_frames, note_starts
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.features import LogChroma

    pcs = torch.tensor([0] * 8 + [2] * 8 + [IGNORE_INDEX] * 4 + [2] * 8 + [4] * 36)
    tune = melody_from_frames(pcs, extractor=LogChroma())
    starts = note_starts(tune)
    assert starts.kind == "onsets" and starts.value.nonzero().flatten().tolist() == [8, 20, 28]  # 0: already sounding
    assert starts.frame_rate == tune.frame_rate
    batched = note_starts(melody_from_frames(torch.stack([pcs, pcs.roll(1)]), extractor=LogChroma()))
    assert batched.value.shape == (2, 64) and torch.equal(batched.value[0], starts.value)
    objectives = task_objectives("melody", n_frames=64, target=tune, domain="mel+audio", onset_weight=2.0)
    assert [o.name for o in objectives] == ["melody", "melody_audio", "melody_onsets"]
    onsets = objectives[-1]
    assert (onsets.domain, onsets.weight) == ("audio", 2.0)
    assert onsets.target.value.shape == (65,) and onsets.target.value[62:].sum() == 0  # nor the padded end
    late = melody_from_frames(torch.cat([pcs[:63], torch.tensor([7])]), extractor=LogChroma())
    assert note_starts(late).value[63] == 1
    assert task_objectives("melody", n_frames=64, target=late, onset_weight=1.0)[-1].target.value[63] == 0
    loss, feature = onsets(torch.randn(1, 64 * 512, requires_grad=True))
    assert feature.shape == (1, 65) and loss.requires_grad
    with pytest.raises(ValueError, match="onset_weight needs a melody of notes"):
        task_objectives("melody", n_frames=64, onset_weight=1.0)  # the random preset
    with pytest.raises(ValueError, match="onset_weight applies to the melody task only"):
        task_objectives("intensity", n_frames=64, onset_weight=1.0)
    with pytest.raises(ValueError, match="onset_weight must be a finite number >= 0"):
        task_objectives("melody", n_frames=64, onset_weight=float("nan"))
    with pytest.raises(ValueError, match="needs a melody target"):
        note_starts(objectives[-1].target)
