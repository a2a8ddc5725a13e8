"""`ptgm train-flat`: the baseline, RL from scratch on the world's primitive actions.

Same observation encoder family, same budget in environment steps and the same evaluation worlds as
`ptgm train-high`, so the two learning curves compare point by point. The learner (`--algo`) is PPO over a
discrete world's action ids (the paper's Minecraft baseline, `ptgm.rl.ppo`), or SAC on a continuous world's
actions (the paper's Kitchen baseline, `ptgm.rl.sac.ContinuousSAC`). Discrete SAC over primitive actions is not
offered: the paper compares with neither it nor PPO on Kitchen, and a target entropy of -|A| means nothing for a
categorical policy. PPO-only settings (epochs, clip_coef, ...) are ignored by SAC, and SAC's (sac_*) by PPO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ptgm.config import ConfigError, check_choice, check_positive
from ptgm.envs import TaskSpec, WorldSpec, get_task, get_world
from ptgm.evaluate.periodic import task_metric
from ptgm.io import folder_lock
from ptgm.rl import sac
from ptgm.rl.callbacks import Callback, open_run
from ptgm.rl.policies import ActorCritic, Policy, SquashedGaussianPolicy
from ptgm.rl.ppo import PPOConfig, learn
from ptgm.rl.run import Start, run_folder
from ptgm.rl.train_high import ALGOS
from ptgm.envs.vector import TaskVecEnv


@dataclass(kw_only=True)
class FlatConfig(sac.SACConfig, PPOConfig):
    steps_per_iter: int = 2048  # policy decisions (= env steps) per iteration, summed over envs (PPO: per update; SAC: per progress row)
    batch_size: int = 256  # transitions per minibatch
    algo: str = "ppo"  # learner: ppo (discrete actions; the paper's Minecraft baseline) | sac (continuous actions, as Kitchen's; the paper's Kitchen baseline)
    sac_alpha: float = 1.0  # SAC: the entropy weight alpha's start (CleanRL's and SB3's), then tuned
    sac_target_entropy: float | None = None  # SAC: alpha is tuned so the policy's entropy averages this (null: minus the action's dimensions, -9 on Kitchen)
    label: str = ""  # method name in reports (default: flat, or flat[sac])

    def validate(self) -> None:
        check_choice(self, "algo", ALGOS)
        super().validate()
        continuous = get_world(self.world).continuous
        if self.algo == "ppo" and continuous:  # its policy is categorical over action ids
            raise ConfigError(f"train-flat --algo ppo is over discrete actions; world {self.world!r} has continuous "
                              f"actions: pass --algo sac")
        if self.algo == "sac":
            if not continuous:
                raise ConfigError(f"train-flat --algo sac is over continuous actions; world {self.world!r} has "
                                  f"discrete ones: use --algo ppo")
            self.validate_sac()
            check_positive(self, "sac_alpha")
            if self.sac_target_entropy is not None and not math.isfinite(self.sac_target_entropy):
                raise ConfigError(f"--sac-target-entropy must be a finite number, got {self.sac_target_entropy!r}")


def method_name(cfg: FlatConfig) -> str:
    """How reports name this run: flat (PPO) or flat[sac]."""
    return cfg.label or ("flat[sac]" if cfg.algo == "sac" else "flat")


def train_flat(cfg: FlatConfig, callback: Callback | None = None, start: Start | None = None) -> Path:
    """Train the flat baseline; returns the run directory. `callback`: told of iterations, evaluations and
    checkpoints (`ptgm.rl.callbacks`); `start`: a saved agent to start from instead of fresh weights."""
    cfg.validate()
    world = get_world(cfg.world)
    task = get_task(cfg.task, world, cfg.tasks_file)
    method = method_name(cfg)
    out = run_folder(cfg.out, f"runs/{method}-{cfg.task}-s{cfg.seed}", start)
    with folder_lock(out):
        return _train_flat(cfg, world, task, method, out, callback, start)


def _train_flat(cfg: FlatConfig, world: WorldSpec, task: TaskSpec, method: str, out: str,
                callback: Callback | None, start: Start | None) -> Path:
    torch.set_num_threads(cfg.threads)
    run = open_run(out, cfg,
              {"method": method, "task": cfg.task, "seed": cfg.seed, "metric": task_metric(task),
               "command": "ptgm train-flat", "models": {}}, world.achievements, callback,
              sac.ContinuousSAC.PROGRESS_FIELDS if cfg.algo == "sac" else None, start)
    torch.manual_seed(cfg.seed)
    if cfg.algo == "sac":
        agent: Policy = SquashedGaussianPolicy(world, cfg.obs_mode, world.n_actions, cfg.hidden)
    else:
        agent = ActorCritic(world, cfg.obs_mode, world.n_actions, cfg.hidden)
    agent.meta = {"task": cfg.task, "method": method, "actions": "primitive",
                  **({"algo": "sac"} if cfg.algo == "sac" else {})}  # a PPO policy's record stays as it was
    if callback is not None:
        callback.init(agent, run)
    try:
        with TaskVecEnv(cfg.task, cfg.n_envs, (cfg.obs_mode,), cfg.world, cfg.tasks_file, cfg.vector,
                        cfg.workers) as env, \
             TaskVecEnv(cfg.task, cfg.eval_envs or cfg.n_envs, (cfg.obs_mode,), cfg.world, cfg.tasks_file,
                        cfg.vector, cfg.workers) as eval_env:
            if cfg.algo == "sac":
                target_entropy = -float(world.n_actions) if cfg.sac_target_entropy is None else cfg.sac_target_entropy
                learner = sac.build_continuous_sac(agent, world, cfg.obs_mode, world.n_actions, cfg.hidden,
                                                   cfg.sac_alpha, target_entropy)
                sac.learn(cfg, learner, env, eval_env, run)
            else:
                learn(cfg, agent, env, eval_env, run)
        run.finish(agent)
    finally:
        run.close()
    return run.path
