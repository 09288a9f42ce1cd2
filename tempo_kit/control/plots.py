"""Plots of a control run: each target next to the feature achieved, the generated output with the masked regions, and
the loss history. Uses matplotlib's object API with the Agg canvas, so no global backend is changed."""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["plot_result", "save_figure"]


def _time_axis(n: int, frame_rate: float | None):
    t = torch.arange(n, dtype=torch.float64)
    return (t / frame_rate, "time (s)") if frame_rate else (t, "frame")


def _panel_objective(fig, spec, objective, feature: torch.Tensor, final_loss: float) -> None:
    target = objective.target
    y = target.value.detach().cpu()
    f = feature.detach().cpu()[0].float()
    fr = target.frame_rate or getattr(objective.extractor, "frame_rate", None)
    title = f"{objective.name}: final loss {final_loss:.4g}"
    if not y.is_floating_point():  # class indices (melody): chroma image with the target pitch classes on top
        ax = fig.add_subplot(spec[:])
        y = y[0] if y.ndim > 1 else y
        probs = f.exp() if (f <= 0).all() else f
        t, label = _time_axis(probs.shape[-1], fr)
        extent = (float(t[0]), float(t[-1]) if len(t) > 1 else 1.0, -0.5, probs.shape[0] - 0.5)
        ax.imshow(probs.numpy(), aspect="auto", origin="lower", cmap="magma", extent=extent)
        keep = y != target.ignore_index
        octaves = getattr(objective.extractor, "octaves", None)  # LogChroma(octaves=(lo, hi)): feature 12 * o + c
        n_oct = probs.shape[0] // 12 if octaves and probs.shape[0] % 12 == 0 else 1
        for o in range(n_oct):  # the target pitch class in every octave: the image shows which one sounds
            ax.scatter(t[keep].numpy(), (y[keep] + 12 * o).numpy(), s=1 if n_oct > 1 else 8, c="cyan", marker="s",
                       alpha=0.5 if n_oct > 1 else 1.0, label="target" if o == 0 else None)
        classes = probs.reshape(n_oct, 12, -1).sum(0) if n_oct > 1 else probs
        acc = float((classes.argmax(0)[keep] == y[keep]).float().mean())
        if n_oct > 1:
            ax.set(ylabel="pitch (octaves apart)", yticks=range(0, 12 * n_oct, 12),
                   yticklabels=[f"C{octaves[0] + o}" for o in range(n_oct)])
        else:
            ax.set(ylabel="pitch class", yticks=range(12), yticklabels="C C# D D# E F F# G G# A A# B".split())
        ax.set(title=f"{title}, pitch-class accuracy {100 * acc:.1f}%", xlabel=label)
        ax.legend(loc="upper right", fontsize=7)
        return
    y = y[0] if y.ndim == f.ndim + 1 else y
    if f.ndim == 2 and f.shape[0] == 1:
        f, y = f[0], y.reshape(-1)
    if f.ndim == 1:  # a curve (intensity) or a time-less embedding (CLAP)
        ax = fig.add_subplot(spec[:])
        timed = fr is not None and target.frame_rate is not None
        t, label = _time_axis(f.shape[-1], fr if timed else None)
        ax.plot(t.numpy(), y.numpy(), "k--", label="target")
        ax.plot(t.numpy(), f.numpy(), "C1", label="achieved")
        if not timed:
            cos = float(torch.nn.functional.cosine_similarity(f, y.to(f.dtype), dim=0))
            title, label = f"{title}, cosine similarity {cos:.3f}", "dimension"
        ax.set(title=title, xlabel=label)
        ax.legend(fontsize=7)
        return
    # matrices: self-similarity (square) or masked frames, target and achieved side by side on one colour scale
    y = y.to(f.dtype).expand_as(f) if y.ndim < f.ndim else y
    lo, hi = float(min(y.min(), f.min())), float(max(y.max(), f.max()))
    for k, (name, img) in enumerate((("target", y), ("achieved", f))):
        ax = fig.add_subplot(spec[k])
        img = img.reshape(-1, img.shape[-1]) if img.ndim > 2 else img
        ax.imshow(img.numpy(), aspect="auto", origin="lower", cmap="viridis", vmin=lo, vmax=hi)
        ax.set_title(f"{objective.name} {name}" + (f" (final loss {final_loss:.4g})" if k else ""), fontsize=9)


def plot_result(result, path: str | Path | None = None, *, item: int = 0, dpi: int = 110):
    """Plot a :class:`~tempo_kit.control.ControlResult`: per objective target vs achieved feature (intensity curve,
    chroma with target pitch classes, self-similarity matrices side by side, masked frames, embeddings), the
    generated output with every target region shaded, and the loss history.

    Parameters
    ----------
    result : ControlResult
    path : str or Path, optional
        Where to save the figure (PNG, PDF, ... by extension); parent directories are created.
    item : int
        Batch item to show.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    objectives = result.objectives
    fig = Figure(figsize=(10, 2.6 * (len(objectives) + 2)))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(objectives) + 2, 2)
    for row, o in enumerate(objectives):
        feature = result.features[o.name][item:item + 1]
        _panel_objective(fig, grid[row, :].subgridspec(1, 2), o, feature, result.final_losses[o.name])

    out = result.output[item].detach().cpu().float()
    out = out.reshape(-1, out.shape[-1])
    fr = next((getattr(o.extractor, "frame_rate", None) for o in objectives
               if getattr(o.extractor, "domain", "mel") == "mel" and getattr(o.extractor, "frame_rate", None)), None)
    ax = fig.add_subplot(grid[len(objectives), :])
    right = out.shape[-1] / fr if fr else out.shape[-1]
    ax.imshow(out.numpy(), aspect="auto", origin="lower", cmap="magma", extent=(0, right, 0, out.shape[0]))
    for k, o in enumerate(objectives):
        for i, (start, end) in enumerate(o.target.regions):
            if start < 0:  # counted from the end of the output
                start, end = start + right, end + right
            ax.axvspan(start, end, color=f"C{k}", alpha=0.25, label=o.name if i == 0 else None)
    if any(o.target.regions for o in objectives):
        ax.legend(loc="upper right", fontsize=7)
    ax.set(title=f"generated output ({result.method}, {result.nfe} network calls, {result.wall_time:.2f} s)",
           xlabel="time (s)" if fr else "frame", ylabel="channel")

    ax = fig.add_subplot(grid[len(objectives) + 1, :])
    if len(result.loss_history):
        steps = range(1, len(result.loss_history) + 1)
        ax.plot(steps, result.loss_history.numpy(), "k", label="weighted total")
        if len(objectives) > 1:
            for name, hist in result.objective_history.items():
                ax.plot(steps, hist.numpy(), label=name, alpha=0.8)
        if result.prior_history is not None:
            ax.plot(steps, result.prior_history.numpy(), ":", label="norm prior")
        if (result.loss_history > 0).all():
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set(title="loss history (surrogate output)" if result.method == "ditto-2" else "loss history",
           xlabel="iteration", ylabel="loss")
    return save_figure(fig, path, dpi=dpi)


def save_figure(fig, path=None, *, dpi: int = 100, tight: bool = True):
    """Lay out ``fig`` (``tight_layout`` unless ``tight`` is False: the caller placed the axes) and write it to ``path``
    (parent folders created) when a path is given; returns ``fig``."""
    from ..utils import atomic_path

    if tight:
        fig.tight_layout()
    if path is not None:
        # PNGs at zlib level 1: a third of the write time, files ~10% larger
        png = {"pil_kwargs": {"compress_level": 1}} if str(path).endswith(".png") else {}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, **png)
    return fig
