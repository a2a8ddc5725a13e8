"""Subcommands of the pre-training stage: `train-low` and `train-prior`."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ptgm.config import add_arguments, from_args
from ptgm.io import folder_lock


def _output_lock(folder: str | Path) -> contextlib.AbstractContextManager:
    """The output folder's lock, taken before the episodes load so that a second writer is refused at once (the
    training loop holds it again while it writes); under torchrun only rank 0 writes, so only it locks."""
    from ptgm.pretrain.distributed import launched_as_main

    return folder_lock(folder) if launched_as_main() else contextlib.nullcontext()


def _train_low(args: argparse.Namespace) -> None:
    from ptgm.pretrain.train_low import LowLevelConfig, train_low

    cfg = from_args(LowLevelConfig, args)
    cfg.validate()
    with _output_lock(cfg.out):
        _, metrics = train_low(cfg)
    if metrics:  # only the main process reports
        best = metrics["best"]
        if "val_mse" in best:  # continuous actions
            print(f"low-level policy: {args.out} (best at update {metrics['best_update']} of {metrics['updates']}): "
                  f"val loss {best['val_loss']:.4f} (null goal {best['val_loss_uncond']:.4f}), val action MSE "
                  f"{best['val_mse']:.4f} (null goal {best['val_mse_uncond']:.4f}, mean action "
                  f"{best['mean_action_mse']:.4f}); {_speed(metrics)}")
            return
        print(f"low-level policy: {args.out} (best at update {metrics['best_update']} of {metrics['updates']}): "
              f"val loss {best['val_loss']:.4f} (marginal {best['marginal_loss']:.4f}), val action accuracy {best['val_accuracy']:.3f} "
              f"(null goal {best['val_accuracy_uncond']:.3f}, majority action {best['majority_accuracy']:.3f}); "
              f"{_speed(metrics)}")
        recall = {k.removeprefix("val_recall_"): v for k, v in best.items() if k.startswith("val_recall_")}
        print("val recall per action: " + ", ".join(f"{name} {v:.2f}" for name, v in recall.items()))


def _train_prior(args: argparse.Namespace) -> None:
    from ptgm.pretrain.train_prior import PriorConfig, train_prior

    cfg = from_args(PriorConfig, args)
    cfg.validate()
    with _output_lock(cfg.out):
        _, metrics = train_prior(cfg)
    if metrics:
        best = metrics["best"]
        print(f"goal prior: {args.out} (best at update {metrics['best_update']} of {metrics['updates']}): "
              f"val top-1 {best['val_top1']:.3f} (majority {best['majority_top1']:.3f}), "
              f"top-5 {best['val_top5']:.3f} (majority {best['majority_top5']:.3f}), "
              f"val loss {best['val_loss']:.4f} (marginal {best['marginal_loss']:.4f}); {_speed(metrics)}")


def _speed(metrics: dict) -> str:
    sps = metrics.get("samples_per_second")
    return f"{sps:.0f} samples/s" if sps else "already complete"


def register(sub: argparse._SubParsersAction) -> None:
    from ptgm.pretrain.train_low import LowLevelConfig
    from ptgm.pretrain.train_prior import PriorConfig

    p = sub.add_parser("train-low", help="train the goal-conditioned low-level policy (hindsight-relabelled BC)")
    add_arguments(p, LowLevelConfig)
    p.set_defaults(fn=_train_low)

    p = sub.add_parser("train-prior", help="train the goal prior over a codebook's codes")
    add_arguments(p, PriorConfig)
    p.set_defaults(fn=_train_prior)
