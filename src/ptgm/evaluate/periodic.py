"""Evaluation of a policy during training: a fixed number of episodes on fresh worlds, in parallel workers.

Every evaluation plays the same worlds, `EVAL_SEED_BASE + i` for i < episodes, spread over the
evaluation env's workers (an env that finishes takes the next world; when none is left it idles).
The same worlds at every point and for every method make curves comparable point by point.
Training worlds are derived from the run's seed and then drawn from each env's RNG over [0, 2**31 - 1), so
an evaluation world is also met in training only by a chance of about 1e-5 per run.

Actions are sampled from the policy (its behaviour, as trained) with a generator of its own, so
evaluating never shifts the training run's random stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ptgm.rl.vec_env import EpisodeStats, Obs, TaskVecEnv

EVAL_SEED_BASE = 1_000_000_000


def eval_seeds(episodes: int) -> list[int]:
    return list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + episodes))


@dataclass
class EvalPoint:
    """One evaluation of a policy, after `env_steps` environment steps of training."""

    env_steps: int
    success_rate: float  # fraction of episodes in which the task succeeded
    episode_return: float  # mean task return
    episode_length: float  # mean episode length in environment steps
    episodes: int
    seconds: float  # wall time of the evaluation

    @classmethod
    def from_episodes(cls, env_steps: int, episodes: list[EpisodeStats], seconds: float) -> "EvalPoint":
        return cls(env_steps, float(np.mean([e.success for e in episodes])),
                   float(np.mean([e.episode_return for e in episodes])),
                   float(np.mean([e.length for e in episodes])), len(episodes), round(seconds, 3))


def play_episodes(env: TaskVecEnv, act: Callable[[Obs], np.ndarray], seeds: list[int]) -> list[EpisodeStats]:
    """Play one episode in each world of `seeds` with `act` (observations -> one action per env)."""
    if not seeds:
        raise ValueError("evaluation needs at least one episode")
    obs = env.reset(seeds=seeds)
    episodes: list[EpisodeStats] = []
    while len(episodes) < len(seeds):
        step = env.step(act(obs))
        episodes.extend(step.episodes)
        obs = step.obs
    return sorted(episodes, key=lambda e: e.world_seed)


def policy_actor(policy, deterministic: bool = False, seed: int = 0) -> Callable[[Obs], np.ndarray]:
    """`act(obs)` for an actor-critic (`ptgm.rl.policies`): sampled actions, from a generator of its own."""
    generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def act(obs: Obs) -> np.ndarray:
        dist = policy.distribution(torch.from_numpy(obs[policy.obs_mode]))
        return policy.sample(dist, deterministic, generator).numpy()

    return act


def evaluate(policy, env: TaskVecEnv, episodes: int, env_steps: int, deterministic: bool = False,
             seed: int = 0) -> tuple[EvalPoint, list[EpisodeStats]]:
    """Evaluate `policy` on the fixed evaluation worlds; `env_steps` labels the point."""
    start = time.perf_counter()
    if hasattr(env, "generator"):  # a hierarchical env: its low-level sampling restarts too
        env.generator.manual_seed(seed)
    was_training = policy.training
    policy.eval()
    played = play_episodes(env, policy_actor(policy, deterministic, seed), eval_seeds(episodes))
    policy.train(was_training)
    return EvalPoint.from_episodes(env_steps, played, time.perf_counter() - start), played
