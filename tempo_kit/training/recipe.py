"""The recipe contract: named loss terms per parameter group, and how often each group is updated.

A recipe owns its networks (student, teacher, EMA targets, fake score, discriminator, ...). The trainer asks it, at
each step, which parameter groups update now (:meth:`Recipe.active_groups`, from the declared
:class:`UpdateRule` s), calls :meth:`Recipe.losses` to get ``{group: {term: scalar}}``, back-propagates the sum of each
group's terms **into that group's parameters only** (``backward(inputs=params)``), steps that group's optimizer and
finally calls :meth:`Recipe.after_step` (EMA target updates and the like).
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

__all__ = ["UpdateRule", "Recipe", "trainable"]


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``modules`` that require gradients (a parameter group for :meth:`Recipe.param_groups`)."""
    return [p for m in modules for p in m.parameters() if p.requires_grad]


@attrs.frozen(kw_only=True)
class UpdateRule:
    """Parameter group ``group`` is updated on steps where ``step % every == offset``, with its own optimizer settings.

    ``lr``, ``betas`` and ``weight_decay`` configure the group's Adam(W) optimizer.
    """

    group: str
    every: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    offset: int = 0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0

    def __attrs_post_init__(self):
        from ..utils import check_number

        what = f"parameter group {self.group!r}"
        check_number(self.lr, f"lr of {what}")  # 0 freezes the group
        check_number(self.weight_decay, f"weight_decay of {what}")
        if (not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2
                or not all(0 <= check_number(b, f"betas of {what}") < 1 for b in self.betas)):
            raise ValueError(f"betas of {what} must be two numbers in [0, 1), got {self.betas!r}")

    def active(self, step: int) -> bool:
        return step % self.every == self.offset % self.every


class Recipe(nn.Module):
    """Base class of training recipes. Subclasses set ``name`` and implement the three methods below.

    Every trainable or frozen network the recipe uses is a submodule, so ``state_dict()`` checkpoints all of them.
    """

    name: str = "recipe"

    def param_groups(self) -> dict[str, list[nn.Parameter]]:  # pragma: no cover
        """Trainable parameters by group name, e.g. ``{"generator": [...], "fake_score": [...]}``."""
        raise NotImplementedError

    def update_rules(self) -> list[UpdateRule]:  # pragma: no cover
        """One :class:`UpdateRule` per parameter group."""
        raise NotImplementedError

    def losses(self, batch: Any, *, step: int, groups: frozenset[str],
               generator: torch.Generator | None = None) -> dict[str, dict[str, torch.Tensor]]:  # pragma: no cover
        """Loss terms for the groups that update at ``step``: ``{group: {term_name: scalar tensor}}``."""
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        """Called after the optimizers stepped (EMA targets, schedules). Default: nothing."""

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """Scalars measured during the last :meth:`losses` call that are not losses (agreement of two networks, a
        discriminator's accuracy, a gradient's size); the trainer logs them as ``diag/<name>``. Default: none."""
        return {}

    def active_groups(self, step: int) -> frozenset[str]:
        return frozenset(rule.group for rule in self.update_rules() if rule.active(step))

    def student(self) -> nn.Module:  # pragma: no cover
        """The network that is the result of the recipe (what gets exported / sampled)."""
        raise NotImplementedError
