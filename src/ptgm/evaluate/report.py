"""`ptgm report RUN_DIR...`: learning curves and a table comparing methods across seeds.

Runs are grouped by (task, method), the method being what the run recorded in `run.json`
(`ptgm`, `ptgm-no-prior`, `ptgm-continuous`, `flat`, with ablation settings in brackets). A task is
judged by the metric its runs recorded in `run.json` (`ptgm.evaluate.periodic.task_metric`): the
success rate, or the score over the achievements' unlock rates (the Crafter score, in [0, 1]) for a
task without success achievements such as `crafter`. Each run's evaluation curve (`eval.csv`: the
metric against environment steps) is interpolated
linearly onto a grid shared by every run of the task, from 0 to the smallest final step count
among them, so all methods are compared over the same budget. Per group:

- the curve: mean over seeds with a 95% Student-t confidence band (mean +- t(0.975, n-1) * sd / sqrt(n);
  no band with one seed);
- final success (or score): the last grid point, mean and t half-width;
- env steps to 50% (and to 80%) of the metric: per seed, the first crossing on its own evaluation points
  (linear between the two points around it) within the shared budget; the mean and t half-width over
  the seeds that cross, and how many do;
- area under the curve: the mean of the metric over the grid (trapezoid / budget), in [0, 1].

Writes `report.png`, `report.md` and `report.csv` to `--out`.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptgm.io import ArtifactError, atomic_write_bytes, folder_lock, load_json, save_figure

THRESHOLDS = (0.5, 0.8)
METRICS = {"success_rate": "success rate", "score": "score"}  # eval.csv column -> how tables and plots name it


@dataclass
class Curve:
    """One run's evaluation curve."""

    path: Path
    task: str
    method: str
    seed: int
    env_steps: np.ndarray  # (P,) increasing
    values: np.ndarray  # (P,) the metric at each point
    metric: str = "success_rate"  # which eval.csv column `values` is


