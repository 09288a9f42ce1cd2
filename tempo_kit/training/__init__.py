"""Distillation and training: recipes return named loss terms, one trainer runs them all."""

from .recipe import Recipe, UpdateRule

__all__ = ["Recipe", "UpdateRule"]
