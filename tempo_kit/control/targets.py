"""Targets users actually have: dynamics curves, melodies, musical forms, reference audio and masks in seconds.

Every builder returns a frozen :class:`Target` holding the target feature at the extractor's frame rate, plus the
rates it was built for, so an :class:`~tempo_kit.control.Objective` can refuse a target that does not line up with its
extractor. Frame ``i`` is centred at ``t_i = i / frame_rate`` seconds (librosa's ``center=True`` convention).

Tasks and target forms follow DITTO (Novack et al. 2024, Sec. 4 and App. C, E, F): intensity is a dB curve,
melody a per-frame pitch class in 0-11 (rests are ignored), structure a self-similarity matrix from a form such as
``"ABA"``.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import struct
from pathlib import Path
from typing import Iterable, Sequence

import attrs
import torch
from torch import nn

from ..utils import check_int, check_number

__all__ = [
    "Target",
    "as_target",
    "IGNORE_INDEX",
    "PRESETS",
    "intensity_curve",
    "intensity_from_points",
    "feature_target",
    "intensity_from_audio",
    "note_number",
    "melody_from_frames",
    "melody_from_notes",
    "read_midi",
    "melody_from_midi",
    "melody_from_audio",
    "note_starts",
    "structure_from_form",
    "structure_from_audio",
    "reference_target",
    "frame_count",
]

IGNORE_INDEX = -100  # torch.nn.NLLLoss's default ignore_index: frames without a target note
PRESETS = ("crescendo", "decrescendo", "swell", "constant")


@attrs.frozen(kw_only=True, eq=False)
class Target:
    """A target feature and the rates it was built at.

    Parameters
    ----------
    value : Tensor
        The target feature, unbatched (e.g. ``(frames,)`` for intensity or melody, ``(frames, frames)`` for
        structure) or with a leading batch axis. Integer tensors are class indices (melody pitch classes), except
        for an ``"intensity"`` target, whose whole-dB integers are read as float values.
    kind : str
        Task label: ``"intensity"``, ``"melody"``, ``"structure"``, ``"outpainting"``, ... (used for default
        weights and plots).
    frame_rate : float, optional
        Frames per second of the last axis.
    sample_rate : int, optional
        Audio sample rate the feature refers to.
    n_classes : int, optional
        For class-index targets, the number of classes (12 for pitch classes).
    regions : tuple of (start_s, end_s)
        Time spans in seconds the target concerns (masked tasks); drawn in plots.
    """

    value: torch.Tensor = attrs.field(converter=torch.as_tensor)
    kind: str = "feature"
    frame_rate: float | None = None
    sample_rate: int | None = None
    n_classes: int | None = None
    ignore_index: int = IGNORE_INDEX
    regions: tuple = ()

    def __attrs_post_init__(self) -> None:
        v = self.value
        if self.kind == "intensity" and not (v.is_floating_point() or v.is_complex()):
            v = v.float()  # whole dB: values, not class indices
            object.__setattr__(self, "value", v)
        if v.numel() == 0:
            raise ValueError(f"{self.kind} target is empty")
        if self.frame_rate is not None and not (self.frame_rate > 0 and math.isfinite(self.frame_rate)):
            raise ValueError(f"{self.kind} target: frame_rate must be positive, got {self.frame_rate}")
        if v.is_floating_point() or v.is_complex():
            bad = ~torch.isfinite(v)
            if bad.any():
                first = tuple(bad.nonzero()[0].tolist()) if v.ndim else ()
                where = f" (the first at index {first[0] if len(first) == 1 else first})" if first else ""
                raise ValueError(f"{self.kind} target contains {int(bad.sum())} NaN or infinite values{where}")
        elif self.n_classes is not None:
            valid = v != self.ignore_index
            out = valid & ((v < 0) | (v >= self.n_classes))
            if out.any():
                i = out.nonzero()[0].tolist()
                raise ValueError(
                    f"{self.kind} target: classes must be in 0-{self.n_classes - 1} (or {self.ignore_index} for "
                    f"'no target'), got {int(v[tuple(i)])} at index {i}"
                )
            if not valid.any():
                raise ValueError(f"{self.kind} target: every frame is marked 'no target'")

    @property
    def n_frames(self) -> int:
        return int(self.value.shape[-1])

    @property
    def seconds(self) -> float | None:
        """Duration covered by the last axis, if the frame rate is known."""
        return None if self.frame_rate is None else self.n_frames / self.frame_rate


def as_target(value) -> Target:
    """Return ``value`` if it is a :class:`Target`, else wrap a tensor as a ``"feature"`` target."""
    return value if isinstance(value, Target) else Target(value=value)


def _rates(extractor: nn.Module | None, frame_rate: float | None, sample_rate: int | None) -> tuple[float, int | None]:
    if extractor is not None:
        frame_rate = frame_rate or getattr(extractor, "frame_rate", None)
        sample_rate = sample_rate or getattr(extractor, "sample_rate", None)
    if frame_rate is None:
        raise ValueError("give frame_rate= or an extractor= that declares frame_rate")
    return float(frame_rate), sample_rate


def frame_count(*, n_frames: int | None = None, seconds: float | None = None, frame_rate: float) -> int:
    """Resolve a length given in frames or seconds (``round(seconds * frame_rate)``)."""
    if (n_frames is None) == (seconds is None):
        raise ValueError("give exactly one of n_frames= or seconds=")
    if n_frames is None:
        n_frames = round(check_number(seconds, "seconds", positive=True) * frame_rate)
    if n_frames < 1:
        raise ValueError(f"a target needs at least one frame, got {n_frames}")
    return int(n_frames)


# ------------------------------------------------------------------------------------------------------- intensity
def intensity_curve(
    shape: str = "crescendo",
    *,
    n_frames: int | None = None,
    seconds: float | None = None,
    extractor: nn.Module | None = None,
    frame_rate: float | None = None,
    sample_rate: int | None = None,
    low_db: float = -40.0,
    high_db: float = -10.0,
) -> Target:
    """A hand-drawn dynamics curve in dB (DITTO Sec. 4.2: e.g. a crescendo).

    Parameters
    ----------
    shape : {"crescendo", "decrescendo", "swell", "constant"}
        Linear ramp up, ramp down, up-then-down (peak in the middle), or flat at ``high_db``.
    n_frames, seconds : int or float
        Length (exactly one).
    extractor : nn.Module, optional
        Intensity extractor whose ``frame_rate`` and ``sample_rate`` the curve is built for.
    low_db, high_db : float
        dB range, on the extractor's scale.

    Returns
    -------
    Target of kind ``"intensity"``, value shape ``(frames,)`` in dB.
    """
    fr, sr = _rates(extractor, frame_rate, sample_rate)
    n = frame_count(n_frames=n_frames, seconds=seconds, frame_rate=fr)
    if not (math.isfinite(low_db) and math.isfinite(high_db)):
        raise ValueError(f"low_db and high_db must be finite, got {low_db}, {high_db}")
    ramp = torch.linspace(0, 1, n, dtype=torch.float32)
    curves = {
        "crescendo": ramp,
        "decrescendo": 1 - ramp,
        "swell": 1 - (2 * ramp - 1).abs(),
        "constant": torch.ones(n),
    }
    if shape not in curves:
        raise ValueError(f"unknown intensity preset {shape!r}; valid: {', '.join(PRESETS)}")
    return Target(value=low_db + (high_db - low_db) * curves[shape], kind="intensity", frame_rate=fr, sample_rate=sr)


#: The dB range of an intensity target (:func:`intensity_from_points`): the intensity's floor (-100 dB) to full scale
#: (0 dB, the mean square of a full-scale square wave), with the margin by which :class:`~tempo_kit.features.Intensity`'s
#: smoothing overshoots both (a curve measured from a recording reaches about -105 and +8 dB): outside it no clip can
#: follow the curve.
DB_RANGE = (-120.0, 12.0)


def intensity_from_points(db: Sequence[float], *, seconds: Sequence[float] | None = None, n_frames: int,
                          extractor: nn.Module | None = None, frame_rate: float | None = None,
                          sample_rate: int | None = None) -> Target:
    """An intensity target drawn as points: dB values ``db`` at times ``seconds`` (default: evenly spread from the
    first frame to the last), linearly interpolated at every frame (held flat before the first point and after the
    last), e.g. a curve read from a CSV file.

    Returns
    -------
    Target of kind ``"intensity"``, value shape ``(n_frames,)`` in dB.
    """
    import numpy as np

    fr, sr = _rates(extractor, frame_rate, sample_rate)
    n = frame_count(n_frames=n_frames, frame_rate=fr)
    db = np.asarray(db, dtype=np.float64)
    if db.ndim > 1:
        raise ValueError(f"an intensity curve is one dB value per point, got an array of shape {db.shape}; pass the "
                         "times as seconds=")
    db = db.reshape(-1)
    if db.size == 0:
        raise ValueError("an intensity curve needs at least one dB value, got none")
    if not np.isfinite(db).all():
        bad = int((~np.isfinite(db)).sum())
        raise ValueError(f"an intensity curve's dB values must all be finite; {bad} of {db.size} are NaN or inf")
    low, high = DB_RANGE
    if db.min() < low or db.max() > high:
        out = db[np.argmax((db < low) | (db > high))]
        raise ValueError(f"intensity values are in dB relative to full scale (the loudness of a frame, e.g. -40 quiet "
                         f"to -10 loud; a full-scale sine is -3, the bundled music lies between about -98 and -19); "
                         f"{out:g} is out of range [{low:g}, {high:g}]")
    frame_times = np.arange(n) / fr
    if seconds is None:
        times = np.linspace(0.0, frame_times[-1], db.size) if db.size > 1 else np.zeros(1)
    else:
        times = np.asarray(seconds, dtype=np.float64).reshape(-1)
        if times.shape != db.shape or not np.isfinite(times).all() or (np.diff(times) <= 0).any():
            raise ValueError(f"the curve's times must be {db.size} finite, strictly increasing seconds, got "
                             f"{times.tolist()[:8]}")
        if times[0] > frame_times[-1] or times[-1] < 0:  # a flat curve, most likely milliseconds or another clip
            raise ValueError(f"every point of the curve lies outside the clip (0 to {frame_times[-1]:.2f} s): its "
                             f"times run from {times[0]:g} to {times[-1]:g}; times are seconds from the clip's start")
    value = torch.as_tensor(np.interp(frame_times, times, db), dtype=torch.float32)
    return Target(value=value, kind="intensity", frame_rate=fr, sample_rate=sr)


@torch.no_grad()
def feature_target(reference: torch.Tensor, *, extractor: nn.Module, kind: str = "feature",
                   sample_rate: int | None = None) -> Target:
    """The feature of a reference (in the extractor's input domain) as a target, e.g. structure transfer.

    ``reference`` may be unbatched; a batch of one is squeezed so the target broadcasts over any output batch.
    ``sample_rate`` is the reference's rate in Hz: audio at another rate than the extractor's is resampled to it (a
    440 Hz tone read at the wrong rate would be another pitch); mel frames at another rate are rejected. ``None``
    means the extractor's own rate.
    """
    reference = torch.as_tensor(reference, dtype=torch.float32)
    if not torch.isfinite(reference).all():
        raise ValueError(f"{kind} reference contains NaN or infinite values")
    own = getattr(extractor, "sample_rate", None)
    if sample_rate is not None and own is not None and int(sample_rate) != int(own):
        if getattr(extractor, "domain", "mel") != "audio":
            raise ValueError(f"{kind} reference: mel frames at {sample_rate} Hz cannot feed an extractor built for "
                             f"{own} Hz; compute the frames at {own} Hz")
        if not 1000 <= sample_rate <= 384_000:
            raise ValueError(f"{kind} reference: sample_rate must be an audio rate in Hz, got {sample_rate}")
        from ..audio.resample import resample

        reference = resample(reference, int(sample_rate), int(own))
    batched = reference if reference.ndim >= 2 and _looks_batched(reference, extractor) else reference.unsqueeze(0)
    value = extractor(batched)
    if value.shape[0] == 1:
        value = value[0]
    return Target(value=value.detach(), kind=kind, frame_rate=getattr(extractor, "frame_rate", None),
                  sample_rate=getattr(extractor, "sample_rate", None))


def _looks_batched(x: torch.Tensor, extractor: nn.Module) -> bool:
    # audio: (batch, samples) or (batch, channels, samples); mel/latent: (batch, channels, frames)
    domain = getattr(extractor, "domain", "mel")
    return x.ndim >= 3 or (domain == "audio" and x.ndim == 2 and x.shape[0] > 2)


def intensity_from_audio(reference: torch.Tensor, *, extractor: nn.Module, sample_rate: int | None = None) -> Target:
    """The smoothed dB curve of a reference (waveform or mel frames, as ``extractor`` reads) as an intensity target;
    ``sample_rate`` as in :func:`feature_target`."""
    t = feature_target(reference, extractor=extractor, kind="intensity", sample_rate=sample_rate)
    return attrs.evolve(t, value=t.value.reshape(-1) if t.value.ndim > 1 and t.value.shape[0] == 1 else t.value)


# ---------------------------------------------------------------------------------------------------------- melody
_NOTE_RE = re.compile(r"^\s*([A-Ga-g])([#b\u266f\u266d]*)(-?\d+)?\s*$")
_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_RESTS = ("r", "rest", "-")


def note_number(note: int | str) -> int:
    """MIDI note number of ``60``, ``"60"`` (a notes file's digits), ``"C4"``, ``"c#5"``, ``"Bb3"`` (C4 = 60; the
    octave defaults to 4)."""
    if isinstance(note, bool):
        raise TypeError(f"not a note: {note!r}")
    if isinstance(note, numbers.Integral) or (isinstance(note, numbers.Real) and float(note).is_integer()):
        n = int(note)
    elif isinstance(note, str) and note.strip().isascii() and note.strip().isdigit():
        n = int(note.strip())
    elif isinstance(note, str):
        m = _NOTE_RE.match(note)
        if m is None:
            raise ValueError(f"cannot parse note name {note!r}; use e.g. 'C4', 'F#3', 'Bb5' or a MIDI number")
        letter, accidentals, octave = m.groups()
        shift = sum(1 if a in "#\u266f" else -1 for a in accidentals)
        n = 12 * (int(octave if octave is not None else 4) + 1) + _STEPS[letter.lower()] + shift
    else:
        raise TypeError(f"a note is a MIDI number or a name such as 'C4', got {type(note).__name__}")
    if not 0 <= n <= 127:
        raise ValueError(f"note {note!r} is outside the MIDI range 0-127")
    return n


def melody_from_frames(pitch_classes: Sequence[int] | torch.Tensor, *, frame_rate: float | None = None,
                       extractor: nn.Module | None = None, sample_rate: int | None = None) -> Target:
    """A per-frame pitch-class target (0 = C ... 11 = B; ``IGNORE_INDEX`` = no target) (DITTO Sec. 4.3)."""
    try:
        value = torch.as_tensor(pitch_classes)  # a string, or a list of note names, fails here
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"pitch_classes is one integer 0-11 per frame (e.g. [0, 0, 2, 4]), got {pitch_classes!r:.60}; "
                        "for note names use melody_from_notes") from None
    if value.ndim not in (1, 2):
        raise ValueError(f"pitch classes are shaped (frames,) or (batch, frames), got shape {tuple(value.shape)}")
    if value.is_floating_point():
        if not torch.isfinite(value).all():
            raise ValueError("melody target contains NaN or infinite values")
        if (value != value.round()).any():
            raise ValueError("pitch classes must be integers 0-11")
        value = value.long()
    fr = None
    if frame_rate is not None or extractor is not None:
        fr, sample_rate = _rates(extractor, frame_rate, sample_rate)
    return Target(value=value.long(), kind="melody", frame_rate=fr, sample_rate=sample_rate, n_classes=12)


def melody_from_notes(
    notes: Iterable[tuple],
    *,
    extractor: nn.Module | None = None,
    frame_rate: float | None = None,
    sample_rate: int | None = None,
    n_frames: int | None = None,
    tempo: float | None = None,
) -> Target:
    """A melody target from a note list.

    Parameters
    ----------
    notes : iterable of (note, duration)
        ``note`` is a MIDI number, a name (``"C4"``, ``"F#3"``) or ``None`` / ``"r"`` for a rest; ``duration`` is
        in seconds, or in beats when ``tempo`` is given.
    tempo : float, optional
        Beats per minute; durations are then in beats.
    n_frames : int, optional
        Output length; longer melodies are cut, shorter ones padded with "no target" frames. Defaults to the
        melody's length.

    Returns
    -------
    Target of kind ``"melody"``, value shape ``(frames,)`` of pitch classes, ``IGNORE_INDEX`` on rests.
    """
    fr, sr = _rates(extractor, frame_rate, sample_rate)
    scale = 60.0 / check_number(tempo, "tempo (beats per minute)", positive=True) if tempo is not None else 1.0
    events, t = [], 0.0
    for item in notes:
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 2:
            raise ValueError(f"each note is a (note, duration) pair, got {item!r}")
        note, duration = item
        duration = float(duration) * scale
        if not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"note durations must be positive and finite, got {duration} for {note!r}")
        is_rest = note is None or (isinstance(note, str) and note.strip().lower() in _RESTS)
        pitch = None if is_rest else note_number(note)
        events.append((t, t + duration, pitch))
        t += duration
    if not events:
        raise ValueError("the note list is empty")
    return _melody_frames(events, fr=fr, sr=sr, n_frames=n_frames)


def _melody_frames(events: list[tuple[float, float, int | None]], *, fr: float, sr: int | None, n_frames: int | None) -> Target:
    """Frame ``i`` (time ``i / fr``) takes the pitch class of the highest note sounding then ("skyline")."""
    end = max(e for _, e, _ in events)
    n = check_int(n_frames, "n_frames", low=1) if n_frames is not None else max(1, math.ceil(end * fr - 1e-9))
    value = torch.full((n,), IGNORE_INDEX, dtype=torch.long)
    top = torch.full((n,), -1, dtype=torch.long)
    between = 0  # notes inside the clip too short to cover a frame
    for start, stop, pitch in events:
        if pitch is None:
            continue
        lo, hi = max(0, math.ceil(start * fr - 1e-9)), min(n, math.ceil(stop * fr - 1e-9))
        if hi <= lo:
            between += lo < n
            continue
        sl = slice(lo, hi)
        higher = top[sl] < pitch
        top[sl] = torch.where(higher, torch.tensor(pitch), top[sl])
    if between:
        import warnings

        many = between > 1
        warnings.warn(f"{between} note{'s' if many else ''} shorter than one frame ({1000 / fr:.0f} ms) "
                      f"fall{'' if many else 's'} between frames and {'are' if many else 'is'} left out of the melody "
                      "target", stacklevel=3)
    sounding = top >= 0
    value[sounding] = top[sounding] % 12
    if not sounding.any():
        raise ValueError("the melody has no sounding note inside the requested frames")
    return Target(value=value, kind="melody", frame_rate=fr, sample_rate=sr, n_classes=12)


def _vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise ValueError("malformed MIDI file: variable-length quantity longer than 4 bytes")


def read_midi(path: str | Path) -> list[tuple[float, float, int, int]]:
    """Read the notes of a Standard MIDI File (format 0 or 1) with a small pure-Python parser.

    Tempo changes (meta event 0x51, in any track) are honoured; running status, sysex and meta events are skipped.

    Returns
    -------
    list of (start_s, end_s, pitch, channel), sorted by start time.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"read_midi takes the path of a MIDI file, got {type(path).__name__}")
    data = Path(path).read_bytes()
    if data[:4] != b"MThd":
        raise ValueError(f"{path} is not a Standard MIDI File (missing MThd header)")
    try:
        return _parse_midi(data, path)
    except (struct.error, IndexError):  # a read past the end: the file stops inside a header, track or event
        raise ValueError(f"{path}: malformed MIDI file (truncated: it ends inside a header, track or event)") from None


