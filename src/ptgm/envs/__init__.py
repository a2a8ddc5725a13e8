"""World environments and tasks: the only layer that knows which game is being played.

`make_env` is how every other stage gets an environment; `get_world` gives the names and
shapes of a world without creating one. Worlds are looked up by name in the registry
(`ptgm.envs.registry`), where Crafter registers itself and `register_world` adds a user's own.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from ptgm.envs.base import OBS_MODES, RandomPlayer, SymbolicLayout, WorldSpec, env_obs_mode, score_from_rates
from ptgm.envs.registry import WORLDS, World, register_world, world_entry
from ptgm.envs.tasks import TaskEnv, TaskError, TaskSpec, get_task, load_tasks

PLAYERS = ("random", "scripted")


def get_world(name: str = "crafter") -> WorldSpec:
    """The names and shapes of registered world `name`; a ValueError naming the registered ones otherwise."""
    return world_entry(name).spec


def make_env(
    world: str = "crafter",
    obs_mode: str = "symbolic",
    task: str | TaskSpec | None = None,
    tasks_file: str | Path | None = None,
    max_steps: int | None = None,
) -> gym.Env:
    """A world environment, wrapped as `task` when one is given (by name or spec)."""
    entry = world_entry(world)
    if isinstance(task, str):
        task = get_task(task, entry.spec, tasks_file)
    limit = max_steps or (task.max_steps if task is not None else None)
    env: gym.Env = entry.make_env(obs_mode=obs_mode, max_steps=limit)
    if task is not None:
        env = TaskEnv(env, task, entry.spec)
    return env


def make_player(name: str, seed: int, world: str = "crafter", random_action_prob: float = 0.1,
                target_spread: float = 0.0, perception: str = "global", choices: str = "random"):
    """A task-agnostic player for data collection: `reset(env)` after each reset, `act(obs, info) -> action`.

    Players are never told a downstream task. 'random' plays any world; the others are the world's own."""
    entry = world_entry(world)
    if name == "random":
        return RandomPlayer(seed, entry.spec.n_actions, entry.spec.action_shape)
    if name in entry.players:
        return entry.players[name](seed, random_action_prob=random_action_prob, target_spread=target_spread,
                                   perception=perception, choices=choices)
    valid = ["random", *entry.players]
    raise ValueError(f"unknown player {name!r} for world {world!r}; valid: {', '.join(valid)}")


__all__ = [
    "OBS_MODES", "PLAYERS", "WORLDS", "SymbolicLayout", "TaskEnv", "TaskError", "TaskSpec", "World", "WorldSpec",
    "env_obs_mode", "get_task", "get_world", "load_tasks", "make_env", "make_player", "register_world",
    "score_from_rates",
]
