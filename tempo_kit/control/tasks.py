"""Ready-made control tasks by name, for any mel generator: the objectives behind ``tempo-kit control TASK``.

Each task is a list of :class:`~tempo_kit.control.Objective` with the DITTO settings (Novack et al. 2024, Sec. 4 and
App. H): intensity (a dB curve), melody (per-frame pitch classes, NLL on log-chroma), structure (a form such as
"ABA"), and the painting tasks (in/outpainting and looping against a reference output, and reference-free looping).
All read model-space mel frames; intensity and melody can read the vocoded waveform instead or as well
(:data:`DOMAINS`).
"""

from __future__ import annotations

import functools
from typing import Callable

import attrs
import torch

from ..utils import check_int, check_number, did_you_mean
from .targets import Target

__all__ = ["TASKS", "DOMAINS", "DOMAIN_TASKS", "MELODY_OCTAVES", "task_objectives"]

TASKS = ("intensity", "melody", "structure", "inpainting", "outpainting", "looping", "looping-free")
#: What the objectives of a task in :data:`DOMAIN_TASKS` can read (:func:`task_objectives`'s ``domain``).
DOMAINS = ("mel", "audio", "mel+audio")
#: The tasks whose feature can also be read on the vocoded waveform; the others read mel frames only.
DOMAIN_TASKS = ("intensity", "melody")
#: The octaves (C3 to B7, about 127-4066 Hz) over which ``octave_weight`` keeps each note's register.
MELODY_OCTAVES = (3, 7)


