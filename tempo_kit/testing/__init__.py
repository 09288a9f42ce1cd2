"""Test scaffolding: contract checks a plugin author runs against a component of their own, and toy problems.

The package holds everything tempo_kit's own tests, examples, docs and benchmarks build on:

* :mod:`tempo_kit.testing` (this module): the ``check_*`` contract checks and :class:`TinyDenoiserNet`.
* :mod:`tempo_kit.testing.toy`: the analytic 2-D Gaussian-mixture problem with an exact denoiser and ODE jump.
* :mod:`tempo_kit.testing.synth`: a tiny additive synthesizer for offline test audio.
* :mod:`tempo_kit.testing.control`: the untrained toy mel generator and a sine-bank decoder for the control loop.

Each part sits in the layer its own imports need (``tests/test_layers.py`` maps them by module path): this module,
``toy`` and ``synth`` import nothing above core and are core, so that the ``mixture`` data source of ``training`` can use
the toy problem, while ``control`` builds on :mod:`tempo_kit.control` and sits in the control layer (only the layers
above it may import it), which is why this module imports none of its submodules.

Each ``check_*`` function exercises one contract of :mod:`tempo_kit` (shapes, dtypes, finite values, determinism,
batch independence, gradients, sigma handling) and raises :class:`AssertionError` with a message naming the failed
property. They return nothing on success, so they drop straight into a pytest test::

    from tempo_kit.testing import check_denoiser

    def test_my_denoiser():
        check_denoiser(MyDenoiser(), torch.randn(2, 4, 32), torch.tensor([0.5, 3.0]))

Put modules with dropout in ``eval()`` mode first: determinism is part of every contract. :class:`TinyDenoiserNet` is a
small non-trivial network for testing samplers and jumps without a real model.
"""

from __future__ import annotations

import numbers

from typing import Any

import torch
from torch import nn

from ..grad import Backprop, Checkpointed, NoGrad
from ..schedules import user_sigmas

__all__ = ["TinyDenoiserNet", "check_denoiser", "check_jump", "check_sampler", "check_extractor"]


class TinyDenoiserNet(nn.Module):
    """A small raw network ``F(x_in, c_noise, cond)`` for :class:`~tempo_kit.denoisers.EDMPrecond`.

    A two-layer MLP over the flattened non-batch dimensions with a sinusoidal embedding of ``c_noise`` added to the
    hidden layer; ``cond`` (an optional ``(batch, channels, *spatial)`` tensor) is added to the input. Non-linear in
    ``x`` and ``sigma``, so gradients through a sampler are non-trivial.

    Parameters
    ----------
    shape : tuple of int
        Per-sample shape ``(channels, *spatial)``.
    hidden : int
        Hidden width.
    generator : torch.Generator, optional
        Source of the initial weights (default: PyTorch's global generator).
    """

    def __init__(self, *, shape: tuple[int, ...], hidden: int = 32, generator: torch.Generator | None = None):
        super().__init__()
        self.shape = tuple(shape)
        features = int(torch.tensor(self.shape).prod())
        self.inp = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, features)
        self.register_buffer("freqs", torch.linspace(0.5, 4.0, hidden // 2))
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=generator) / max(1, p.shape[-1]) ** 0.5)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: Any = None) -> torch.Tensor:
        if cond is not None:
            x = x + cond
        emb = c_noise[:, None].to(x.dtype) * self.freqs.to(x.dtype)
        h = self.inp(x.flatten(1)) + torch.cat([emb.sin(), emb.cos()], 1)
        return self.out(torch.nn.functional.silu(h)).view_as(x)


# -- helpers -----------------------------------------------------------------------------------------------------------
def _fail(what: str, message: str) -> None:
    raise AssertionError(f"{what}: {message}")


class _calls:
    """Turn an exception raised by the component into an AssertionError that says which call failed."""

    def __init__(self, what: str, label: str):
        self.what, self.label = what, label

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and not isinstance(exc, AssertionError):
            raise AssertionError(f"{self.what}: raised {type(exc).__name__}: {exc} ({self.label})") from exc


