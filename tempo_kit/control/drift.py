"""How much of a one-step output survives a multi-step decode: the consistency diagnostic of DITTO-2's decoding.

DITTO-2 optimises the initial noise ``x_T`` so that the *one-step* surrogate output ``G(x_T, sigma_max, 0)`` meets a
control target, then decodes the same ``x_T`` in ``T`` steps. Each step after the first re-noises the current estimate
to a level ``s`` and jumps again; what the first jump achieved survives only as far as the second jump keeps it.
:func:`decode_drift` measures that: for each first re-noise level ``s`` it decodes ``[sigma_max, s, 0]`` from the same
``x_T`` and compares the features of the decode with the features of the one-step output, next to the distance
between the one-step outputs of *independent* ``x_T`` (the ceiling: nothing kept).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..samplers import Sampler, draw_noise
from ..schedules import EDM_SIGMA_MAX

__all__ = ["decode_drift", "plot_drift"]


@torch.no_grad()
def decode_drift(jump: nn.Module, sampler: Sampler, extractor: nn.Module, *, x_T: torch.Tensor,
                 levels: Sequence[float], cond: Any = None, sigma_max: float = EDM_SIGMA_MAX,
                 decoder: nn.Module | None = None, generator: torch.Generator | None = None) -> dict:
    """Feature drift of a 2-step decode ``[sigma_max, s, 0]`` from the 1-step output, for each level ``s``.

    Parameters
    ----------
    jump : Jump
        The surrogate (e.g. a bundled CM or CTM model).
    sampler : Sampler
        The jump sampler that decodes (``CMMultistep``, ``CTMGamma``, ...).
    extractor : nn.Module
        Any differentiable feature extractor (``Intensity``, ``LogChroma``, a plugin's); it reads the jump's output,
        or ``decoder(output)`` when ``decoder`` is given (audio-domain extractors).
    x_T : Tensor, shape ``(batch, channels, frames)``
        Initial states at ``sigma_max``; ``batch >= 2`` (the ceiling pairs item ``i`` with item ``i + 1``).
    levels : sequence of float
        First re-noise levels ``s``, each in ``(0, sigma_max)``.
    cond : Any
        Conditioning of the jump (sliced along the batch like ``x_T``).
    generator : torch.Generator, optional
        Source of the re-noising noise (one draw shared by every level).

    Returns
    -------
    dict
        ``levels``: the levels; ``drift``: mean squared feature difference (per element) of each 2-step decode from
        the 1-step output, shape ``(len(levels),)``; ``drift_per_item``: shape ``(len(levels), batch)``;
        ``ceiling``: the same distance between the 1-step outputs of neighbouring items (independent ``x_T``);
        ``relative``: ``drift / ceiling`` (0: the decode keeps everything, about 1: it keeps nothing).
    """
    if x_T.ndim < 2 or x_T.shape[0] < 2:
        raise ValueError(f"decode_drift needs a batch of at least 2 initial states, got shape {tuple(x_T.shape)}")
    levels = [float(s) for s in levels]
    bad = [s for s in levels if not 0 < s < sigma_max]
    if bad:
        raise ValueError(f"re-noise levels must lie in (0, sigma_max = {sigma_max:g}), got {bad}")

    def features(x0: torch.Tensor) -> torch.Tensor:
        out = extractor(decoder(x0) if decoder is not None else x0)
        return out.float().flatten(1)

    one = sampler(jump, x_T, torch.tensor([sigma_max, 0.0], dtype=torch.float64), cond=cond, generator=generator)
    f_one = features(one)
    noise = draw_noise(2, x_T, generator)
    per_item = []
    for s in levels:
        sigmas = torch.tensor([sigma_max, s, 0.0], dtype=torch.float64)
        two = sampler(jump, x_T, sigmas, cond=cond, noise=noise if sampler.needs_noise else None)
        per_item.append((features(two) - f_one).pow(2).mean(1))
    per_item = torch.stack(per_item)
    ceiling = float((f_one - f_one.roll(1, 0)).pow(2).mean())
    drift = per_item.mean(1)
    return {"levels": levels, "drift": drift, "drift_per_item": per_item, "ceiling": ceiling,
            "relative": drift / max(ceiling, 1e-12)}


def plot_drift(results: dict[str, dict], path=None, *, title: str = "", ylabel: str = "feature drift / ceiling"):
    """Relative drift against the first re-noise level for several ``{label: decode_drift(...)}`` results."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import save_figure

    fig = Figure(figsize=(6.4, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, r in results.items():
        ax.plot(r["levels"], r["relative"].tolist(), marker="o", ms=3, label=label)
    ax.axhline(1.0, color="0.5", ls=":", lw=1, label="independent sample")
    ax.set_xscale("log")
    ax.set_xlabel("first re-noise level s (2-step decode [sigma_max, s, 0])")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
