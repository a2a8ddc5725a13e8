"""Task specs (YAML) and the wrapper that turns a world environment into a downstream task.

A task sets the starting inventory on reset, ends the episode at its step limit, pays 1 on
success, 1 per success achievement (`each`), or the world's native reward, and may end the episode
on success. Success is any of the task's success achievements (`needs: any`, Crafter's tasks) or,
with `needs: all`, the step on which the last of them has been done this episode (Kitchen's
multi-subtask tasks). The wrapper adds `info["success"]` (bool: success happened on this step) to
every step.

Each world has its own built-in task file (`World.tasks_file`, given when the world is registered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml

from ptgm.envs.base import WorldSpec
from ptgm.envs.registry import WORLDS, world_entry

REWARDS = ("success", "each", "native")
NEEDS = ("any", "all")
_FIELDS = {"success", "needs", "start_inventory", "max_steps", "reward", "end_on_success", "mirrors"}


class TaskError(ValueError):
    """A task name, task file or task field is invalid."""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    success: tuple[str, ...]
    start_inventory: dict[str, int] = field(default_factory=dict)
    max_steps: int = 10000
    reward: str = "success"
    end_on_success: bool = True
    mirrors: str = ""
    needs: str = "any"  # "any": one success achievement is success; "all": every one, each at least once


def builtin_tasks_path() -> Path:
    """Crafter's built-in tasks."""
    return Path(str(resources.files("ptgm.envs") / "tasks.yaml"))


def load_tasks(world: WorldSpec, tasks_file: str | Path | None = None) -> dict[str, TaskSpec]:
    """The world's built-in tasks (its registered `tasks_file`), plus (overriding by name) those of `tasks_file`;
    every spec is validated."""
    builtin = world_entry(world.name).tasks_file if world.name in WORLDS else None
    tasks = _parse(Path(builtin), world) if builtin is not None else {}
    if tasks_file is not None:
        tasks.update(_parse(Path(tasks_file), world))
    return tasks


def get_task(name: str, world: WorldSpec, tasks_file: str | Path | None = None) -> TaskSpec:
    tasks = load_tasks(world, tasks_file)
    if name not in tasks:
        raise TaskError(f"unknown task {name!r}; valid tasks: {', '.join(tasks)}")
    return tasks[name]


def _parse(path: Path, world: WorldSpec) -> dict[str, TaskSpec]:
    if not path.is_file():
        raise TaskError(f"tasks file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise TaskError(f"tasks file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict) or not raw:
        raise TaskError(f"tasks file {path} must map task names to specs")
    return {str(name): _validate(str(name), spec, world, path) for name, spec in raw.items()}


def _validate(name: str, spec: object, world: WorldSpec, path: Path) -> TaskSpec:
    where = f"task {name!r} in {path}"
    if not isinstance(spec, dict):
        raise TaskError(f"{where}: a spec must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - _FIELDS
    if unknown:
        raise TaskError(f"{where}: unknown field(s) {sorted(unknown)}; valid: {sorted(_FIELDS)}")
    success = spec.get("success", [])
    if isinstance(success, str):
        success = [success]
    if not isinstance(success, list):
        raise TaskError(f"{where}: 'success' must be a list of achievements")
    for a in success:
        if a not in world.achievements:
            raise TaskError(f"{where}: unknown achievement {a!r}; valid: {', '.join(world.achievements)}")
    inventory = spec.get("start_inventory") or {}
    if not isinstance(inventory, dict):
        raise TaskError(f"{where}: 'start_inventory' must map items to counts")
    for item, count in inventory.items():
        if item not in world.items:
            raise TaskError(f"{where}: unknown item {item!r}; valid: {', '.join(world.items)}")
        if not isinstance(count, int) or not 0 <= count <= world.item_max:
            raise TaskError(f"{where}: count of {item!r} must be an integer in [0, {world.item_max}], got {count!r}")
    max_steps = spec.get("max_steps", world.default_max_steps)
    if not isinstance(max_steps, int) or max_steps <= 0:
        raise TaskError(f"{where}: 'max_steps' must be a positive integer, got {max_steps!r}")
    reward = spec.get("reward", "success")
    if reward not in REWARDS:
        raise TaskError(f"{where}: 'reward' must be one of {REWARDS}, got {reward!r}")
    if reward in ("success", "each") and not success:
        raise TaskError(f"{where}: reward {reward!r} needs at least one success achievement")
    needs = spec.get("needs", "any")
    if needs not in NEEDS:
        raise TaskError(f"{where}: 'needs' must be one of {NEEDS}, got {needs!r}")
    end = spec.get("end_on_success", True)
    if not isinstance(end, bool):
        raise TaskError(f"{where}: 'end_on_success' must be true or false")
    return TaskSpec(name, tuple(success), {k: int(v) for k, v in inventory.items()}, max_steps, reward, end,
                    str(spec.get("mirrors", "")), needs)


class TaskEnv(gym.Wrapper):
    """A world environment playing one task."""

    def __init__(self, env: gym.Env, task: TaskSpec, world: WorldSpec):
        super().__init__(env)
        self.task = task
        self._success_idx = np.array([world.achievements.index(a) for a in task.success], np.int64)
        self._done = np.zeros(len(self._success_idx), bool)  # which success achievements happened this episode
        self._t = 0

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.task.start_inventory:
            self.env.unwrapped.set_inventory(self.task.start_inventory)
            obs, info = self.env.unwrapped.observe_again()
        self._t = 0
        self._done[:] = False
        info["success"] = False
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        events = np.asarray(info["achievements"], bool)[self._success_idx]
        new = events & ~self._done
        self._done |= events
        if self.task.needs == "all":
            success = bool(len(new) and new.any() and self._done.all())
        else:
            success = bool(events.any())
        info["success"] = success
        if self.task.reward == "success":
            reward = float(success)
        elif self.task.reward == "each":
            reward = float(new.sum())
        if success and self.task.end_on_success:
            terminated = True
        if self._t >= self.task.max_steps and not terminated:
            truncated = True
        return obs, reward, terminated, truncated, info
