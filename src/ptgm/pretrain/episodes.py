"""Training episodes held in memory, flattened, with the goal embedding of every observation.

Symbolic observations are 100 bytes a frame, so every episode of a split is loaded at once. Pixel
observations are 12 KB a frame: 50k frames take 600 MB, which fits; under DDP each process holds
only its own shard of episodes. Datasets much larger than memory would need a streaming loader
(episode files read in shuffled chunks), which ptgm does not have yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.goals.embedders import GoalEmbedder, embed_episode
from ptgm.pretrain.relabel import relabel


@dataclass
class Episodes:
    """Observation i of episode e is row `obs_start[e] + i` of `obs` and `goals`."""

    ids: list[str]
    obs: np.ndarray  # (N_obs, ...) uint8 observations the network reads
    goals: np.ndarray  # (N_obs, D) float32 goal embedding of each observation
    actions: np.ndarray  # (N_steps,) int64 recorded actions
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
                  progress: bool = False, what: str = "episodes") -> Episodes:
    if obs_mode == "pixels" and not store.has_pixels:
        raise DatasetError(f"dataset {store.root} has no pixel observations (collected with --no-pixels); "
                           f"use --obs symbolic or collect with pixels")
    if not ids:
        raise DatasetError(f"no {what} to load from {store.root}")
    obs_key = "obs_pixels" if obs_mode == "pixels" else "obs_symbolic"
    keys = sorted({obs_key, "obs_symbolic" if embedder.needs == "symbolic" else "obs_pixels", "actions"}
                  | ({"noise"} if store.records_noise else set()))
    obs, goals, actions, step_obs, starts, lengths, noise = [], [], [], [], [], [], []
    row = 0
    for ep_id in tqdm(ids, desc=f"load {what}", unit="ep", disable=not progress, leave=False):
        arrays = store.load(ep_id, keys)
        t = len(arrays["actions"])
        obs.append(arrays[obs_key])
        goals.append(embed_episode(embedder, arrays).astype(np.float32))
        actions.append(arrays["actions"].astype(np.int64))
        noise.append(arrays["noise"] if "noise" in arrays else np.zeros(t, bool))
        step_obs.append(row + np.arange(t))
        starts.append(row)
        lengths.append(t)
        row += t + 1
    return Episodes(list(ids), np.concatenate(obs), np.concatenate(goals), np.concatenate(actions),
                    np.concatenate(step_obs), np.asarray(starts, np.int64), np.asarray(lengths, np.int64),
                    np.concatenate(noise).astype(bool))


def action_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """Per-action loss weights count^-power, scaled so that their mean over the counted steps is 1.

    power 0 weighs every step alike; 0.5 lifts the player's rare chosen actions (crafting, placing), which
    an unweighted clone almost never takes (validation recall, `ptgm train-low`). Actions never counted weigh 0."""
    counts = np.asarray(counts, np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
    return (weights * counts.sum() / (weights * counts).sum()).astype(np.float32)
