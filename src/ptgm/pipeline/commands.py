"""The `ptgm run` subcommand."""

from __future__ import annotations

import argparse

from ptgm.config import add_arguments
from ptgm.pipeline.config import STAGE_FIELDS, RunConfig, load_run_config
from ptgm.pipeline.fanout import RayConfig
from ptgm.pipeline.runner import run


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """`--ray [ADDRESS]` and `--ray-cpus`, shared with bench/sample_efficiency.py."""
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run each downstream run as a Ray task, on the cluster at ADDRESS (default: the local one "
                        "`ray start` made, else a new local instance); needs pip install 'ptgm[ray]'")
    p.add_argument("--ray-cpus", type=float, default=RayConfig.cpus_per_run, metavar="N",
                   help=f"with --ray: CPUs each downstream run reserves (default {RayConfig.cpus_per_run:g})")


def ray_config(args: argparse.Namespace) -> RayConfig | None:
    return None if args.ray is None else RayConfig(args.ray, args.ray_cpus)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on the built-in default (or --config)")
    p.add_argument("--config", help="experiment YAML (see configs/); flags below override it")
    add_arguments(p, RunConfig, skip=("methods", "seeds", "pretrained", *STAGE_FIELDS))
    p.add_argument("--from-scratch", action="store_true",
                   help="pre-train from a fresh dataset instead of starting from the shipped models")
    for name in ("out", "seed", "task", "val_frames"):
        p.set_defaults(**{name: None})
    add_ray_arguments(p)
    p.set_defaults(fn=lambda args: run(load_run_config(
        args.config, out=args.out, seed=args.seed, task=args.task, val_frames=args.val_frames,
        from_scratch=args.from_scratch), ray=ray_config(args)))

