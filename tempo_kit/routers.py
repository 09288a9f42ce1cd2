"""Layer routers: stateless data mapping a noise level (and a layer budget) to the blocks that run.

* ``"none"`` - every block (the teacher).
* ``"ase"`` - time-dependent early exit (ASE, Moon et al. 2024): the first ``n(sigma)`` blocks run, the last
  ones are skipped; more blocks are dropped at high noise.
* ``"presto-l"`` - Presto-L (Presto!, Novack et al. 2025, as recalled from the paper, not verified): the final
  block always runs and the blocks right before it are dropped (``{0, ..., n-2} U {L-1}``); the model is told its
  budget ``n`` (``cond["budget"]``).

The default schedule is ASE's ``[28,28,24,24,20,20,16,16,12,12]`` of 28 blocks, expressed on the normalized Karras
coordinate ``u = (sigma^(1/rho) - sigma_max^(1/rho)) / (sigma_min^(1/rho) - sigma_max^(1/rho))`` (u = 0 at sigma_max)
in 10 equal bins and scaled to the model depth (``round(n / 28 * L)``). Using ASE's schedule for Presto-L is
our choice; the Presto! paper's own schedule could not be checked.

:class:`RoutedNet` runs any block model (:mod:`tempo_kit.models.blocks` protocol) with a router; it is itself a raw net
``F(x_in, c_noise, cond)`` and goes inside :class:`~tempo_kit.denoisers.EDMPrecond` unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from torch import nn

from .schedules import KarrasSchedule

__all__ = ["Router", "NoRouter", "EarlyExitRouter", "PrestoLRouter", "RoutedNet", "router_from_spec", "ASE_LEVELS",
           "is_block_model", "check_budget"]

#: ASE's DiT-XL/2 schedule (Moon et al. 2024, ``drop_scheduler.py`` of their code) as fractions of depth,
#: ordered from sigma_max (u = 0) to sigma_min (u = 1).
ASE_LEVELS = tuple(n / 28 for n in (12, 12, 16, 16, 20, 20, 24, 24, 28, 28))


def is_block_model(net: Any) -> bool:
    """True when ``net`` implements the block-iteration protocol (``embed``, ``run_block``, ``final``, ``num_blocks``:
    :class:`tempo_kit.models.blocks.BlockModel`), the one routers run."""
    return all(callable(getattr(net, name, None)) for name in ("embed", "run_block", "final")) and hasattr(net, "num_blocks")


def check_budget(budget: int, num_blocks: int) -> int:
    """Validate a layer budget (number of active blocks): ``1 <= budget <= num_blocks``."""
    budget = int(budget)
    if not 1 <= budget <= num_blocks:
        raise ValueError(f"layer budget {budget} is outside [1, {num_blocks}]: the model has {num_blocks} blocks")
    return budget


@attrs.frozen(kw_only=True)
class Router:
    """Base class: ``sigma -> budget`` (number of active blocks) and ``budget -> block indices``.

    Parameters
    ----------
    levels : tuple of float
        Fraction of the depth that runs in each of ``len(levels)`` equal bins of the Karras coordinate, from
        ``sigma_max`` to ``sigma_min``.
    schedule : KarrasSchedule
        Defines the Karras coordinate.
    budget : int, optional
        A fixed budget for every sigma (overrides ``levels``), e.g. to measure a given depth.
    """

    name: ClassVar[str] = "router"
    conditions_on_budget: ClassVar[bool] = False

    levels: tuple[float, ...] = attrs.field(default=ASE_LEVELS, converter=tuple)
    schedule: KarrasSchedule = KarrasSchedule()
    budget: int | None = None

    @levels.validator
    def _check_levels(self, attribute, value):
        if not value or any(not 0 < v <= 1 for v in value):
            raise ValueError(f"levels must be a non-empty sequence of fractions in (0, 1], got {value}")

    def budgets(self, sigma: torch.Tensor, num_blocks: int) -> torch.Tensor:
        """Active-block count per sample, shape ``(batch,)`` (long), for ``sigma`` of shape ``(batch,)``."""
        sigma = torch.as_tensor(sigma).reshape(-1)
        if self.budget is not None:
            return torch.full(sigma.shape, check_budget(self.budget, num_blocks), dtype=torch.long, device=sigma.device)
        k = len(self.levels)
        idx = (self.schedule.u_of(sigma.double()) * k).floor().long().clamp(0, k - 1)
        levels = torch.tensor(self.levels, dtype=torch.float64, device=sigma.device)
        return (levels[idx] * num_blocks).round().long().clamp(1, num_blocks)

    def blocks(self, budget: int, num_blocks: int) -> tuple[int, ...]:  # pragma: no cover
        """Indices of the active blocks for ``budget`` of ``num_blocks``, increasing."""
        raise NotImplementedError

    def active(self, sigma: float | torch.Tensor, num_blocks: int, budget: int | None = None) -> tuple[int, ...]:
        """Active blocks at a single noise level (sampling) or for an explicit ``budget``."""
        if budget is None:
            budget = int(self.budgets(torch.as_tensor(sigma, dtype=torch.float64).reshape(1), num_blocks)[0])
        return self.blocks(check_budget(budget, num_blocks), num_blocks)

    def spec(self) -> dict[str, Any]:
        """JSON-able description, rebuilt by :func:`router_from_spec`."""
        return {"name": self.name, "levels": list(self.levels), "budget": self.budget,
                "schedule": attrs.asdict(self.schedule)}


@attrs.frozen(kw_only=True)
class NoRouter(Router):
    """Every block runs (the full-depth model)."""

    name: ClassVar[str] = "none"

    def budgets(self, sigma, num_blocks):
        return torch.full(torch.as_tensor(sigma).reshape(-1).shape, num_blocks, dtype=torch.long)

    def blocks(self, budget, num_blocks):
        return tuple(range(num_blocks))


@attrs.frozen(kw_only=True)
class EarlyExitRouter(Router):
    """ASE time-dependent early exit: blocks ``0 .. n-1`` run, then the output layer (Moon et al. 2024)."""

    name: ClassVar[str] = "ase"

    def blocks(self, budget, num_blocks):
        return tuple(range(check_budget(budget, num_blocks)))


@attrs.frozen(kw_only=True)
class PrestoLRouter(Router):
    """Presto-L: keep the final block, drop the ones before it, condition on the budget.

    Presto! (Novack et al. 2025), as recalled from the paper, not verified.
    """

    name: ClassVar[str] = "presto-l"
    conditions_on_budget: ClassVar[bool] = True

    def blocks(self, budget, num_blocks):
        budget = check_budget(budget, num_blocks)
        return tuple(range(budget - 1)) + (num_blocks - 1,)


def router_from_spec(spec: dict[str, Any]) -> Router:
    """Rebuild a router from :meth:`Router.spec` output (through the registry, so plugins' routers work too)."""
    from .registry import get

    spec = dict(spec)
    name = spec.pop("name")
    if isinstance(spec.get("schedule"), dict):
        spec["schedule"] = KarrasSchedule(**spec["schedule"])
    return get("routers", name, **spec)


def _take(value: Any, idx: torch.Tensor, batch: int) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch:
        return value[idx]
    return value


class RoutedNet(nn.Module):
    """Run a block model with a router: a raw net ``F(x_in, c_noise, cond)`` for :class:`~tempo_kit.denoisers.EDMPrecond`.

    Each sample's budget comes from ``cond["budget"]`` when given, else from the router at its own
    ``sigma = exp(4 c_noise)``; the batch is grouped by budget and each group runs only its active blocks (at sampling
    time all samples share one sigma, so this is a single group). Routers that condition on the budget get
    ``cond["budget"]`` filled in.

    Parameters
    ----------
    net : block model
        Anything implementing ``embed`` / ``run_block`` / ``final`` / ``num_blocks``.
    router : Router
    """

    def __init__(self, *, net: nn.Module, router: Router):
        super().__init__()
        if not is_block_model(net):
            raise TypeError(f"{type(net).__name__} does not implement the block protocol (embed, run_block, final, num_blocks)")
        self.net = net
        self.router = router

    @property
    def num_blocks(self) -> int:
        return self.net.num_blocks

    def budgets(self, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        """Per-sample budgets, shape ``(batch,)``."""
        given = None if cond is None else cond.get("budget")
        if given is not None:
            budgets = torch.as_tensor(given, device=c_noise.device).long().expand(c_noise.shape[0])
            if (budgets < 1).any() or (budgets > self.num_blocks).any():
                raise ValueError(f"layer budget must lie in [1, {self.num_blocks}] (the model depth), got {budgets.unique().tolist()}")
            return budgets
        return self.router.budgets((4 * c_noise.detach().double()).exp(), self.num_blocks).to(c_noise.device)

    def _run(self, x, c_noise, cond, budget: int) -> torch.Tensor:
        if self.router.conditions_on_budget:
            cond = {**(cond or {}), "budget": torch.full((x.shape[0],), budget, dtype=torch.long, device=x.device)}
        h, c = self.net.embed(x, c_noise, cond)
        for i in self.router.blocks(budget, self.num_blocks):
            h = self.net.run_block(i, h, c)
        return self.net.final(h, c)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        budgets = self.budgets(c_noise, cond)
        values = budgets.unique().tolist()
        if len(values) == 1:
            return self._run(x, c_noise, cond, values[0])
        out = None
        batch = x.shape[0]
        for n in values:
            idx = (budgets == n).nonzero().squeeze(1)
            sub_cond = None if cond is None else {k: _take(v, idx, batch) for k, v in cond.items()}
            y = self._run(x[idx], c_noise[idx], sub_cond, n)
            if out is None:
                out = y.new_zeros((batch, *y.shape[1:]))
            out = out.index_copy(0, idx, y)
        return out
