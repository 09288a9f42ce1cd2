"""One trainer for every recipe: per-group optimizers and update schedules, EMA, bf16, checkpoints, torchrun.

At step ``s`` the trainer

1. draws the global batch from the data source with a generator seeded by ``(seed, s)`` and keeps this rank's shard;
2. asks the recipe for ``{group: {term: loss}}`` for the groups active at ``s`` (their :class:`UpdateRule` s), with a
   noise generator seeded by ``(seed, s, rank)``, under bf16 autocast if configured;
3. back-propagates each group's summed terms into **that group's parameters only** (``backward(inputs=params)``), so
   a generator loss never leaves gradients in the fake score and vice versa;
4. averages gradients over ranks, clips each group's gradient norm and steps each active group's optimizer;
5. calls ``recipe.after_step(s)`` (EMA targets ...) and updates the evaluation EMA of the student.

Distributed training. Under ``torchrun`` (``torch.distributed`` initialized; gloo on CPU, NCCL on GPU) every rank draws
the same global batch and takes its contiguous shard, parameters are broadcast from rank 0 at start, and after
backward the gradients of the active groups are all-reduced (summed, divided by the world size) in one flat buffer
per group. This is exactly DDP's gradient averaging; it is used instead of wrapping modules in
``DistributedDataParallel`` because recipes run several networks in several roles per step, back-propagate into
selected groups with ``backward(inputs=...)`` and alternate groups between steps (Presto-S: 5 fake-score updates per
generator update), none of which DDP's per-module reducer hooks support without ``find_unused_parameters`` and
``no_sync`` gymnastics. Rank 0 writes checkpoints, logs and plots; all ranks read the checkpoint on resume (shared
filesystem).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..utils import progress_bar, write_text_atomic
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import as_batch_source, shard_batch, to_device
from .ema import EMA
from .recipe import Recipe

__all__ = ["Trainer", "TrainResult", "TrainingDivergedError", "seed_for", "plot_losses"]

CHECKPOINT = "checkpoint.safetensors"
LOG = "losses.jsonl"
PLOT = "losses.png"


def seed_for(*numbers: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy ``SeedSequence``), e.g. ``seed_for(seed, step, stream, rank)``."""
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(1, dtype=np.uint64)[0] >> 1)


@attrs.frozen(kw_only=True)
class TrainResult:
    """What :meth:`Trainer.fit` returns: the step reached, the per-step loss records and where things were saved."""

    step: int
    history: list[dict[str, float]]
    out_dir: str | None
    seconds: float
    resumed_from: int | None = None  # the checkpoint's step when the run continued one
    replaced: str | None = None  # where a fresh run (resume=False) moved the outputs of the run it replaced


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def read_log(path: str | Path) -> list[dict]:
    """The records of a ``losses.jsonl``; a cut last line (a run killed while writing it) is dropped, any other line
    that is not JSON is an error naming the file and line."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not a JSON record; the loss log is damaged") from None
    return records


def plot_losses(log_path: str | Path, png_path: str | Path) -> None:
    """Plot every logged term against the step (log scale where all values are positive) to a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    if not records:
        return
    keys = sorted({k for r in records for k in r if k not in ("step", "time")})
    fig, ax = plt.subplots(figsize=(7, 4))
    positive = True
    for key in keys:
        pts = [(r["step"], r[key]) for r in records if key in r and math.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts), label=key, lw=1)
            positive &= all(v > 0 for _, v in pts)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


class TrainingDivergedError(FloatingPointError):
    """A loss turned NaN or infinite; raised before the update, so no checkpoint holds the diverged weights."""