def _parse_midi(data: bytes, path) -> list[tuple[float, float, int, int]]:
    hlen, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    if hlen < 6:
        raise ValueError(f"{path}: malformed MIDI file (header length {hlen} < 6)")
    if division & 0x8000:
        raise ValueError(f"{path}: SMPTE time division is not supported, only ticks per quarter note")
    if division == 0:
        raise ValueError(f"{path}: malformed MIDI file (time division 0 ticks per quarter note)")
    pos, tempos, raw = 8 + hlen, [(0, 500_000)], []
    for _ in range(ntracks):
        while data[pos:pos + 4] not in (b"MTrk", b""):  # skip unknown chunks
            pos += 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if data[pos:pos + 4] != b"MTrk":
            raise ValueError(f"{path}: expected {ntracks} tracks, found fewer")
        length = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if pos + 8 + length > len(data):
            raise ValueError(f"{path}: malformed MIDI file (a track of {length} bytes runs past the end of the file)")
        pos, end, tick, status, active = pos + 8, pos + 8 + length, 0, None, {}
        while pos < end:
            delta, pos = _vlq(data, pos)
            tick += delta
            if data[pos] & 0x80:
                status, pos = data[pos], pos + 1
            elif status is None:
                raise ValueError(f"{path}: running status without a previous status byte")
            if status == 0xFF:
                kind = data[pos]
                size, pos = _vlq(data, pos + 1)
                if kind == 0x51 and size == 3:
                    tempos.append((tick, int.from_bytes(data[pos:pos + 3], "big")))
                pos += size
                status = None
            elif status in (0xF0, 0xF7):
                size, pos = _vlq(data, pos)
                pos += size
                status = None
            else:
                kind, channel = status & 0xF0, status & 0x0F
                nbytes = 1 if kind in (0xC0, 0xD0) else 2
                args = data[pos:pos + nbytes]
                pos += nbytes
                if kind == 0x90 and args[1] > 0:
                    active.setdefault((channel, args[0]), []).append(tick)
                elif kind in (0x80, 0x90) and active.get((channel, args[0])):
                    raw.append((active[(channel, args[0])].pop(0), tick, args[0], channel))
        pos = end
    tempos.sort()

    def seconds(tick: int) -> float:
        t, last_tick, us = 0.0, 0, 500_000
        for at, new_us in tempos:
            if at >= tick:
                break
            t += (at - last_tick) * us / division / 1e6
            last_tick, us = at, new_us
        return t + (tick - last_tick) * us / division / 1e6

    return sorted((seconds(a), seconds(b), p, c) for a, b, p, c in raw if b > a)


