"""Franka Kitchen (Gymnasium-Robotics' FrankaKitchen-v1) as a ptgm world.

The state observation and the seven subtasks are those of FrankaKitchen-v1 (see `spec`); what
changes is the interface: a flat float32 observation instead of a goal dict, the subtasks reported
as achievements in `info` the way every world reports them, and no task of its own: the episode
never ends early (a task wrapper decides what success is), only at `max_steps`.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import gymnasium as gym
import numpy as np

from ptgm.envs.kitchen import INSTALL_HINT, MissingExtraError
from ptgm.envs.kitchen.spec import KITCHEN_SPEC, completed

try:
    import mujoco  # noqa: F401  (the player reads the model through this env)

    # gymnasium_robotics prints a notice about its Adroit hands (not used here) on import.
    with contextlib.redirect_stderr(io.StringIO()):
        from gymnasium_robotics.envs.franka_kitchen.kitchen_env import KitchenEnv as _FrankaKitchen
except ImportError as e:
    raise MissingExtraError(f"{INSTALL_HINT} ({e})") from e

_STATE_SIZE = KITCHEN_SPEC.symbolic_layout.size
_NO_ITEMS = np.zeros(0, np.uint8)


class KitchenEnv(gym.Env):
    """One Franka kitchen. `reset(seed=s)` gives the same observation noise (and so the same
    trajectory under the same actions) for the same `s`; the start state is always the same."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 12}
    spec_world = KITCHEN_SPEC

    def __init__(self, obs_mode: str = "symbolic", max_steps: int | None = None, render_mode: str | None = None):
        if obs_mode not in KITCHEN_SPEC.obs_modes:
            raise ValueError(f"unknown obs_mode {obs_mode!r} for kitchen; valid: {', '.join(KITCHEN_SPEC.obs_modes)}")
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self.max_steps = max_steps or KITCHEN_SPEC.default_max_steps
        # The raw env's own task bookkeeping is not used: completion is computed here from the true state.
        self.kitchen = _FrankaKitchen(terminate_on_tasks_completed=False, render_mode=render_mode)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (_STATE_SIZE,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, KITCHEN_SPEC.action_shape, np.float32)
        self._t = 0
        self._unlocked = np.zeros(len(KITCHEN_SPEC.achievements), bool)
        self._state = np.zeros(_STATE_SIZE, np.float32)
        self._seeded = False
        self._world_seed: int | None = None

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            # The first reset without a seed seeds the simulator's noise from this env's own generator.
            seed = int(self.np_random.integers(2**31 - 1))
        self._seeded = True
        if seed is not None:
            self._world_seed = int(seed)
        raw, _ = self.kitchen.reset(seed=seed)
        self._t = 0
        self._unlocked = completed(self.data.qpos)  # none at the start state, but never count one twice
        return self._observe(raw), self._info(np.zeros_like(self._unlocked))

    def step(self, action):
        action = np.asarray(action, np.float64)
        if action.shape != KITCHEN_SPEC.action_shape or not np.isfinite(action).all():
            raise ValueError(f"a kitchen action is {KITCHEN_SPEC.action_shape} finite values, got {action!r:.80}")
        raw, _, _, _, _ = self.kitchen.step(action)
        self._t += 1
        done = completed(self.data.qpos)
        events = done & ~self._unlocked
        self._unlocked |= done
        truncated = self._t >= self.max_steps
        return self._observe(raw), float(events.sum()), False, truncated, self._info(events)

    def render(self):
        return self.kitchen.render()

    def __deepcopy__(self, memo: dict) -> "KitchenEnv":
        """An independent kitchen in exactly this state: it continues as this one would under the same actions.

        Why not the default deep copy: gymnasium_robotics' kitchen pickles, and so deep-copies, by building a new
        env from its constructor arguments. That copy has a blank simulation (every joint at 0), a fresh noise
        generator and none of the last commanded joint positions its controller reads. The raw env and its robot
        are copied attribute by attribute instead. The MuJoCo model (57 MB, never changed by stepping) is shared
        with the copy, and only the simulation's data is copied, so that many saved states fit in memory."""
        inner = self.kitchen
        robot = inner.robot_env
        data = mujoco.MjData(robot.model)
        mujoco.mj_copyData(data, robot.model, robot.data)
        memo[id(robot.model)], memo[id(robot.data)] = robot.model, data
        parts = (inner, robot, self)
        for part in parts:  # registered first, so references between them stay within the copy
            memo[id(part)] = type(part).__new__(type(part))
        for part in parts:
            for key, value in vars(part).items():
                setattr(memo[id(part)], key, copy.deepcopy(value, memo))
        # The robot resets to its start pose through views of the data's joint arrays: views of the copy's own.
        for name, array in (("init_qpos", data.qpos), ("init_qvel", data.qvel)):
            if np.shares_memory(getattr(robot, name), getattr(robot.data, name[len("init_"):])):
                setattr(memo[id(robot)], name, array)
        return memo[id(self)]

    def close(self):
        self.kitchen.close()

    def ending(self, terminated: bool) -> dict[str, Any]:
        """How the episode just ended: always its step limit, as a kitchen never ends an episode of its own."""
        return {"cause": "timeout"}

    # -- What the scripted player reads ---------------------------------------------------------
    @property
    def model(self):
        """The MuJoCo model (for the scripted player, as Crafter's player reads the raw game)."""
        return self.kitchen.model

    @property
    def data(self):
        return self.kitchen.data

    @property
    def world_seed(self) -> int | None:
        """The seed of the last seeded reset: with the number of resets since, it fixes the episode's noise
        (what vector envs report per episode, as Crafter's world seed)."""
        return self._world_seed

    @property
    def unlocked(self) -> np.ndarray:
        return self._unlocked.copy()

    # -- Observations ---------------------------------------------------------------------------
    def _observe(self, raw: dict[str, Any]) -> np.ndarray:
        self._state = np.asarray(raw["observation"], np.float32)
        return self._state.copy()

    def _info(self, events: np.ndarray) -> dict[str, Any]:
        return {
            "symbolic": self._state.copy(),
            "inventory": _NO_ITEMS.copy(),
            "achievements": events.copy(),
            "unlocked": self._unlocked.copy(),
        }
