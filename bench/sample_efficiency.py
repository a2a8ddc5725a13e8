"""The sample-efficiency benchmark: every task x method x seed at a fixed budget of env steps, one table.

    python bench/sample_efficiency.py --config configs/benchmark.yaml --out runs/bench
    python bench/sample_efficiency.py --config configs/benchmark.yaml --out runs/bench-quick \\
        --tasks wood stone --methods ptgm flat --seeds 0 --budget-scale 0.1 --pretrained runs/default

Pre-training (collect + split, codebook, train-low, train-prior, eval-low) runs once into `--out`, as
`ptgm run` does, and is skipped when done; `--pretrained DIR` takes the data, codebook, low-level
policy and prior of an earlier `ptgm run` (or benchmark) folder instead. Then each downstream run is
a pipeline stage of its own under `OUT/rl/<method>-<task>-s<seed>`: a finished run is skipped, an
interrupted one resumes from its checkpoint, so the same command continues an interrupted benchmark.
`--ray [ADDRESS]` runs each downstream run as a Ray task (on the cluster at ADDRESS, or a local
instance), after the pre-training, into the same folders: docs/speed.md says how to start a cluster.
`--report-only` trains nothing: it reports the finished runs of the plan and lists the missing ones,
to look at a benchmark in progress or one that ran in several sessions, with how long the missing
ones would take at the speed the finished runs of each method ran at.

Budgets follow the issue: 300k env steps for wood, drink, stone, iron and zombie, 1M for
stone_pickaxe, iron_from_scratch, diamond and crafter (`--budget-scale` multiplies them, `--steps`
replaces them). Each run is evaluated `--evals` times over its budget (plus once at 0), so short and
long tasks get curves of the same resolution. The other RL settings are the config's `high` / `flat`.

Writes OUT/report/: report.md and report.csv (per task and method: final success, or the Crafter
score for `crafter`, env steps to 50% success and the AUC, each with a 95% t-interval over seeds,
and the number of seeds), one plot per task (<task>.png), and OUT/bench.json (the arguments, the
config, each run's wall time). Prints each run's time and the total.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ptgm.config import ConfigError, save_yaml
from ptgm.evaluate.report import format_table, report
from ptgm.io import ArtifactError, load_json, provenance, save_json
from ptgm.pipeline import (METHODS, STAGE_FILE, Pretrained, load_run_config, pretrain, pretrain_differences,
                           rl_config, run_dir_name, stage_status, train_downstream)
from ptgm.pipeline.commands import add_ray_arguments, ray_config
from ptgm.pipeline.fanout import check_ray, train_all

# Env steps per run, by task (issue 7): the five Minecraft mirrors, then the tech-tree tasks and the full game.
BUDGETS = {"wood": 300_000, "drink": 300_000, "stone": 300_000, "iron": 300_000, "zombie": 300_000,
           "stone_pickaxe": 1_000_000, "iron_from_scratch": 1_000_000, "diamond": 1_000_000, "crafter": 1_000_000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/benchmark.yaml", help="experiment YAML (pre-training and RL settings)")
    p.add_argument("--out", default="runs/benchmark", help="folder for pre-training, the runs and the report")
    p.add_argument("--tasks", nargs="+", default=list(BUDGETS), help="downstream tasks (default: all nine)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="methods (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="RL seeds (default: the config's seeds)")
    p.add_argument("--seed", type=int, default=None, help="pre-training seed (default: the config's seed)")
    p.add_argument("--budget-scale", type=float, default=1.0, help="multiply every task's budget (e.g. 0.1 for a quick look)")
    p.add_argument("--steps", type=int, default=None, help="one budget in env steps for every task (replaces the table)")
    p.add_argument("--evals", type=int, default=15, help="evaluations over each run's budget (plus one at 0)")
    p.add_argument("--pretrained", default=None, help="reuse this `ptgm run` folder's data, codebook, low and prior")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: the report of the finished runs of this plan, listing the others")
    add_ray_arguments(p)
    return p.parse_args(argv)


def budget(task: str, args: argparse.Namespace) -> int:
    if args.steps is not None:
        return args.steps
    if task not in BUDGETS:
        raise ConfigError(f"no budget for task {task!r} (known: {', '.join(BUDGETS)}); give --steps")
    return max(1, round(BUDGETS[task] * args.budget_scale))


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    try:
        return bench(args, log)
    except (ConfigError, ArtifactError, ValueError) as e:
        print(f"sample_efficiency: error: {e}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    if args.budget_scale <= 0 or args.evals < 1 or (args.steps is not None and args.steps < 1):
        raise ConfigError("--budget-scale, --evals and --steps must be positive")
    if args.ray is not None and not args.report_only:
        check_ray()
    cfg = load_run_config(args.config, out=args.out, seed=args.seed)
    seeds = args.seeds if args.seeds is not None else cfg.seeds
    out = Path(args.out)
    at = Pretrained(Path(args.pretrained)).check() if args.pretrained else Pretrained(out)
    # Every run's config first: a bad task, method or setting fails before hours of pre-training.
    plan = []
    for task in args.tasks:
        steps = budget(task, args)
        for method in args.methods:
            for seed in seeds:
                run_dir = out / "rl" / run_dir_name(method, task, seed)
                plan.append((method, task, seed, rl_config(cfg, method, task, seed, run_dir, at, steps=steps,
                                                           eval_every=max(1, steps // args.evals))))
    if args.report_only:
        return report_finished(plan, out, log)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(out / "config.yaml", cfg)
    record = {"args": vars(args), "pretrained": str(at.root), "runs": {},
              "provenance": provenance("bench/sample_efficiency.py", cfg)}
    start = time.perf_counter()
    if args.pretrained:
        differ = pretrain_differences(cfg, at)
        if differ:  # allowed (e.g. a quick look on a smaller model), but the table is then not of --config
            log(f"note: {at.root} was pre-trained with other settings than {args.config} in: {', '.join(differ)}")
        record["pretrained_differs"] = differ
    else:
        pretrain(cfg, at, log)
    pretrain_seconds = time.perf_counter() - start
    log(f"pre-training: {pretrain_seconds / 60:.1f} min ({at.root})")

    # With --ray the runs finish in any order; each is logged and recorded as it does.
    runs = train_all(train_downstream, [(method, rl_cfg) for method, _, _, rl_cfg in plan], log, ray_config(args))
    for finished, (i, seconds) in enumerate(runs, 1):
        method, task, seed, rl_cfg = plan[i]
        name = run_dir_name(method, task, seed)
        took = "done already" if seconds is None else f"{seconds / 60:.1f} min ({rl_cfg.steps:,} env steps)"
        log(f"[{finished}/{len(plan)}] {name}: {took}")
        record["runs"][name] = {"steps": rl_cfg.steps, "seconds": None if seconds is None else round(seconds, 1)}
        save_json(out / "bench.json", record)

    rows, report_dir = report([rl_cfg.out for *_, rl_cfg in plan], out / "report", per_task=True)
    total = time.perf_counter() - start
    record["seconds"] = {"pretrain": round(pretrain_seconds, 1), "total": round(total, 1)}
    save_json(out / "bench.json", record)
    log(format_table(rows))
    log(f"total: {total / 60:.1f} min ({len(plan)} runs); table: {report_dir}/report.md, {report_dir}/report.csv; "
        f"plots: {', '.join(f'{t}.png' for t in sorted(set(args.tasks)))}")
    return 0


def report_finished(plan: list, out: Path, log: Callable[[str], None]) -> int:
    """The report of the plan's finished runs (a benchmark in progress); the others are listed as missing,
    with the time they would take at the speed the finished runs of their method were measured at."""
    finished, missing, speeds = [], [], {}
    for method, task, seed, rl_cfg in plan:
        status = stage_status(method, Path(rl_cfg.out), rl_cfg)
        if status == "done":
            finished.append(rl_cfg.out)
            seconds = load_json(Path(rl_cfg.out) / STAGE_FILE, "stage record")["seconds"]
            speeds.setdefault(method, []).append(rl_cfg.steps / max(seconds, 1e-9))
        else:
            missing.append((f"{run_dir_name(method, task, seed)}: {status}", method, rl_cfg.steps))
    if not finished:
        raise ConfigError(f"none of the {len(plan)} runs of this plan has finished under {out / 'rl'}")
    rows, report_dir = report(finished, out / "report", per_task=True, missing=[m[0] for m in missing])
    log(format_table(rows))
    for line, *_ in missing:
        log(f"missing: {line}")
    log(f"report of {len(finished)} of {len(plan)} runs: {report_dir}/report.md, {report_dir}/report.csv")
    if missing:
        log(remaining_time(missing, speeds))
    return 0


def remaining_time(missing: list[tuple[str, str, int]], speeds: dict[str, list[float]]) -> str:
    """How long the missing runs take one after another, each at the median env steps/s of the finished runs
    of its method (of all finished runs for a method with none). The speeds are as measured: a run that
    shared the cores counts at its shared speed."""
    median = {m: float(np.median(v)) for m, v in speeds.items()}
    overall = float(np.median([x for v in speeds.values() for x in v]))
    seconds = sum(steps / median.get(method, overall) for _, method, steps in missing)
    steps = sum(steps for *_, steps in missing)
    measured = ", ".join(f"{m} {median[m]:.0f}" for m in sorted(median))
    return (f"remaining: {len(missing)} runs, {steps / 1e6:.1f}M env steps: about {seconds / 3600:.1f} h one after "
            f"another at the finished runs' median env steps/s ({measured})")


if __name__ == "__main__":
    sys.exit(main())