def melody_from_midi(
    path: str | Path,
    *,
    extractor: nn.Module | None = None,
    frame_rate: float | None = None,
    sample_rate: int | None = None,
    n_frames: int | None = None,
    channel: int | None = None,
    offset: float = 0.0,
) -> Target:
    """A melody target from a MIDI file: the highest sounding note per frame ("skyline"), as pitch classes.

    Parameters
    ----------
    channel : int, optional
        Keep only this MIDI channel (0-15), e.g. the lead instrument.
    offset : float
        Seconds of the file to skip.
    """
    fr, sr = _rates(extractor, frame_rate, sample_rate)
    notes = [(s - offset, e - offset, p) for s, e, p, c in read_midi(path) if channel is None or c == channel]
    notes = [n for n in notes if n[1] > 0]
    if not notes:
        raise ValueError(f"{path}: no notes" + (f" on channel {channel}" if channel is not None else "") + " after the offset")
    return _melody_frames(notes, fr=fr, sr=sr, n_frames=n_frames)


@torch.no_grad()
def melody_from_audio(reference: torch.Tensor, *, extractor: nn.Module, sample_rate: int | None = None,
                      min_salience: float | None = None) -> Target:
    """Melody transfer: the per-frame argmax of a reference's (log-)chroma (``extractor`` returns
    ``(batch, 12, frames)``); ``sample_rate`` as in :func:`feature_target`.

    A frame whose strongest pitch class stands less than ``min_salience`` above the median class (silence, noise,
    a chord) is "no pitch" (:data:`IGNORE_INDEX`); a reference without any pitched frame is an error. The default
    (None) suits the log-chroma of :class:`~tempo_kit.features.chroma.LogChroma`: 2 on audio (silence and noise
    under 1.4, a C major triad 1.9, a sine over 4, a tone with 5 harmonics 2.7-4.6), 1.1 on mel frames, whose wide
    low bands blur a note with harmonics (noise under 0.9, the triad 1.0, a tone with 3-8 harmonics 1.2-3.3 from A3
    up).
    With a high-passed chroma (``LogChroma(highpass_hz=...)``, middle C by default) a frame that keeps under
    :data:`MIN_HIGHPASS_SHARE` of its energy above the cutoff is "no pitch" too: what the chroma reads there is the
    filters' leakage (a 220 Hz sine would read as C#), not the note. A batch of references is read from its first.
    """
    t = feature_target(reference, extractor=extractor, kind="melody", sample_rate=sample_rate)
    chroma = t.value if t.value.ndim == 2 else t.value[0]
    if chroma.shape[0] != 12:
        raise ValueError(f"a melody extractor must return 12 pitch classes on axis -2, got shape {tuple(t.value.shape)}")
    if min_salience is None:
        min_salience = 1.1 if getattr(extractor, "domain", None) == "mel" else 2.0
    salience = chroma.max(0).values - chroma.median(0).values
    pitched = salience >= min_salience
    cutoff = getattr(extractor, "highpass_hz", None)
    below = torch.zeros_like(pitched)
    if cutoff is not None and hasattr(extractor, "energy"):
        kept, total = (feature_target(reference, extractor=_FrameEnergy(ext), kind="melody", sample_rate=sample_rate)
                       .value for ext in (extractor, extractor.without_highpass()))
        below = (kept < MIN_HIGHPASS_SHARE * total).reshape(-1, chroma.shape[-1])[0]  # the item the chroma is of
    if bool(pitched.any()) and int((below & pitched).sum()) * 2 >= int(pitched.sum()):  # mostly leakage
        raise ValueError(f"the melody reference lies below the chroma's high-pass ({cutoff:.1f} Hz): the melody "
                         "objective reads pitch classes above it; transpose the recording up an octave or more")
    pcs = torch.where(pitched & ~below, chroma.argmax(0), torch.tensor(IGNORE_INDEX))
    if bool((pcs == IGNORE_INDEX).all()):
        raise ValueError("the melody reference has no pitched frame (silence, noise, or chords where no single pitch "
                         "class stands out); nothing to follow")
    return Target(value=pcs, kind="melody", frame_rate=t.frame_rate, sample_rate=t.sample_rate, n_classes=12)