def load_curve(run_dir: str | Path) -> Curve:
    path = Path(run_dir)
    info = load_json(path / "run.json", "run description", required=("task", "method", "seed"))
    eval_csv = path / "eval.csv"
    if not eval_csv.is_file():
        raise ArtifactError(f"{path} has no eval.csv; is it a run directory of `ptgm train-high` or `train-flat`?")
    with open(eval_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ArtifactError(f"{eval_csv} has no evaluation yet")
    metric = str(info.get("metric", "success_rate"))  # runs made before the score existed: success
    if metric not in METRICS:
        raise ArtifactError(f"{path}/run.json: unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    try:
        steps = np.array([float(r["env_steps"]) for r in rows])
        values = np.array([float(r[metric]) for r in rows])
    except (KeyError, ValueError, TypeError) as e:
        raise ArtifactError(f"{eval_csv} is not an evaluation log with columns env_steps and {metric} "
                            f"(a run from before the score was recorded cannot report it): {e}") from e
    if np.any(np.diff(steps) <= 0):
        raise ArtifactError(f"{eval_csv}: env_steps must increase from row to row")
    if np.isnan(values).any():
        raise ArtifactError(f"{eval_csv}: {metric} is missing (nan) in some rows")
    return Curve(path, str(info["task"]), str(info["method"]), int(info["seed"]), steps, values, metric)


def t_band(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(mean, half-width) over axis 0 of a Student-t interval; half-width 0 with a single row."""
    from scipy.stats import t  # scipy comes with scikit-learn

    values = np.asarray(values, float)
    mean = values.mean(axis=0)
    n = values.shape[0]
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, t.ppf(0.5 + level / 2, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)


def steps_to(curve: Curve, threshold: float = 0.5, until: float | None = None) -> float | None:
    """Env steps at which the metric first reaches `threshold` (linear between points), or None
    when it does not by `until` (default: the curve's end)."""
    hit = np.flatnonzero(curve.values >= threshold)
    if until is not None:
        cut = np.interp(until, curve.env_steps, curve.values)
        keep = curve.env_steps < until
        curve = Curve(curve.path, curve.task, curve.method, curve.seed, np.append(curve.env_steps[keep], until),
                      np.append(curve.values[keep], cut), curve.metric)
        hit = np.flatnonzero(curve.values >= threshold)
    if not len(hit):
        return None
    i = int(hit[0])
    if i == 0:
        return float(curve.env_steps[0])
    x0, x1, y0, y1 = curve.env_steps[i - 1], curve.env_steps[i], curve.values[i - 1], curve.values[i]
    return float(x0 + (threshold - y0) / (y1 - y0) * (x1 - x0))


def grid_for(curves: list[Curve]) -> np.ndarray:
    """Shared points: 0 .. the smallest final step count, at the finest run's typical evaluation interval."""
    end = min(c.env_steps[-1] for c in curves)
    intervals = [float(np.median(np.diff(c.env_steps))) for c in curves if len(c.env_steps) > 1] or [end]
    step = max(min(intervals), 1.0)
    grid = np.arange(0.0, end, step)
    return np.append(grid, end) if grid[-1] < end else grid


@dataclass
class Group:
    task: str
    method: str
    metric: str  # eval.csv column the values are
    curves: list[Curve]
    grid: np.ndarray
    values: np.ndarray  # (seeds, grid points)

    def row(self) -> dict:
        final_mean, final_ci = t_band(self.values[:, -1:])
        span = self.grid[-1] - self.grid[0]
        aucs = np.trapezoid(self.values, self.grid, axis=1) / span if span > 0 else self.values[:, -1]
        auc_mean, auc_ci = t_band(aucs[:, None])
        row = {"task": self.task, "method": self.method, "metric": self.metric, "seeds": len(self.curves),
               "budget": int(self.grid[-1]), "final": float(final_mean[0]), "final_ci95": float(final_ci[0])}
        for threshold in THRESHOLDS:
            reach = [s for s in (steps_to(c, threshold, self.grid[-1]) for c in self.curves) if s is not None]
            pct = round(threshold * 100)
            mean, half = t_band(np.array(reach)[:, None]) if reach else (None, None)
            row[f"steps_to_{pct}"] = float(mean[0]) if reach else None
            row[f"steps_to_{pct}_ci95"] = float(half[0]) if reach else None
            row[f"seeds_reaching_{pct}"] = len(reach)
        return {**row, "auc": float(auc_mean[0]), "auc_ci95": float(auc_ci[0])}


def build_groups(run_dirs: list[str | Path]) -> list[Group]:
    if not run_dirs:
        raise ValueError("give at least one run directory")
    curves = [load_curve(d) for d in run_dirs]
    by_task: dict[str, list[Curve]] = defaultdict(list)
    for c in curves:
        by_task[c.task].append(c)
    groups = []
    for task, task_curves in sorted(by_task.items()):
        metrics = {c.metric for c in task_curves}
        if len(metrics) > 1:
            raise ArtifactError(f"runs of task {task!r} record different metrics {sorted(metrics)}; "
                                f"were they made with different task specs?")
        grid = grid_for(task_curves)
        by_method: dict[str, list[Curve]] = defaultdict(list)
        for c in task_curves:
            by_method[c.method].append(c)
        for method, group in sorted(by_method.items()):
            group = sorted(group, key=lambda c: c.seed)
            values = np.stack([np.interp(grid, c.env_steps, c.values) for c in group])
            groups.append(Group(task, method, group[0].metric, group, grid, values))
    return groups


def format_table(rows: list[dict]) -> str:
    """A Markdown table of the rows."""
    lines = ["| task | method | seeds | budget (env steps) | final success (or score) | env steps to 50% "
             "| env steps to 80% | AUC |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]

    def reach(r: dict, pct: int) -> str:
        steps, n = r[f"steps_to_{pct}"], r[f"seeds_reaching_{pct}"]
        if steps is None:
            return f"never (0/{r['seeds']})"
        return f"{steps:,.0f} ± {r[f'steps_to_{pct}_ci95']:,.0f} ({n}/{r['seeds']})"

    def final(r: dict) -> str:
        if r["metric"] == "score":  # as Crafter publishes it, in percent
            return f"score {100 * r['final']:.1f}% ± {100 * r['final_ci95']:.1f}"
        return f"{r['final']:.2f} ± {r['final_ci95']:.2f}"

    for r in rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['seeds']} | {r['budget']:,} | {final(r)} | "
                     f"{reach(r, 50)} | {reach(r, 80)} | {r['auc']:.3f} ± {r['auc_ci95']:.3f} |")
    return "\n".join(lines)


def plot(groups: list[Group], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({g.task for g in groups})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for g in (g for g in groups if g.task == task):
            mean, half = t_band(g.values)
            line, = ax.plot(g.grid, mean, label=f"{g.method} (n={len(g.curves)})")
            if len(g.curves) > 1:
                ax.fill_between(g.grid, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1),
                                color=line.get_color(), alpha=0.2)
        ax.set_title(task)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(METRICS[next(g.metric for g in groups if g.task == task)])
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    names = sorted({METRICS[g.metric] for g in groups})
    fig.suptitle(f"{' or '.join(names)} (mean, 95% t-interval over seeds)")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def report(run_dirs: list[str | Path], out: str | Path, per_task: bool = False,
           missing: Sequence[str] = ()) -> tuple[list[dict], Path]:
    """Compare runs; writes report.png, report.md, report.csv into `out` and returns the table rows.

    `per_task`: also one plot per task, `<task>.png`, which report.md shows instead of the combined one.
    `missing`: runs the table lacks (one line each, e.g. "ptgm-wood-s1: not run"), listed in report.md."""
    out = Path(out)
    groups = build_groups(run_dirs)  # reads and checks every run before the folder is touched
    with folder_lock(out):
        return _write_report(groups, out, per_task, missing)


def _write_report(groups: list[Group], out: Path, per_task: bool, missing: Sequence[str]) -> tuple[list[dict], Path]:
    rows = [g.row() for g in groups]
    plot(groups, out / "report.png")
    pictures = ["report.png"]
    if per_task:
        pictures = [f"{task}.png" for task in sorted({g.task for g in groups})]
        for name in pictures:
            plot([g for g in groups if f"{g.task}.png" == name], out / name)
    table = format_table(rows)
    atomic_write_bytes(out / "report.md", (
        "# Success rate (or score) against environment steps\n\n"
        + "".join(f"![{name[:-4]}]({name})\n\n" for name in pictures) + table + "\n\nRuns:\n\n"
        + "\n".join(f"- {g.task} / {g.method}: " + ", ".join(str(c.path) for c in g.curves) for g in groups)
        + "\n" + ("\nMissing runs (not in the table):\n\n" + "".join(f"- {m}\n" for m in missing) if missing else "")
        ).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "report.csv", buf.getvalue().encode())
    return rows, out
