"""CTM distillation in DITTO-2's simplified form: local consistency at the target time
(DITTO-2, Novack et al. 2024, Eq. 4).

On the ``N``-point teacher grid (index ``j = 0`` clean ... ``N`` noisiest), draw ``j ~ U{1..N}`` and ``k ~ U{0..j-1}``
(our choice; DITTO-2 does not say how ``s`` is drawn), set ``x_j = x0 + sigma_j z`` and minimize

``|| G_phi(x_j, sigma_j, sigma_k, c, w) - sg(G_phi^-(Theta(x_j), sigma_{j-1}, sigma_k, c, w)) ||^2``

where ``Theta`` is one guided teacher ODE step ``j -> j-1`` and ``phi^-`` the EMA target. ``G`` is CTM's Euler
parameterization ``G(x, t, s) = (s/t) x + (1 - s/t) g(x, t)`` without an ``s`` input (DITTO-2 Sec. 3.2), i.e.
:class:`~tempo_kit.jumps.EulerJump` around the student denoiser ``g``; ``s_embedding=True`` gives full CTM's
``g(x, t, s)`` with ``c_noise(s)`` passed as ``cond["s"]`` (:class:`SEmbeddingEulerJump`). Sample with
:class:`~tempo_kit.samplers.CTMGamma`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...jumps import EulerJump
from ...models.blocks import null_condition
from ...schedules import KarrasSchedule
from ...utils import append_dims, as_sigma
from .common import GridDistillation, as_denoiser, distance, randn, teacher_step, trainable_copy, with_cond

__all__ = ["CTMRecipe", "SEmbeddingEulerJump"]


class SEmbeddingEulerJump(EulerJump):
    """Full-CTM Euler jump ``G(x, t, s) = (s/t) x + (1 - s/t) g(x, t, s)``; ``g`` receives ``cond["s"] = ln(s)/4``.

    ``s`` is clamped to ``sigma_min`` inside the embedding (``ln 0`` is undefined), as in the CTM code.
    """

    def __init__(self, *, denoiser: nn.Module, sigma_min: float = 0.002):
        super().__init__(denoiser=denoiser)
        self.sigma_min = float(sigma_min)

    def forward(self, x, sigma_from, sigma_to, cond=None):
        s = as_sigma(sigma_to, x)
        return super().forward(x, sigma_from, s, with_cond(cond, s=s.clamp_min(self.sigma_min).log() / 4))


class CTMRecipe(GridDistillation):
    """DITTO-2's CTM distillation (local consistency, Euler parameterization, distilled ``w``, EMA target).

    Parameters
    ----------
    teacher : Denoiser
        Frozen teacher (its parameters are set to ``requires_grad=False``).
    student : Denoiser, optional
        The inner denoiser ``g``; default a trainable copy of the teacher.
    grid_steps : int
        ``N`` of the teacher grid (DITTO-2 Sec. 4.2: 20 evenly spaced steps; here the ``N``-step Karras
        grid, our choice for EDM models).
    schedule : KarrasSchedule
        Grid range and curvature.
    solver : {"heun", "euler"}
        Teacher step ``Theta`` (the step into ``sigma = 0`` is always the teacher's ``x0`` prediction).
    w_range : (float, float) or None
        Distilled CFG weights (default ``(1, 8)``, ours; DITTO-2 does not state a range); ``None`` (``false`` in a
        TOML config) for an unguided teacher.
    null_cond : Any
        Unconditional ``cond`` (or callable) for the teacher's guidance; default :func:`tempo_kit.models.null_condition`.
    ema_decay : float
        Target decay (0.95, our choice following CM/LCM; CTM's own code uses 0.999).
    s_embedding : bool
        ``False`` (default): DITTO-2's no-``s`` variant. ``True``: full CTM's ``g(x, t, s)``.
    loss, huber_c, lr, betas
        As in :class:`~tempo_kit.training.recipes.cm.CMRecipe`.
    """

    name = "ctm"

    def __init__(self, *, teacher: nn.Module, student: nn.Module | None = None, grid_steps: int = 20,
                 schedule: KarrasSchedule = KarrasSchedule(), solver: str = "heun",
                 w_range: tuple[float, float] | None = (1.0, 8.0), null_cond: Any = null_condition,
                 ema_decay: float = 0.95,
                 s_embedding: bool = False, loss: str = "l2", huber_c: float = 1e-3, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__()
        if grid_steps < 1:
            raise ValueError(f"grid_steps must be >= 1, got {grid_steps}")
        teacher = as_denoiser(teacher, "teacher").requires_grad_(False)
        net = as_denoiser(student, "student") if student is not None else trainable_copy(teacher)
        if s_embedding:
            config = getattr(getattr(net, "net", net), "config", None)
            if not getattr(config, "s_embedding", False):
                raise ValueError("s_embedding=True needs a student network that reads cond['s'] and declares "
                                 "config.s_embedding=True; the built-in BlockMLP / DiT have no s embedding "
                                 "(use DITTO-2's default s_embedding=False)")
        self._setup(teacher=teacher, net=net, w_range=w_range, null_cond=null_cond, solver=solver,
                    ema_decay=ema_decay, loss=loss, huber_c=huber_c, lr=lr, betas=betas)
        # grid[j] = sigma_j, j = 0 (clean) ... N (noisiest)
        self.register_buffer("grid", schedule.sigmas(grid_steps, dtype=torch.float32).flip(0), persistent=False)
        self.schedule, self.s_embedding = schedule, bool(s_embedding)

    def jump(self, denoiser: nn.Module) -> EulerJump:
        """The CTM jump around ``denoiser`` (``g``): Euler form, with the ``s`` embedding when configured."""
        if self.s_embedding:
            return SEmbeddingEulerJump(denoiser=denoiser, sigma_min=self.schedule.sigma_min)
        return EulerJump(denoiser=denoiser)

    def losses(self, batch, *, step: int, groups: frozenset[str], generator: torch.Generator | None = None):
        if "student" not in groups:
            return {}
        x0, cond, grid, gdev = self._batch(batch, generator)
        b, dev, n = x0.shape[0], x0.device, grid.numel() - 1
        j = torch.randint(1, n + 1, (b,), generator=generator, device=gdev).to(dev)
        k = (torch.rand(b, generator=generator, device=gdev).to(dev) * j).floor().long().clamp(max=j - 1)  # U{0..j-1}
        t, t_prev, s = grid[j], grid[j - 1], grid[k]
        x_t = x0 + append_dims(t, x0.ndim) * randn(x0, generator)
        w, student_cond = self._guidance(x0, cond, generator)
        with torch.no_grad():
            x_prev = teacher_step(self.teacher, x_t, t, t_prev, cond, w=w, null_cond=self.null_cond, solver=self.solver)
            # G^-(x, t', s) with t' = s is x itself (also covers t' = 0, where the Euler form is undefined).
            at_target = k == j - 1
            safe = torch.where(at_target, torch.ones_like(t_prev), t_prev)
            target = self.jump(self.target)(x_prev, safe, torch.where(at_target, safe, s), student_cond)
            target = torch.where(append_dims(at_target, x0.ndim), x_prev, target)
        pred = self.jump(self.net)(x_t, t, s, student_cond)
        return {"student": {"local_consistency": distance(pred, target, kind=self.loss, huber_c=self.huber_c)}}

    def student(self) -> EulerJump:
        """The distilled anywhere-to-anywhere jump (sample with ``CTMGamma``; pass ``cond["w"]``)."""
        return self.jump(self.net)
