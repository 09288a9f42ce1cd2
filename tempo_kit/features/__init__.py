"""Differentiable feature extractors (intensity, chroma, MFCC self-similarity, masks, CLAP)."""

from .base import DOMAINS, Extractor

__all__ = ["DOMAINS", "Extractor"]
