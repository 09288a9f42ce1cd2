"""Small helpers shared by every module: argument checks, tensor shapes, and files that are never left half-written."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import numbers
import operator
import os
import re
import sys
from pathlib import Path
from typing import Iterator

import torch

__all__ = ["check_int", "check_number", "as_validator", "append_dims", "as_sigma", "check_sigma", "progress_bar", "count_text", "levels_text", "parse_levels", "LevelsError", "atomic_path", "write_text_atomic", "remove_stale_temporaries", "folder_lock", "FolderBusyError"]


def check_int(value, what: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (numpy integers too) in ``[low, high]``.

    A float, bool or anything else raises ``TypeError`` naming ``what`` (never a silent cast: ``2.5`` steps is a
    mistake, not 2); an integer out of range raises ``ValueError``.
    """
    try:
        if isinstance(value, bool) or (hasattr(value, "dtype") and (getattr(value, "ndim", 0) != 0
                                                                  or str(value.dtype).endswith("bool"))):
            raise TypeError  # a bool, or an array / tensor that is not one integer
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(b for b in (f">= {low}" if low is not None else "",
                                          f"<= {high}" if high is not None else "") if b)
        raise ValueError(f"{what} must be {bounds}, got {value}")
    return value


def _real(value, what: str, kind: str) -> float:
    """``value`` as a float if it is a real number (numpy scalars too, never a bool); else a TypeError naming ``what``
    as ``kind``, or a ValueError for a number too large for a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be {kind}, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{what} must be {kind}, got {value!r:.40} (too large for a float)") from None


def check_number(value, what: str, *, positive: bool = False) -> float:
    """``value`` as a ``float`` if it is a finite real number (numpy scalars too) ``>= 0``, or ``> 0`` with
    ``positive``.

    Anything that is not a real number (a string, a bool, any tensor) raises ``TypeError`` naming ``what``; NaN,
    infinities, numbers too large for a float and numbers out of range raise ``ValueError``.
    """
    value = _real(value, what, "a finite number")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return value


def as_validator(check, **kwargs):
    """An attrs validator that runs ``check(value, name_of_the_field, **kwargs)``, e.g.
    ``attrs.field(validator=as_validator(check_int, low=1))``."""
    return lambda _, attribute, value: check(value, attribute.name, **kwargs)


def in_range(low: float = -math.inf, high: float = math.inf, *, integer: bool = False, open_low: bool = False,
             open_high: bool = False):
    """An attrs validator: a real number (an integer with ``integer``; never a bool or a string) in ``[low, high]``,
    the ends excluded with ``open_low`` / ``open_high``; the error names the field, the range and the value given."""
    def check(_, attribute, value):
        name = attribute.name
        if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.dtype.is_complex:
            value = value.item()  # a 0-d tensor is a number
        value = _real(check_int(value, name) if integer else value, name, "a number")
        if math.isnan(value) or not low <= value <= high or (open_low and value == low) or (open_high and value == high):
            raise ValueError(f"{name} must be in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}, "
                             f"got {value!r}")
    return check


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn` that points at the first caller outside tempo_kit (the user's line),
    however deep inside the library the warning is raised; call it in the function that warns."""
    root = str(Path(__file__).resolve().parent)

    def inside(filename: str) -> bool:  # tempo_kit, or a decorator's wrapper around one of its functions
        return filename.startswith(root) or filename.endswith(("contextlib.py", "functools.py"))

    frame, level = sys._getframe(1), 1
    while frame is not None and inside(str(Path(frame.f_code.co_filename).resolve())):
        frame, level = frame.f_back, level + 1
    return level


def one_of(*choices):
    """An attrs validator: one of ``choices`` (an unknown one suggests the closest)."""
    def check(_, attribute, value):
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
                             f"{did_you_mean(value, choices)}")
    return check


def append_dims(x: torch.Tensor, target_ndim: int) -> torch.Tensor:
    """Append trailing singleton dimensions so ``x`` broadcasts against a ``target_ndim`` tensor.

    Parameters
    ----------
    x : Tensor, shape ``(batch,)``
        A per-sample quantity such as ``sigma``.
    target_ndim : int
        Number of dimensions of the tensor ``x`` must broadcast against, e.g. ``(batch, channels, time)`` -> 3.
    """
    missing = target_ndim - x.ndim
    if missing < 0:
        raise ValueError(f"append_dims: input has {x.ndim} dims but target has only {target_ndim}")
    return x[(...,) + (None,) * missing]


