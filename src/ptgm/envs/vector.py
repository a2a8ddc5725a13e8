"""N task environments stepped in lockstep, where some may be held still: the base of both RL envs.

`TaskVecEnv` runs its worlds in worker processes (`WorkerVecEnv`: each of `workers` processes steps
its share of the N worlds in turn and answers once per vector step, so both cores step worlds while
the messages per step stay few; or Gymnasium's `SyncVectorEnv` in-process, for tests and debugging)
and decides episode boundaries itself instead of letting the vector env autoreset:

- each worker's env reports the end of an episode in `info` (never in the returned flags), so the
  vector env never resets anything behind our back, in every Gymnasium autoreset mode;
- an env can be *paused* (action `PAUSE`): its worker returns the last observation without
  stepping the world. A high-level step pauses an env whose episode ended mid-way while the
  others finish their low-level steps; evaluation pauses envs that have no episode left to play;
- ended envs are reset together at the end of the transition: in evaluation into the next world of
  the list; in training into the env's next world (Crafter derives each episode's world from the
  env's seed and the episode's number).

A transition (`Transition`) reports, per env, the task reward summed over its env steps, how many
env steps it took (budgets and curves count env steps), whether the episode ended and how, and
the statistics of every episode that finished.

Observations are dicts by mode: `"symbolic"` always (from `info`, cheap), `"pixels"` when asked
for, so the high-level policy, the prior and the low-level policy can each read their own mode.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np

from ptgm.envs import OBS_MODES, WorldSpec, env_obs_mode, get_world, make_env

PAUSE = -1  # the action that holds an env still for one vector step (a continuous action: all NaN)
Obs = dict[str, np.ndarray]  # observation mode -> (N, ...) batch


def is_pause(action) -> bool:
    """Whether `action` is the pause: `PAUSE` for an action id, a vector of NaN for a continuous action (no real
    action is NaN: the episode store refuses non-finite actions)."""
    action = np.asarray(action)
    if action.ndim == 0:
        return int(action) == PAUSE
    return bool(np.isnan(action).all())


def pause_actions(world: WorldSpec, n: int) -> np.ndarray:
    """A batch of `n` pauses, of the dtype and shape of `world`'s actions."""
    if world.continuous:
        return np.full((n, *world.action_shape), np.nan, np.float32)
    return np.full(n, PAUSE, np.int64)