#: A frame of a melody reference is read as a note only where at least this share of its chroma energy lies above the
#: chroma's high-pass (:func:`melody_from_audio`). On audio a sine below middle C keeps under 1e-4 (leakage), middle C
#: 0.38, a quiet melody over a bass ten times louder 0.035; on mel frames, whose low bands are wide, a sine at G3 keeps
#: 1e-4 but one at A3 0.07, so a pure tone between G3 and C4 given as mel frames is still read through the leakage
#: (give such a reference as audio).
MIN_HIGHPASS_SHARE = 0.01


class _FrameEnergy(nn.Module):
    """``(batch, 1, frames)``: a chroma extractor's energy summed over its rows (for :func:`feature_target`)."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor
        self.domain, self.sample_rate, self.frame_rate = (getattr(extractor, k, None) for k in
                                                          ("domain", "sample_rate", "frame_rate"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor.energy(x).sum(1, keepdim=True)


# ------------------------------------------------------------------------------------------------------- structure
def note_starts(melody: Target) -> Target:
    """Where the notes of a melody target start: 1 at a voiced frame whose pitch class differs from the frame before
    (or follows no note), 0 elsewhere; the target of :func:`~tempo_kit.losses.onset_deficit`. A note already sounding
    at the first frame does not start inside the clip (0 there). A note repeated at the same pitch class is not told
    apart from a held one (the per-frame target does not say).

    Returns
    -------
    Target of kind ``"onsets"``, float value shaped like the melody's, at its rates.
    """
    if not isinstance(melody, Target):
        raise TypeError(f"note_starts needs a melody Target (e.g. melody_from_notes(...)), got {type(melody).__name__}")
    if melody.kind != "melody":
        raise ValueError(f"note_starts needs a melody target, got a {melody.kind!r} target")
    y = melody.value
    voiced = y != melody.ignore_index
    change = torch.zeros_like(voiced)
    change[..., 1:] = (y[..., 1:] != y[..., :-1]) | ~voiced[..., :-1]
    return Target(value=(voiced & change).float(), kind="onsets", frame_rate=melody.frame_rate,
                  sample_rate=melody.sample_rate)


def structure_from_form(
    form: str,
    *,
    n_frames: int | None = None,
    seconds: float | None = None,
    extractor: nn.Module | None = None,
    frame_rate: float | None = None,
    sample_rate: int | None = None,
    same: float = 1.0,
    different: float = 0.0,
) -> Target:
    """A self-similarity target from a musical form such as ``"ABA"`` or ``"ABBA"`` (DITTO Sec. 4.4).

    The frames are split into ``len(form)`` equal sections; ``y_ij = same`` where frames ``i`` and ``j`` lie in
    sections with the same letter, ``different`` elsewhere.

    Returns
    -------
    Target of kind ``"structure"``, value shape ``(frames, frames)``.
    """
    form = form.replace(" ", "")
    if not form or not form.isalpha():
        raise ValueError(f"a form is a non-empty string of section letters such as 'ABA', got {form!r}")
    fr = sr = None
    if extractor is not None or frame_rate is not None:
        fr, sr = _rates(extractor, frame_rate, sample_rate)
    if n_frames is None and fr is None:
        raise ValueError("give n_frames=, or seconds= with a frame_rate/extractor")
    n = frame_count(n_frames=n_frames, seconds=seconds, frame_rate=fr or 1.0)
    if n < len(form):
        raise ValueError(f"form {form!r} has {len(form)} sections but only {n} frames")
    bounds = [round(k * n / len(form)) for k in range(len(form) + 1)]
    labels = torch.empty(n, dtype=torch.long)
    for k, letter in enumerate(form.upper()):
        labels[bounds[k]:bounds[k + 1]] = ord(letter)
    eq = labels[:, None] == labels[None, :]
    value = torch.where(eq, torch.tensor(float(same)), torch.tensor(float(different)))
    return Target(value=value, kind="structure", frame_rate=fr, sample_rate=sr)


def structure_from_audio(reference: torch.Tensor, *, extractor: nn.Module, sample_rate: int | None = None) -> Target:
    """Structure transfer: the self-similarity matrix of a reference (DITTO App. F); ``sample_rate`` as in
    :func:`feature_target`."""
    return feature_target(reference, extractor=extractor, kind="structure", sample_rate=sample_rate)


# ------------------------------------------------------------------------------------------------ masked references
def _runs(mask: torch.Tensor, frame_rate: float) -> tuple:
    """Contiguous True runs of a frame mask as (start_s, end_s) spans."""
    m = torch.cat([torch.zeros(1, dtype=torch.int8), mask.to(torch.int8).cpu(), torch.zeros(1, dtype=torch.int8)])
    edges = (m[1:] - m[:-1]).nonzero().flatten().tolist()
    return tuple((a / frame_rate, b / frame_rate) for a, b in zip(edges[::2], edges[1::2]))


def reference_target(reference: torch.Tensor | None, *, extractor: nn.Module, kind: str = "reconstruction") -> Target:
    """Target of a masked-reconstruction extractor (outpainting, inpainting, looping; DITTO Sec. 4.1, App. E).

    Parameters
    ----------
    reference : Tensor or None
        The reference output, e.g. mel frames ``(n_mels, frames)`` or ``(batch, n_mels, frames)``; ``None`` for
        reference-free looping.
    extractor : MaskedReconstruction or LoopFree
        From :mod:`tempo_kit.features.masks`; its ``target(reference)`` gives the frames to match.

    The constrained regions of the generated output (``extractor.gen_mask``, or both loop edges) are recorded in
    seconds for plots.
    """
    if reference is not None:
        reference = torch.as_tensor(reference, dtype=torch.float32)
        if not torch.isfinite(reference).all():
            raise ValueError(f"{kind} reference contains NaN or infinite values")
    value = extractor.target(reference)
    fr = getattr(extractor, "frame_rate", None)
    regions: tuple = ()
    if fr and getattr(extractor, "gen_mask", None) is not None:
        regions = _runs(extractor.gen_mask, fr)
    elif fr and getattr(extractor, "overlap", None):
        o = extractor.overlap / fr
        regions = ((0.0, o), (-o, 0.0))  # negative: counted from the end, resolved by the plot
    return Target(value=value, kind=kind, frame_rate=fr, sample_rate=getattr(extractor, "sample_rate", None),
                  regions=regions)
