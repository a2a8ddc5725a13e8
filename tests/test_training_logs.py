"""The logs every trainer writes (`ptgm.training.logs`): progress.csv and tb/, cut back to a resumed checkpoint."""

from __future__ import annotations

import csv
import math
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ptgm.training.logs import PROGRESS_CSV, TrainingLog


def next_second():
    """TensorBoard reads a folder's event files in name order, and a name starts with the second it was opened in:
    a writer opened later in the same second may sort first."""
    time.sleep(1.02 - time.time() % 1)


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
    next_second()
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

    # The same folder without a checkpoint is a new run: nothing of the old one stays.
    next_second()
    fresh = TrainingLog(tmp_path, "update")
    assert not (tmp_path / PROGRESS_CSV).exists()
    fresh.log(1, {"losses/other": 2.0})
    fresh.close()
    assert rows(tmp_path) == [{"update": "1", "losses/other": "2"}]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
            if events.Scalars(tag)} == {"losses/other": [(1, 2.0)]}
    fixed = TrainingLog(tmp_path, "env_steps", ["charts/a"])
    assert rows(tmp_path) == [] and (tmp_path / PROGRESS_CSV).read_text() == "env_steps,charts/a\n"
    fixed.close()
