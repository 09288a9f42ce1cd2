"""A tiny additive synthesizer for test and demo audio that needs no download.

Notes are harmonic tones (1/k amplitudes, slight inharmonic detuning) with attack/decay/release envelopes; a little
coloured noise is added so that no STFT bin is exactly zero. Good enough to exercise spectral features on something
music-like; not a substitute for real recordings.
"""

from __future__ import annotations

import numpy as np

__all__ = ["midi_to_hz", "render_notes", "example_music"]


def midi_to_hz(pitch: float) -> float:
    """MIDI pitch -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def render_notes(
    notes,
    *,
    sample_rate: int = 22050,
    duration: float | None = None,
    n_harmonics: int = 8,
    noise_db: float = -50.0,
    seed: int = 0,
) -> np.ndarray:
    """Render ``(midi_pitch, start_s, end_s, velocity)`` notes to a mono float32 waveform in [-1, 1].

    Parameters
    ----------
    notes : iterable of (float, float, float, float)
        MIDI pitch, onset and offset in seconds, velocity in [0, 1].
    sample_rate : int
        Output sample rate in Hz.
    duration : float, optional
        Total length in seconds (default: last offset + 0.25 s).
    n_harmonics : int
        Partials per note.
    noise_db : float
        Level of the added low-passed noise relative to full scale.
    seed : int
        Seed of a local ``numpy.random.Generator`` for the noise (no global state).

    Returns
    -------
    ndarray, shape ``(samples,)``, float32.
    """
    notes = [tuple(map(float, n)) for n in notes]
    if duration is None:
        duration = max((n[2] for n in notes), default=1.0) + 0.25
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    y = np.zeros(n)
    for pitch, start, end, velocity in notes:
        f0 = midi_to_hz(pitch)
        env = np.clip((t - start) / 0.01, 0.0, 1.0) * np.exp(-2.0 * np.clip(t - start, 0.0, None))
        env *= np.clip(1.0 - (t - end) / 0.08, 0.0, 1.0)
        for k in range(1, n_harmonics + 1):
            fk = f0 * k * (1.0 + 2e-4 * k * k)
            if fk < sample_rate / 2:
                y += velocity * env * np.sin(2 * np.pi * fk * t + 0.3 * k) / k
    rng = np.random.default_rng(seed)
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    y += 10 ** (noise_db / 20) * noise / (noise.std() + 1e-12)
    peak = np.abs(y).max()
    return (y / peak * 0.8 if peak > 0.8 else y).astype(np.float32)


def example_music(*, sample_rate: int = 22050, duration: float = 6.0, seed: int = 0) -> np.ndarray:
    """About ``duration`` s of a C-major melody over a bass line, crescendo then decrescendo (float32, mono)."""
    melody = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 67]
    bass = [36, 43, 41, 43]
    step = duration / len(melody)
    notes = []
    for i, p in enumerate(melody):
        velocity = 0.15 + 0.6 * np.sin(np.pi * (i + 0.5) / len(melody))
        notes.append((p, i * step, (i + 0.9) * step, velocity))
    for i, p in enumerate(bass):
        notes.append((p, i * duration / 4, (i + 0.95) * duration / 4, 0.3))
    return render_notes(notes, sample_rate=sample_rate, duration=duration, seed=seed)
