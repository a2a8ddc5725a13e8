"""Periodic evaluation records every achievement's unlock rate and the score over them, and the run's
eval.csv keeps them (also when it resumes a log written before these columns existed)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ptgm.envs import get_task, get_world, make_env, score_from_rates
from ptgm.evaluate.periodic import EvalPoint, task_metric
from ptgm.rl.ppo import PPOConfig
from ptgm.rl.run import Run
from ptgm.training.logs import CSVLog
from ptgm.envs.vector import EpisodeStats, TaskVecEnv

WORLD = get_world("crafter")


def episode(unlocked: list[str], success: bool = False) -> EpisodeStats:
    return EpisodeStats(0, 0, 0.0, 10, success, np.isin(WORLD.achievements, unlocked))


def test_eval_point_unlock_rates_and_score():
    played = [episode(["collect_wood", "place_table"]), episode(["collect_wood"]), episode([]), episode([])]
    point = EvalPoint.from_episodes(1000, played, 1.0, WORLD.achievements)
    assert point.unlock_rates["collect_wood"] == 0.5 and point.unlock_rates["place_table"] == 0.25
    assert point.unlock_rates["collect_diamond"] == 0.0 and len(point.unlock_rates) == len(WORLD.achievements)
    rates = np.zeros(len(WORLD.achievements))
    rates[list(WORLD.achievements).index("collect_wood")] = 50.0
    rates[list(WORLD.achievements).index("place_table")] = 25.0
    assert point.score == pytest.approx(score_from_rates(rates) / 100)
    assert 0 < point.score < 0.25
    # Without achievement data (a stand-in env) there is no score, and nothing else changes.
    bare = EvalPoint.from_episodes(1000, [EpisodeStats(0, 0, 1.0, 3, True)], 1.0)
    assert np.isnan(bare.score) and bare.unlock_rates == {} and bare.success_rate == 1.0


def test_task_metric_follows_the_task_spec():
    assert task_metric(get_task("wood", WORLD)) == "success_rate"
    assert task_metric(get_task("crafter", WORLD)) == "score"


def test_vec_env_reports_each_episodes_unlocked_achievements(tmp_path):
    (tmp_path / "tasks.yaml").write_text("short:\n  success: []\n  reward: native\n  max_steps: 150\n"
                                         "  end_on_success: false\n")
    rng = np.random.default_rng(0)
    actions = rng.integers(0, WORLD.n_actions, 150)
    with TaskVecEnv("short", 1, tasks_file=tmp_path / "tasks.yaml", vector="sync") as env:
        env.reset(seeds=[7])
        played = []
        for a in actions:
            played += env.step(np.array([a])).episodes
    assert len(played) == 1 and played[0].achievements.shape == (len(WORLD.achievements),)
    # The same world and actions in a plain env: the union of the per-step achievement events.
    plain = make_env(obs_mode="symbolic", task="short", tasks_file=tmp_path / "tasks.yaml")
    plain.reset(seed=7)
    union = np.zeros(len(WORLD.achievements), bool)
    for a in actions:
        union |= plain.step(int(a))[4]["achievements"]
    np.testing.assert_array_equal(played[0].achievements, union)
    assert union.any()  # 150 random steps unlock something (wake_up, collect_sapling, ...)


def test_run_eval_log_has_score_and_unlock_columns_and_upgrades_an_old_header(tmp_path):
    header = "env_steps,success_rate,episode_return,episode_length,episodes,seconds\n"
    (tmp_path / "old.csv").write_text(header + "0,0.5,1,10,4,0.1\n")
    log = CSVLog(tmp_path / "old.csv", Run.EVAL_FIELDS + ["unlock/collect_wood"])
    log.append({"env_steps": 100, "success_rate": 0.25, "score": 1.5, "unlock/collect_wood": 0.5})
    with open(tmp_path / "old.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["env_steps"] for r in rows] == ["0", "100"]
    assert rows[0]["success_rate"] == "0.5" and rows[0]["score"] == ""  # the old row keeps its values
    assert rows[1]["score"] == "1.5" and None not in rows[1]  # no value without a column

    # A run folder without a checkpoint holds no run to resume: an evaluation an interrupted first attempt logged
    # (before its first checkpoint) is dropped, since the new run evaluates at that step again.
    cfg = PPOConfig(task="crafter", progress=False)
    old = tmp_path / "run"
    old.mkdir()
    (old / "eval.csv").write_text(header + "0,0.5,1,10,4,0.1\n")
    run = Run(old, cfg, {"method": "x", "task": "crafter", "seed": 0, "models": {}}, WORLD.achievements)
    point = EvalPoint.from_episodes(0, [episode(["collect_wood"]), episode([])], 0.5, WORLD.achievements)
    run.log_eval(point)
    run.close()
    with open(old / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["env_steps"] for r in rows] == ["0"]
    assert float(rows[0]["unlock/collect_wood"]) == 0.5 and float(rows[0]["score"]) == pytest.approx(point.score)
    assert None not in rows[0]


def test_a_crafter_run_records_and_prints_its_score(tmp_path, capsys):
    from ptgm.cli import main
    from ptgm.evaluate.report import load_curve

    out = tmp_path / "flat"
    assert main(["train-flat", "--task", "crafter", "--steps", "128", "--n-envs", "2", "--steps-per-iter", "128",
                 "--batch-size", "64", "--hidden", "32", "--eval-episodes", "2", "--vector", "sync", "--out", str(out),
                 "--no-progress"]) == 0
    assert "flat on crafter (seed 0): final score " in capsys.readouterr().out
    with open(out / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(0 <= float(r["score"]) <= 1 for r in rows)
    assert {f"unlock/{a}" for a in WORLD.achievements} <= set(rows[0])
    curve = load_curve(out)
    assert curve.metric == "score" and curve.values[-1] == pytest.approx(float(rows[-1]["score"]))
