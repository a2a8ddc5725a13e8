"""`ptgm run`: the whole pipeline on one config, each stage skipped when its output exists."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ptgm.config import add_arguments, from_args, save_yaml
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.stats import dataset_stats, format_stats, plot_stats
from ptgm.data.store import EpisodeStore


@dataclass
class RunConfig:
    out: str = "runs/default"  # folder for every stage's output
    seed: int = 0  # seed of every stage
    player: str = "scripted"  # task-agnostic player that makes the dataset
    frames: int = 50_000  # dataset size (the `small` preset)
    workers: int = 2  # collection processes
    val_frames: int = 5_000  # validation split size


def run(cfg: RunConfig) -> Path:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(out / "config.yaml", cfg)
    data = out / "data"
    collect(CollectConfig(out=str(data), player=cfg.player, frames=cfg.frames, workers=cfg.workers, seed=cfg.seed))
    store = EpisodeStore(data)
    split = store.split
    if split is None or split.get("dataset_id") != store.dataset_id:
        split_dataset(store, cfg.val_frames, -1, cfg.seed)
    stats = dataset_stats(store)
    print(format_stats(stats))
    plot_stats(stats, out / "report" / "data_stats.png")
    print(f"outputs: {out}")
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on the built-in default (or --config)")
    add_arguments(p, RunConfig)
    p.set_defaults(fn=lambda args: run(from_args(RunConfig, args)))
