"""Training episodes, flattened, with the goal embedding of every observation.

Symbolic observations are 100 bytes a frame, so every episode of a split is held in memory. Pixel
observations are 12 KB a frame (a 1M-frame dataset is 12 GB), so with a `spill` folder they are written,
one episode at a time as it loads, to an unnamed temporary file there (`FrameFile`) and read back one
batch at a time. Memory then grows with the frames only by their goals, actions and indices (a few
hundred bytes a frame). Under DDP each process holds only its own shard of episodes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.goals.embedders import GoalEmbedder, embed_episode
from ptgm.pretrain.relabel import relabel


class FrameFile:
    """Equal-shaped frames in an unnamed temporary file: appended in order, read back by row, `frames[rows]`.

    The file has no name from the start, so the system deletes it when it is closed or the process ends,
    however it ends. Reads go through the page cache, which the system can drop under memory pressure,
    instead of the process's own memory."""

    def __init__(self, frame_shape: tuple[int, ...], dtype: np.dtype, folder: str | Path):
        Path(folder).mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=folder)
        self.frame_shape, self.dtype = tuple(frame_shape), np.dtype(dtype)
        self._frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self._n = 0

    def append(self, frames: np.ndarray) -> None:
        if frames.shape[1:] != self.frame_shape:
            raise ValueError(f"frames of shape {frames.shape[1:]} do not fit a file of {self.frame_shape} frames")
        self._file.write(np.ascontiguousarray(frames, self.dtype).tobytes())
        self._n += len(frames)

    def finish(self) -> "FrameFile":
        """Make every appended frame readable (call once the last frames are appended)."""
        self._file.flush()
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self.frame_shape)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        if rows.ndim != 1:
            raise IndexError("FrameFile takes a 1-d array of rows")
        if rows.size and (rows.min() < 0 or rows.max() >= self._n):
            raise IndexError(f"rows outside the {self._n} frames")
        out = np.empty((len(rows), *self.frame_shape), self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        fd, size = self._file.fileno(), self._frame_bytes
        for i, row in enumerate(rows.tolist()):
            flat[i] = np.frombuffer(os.pread(fd, size, row * size), np.uint8)
        return out


@dataclass
class Episodes:
    """Observation i of episode e is row `obs_start[e] + i` of `obs` and `goals`."""

    ids: list[str]
    obs: np.ndarray | FrameFile  # (N_obs, ...) uint8 observations the network reads, indexed by row arrays
    goals: np.ndarray  # (N_obs, D) float32 goal embedding of each observation
    actions: np.ndarray  # (N_steps,) int64 recorded action ids, or (N_steps, *action_shape) float32 continuous actions
    step_obs: np.ndarray  # (N_steps,) row of `obs` in which each action was taken
    obs_start: np.ndarray  # (E,) first row of each episode in `obs`
    lengths: np.ndarray  # (E,) number of actions of each episode
    noise: np.ndarray | None = None  # (N_steps,) bool: the player's random actions (none marked: all False)

    def __post_init__(self) -> None:
        if self.noise is None:
            self.noise = np.zeros(self.n_steps, bool)

    @property
    def chosen(self) -> np.ndarray:
        """The steps whose action the player chose, the ones worth imitating: its random actions only
        widen the states the data covers."""
        return np.flatnonzero(~self.noise)

    @property
    def n_steps(self) -> int:
        return len(self.actions)

    def relabel(self, min_btwn_goals: int, max_btwn_goals: int, rng: np.random.Generator) -> np.ndarray:
        """(N_steps,) row of `obs`/`goals` holding each step's hindsight goal (fresh random gaps)."""
        parts = [start + relabel(int(length), min_btwn_goals, max_btwn_goals, rng)
                 for start, length in zip(self.obs_start, self.lengths)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def load_episodes(store: EpisodeStore, ids: Sequence[str], obs_mode: str, embedder: GoalEmbedder,
                  progress: bool = False, what: str = "episodes", spill: str | Path | None = None) -> Episodes:
    """The episodes `ids` of `store`, observations in `obs_mode`; with `spill`, pixel observations go to a
    `FrameFile` in that folder instead of memory."""
    if obs_mode == "pixels" and not store.has_pixels:
        raise DatasetError(f"dataset {store.root} has no pixel observations (collected with --no-pixels); "
                           f"use --obs symbolic or collect with pixels")
    if not ids:
        raise DatasetError(f"no {what} to load from {store.root}")
    obs_key = "obs_pixels" if obs_mode == "pixels" else "obs_symbolic"
    keys = sorted({obs_key, "obs_symbolic" if embedder.needs == "symbolic" else "obs_pixels", "actions"}
                  | ({"noise"} if store.records_noise else set()))
    frames = None
    obs, goals, actions, step_obs, starts, lengths, noise = [], [], [], [], [], [], []
    row = 0
    for ep_id in tqdm(ids, desc=f"load {what}", unit="ep", disable=not progress, leave=False):
        arrays = store.load(ep_id, keys)
        t = len(arrays["actions"])
        if obs_mode == "pixels" and spill is not None:
            if frames is None:
                frames = FrameFile(arrays[obs_key].shape[1:], arrays[obs_key].dtype, spill)
            frames.append(arrays[obs_key])
        else:
            obs.append(arrays[obs_key])
        goals.append(embed_episode(embedder, arrays).astype(np.float32))
        continuous = np.issubdtype(arrays["actions"].dtype, np.floating)
        actions.append(arrays["actions"].astype(np.float32 if continuous else np.int64))
        noise.append(arrays["noise"] if "noise" in arrays else np.zeros(t, bool))
        step_obs.append(row + np.arange(t))
        starts.append(row)
        lengths.append(t)
        row += t + 1
    observations = frames.finish() if frames is not None else np.concatenate(obs)
    return Episodes(list(ids), observations, np.concatenate(goals), np.concatenate(actions),
                    np.concatenate(step_obs), np.asarray(starts, np.int64), np.asarray(lengths, np.int64),
                    np.concatenate(noise).astype(bool))


def action_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """Per-action loss weights count^-power, scaled so that their mean over the counted steps is 1.

    power 0 weighs every step alike; 0.5 lifts the player's rare chosen actions (crafting, placing), which
    an unweighted clone almost never takes (validation recall, `ptgm train-low`). Actions never counted weigh 0."""
    counts = np.asarray(counts, np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
    return (weights * counts.sum() / (weights * counts).sum()).astype(np.float32)


def sample_observations(episodes: Episodes, seed: int, n: int = 200_000) -> np.ndarray:
    """Up to `n` observations drawn at random (seeded) from `episodes`, e.g. to fit an encoder's input statistics."""
    rows = np.random.default_rng([seed, 7_003]).permutation(len(episodes.obs))[:n]
    return episodes.obs[np.sort(rows)]
