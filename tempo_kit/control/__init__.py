"""Inference-time control: objectives, targets, DITTO and DITTO-2.

A control task is a list of :class:`Objective` (extractor + loss + target + weight); :class:`DITTO` optimises the
initial noise through a full sampler, :class:`DITTO2` through a one-step (or adaptive M-step) distilled surrogate and
then decodes with a few-step jump sampler. Both return a :class:`ControlResult` with a ``plot`` method.
"""

from .ditto import DITTO, DITTO2, ControlResult, adaptive_m_schedule, count_network_calls
from .drift import decode_drift, plot_drift
from .objective import Objective, check_objectives, evaluate_objectives, resolve_weights
from .plots import plot_result
from .targets import (
    IGNORE_INDEX,
    Target,
    feature_target,
    intensity_curve,
    intensity_from_points,
    intensity_from_audio,
    melody_from_audio,
    melody_from_frames,
    melody_from_midi,
    melody_from_notes,
    note_number,
    note_starts,
    read_midi,
    reference_target,
    structure_from_audio,
    structure_from_form,
)

__all__ = [
    "ControlResult",
    "DITTO",
    "DITTO2",
    "IGNORE_INDEX",
    "Objective",
    "Target",
    "adaptive_m_schedule",
    "check_objectives",
    "count_network_calls",
    "decode_drift",
    "evaluate_objectives",
    "feature_target",
    "intensity_curve",
    "intensity_from_points",
    "intensity_from_audio",
    "melody_from_audio",
    "melody_from_frames",
    "melody_from_midi",
    "melody_from_notes",
    "note_number",
    "note_starts",
    "plot_drift",
    "plot_result",
    "read_midi",
    "reference_target",
    "resolve_weights",
    "structure_from_audio",
    "structure_from_form",
]