def task_objectives(name: str, *, n_frames: int, variant: int = 0, target: Target | None = None,
                    reference: Callable[[int], torch.Tensor] | None = None, domain: str = "mel",
                    octave_weight: float = 0.0, onset_weight: float = 0.0) -> list:
    """Objectives for one control task on outputs of ``n_frames`` mel frames.

    Parameters
    ----------
    name : str
        One of :data:`TASKS`.
    n_frames : int
        Output length in mel frames.
    variant : int
        Picks another preset target of the same task (crescendo / decrescendo / swell; "ABA" / "AAB" / "ABAB";
        another random melody; another reference), so two runs can be compared.
    target : Target, optional
        Your own target for the intensity task (a dB curve of ``n_frames`` frames, e.g.
        :func:`~tempo_kit.control.intensity_from_points`) or the melody task (e.g. a bundled tune, notes or a MIDI
        file). Default: the preset of ``variant`` (a -35..-15 dB curve; random pitch classes).
    reference : callable, optional
        ``reference(seed) -> (n_mels, n_frames)`` mel frames: the clip that the painting tasks continue or loop
        (in-, outpainting, looping). Required for those tasks.
    domain : {"mel", "audio", "mel+audio"}
        What the feature of the melody or intensity task reads: the mel frames, the vocoded waveform (the control
        run then needs the vocoder as its differentiable decoder, which :meth:`tempo_kit.Pipeline.control` passes),
        or both (two objectives, e.g. ``"melody"`` on mel and ``"melody_audio"`` on audio, weight 1/2 each). On
        audio, melody reads an STFT chroma that resolves semitones the 80 mel bands blur, and intensity the loudness
        a listener hears rather than the loudness of the frames the vocoder renders. The waveform's STFT has more
        frames than ``n_frames``: a melody target is padded with "no target", an intensity curve with its last
        value. Other tasks read mel frames only.
    octave_weight : float
        Melody only: weight of one more objective, ``"melody_octaves"``, that keeps each note of the tune in one
        register (:func:`~tempo_kit.losses.octave_spread` on the mel frames' chroma over :data:`MELODY_OCTAVES`); 0
        (default) leaves it out. The pitch-class objectives say nothing of the octave, and without it the optimised
        clips jump octaves inside held notes.
    onset_weight : float
        Melody only: weight of one more objective, ``"melody_onsets"``, that makes each note of the tune start
        clearly (:func:`~tempo_kit.losses.onset_deficit` on the :class:`~tempo_kit.features.SpectralFlux` of the
        vocoded waveform at the tune's :func:`~tempo_kit.control.targets.note_starts`); 0 (default) leaves it out.
        Without it the optimised clips reach the pitch classes with notes that swell in rather than start.
    """
    from ..features.chroma import LogChroma
    from ..features.intensity import Intensity
    from ..features.masks import LoopFree, MaskedReconstruction
    from ..features.onsets import SpectralFlux
    from ..features.structure import MFCCSelfSimilarity
    from ..losses import mse, nll, octave_spread, onset_deficit
    from .objective import Objective
    from .targets import (IGNORE_INDEX, intensity_curve, melody_from_frames, note_starts, reference_target,
                          structure_from_form)

    n = n_frames
    variant = check_int(variant, "variant", low=0, high=2**31 - 1)
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    if domain != "mel" and name not in DOMAIN_TASKS:
        raise ValueError(f"task {name!r} reads mel frames; domain={domain!r} applies to the "
                         f"{' and '.join(DOMAIN_TASKS)} tasks only")
    if target is not None and name not in DOMAIN_TASKS:
        raise ValueError(f"task {name!r} takes no target of yours (only {' and '.join(DOMAIN_TASKS)} do); pass your "
                         "own Objective list instead")
    if target is not None and not isinstance(target, Target):
        raise TypeError(f"target must be a tempo_kit.control.Target (e.g. intensity_from_points(...), "
                        f"tune.target(...)), got {type(target).__name__}")
    if target is not None and variant:
        raise ValueError(f"variant={variant} picks a preset target; it cannot be combined with your own target")
    if target is not None and target.kind != name:
        raise ValueError(f"the {name} task needs a target of kind {name!r}, got a {target.kind!r} target")
    if name == "melody" and target is not None and target.value.is_floating_point() and target.value.ndim == 1:
        raise ValueError(f"a melody target of one pitch class per frame holds integers (0-11, C = 0; "
                         f"{IGNORE_INDEX} for no note), got floats of shape {tuple(target.value.shape)}: convert with "
                         ".long(), or build it with melody_from_notes / melody_from_midi")
    if target is not None and target.value.ndim > 2 and name != "melody":
        raise ValueError(f"a {name} target is (frames,) or (batch, frames), one value per frame, got shape "
                         f"{tuple(target.value.shape)}")
    for label, w in (("octave_weight", octave_weight), ("onset_weight", onset_weight)):
        w = check_number(w, label)
        if w and name != "melody":
            raise ValueError(f"{label} applies to the melody task only, not {name!r}")
    def on_waveform(target, audio_ext, pad):
        """``target`` for ``audio_ext`` on the waveform, whose STFT has ``m > n`` frames: ``pad(target.value, m - n)``
        lengthens an ``n``-frame target to it."""
        m = audio_ext.num_frames(n * audio_ext.mel.hop_length)
        if target.value.shape[-1] not in (n, m):
            raise ValueError(f"the {target.kind} target has {target.value.shape[-1]} frames; the output has {n} mel "
                             f"frames ({n / audio_ext.frame_rate:.2f} s): build the target for that length")
        if target.value.shape[-1] == n < m:
            return attrs.evolve(target, value=torch.cat([target.value, pad(target.value, m - n)], dim=-1))
        return target

    def read(mel_ext, audio_ext, target, loss, pad):
        """The task's objectives in ``domain``: ``mel_ext`` on the frames, ``audio_ext`` on the waveform."""
        on_audio = on_waveform(target, audio_ext, pad)
        if domain == "mel":
            return [Objective(extractor=mel_ext, loss=loss, target=target)]
        if domain == "audio":
            return [Objective(extractor=audio_ext, loss=loss, target=on_audio)]
        return [Objective(extractor=mel_ext, loss=loss, target=target, weight=0.5),
                Objective(extractor=audio_ext, loss=loss, target=on_audio, weight=0.5, name=f"{name}_audio")]

    if name == "intensity":
        ext = Intensity(window_s=0.25)
        if target is None:
            shape = ("crescendo", "decrescendo", "swell")[variant % 3]
            target = intensity_curve(shape, n_frames=n, extractor=ext, low_db=-35.0, high_db=-15.0)
        return read(ext, Intensity(domain="audio", window_s=0.25), target, mse,
                    lambda v, k: v[..., -1:].expand(*v.shape[:-1], k))
    if name == "melody":
        preset = target is None
        if target is None:
            pcs = torch.randint(0, 12, (n,), generator=torch.Generator().manual_seed(100 + variant))
            target = melody_from_frames(pcs, extractor=LogChroma())
        loss = functools.partial(nll, ignore_index=IGNORE_INDEX)
        register = [Objective(extractor=LogChroma(octaves=MELODY_OCTAVES, highpass_hz=None),
                              loss=functools.partial(octave_spread, ignore_index=IGNORE_INDEX), target=target,
                              weight=octave_weight, name="melody_octaves")] if octave_weight else []
        if onset_weight:
            if preset:
                raise ValueError("onset_weight needs a melody of notes (a tune, notes or a MIDI file): the random "
                                 "preset changes pitch class at almost every frame")
            flux = SpectralFlux(domain="audio")
            starts = note_starts(target)
            value = starts.value.clone()  # the zero-padded end of the clip rises without a note: no starts there
            value[..., max(n - flux.mel.n_fft // (2 * flux.mel.hop_length), 0):] = 0
            if not bool(value.any()):
                import warnings

                warnings.warn("onset_weight: the melody changes pitch class nowhere inside the clip (repeated notes are "
                              "not told apart from held ones), so the onset objective has nothing to act on",
                              stacklevel=2)
            starts = on_waveform(attrs.evolve(starts, value=value), flux, lambda v, k: v.new_zeros((*v.shape[:-1], k)))
            register.append(Objective(extractor=flux, loss=onset_deficit, target=starts, weight=onset_weight,
                                      name="melody_onsets"))
        return [*read(LogChroma(), LogChroma(domain="audio"), target, loss,
                      lambda v, k: v.new_full((*v.shape[:-1], k), IGNORE_INDEX)), *register]
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
        raise ValueError(f"unknown control task {name!r}{did_you_mean(name, TASKS)}; valid: {', '.join(TASKS)}")
    if reference is None:
        raise ValueError(f"task {name!r} needs a reference clip: pass reference=<seed -> mel frames>")
    ext = builders[name]()
    return [Objective(extractor=ext, loss=mse, target=reference_target(reference(1000 + variant), extractor=ext,
                                                                        kind=name))]
