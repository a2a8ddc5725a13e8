"""Evaluation of a policy during training: a fixed number of episodes on fresh worlds, in parallel workers.

Every evaluation plays the same worlds, `EVAL_SEED_BASE + i` for i < episodes, spread over the
evaluation env's workers (an env that finishes takes the next world; when none is left it idles).
The same worlds at every point and for every method make curves comparable point by point.
Training worlds are derived from the run's seed and each episode's number (`TaskVecEnv.reset`), so an
evaluation world is also met in training only when Crafter's world hashes collide: a chance of the order
of 1e-4 per run.

Besides the task's success rate, every point records how often each of the world's achievements
was unlocked (in at least one step of an episode) and the score over those rates
(`ptgm.envs.score_from_rates`, the Crafter score): the metric of a task that has no success
achievements, such as the full game (`task_metric`).

Actions are sampled from the policy (its behaviour, as trained) with a generator of its own, so
evaluating never shifts the training run's random stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ptgm.envs import score_from_rates
from ptgm.envs.tasks import TaskSpec
from ptgm.envs.vector import EpisodeStats, Obs, TaskVecEnv

EVAL_SEED_BASE = 1_000_000_000


def task_metric(task: TaskSpec) -> str:
    """The eval.csv column a task is judged by: its success rate, or the score when nothing counts as success."""
    return "success_rate" if task.success else "score"


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
    score: float = float("nan")  # score over the unlock rates, in [0, 1] (Crafter's percent / 100)
    unlock_rates: dict[str, float] = field(default_factory=dict)  # achievement -> fraction of episodes unlocking it

    @classmethod
    def from_episodes(cls, env_steps: int, episodes: list[EpisodeStats], seconds: float,
                      achievements: Sequence[str] = ()) -> "EvalPoint":
        """`achievements`: the world's achievement names, in the order of `EpisodeStats.achievements`."""
        rates: dict[str, float] = {}
        if len(achievements) and all(len(e.achievements) == len(achievements) for e in episodes):
            unlocked = np.stack([e.achievements for e in episodes]).mean(axis=0)
            rates = {a: float(r) for a, r in zip(achievements, unlocked)}
        score = score_from_rates({a: 100 * r for a, r in rates.items()}) / 100 if rates else float("nan")
        return cls(env_steps, float(np.mean([e.success for e in episodes])),
                   float(np.mean([e.episode_return for e in episodes])),
                   float(np.mean([e.length for e in episodes])), len(episodes), round(seconds, 3), score, rates)


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
    world = getattr(env, "world", None)  # stand-in envs in tests have no world
    point = EvalPoint.from_episodes(env_steps, played, time.perf_counter() - start,
                                    world.achievements if world is not None else ())
    return point, played
