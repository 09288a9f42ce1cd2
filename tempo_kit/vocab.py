"""Tags and captions: the vocabulary the datasets, the models and the prompts share.

One module below both :mod:`tempo_kit.data` (which writes tags and captions into a dataset) and
:mod:`tempo_kit.models` (whose CLAP-style model reads captions built from tags), so neither imports the other.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["TAG_FIELDS", "NOUNS", "TEMPO_WORDS", "PHRASES", "caption", "partial_caption"]

#: The tag fields of a clip, in the order of the models' multi-hot tag blocks.
TAG_FIELDS = ("instrument", "collection", "tempo", "mode")
#: What one piece of each corpus collection is called in captions.
NOUNS = {"bach": "chorale", "essen": "folk song", "oneills": "Irish tune"}
#: Caption words of the tempo buckets.
TEMPO_WORDS = {"slow": "slow", "moderate": "moderately paced", "fast": "fast"}
#: Instruments with their own phrase (the others are "played on <instrument>").
PHRASES = {"strings": "played by a string ensemble", "choir": "sung by a choir", "brass": "played by a brass section"}


def _phrase(instrument: str) -> str:
    return PHRASES.get(instrument, f"played on {instrument}")


def caption(*, instrument: str, noun: str, tempo: str, mode: str) -> str:
    """Caption of a clip, e.g. ``"A slow chorale in a minor key played on organ"``."""
    return f"A {TEMPO_WORDS[tempo]} {noun} in a {mode} key {_phrase(instrument)}"


def partial_caption(tags: Mapping[str, str]) -> str:
    """The caption template filled with any subset of the tags (the missing parts left out).

    Parameters
    ----------
    tags : mapping
        Any non-empty subset of ``instrument``, ``collection``, ``tempo``, ``mode`` (``None`` values are left out).

    Examples
    --------
    >>> partial_caption({"instrument": "flute"})
    'A piece played on flute'
    >>> partial_caption({"tempo": "slow", "collection": "bach", "mode": "minor", "instrument": "brass"})
    'A slow chorale in a minor key played by a brass section'
    """
    tags = {k: v for k, v in tags.items() if v is not None}
    unknown = sorted(set(tags) - set(TAG_FIELDS))
    if unknown or not tags:
        raise ValueError(f"partial_caption needs a non-empty subset of the tags {TAG_FIELDS}, got {sorted(tags)}")
    if "collection" in tags and tags["collection"] not in NOUNS:
        raise ValueError(f"unknown collection {tags['collection']!r}; valid: {', '.join(NOUNS)}")
    if "tempo" in tags and tags["tempo"] not in TEMPO_WORDS:
        raise ValueError(f"unknown tempo {tags['tempo']!r}; valid: {', '.join(TEMPO_WORDS)}")
    words = ["A"]
    if "tempo" in tags:
        words.append(TEMPO_WORDS[tags["tempo"]])
    words.append(NOUNS[tags["collection"]] if "collection" in tags else "piece")
    if "mode" in tags:
        words.append(f"in a {tags['mode']} key")
    if "instrument" in tags:
        words.append(_phrase(tags["instrument"]))
    return " ".join(words)
