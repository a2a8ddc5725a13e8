"""`ptgm train-high`: PTGM's downstream stage, RL over the goal codebook kept near the goal prior.

The high-level policy pi_H(i | s) picks a code every `low_level_steps` env steps; the frozen
low-level policy pursues it (`ptgm.rl.hierarchical`). Each high-level step's reward is the sum of
the task rewards plus -kl_reward * KL(pi_H(.|s) || pi_P(.|s)) at the state where the code was
chosen. Ablations: `--no-goal-prior` (no KL reward), `--continuous` (the policy outputs the goal
vector itself, a Gaussian; there is no prior over goal vectors, so no KL reward), other
`--low-level-steps` and `--kl-reward`, `--initialize-with-prior`, and any codebook size
(`ptgm codebook --n-codes`, with its low-level policy and prior).

The learner is PPO (`--algo ppo`, the paper's Minecraft recipe, `ptgm.rl.ppo`) or discrete SAC over
code indices (`--algo sac`, the paper's Kitchen recipe, `ptgm.rl.sac`). SAC puts the prior's KL in its
soft value instead of the reward, with alpha starting at `kl_reward` and tuned towards
`sac_target_kl`; PPO-only settings (epochs, clip_coef, ...) are ignored by it and SAC's (sac_*) by PPO.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ptgm.config import ConfigError, check_at_least, check_choice, check_paths_given
from ptgm.envs import TaskSpec, WorldSpec, get_task, get_world
from ptgm.evaluate.periodic import task_metric
from ptgm.goals.codebook import Codebook
from ptgm.io import folder_lock, load_json
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.rl.callbacks import Callback, open_run
from ptgm.rl.hierarchical import HierarchicalVecEnv, present_embedder
from ptgm.rl import sac
from ptgm.rl.policies import ActorCritic, GaussianActorCritic
from ptgm.rl.ppo import PPOConfig, learn
from ptgm.rl.run import Start, run_folder

DEFAULT_LOW_LEVEL_STEPS = 10
DEFAULT_KL_REWARD = 0.05
ALGOS = ("ppo", "sac")
DEFAULT_SAC_TARGET_KL = 1.0


@dataclass(kw_only=True)
class HighConfig(sac.SACConfig, PPOConfig):
    low: str  # low-level policy directory (from `ptgm train-low`)
    codebook: str  # codebook directory (from `ptgm codebook`) the low-level policy and the prior were trained with
    encoder: str | None = None  # goal encoder directory (`ptgm train-encoder`), when the codebook uses the 'learned' embedding
    prior: str | None = None  # goal prior directory (from `ptgm train-prior`); unused with --no-goal-prior or --continuous
    algo: str = "ppo"  # high-level learner: ppo (paper: Minecraft) | sac (discrete SAC, the KL in its target; paper: Kitchen)
    sac_target_kl: float = DEFAULT_SAC_TARGET_KL  # SAC: alpha (starting at --kl-reward) is tuned so that KL(pi_H || pi_P) averages this many nats (0: alpha stays --kl-reward)
    kl_reward: float = DEFAULT_KL_REWARD  # each high-level step adds -kl_reward * KL(pi_H || pi_P); the paper's alpha (paper: 0.05); with --algo sac, alpha's start
    goal_prior: bool = True  # add the prior's KL reward; --no-goal-prior is the ablation without it (kl_reward = 0)
    low_level_steps: int = DEFAULT_LOW_LEVEL_STEPS  # env steps per code (paper: 100 in Minecraft, 10 in Kitchen)
    low_deterministic: bool = False  # the low-level policy takes its most likely action instead of sampling
    cond_scale: float = 0.0  # classifier-free guidance of the low-level policy (paper: 7; on Crafter 0 did better: docs/limitations.md)
    initialize_with_prior: bool = False  # start the policy's encoder and head from the goal prior's weights
    continuous: bool = False  # ablation: the policy outputs a goal vector (Gaussian) instead of a code index
    obs_mode: str | None = None  # observation the policy reads: symbolic | pixels (default: the prior's, else the low-level policy's)
    steps_per_iter: int = 256  # high-level steps per PPO iteration, summed over envs (paper: 40)
    lr: float = 3e-4  # Adam learning rate (paper: 1e-4; 1e-3 clipped ~40% of ratios and stalled on Crafter)
    ent_coef: float = 0.001  # entropy bonus weight (the KL to the prior already keeps the policy broad)
    batch_size: int = 64  # high-level transitions per minibatch (paper: 40)
    epochs: int = 4  # passes over each iteration's transitions (paper: 5)
    label: str = ""  # method name in reports (default: ptgm, ptgm-no-prior or ptgm-continuous, plus non-default settings)

    @property
    def uses_prior_reward(self) -> bool:
        return self.goal_prior and not self.continuous and self.kl_reward > 0

    def validate(self) -> None:
        check_choice(self, "algo", ALGOS)
        super().validate()
        check_paths_given(self, "low", "codebook")
        check_at_least(self, 1, "low_level_steps")
        check_at_least(self, 0, "kl_reward", "cond_scale")
        if (self.uses_prior_reward or self.initialize_with_prior) and not self.prior:
            raise ConfigError("the KL reward and --initialize-with-prior need the goal prior: pass --prior DIR "
                              "(or --no-goal-prior to train without it)")
        if self.continuous and self.initialize_with_prior:
            raise ConfigError("--initialize-with-prior copies the prior's code head, which a continuous policy lacks")
        if self.algo == "sac":
            if self.continuous:
                raise ConfigError("--algo sac picks code indices; the continuous-goal ablation needs --algo ppo")
            check_at_least(self, 0, "sac_target_kl")
            self.validate_sac()
            if self.sac_target_kl > 0 and not self.kl_reward > 0:
                raise ConfigError("SAC tunes alpha in log space from --kl-reward, which must then be > 0 "
                                  "(or pass --sac-target-kl 0 to keep alpha fixed)")


def method_name(cfg: HighConfig) -> str:
    """How reports name this run: the method, plus the ablation settings that differ from the defaults."""
    if cfg.label:
        return cfg.label
    base = "ptgm-continuous" if cfg.continuous else "ptgm" if cfg.uses_prior_reward else "ptgm-no-prior"
    extras = ["sac"] if cfg.algo == "sac" else []
    if cfg.algo == "sac" and cfg.sac_target_kl != DEFAULT_SAC_TARGET_KL:
        extras.append(f"target_kl={cfg.sac_target_kl:g}")
    if cfg.low_level_steps != DEFAULT_LOW_LEVEL_STEPS:
        extras.append(f"k={cfg.low_level_steps}")
    if cfg.uses_prior_reward and cfg.kl_reward != DEFAULT_KL_REWARD:
        extras.append(f"kl_reward={cfg.kl_reward:g}")
    if cfg.initialize_with_prior:
        extras.append("init-prior")
    if cfg.low_deterministic:
        extras.append("low-argmax")
    return base + (f"[{','.join(extras)}]" if extras else "")


def train_high(cfg: HighConfig, callback: Callback | None = None, start: Start | None = None) -> Path:
    """Train the high-level policy; returns the run directory. `callback`: told of iterations, evaluations and
    checkpoints (`ptgm.rl.callbacks`); `start`: a saved agent to start from instead of fresh weights."""
    cfg.validate()
    world = get_world(cfg.world)
    task = get_task(cfg.task, world, cfg.tasks_file)
    with folder_lock(run_folder(cfg.out, f"runs/{method_name(cfg)}-{cfg.task}-s{cfg.seed}", start)) as out:
        return _train_high(cfg, world, task, out, callback, start)


def _train_high(cfg: HighConfig, world: WorldSpec, task: TaskSpec, out: Path, callback: Callback | None,
                start: Start | None) -> Path:
    torch.set_num_threads(cfg.threads)
    low = LowLevelPolicy.load(cfg.low)
    if low.world.name != world.name:
        raise ConfigError(f"the low-level policy {cfg.low} acts in world {low.world.name!r}, but --world is "
                          f"{world.name!r}")
    codebook = Codebook.load(cfg.codebook, embedder=low.embedder, dim=low.goal_dim)
    embedder = present_embedder(low, codebook, world, cfg.encoder)
    prior = GoalPrior.load(cfg.prior, codebook) if cfg.uses_prior_reward or cfg.initialize_with_prior else None
    obs_mode = cfg.obs_mode or (prior.obs_mode if prior is not None else low.obs_mode)
    method = method_name(cfg)
    models = {"low": load_json(Path(cfg.low) / "config.json")["weights_sha256"],
              "codebook": codebook.fingerprint,
              "prior": load_json(Path(cfg.prior) / "config.json")["weights_sha256"] if prior is not None else None}
    run = open_run(out, cfg,
              {"method": method, "task": cfg.task, "seed": cfg.seed, "metric": task_metric(task),
               "command": "ptgm train-high", "models": models, "inputs": {"low": cfg.low, "codebook": cfg.codebook, "prior": cfg.prior}, "obs_mode": obs_mode,
               "n_codes": codebook.n_codes}, world.achievements, callback,
              sac.DiscreteSAC.PROGRESS_FIELDS if cfg.algo == "sac" else None, start)

    torch.manual_seed(cfg.seed)
    if cfg.continuous:
        agent: ActorCritic = GaussianActorCritic(world, obs_mode, codebook.dim, cfg.hidden)
    else:
        agent = ActorCritic(world, obs_mode, codebook.n_codes, cfg.hidden)
        if cfg.initialize_with_prior:
            agent.initialize_from_prior(prior)
    agent.meta = {"task": cfg.task, "method": method, "actions": "goals" if cfg.continuous else "codes",
                  "codebook_fingerprint": codebook.fingerprint, "low_level_steps": cfg.low_level_steps,
                  "cond_scale": cfg.cond_scale, "models": models,
                  **({"algo": "sac"} if cfg.algo == "sac" else {})}  # a PPO policy's record stays as it was
    if callback is not None:
        callback.init(agent, run)
    reward_prior = prior if cfg.uses_prior_reward else None
    obs_modes = {obs_mode} | ({reward_prior.obs_mode} if reward_prior is not None else set())

    def make_env(n_envs: int) -> HierarchicalVecEnv:
        return HierarchicalVecEnv(cfg.task, n_envs, low, codebook, cfg.low_level_steps, cfg.cond_scale,
                                  cfg.continuous, obs_modes, cfg.world, cfg.tasks_file, cfg.vector, cfg.seed,
                                  cfg.low_deterministic, embedder, cfg.workers)

    try:
        with make_env(cfg.n_envs) as env, make_env(cfg.eval_envs or cfg.n_envs) as eval_env:
            if cfg.algo == "sac":
                # The Q networks start from the prior's encoder too, as PPO's critic does.
                learner = sac.build_sac(agent, world, obs_mode, codebook.n_codes, cfg.hidden, cfg.kl_reward,
                                        cfg.sac_target_kl, prior if cfg.initialize_with_prior else None, reward_prior)
                sac.learn(cfg, learner, env, eval_env, run)
            else:
                learn(cfg, agent, env, eval_env, run, reward_prior, cfg.kl_reward if reward_prior is not None else 0.0)
        run.finish(agent)
    finally:
        run.close()
    return run.path
