"""Real music without a hub: scores from the ``music21`` corpus rendered through FluidSynth into a clip dataset.

``build_dataset`` writes the dataset (``tempo-kit data build`` on the command line); ``MusicDataset`` reads it.
"""

from .build import BuildReport, build_dataset, caption, model_mel
from .corpus import COLLECTIONS, NoteList, Piece, list_pieces, load_notes, top_voice
from .dataset import MusicDataset, encode_tags, read_manifest
from .render import PROGRAMS, Renderer, find_soundfont

__all__ = [
    "COLLECTIONS",
    "PROGRAMS",
    "BuildReport",
    "MusicDataset",
    "NoteList",
    "Piece",
    "Renderer",
    "build_dataset",
    "caption",
    "encode_tags",
    "find_soundfont",
    "list_pieces",
    "load_notes",
    "read_manifest",
    "model_mel",
    "top_voice",
]
