"""Subcommands of the downstream RL stage: `train-high` (PTGM, PPO or SAC) and `train-flat` (the baseline: PPO, or SAC on
continuous actions)."""

from __future__ import annotations

import argparse

from ptgm.config import add_arguments, from_args
from ptgm.io import load_json


def print_result(run_dir) -> None:
    """The two lines a finished `train-high` or `train-flat` run prints: its final result and its folder."""
    summary = load_json(run_dir / "summary.json", "run summary")
    final = summary["final"]
    if load_json(run_dir / "run.json", "run description").get("metric") == "score":  # no success to report
        result = f"final score {100 * final['score']:.1f}%"
    else:
        result = f"final success {final['success_rate']:.2f} (best {summary['best_success_rate']:.2f})"
    print(f"{summary['method']} on {summary['task']} (seed {summary['seed']}): {result} over "
          f"{int(final['episodes'])} evaluation episodes at {int(final['env_steps']):,} env steps")
    print(f"run: {run_dir} (eval.csv, progress.csv, tb/, policy/)")


def _train_high(args: argparse.Namespace) -> None:
    from ptgm.rl.train_high import HighConfig, train_high

    print_result(train_high(from_args(HighConfig, args)))


def _train_flat(args: argparse.Namespace) -> None:
    from ptgm.rl.train_flat import FlatConfig, train_flat

    print_result(train_flat(from_args(FlatConfig, args)))


def register(sub: argparse._SubParsersAction) -> None:
    from ptgm.rl.train_flat import FlatConfig
    from ptgm.rl.train_high import HighConfig

    p = sub.add_parser("train-high", help="PTGM: train the high-level policy over the goal codebook with PPO or SAC (--algo)")
    add_arguments(p, HighConfig)
    p.set_defaults(fn=_train_high)

    p = sub.add_parser("train-flat", help="baseline: train PPO (or SAC on continuous actions, --algo sac) on the "
                                           "world's primitive actions")
    add_arguments(p, FlatConfig)
    p.set_defaults(fn=_train_flat)
