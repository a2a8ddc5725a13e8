"""Subcommands of the evaluation stage: `eval-low` (does the low-level policy reach the codes it is given)
and `report` (learning curves and the comparison table)."""

from __future__ import annotations

import argparse
import json

from ptgm.config import add_arguments, from_args


def _eval_low(args: argparse.Namespace) -> None:
    from ptgm.evaluate.eval_low import EvalLowConfig, eval_low, format_results

    cfg = from_args(EvalLowConfig, args)
    results = eval_low(cfg)
    if args.json:
        print(json.dumps({"summary": results["summary"], "per_kind": results["per_kind"]}))
        return
    print(format_results(results))
    print(f"results: {cfg.out or args.low + '/eval_low.json'}")


def _report(args: argparse.Namespace) -> None:
    from ptgm.evaluate.report import format_table, report

    rows, out = report(args.runs, args.out)
    print(format_table(rows))
    print(f"report: {out}/report.png, {out}/report.md, {out}/report.csv")


def register(sub: argparse._SubParsersAction) -> None:
    from ptgm.evaluate.eval_low import EvalLowConfig

    p = sub.add_parser("eval-low", help="how often the low-level policy reaches commanded codes, vs baselines")
    add_arguments(p, EvalLowConfig)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(fn=_eval_low)

    p = sub.add_parser("report", help="success-rate curves (mean, 95%% band over seeds) and a table of runs")
    p.add_argument("runs", nargs="+", help="run directories of `ptgm train-high` / `ptgm train-flat`")
    p.add_argument("--out", default="report", help="directory for report.png, report.md and report.csv")
    p.add_argument("--seed", type=int, default=0, help="unused (the report is deterministic); every command takes one")
    p.set_defaults(fn=_report)
