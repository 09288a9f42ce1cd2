"""Regenerate the figures under docs/assets/ from the library itself and the bundled weights.

Usage: ``.venv/bin/python docs/gen_figures.py [NAME ...]`` (default: all). Each figure is a function below; keep every
PNG under 200 KB. ``vocoder_pairs`` also needs the music dataset (``tempo-kit data build``) and the git history (the
earlier bundled vocoders are read from :data:`EARLIER_VOCODERS`); ``listen_teachers`` the music dataset too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import tempo_kit  # noqa: E402

ASSETS = Path(__file__).resolve().parent / "assets"
DPI = 90


def _save(fig, name: str, dpi: int = DPI) -> None:
    path = ASSETS / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def demo_samples() -> None:
    """The README's main job: data, EDM Heun (40 steps) and CTM gamma-sampling (4 steps) on a 2-D Gaussian mixture."""
    from tempo_kit.testing.toy import ExactJump, GaussianMixture, energy_distance

    gen = torch.Generator().manual_seed(0)
    data = GaussianMixture.ring(components=8, radius=1.0, std=0.08)
    n = 1500
    reference = data.sample(n, generator=gen)
    x_T = 80.0 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    panels = [("data", reference)]
    for label, sampler, model, steps in [
        ("EDM Heun, 40 steps", tempo_kit.get("samplers", "heun"), data, 40),
        ("CTM gamma=0.2, 4 steps", tempo_kit.get("samplers", "ctm-gamma", gamma=0.2), ExactJump(data=data), 4),
    ]:
        x0 = sampler(model, x_T, steps, generator=gen)
        panels.append((f"{label}\nenergy distance {float(energy_distance(x0, reference)):.4f}", x0))
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), sharex=True, sharey=True)
    for ax, (label, pts) in zip(axes, panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
    fig.tight_layout()
    _save(fig, "demo_samples")


def karras_schedule() -> None:
    """Karras sigmas for a few rho values, and the decoding levels picked from the 20-step teacher grid."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    n = 20
    for rho in (1.0, 3.0, 7.0):
        s = tempo_kit.KarrasSchedule(rho=rho).sigmas(n)[:-1]
        ax1.semilogy(range(n), s, marker="o", ms=3, label=f"rho = {rho:g}")
    ax1.set_xlabel("step")
    ax1.set_ylabel("sigma")
    ax1.set_title(f"Karras schedule, {n} steps (sigma 80 to 0.002)", fontsize=9)
    ax1.legend(fontsize=8)
    grid = tempo_kit.teacher_grid(20)
    for row, steps in enumerate((1, 2, 4, 8)):
        levels = tempo_kit.decoding_sigmas(steps, grid=grid)[:-1]
        ax2.scatter(levels, [row] * len(levels), s=18)
    ax2.scatter(grid[:-1], [-1] * 20, s=8, color="gray")
    ax2.set_xscale("log")
    ax2.set_yticks([-1, 0, 1, 2, 3], ["grid (20)", "T = 1", "T = 2", "T = 4", "T = 8"])
    ax2.set_xlabel("sigma (the last level 0 is not shown)")
    ax2.set_title("decoding levels taken from the teacher grid", fontsize=9)
    fig.tight_layout()
    _save(fig, "karras_schedule")


def _control(name: str, make_objective, tags: dict, iterations: int = 40) -> None:
    """DITTO-2 on the bundled CTM at the pipeline's defaults, K = ``iterations``; ``make_objective(pipe) ->
    Objective``."""
    from tempo_kit import Pipeline

    pipe = Pipeline.from_pretrained("ctm")
    run = pipe.control([make_objective(pipe)], tags=tags, iterations=iterations, progress=False)
    path = ASSETS / f"control_{name}.png"
    run.result.plot(path, dpi=50)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def control_intensity() -> None:
    from tempo_kit.control import Objective, intensity_curve

    def make(pipe):
        ext = tempo_kit.get("extractors", "intensity")
        target = intensity_curve("swell", n_frames=pipe.frames(), extractor=ext, low_db=-35, high_db=-15)
        return Objective(extractor=ext, loss="mse", target=target)

    _control("intensity", make, {"instrument": "strings"})


def control_melody() -> None:
    from tempo_kit.control import Objective, melody_from_notes

    def make(pipe):
        ext = tempo_kit.get("extractors", "chroma")
        notes = [("C5", 1), ("E5", 1), ("G5", 1), ("E5", 1), ("C5", 2)]
        return Objective(extractor=ext, loss="nll",
                         target=melody_from_notes(notes, tempo=120, extractor=ext, n_frames=pipe.frames()))

    _control("melody", make, {"instrument": "flute"})


def control_structure() -> None:
    from tempo_kit.control import Objective, structure_from_form

    def make(pipe):
        ext = tempo_kit.get("extractors", "structure")
        return Objective(extractor=ext, loss="mse",
                         target=structure_from_form("ABA", n_frames=pipe.frames(), extractor=ext))

    _control("structure", make, {"instrument": "piano"})


def control_outpainting() -> None:
    from tempo_kit.control import Objective, reference_target
    from tempo_kit.features import MaskedReconstruction

    tags = {"instrument": "organ", "collection": "bach"}

    def make(pipe):
        reference = pipe(tags, seed=1).mel
        ext = MaskedReconstruction.outpainting(n_frames=pipe.frames(), overlap_s=1.0)
        return Objective(extractor=ext, loss="mse", target=reference_target(reference, extractor=ext, kind="outpainting"))

    _control("outpainting", make, tags)


def _ogg(name: str, y, sample_rate: int = 22050, *, normalise: bool = True) -> None:
    """Write ``docs/assets/{name}.ogg`` (Vorbis, mono; peak-normalised to 0.9 unless ``normalise`` is False, so
    players compare loudness where it matters, e.g. the intensity control)."""
    import numpy as np
    import soundfile as sf

    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if normalise:
        y = 0.9 * y / max(1e-9, float(np.abs(y).max()))
    path = ASSETS / f"{name}.ogg"
    sf.write(path, y, sample_rate, format="OGG", subtype="VORBIS")
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def mel_model_space() -> None:
    """The test synthesizer's example clip, its model-space mel, and the clip re-synthesized from the mel alone
    (Griffin-Lim), as OGG files for the audio players on the audio reference page."""
    import librosa
    import numpy as np
    import soundfile as sf

    from tempo_kit.audio import MelSpec
    from tempo_kit.testing.synth import example_music

    spec = MelSpec()
    audio = example_music(sample_rate=spec.sample_rate, duration=5.94, seed=0).astype(np.float32)
    x = spec.to_model(torch.from_numpy(audio)[None])[0]                    # (n_mels, frames) in about [-1, 1]
    power = spec.from_model(x[None])[0].numpy()
    back = librosa.feature.inverse.mel_to_audio(power, sr=spec.sample_rate, n_fft=spec.n_fft,
                                                hop_length=spec.hop_length, fmin=spec.fmin, fmax=spec.fmax,
                                                n_iter=64)
    for name, y in (("example_clip", audio), ("example_clip_from_mel", back)):
        _ogg(name, y, spec.sample_rate)
    fig, ax = plt.subplots(figsize=(9, 2.6))
    im = ax.imshow(x.numpy(), origin="lower", aspect="auto", cmap="magma",
                   extent=(0, x.shape[-1] / spec.frame_rate, 0, spec.n_mels))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    ax.set_title(f"model space: {spec.n_mels} mel bins x {x.shape[-1]} frames ({spec.frame_rate:.2f} frames/s)",
                 fontsize=9)
    fig.colorbar(im, ax=ax, pad=0.01)
    _save(fig, "example_clip_mel")


def reference_samples() -> None:
    """Clips from the bundled models for four tag sets: teacher (Heun, 40 steps), Presto-S (1 step, its recommended
    count), Presto-LS (4 steps), CM (2 steps). Same initial noise in each row."""
    from tempo_kit.pretrained import load_pretrained, tag_condition

    tags = [dict(instrument="flute", collection="essen", tempo="moderate", mode="major"),
            dict(instrument="organ", collection="bach", tempo="slow", mode="minor"),
            dict(instrument="piano", collection="essen", tempo="fast", mode="major"),
            dict(instrument="brass", collection="bach", tempo="moderate", mode="major")]
    systems = [("teacher, Heun 40", "teacher", "heun", 40), ("Presto-S, 1 step", "presto-s", "presto-s", 1),
               ("Presto-LS, 4 steps", "presto-ls", "presto-s", 4), ("CM, 2 steps", "cm", "cm", 2)]
    cond = {k: torch.cat([tag_condition(**t)[k] for t in tags]) for k in ("tags", "null")}
    x_T = 80.0 * torch.randn(len(tags), 80, 256, generator=torch.Generator().manual_seed(0))
    fig, axes = plt.subplots(len(tags), len(systems), figsize=(10, 5.5), sharex=True, sharey=True)
    for j, (title, name, sampler, steps) in enumerate(systems):
        with torch.no_grad():
            x = tempo_kit.get("samplers", sampler)(load_pretrained(name), x_T, steps, cond=cond,
                                                   generator=torch.Generator().manual_seed(1))
        for i, t in enumerate(tags):
            axes[i, j].imshow(x[i].numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-1, vmax=0.8,
                              extent=(0, 5.94, 0, 80))
            axes[0, j].set_title(title, fontsize=9)
            if j == 0:
                axes[i, 0].set_ylabel(f"{t['instrument']}, {t['collection']}\nmel bin", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    _save(fig, "reference_samples", dpi=48)


#: Vocoders of earlier commits played beside the bundled one on the vocoder page (label -> commit).
EARLIER_VOCODERS = {"previous": "2d149c8", "before": "0ebdda8"}
#: Held-out clips played on the vocoder page: the first of each (instrument, collection).
VOCODER_CLIPS = (("flute", "essen"), ("strings", "bach"), ("piano", "bach"))


def vocoder_pairs(root: str = "outputs/data/music") -> None:
    """Held-out real clips, and the same clips from their mel through the earlier and the bundled vocoders (OGG)."""
    import tempfile

    import numpy as np
    import soundfile as sf

    from tempo_kit.data import MusicDataset
    from tempo_kit.pretrained import load_pretrained

    sys.path.insert(0, str(ASSETS.parents[1] / "benchmarks"))
    from bench_vocoder import load_vocoder  # a commit's bundled vocoder, as the benchmark's git:REV rows load it

    held = MusicDataset(root, split="heldout", load_audio=True)
    idx = [next(i for i, r in enumerate(held.records) if (r["tags"]["instrument"], r["tags"]["collection"]) == key)
           for key in VOCODER_CLIPS]
    with tempfile.TemporaryDirectory() as tmp:
        vocoders = {label: load_vocoder(f"git:{commit}", Path(tmp)) for label, commit in EARLIER_VOCODERS.items()}
    vocoders["bundled"] = load_pretrained("vocoder")
    mel = held.mel[idx].float()
    samples = mel.shape[-1] * 512
    versions = {"real": held.audio[idx, :samples].float() / 32767}
    with torch.inference_mode():
        versions.update({k: v(mel)[:, 0] for k, v in vocoders.items()})
    for (instrument, collection), i in zip(VOCODER_CLIPS, range(len(idx))):
        for kind, audio in versions.items():
            _ogg(f"vocoder_{instrument}_{collection}_{kind}", audio[i].numpy())


#: Tags of the generated clips on the home page, quickstart and step-distillation page (seed 0 throughout).
LISTEN_TAGS = {"flute_essen": {"instrument": "flute", "collection": "essen", "mode": "major"},
               "strings_bach": {"instrument": "strings", "collection": "bach", "mode": "minor"}}
#: The distilled generators played at 1, 2 and 4 steps next to the teacher (flute_essen only).
LISTEN_STUDENTS = ("cm", "ctm", "presto-s", "presto-ls", "presto-s-long")


def listen_generated() -> None:
    """Clips of the bundled generators from the same tags and seed (OGG): the teacher at its default steps on both
    tag sets; each distilled generator at 1, 2 and 4 steps on ``flute_essen``, and CTM (4 steps) and the default
    generator (``presto-s-long``, 1 step) on ``strings_bach``: each at its recommended steps."""
    from tempo_kit import Pipeline

    def write(model: str, key: str, steps: int | None = None) -> None:
        pipe = Pipeline.from_pretrained(model, steps=steps)
        clips = pipe(LISTEN_TAGS[key], n=1, seed=0)
        _ogg(f"listen_{model}{'' if steps is None else f'_{steps}'}_{key}", clips.audio[0].numpy(), clips.sample_rate)

    for key in LISTEN_TAGS:
        write("teacher", key)
    for model in LISTEN_STUDENTS:
        for steps in (1, 2, 4):
            write(model, "flute_essen", steps)
    for model, steps in (("ctm", 4), ("presto-s-long", 1)):
        write(model, "strings_bach", steps)


def listen_teachers(root: str = "outputs/data/music") -> None:
    """``teacher-long`` (the bundled teacher's network trained 23,000 steps more) on the tag sets of
    :func:`listen_generated` (OGG; the teacher's own clips come from there), and a figure of two held-out clips next
    to both teachers' clips from their tags and the same noise (40 Heun steps). Needs the dataset at ``root``."""
    from tempo_kit import Pipeline
    from tempo_kit.data.dataset import MusicDataset
    from tempo_kit.metrics import frame_change
    from tempo_kit.pipeline import tag_conditions
    from tempo_kit.pretrained import load_pretrained
    from tempo_kit.samplers import EDMSampler
    from tempo_kit.schedules import karras_sigmas

    for key, tags in LISTEN_TAGS.items():
        clips = Pipeline.from_pretrained("teacher-long")(tags, n=1, seed=0)
        _ogg(f"listen_teacher-long_{key}", clips.audio[0].numpy(), clips.sample_rate)
    held = MusicDataset(root, split="heldout")
    idx = [5, 200]  # a Bach harpsichord clip and an Essen brass one
    sigmas = karras_sigmas(40)
    x_T = float(sigmas[0]) * torch.randn(len(idx), *held.mel.shape[1:], generator=torch.Generator().manual_seed(0))
    rows = [("real held-out clip", held.mel[idx].float())]
    for name in ("teacher", "teacher-long"):
        cond = tag_conditions([held.records[i]["tags"] for i in idx], model=name)
        with torch.no_grad():
            rows.append((name, EDMSampler()(load_pretrained(name), x_T, sigmas, cond=cond)))
    fig, axes = plt.subplots(len(rows), len(idx), figsize=(11, 2.2 * len(rows)), sharex=True, sharey=True)
    for r, (label, mel) in enumerate(rows):
        change = frame_change(mel)
        for c in range(len(idx)):
            axes[r, c].imshow(mel[c].numpy(), origin="lower", aspect="auto", vmin=-1, vmax=0.8, cmap="magma")
            tags = held.records[idx[c]]["tags"]
            axes[r, c].set_title(f"{label} ({tags['instrument']}, {tags['collection']}): frame change "
                                 f"{float(change[c]):.4f}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("frame (23 ms)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mel bin")
    _save(fig, "teacher_texture", dpi=48)


def _melody_audio(target, frame_rate: float, sample_rate: int = 22050):
    """The melody target as a plain tone rendering (pitch class -> MIDI 60-71, runs of frames -> notes)."""
    from tempo_kit.control.targets import IGNORE_INDEX
    from tempo_kit.testing.synth import render_notes

    pcs = target.value.tolist()
    notes, start = [], 0
    for i in range(1, len(pcs) + 1):
        if i == len(pcs) or pcs[i] != pcs[start]:
            if pcs[start] != IGNORE_INDEX:
                notes.append((60 + pcs[start], start / frame_rate, i / frame_rate, 0.8))
            start = i
    return render_notes(notes, sample_rate=sample_rate, duration=len(pcs) / frame_rate)


def listen_control() -> None:
    """DITTO-2 on the bundled CTM at the defaults (2 decoding steps, optimised through the decode): the melody target
    (a bundled tune, as a tone rendering), the same noise decoded without control, and controlled; a crescendo
    uncontrolled and controlled with the objective on the mel frames at K 200 (OGG; the task's defaults:
    :func:`listen_intensity_audio`)."""
    from tempo_kit import Pipeline
    from tempo_kit.control.tasks import task_objectives
    from tempo_kit.data.tunes import get_tune
    from tempo_kit.features.chroma import LogChroma

    pipe = Pipeline.from_pretrained("ctm")
    tune = get_tune(None)
    target = tune.target(extractor=LogChroma(), n_frames=256)
    _ogg("listen_melody_target", _melody_audio(target, tune.frame_rate))
    for kind, k, octaves in (("uncontrolled", 0, None), ("controlled_no_register", None, 0.0),
                             ("controlled", None, None)):
        run = pipe.control("melody", tags=tune.tags, target=target, iterations=k, octave_weight=octaves, seed=0,
                           progress=False)
        _ogg(f"listen_melody_{kind}", run.audio[0].numpy())
        print(kind, run.accuracy)
    _save(run.result.plot(), "listen_melody", dpi=60)
    objectives = task_objectives("intensity", n_frames=256)  # the crescendo
    for kind, k in (("uncontrolled", 0), ("controlled", None)):
        run = pipe.control(objectives, tags={"instrument": "strings"}, iterations=k, seed=0, progress=False)
        _ogg(f"listen_intensity_{kind}", run.audio[0].numpy(), normalise=False)
        print(kind, run.result.final_losses)
    _save(run.result.plot(), "listen_intensity", dpi=60)


def listen_melody_onsets() -> None:
    """The melody of :func:`listen_control` with the onset objective (``onset_weight=4``) added to the defaults, from
    the same noise (OGG); prints its accuracies and onset strength next to the defaults'."""
    import librosa

    from tempo_kit import Pipeline
    from tempo_kit.data.tunes import get_tune
    from tempo_kit.features.chroma import LogChroma

    pipe = Pipeline.from_pretrained("ctm")
    tune = get_tune(None)
    target = tune.target(extractor=LogChroma(), n_frames=256)
    for weight in (0.0, 4.0):
        run = pipe.control("melody", tags=tune.tags, target=target, onset_weight=weight, seed=0, progress=False)
        onset = librosa.onset.onset_strength(y=run.audio[0].double().numpy(), sr=run.sample_rate).mean()
        print(f"onset_weight {weight:g}: {run.accuracy}, onset strength {onset:.2f}")
    _ogg("listen_melody_controlled_onsets", run.audio[0].numpy())


def listen_intensity_audio() -> None:
    """The crescendo of :func:`listen_control` with the intensity task's defaults (the objective on the vocoded audio,
    K 60) from the same noise (OGG, not normalised); prints the loudness error of the vocoded audio (librosa RMS, dB^2)
    of both controlled clips."""
    import librosa
    import numpy as np

    from tempo_kit import Pipeline
    from tempo_kit.control.tasks import task_objectives

    pipe = Pipeline.from_pretrained("ctm")
    tags = {"instrument": "strings"}
    (objective,) = task_objectives("intensity", n_frames=256)  # the crescendo, read on the mel frames
    for label, task in (("mel objective, K 200", [objective]), ("task defaults", "intensity")):
        run = pipe.control(task, tags=tags, seed=0, progress=False)
        raw = (run.audio[0] * 10 ** (run.scaled_down_db / 20)).double().numpy()
        db = 20 * np.log10(librosa.feature.rms(y=raw, frame_length=2048, hop_length=512)[0][:256] + 1e-5)
        print(f"{label}: reads {run.objective_domains}, K {run.iterations}, audio loudness error "
              f"{np.mean((db - objective.target.value.numpy()) ** 2):.2f} dB^2, {run.cpu['control']:.1f} CPU s")
    _ogg("listen_intensity_controlled_audio", run.audio[0].numpy(), normalise=False)


def listen_structure() -> None:
    """DITTO-2 on the bundled CTM at the defaults: an ABA form, uncontrolled and controlled (OGG + plot)."""
    from tempo_kit import Pipeline
    from tempo_kit.control.tasks import task_objectives

    pipe = Pipeline.from_pretrained("ctm")
    objectives = task_objectives("structure", n_frames=256)  # ABA
    for kind, k in (("uncontrolled", 0), ("controlled", None)):
        run = pipe.control(objectives, tags={"instrument": "piano", "collection": "bach"}, iterations=k, seed=0,
                           progress=False)
        _ogg(f"listen_structure_{kind}", run.audio[0].numpy())
        print(kind, run.result.final_losses)
    _save(run.result.plot(), "listen_structure", dpi=60)


def listen_painting() -> None:
    """DITTO-2 on the bundled CTM at the defaults, uncontrolled and controlled (OGG): outpainting (the reference, then
    the new clip stitched after it from its 0.25 s overlap on), inpainting (the new clip, whose first and last 0.3 s
    should be the reference's) and reference-free looping (the clip played three times)."""
    import torch

    from tempo_kit import Pipeline
    from tempo_kit.clips import to_audio
    from tempo_kit.features import seconds_to_frames
    from tempo_kit.schedules import EDM_SIGMA_MAX

    pipe = Pipeline.from_pretrained("ctm")
    tags = {"instrument": "clarinet", "collection": "essen"}
    # the reference the painting tasks use: the same model's one-step output from the seed 1000 noise
    eps = torch.randn((1, 80, 256), generator=torch.Generator().manual_seed(1000))
    with torch.no_grad():
        reference = pipe.model(EDM_SIGMA_MAX * eps, EDM_SIGMA_MAX, 0.0, pipe.condition([tags]))
        _ogg("listen_painting_reference", to_audio(reference, pipe.vocoder)[0].numpy())
    overlap = seconds_to_frames(0.25, 22050 / 512)
    for kind, k in (("uncontrolled", 0), ("controlled", None)):
        for task in ("outpainting", "inpainting", "looping-free"):
            run = pipe.control(task, tags=tags, iterations=k, seed=0, progress=False)
            mel = run.result.output
            if task == "outpainting":
                mel = torch.cat([reference, mel[..., overlap:]], dim=-1)
            elif task == "looping-free":
                mel = torch.cat([mel[..., :-overlap]] * 2 + [mel], dim=-1)
            with torch.no_grad():
                _ogg(f"listen_{task}_{kind}", to_audio(mel, pipe.vocoder)[0].numpy())
            print(task, kind, run.result.final_losses)


def listen_layers() -> None:
    """The layer-distilled generators on the same tags and seed as :func:`listen_generated` (OGG): ASE and Presto-L
    at their default sampler and steps (Presto-LS is played by ``listen_generated``)."""
    from tempo_kit import Pipeline

    for model in ("ase", "presto-l"):
        clips = Pipeline.from_pretrained(model)(LISTEN_TAGS["flute_essen"], n=1, seed=0)
        _ogg(f"listen_{model}_flute_essen", clips.audio[0].numpy(), clips.sample_rate)


def listen_ditto() -> None:
    """The crescendo of :func:`listen_control` with plain DITTO on the bundled teacher (DPM-Solver++(2M), 20 steps,
    K = 70, lr 0.05: ``reproduce.py``'s settings for intensity) from the same initial noise (OGG, not normalised);
    prints its loss and CPU time next to DITTO-2's (the pipeline's defaults on the CTM)."""
    import time

    from tempo_kit import Pipeline
    from tempo_kit.clips import to_audio
    from tempo_kit.control import DITTO
    from tempo_kit.control.tasks import task_objectives

    tags = {"instrument": "strings"}
    objectives = task_objectives("intensity", n_frames=256)
    pipe = Pipeline.from_pretrained("teacher")
    eps = torch.randn((1, 80, 256), generator=torch.Generator().manual_seed(0))
    start = time.process_time()
    result = DITTO(iterations=70, lr=0.05, steps=20, progress=False)(pipe.model, objectives, eps=eps,
                                                                   cond=pipe.condition([tags]))
    print(f"DITTO: loss {result.final_losses}, {time.process_time() - start:.1f} CPU s")
    with torch.no_grad():
        _ogg("listen_intensity_ditto", to_audio(result.output, pipe.vocoder)[0].numpy(), normalise=False)
    run = Pipeline.from_pretrained("ctm").control(objectives, tags=tags, seed=0, progress=False)
    print(f"DITTO-2: loss {run.result.final_losses}, {run.cpu['control']:.1f} CPU s (optimisation and decode, as DITTO's)")


def listen_text() -> None:
    """Text adherence with DITTO-2 on the bundled CTM at the defaults, no tags: the same noise decoded without control
    and with the caption's bundled-CLAP similarity maximised (OGG); prints ``1 - cos`` before and after."""
    from tempo_kit import Pipeline
    from tempo_kit.control import Objective

    clap = tempo_kit.get("extractors", "mini-clap")
    caption = clap.target("A fast folk song in a major key played on flute")
    objectives = [Objective(extractor=clap, loss="cosine", target=caption, name="text")]
    pipe = Pipeline.from_pretrained("ctm")
    for kind, k in (("uncontrolled", 0), ("controlled", None)):
        run = pipe.control(objectives, iterations=k, seed=0, progress=False)
        _ogg(f"listen_text_{kind}", run.audio[0].numpy())
        print(kind, run.result.final_losses, f"scaled down {run.scaled_down_db:.1f} dB")


def listen_extra_controls() -> None:
    """The two extractors of the bundled ``tempo-kit-extra-controls`` plugin (read from ``plugins/`` when it is not
    installed) as DITTO-2 controls on the bundled CTM at the defaults, piano: uncontrolled, brighter (spectral centroid
    toward 3 kHz in every frame) and busier (onset density toward 1.5x the uncontrolled clip's) (OGG);
    prints the achieved features."""
    from tempo_kit import Pipeline
    from tempo_kit.control import Objective

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "tempo-kit-extra-controls"))
    from tempo_kit_extra_controls import OnsetDensity, SpectralCentroid, hz_to_log_hz

    pipe = Pipeline.from_pretrained("ctm")
    tags = {"instrument": "piano", "collection": "bach"}
    centroid, density = SpectralCentroid(scale="log-hz"), OnsetDensity(reduce="rate")
    base = pipe.control([Objective(extractor=centroid, loss="mse", target=torch.zeros(256), name="brightness")],
                        tags=tags, iterations=0, seed=0, progress=False)
    out = base.result.output.float()
    hz, rate = float(centroid(out).mean().exp() - 1), float(density(out).mean())
    print(f"uncontrolled: centroid {hz:.0f} Hz, onset density {rate:.2f} dB/s")
    _ogg("listen_extra_uncontrolled", base.audio[0].numpy())
    runs = {"brighter": Objective(extractor=centroid, loss="mse", target=torch.full((256,), hz_to_log_hz(3000.0)),
                                  name="brightness"),
            "busier": Objective(extractor=density, loss="mse", target=torch.tensor([1.5 * rate]),
                                name="density")}
    for kind, objective in runs.items():
        run = pipe.control([objective], tags=tags, seed=0, progress=False)
        out = run.result.output.float()
        print(f"{kind}: centroid {float(centroid(out).mean().exp() - 1):.0f} Hz, "
              f"onset density {float(density(out).mean()):.2f} dB/s")
        _ogg(f"listen_extra_{kind}", run.audio[0].numpy())


FIGURES = {f.__name__: f for f in (demo_samples, karras_schedule, control_intensity, control_melody,
                                   control_structure, control_outpainting, mel_model_space, reference_samples,
                                   vocoder_pairs, listen_generated, listen_control, listen_intensity_audio,
                                   listen_melody_onsets, listen_structure, listen_painting, listen_layers,
                                   listen_ditto, listen_text, listen_extra_controls, listen_teachers)}


def main(names: list[str]) -> None:
    torch.set_num_threads(1)  # small networks: one thread is fastest and leaves the machine usable
    ASSETS.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        raise SystemExit(f"unknown figure(s) {unknown}; valid: {sorted(FIGURES)}")
    for name in names or FIGURES:
        FIGURES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
