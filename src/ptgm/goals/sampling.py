"""Stage 3a: sample goals from the training split and build their clustering features.

A goal sample is one observation of a training episode: its goal embedding (what the codebook
will hold) and the actions that led to it. The paper clusters `[goal, sum of the last H one-hot
actions]` so that behaviours with similar views (chopping a tree vs. walking past it) separate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.goals.embedders import GoalEmbedder


@dataclass
class GoalSamples:
    episode_ids: list[str]  # the sampled episodes; `episode` indexes this list
    episode: np.ndarray  # (M,) int32 index into episode_ids
    step: np.ndarray  # (M,) int32 observation index t within its episode
    goals: np.ndarray  # (M, D) float32 goal embeddings of observation t
    action_history: np.ndarray  # (M, n_actions) float32 counts of each action (continuous: sum) in the H steps before t

    def __len__(self) -> int:
        return int(len(self.step))


def choose_episodes(store: EpisodeStore, episodes: int, seed: int) -> list[str]:
    """`episodes` training episodes drawn at random with `seed` (all of them when -1 or more than exist)."""
    train = store.split_ids("train")  # raises DatasetError with the command to run when unsplit
    if not train:
        raise DatasetError(f"dataset {store.root} has no training episodes")
    if episodes == 0 or episodes < -1:
        raise ValueError(f"--episodes must be a positive number or -1 (all), got {episodes}")
    if episodes == -1 or episodes >= len(train):
        return sorted(train)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(train, size=episodes, replace=False).tolist())


def action_history_counts(actions: np.ndarray, steps: np.ndarray, history: int, n_actions: int) -> np.ndarray:
    """For each observation index t in `steps`, how often each action was taken in actions[t-history:t]; for
    continuous actions (T, n_actions) floats, their sum over those steps (the paper's summary of either)."""
    per_step = np.zeros((len(actions) + 1, n_actions), np.float32)
    if np.issubdtype(actions.dtype, np.floating):
        per_step[1:] = actions.reshape(len(actions), -1)
    else:
        per_step[np.arange(1, len(actions) + 1), actions.astype(np.int64)] = 1.0
    cumulative = np.cumsum(per_step, axis=0, dtype=np.float64)  # cumulative[t] = sum over actions[0:t]
    return (cumulative[steps] - cumulative[np.maximum(steps - history, 0)]).astype(np.float32)


def sample_goals(store: EpisodeStore, embedder: GoalEmbedder, episode_ids: list[str], sample_interval: int,
                 action_history: int, n_actions: int) -> GoalSamples:
    """Every `sample_interval`-th observation of each episode, from t = `action_history` on (so every
    sample has a full action history, as in the published code), with its goal and action counts."""
    if sample_interval < 1:
        raise ValueError(f"--sample-interval must be >= 1, got {sample_interval}")
    if action_history < 0:
        raise ValueError(f"--action-history must be >= 0, got {action_history}")
    obs_key = "obs_symbolic" if embedder.needs == "symbolic" else "obs_pixels"
    if obs_key == "obs_pixels" and not store.has_pixels:
        raise DatasetError(f"embedder {embedder.name!r} reads pixel frames, but dataset {store.root} has none "
                           f"(it was collected with --no-pixels); use --embedding state or collect with pixels")
    ep_index, steps, goals, history = [], [], [], []
    for i, ep_id in enumerate(episode_ids):
        arrays = store.load(ep_id, keys=[obs_key, "actions"])
        t = np.arange(action_history, len(arrays["actions"]) + 1, sample_interval, dtype=np.int64)
        if len(t) == 0:
            continue
        ep_index.append(np.full(len(t), i, np.int32))
        steps.append(t.astype(np.int32))
        goals.append(embedder.embed(arrays[obs_key][t]).astype(np.float32))
        history.append(action_history_counts(arrays["actions"], t, action_history, n_actions))
    if not steps:
        raise DatasetError(f"no goal samples: the {len(episode_ids)} sampled episodes of {store.root} are all "
                           f"shorter than --action-history {action_history}")
    return GoalSamples(list(episode_ids), np.concatenate(ep_index), np.concatenate(steps),
                       np.concatenate(goals), np.concatenate(history))


def thin_static_goals(samples: GoalSamples, min_change: float) -> GoalSamples:
    """Drop goals that barely differ from the last goal kept before them in their episode.

    Long stretches where the view hardly changes (the player asleep, standing still) would
    otherwise hold many samples, and since t-SNE + k-means share codes out roughly by sample count,
    they would take a matching share of the codebook as near-duplicate codes that no policy can tell
    apart. The rule reads only the goal embeddings, never a task or a label: a goal is kept when its
    distance to the last kept goal of its episode is at least `min_change` times the median
    distance between consecutive samples over all episodes (0 keeps everything). It halves the
    sleep codes on Crafter but did not make codes easier to reach (docs/limitations.md), so it is off by default.
    """
    if min_change < 0:
        raise ValueError(f"--min-goal-change must be >= 0, got {min_change}")
    if min_change == 0 or len(samples) < 2:
        return samples
    same_episode = samples.episode[1:] == samples.episode[:-1]
    steps = np.linalg.norm(samples.goals[1:] - samples.goals[:-1], axis=1)[same_episode]
    if len(steps) == 0:
        return samples
    threshold = min_change * float(np.median(steps))
    keep = np.zeros(len(samples), bool)
    last = -1
    for i in range(len(samples)):
        if last < 0 or samples.episode[i] != samples.episode[last] or \
                np.linalg.norm(samples.goals[i] - samples.goals[last]) >= threshold:
            keep[i] = True
            last = i
    return GoalSamples(samples.episode_ids, samples.episode[keep], samples.step[keep], samples.goals[keep],
                       samples.action_history[keep])


def clustering_features(samples: GoalSamples, action_weight: float) -> np.ndarray:
    """`[goal, action counts]`, each block divided by its spread (RMS distance to its mean) so that
    neither dominates by its units (goals lie in [0, 1], counts in [0, H]); `action_weight` then
    sets the actions' share. Without action history, the goals alone."""
    goals = samples.goals / _spread(samples.goals)
    if not samples.action_history.any() or action_weight == 0:
        return goals.astype(np.float32)
    actions = samples.action_history / _spread(samples.action_history) * action_weight
    return np.concatenate([goals, actions], axis=1).astype(np.float32)


def _spread(x: np.ndarray) -> float:
    spread = float(np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return spread if spread > 1e-8 else 1.0
