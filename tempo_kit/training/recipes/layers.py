"""Layer distillation: ASE time-dependent early exit (Moon et al. 2024) and Presto-L (Presto!, Novack et al. 2025).

Both fine-tune a copy of a full-depth teacher so that it works with a layer router: each training sample runs the
blocks its noise level allows. ASE: DSM loss only, early exit, time embedder frozen (``--freeze_time_embedder``).
Presto-L: the final block always runs, the model is told its budget (zero-initialized budget embedding, added
to the net when the teacher has none) and a self-teacher term ``L_st = lambda(sigma) |D_drop - sg(D_full)|^2`` matches
the same network at full depth (or the frozen teacher, ``target="teacher"``): ``L = L_DSM + L_st``. These three
ingredients are as recalled from the Presto! paper, not verified; the zero-initialization, the form and weight of
``L_st`` and the ``"teacher"`` option are our choices.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import torch
from torch import nn

from ...denoisers import EDMPrecond
from ...routers import check_budget, is_block_model
from ...routers import Router, RoutedNet
from ..recipe import trainable
from .edm import _DenoisingRecipe, dsm_loss

__all__ = ["LayerRecipe", "ASERecipe", "PrestoLRecipe", "resolve_router", "with_budget_embedding"]


def resolve_router(router: Router | str | dict[str, Any]) -> Router:
    """A router from an instance, a registered name, or ``{"name": ..., **kwargs}``."""
    from ...registry import get
    from ...routers import router_from_spec

    if isinstance(router, Router):
        return router
    if isinstance(router, str):
        return get("routers", router)
    if isinstance(router, dict):
        return router_from_spec(router)
    raise TypeError(f"router must be a Router, a registered name or a dict spec, got {type(router).__name__}")


def with_budget_embedding(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with a (zero-initialized) layer-budget embedding, so it computes exactly what ``net`` does.

    Works for nets with an attrs ``config`` that has a ``budget_embedding`` field (the built-in DiT and BlockMLP).
    """
    config = getattr(net, "config", None)
    if config is None or not attrs.has(type(config)) or "budget_embedding" not in attrs.fields_dict(type(config)):
        raise TypeError(f"{type(net).__name__} has no budget embedding option; pass budget_conditioning=False")
    if config.budget_embedding:
        return copy.deepcopy(net)
    new = type(net)(config=attrs.evolve(config, budget_embedding=True)).to(next(net.parameters()).device)
    missing, unexpected = new.load_state_dict(net.state_dict(), strict=False)
    if unexpected or any(not k.startswith("cond.budget.") for k in missing):
        raise RuntimeError(f"could not add a budget embedding to {type(net).__name__}: missing {missing}, unexpected {unexpected}")
    return new


class LayerRecipe(_DenoisingRecipe):
    """Fine-tune a copy of ``teacher`` to run with a layer router (ASE or Presto-L).

    Parameter group ``"student"``; loss terms ``"dsm"`` and, with ``self_teacher``, ``"self_teacher"``.

    Parameters
    ----------
    teacher : nn.Module
        Raw full-depth block model ``F(x_in, c_noise, cond)`` (never modified).
    router : Router, str or dict
        ``"ase"``, ``"presto-l"``, a plugin's router, or a spec such as ``{"name": "ase", "levels": [...]}``.
    self_teacher : bool
        Add ``L_st`` (Presto-L).
    target : {"self", "teacher"}
        Self-teacher target: the live network at full depth (stop-gradient) or the frozen original teacher.
    budget_conditioning : bool or None
        Give the student a budget embedding (default: when the router conditions on the budget).
    freeze_time_embedder : bool
        Keep the noise-level embedding fixed (ASE's ``--freeze_time_embedder``).
    sigma_data, p_mean, p_std, cond_dropout, lr, betas, weight_decay
        As in :class:`~tempo_kit.training.recipes.edm.EDMRecipe`; ASE fine-tunes with AdamW lr 1e-5.
    """

    name = "layers"

    def __init__(self, *, teacher: nn.Module, router: Router | str | dict = "ase", self_teacher: bool = False,
                 target: str = "self", budget_conditioning: bool | None = None, freeze_time_embedder: bool = True,
                 sigma_data: float = 0.5, p_mean: float = -1.2, p_std: float = 1.2, cond_dropout: float = 0.1,
                 lr: float = 1e-5, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0):
        super().__init__("student", p_mean=p_mean, p_std=p_std, cond_dropout=cond_dropout, lr=lr, betas=betas,
                         weight_decay=weight_decay)
        if not is_block_model(teacher):
            raise TypeError(f"teacher {type(teacher).__name__} does not implement the block protocol (embed, run_block, final, num_blocks)")
        if target not in ("self", "teacher"):
            raise ValueError(f"target must be 'self' or 'teacher', got {target!r}")
        self.router = resolve_router(router)
        if self.router.budget is not None:
            check_budget(self.router.budget, teacher.num_blocks)
        if budget_conditioning is None:
            budget_conditioning = self.router.conditions_on_budget
        net = with_budget_embedding(teacher) if budget_conditioning else copy.deepcopy(teacher)
        net.requires_grad_(True)
        if freeze_time_embedder:
            time = getattr(getattr(net, "cond", None), "time", None)
            if time is None:
                raise TypeError(f"{type(net).__name__} has no cond.time embedder to freeze; pass freeze_time_embedder=False")
            time.requires_grad_(False)
        self.net = net
        self.routed = EDMPrecond(net=RoutedNet(net=net, router=self.router), sigma_data=sigma_data)
        self.self_teacher = self_teacher
        self.frozen = None
        if self_teacher and target == "teacher":
            self.frozen = EDMPrecond(net=copy.deepcopy(teacher).requires_grad_(False).eval(), sigma_data=sigma_data)
        self.full = EDMPrecond(net=net, sigma_data=sigma_data)

    def param_groups(self):
        return {"student": trainable(self.net)}

    def losses(self, batch, *, step, groups, generator=None):
        x0, x, sigma, cond = self._batch(batch, generator)
        d_drop = self.routed(x, sigma, cond)
        sd = self.routed.sigma_data
        terms = {"dsm": dsm_loss(d_drop, x0, sigma, sd)}
        if self.self_teacher:
            with torch.no_grad():
                d_full = (self.frozen or self.full)(x, sigma, cond)
            terms["self_teacher"] = dsm_loss(d_drop, d_full, sigma, sd)
        return {"student": terms}

    def student(self):
        return self.routed



class ASERecipe(LayerRecipe):
    """ASE (Moon et al. 2024): ``router="ase"``, DSM only, frozen time embedder (other arguments as :class:`LayerRecipe`)."""

    name = "ase"

    def __init__(self, **kwargs):
        super().__init__(**{"router": "ase", "self_teacher": False, **kwargs})


class PrestoLRecipe(LayerRecipe):
    """Presto-L (Novack et al. 2025): ``router="presto-l"``, budget conditioning, ``L = L_DSM + L_st``."""

    name = "presto-l"

    def __init__(self, **kwargs):
        super().__init__(**{"router": "presto-l", "self_teacher": True, **kwargs})
