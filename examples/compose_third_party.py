"""Compose a built-in control with a third-party one: intensity (tempo_kit) + brightness (tempo-kit-extra-controls).

DITTO-2 optimizes the initial noise of a bundled distilled model so that the output gets louder (a crescendo,
tempo_kit's intensity feature) while it gets darker (falling spectral centroid, the ``spectral-centroid`` extractor of
the separately installed ``tempo-kit-extra-controls`` plugin). Both are looked up by name; tempo_kit knows nothing
about the plugin, and ``Pipeline.control`` takes the objectives as a list.

Usage::

    pip install ./plugins/tempo-kit-extra-controls      # once
    python examples/compose_third_party.py [--fast] [--model ctm] [--out outputs/compose_third_party.png]

Without the plugin installed, the script loads it from this checkout's source tree (and says so).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

import tempo_kit
from tempo_kit import Pipeline
from tempo_kit.clips import save_wav
from tempo_kit.control import Objective, intensity_curve
from tempo_kit.registry import Registry, UnknownComponentError

ROOT = Path(__file__).resolve().parents[1]


def registry() -> Registry:
    """The process registry when the plugin is installed, else one with the plugin loaded from the source tree."""
    try:
        tempo_kit.get_registry().entry("extractors", "spectral-centroid")
        return tempo_kit.get_registry()
    except UnknownComponentError:
        print("tempo-kit-extra-controls is not installed; loading it from plugins/tempo-kit-extra-controls "
              "(pip install ./plugins/tempo-kit-extra-controls to use it like any installed plugin)")
        sys.path.insert(0, str(ROOT / "plugins" / "tempo-kit-extra-controls"))
        from tempo_kit_extra_controls import plugin

        return Registry(plugins=[plugin])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="few iterations (CI)")
    parser.add_argument("--model", default="ctm", help="bundled distilled model (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=None, help="DITTO-2 iterations (default 100, --fast 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/compose_third_party.png", help="where to save the plot")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    iterations = (20 if args.fast else 100) if args.iterations is None else args.iterations
    reg = registry()
    pipe = Pipeline.from_pretrained(args.model)
    frames = pipe.frames()

    intensity = reg.get("extractors", "intensity", window_s=0.25)
    brightness = reg.get("extractors", "spectral-centroid", domain="mel", scale="log-hz")
    density = reg.get("extractors", "rhythmic-density", reduce="rate")  # reported, not controlled
    log_hz = torch.linspace(math.log(3000.0 + 1.0), math.log(800.0 + 1.0), frames)  # 3 kHz -> 800 Hz
    objectives = [
        Objective(extractor=intensity, loss="mse", name="intensity", weight=0.02,
                  target=intensity_curve("crescendo", n_frames=frames, extractor=intensity, low_db=-40.0,
                                         high_db=-15.0)),
        Objective(extractor=brightness, loss="mse", name="brightness", weight=1.0, target=log_hz),
    ]

    tags = {"instrument": "strings"}
    uncontrolled = pipe.control(objectives, tags=tags, iterations=0, seed=args.seed, progress=False).result
    run = pipe.control(objectives, tags=tags, iterations=iterations, seed=args.seed, progress=not args.no_progress)
    result = run.result

    with torch.no_grad():
        rates = [float(density(r.output.float())[0, 0]) for r in (uncontrolled, result)]
    for name in ("intensity", "brightness"):
        print(f"{name:>10}: loss {uncontrolled.final_losses[name]:8.3f} (uncontrolled) -> "
              f"{result.final_losses[name]:8.3f} (DITTO-2, {iterations} iterations)")
    print(f"rhythmic density (not controlled): {rates[0]:.1f} -> {rates[1]:.1f} dB/s")
    print(f"network calls: {result.nfe} ({result.nfe_optimization} optimizing + {result.nfe_decoding} decoding), "
          f"{result.wall_time:.1f} s")
    path = plot(uncontrolled, result, objectives, args.out)
    wav = save_wav(path.with_suffix(".wav"), run.audio[0], run.sample_rate)
    print(f"saved {path} and {wav}")
    return 0


def plot(uncontrolled, result, objectives, out: str) -> Path:
    """Target vs uncontrolled vs controlled feature for each objective, and the per-objective loss history."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1)
    units = {"intensity": ("dB", lambda v: v), "brightness": ("spectral centroid (Hz)", lambda v: v.exp() - 1.0)}
    for ax, o in zip(axes, objectives):
        label, to_unit = units[o.name]
        seconds = torch.arange(o.target.value.shape[-1]) / o.extractor.frame_rate
        ax.plot(seconds, to_unit(o.target.value), "k--", label="target")
        ax.plot(seconds, to_unit(uncontrolled.features[o.name][0]), color="0.6", label="uncontrolled")
        ax.plot(seconds, to_unit(result.features[o.name][0]), color="C0" if o.name == "intensity" else "C1",
                label="DITTO-2")
        ax.set(ylabel=label, title=f"{o.name} ({type(o.extractor).__module__.split('.')[0]})")
        ax.legend(loc="best", fontsize=8)
    axes[1].set_xlabel("time (s)")
    for name, history in result.objective_history.items():
        if len(history):  # none with --iterations 0
            axes[2].semilogy(history / history[0], label=name)
    axes[2].set(xlabel="iteration", ylabel="loss / initial loss", title="surrogate losses")
    if axes[2].lines:
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    sys.exit(main())
