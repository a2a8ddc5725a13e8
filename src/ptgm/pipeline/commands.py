"""The `ptgm run` subcommand."""

from __future__ import annotations

import argparse

from ptgm.config import add_arguments
from ptgm.pipeline.config import STAGE_FIELDS, RunConfig, load_run_config
from ptgm.pipeline.runner import run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on the built-in default (or --config)")
    p.add_argument("--config", help="experiment YAML (see configs/); flags below override it")
    add_arguments(p, RunConfig, skip=("methods", "seeds", "pretrained", *STAGE_FIELDS))
    p.add_argument("--from-scratch", action="store_true",
                   help="pre-train from a fresh dataset instead of starting from the shipped models")
    for name in ("out", "seed", "task", "val_frames"):
        p.set_defaults(**{name: None})
    p.set_defaults(fn=lambda args: run(load_run_config(
        args.config, out=args.out, seed=args.seed, task=args.task, val_frames=args.val_frames,
        from_scratch=args.from_scratch)))

