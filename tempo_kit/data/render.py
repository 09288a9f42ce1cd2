"""Offline FluidSynth rendering of a :class:`~tempo_kit.data.corpus.NoteList` with a General MIDI soundfont.

Two backends give the same synthesis engine: ``pyfluidsynth`` (note events scheduled here, audio pulled with
``get_samples``; ~3x faster, no files) and the ``fluidsynth`` command line (a MIDI file written here, rendered with
``-F``). ``backend="auto"`` takes the first one available.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from .corpus import NoteList

PROGRAMS = {
    "piano": 0,
    "harpsichord": 6,
    "vibraphone": 11,
    "organ": 19,
    "accordion": 21,
    "guitar": 24,
    "violin": 40,
    "cello": 42,
    "harp": 46,
    "strings": 48,
    "choir": 52,
    "trumpet": 56,
    "horn": 60,
    "brass": 61,
    "oboe": 68,
    "clarinet": 71,
    "flute": 73,
    "recorder": 74,
}
"""Instrument name -> General MIDI program number (0-based)."""

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # Debian/Ubuntu timgm6mb-soundfont (6 MB)
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # fluid-soundfont-gm (140 MB)
    "/usr/share/soundfonts/default.sf2",
)
"""Where General MIDI soundfonts are looked for, in order (after the ``TEMPO_KIT_SOUNDFONT`` variable)."""

INSTALL_HINT = (
    "On Debian/Ubuntu: `sudo apt-get install --no-install-recommends fluidsynth timgm6mb-soundfont`; "
    "then `pip install 'tempo_kit[data]'` for the faster pyfluidsynth binding (optional)."
)


def check_program(name: str) -> int:
    """General MIDI program of an instrument name, with an error listing the valid names."""
    if name not in PROGRAMS:
        raise ValueError(f"unknown instrument program {name!r}; valid names: {', '.join(PROGRAMS)}")
    return PROGRAMS[name]


def find_soundfont(path: str | os.PathLike | None = None) -> Path:
    """Locate a General MIDI soundfont (``.sf2``).

    Parameters
    ----------
    path : str or path-like, optional
        Explicit soundfont; otherwise ``$TEMPO_KIT_SOUNDFONT``, then :data:`SOUNDFONT_PATHS`.

    Raises
    ------
    FileNotFoundError
        Naming the paths tried and what to install.
    """
    candidates = [path] if path is not None else [os.environ.get("TEMPO_KIT_SOUNDFONT"), *SOUNDFONT_PATHS]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    tried = ", ".join(str(c) for c in filter(None, candidates))
    raise FileNotFoundError(f"no General MIDI soundfont found (tried: {tried}). {INSTALL_HINT} "
                            "Or pass soundfont=PATH (CLI: --soundfont PATH) or set TEMPO_KIT_SOUNDFONT.")


def _events(notes: NoteList, sample_rate: int) -> list[tuple[int, int, int, int]]:
    """(sample, is_on, pitch, velocity), note-offs first at equal times so that repeated notes re-attack."""
    on = np.round(notes.onset * sample_rate).astype(np.int64)
    off = np.maximum(np.round(notes.offset * sample_rate).astype(np.int64), on + 1)
    events = [(int(t), 1, int(p), int(v)) for t, p, v in zip(on, notes.pitch, notes.velocity)]
    events += [(int(t), 0, int(p), 0) for t, p in zip(off, notes.pitch)]
    return sorted(events)


class Renderer:
    """Render note lists to mono audio with FluidSynth.

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz (FluidSynth synthesises at this rate directly).
    soundfont : str or path-like, optional
        General MIDI ``.sf2``; see :func:`find_soundfont`.
    backend : {"auto", "pyfluidsynth", "cli"}
        ``auto`` prefers pyfluidsynth and falls back to the ``fluidsynth`` command.
    gain : float
        FluidSynth master gain (low enough that four voices do not clip the 16-bit output).
    tail : float
        Seconds rendered after the last note-off (release and reverb).
    polyphony : int
        Voice limit: long releases (the string patch keeps up to 160 voices alive in a chorale) are stolen beyond
        it, which renders faster with no audible change for four-part music. At 32, stealing left stuck (silent) choir
        voices that kept the CLI's player from ever finishing; 64 left none on the chorales tried.

    Raises
    ------
    FileNotFoundError
        If no soundfont is found.
    RuntimeError
        If the requested backend (or, for ``auto``, any backend) is missing, naming what to install.
    """

    def __init__(self, *, sample_rate: int = 22050, soundfont=None, backend: str = "auto", gain: float = 0.4,
                 tail: float = 1.0, polyphony: int = 64):
        if backend not in ("auto", "pyfluidsynth", "cli"):
            raise ValueError(f"backend must be 'auto', 'pyfluidsynth' or 'cli', got {backend!r}")
        self.sample_rate, self.gain, self.tail = int(sample_rate), float(gain), float(tail)
        self.polyphony = int(polyphony)
        self.soundfont = find_soundfont(soundfont)
        self._fluidsynth = None
        if backend in ("auto", "pyfluidsynth"):
            try:
                import fluidsynth

                self._fluidsynth = fluidsynth
                self._new_synth()[0].delete()  # the library loads and reads the soundfont
            except (ImportError, OSError, AttributeError) as err:
                self._fluidsynth = None
                if backend == "pyfluidsynth":
                    raise RuntimeError(f"pyfluidsynth is unavailable ({err}). {INSTALL_HINT}") from err
        if self._fluidsynth is None and shutil.which("fluidsynth") is None:
            raise RuntimeError(f"FluidSynth is not installed (neither the library for pyfluidsynth nor the "
                               f"`fluidsynth` command was found). {INSTALL_HINT}")
        self.backend = "pyfluidsynth" if self._fluidsynth is not None else "cli"

    def _new_synth(self):
        synth = self._fluidsynth.Synth(gain=self.gain, samplerate=float(self.sample_rate),
                                       **{"synth.polyphony": self.polyphony})
        sfid = synth.sfload(str(self.soundfont))
        if sfid < 0:
            synth.delete()
            raise RuntimeError(f"FluidSynth could not load the soundfont {self.soundfont}")
        return synth, sfid

    def render(self, notes: NoteList, *, program: int) -> np.ndarray:
        """Render notes with one General MIDI program.

        Parameters
        ----------
        notes : NoteList
        program : int
            General MIDI program, 0-127 (see :data:`PROGRAMS`).

        Returns
        -------
        numpy.ndarray
            Shape (samples,), float32 mono in [-1, 1], ``notes.duration + tail`` seconds long.
        """
        if not 0 <= program < 128:
            raise ValueError(f"program must be in 0..127, got {program}")
        events = _events(notes, self.sample_rate)
        total = events[-1][0] + int(self.tail * self.sample_rate)
        audio = self._render_synth(events, program, total) if self._fluidsynth is not None else \
            self._render_cli(events, program, total)
        return audio.astype(np.float32)

    def _render_synth(self, events, program: int, total: int) -> np.ndarray:
        # A fresh synthesiser per render: reverb, chorus and dither state would otherwise carry over from the previous
        # piece (system_reset does not clear them), and a render would depend on what the process rendered before.
        synth, sfid = self._new_synth()
        try:
            synth.program_select(0, sfid, 0, program)
            chunks, now = [], 0
            for t, is_on, pitch, velocity in events:
                if t > now:
                    chunks.append(synth.get_samples(t - now))
                    now = t
                synth.noteon(0, pitch, velocity) if is_on else synth.noteoff(0, pitch)
            chunks.append(synth.get_samples(total - now))
        finally:
            synth.delete()
        stereo = np.concatenate(chunks).reshape(-1, 2).astype(np.float32)
        return stereo.mean(axis=1) / 32768.0

    def _render_cli(self, events, program: int, total: int) -> np.ndarray:
        import soundfile

        with tempfile.TemporaryDirectory() as tmp:
            midi, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
            midi.write_bytes(midi_bytes(events, program=program, sample_rate=self.sample_rate))
            cmd = ["fluidsynth", "-ni", "-q", "-g", str(self.gain), "-o", f"synth.polyphony={self.polyphony}",
                   "-r", str(self.sample_rate), "-F", str(wav), str(self.soundfont), str(midi)]
            stderr = Path(tmp) / "stderr.txt"
            with stderr.open("w") as err_file:
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
                # The player stops only once every voice is silent: a stuck voice would make it write forever, so stop
                # it once the file holds twice the expected audio (16-bit stereo) or after a generous time limit.
                max_bytes, deadline = 16 * total + 1_000_000, time.monotonic() + 60.0 + 10.0 * total / self.sample_rate
                while proc.poll() is None:
                    if (wav.is_file() and wav.stat().st_size > max_bytes) or time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        raise RuntimeError("fluidsynth kept rendering past the end of the piece (a voice that never "
                                           "ends keeps its player running); use the pyfluidsynth backend")
                    time.sleep(0.02)
            if proc.returncode != 0 or not wav.is_file():
                raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {stderr.read_text().strip()[-500:]}")
            audio, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
        if rate != self.sample_rate:
            raise RuntimeError(f"fluidsynth wrote {rate} Hz instead of {self.sample_rate} Hz")
        audio = audio.mean(axis=1)
        return np.pad(audio, (0, max(0, total - len(audio))))[:total]


def midi_varlen(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits per byte, most significant first, the high bit on all but the last."""
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.append((value & 0x7F) | 0x80)
    return bytes(reversed(out))


def midi_bytes(events, *, program: int, sample_rate: int) -> bytes:
    """A format-0 Standard MIDI File with the events on channel 0 (tick = one millisecond: 500 ticks per quarter at
    the default 120 quarters per minute)."""
    track, last = bytearray(midi_varlen(0) + bytes([0xC0, program])), 0
    for t, is_on, pitch, velocity in events:
        tick = round(t * 1000 / sample_rate)
        track += midi_varlen(tick - last) + bytes([0x90 if is_on else 0x80, pitch, velocity if is_on else 0])
        last = tick
    track += midi_varlen(0) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 500) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