def _tol(dtype: torch.dtype) -> tuple[float, float]:
    return (1e-9, 1e-7) if dtype == torch.float64 else (1e-4, 1e-4)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    rtol, atol = _tol(a.dtype)
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach() - b.detach()).abs().max()) if a.shape == b.shape else float("nan")


_BATCH_INDEPENDENCE = "batch independence: sample 0 alone differs from sample 0 in the batch"


def _agree(what: str, a: torch.Tensor, b: torch.Tensor, problem: str, hint: str = "") -> None:
    """Fail with ``problem (max diff ...)`` and an optional ``hint`` unless ``a`` and ``b`` agree within tolerance."""
    if not _close(a, b):
        _fail(what, f"{problem} (max diff {_max_diff(a, b):.3g}){hint}")


def _subject(kind: str, component: Any, example: torch.Tensor, name: str = "x") -> str:
    """How failure messages name ``component`` (``"<kind> <class>"``), after checking that the example input ``name``
    holds at least two samples (batch independence compares sample 0 alone with sample 0 in the batch)."""
    if example.ndim < 2 or example.shape[0] < 2:
        raise ValueError(f"check_{kind} needs {name} of shape (batch >= 2, channels, ...)")
    return f"{kind} {type(component).__name__}"


def _check_output(what: str, out: Any, like: torch.Tensor, *, same_shape: bool = True) -> None:
    if not isinstance(out, torch.Tensor):
        _fail(what, f"must return a torch.Tensor, got {type(out).__name__}")
    if same_shape and out.shape != like.shape:
        _fail(what, f"output shape {tuple(out.shape)} != input shape {tuple(like.shape)}")
    if same_shape and out.dtype != like.dtype:
        _fail(what, f"output dtype {out.dtype} != input dtype {like.dtype}")
    if not torch.isfinite(out).all():
        _fail(what, f"output has {int((~torch.isfinite(out)).sum())} non-finite values")


def _slice(obj: Any, index: slice, batch: int) -> Any:
    """Slice the batch dimension of a conditioning object (tensor, dict, list/tuple of them); leave the rest."""
    if isinstance(obj, torch.Tensor):
        return obj[index] if obj.ndim > 0 and obj.shape[0] == batch else obj
    if isinstance(obj, dict):
        return {k: _slice(v, index, batch) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_slice(v, index, batch) for v in obj)
    return obj


class _eval_mode:
    """Put a module in eval mode for the duration of a check and restore its training flags afterwards."""

    def __init__(self, module: Any):
        self.modules = list(module.modules()) if isinstance(module, nn.Module) else []

    def __enter__(self):
        self.flags = [m.training for m in self.modules]
        for m in self.modules:
            m.training = False

    def __exit__(self, *exc):
        for m, flag in zip(self.modules, self.flags):
            m.training = flag


def _check_grads(what: str, module: Any, fn, x: torch.Tensor, *, zeros_label: str = "zeros input") -> None:
    """Finite gradients of ``fn`` with respect to its input at ``x`` and at zeros, ``module`` in eval mode."""
    with _eval_mode(module):
        _check_grad(what, fn, x, label="example input")
        _check_grad(what, fn, torch.zeros_like(x), label=zeros_label)


def _check_grad(what: str, fn, x: torch.Tensor, *, label: str) -> None:
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    if not out.requires_grad:
        _fail(what, f"output does not depend differentiably on its input ({label}); gradients cannot flow")
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if grad is None:
        _fail(what, f"no gradient reaches the input ({label})")
    if not torch.isfinite(grad).all():
        _fail(what, f"gradient with respect to the input has non-finite values ({label})")


