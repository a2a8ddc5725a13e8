"""Subcommands of the evaluation stage: `report` (learning curves and the comparison table)."""

from __future__ import annotations

import argparse


def _report(args: argparse.Namespace) -> None:
    from ptgm.evaluate.report import format_table, report

    rows, out = report(args.runs, args.out)
    print(format_table(rows))
    print(f"report: {out}/report.png, {out}/report.md, {out}/report.csv")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="success-rate curves (mean, 95%% band over seeds) and a table of runs")
    p.add_argument("runs", nargs="+", help="run directories of `ptgm train-high` / `ptgm train-flat`")
    p.add_argument("--out", default="report", help="directory for report.png, report.md and report.csv")
    p.add_argument("--seed", type=int, default=0, help="unused (the report is deterministic); every command takes one")
    p.set_defaults(fn=_report)
