"""World environments and tasks: the only layer that knows which game is being played.

`make_env` is how every other stage gets an environment; `get_world` gives the names and
shapes of a world without creating one.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from ptgm.envs.base import OBS_MODES, SymbolicLayout, WorldSpec, env_obs_mode, score_from_rates
from ptgm.envs.tasks import TaskEnv, TaskError, TaskSpec, get_task, load_tasks

WORLDS = ("crafter", "kitchen")
PLAYERS = ("random", "scripted")


def get_world(name: str = "crafter") -> WorldSpec:
    if name == "crafter":
        from ptgm.envs.crafter import CRAFTER_SPEC

        return CRAFTER_SPEC
    if name == "kitchen":
        from ptgm.envs.kitchen import KITCHEN_SPEC

        return KITCHEN_SPEC
    raise ValueError(f"unknown world {name!r}; valid: {', '.join(WORLDS)}")


def make_env(
    world: str = "crafter",
    obs_mode: str = "symbolic",
    task: str | TaskSpec | None = None,
    tasks_file: str | Path | None = None,
    max_steps: int | None = None,
) -> gym.Env:
    """A world environment, wrapped as `task` when one is given (by name or spec)."""
    spec = get_world(world)
    if isinstance(task, str):
        task = get_task(task, spec, tasks_file)
    if world == "crafter":
        from ptgm.envs.crafter import CrafterEnv

        limit = max_steps or (task.max_steps if task is not None else None)
        env: gym.Env = CrafterEnv(obs_mode=obs_mode, max_steps=limit)
    if world == "kitchen":
        from ptgm.envs.kitchen import KitchenEnv

        env = KitchenEnv(obs_mode=obs_mode, max_steps=max_steps or (task.max_steps if task is not None else None))
    if task is not None:
        env = TaskEnv(env, task, spec)
    return env


def make_player(name: str, seed: int, world: str = "crafter", random_action_prob: float = 0.1,
                target_spread: float = 0.0, perception: str = "global"):
    """A task-agnostic player for data collection: `reset(env)` after each reset, `act(obs, info) -> action`.

    Players are never told a downstream task."""
    spec = get_world(world)
    if name == "random":
        from ptgm.envs.base import RandomPlayer

        return RandomPlayer(seed, spec.n_actions, spec.action_shape)
    if name == "scripted" and world == "crafter":
        from ptgm.envs.crafter.player import ScriptedPlayer

        return ScriptedPlayer(seed, random_action_prob=random_action_prob, target_spread=target_spread,
                              perception=perception)
    if name == "scripted" and world == "kitchen":
        from ptgm.envs.kitchen import KitchenPlayer

        return KitchenPlayer(seed)
    raise ValueError(f"unknown player {name!r} for world {world!r}; valid: {', '.join(PLAYERS)}")


__all__ = [
    "OBS_MODES", "WORLDS", "SymbolicLayout", "TaskEnv", "TaskError", "TaskSpec", "WorldSpec",
    "PLAYERS", "env_obs_mode", "get_task", "get_world", "load_tasks", "make_env", "make_player", "score_from_rates",
]