def _sigma_vector(sigma, x: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return sigma.expand(x.shape[0]).clone() if sigma.ndim == 0 else sigma


# -- denoisers ---------------------------------------------------------------------------------------------------------
def check_denoiser(denoiser: nn.Module, x: torch.Tensor, sigma, cond: Any = None) -> None:
    """Check the denoiser contract ``D(x, sigma, cond) -> x0``.

    Checked: output is a tensor of ``x``'s shape and dtype with finite values; a scalar ``sigma`` equals the same value
    repeated as a ``(batch,)`` tensor; repeated calls agree (determinism); each sample depends only on itself
    (batch independence, with per-sample sigmas); gradients with respect to ``x`` exist and are finite, also for
    ``x = 0``; very small and very large sigmas give finite outputs.

    Parameters
    ----------
    denoiser : nn.Module
        The denoiser under test (put in eval mode during the check).
    x : Tensor, shape ``(batch, channels, *spatial)``
        Example noisy input, ``batch >= 2``.
    sigma : float or Tensor, shape ``(batch,)``
        Noise levels to test at.
    cond : Any, optional
        Conditioning passed through unchanged (tensors and dicts of tensors are sliced along the batch).

    Raises
    ------
    AssertionError
        Naming the property that failed.
    """
    what = _subject("denoiser", denoiser, x)
    sig = _sigma_vector(sigma, x)
    with _eval_mode(denoiser), torch.no_grad():
        out = denoiser(x, sig, cond)
        _check_output(what, out, x)
        _agree(what, out, denoiser(x, sig, cond), "two calls with the same input differ",
               "; is it in eval mode, or does it draw random numbers?")
        with _calls(what, "called with a float sigma"):
            scalar = denoiser(x, float(sig[0]), cond)
        vector = denoiser(x, sig[:1].expand(x.shape[0]).clone(), cond)
        _agree(what, scalar, vector, "a float sigma and the same sigma as a (batch,) tensor give different outputs")
        with _calls(what, "called with a batch of 1"):
            first = denoiser(x[:1], sig[:1], _slice(cond, slice(0, 1), x.shape[0]))
        _agree(what, first, out[:1], _BATCH_INDEPENDENCE, "; does it normalize across the batch?")
        for extreme in (1e-3, 80.0):
            with _calls(what, f"called at sigma={extreme}"):
                _check_output(f"{what} at sigma={extreme}", denoiser(x, torch.full_like(sig, extreme), cond), x)
    _check_grads(what, denoiser, lambda z: denoiser(z, sig, cond), x)


# -- jumps -------------------------------------------------------------------------------------------------------------
def check_jump(jump: nn.Module, x: torch.Tensor, sigma_from, sigma_to, cond: Any = None, *,
               boundary: bool = False) -> None:
    """Check the jump contract ``G(x, sigma_from, sigma_to, cond) -> x at sigma_to``.

    Checked: shape, dtype and finite values; determinism; scalar and ``(batch,)`` sigmas agree; batch independence;
    ``sigma_to = 0`` is accepted; finite gradients with respect to ``x`` (also at ``x = 0``). With ``boundary=True``
    also ``G(x, t, t) == x`` (true for CTM's Euler form and ODE jumps, not for consistency models, which always land on
    ``x0``).

    Parameters
    ----------
    jump : nn.Module
        The jump under test.
    x : Tensor, shape ``(batch, channels, *spatial)``
        Example input at level ``sigma_from``, ``batch >= 2``.
    sigma_from, sigma_to : float or Tensor, shape ``(batch,)``
        Start and target noise levels (``sigma_to <= sigma_from``).
    cond : Any, optional
        Conditioning, passed through.
    boundary : bool
        Also check the identity ``G(x, t, t) = x``.

    Raises
    ------
    AssertionError
        Naming the property that failed.
    """
    what = _subject("jump", jump, x)
    t, s = _sigma_vector(sigma_from, x), _sigma_vector(sigma_to, x)
    if (s > t).any():
        raise ValueError("check_jump needs sigma_to <= sigma_from")
    with _eval_mode(jump), torch.no_grad():
        out = jump(x, t, s, cond)
        _check_output(what, out, x)
        _agree(what, out, jump(x, t, s, cond), "two calls with the same input differ")
        with _calls(what, "called with float sigmas"):
            scalar = jump(x, float(t[0]), float(s[0]), cond)
        vector = jump(x, t[:1].expand_as(t).clone(), s[:1].expand_as(s).clone(), cond)
        _agree(what, scalar, vector, "float sigmas and (batch,) tensors give different outputs")
        with _calls(what, "called with a batch of 1"):
            first = jump(x[:1], t[:1], s[:1], _slice(cond, slice(0, 1), x.shape[0]))
        _agree(what, first, out[:1], _BATCH_INDEPENDENCE)
        with _calls(what, "called with sigma_to=0"):
            _check_output(f"{what} with sigma_to=0", jump(x, t, torch.zeros_like(s), cond), x)
        if boundary:
            _agree(what, jump(x, t, t, cond), x, "G(x, t, t) != x")
    _check_grads(what, jump, lambda z: jump(z, t, s, cond), x)


# -- samplers ----------------------------------------------------------------------------------------------------------
def check_sampler(sampler, model: nn.Module, x_T: torch.Tensor, sigmas=3, cond: Any = None) -> None:
    """Check the sampler contract ``sampler(model, x_T, sigmas, cond=, noise=, generator=, grad=)``.

    Checked: output shape, dtype, finite values; the same pre-drawn noise (or the same generator seed) gives the same
    output; batch independence (sample 0 alone, with its slice of the noise); the number of network calls (of the
    innermost network: a jump's denoiser, a preconditioner's net) equals ``sampler.nfe(sigmas, model)``; ``NoGrad`` builds no graph; ``Checkpointed`` and ``Backprop`` give the same finite
    gradient with respect to ``x_T``.

    Parameters
    ----------
    sampler : Sampler
        The sampler under test; ``sampler.drives`` says whether ``model`` is a denoiser or a jump.
    model : nn.Module
        A denoiser or a jump matching ``sampler.drives`` (e.g. ``EDMPrecond(net=TinyDenoiserNet(...))``).
    x_T : Tensor, shape ``(batch, channels, *spatial)``
        Initial state at level ``sigmas[0]``, ``batch >= 2``; use float64 for tight gradient comparisons.
    sigmas : int or Tensor
        Steps or an explicit decreasing sigma tensor ending in 0.
    cond : Any, optional
        Conditioning, passed through.

    Raises
    ------
    AssertionError
        Naming the property that failed.
    """
    from ..denoisers import count_network_calls
    from ..samplers import draw_noise

    what = _subject("sampler", sampler, x_T, "x_T")
    if getattr(sampler, "drives", None) not in ("denoiser", "jump"):
        _fail(what, f"must declare drives = 'denoiser' or 'jump', got {getattr(sampler, 'drives', None)!r}")
    n_steps = int(sigmas) if isinstance(sigmas, numbers.Integral) and not isinstance(sigmas, bool) else user_sigmas(sigmas).numel() - 1
    noise = draw_noise(n_steps, x_T, torch.Generator(device=x_T.device).manual_seed(0))
    with _eval_mode(model):
        with count_network_calls(model) as (counted, counter):
            out = sampler(counted, x_T, sigmas, cond=cond, noise=noise)
        _check_output(what, out, x_T)
        if out.requires_grad:
            _fail(what, "the default gradient strategy must be NoGrad (output requires grad)")
        expected = sampler.nfe(sigmas, model)
        if counter.nfe != expected:
            _fail(what, f"called the network {counter.nfe} times for {n_steps} steps but sampler.nfe() says {expected}")
        _agree(what, out, sampler(model, x_T, sigmas, cond=cond, noise=noise.clone()),
               "the same noise gave different outputs", "; all randomness must come from `noise` or `generator`")
        a = sampler(model, x_T, sigmas, cond=cond, generator=torch.Generator(device=x_T.device).manual_seed(1))
        b = sampler(model, x_T, sigmas, cond=cond, generator=torch.Generator(device=x_T.device).manual_seed(1))
        _agree(what, a, b, "the same generator seed gave different outputs")
        first = sampler(model, x_T[:1], sigmas, cond=_slice(cond, slice(0, 1), x_T.shape[0]), noise=noise[:, :1])
        _agree(what, first, out[:1], _BATCH_INDEPENDENCE)
        if sampler(model, x_T, sigmas, cond=cond, noise=noise, grad=NoGrad()).requires_grad:
            _fail(what, "NoGrad built a graph")
        grads = []
        for strategy in (Backprop(), Checkpointed()):
            x = x_T.detach().clone().requires_grad_(True)
            y = sampler(model, x, sigmas, cond=cond, noise=noise, grad=strategy)
            if not y.requires_grad:
                _fail(what, f"{type(strategy).__name__}: output does not depend differentiably on x_T")
            (g,) = torch.autograd.grad(y.square().sum(), x)
            if not torch.isfinite(g).all():
                _fail(what, f"{type(strategy).__name__}: non-finite gradient with respect to x_T")
            grads.append(g)
        scale = float(grads[0].abs().max()) or 1.0
        rtol = 1e-5 if x_T.dtype == torch.float64 else 1e-3
        if _max_diff(*grads) > rtol * scale:
            _fail(what, f"Checkpointed and Backprop gradients differ (max diff {_max_diff(*grads):.3g}, "
                        f"gradient scale {scale:.3g})")


# -- extractors --------------------------------------------------------------------------------------------------------
def check_extractor(extractor: nn.Module, example_input: torch.Tensor) -> None:
    """Check the feature-extractor contract (:class:`tempo_kit.features.base.Extractor`) on one example input.

    Checked: ``domain`` is one of ``"mel"``, ``"audio"``, ``"latent"``; the output is a floating tensor with the input's
    batch size and finite values; when ``num_frames`` returns a number it equals the output's last dimension;
    determinism; batch independence (the example next to a louder, time-reversed copy of itself); gradients with respect to the
    input exist and are finite for the example and for an all-zeros input (silence).

    Parameters
    ----------
    extractor : nn.Module
        The extractor under test (put in eval mode during the check).
    example_input : Tensor, shape ``(batch, ...)``
        A valid input in the extractor's domain, e.g. a ``(1, 22050)`` waveform; any batch size >= 1.

    Raises
    ------
    AssertionError
        Naming the property that failed.
    """
    from ..features.base import DOMAINS

    what = f"extractor {type(extractor).__name__}"
    domain = getattr(extractor, "domain", None)
    if domain not in DOMAINS:
        _fail(what, f"domain must be one of {DOMAINS}, got {domain!r}")
    x = example_input
    with _eval_mode(extractor), torch.no_grad():
        out = extractor(x)
        _check_output(what, out, x, same_shape=False)
        if not out.is_floating_point():
            _fail(what, f"output dtype must be floating point, got {out.dtype}")
        if out.ndim == 0 or out.shape[0] != x.shape[0]:
            _fail(what, f"output must keep the batch dimension {x.shape[0]}, got shape {tuple(out.shape)}")
        num_frames = getattr(extractor, "num_frames", None)
        frames = num_frames(x.shape[-1]) if callable(num_frames) else None
        if frames is not None and out.shape[-1] != frames:
            _fail(what, f"num_frames({x.shape[-1]}) = {frames} but the output has {out.shape[-1]} frames")
        _agree(what, out, extractor(x), "two calls with the same input differ")
        pair = torch.cat([x, 1.5 * x.flip(-1)])  # a louder, time-reversed partner
        _agree(what, extractor(pair)[: x.shape[0]], out,
               "batch independence: the output for a sample changed when another sample joined the batch")
    _check_grads(what, extractor, extractor, x, zeros_label="zeros input (silence)")