def as_sigma(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Return ``sigma`` as a tensor of shape ``(batch,)`` on ``x``'s device and dtype.

    Accepts a Python float, a 0-d tensor or a ``(batch,)`` tensor.
    """
    sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a scalar or have shape (batch,) = ({x.shape[0]},), got {tuple(sigma.shape)}")
    return sigma


def check_sigma(sigma: torch.Tensor, what: str, *, positive: bool = False) -> None:
    """Raise ``ValueError`` naming ``what`` unless every noise level is finite and ``>= 0`` (``> 0`` with
    ``positive``). One reduction; called at the entry of denoisers and jumps, where a bad sigma would give garbage."""
    ok = torch.isfinite(sigma) & ((sigma > 0) if positive else (sigma >= 0))
    if not bool(ok.all()):
        bad = sigma[~ok].flatten()[:3].tolist()
        raise ValueError(f"{what}: noise levels must be finite and {'> 0' if positive else '>= 0'}, got {bad}")


# -- progress ------------------------------------------------------------------------------------------------------------
class _Silent:
    """What :func:`progress_bar` returns when no bar is shown: the tqdm calls used here, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def count_text(n: int, noun: str) -> str:
    """``"1 step"``, ``"4 steps"``: a count and its noun, plural with an ``s`` unless the count is 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def levels_text(levels) -> str:
    """Noise levels as a short list for labels and reports: ``(0.5, 0.1)`` -> ``"0.5, 0.1"``."""
    return ", ".join(f"{float(v):g}" for v in levels)


class LevelsError(ValueError, argparse.ArgumentTypeError):
    """A text that :func:`parse_levels` refuses: a ``ValueError`` that argparse also shows with its message when
    ``parse_levels`` is an option's ``type``."""


def parse_levels(text: str) -> tuple[float, ...]:
    """A comma list of noise levels, e.g. ``"0.5,0.1"`` -> ``(0.5, 0.1)``: strictly decreasing, finite and above 0
    (a sampler or DITTO-2 checks the upper bound, the model's sigma_max), else a :class:`LevelsError` (a
    ``ValueError``) saying so. The inverse of :func:`levels_text`; usable as an argparse ``type``."""
    try:
        levels = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LevelsError(f"expected comma-separated noise levels, e.g. 0.15 or 0.5,0.1, got {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in levels) or list(levels) != sorted(set(levels), reverse=True):
        raise LevelsError(f"expected strictly decreasing noise levels above 0, e.g. 0.5,0.1, got {text!r}")
    return levels


def progress_bar(total: int | None = None, *, desc: str = "", unit: str = "it", enabled: bool = True, initial: int = 0):
    """A tqdm bar on stderr only when ``enabled`` and stderr is a terminal (never in logs or pipes), redrawn at most
    twice a second and removed when done; otherwise an object whose ``update`` / ``set_postfix`` / ``close`` do
    nothing. Callers print their own one-line summary at the end."""
    import sys

    if not enabled or not sys.stderr.isatty():
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, mininterval=0.5, leave=False, dynamic_ncols=True)


# -- files ---------------------------------------------------------------------------------------------------------------
_TMP = re.compile(r"^\..+\.(?P<pid>\d+)\.tmp(\.\w+)?$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it is renamed onto ``path`` (atomic on one file
    system), on any failure or interrupt it is deleted. Readers see the old file or the new one, never a torn one.

    The temporary keeps the suffix (``.clip_0.<pid>.tmp.wav``) so writers that pick a format by extension work, and
    carries the writer's pid so :func:`remove_stale_temporaries` can clean up after a killed process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``Path(path).write_text(text)`` through :func:`atomic_path`: readers never see a partly written file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of :func:`atomic_path` in ``folder`` (not recursive) whose writer is no longer running
    (a process killed while saving); returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and p.is_file() and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class FolderBusyError(RuntimeError):
    """Another process is writing into the same output folder."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (``.tempo-kit.lock``, an OS file lock released even if the process is
    killed) while writing into it; a second writer gets :class:`FolderBusyError` at once instead of interleaving its
    files. Also removes stale temporaries left by killed writers, and the lock file itself on release. Where ``fcntl``
    is missing (Windows) nothing is locked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".tempo-kit.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield folder
        return
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:  # the holder before us removes the file on release: a lock on a removed file locks nothing: reopen
                current = os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise FolderBusyError(f"another tempo-kit run (pid {owner}) is writing to {folder}; wait for it to finish or "
                                  "choose another output folder") from None
        except BaseException:
            handle.close()
            raise
        if current:
            break
        handle.close()
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            remove_stale_temporaries(folder)
            yield folder
        finally:
            lock.unlink(missing_ok=True)  # while still held, so no one can lock the old file after this
            fcntl.flock(handle, fcntl.LOCK_UN)


def closest(value, valid) -> str | None:
    """The entry of ``valid`` closest to ``value`` (case, ``_`` and ``-`` ignored; :func:`difflib.get_close_matches`),
    or None when none is close: the "did you mean" of every unknown-name error."""
    def norm(s) -> str:
        return str(s).lower().replace("_", "-")

    by_norm = {norm(v): str(v) for v in valid}
    close = difflib.get_close_matches(norm(value), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def did_you_mean(value, valid) -> str:
    """``" (did you mean 'x'?)"`` for the :func:`closest` entry of ``valid`` to ``value``, or ``""``."""
    close = closest(value, valid)
    return f" (did you mean {close!r}?)" if close else ""


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` when this machine has it; else a ValueError naming the devices it has."""
    ok = {"cpu": True, "cuda": torch.cuda.is_available(),
          "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; a device is 'cpu', 'cuda', 'cuda:N' or 'mps' (available here: "
                         f"{', '.join(k for k, v in ok.items() if v)})") from None
    backend = getattr(torch, device.type, None)  # other accelerators (xpu, ...) say themselves whether they are here
    if device.type not in ok and callable(getattr(backend, "is_available", None)):
        ok[device.type] = bool(backend.is_available())
    if not ok.get(device.type, False):
        here = ", ".join(k for k, v in ok.items() if v)
        raise ValueError(f"device {str(device)!r} is not available here; available: {here}")
    return device
