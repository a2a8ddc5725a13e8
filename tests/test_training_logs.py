"""The logs every trainer writes (`ptgm.training.logs`): progress.csv and tb/, cut back to a resumed checkpoint."""

from __future__ import annotations

import csv
import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ptgm.training.logs import PROGRESS_CSV, TrainingLog


def rows(folder):
    with open(folder / PROGRESS_CSV, newline="") as f:
        return list(csv.DictReader(f))


def scalar_steps(folder, tag):
    events = EventAccumulator(str(folder / "tb"))
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


def test_a_resumed_log_keeps_what_came_before_its_checkpoint_and_a_fresh_one_starts_empty(tmp_path):
    log = TrainingLog(tmp_path, "update")  # columns from the first row
    for update in range(1, 6):
        log.log(update, {"losses/loss": 1.0 / update, "charts/epoch": update / 5, "note": "x"})
    log.scalars(5, {"charts/val_loss": 0.5, "charts/nan": math.nan, "charts/flag": True})
    log.close()
    assert [r["update"] for r in rows(tmp_path)] == ["1", "2", "3", "4", "5"]
    assert list(rows(tmp_path)[0]) == ["update", "losses/loss", "charts/epoch", "note"]
    assert scalar_steps(tmp_path, "losses/loss") == [1, 2, 3, 4, 5]
    assert EventAccumulator(str(tmp_path / "tb")).Reload().Tags()["scalars"] == ["losses/loss", "charts/epoch",
                                                                                 "charts/val_loss"]

    # Killed after update 5, last checkpoint at 3: the resumed run logs 4 and 5 again, once each.
    resumed = TrainingLog(tmp_path, "update", resumed_at=3)
    assert [r["update"] for r in rows(tmp_path)] == ["1", "2", "3"]
    for update in (4, 5):
        resumed.log(update, {"losses/loss": 0.0, "charts/epoch": update / 5, "note": "y"})
    resumed.close()
    assert [(r["update"], r["note"]) for r in rows(tmp_path)] == [("1", "x"), ("2", "x"), ("3", "x"), ("4", "y"),
                                                                  ("5", "y")]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("losses/loss")][2:] == [(3, pytest.approx(1 / 3)), (4, 0.0),
                                                                              (5, 0.0)]

    # The same folder without a checkpoint is a new run: nothing of the old one stays in progress.csv.
    TrainingLog(tmp_path, "update").close()
    assert rows(tmp_path) == []
    fixed = TrainingLog(tmp_path, "env_steps", ["charts/a"])
    assert rows(tmp_path) == [] and (tmp_path / PROGRESS_CSV).read_text() == "env_steps,charts/a\n"
    fixed.close()
