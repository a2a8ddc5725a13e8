"""A trainer's logs, the same for every trainer: `progress.csv` (one row per logging step) and the same scalars in
`tb/` for TensorBoard, against one step counter (updates when pre-training, env steps in RL), and the progress bar.

Scalars are named as CleanRL names them: `charts/...` for what training achieves, `losses/...` for what it
minimises. A trainer resumed from a checkpoint at step S keeps the rows and events logged up to S and drops later
ones, since the resumed run logs that stretch again.
"""

from __future__ import annotations

import csv
import io
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ptgm.io import ArtifactError, atomic_write_bytes

PROGRESS_CSV = "progress.csv"
TENSORBOARD = "tb"


def read_header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def read_csv(path: str | Path, error: type[ArtifactError] = ArtifactError) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise error(f"log not found: {path}")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class CSVLog:
    """An append-only CSV with a fixed header whose first column is the step; rows beyond a step can be dropped."""

    def __init__(self, path: Path, fields: Sequence[str]):
        self.path, self.fields = Path(path), list(fields)
        if not self.path.exists():
            atomic_write_bytes(self.path, (",".join(self.fields) + "\n").encode())
        elif read_header(self.path) != self.fields:  # a log from an older version: keep its rows under the new header
            self.truncate_after(float("inf"))

    def append(self, row: dict[str, Any]) -> None:
        buf = io.StringIO()
        csv.DictWriter(buf, self.fields, extrasaction="ignore").writerow({k: _fmt(v) for k, v in row.items()})
        with open(self.path, "a") as f:
            f.write(buf.getvalue())

    def truncate_after(self, step: float) -> None:
        rows = read_csv(self.path)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(r for r in rows if r.get(self.fields[0]) and float(r[self.fields[0]]) <= step)
        atomic_write_bytes(self.path, buf.getvalue().encode())


class TrainingLog:
    """`progress.csv` and `tb/` in a trainer's folder, against the step named `step_field`.

    `fields`: progress.csv's columns after the step; None takes them from the first row logged (or from the file a
    resumed run wrote). `resumed_at`: the step of the checkpoint a resumed run starts from (None: a fresh run)."""

    def __init__(self, folder: str | Path, step_field: str, fields: Sequence[str] | None = None,
                 resumed_at: int | None = None):
        self.folder, self.step_field, self.resumed_at = Path(folder), step_field, resumed_at
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / PROGRESS_CSV
        self.csv: CSVLog | None = None
        if resumed_at is None:  # a new run: nothing an earlier attempt in this folder logged stays
            path.unlink(missing_ok=True)
        elif fields is None and path.exists() and read_header(path)[:1] == [step_field]:
            self.csv = CSVLog(path, read_header(path))
        if fields is not None:
            self.csv = CSVLog(path, [step_field, *fields])
        if self.csv is not None and resumed_at is not None:
            self.csv.truncate_after(resumed_at)
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        # Opened on first use: its background thread should not exist yet when env workers are forked.
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops the events an interrupted run logged after its checkpoint (steps >= it, so +1 keeps
            # the ones at the checkpoint's own step); a new run drops every earlier event.
            purge = self.resumed_at + 1 if self.resumed_at is not None else 0
            self._writer = SummaryWriter(str(self.folder / TENSORBOARD), purge_step=purge)
        return self._writer

    def log(self, step: int, row: dict[str, Any]) -> None:
        """One progress.csv row; its `charts/` and `losses/` numbers also go to TensorBoard (NaN skipped)."""
        if self.csv is None:
            self.csv = CSVLog(self.folder / PROGRESS_CSV, [self.step_field, *row])
        self.csv.append({self.step_field: step, **row})
        self.scalars(step, {k: v for k, v in row.items() if "/" in k})

    def scalars(self, step: int, values: dict[str, Any]) -> None:
        """TensorBoard only: numbers whose home is another file (an evaluation's, a best-model record)."""
        for key, value in values.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value:
                self.writer.add_scalar(key, float(value), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def progress_bar(total: int, initial: int, unit: str, desc: str, enabled: bool, smoothing: float = 0.05) -> tqdm:
    """The progress bar every long command shows (off with --no-progress, and on every process but the first);
    `smoothing`: tqdm's weight of the latest rate (RL's uneven iterations take a higher one)."""
    return tqdm(total=total, initial=min(initial, total), unit=unit, desc=desc, disable=not enabled,
                smoothing=smoothing)
