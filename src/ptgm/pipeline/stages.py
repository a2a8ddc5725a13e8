"""A pipeline stage: one folder, and a `stage.json` recording the exact config it finished with; the folder
layout of a pre-training (`Pretrained`) and of the downstream runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ptgm.config import ConfigError, changed_settings
from ptgm.io import ArtifactError, folder_lock, load_json, provenance, save_json, to_jsonable

STAGE_FILE = "stage.json"
# Where a stage wrote is not a setting: a folder moved or linked elsewhere (e.g. a dataset shared by two
# experiments) holds the same stage. (`collect.out`: the collect stage records {collect: ..., val_frames}.)
WRITTEN_TO = frozenset({"out", "collect.out"})


def run_stage(name: str, folder: Path, cfg: Any, fn: Callable[[], Any], log: Callable[[str], None]) -> float | None:
    """Run `fn` unless `folder` already holds this stage, complete, with exactly `cfg`; returns the seconds it
    ran, or None when it was done already. The folder stays locked from the check to the stage's record."""
    with folder_lock(folder):
        status = stage_status(name, folder, cfg)
        if status == "done":
            log(f"[{name}] done already: {folder}")
            return None
        if status == "other settings":
            raise ConfigError(f"{folder} holds a finished {name} stage made with other settings; "
                              f"use another --out or delete {folder}")
        log(f"[{name}] running -> {folder}")
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        save_json(folder / STAGE_FILE, {"config": to_jsonable(cfg), "seconds": round(seconds, 1),
                                        "provenance": provenance(f"ptgm run ({name})")})
        return seconds


def stage_status(name: str, folder: Path, cfg: Any) -> str:
    """Where stage `name` with `cfg` stands in `folder`: "done", "other settings" (finished with another
    config; `changed_settings`), "started" (the folder exists, e.g. an interrupted run that will resume) or "not run"."""
    marker = folder / STAGE_FILE
    if marker.exists():
        done = load_json(marker, f"{name} stage record")
        # Where it wrote is not a setting (WRITTEN_TO); what it read from still has to match.
        changed = set(changed_settings(done.get("config") or {}, cfg)) - WRITTEN_TO
        return "other settings" if changed else "done"
    return "started" if folder.exists() else "not run"


@dataclass(frozen=True)
class Pretrained:
    """The folders of the pre-trained artefacts every downstream run builds on."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def encoder(self) -> Path:
        return self.root / "encoder"

    @property
    def codebook(self) -> Path:
        return self.root / "codebook"

    @property
    def low(self) -> Path:
        return self.root / "low"

    @property
    def prior(self) -> Path:
        return self.root / "prior"

    @property
    def eval_low(self) -> Path:
        return self.root / "eval_low"

    def check(self) -> "Pretrained":
        """Fail unless every pre-training stage here finished (its `stage.json` exists), the goal encoder
        included when the codebook's embedding is learned."""
        folders = [self.data, self.codebook, self.low, self.prior]
        if (self.codebook / STAGE_FILE).is_file() and self.learned_goals():
            folders.insert(1, self.encoder)
        for folder in folders:
            if not (folder / STAGE_FILE).is_file():
                raise ArtifactError(f"{folder} is not a finished pre-training stage (no {STAGE_FILE}); give the "
                                    f"--out folder of a `ptgm run` that got past train-prior")
        return self

    def learned_goals(self) -> bool:
        """Whether the finished codebook here uses the learned goal embedding (so every stage needs the encoder)."""
        record = load_json(self.codebook / STAGE_FILE, "codebook stage record")
        return (record.get("config") or {}).get("embedding") == "learned"


def run_dir_name(method: str, task: str, seed: int) -> str:
    return f"{method}-{task}-s{seed}"