class PausableEnv(gym.Wrapper):
    """A task env for lockstep vector workers: `PAUSE` holds it still; episode ends go in `info`."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._last: tuple[np.ndarray, dict] | None = None

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        info = {**info, "terminated": False, "truncated": False, "world_seed": self.env.unwrapped.world_seed}
        self._last = (obs, info)
        return obs, info

    def step(self, action):
        if is_pause(action):
            obs, info = self._last
            return obs, 0.0, False, False, {**info, "terminated": False, "truncated": False, "success": False}
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "terminated": bool(terminated), "truncated": bool(truncated),
                "world_seed": self.env.unwrapped.world_seed}
        self._last = (obs, info)
        return obs, reward, False, False, info


def _worker_env(world: str, obs_mode: str, task: str, tasks_file: str | None) -> gym.Env:
    return PausableEnv(make_env(world, obs_mode=obs_mode, task=task, tasks_file=tasks_file))


def usable_cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(n_envs: int) -> int:
    """Worker processes for `n_envs` worlds: one per CPU core this process may use, at most one per world."""
    return max(1, min(n_envs, usable_cores()))


def _stack_infos(infos: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(info[k]) for info in infos]) for k in infos[0] if all(k in i for i in infos)}


def _still(env: gym.Env) -> tuple[np.ndarray, dict]:
    obs, _, _, _, info = env.step(PAUSE)
    return obs, info


def _worker_loop(pipe, make: Callable[[], gym.Env], n: int) -> None:
    """A worker's `n` envs: each message steps (or resets) all of them and gets one answer."""
    envs = [make() for _ in range(n)]
    try:
        while True:
            command, data = pipe.recv()
            try:
                if command == "step":
                    results = [env.step(a) for env, a in zip(envs, data)]
                    obs, reward, terminated, truncated, infos = zip(*results)
                    pipe.send(("ok", (np.stack(obs), np.asarray(reward, np.float64), np.asarray(terminated),
                                      np.asarray(truncated), _stack_infos(list(infos)))))
                elif command == "reset":
                    # Envs not reset answer with their current observation and info (`PausableEnv.step(PAUSE)`).
                    results = [env.reset(seed=seed) if reset else _still(env) for env, (seed, reset) in zip(envs, data)]
                    obs, infos = zip(*results)
                    pipe.send(("ok", (np.stack(obs), _stack_infos(list(infos)))))
                elif command == "prepare":  # no answer: the main process does not wait for it
                    for env in envs:
                        prepare = getattr(env.unwrapped, "prepare_resets", None)
                        if prepare is not None:
                            prepare()
                elif command == "close":
                    break
            except Exception:  # noqa: BLE001 - the main process re-raises it with the worker's traceback
                pipe.send(("error", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        for env in envs:
            env.close()
        pipe.close()


class WorkerVecEnv:
    """N envs in `workers` forked processes, each stepping its contiguous share of them in turn.

    The part of Gymnasium's vector API `TaskVecEnv` uses (`reset(seed=, options={"reset_mask"})`,
    `step`, `close`), with infos stacked per key. One process per env (workers = N) spends much of a
    small world's step on messages and process switches; a few processes each stepping several envs
    send one message per process and step. Which process steps an env changes nothing it does."""

    def __init__(self, make: Callable[[], gym.Env], n_envs: int, workers: int):
        workers = max(1, min(workers, n_envs))
        bounds = np.linspace(0, n_envs, workers + 1).round().astype(int)
        self.slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.n_envs = n_envs
        # Workers only step worlds (never torch), so forking is safe and skips re-importing the world.
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        self.pipes, self.processes = [], []
        for part in self.slices:
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker_loop, args=(child, make, part.stop - part.start), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def _call(self, command: str, per_env: Sequence) -> list:
        for pipe, part in zip(self.pipes, self.slices):
            pipe.send((command, per_env[part]))
        answers = [pipe.recv() for pipe in self.pipes]
        for status, payload in answers:
            if status == "error":
                raise RuntimeError(f"an env worker failed:\n{payload}")
        return [payload for _, payload in answers]

    def reset(self, seed: Sequence[int | None] | None = None, options: dict | None = None):
        seeds = list(seed) if seed is not None else [None] * self.n_envs
        mask = np.asarray((options or {}).get("reset_mask", np.ones(self.n_envs, bool)))
        parts = self._call("reset", list(zip(seeds, mask)))
        obs = np.concatenate([p[0] for p in parts])
        return obs, {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}

    def step(self, actions: np.ndarray):
        parts = self._call("step", np.asarray(actions))
        obs, reward, terminated, truncated = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return obs, reward, terminated, truncated, {k: np.concatenate([p[4][k] for p in parts]) for k in parts[0][4]}

    def prepare_resets(self) -> None:
        """Have every worker generate its envs' next worlds now (see `CrafterEnv.prepare_resets`), without waiting."""
        for pipe in self.pipes:
            pipe.send(("prepare", None))

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        for pipe in self.pipes:
            pipe.close()
        self.pipes = []


@dataclass
class EpisodeStats:
    """One finished episode."""

    env: int  # which env played it
    world_seed: int  # the seed of its world (training: the env's seed, which with the episode's number fixes the world)
    episode_return: float  # sum of the task rewards
    length: int  # environment steps
    success: bool  # the task's success event happened
    # Which of the world's achievements were unlocked at least once (`WorldSpec.achievements` order).
    achievements: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


@dataclass
class Transition:
    """What one vector step (a primitive action, or a whole high-level step) did to each of the N envs."""

    obs: Obs  # observations after it: a new episode's first one where an episode ended
    reward: np.ndarray  # (N,) float32: task reward summed over the env steps it took
    terminated: np.ndarray  # (N,) bool: the episode ended in a terminal state (success, death)
    truncated: np.ndarray  # (N,) bool: the episode hit the task's step limit
    env_steps: np.ndarray  # (N,) int64: environment steps it took (0 for paused envs)
    final_obs: Obs  # the last observation of each ended episode (equals `obs` elsewhere)
    episodes: list[EpisodeStats] = field(default_factory=list)  # episodes that finished during it

    @property
    def ended(self) -> np.ndarray:
        return self.terminated | self.truncated


class TaskVecEnv:
    """N envs of one task in lockstep; `step(actions)` takes one primitive action per env."""

    def __init__(self, task: str, n_envs: int, obs_modes: Iterable[str] = ("symbolic",), world: str = "crafter",
                 tasks_file: str | Path | None = None, vector: str = "async", workers: int = 0):
        """`workers`: processes stepping the envs with `vector="async"` (0: `default_workers(n_envs)`)."""
        self.obs_modes = tuple(sorted(set(obs_modes)))
        for mode in self.obs_modes:
            if mode not in OBS_MODES:
                raise ValueError(f"unknown observation mode {mode!r}; valid: {', '.join(OBS_MODES)}")
        if n_envs < 1:
            raise ValueError(f"n_envs must be at least 1, got {n_envs}")
        self.world = get_world(world)
        self.task = task
        self.n_envs = n_envs
        env_mode = env_obs_mode(self.obs_modes)
        make = partial(_worker_env, world, env_mode, task, None if tasks_file is None else str(tasks_file))
        probe = make()  # fails here, in this process, on a bad task name or file
        probe.reset(seed=0)  # also compiles the world generator once, which forked workers inherit
        probe.close()
        if vector == "async":
            self.envs: WorkerVecEnv | gym.vector.VectorEnv = WorkerVecEnv(make, n_envs,
                                                                           workers or default_workers(n_envs))
        elif vector == "sync":
            self.envs = gym.vector.SyncVectorEnv([make] * n_envs)
        else:
            raise ValueError(f"unknown vector backend {vector!r}; valid: async, sync")
        self.obs: Obs = {}
        self.idle = np.zeros(n_envs, bool)  # no episode left to play (finite seed lists only)
        self._seeds: deque[int] | None = None
        self._world_seed = np.zeros(n_envs, np.int64)
        self._return = np.zeros(n_envs, np.float64)
        self._length = np.zeros(n_envs, np.int64)
        self._success = np.zeros(n_envs, bool)
        self._unlocked = np.zeros((n_envs, len(self.world.achievements)), bool)

    # -- episodes -------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, seeds: Sequence[int] | None = None) -> Obs:
        """Start new episodes in every env.

        `seed`: training; env i plays the worlds Crafter derives from the seed `seed + i` and each
        episode's number, forever. `seeds`: evaluation; exactly these worlds are played, in
        order, and an env with no world left goes idle."""
        if seeds is not None:
            self._seeds = deque(int(s) for s in seeds)
            first = [self._seeds.popleft() if self._seeds else None for _ in range(self.n_envs)]
            self.idle = np.array([s is None for s in first])
            first = [0 if s is None else s for s in first]  # idle envs still need some world
        else:
            self._seeds = None
            self.idle = np.zeros(self.n_envs, bool)
            first = [None if seed is None else seed + i for i in range(self.n_envs)]
        obs, info = self.envs.reset(seed=first)
        self.obs = self._views(obs, info)
        self._world_seed[:] = info["world_seed"]
        self._return[:], self._length[:], self._success[:], self._unlocked[:] = 0.0, 0, False, False
        return {k: v.copy() for k, v in self.obs.items()}

    def step(self, actions: np.ndarray) -> Transition:
        """One primitive action per env (ignored for idle envs)."""
        return self.step_primitive(actions)

    def step_primitive(self, actions: np.ndarray) -> Transition:
        """One env step with a primitive action per env (ids, or (N, *action_shape) floats in a continuous world);
        subclasses whose `step` means more keep this."""
        self._begin_transition()
        self._env_step(np.asarray(actions, np.float32 if self.world.continuous else np.int64))
        return self._end_transition()

    def prepare_resets(self) -> None:
        """Let the worker processes generate the worlds of their envs' next episodes while the caller does something
        else (PPO's update): those resets then stall no vector step. Training only: evaluation's resets are seeded."""
        if isinstance(self.envs, WorkerVecEnv):
            self.envs.prepare_resets()

    def close(self) -> None:
        self.envs.close()

    def __enter__(self) -> "TaskVecEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the parts of a transition (a high-level step calls _env_step many times) ----------------
    def _begin_transition(self) -> None:
        n = self.n_envs
        self._running = ~self.idle  # envs whose transition has not ended yet
        self._reward = np.zeros(n, np.float32)
        self._steps = np.zeros(n, np.int64)
        self._terminated = np.zeros(n, bool)
        self._truncated = np.zeros(n, bool)
        self._final = {k: v.copy() for k, v in self.obs.items()}
        self._episodes: list[EpisodeStats] = []

    def _env_step(self, actions: np.ndarray) -> None:
        """One vector step; envs not running get `PAUSE`, whatever `actions` says."""
        running = self._running.copy()
        pause = pause_actions(self.world, self.n_envs)
        actions = np.where(running.reshape(-1, *[1] * (pause.ndim - 1)), actions, pause)
        obs, reward, _, _, info = self.envs.step(actions)
        views = self._views(obs, info)
        reward = np.asarray(reward, np.float32)
        terminated = running & info["terminated"]
        truncated = running & info["truncated"]
        ended = terminated | truncated
        self._reward[running] += reward[running]
        self._steps[running] += 1
        self._return[running] += reward[running]
        self._length[running] += 1
        self._success[running] |= info["success"][running]
        self._unlocked[running] |= np.asarray(info["achievements"], bool)[running]
        self._terminated |= terminated
        self._truncated |= truncated
        for k, v in views.items():
            self.obs[k][running] = v[running]
            self._final[k][running] = v[running]
        for i in np.flatnonzero(ended):
            self._episodes.append(EpisodeStats(int(i), int(self._world_seed[i]), float(self._return[i]),
                                               int(self._length[i]), bool(self._success[i]),
                                               self._unlocked[i].copy()))
        self._running = running & ~ended

    def _end_transition(self) -> Transition:
        """Reset the envs whose episode ended (or idle them when their seed list ran out)."""
        ended = self._terminated | self._truncated
        if ended.any():
            seeds: list[int | None] = [None] * self.n_envs
            if self._seeds is not None:
                for i in np.flatnonzero(ended):
                    if self._seeds:
                        seeds[i] = self._seeds.popleft()
                    else:
                        self.idle[i] = True
            restart = ended & ~self.idle
            if restart.any():
                obs, info = self.envs.reset(seed=seeds, options={"reset_mask": restart})
                for k, v in self._views(obs, info, restart).items():
                    self.obs[k][restart] = v[restart]
                self._world_seed[restart] = info["world_seed"][restart]
            self._return[ended], self._length[ended], self._success[ended] = 0.0, 0, False
            self._unlocked[ended] = False
        return Transition({k: v.copy() for k, v in self.obs.items()}, self._reward, self._terminated,
                          self._truncated, self._steps, self._final, self._episodes)

    def _views(self, obs: np.ndarray, info: dict, rows: np.ndarray | None = None) -> Obs:
        # The world's own dtype: a state vector of floats must not be cast to bytes.
        views = {"symbolic": np.asarray(info["symbolic"], self.world.symbolic_dtype)} \
            if "symbolic" in self.obs_modes else {}
        if "pixels" in self.obs_modes:
            views["pixels"] = np.asarray(obs, np.uint8)
        if rows is not None and "symbolic" in views and "symbolic" in self.obs:
            # A masked reset reports info only for the envs it reset; keep the others' rows.
            views["symbolic"] = np.where(rows[:, None], views["symbolic"], self.obs["symbolic"])
        return views
