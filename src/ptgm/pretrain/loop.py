"""The supervised training loop both pre-trained models share (low-level policy and goal prior).

One update: draw a batch from this epoch's shuffled, freshly relabelled samples, compute the
objective's loss, step Adam (DDP averages the gradients when several processes run). Every
`eval_every` updates rank 0 measures the validation set and keeps the best weights; every
`checkpoint_every` updates it saves the training state, from which the same command resumes. Losses are
logged every 50 updates to progress.csv and tb/ (`ptgm.training.logs`).

Everything random in an epoch (goal gaps, goal dropout, batch order) comes from a generator
seeded by (seed, epoch, rank), so a resumed run redraws exactly what the stopped run would have
drawn and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ptgm.config import ConfigError, check_at_least, check_paths_given, check_positive, save_yaml
from ptgm.envs import OBS_MODES
from ptgm.io import folder_lock, provenance, save_json, to_jsonable
from ptgm.training.checkpoint import (CheckpointError, load_checkpoint, read_counters, save_checkpoint,
                                     settings_blocking_resume)
from ptgm.training.logs import TrainingLog, progress_bar
from ptgm.pretrain.distributed import Distributed
from ptgm.pretrain.relabel import check_gaps


@dataclass(kw_only=True)
class PretrainConfig:
    data: str  # dataset directory, split with `ptgm split`
    out: str  # output directory: weights.safetensors, config.json, checkpoint/, progress.csv, tb/, metrics.json
    obs: str = "symbolic"  # observation the network reads: symbolic | pixels
    encoder: str | None = None  # goal encoder directory, for the 'learned' goal embedding
    min_btwn_goals: int = 15  # shortest gap between hindsight goal steps (paper: 15; Crafter default run: 1)
    max_btwn_goals: int = 200  # gaps between goal steps are drawn from [min_btwn_goals, max_btwn_goals) (paper: 200)
    hidden: int = 256  # width of the observation features and the MLP
    lr: float = 3e-4  # Adam learning rate
    weight_decay: float = 0.0  # decoupled weight decay (AdamW); 0 is plain Adam
    batch_size: int = 256  # samples per update, summed over all processes
    epochs: int = 10  # passes over the training frames
    max_updates: int = 0  # stop after this many updates in total (0: only the epochs limit)
    eval_every: int = 500  # updates between validation passes (the best weights are kept)
    checkpoint_every: int = 250  # updates between resumable training checkpoints
    seed: int = 0  # seeds initialisation, relabelling, goal dropout and batch order
    threads: int = 1  # torch CPU threads per process
    progress: bool = True  # show a progress bar

    # May differ when a stopped run is started again (`settings_blocking_resume`): none changes an update.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset(
        {"epochs", "max_updates", "eval_every", "checkpoint_every", "threads", "progress"})

    def validate(self) -> None:
        check_paths_given(self, "data", "out")
        if self.obs not in OBS_MODES:
            raise ConfigError(f"--obs {self.obs!r} is not an observation mode; valid: {', '.join(OBS_MODES)}")
        check_at_least(self, 1, "min_btwn_goals", "hidden", "batch_size", "epochs", "eval_every", "checkpoint_every",
                       "threads")
        try:
            check_gaps(self.min_btwn_goals, self.max_btwn_goals)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        check_positive(self, "lr")
        check_at_least(self, 0, "weight_decay", "max_updates", "seed")


class Objective(Protocol):
    n_train: int  # training samples in this process's shard

    def new_epoch(self, rng: np.random.Generator) -> None:
        """Fresh relabelling (and goal dropout) of this shard's samples for one epoch."""

    def loss(self, net: nn.Module, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        """Mean loss over samples `batch` (indices into this epoch's samples) and statistics to log."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation numbers, including `val_loss` (lower is better; picks the best weights)."""


def fit(cfg: PretrainConfig, model: nn.Module, objective: Objective, dist: Distributed, command: str,
        dataset_id: str, on_update: Callable[[int], None] | None = None, *,
        inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `model` on `objective` until cfg.epochs / cfg.max_updates; resumes from cfg.out/checkpoint.

    `inputs`: the identities of what else the training reads (split, goal embedder, codebook): a checkpoint
    made with other ones is not resumed, although its settings, which name them by path, may be the same.

    Saves the best-validation weights to cfg.out (model.save) and returns the run's metrics. Only the main
    process writes, so only it holds the output folder's lock."""
    with folder_lock(cfg.out) if dist.is_main else contextlib.nullcontext():
        return _fit(cfg, model, objective, dist, command, dataset_id, on_update, inputs=inputs)


def _fit(cfg: PretrainConfig, model: nn.Module, objective: Objective, dist: Distributed, command: str,
         dataset_id: str, on_update: Callable[[int], None] | None, *, inputs: dict[str, Any] | None) -> dict[str, Any]:
    out = Path(cfg.out)
    inputs = inputs or {}
    if cfg.batch_size % dist.world_size:
        raise ConfigError(f"--batch-size {cfg.batch_size} must be a multiple of the {dist.world_size} processes")
    batch_per_rank = cfg.batch_size // dist.world_size
    updates_per_epoch = dist.min(objective.n_train // batch_per_rank)
    if updates_per_epoch == 0:
        raise ConfigError(f"--batch-size {cfg.batch_size} is larger than the {objective.n_train} training samples "
                          f"of a process; lower it")
    total = cfg.epochs * updates_per_epoch
    if cfg.max_updates:
        total = min(total, cfg.max_updates)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    counters: dict[str, Any] = {"update": 0, "best_val_loss": None, "best_update": None, "best": None,
                                "last": None, "last_eval_update": None, "train_seconds": 0.0}
    saved = read_counters(out / "checkpoint")
    if saved is not None:
        _check_resumable(saved, cfg, dataset_id, dist, out, inputs)
        counters.update(load_checkpoint(out / "checkpoint", model, optimizer))
    start = counters["update"]
    net = DistributedDataParallel(model) if dist.enabled else model
    meta = {"provenance": provenance(command, cfg, world_size=dist.world_size), "dataset_id": dataset_id}

    logs = None
    if dist.is_main:
        save_yaml(out / "run_config.yaml", {**dataclasses.asdict(cfg), "world_size": dist.world_size,
                                           "dataset_id": dataset_id, "command": command})
        logs = TrainingLog(out, "update", resumed_at=start if saved is not None else None)
    bar = progress_bar(total, start, "update", command, cfg.progress and dist.is_main)

    def evaluate(update: int) -> None:
        metrics = objective.evaluate(model)
        counters["last"], counters["last_eval_update"] = metrics, update
        logs.scalars(update, {f"charts/{key}": value for key, value in metrics.items()})
        if counters["best_val_loss"] is None or metrics["val_loss"] < counters["best_val_loss"]:
            counters.update(best_val_loss=metrics["val_loss"], best_update=update, best=metrics)
            model.meta = {**meta, "metrics": metrics, "update": update}
            model.save(out)
        bar.set_postfix(val_loss=f"{metrics['val_loss']:.3f}")

    update, running = start, {}
    while update < total:
        epoch, first_batch = divmod(update, updates_per_epoch)
        rng = np.random.default_rng([cfg.seed, epoch, dist.rank])
        objective.new_epoch(rng)
        order = rng.permutation(objective.n_train)
        for b in range(first_batch, updates_per_epoch):
            if update >= total:
                break
            tic = time.perf_counter()
            model.train()
            loss, stats = objective.loss(net, order[b * batch_per_rank : (b + 1) * batch_per_rank])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            counters["train_seconds"] += time.perf_counter() - tic
            update += 1
            bar.update(1)
            for key, value in {"loss": loss.item(), **stats}.items():
                running.setdefault(key, []).append(value)

            if logs is not None and (update % 50 == 0 or update == total):
                speed = update * cfg.batch_size / max(counters["train_seconds"], 1e-9)
                logs.log(update, {**{f"losses/{key}": float(np.mean(values)) for key, values in running.items()},
                                  "charts/epoch": update / updates_per_epoch, "charts/samples_per_second": speed})
                running = {}
            if dist.is_main and (update % cfg.eval_every == 0 or update == total):
                evaluate(update)
            if dist.is_main and (update % cfg.checkpoint_every == 0 or update == total):
                save_checkpoint(out / "checkpoint", model, optimizer,
                                {**counters, "update": update, "config": dataclasses.asdict(cfg),
                                 "dataset_id": dataset_id, "world_size": dist.world_size, "inputs": inputs})
            if on_update is not None:
                on_update(update)
    bar.close()

    # DDP keeps the processes' weights equal by construction; a cheap check turns a silent drift into an error.
    if not dist.in_sync(model):
        raise RuntimeError("the training processes ended with different weights; DDP lost synchronisation")
    metrics: dict[str, Any] = {}
    if dist.is_main:
        if counters["last_eval_update"] != update:
            evaluate(update)
        samples = update * cfg.batch_size  # train_seconds also counts the updates before a resume
        metrics = {
            "best": counters["best"], "best_update": counters["best_update"], "final": counters["last"],
            "updates": update, "updates_per_epoch": updates_per_epoch, "epochs": update / updates_per_epoch,
            "train_samples": update * cfg.batch_size, "resumed_from": start or None, "world_size": dist.world_size,
            "samples_per_second": samples / counters["train_seconds"] if counters["train_seconds"] else None,
        }
        save_json(out / "metrics.json", metrics)
        logs.close()
    return metrics


def _check_resumable(saved: dict[str, Any], cfg: PretrainConfig, dataset_id: str, dist: Distributed,
                     out: Path, inputs: dict[str, Any]) -> None:
    """A checkpoint may only be continued by the same run: same settings, data, inputs and process count."""
    now, before = to_jsonable(cfg), saved.get("config", {})
    changed = settings_blocking_resume(before, cfg)
    where = f"{out} holds a training checkpoint of another run"
    if changed:
        raise CheckpointError(f"{where} (settings differ: " + ", ".join(
            f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed) + "); use another --out or the same settings")
    if saved.get("dataset_id") != dataset_id:
        raise CheckpointError(f"{where} (trained on other data); use another --out")
    before_inputs = saved.get("inputs")  # None: a checkpoint from before they were recorded, nothing to compare
    if before_inputs is not None:
        changed = sorted(k for k in set(before_inputs) | set(inputs) if before_inputs.get(k) != inputs.get(k))
        if changed:
            raise CheckpointError(f"{where} (made with another " + ", ".join(
                f"{k}: {before_inputs.get(k)!r} -> {inputs.get(k)!r}" for k in changed)
                + "); use another --out, or the inputs it was started with")
    if saved.get("world_size") != dist.world_size:
        raise CheckpointError(f"{where} (started with {saved.get('world_size')} processes, now {dist.world_size}); "
                              f"resume with the same number of processes")
