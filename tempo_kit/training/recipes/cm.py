"""Consistency distillation, LCM-style, with the CFG weight ``w`` distilled into the student
(as in DITTO-2, Novack et al. 2024, Sec. 3.2).

One step: ``n ~ U{0..N-2}`` on the ``N``-point Karras teacher grid, ``x_n = x0 + t_n z``; the frozen teacher takes one
guided Heun step ``t_n -> t_{n+1}`` with a per-example ``w``; the loss is
``d(f_theta(x_n, t_n, c, w), sg(f_theta^-(x_hat_{n+1}, t_{n+1}, c, w)))`` with the EMA target ``theta^-``
(Song et al. 2023, Eq. 7; Luo et al. 2023, Eq. 9). The student uses the consistency boundary parameterization
(``f(x, sigma_min) = x``) and is sampled with :class:`~tempo_kit.samplers.CMMultistep` through
:class:`~tempo_kit.jumps.ConsistencyJump`.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ...denoisers import EDMPrecond
from ...jumps import ConsistencyJump
from ...models.blocks import null_condition
from ...schedules import KarrasSchedule
from ...utils import append_dims
from .common import GridDistillation, as_denoiser, distance, randn, teacher_step

__all__ = ["CMRecipe", "consistency_student"]


def consistency_student(teacher: nn.Module, *, sigma_min: float) -> EDMPrecond:
    """A trainable copy of an :class:`EDMPrecond` teacher with the CM boundary parameterization (Song et al. 2023)."""
    if not isinstance(teacher, EDMPrecond):
        raise TypeError(f"cannot derive a consistency student from {type(teacher).__name__}: pass student= explicitly "
                        "(an EDMPrecond(consistency=True) is expected)")
    net = copy.deepcopy(teacher.net).requires_grad_(True)
    return EDMPrecond(net=net, sigma_data=teacher.sigma_data, consistency=True, sigma_min=sigma_min)


class CMRecipe(GridDistillation):
    """LCM-style consistency distillation of an EDM teacher into a 1-to-few-step consistency model.

    Parameters
    ----------
    teacher : Denoiser
        Frozen teacher ``D(x, sigma, cond)`` (its parameters are set to ``requires_grad=False``).
    student : Denoiser, optional
        Consistency function ``f(x, sigma, cond)``; default :func:`consistency_student` of the teacher.
    grid_steps : int
        ``N``, points of the Karras teacher grid (CM: 40; DITTO-2: 20, the default).
    schedule : KarrasSchedule
        ``sigma_min``/``sigma_max``/``rho`` of the grid; ``sigma_min`` is also the student's boundary.
    solver : {"heun", "euler"}
        Teacher ODE step.
    w_range : (float, float) or None
        Distilled CFG weights ``w ~ U[w_min, w_max]`` (Imagen convention; the default ``(1, 8)`` is ours, DITTO-2 does
        not state a range). The student sees ``cond["w"]``.
        ``None`` (``false`` in a TOML config, which has no null) distills the unguided teacher and passes no ``w``.
    null_cond : Any
        Unconditional ``cond`` (or callable ``cond -> null``) for the teacher's guidance; default
        :func:`tempo_kit.models.null_condition`.
    ema_decay : float
        Target-network decay ``mu`` (0.95, CM ImageNet / LCM).
    loss : {"l2", "huber"}
        Distance ``d``; ``huber_c`` is LCM's pseudo-Huber constant.
    lr, betas : optimizer settings of the ``"student"`` group.
    """

    name = "cm"

    def __init__(self, *, teacher: nn.Module, student: nn.Module | None = None, grid_steps: int = 20,
                 schedule: KarrasSchedule = KarrasSchedule(), solver: str = "heun",
                 w_range: tuple[float, float] | None = (1.0, 8.0), null_cond: Any = null_condition,
                 ema_decay: float = 0.95,
                 loss: str = "l2", huber_c: float = 1e-3, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__()
        if grid_steps < 2:
            raise ValueError(f"grid_steps must be >= 2, got {grid_steps}")
        teacher = as_denoiser(teacher, "teacher").requires_grad_(False)
        if student is None:
            student = consistency_student(teacher, sigma_min=schedule.sigma_min)
        self._setup(teacher=teacher, net=as_denoiser(student, "student"), w_range=w_range, null_cond=null_cond,
                    solver=solver, ema_decay=ema_decay, loss=loss, huber_c=huber_c, lr=lr, betas=betas)
        self.register_buffer("grid", schedule.sigmas(grid_steps, dtype=torch.float32)[:-1], persistent=False)

    def losses(self, batch, *, step: int, groups: frozenset[str], generator: torch.Generator | None = None):
        if "student" not in groups:
            return {}
        x0, cond, grid, gdev = self._batch(batch, generator)
        n = torch.randint(0, grid.numel() - 1, (x0.shape[0],), generator=generator, device=gdev).to(x0.device)
        t, s = grid[n], grid[n + 1]
        x_t = x0 + append_dims(t, x0.ndim) * randn(x0, generator)
        w, student_cond = self._guidance(x0, cond, generator)
        with torch.no_grad():
            x_s = teacher_step(self.teacher, x_t, t, s, cond, w=w, null_cond=self.null_cond, solver=self.solver)
            target = self.target(x_s, s, student_cond)
        pred = self.net(x_t, t, student_cond)
        return {"student": {"consistency": distance(pred, target, kind=self.loss, huber_c=self.huber_c)}}

    def student(self) -> ConsistencyJump:
        """The distilled consistency model as a jump (sample with ``CMMultistep``; pass ``cond["w"]``)."""
        return ConsistencyJump(denoiser=self.net)
