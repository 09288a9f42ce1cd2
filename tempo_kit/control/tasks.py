"""Ready-made control tasks by name, for any mel generator: the objectives behind ``tempo-kit control TASK``.

Each task is a list of :class:`~tempo_kit.control.Objective` on model-space mel frames with the DITTO settings
(Novack et al. 2024, Sec. 4 and App. H): intensity (a preset dB curve), melody (per-frame pitch classes, NLL on
log-chroma), structure (a form such as "ABA"), and the painting tasks (in/outpainting and looping against a reference
output, and reference-free looping).
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

from ..utils import check_int
from .targets import Target

__all__ = ["TASKS", "MELODY_DOMAINS", "MELODY_OCTAVES", "task_objectives"]

TASKS = ("intensity", "melody", "structure", "inpainting", "outpainting", "looping", "looping-free")
#: What the melody task's chroma can read (:func:`task_objectives`'s ``domain``).
MELODY_DOMAINS = ("mel", "audio", "mel+audio")
#: The octaves (C3 to B7, about 127-4066 Hz) over which ``octave_weight`` keeps each note's register.
MELODY_OCTAVES = (3, 7)


def task_objectives(name: str, *, n_frames: int, variant: int = 0, melody: Target | None = None,
                    reference: Callable[[int], torch.Tensor] | None = None, domain: str = "mel",
                    octave_weight: float = 0.0) -> list:
    """Objectives for one control task on outputs of ``n_frames`` mel frames.

    Parameters
    ----------
    name : str
        One of :data:`TASKS`.
    n_frames : int
        Output length in mel frames.
    variant : int
        Picks another target of the same task (crescendo / decrescendo / swell; "ABA" / "AAB" / "ABAB"; another
        random melody; another reference), so two runs can be compared.
    melody : Target, optional
        The melody target (e.g. a bundled tune, notes or a MIDI file); default: random pitch classes (seeded by
        ``variant``).
    reference : callable, optional
        ``reference(seed) -> (n_mels, n_frames)`` mel frames: the clip that the painting tasks continue or loop
        (in-, outpainting, looping). Required for those tasks.
    domain : {"mel", "audio", "mel+audio"}
        What the melody task's chroma reads: the mel frames, the vocoded waveform (an STFT chroma that resolves
        semitones the 80 mel bands blur; the control run then needs the vocoder as its differentiable decoder, which
        :meth:`tempo_kit.Pipeline.control` passes), or both (two objectives, ``"melody"`` on mel and
        ``"melody_audio"`` on audio, weight 1/2 each). A melody target of ``n_frames`` frames is padded with "no
        target" to the STFT's frame count. Other tasks read mel frames only.
    octave_weight : float
        Melody only: weight of one more objective, ``"melody_octaves"``, that keeps each note of the tune in one
        register (:func:`~tempo_kit.losses.octave_spread` on the mel frames' chroma over :data:`MELODY_OCTAVES`); 0
        (default) leaves it out. The pitch-class objectives say nothing of the octave, and without it the optimised
        clips jump octaves inside held notes.
    """
    from ..features.chroma import LogChroma
    from ..features.intensity import Intensity
    from ..features.masks import LoopFree, MaskedReconstruction
    from ..features.structure import MFCCSelfSimilarity
    from ..losses import mse, nll, octave_spread
    from .objective import Objective
    from .targets import IGNORE_INDEX, intensity_curve, melody_from_frames, reference_target, structure_from_form

    n = n_frames
    variant = check_int(variant, "variant", low=0)
    if domain not in MELODY_DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(MELODY_DOMAINS)}, got {domain!r}")
    if domain != "mel" and name != "melody":
        raise ValueError(f"task {name!r} reads mel frames; domain={domain!r} applies to the melody task only")
    if not (octave_weight >= 0 and octave_weight < float("inf")):
        raise ValueError(f"octave_weight must be a finite number >= 0, got {octave_weight}")
    if octave_weight and name != "melody":
        raise ValueError(f"octave_weight applies to the melody task only, not {name!r}")
    if name == "intensity":
        ext = Intensity(window_s=0.25)
        shape = ("crescendo", "decrescendo", "swell")[variant % 3]
        return [Objective(extractor=ext, loss=mse,
                          target=intensity_curve(shape, n_frames=n, extractor=ext, low_db=-35.0, high_db=-15.0))]
    if name == "melody":
        if melody is None:
            pcs = torch.randint(0, 12, (n,), generator=torch.Generator().manual_seed(100 + variant))
            melody = melody_from_frames(pcs, extractor=LogChroma())
        loss = functools.partial(nll, ignore_index=IGNORE_INDEX)
        register = [Objective(extractor=LogChroma(octaves=MELODY_OCTAVES, highpass_hz=None),
                              loss=functools.partial(octave_spread, ignore_index=IGNORE_INDEX), target=melody,
                              weight=octave_weight, name="melody_octaves")] if octave_weight else []
        if domain == "mel":
            return [Objective(extractor=LogChroma(), loss=loss, target=melody), *register]
        ext = LogChroma(domain="audio")
        m = ext.num_frames(n * ext.mel.hop_length)
        on_audio = melody
        if melody.value.shape[-1] == n < m:  # the STFT of n frames' audio has m > n frames
            pad = melody.value.new_full((*melody.value.shape[:-1], m - n), IGNORE_INDEX)
            on_audio = melody_from_frames(torch.cat([melody.value, pad], dim=-1), extractor=ext)
        if domain == "audio":
            return [Objective(extractor=ext, loss=loss, target=on_audio), *register]
        return [Objective(extractor=LogChroma(), loss=loss, target=melody, weight=0.5),
                Objective(extractor=ext, loss=loss, target=on_audio, weight=0.5, name="melody_audio"), *register]
    if name == "structure":
        ext = MFCCSelfSimilarity()
        return [Objective(extractor=ext, loss=mse,
                          target=structure_from_form(("ABA", "AAB", "ABAB")[variant % 3], n_frames=n, extractor=ext))]
    if name == "looping-free":
        ext = LoopFree(overlap_s=0.25)
        return [Objective(extractor=ext, loss=mse, target=reference_target(None, extractor=ext, kind=name))]
    builders = {
        "outpainting": lambda: MaskedReconstruction.outpainting(n_frames=n, overlap_s=0.25),
        "inpainting": lambda: MaskedReconstruction.inpainting(n_frames=n, context_s=0.3),
        "looping": lambda: MaskedReconstruction.looping(n_frames=n, overlap_s=0.25),
    }
    if name not in builders:
        raise ValueError(f"unknown control task {name!r}; valid: {', '.join(TASKS)}")
    if reference is None:
        raise ValueError(f"task {name!r} needs a reference clip: pass reference=<seed -> mel frames>")
    ext = builders[name]()
    return [Objective(extractor=ext, loss=mse, target=reference_target(reference(1000 + variant), extractor=ext,
                                                                        kind=name))]
