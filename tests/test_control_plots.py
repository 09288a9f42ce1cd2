"""Plots of a control run (every panel kind in one multi-objective run) and the ``tempo-kit control`` command."""

import json

import torch

from tempo_kit.cli import main
from tempo_kit.control import DITTO2
from tempo_kit.testing.control import toy_generator, toy_task


def test_plot_every_panel_kind(tmp_path):
    gen = toy_generator(frames=32, hidden=16)
    objectives = [o for t in ("intensity", "melody", "structure", "inpainting", "looping-free")
                  for o in toy_task(t, generator=gen)]
    r = DITTO2(iterations=3, lr=0.05, progress=False, norm_prior="penalty")(
        gen.ctm_jump, objectives, shape=gen.shape, generator=torch.Generator().manual_seed(0))
    fig = r.plot(tmp_path / "sub" / "all.png")
    assert (tmp_path / "sub" / "all.png").stat().st_size > 10_000
    titles = " ".join(ax.get_title() for ax in fig.axes)
    for word in ("accuracy", "structure target", "inpainting achieved", "generated output", "loss history"):
        assert word in titles
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "norm prior" in labels and "inpainting" in labels and "looping-free" in labels


def test_the_register_objective_is_drawn_by_octave_with_its_pitch_class_accuracy(tmp_path):
    from tempo_kit.control.tasks import task_objectives

    gen = toy_generator(frames=32, hidden=16)
    objectives = task_objectives("melody", n_frames=32, octave_weight=1.0)
    r = DITTO2(iterations=2, lr=0.05, progress=False)(gen.ctm_jump, objectives, shape=gen.shape,
                                                      generator=torch.Generator().manual_seed(0))
    fig = r.plot(tmp_path / "octaves.png")
    ax = next(ax for ax in fig.axes if ax.get_title().startswith("melody_octaves"))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C3", "C4", "C5", "C6", "C7"]
    folded = r.features["melody_octaves"][0].exp().reshape(5, 12, -1).sum(0).argmax(0)
    target = objectives[0].target.value.reshape(-1)
    keep = target != objectives[0].target.ignore_index
    assert f"pitch-class accuracy {100 * float((folded[keep] == target[keep]).float().mean()):.1f}%" in ax.get_title()


def test_control_command_writes_plot_and_summary(tmp_path, capsys):
    assert main(["control", "looping-free", "--model", "toy", "--iterations", "4", "--frames", "32", "--quiet", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "looping-free_ditto2.json").read_text())
    assert summary["nfe_optimization"] == 4 and summary["nfe_decoding"] == 1
    assert summary["last_loss"] < summary["first_loss"]
    assert (tmp_path / "looping-free_ditto2.png").exists()


def test_a_redrawn_spectrogram_figure_matches_a_fresh_one(tmp_path):
    import numpy as np
    from matplotlib.image import imread

    from tempo_kit.clips import plot_spectrogram

    a, b = torch.randn(80, 64, generator=torch.Generator().manual_seed(0)), torch.zeros(80, 64)
    fig = plot_spectrogram(a, tmp_path / "a.png", title="a")
    assert plot_spectrogram(b, tmp_path / "b_redrawn.png", title="b", fig=fig) is fig
    plot_spectrogram(b, tmp_path / "b_fresh.png", title="b")
    np.testing.assert_array_equal(imread(tmp_path / "b_redrawn.png"), imread(tmp_path / "b_fresh.png"))
    assert not np.array_equal(imread(tmp_path / "a.png"), imread(tmp_path / "b_fresh.png"))
    other = plot_spectrogram(torch.zeros(80, 32), fig=fig)  # another shape: a new figure
    assert other is not fig
