"""Noise-level experts: one network per range of noise levels, behind the raw-network interface.

``F(x_in, c_noise, cond)`` sends each sample to the expert whose noise range holds its ``sigma = exp(4 c_noise)``
(EDM's ``c_noise = ln(sigma) / 4``), so an :class:`~tempo_kit.denoisers.EDMPrecond` around it is one denoiser (or, for
a jump, one generator) that costs one expert call per step. eDiff-I (Balaji et al. 2022) trains expert denoisers per
noise range; here two Presto-S generators are combined: one trained for the jump from high noise (the one-step
sample), one for the low-noise jumps of multi-step sampling, which a single network of the bundled size does not do
well at once (see the step-distillation page).
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import nn

__all__ = ["NoiseExperts", "NoiseExpertsConfig", "combine_experts"]


def _edges(value) -> tuple[float, ...]:
    try:
        edges = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"edges must be a sequence of noise levels (e.g. [1.5]), got {value!r}") from None
    if any(not (v > 0 and v < float("inf")) for v in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be positive, finite and increasing noise levels, got {list(value)}")
    return edges


@attrs.frozen(kw_only=True)
class NoiseExpertsConfig:
    """Architecture of :class:`NoiseExperts`.

    Parameters
    ----------
    experts : sequence of dict
        Model specs (``{"model": name, "config": {...}}``, :func:`~tempo_kit.models.model_spec`), from the lowest noise
        range to the highest; a spec with a ``"router"`` (:meth:`~tempo_kit.routers.Router.spec`) builds a
        layer-routed expert (:class:`~tempo_kit.routers.RoutedNet`, e.g. the experts of a Presto-LS).
    edges : sequence of float
        ``len(experts) - 1`` increasing noise levels between the ranges: expert ``k`` serves
        ``edges[k - 1] <= sigma < edges[k]``.
    """

    experts: tuple = attrs.field(converter=lambda v: tuple(dict(s) for s in v))
    edges: tuple = attrs.field(converter=_edges)

    def __attrs_post_init__(self):
        if len(self.experts) != len(self.edges) + 1:
            raise ValueError(f"{len(self.experts)} experts need {len(self.experts) - 1} edges, got {len(self.edges)}")

    @property
    def patch(self) -> int:
        """The experts' common patch length (frames per token), 1 for networks without one."""
        return int(self.experts[0].get("config", {}).get("patch", 1))


def _build_expert(spec: dict) -> nn.Module:
    """A model spec's network, wrapped in its layer router when the spec names one."""
    from ..routers import RoutedNet, router_from_spec
    from .io import build_model

    net = build_model({k: v for k, v in spec.items() if k != "router"})
    return RoutedNet(net=net, router=router_from_spec(spec["router"])) if spec.get("router") else net


def _block_net(expert: nn.Module) -> nn.Module:
    """The block model itself (inside a layer router, if any)."""
    return getattr(expert, "net", expert)


def _rows(cond: Any, mask: torch.Tensor) -> Any:
    """The rows ``mask`` of a conditioning: a tensor, a dict of tensors (batch-first), or None."""
    if isinstance(cond, torch.Tensor):
        return cond[mask]
    if isinstance(cond, dict):
        return {k: v[mask] if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == mask.shape[0] else v
                for k, v in cond.items()}
    return cond


class NoiseExperts(nn.Module):
    """Raw network ``F(x_in, c_noise, cond)`` that calls, for each sample, the expert of its noise range.

    A batch whose samples all fall in one range (every sampler step) makes one call of that expert; a mixed batch
    (training) one call per expert on its rows. Not a block model: a layer router applies to each expert (its spec's
    ``"router"``), not to the whole.

    Parameters
    ----------
    config : NoiseExpertsConfig
    """

    registry_name = "noise-experts"

    def __init__(self, *, config: NoiseExpertsConfig):
        super().__init__()
        self.config = config
        self.experts = nn.ModuleList(_build_expert(spec) for spec in config.experts)
        patches = {getattr(getattr(_block_net(e), "config", None), "patch", 1) for e in self.experts}
        if len(patches) > 1:
            raise ValueError(f"the experts must share one patch length, got {sorted(patches)}")

    def expert_index(self, c_noise: torch.Tensor) -> torch.Tensor:
        """Index of the expert of each sample, shape ``(batch,)``, from ``c_noise = ln(sigma) / 4``.

        A sigma just below an edge, within the rounding of ``c_noise`` in its dtype (a relative ``4 eps (1 +
        |ln sigma|)``: 5e-7 in float32 and 3% in bfloat16 near sigma = 1), counts as the edge: ``c_noise`` does not
        give back the sigma it came from exactly (``ln`` rounds differently in a vectorised loop and alone, and across
        CPUs), so a sampler stepping exactly to an edge reached either expert depending on the batch and the machine."""
        c = c_noise.detach().reshape(-1)
        slack = 4 * torch.finfo(c.dtype).eps * (1 + 4 * c.to(torch.float64).abs())
        sigma = (4 * c.to(torch.float64)).exp() * (1 + slack)
        edges = torch.tensor(self.config.edges, dtype=torch.float64, device=sigma.device)  # not a buffer: .to(dtype)
        return torch.bucketize(sigma, edges, right=True)                                   # must not round it

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        c_noise = c_noise.reshape(-1).expand(x_in.shape[0]) if c_noise.numel() == 1 else c_noise.reshape(-1)
        index = self.expert_index(c_noise)
        first = int(index[0])
        if bool((index == first).all()):
            return self.experts[first](x_in, c_noise, cond)
        out = None
        for k in index.unique().tolist():
            mask = index == k
            y = self.experts[k](x_in[mask], c_noise[mask], _rows(cond, mask))
            out = y.new_empty((x_in.shape[0], *y.shape[1:])) if out is None else out  # the experts' dtype
            out = out.index_put((mask,), y)
        return out


def combine_experts(folders, edges) -> nn.Module:
    """One denoiser from saved models (folders, lowest noise range first) that share their EDM preconditioning.

    Returns an :class:`~tempo_kit.denoisers.EDMPrecond` around :class:`NoiseExperts` holding each folder's network,
    weights and layer router (if it was saved with one); save it with :func:`~tempo_kit.models.save_model`.
    """
    from ..denoisers import EDMPrecond
    from .io import load_model, model_spec, read_config

    folders = [str(f) for f in folders]
    metas = [read_config(f) for f in folders]
    preconds = [meta.get("precond", {}) for meta in metas]
    if any(p != preconds[0] for p in preconds):
        raise ValueError("the experts must share their EDM preconditioning, got "
                         + "; ".join(f"{f}: {p}" for f, p in zip(folders, preconds)))
    nets = [load_model(f) for f in folders]
    specs = [{**model_spec(n), **({"router": m["router"]} if m.get("router") else {})} for n, m in zip(nets, metas)]
    experts = NoiseExperts(config=NoiseExpertsConfig(experts=specs, edges=edges))
    for mine, net in zip(experts.experts, nets):
        _block_net(mine).load_state_dict(net.state_dict())
    return EDMPrecond(net=experts, **preconds[0])
