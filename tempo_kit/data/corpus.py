"""Pieces from the corpus shipped with ``music21``: enumeration, deterministic choices and note extraction.

A piece becomes a :class:`NoteList`: every sounding note with onset and offset in seconds at a tempo chosen per piece,
its key mode and its beat tempo. Nothing is downloaded: the scores live inside the ``music21`` package.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import attrs
import numpy as np

from ..vocab import NOUNS


@attrs.frozen
class Collection:
    """A named set of pieces in the music21 corpus.

    Attributes
    ----------
    name : str
        Tag value and CLI name (``bach``, ``essen``, ...).
    folder : str
        Folder under ``music21/corpus``.
    pattern : str
        Glob of the files to read inside ``folder``.
    noun : str
        What one piece is called in captions ("chorale", "folk song").
    beat_bpm : tuple of float
        Range (low, high) of the beat tempo, in beats per minute, drawn per piece.
    exclude : tuple of str
        File stems left out (not pieces of this kind, or test files).
    """

    name: str
    folder: str
    pattern: str
    noun: str
    beat_bpm: tuple[float, float]
    exclude: tuple[str, ...] = ()


COLLECTIONS = {
    c.name: c
    for c in (
        # Bach's four-part chorales (bwv846 is a keyboard prelude, not a chorale).
        Collection(name="bach", folder="bach", pattern="*.mxl", noun=NOUNS["bach"], beat_bpm=(54.0, 100.0),
                   exclude=("bwv846",)),
        # The Essen folk-song collection: ~8,500 monophonic melodies in multi-tune ABC files.
        Collection(name="essen", folder="essenFolksong", pattern="*.abc", noun=NOUNS["essen"], beat_bpm=(60.0, 132.0),
                   exclude=("test0", "test1", "testd", "teste")),
        # O'Neill's Music of Ireland (1850 tunes): monophonic jigs, reels, airs.
        Collection(name="oneills", folder="oneills1850", pattern="*.abc", noun=NOUNS["oneills"], beat_bpm=(72.0, 132.0)),
    )
}

TEMPO_BUCKETS = (("slow", 76.0), ("moderate", 104.0), ("fast", float("inf")))
"""Beat-tempo buckets: (name, upper bound in beats per minute, exclusive)."""


@attrs.frozen
class Piece:
    """One piece of a collection.

    Attributes
    ----------
    id : str
        Stable identifier, ``collection/stem`` or ``collection/stem/number`` for a tune inside a multi-tune ABC file.
    collection : str
        Collection name.
    path : str
        Score file.
    number : int or None
        Tune number (ABC ``X:`` field) inside ``path``, or None when the file holds one piece.
    group : str
        Identifier used for the train/held-out split; variants of one chorale (``bwv248.9-1``, ``bwv248.9-s``) share it
        so that no variant leaks across the split.
    """

    id: str
    collection: str
    path: str
    number: int | None
    group: str


@attrs.frozen
class NoteList:
    """The notes of a piece at a fixed tempo.

    Attributes
    ----------
    pitch : numpy.ndarray
        Shape (n,), MIDI note numbers.
    onset, offset : numpy.ndarray
        Shape (n,), seconds.
    velocity : numpy.ndarray
        Shape (n,), MIDI velocities (the first part, usually the melody, a little louder).
    beat_bpm : float
        Beat tempo in beats per minute (the beat of the time signature: a dotted quarter in 6/8).
    mode : str
        ``major`` or ``minor`` (key analysis of the whole score).
    key : str
        Analysed key, for example ``"F major"``.
    title : str
        Title from the score's metadata (may be empty).
    """

    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    beat_bpm: float
    mode: str
    key: str
    title: str

    @property
    def duration(self) -> float:
        """End of the last note, in seconds."""
        return float(self.offset.max()) if len(self.offset) else 0.0


def unit_hash(*parts: str) -> float:
    """Deterministic uniform number in [0, 1) from strings (SHA-1; independent of Python's hash seed)."""
    digest = hashlib.sha1("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def tempo_bucket(beat_bpm: float) -> str:
    """Name of the tempo bucket of a beat tempo in beats per minute (see :data:`TEMPO_BUCKETS`)."""
    return next(name for name, upper in TEMPO_BUCKETS if beat_bpm < upper)


def _corpus_root() -> Path:
    try:
        import music21
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("building the dataset needs music21: pip install 'tempo_kit[data]'") from err
    return Path(music21.__file__).parent / "corpus"


def _check_collection(name: str) -> Collection:
    if name not in COLLECTIONS:
        raise ValueError(f"unknown collection {name!r}; valid names: {', '.join(COLLECTIONS)}")
    return COLLECTIONS[name]


def list_pieces(collection: str) -> list[Piece]:
    """Every piece of a collection, in a stable pseudo-random order (so that any prefix is a varied subset).

    Parameters
    ----------
    collection : str
        A key of :data:`COLLECTIONS`.

    Returns
    -------
    list of Piece
        Ordered by a hash of the piece id: the first N pieces of a larger selection contain the first N of a smaller
        one, which keeps a resumed build with a larger ``max_pieces`` consistent.
    """
    spec = _check_collection(collection)
    pieces = []
    for path in sorted((_corpus_root() / spec.folder).glob(spec.pattern)):
        stem = path.stem
        if stem in spec.exclude:
            continue
        if path.suffix == ".abc":
            numbers = [int(m) for m in re.findall(r"^X:\s*(\d+)", path.read_text(errors="replace"), flags=re.M)]
            for number in dict.fromkeys(numbers):  # unique, in file order
                pid = f"{spec.name}/{stem}/{number}"
                pieces.append(Piece(id=pid, collection=spec.name, path=str(path), number=number, group=pid))
        else:
            pid = f"{spec.name}/{stem}"
            group = f"{spec.name}/{stem.split('-')[0]}"
            pieces.append(Piece(id=pid, collection=spec.name, path=str(path), number=None, group=group))
    return sorted(pieces, key=lambda p: unit_hash(p.id, "order"))


def piece_tempo(piece: Piece) -> float:
    """Beat tempo (beats per minute) drawn deterministically for a piece inside its collection's range."""
    low, high = COLLECTIONS[piece.collection].beat_bpm
    return low + (high - low) * unit_hash(piece.id, "tempo")


def load_notes(piece: Piece) -> NoteList:
    """Parse a piece with music21 and list its notes in seconds at :func:`piece_tempo`.

    Ties are merged, grace notes and chord symbols are dropped, repeats are not expanded; chords contribute every pitch.

    Parameters
    ----------
    piece : Piece
        From :func:`list_pieces`.

    Returns
    -------
    NoteList

    Raises
    ------
    ValueError
        If the score holds no notes.
    """
    from music21 import converter, harmony, meter

    options = {"number": piece.number} if piece.number is not None else {}
    score = converter.parse(piece.path, **options)
    score.stripTies(inPlace=True)
    parts = list(score.parts) or [score]
    ts = score.recurse().getElementsByClass(meter.TimeSignature).first()
    beat_ql = float(ts.beatDuration.quarterLength) if ts is not None else 1.0
    beat_bpm = piece_tempo(piece)
    seconds_per_ql = 60.0 / (beat_bpm * beat_ql)

    rows = []
    for index, part in enumerate(parts):
        velocity = 100 if index == 0 else 80
        for n in part.flatten().notes:
            if isinstance(n, harmony.Harmony) or n.duration.quarterLength <= 0:
                continue
            start, length = float(n.offset), float(n.duration.quarterLength)
            rows.extend((p.midi, start, start + length, velocity) for p in n.pitches)
    if not rows:
        raise ValueError(f"{piece.id}: the score holds no notes")
    table = np.array(rows, dtype=np.float64)
    key = score.analyze("key")
    return NoteList(
        pitch=table[:, 0].astype(np.int64),
        onset=table[:, 1] * seconds_per_ql,
        offset=table[:, 2] * seconds_per_ql,
        velocity=table[:, 3].astype(np.int64),
        beat_bpm=beat_bpm,
        mode=str(key.mode),
        key=f"{key.tonic.name} {key.mode}",
        title=str(score.metadata.title or "") if score.metadata is not None else "",
    )


def top_voice(notes: NoteList, *, n_frames: int, frame_rate: float, start: float = 0.0) -> np.ndarray:
    """MIDI pitch of the highest sounding note at each frame (the score's melody for chorales and monophonic tunes).

    Parameters
    ----------
    notes : NoteList
    n_frames : int
        Number of frames.
    frame_rate : float
        Frames per second; frame ``k`` is the instant ``start + k / frame_rate`` (centred STFT frames).
    start : float
        Time of frame 0, in seconds.

    Returns
    -------
    numpy.ndarray
        Shape (n_frames,), int16 MIDI pitch, -1 where no note sounds.
    """
    top = np.full(n_frames, -1, dtype=np.int16)
    first = np.ceil((notes.onset - start) * frame_rate - 1e-9).astype(np.int64)
    last = np.ceil((notes.offset - start) * frame_rate - 1e-9).astype(np.int64)  # exclusive
    for a, b, p in zip(np.clip(first, 0, n_frames), np.clip(last, 0, n_frames), notes.pitch):
        if b > a:
            np.maximum(top[a:b], p, out=top[a:b])
    return top