class Trainer:
    """Run a :class:`~tempo_kit.training.Recipe` (see module docstring for what one step does).

    Parameters
    ----------
    recipe : Recipe
    data : BatchSource, callable or Tensor
        ``sample_batch(batch_size, generator) -> batch`` (see :mod:`tempo_kit.training.data`).
    config : TrainConfig
    """

    def __init__(self, *, recipe: Recipe, data: Any, config: TrainConfig):
        self.recipe = recipe
        self.data = as_batch_source(data)
        self.config = config
        self.rank, self.world_size = _world()
        if config.batch_size % self.world_size:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the world size {self.world_size}")
        self.device = self._device(config.device)
        recipe.to(self.device)
        self.groups = recipe.param_groups()
        rules = recipe.update_rules()
        names = [r.group for r in rules]
        if sorted(names) != sorted(self.groups) or len(set(names)) != len(names):
            raise ValueError(f"recipe {recipe.name!r}: update_rules cover groups {names}, param_groups has {sorted(self.groups)}")
        shared = self._shared_params()
        if shared:
            raise ValueError(f"recipe {recipe.name!r}: parameter groups {shared} share parameters")
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizers = {
            r.group: opt_cls(self.groups[r.group], lr=r.lr, betas=r.betas, weight_decay=r.weight_decay) for r in rules
        }
        self.ema = EMA(module=recipe.student(), decay=config.ema_decay) if config.ema_decay is not None else None
        self.step = 0
        self.out_dir = Path(config.out_dir) if config.out_dir else None

    # -- setup -------------------------------------------------------------------------------------------------
    def _device(self, name: str) -> torch.device:
        from ..utils import check_device

        if name in ("auto", "cuda") and torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())  # under torchrun: cuda:LOCAL_RANK
        return check_device("cpu" if name == "auto" else name)

    def _shared_params(self) -> list[str]:
        seen: dict[int, str] = {}
        clashes = []
        for name, params in self.groups.items():
            for p in params:
                if id(p) in seen and seen[id(p)] != name:
                    clashes.append(f"{seen[id(p)]}/{name}")
                seen[id(p)] = name
        return sorted(set(clashes))

    def _broadcast(self) -> None:
        if self.world_size > 1:
            for t in list(self.recipe.parameters()) + list(self.recipe.buffers()):
                dist.broadcast(t.data, src=0)

    # -- checkpoints -------------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT if self.out_dir else None

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write a checkpoint (rank 0 only; other ranks wait)."""
        path = Path(path) if path else self.checkpoint_path
        if path is not None and self.rank == 0:
            save_checkpoint(path, recipe=self.recipe, optimizers=self.optimizers, step=self.step,
                            seed=self.config.seed, ema=self.ema)
        if self.world_size > 1:
            dist.barrier()
        return path

    def load(self, path: str | Path | None = None) -> int:
        """Restore a checkpoint; returns the step it holds."""
        path = Path(path) if path else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: set config.out_dir or pass a path")
        info = load_checkpoint(path, recipe=self.recipe, optimizers=self.optimizers, ema=self.ema, device=self.device)
        self.step = info["step"]
        if self.step > 0:  # the learning rate the checkpoint's last update used vs the one this config gives it
            scale = self.config.lr_scale(self.step - 1)
            changed = [f"{r.group!r} {self.optimizers[r.group].param_groups[0]['lr']:.3g} -> {r.lr * scale:.3g}"
                       for r in self.recipe.update_rules()
                       if not math.isclose(self.optimizers[r.group].param_groups[0]["lr"], r.lr * scale, rel_tol=1e-6)]
            if changed:
                import warnings

                warnings.warn(f"resuming at step {self.step}: the checkpoint's last update used another learning rate than "
                              f"this config's schedule gives that step (group {', '.join(changed)}; lr, steps or "
                              "cooldown_steps changed); training goes on with this config's schedule", stacklevel=2)
        return self.step

    # -- one step ----------------------------------------------------------------------------------------------
    def _autocast(self):
        if not self.config.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _batch(self, step: int) -> Any:
        gen = torch.Generator().manual_seed(seed_for(self.config.seed, step, 0))
        batch = self.data.sample_batch(self.config.batch_size, gen)
        return to_device(shard_batch(batch, self.rank, self.world_size), self.device)

    def train_step(self) -> dict[str, float]:
        """Run step ``self.step`` and advance; returns the logged values (``group/term`` and ``group/total``)."""
        step = self.step
        rules = [r for r in self.recipe.update_rules() if r.active(step)]
        active = frozenset(r.group for r in rules)
        batch = self._batch(step)
        noise = torch.Generator(device=self.device).manual_seed(seed_for(self.config.seed, step, 1, self.rank))
        with self._autocast():
            losses = self.recipe.losses(batch, step=step, groups=active, generator=noise)
        if set(losses) != set(active):
            raise RuntimeError(f"recipe {self.recipe.name!r} returned losses for {sorted(losses)} at step {step}, "
                               f"but the active groups are {sorted(active)}")
        bad = [f"{g}/{k} = {float(v.detach().float().mean())}" for g, terms in losses.items() for k, v in terms.items()
               if not torch.isfinite(v.detach()).all()]
        if self.world_size > 1:  # every rank stops together (a rank left waiting in an all-reduce would hang)
            flag = torch.tensor([float(bool(bad))], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() and not bad:
                bad = ["a loss on another rank"]
        if bad:
            raise TrainingDivergedError(f"step {step}: loss {', '.join(bad)} is not finite; training stopped before "
                                        f"this update, {self._kept()}")
        totals = {}
        for r in rules:
            terms = losses[r.group]
            if not terms:
                raise RuntimeError(f"recipe {self.recipe.name!r} returned no loss terms for group {r.group!r}")
            totals[r.group] = sum(t.float() for t in terms.values())
        for p in self.recipe.parameters():
            p.grad = None
        for i, r in enumerate(rules):
            params = [p for p in self.groups[r.group] if p.requires_grad]
            totals[r.group].backward(inputs=params, retain_graph=i < len(rules) - 1)
        for r in rules:  # every group's gradient is checked before any update is applied
            params = [p for p in self.groups[r.group] if p.requires_grad]
            self._all_reduce(params)
            clip = self.config.grad_clip if self.config.grad_clip is not None else math.inf  # inf: the norm, unclipped
            norm = torch.nn.utils.clip_grad_norm_(params, clip)  # 0 for no parameters
            if not torch.isfinite(norm):
                raise TrainingDivergedError(f"step {step}: the gradient of group {r.group!r} is not finite (norm {float(norm)}) "
                                            f"although its loss is; training stopped before this update, {self._kept()}")
        scale = self.config.lr_scale(step)
        for r in rules:
            for group in self.optimizers[r.group].param_groups:
                group["lr"] = r.lr * scale
            self.optimizers[r.group].step()
        for p in self.recipe.parameters():
            p.grad = None
        self.recipe.after_step(step)
        if self.ema is not None:
            self.ema.update(self.recipe.student())
        self.step += 1
        record = {f"{g}/{k}": v.detach().float() for g, terms in losses.items() for k, v in terms.items()}
        record.update({f"{g}/total": t.detach() for g, t in totals.items()} if any(len(losses[g]) > 1 for g in losses) else {})
        record.update({f"diag/{k}": v.detach().float() for k, v in self.recipe.diagnostics().items()})
        if self.config.cooldown_steps:
            record["diag/lr_scale"] = torch.tensor(scale, device=self.device)
        return self._mean_over_ranks(record)

    def _kept(self) -> str:
        return (f"the last checkpoint ({self.checkpoint_path}) is kept" if self.checkpoint_path is not None
                and self.checkpoint_path.is_file() else "no checkpoint was written yet")

    def _all_reduce(self, params: list[nn.Parameter]) -> None:
        if self.world_size == 1 or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def _mean_over_ranks(self, record: dict[str, torch.Tensor]) -> dict[str, float]:
        keys = sorted(record)
        values = torch.stack([record[k].reshape(()) for k in keys]) if keys else torch.zeros(0)
        if self.world_size > 1 and keys:
            dist.all_reduce(values)
            values = values / self.world_size
        return dict(zip(keys, values.tolist()))

    # -- the loop ----------------------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> TrainResult:
        """Train up to ``config.steps`` steps; with ``resume`` continue from ``out_dir``'s checkpoint when there is one."""
        cfg = self.config
        start_time = time.perf_counter()
        if self.out_dir is not None and self.out_dir.exists() and not self.out_dir.is_dir():
            raise NotADirectoryError(f"out_dir {str(self.out_dir)!r} is a file; the run needs a folder there")
        if self.out_dir is not None and self.rank == 0:  # temporaries of a run killed while saving
            from ..utils import remove_stale_temporaries

            for folder in (self.out_dir, self.out_dir / "student"):
                remove_stale_temporaries(folder)
        resumed_from = replaced = None
        if resume and self.checkpoint_path is not None and self.checkpoint_path.is_file():
            self.load()
            resumed_from = self.step
            if self.step >= cfg.steps:
                import warnings

                warnings.warn(f"the checkpoint in {self.out_dir} is already at step {self.step} >= steps = {cfg.steps}: "
                              "nothing to train (raise steps, or start over with resume=False / --no-resume)",
                              stacklevel=2)
        elif self.rank == 0:  # a fresh run (or nothing to resume from): an earlier run's files are moved aside
            replaced = self._move_previous_run()
        self._broadcast()
        # what a run that fails before its first step takes back: the folder and log it made, the previous run it moved
        made = self.out_dir is not None and not self.out_dir.exists()
        fresh_log = self.out_dir is not None and not (self.out_dir / LOG).exists()
        log = self._open_log()
        history: list[dict[str, float]] = []
        bar = progress_bar(cfg.steps, initial=self.step, desc=f"distill {self.recipe.name}", unit="step",
                           enabled=cfg.progress and self.rank == 0)
        stop = _GracefulStop(enabled=self.world_size == 1 and self.out_dir is not None)
        try:
            while self.step < cfg.steps:
                if stop.requested:  # Ctrl-C between steps: keep every finished step
                    self.save()
                    raise KeyboardInterrupt(f"stopped at step {self.step}; checkpoint saved")
                record = {"step": self.step, **self.train_step()}
                history.append(record)
                if log is not None and (record["step"] % cfg.log_every == 0 or self.step == cfg.steps):
                    record["time"] = round(time.perf_counter() - start_time, 4)
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(record.items())[1:4] if k != "time"}, refresh=False)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps:
                    self.save()
                if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                    self.snapshot()
        except BaseException:
            if not history and self.out_dir is not None and self.rank == 0:
                if fresh_log:
                    (self.out_dir / LOG).unlink(missing_ok=True)
                if replaced is not None:  # the run it replaced is the one to resume, as if this one never started
                    for item in replaced.iterdir():
                        item.rename(self.out_dir / item.name)
                    replaced.rmdir()
                if made:
                    with contextlib.suppress(OSError):
                        self.out_dir.rmdir()
            raise
        finally:
            stop.restore()
            bar.close()
            if log is not None:
                log.close()
        if self.out_dir is not None:
            self.save()
            self.export()
        return TrainResult(step=self.step, history=history, out_dir=str(self.out_dir) if self.out_dir else None,
                           seconds=time.perf_counter() - start_time, resumed_from=resumed_from,
                           replaced=None if replaced is None else str(replaced))

    def _move_previous_run(self) -> Path | None:
        """Rank 0, a fresh run into an ``out_dir`` that holds another run's outputs: move them (checkpoint, loss log
        and plot, exported students, snapshots) into ``out_dir/replaced-<time>`` so that nothing of it is lost or
        mixed with the new run's log; returns that folder (None when there was nothing to move)."""
        if self.out_dir is None:
            return None
        owned = [self.out_dir / n for n in (CHECKPOINT, LOG, PLOT, "student", "student_ema", "snapshots")]
        present = [p for p in owned if p.exists()]
        if not present:
            return None
        stamp, n = time.strftime("replaced-%Y%m%d-%H%M%S"), 1
        folder = self.out_dir / stamp
        while folder.exists():  # two fresh runs within a second
            n += 1
            folder = self.out_dir / f"{stamp}-{n}"
        folder.mkdir()
        for p in present:
            p.rename(folder / p.name)
        return folder

    def _open_log(self):
        if self.out_dir is None or self.rank != 0:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / LOG
        if path.is_file():  # drop records past the restored step (a run that died after its last checkpoint)
            kept = [r for r in read_log(path) if r["step"] < self.step]
            write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
        return path.open("a")

    def snapshot(self) -> Path | None:
        """Rank 0: export the student's EMA (or the student) to ``out_dir/snapshots/step_<N>``; returns the folder."""
        if self.out_dir is None or self.rank != 0:
            return None
        from ..models.io import save_model

        return save_model(self.ema.module if self.ema is not None else self.recipe.student(),
                          self.out_dir / "snapshots" / f"step_{self.step}")

    def export(self) -> None:
        """Rank 0: save the student (and its EMA) as loadable models and plot the loss log."""
        if self.out_dir is None or self.rank != 0:
            return
        from ..models.io import save_model

        try:
            save_model(self.recipe.student(), self.out_dir / "student")
            if self.ema is not None:
                save_model(self.ema.module, self.out_dir / "student_ema")
        except TypeError as exc:  # a custom network without a registry name: the checkpoint still has it
            import warnings

            warnings.warn(f"student not exported as a model folder ({exc}); its weights are in {CHECKPOINT}", stacklevel=2)
        if (self.out_dir / LOG).is_file():
            plot_losses(self.out_dir / LOG, self.out_dir / PLOT)


class _GracefulStop:
    """While a single-process run with an ``out_dir`` trains: the first SIGINT (Ctrl-C, ``timeout -s INT``) asks the
    loop to stop after the step in progress and save a checkpoint, so no finished step is lost; a second one stops at
    once. Elsewhere (a thread other than the main one, several ranks, no out_dir, a SIGINT handler other than
    Python's default, or SIGINT ignored) SIGINT is left as it is."""

    def __init__(self, *, enabled: bool):
        self.requested = False
        self._installed = False
        # only over Python's own Ctrl-C handler: a SIGINT the caller ignores (a background job) or handles stays so
        if (enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True

    def _handle(self, signum, frame) -> None:
        if self.requested:  # the second Ctrl-C: stop now
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        print("interrupt: stopping after this step and saving a checkpoint (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False
