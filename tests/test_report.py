"""`ptgm report`: grouping runs by method, the t-interval band, steps to 50%, the area under the curve."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ptgm.cli import main
from ptgm.evaluate.report import Curve, build_groups, report, steps_to, t_band
from ptgm.io import ArtifactError, save_json


def fake_run(root: Path, name: str, method: str, seed: int, points: list[tuple[int, float]], task: str = "wood") -> Path:
    run = root / name
    run.mkdir(parents=True)
    save_json(run / "run.json", {"format": "ptgm-rl-run/1", "method": method, "task": task, "seed": seed})
    with open(run / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env_steps", "success_rate", "episode_return", "episode_length", "episodes", "seconds"])
        for steps, success in points:
            w.writerow([steps, success, success, 100, 50, 1.0])
    return run


@pytest.fixture
def runs(tmp_path):
    """PTGM: 3 seeds that reach 1.0 at different speeds; flat: 2 seeds that stay low (one ran longer)."""
    return [
        fake_run(tmp_path, "p0", "ptgm", 0, [(0, 0.0), (100, 0.4), (200, 0.8), (300, 1.0)]),
        fake_run(tmp_path, "p1", "ptgm", 1, [(0, 0.0), (100, 0.6), (200, 1.0), (300, 1.0)]),
        fake_run(tmp_path, "p2", "ptgm", 2, [(0, 0.0), (100, 0.2), (200, 0.6), (300, 0.9)]),
        fake_run(tmp_path, "f0", "flat", 0, [(0, 0.0), (100, 0.0), (200, 0.2), (300, 0.3), (400, 0.6)]),
        fake_run(tmp_path, "f1", "flat", 1, [(0, 0.0), (100, 0.1), (200, 0.1), (300, 0.2)]),
    ]


def test_t_band_matches_the_formula():
    values = np.array([[0.8], [1.0], [0.9]])
    mean, half = t_band(values)
    assert mean[0] == pytest.approx(0.9)
    assert half[0] == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)  # t(0.975, 2) = 4.3027
    assert t_band(np.array([[0.5]]))[1][0] == 0.0


def test_steps_to_threshold_interpolates_between_points():
    curve = Curve(Path("."), "wood", "x", 0, np.array([0.0, 100, 200]), np.array([0.0, 0.4, 0.8]))
    assert steps_to(curve) == pytest.approx(125.0)
    assert steps_to(Curve(Path("."), "wood", "x", 0, np.array([0.0, 100]), np.array([0.0, 0.3]))) is None
    assert steps_to(curve, until=120) is None and steps_to(curve, until=150) == pytest.approx(125.0)


def test_groups_share_the_task_grid_and_the_table_is_right(runs):
    groups = {g.method: g for g in build_groups(runs)}
    assert set(groups) == {"ptgm", "flat"}
    # The grid stops at the shortest run of the task (300), so the flat run that ran to 400 is cut there.
    np.testing.assert_array_equal(groups["flat"].grid, [0, 100, 200, 300])
    ptgm, flat = groups["ptgm"].row(), groups["flat"].row()
    assert ptgm["seeds"] == 3 and ptgm["budget"] == 300
    assert ptgm["final"] == pytest.approx((1.0 + 1.0 + 0.9) / 3)
    assert ptgm["steps_to_50"] == pytest.approx(np.mean([125.0, 100 * 0.5 / 0.6, 175.0]))
    assert ptgm["seeds_reaching_50"] == 3
    reach = [125.0, 100 * 0.5 / 0.6, 175.0]
    assert ptgm["steps_to_50_ci95"] == pytest.approx(4.302653 * np.std(reach, ddof=1) / np.sqrt(3), rel=1e-5)
    # The flat seed that crosses 50% only after the shared budget (at 366) does not count.
    assert flat["seeds_reaching_50"] == 0 and flat["steps_to_50"] is None
    assert ptgm["steps_to_80"] == pytest.approx(np.mean([200.0, 100 + 100 * 0.2 / 0.4, 200 + 100 * 0.2 / 0.3]))
    assert flat["seeds_reaching_80"] == 0 and flat["steps_to_80"] is None
    # AUC: mean success over [0, 300] by trapezoids; seed 0 of ptgm: (0.2 + 0.6 + 0.9) * 100 / 300.
    aucs = [(0.2 + 0.6 + 0.9) / 3, (0.3 + 0.8 + 1.0) / 3, (0.1 + 0.4 + 0.75) / 3]
    assert ptgm["auc"] == pytest.approx(np.mean(aucs))
    assert ptgm["auc"] > flat["auc"]


def test_report_command_writes_picture_table_and_csv(runs, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| wood | ptgm | 3 | 300 | 0.97 ±" in printed
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| wood | flat | 2 |" in (out / "report.md").read_text()
    with open(out / "report.csv", newline="") as f:
        assert [r["method"] for r in csv.DictReader(f)] == ["flat", "ptgm"]


def test_a_directory_without_evaluations_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    save_json(tmp_path / "empty" / "run.json", {"method": "ptgm", "task": "wood", "seed": 0})
    with pytest.raises(ArtifactError, match="no eval.csv"):
        report([tmp_path / "empty"], tmp_path / "rep")
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep")]) == 2
    assert "run description not found" in capsys.readouterr().err


def score_run(root: Path, name: str, method: str, seed: int, points: list[tuple[int, float]]) -> Path:
    """A run of a task without success achievements: judged by the score column, success stays 0."""
    run = root / name
    run.mkdir(parents=True)
    save_json(run / "run.json", {"method": method, "task": "crafter", "seed": seed, "metric": "score"})
    with open(run / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env_steps", "success_rate", "episode_return", "episode_length", "episodes", "seconds", "score"])
        for steps, score in points:
            w.writerow([steps, 0.0, 1.0, 100, 50, 1.0, score])
    return run


def test_a_task_without_success_is_reported_by_its_score(runs, tmp_path):
    crafter = [score_run(tmp_path, "c0", "ptgm", 0, [(0, 0.01), (100, 0.10), (200, 0.12)]),
               score_run(tmp_path, "c1", "ptgm", 1, [(0, 0.01), (100, 0.08), (200, 0.14)])]
    rows, out = report([*runs, *crafter], tmp_path / "rep", per_task=True)
    row = next(r for r in rows if r["task"] == "crafter")
    assert row["metric"] == "score" and row["final"] == pytest.approx(0.13)
    assert next(r for r in rows if r["task"] == "wood")["metric"] == "success_rate"
    md = (out / "report.md").read_text()
    assert "| crafter | ptgm | 2 | 200 | score 13.0% ±" in md
    assert "![crafter](crafter.png)" in md and (out / "crafter.png").is_file() and (out / "wood.png").is_file()


def test_a_score_task_run_without_the_score_column_is_a_clear_error(tmp_path):
    run = fake_run(tmp_path, "old", "ptgm", 0, [(0, 0.0), (100, 0.0)], task="crafter")
    info = {"method": "ptgm", "task": "crafter", "seed": 0, "metric": "score"}
    save_json(run / "run.json", info)
    with pytest.raises(ArtifactError, match="columns env_steps and score"):
        report([run], tmp_path / "rep")
