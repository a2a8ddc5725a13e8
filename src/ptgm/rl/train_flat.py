"""`ptgm train-flat`: the baseline, PPO from scratch on the world's primitive actions.

Same observation encoder family, same PPO, same budget in environment steps and the same
evaluation worlds as `ptgm train-high`, so the two learning curves compare point by point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ptgm.config import ConfigError
from ptgm.envs import TaskSpec, WorldSpec, get_task, get_world
from ptgm.evaluate.periodic import task_metric
from ptgm.io import folder_lock
from ptgm.rl.callbacks import Callback, open_run
from ptgm.rl.policies import ActorCritic
from ptgm.rl.ppo import PPOConfig, learn
from ptgm.rl.run import Start, run_folder
from ptgm.envs.vector import TaskVecEnv


@dataclass(kw_only=True)
class FlatConfig(PPOConfig):
    steps_per_iter: int = 2048  # policy decisions (= env steps) per PPO iteration, summed over envs
    batch_size: int = 256  # transitions per minibatch
    label: str = ""  # method name in reports (default: flat)

    def validate(self) -> None:
        super().validate()
        if get_world(self.world).continuous:  # its policy is categorical over action ids
            raise ConfigError(f"train-flat is PPO over discrete actions; world {self.world!r} has continuous actions "
                              f"(no flat baseline for it yet)")


def train_flat(cfg: FlatConfig, callback: Callback | None = None, start: Start | None = None) -> Path:
    """Train the flat PPO baseline; returns the run directory. `callback`: told of iterations, evaluations and
    checkpoints (`ptgm.rl.callbacks`); `start`: a saved agent to start from instead of fresh weights."""
    cfg.validate()
    world = get_world(cfg.world)
    task = get_task(cfg.task, world, cfg.tasks_file)
    method = cfg.label or "flat"
    out = run_folder(cfg.out, f"runs/{method}-{cfg.task}-s{cfg.seed}", start)
    with folder_lock(out):
        return _train_flat(cfg, world, task, method, out, callback, start)


def _train_flat(cfg: FlatConfig, world: WorldSpec, task: TaskSpec, method: str, out: str,
                callback: Callback | None, start: Start | None) -> Path:
    torch.set_num_threads(cfg.threads)
    run = open_run(out, cfg,
              {"method": method, "task": cfg.task, "seed": cfg.seed, "metric": task_metric(task),
               "command": "ptgm train-flat", "models": {}}, world.achievements, callback, start=start)
    torch.manual_seed(cfg.seed)
    agent = ActorCritic(world, cfg.obs_mode, world.n_actions, cfg.hidden)
    agent.meta = {"task": cfg.task, "method": method, "actions": "primitive"}
    if callback is not None:
        callback.init(agent, run)
    try:
        with TaskVecEnv(cfg.task, cfg.n_envs, (cfg.obs_mode,), cfg.world, cfg.tasks_file, cfg.vector,
                        cfg.workers) as env, \
             TaskVecEnv(cfg.task, cfg.eval_envs or cfg.n_envs, (cfg.obs_mode,), cfg.world, cfg.tasks_file,
                        cfg.vector, cfg.workers) as eval_env:
            learn(cfg, agent, env, eval_env, run)
        run.finish(agent)
    finally:
        run.close()
    return run.path
