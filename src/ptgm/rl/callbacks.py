"""Callbacks in the Stable-Baselines3 style: user code told of a PPO run's iterations, evaluations and checkpoints.

`ptgm.rl.ppo.learn` already evaluates every `eval_every` env steps and checkpoints every
`checkpoint_every`, and writes both through the run folder. `CallbackRun` is that run folder with the
callback told after each write, so the trainer's loop is the same with or without callbacks, and a
callback sees exactly what eval.csv and the checkpoints record.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ptgm.evaluate.periodic import EvalPoint
from ptgm.rl.policies import Policy
from ptgm.rl.run import Run, Start


class Callback:
    """Override the hooks you need; `init` runs once the policy is built, before its first step."""

    agent: Policy
    run: Run

    def init(self, agent: Policy, run: Run) -> None:
        self.agent, self.run = agent, run

    def on_iteration(self, env_steps: int, row: dict[str, Any]) -> None:
        """After each PPO (or SAC) iteration, with its progress.csv row (charts/..., losses/...)."""

    def on_eval(self, point: EvalPoint) -> None:
        """After each periodic evaluation, with its eval.csv point."""

    def on_checkpoint(self, env_steps: int) -> None:
        """After each checkpoint of the run (every checkpoint_every env steps, and after each evaluation)."""


class CallbackList(Callback):
    """Several callbacks, told in order."""

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)

    def init(self, agent: Policy, run: Run) -> None:
        super().init(agent, run)
        for c in self.callbacks:
            c.init(agent, run)

    def on_iteration(self, env_steps: int, row: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.on_iteration(env_steps, row)

    def on_eval(self, point: EvalPoint) -> None:
        for c in self.callbacks:
            c.on_eval(point)

    def on_checkpoint(self, env_steps: int) -> None:
        for c in self.callbacks:
            c.on_checkpoint(env_steps)


class EvalCallback(Callback):
    """Keeps every evaluation point (`points`); with `best_policy_path`, saves the policy there whenever the
    task's metric (success rate, or the score for a task without success) beats every earlier point."""

    def __init__(self, best_policy_path: str | Path | None = None):
        self.best_policy_path = None if best_policy_path is None else Path(best_policy_path)
        self.points: list[EvalPoint] = []
        self.best: float | None = None

    def on_eval(self, point: EvalPoint) -> None:
        self.points.append(point)
        value = getattr(point, self.run.info.get("metric", "success_rate"))
        if value == value and (self.best is None or value > self.best):  # NaN never counts as better
            self.best = value
            if self.best_policy_path is not None:
                self.agent.save(self.best_policy_path)


class CheckpointCallback(Callback):
    """Saves the policy at every checkpoint of the run as `save_path/<name_prefix>_<env_steps>_steps/` (the run's
    own checkpoint keeps only the last)."""

    def __init__(self, save_path: str | Path, name_prefix: str = "policy"):
        self.save_path, self.name_prefix = Path(save_path), name_prefix
        self.saved: list[Path] = []

    def on_checkpoint(self, env_steps: int) -> None:
        path = self.save_path / f"{self.name_prefix}_{env_steps}_steps"
        self.agent.save(path)
        self.saved.append(path)


def as_callback(callback: Callback | Sequence[Callback] | None) -> Callback | None:
    """One callback for what `learn(callback=...)` takes: None, a callback or a list of them."""
    if callback is None or isinstance(callback, Callback):
        return callback
    return CallbackList(callback)


class CallbackRun(Run):
    """A run folder that tells `callback` after each iteration's log row, evaluation point and checkpoint."""

    def __init__(self, *args: Any, callback: Callback, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.callback = callback

    def log(self, env_steps: int, row: dict[str, Any]) -> None:
        super().log(env_steps, row)
        self.callback.on_iteration(env_steps, row)

    def log_eval(self, point: Any) -> None:
        super().log_eval(point)
        self.callback.on_eval(point)

    def save_checkpoint(self, agent: Any, optimizer: Any, counters: dict[str, Any]) -> None:
        super().save_checkpoint(agent, optimizer, counters)
        self.callback.on_checkpoint(int(counters["env_steps"]))


def open_run(path: str | Path, config: Any, info: dict[str, Any], achievements: Sequence[str],
             callback: Callback | None, progress_fields: Sequence[str] | None = None,
             start: Start | None = None) -> Run:
    """The run folder a trainer writes through: a `CallbackRun` when there is a callback; `progress_fields` and
    `start`: as `Run`'s."""
    if callback is None:
        return Run(path, config, info, achievements, progress_fields, start)
    return CallbackRun(path, config, info, achievements, progress_fields, start, callback=callback)
