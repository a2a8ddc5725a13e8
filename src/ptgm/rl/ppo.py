"""PPO, written out like CleanRL's ppo.py, for both the high-level policy over codes and the flat baseline.

A transition is one decision of the policy: one primitive action (flat) or one code followed by up
to `low_level_steps` low-level env steps (hierarchical). Transitions therefore last `d` env steps,
and PPO treats the problem as a semi-MDP:

- the reward of a transition is the sum of its task rewards (plus the prior's KL penalty, see
  `ptgm.rl.rewards`, for PTGM), undiscounted within it;
- the next state's value is discounted by gamma ** d, so `gamma` means the same per env step for
  the flat and the hierarchical policy;
- GAE's lambda applies per decision: A_t = delta_t + gamma ** d_t * lambda * A_{t+1};
- a truncated episode (the task's step limit, which the observation does not show) is bootstrapped
  with the value of its last observation, as Stable-Baselines3 does; a terminated one is not.

Budgets, logs and evaluation points count environment steps, never decisions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ptgm.config import ConfigError, check_at_least, check_choice, check_paths_given, check_positive
from ptgm.envs import OBS_MODES, WORLDS
from ptgm.rl.loop import episode_charts, evaluate_into, restart_seed
from ptgm.rl.rewards import kl_divergence, kl_penalty
from ptgm.rl.policies import ActorCritic, entropy
from ptgm.rl.run import Run
from ptgm.envs.vector import EpisodeStats, Obs, TaskVecEnv, usable_cores
from ptgm.training.logs import progress_bar


@dataclass(kw_only=True)
class PPOConfig:
    task: str  # downstream task (list them with `ptgm tasks`)
    out: str | None = None  # run directory (default runs/<method>-<task>-s<seed>); resumed when it holds a checkpoint
    seed: int = 0  # seeds the networks, the policy's sampling and the training worlds
    steps: int = 200_000  # budget in environment steps (paper: 1.5M)
    n_envs: int = 8  # task environments stepped in parallel worker processes
    steps_per_iter: int = 1024  # policy decisions per PPO iteration, summed over envs
    lr: float = 3e-4  # Adam learning rate
    gamma: float = 0.995  # discount per environment step; a transition of d env steps is discounted by gamma**d
    gae_lambda: float = 0.95  # GAE lambda, per decision
    epochs: int = 4  # passes over each iteration's transitions
    batch_size: int = 256  # transitions per minibatch
    clip_coef: float = 0.2  # PPO's ratio clipping
    ent_coef: float = 0.01  # entropy bonus weight
    vf_coef: float = 0.5  # value loss weight (paper: 1.0)
    max_grad_norm: float = 0.5  # gradient norm clipping
    target_kl: float | None = None  # stop an iteration's epochs once the approx. KL to the rollout policy exceeds it (CleanRL's)
    obs_mode: str = "symbolic"  # observation the policy reads: symbolic | pixels
    hidden: int = 256  # width of the observation features
    eval_every: int = 20_000  # environment steps between evaluations (one also at 0 and at the end)
    eval_episodes: int = 50  # episodes per evaluation, on fixed fresh worlds
    eval_envs: int = 0  # evaluation worker processes (0: as many as --n-envs)
    eval_deterministic: bool = False  # evaluate the most likely action instead of sampling
    checkpoint_every: int = 10_000  # environment steps between checkpoints (one also after every evaluation)
    world: str = "crafter"  # which world the task is in
    tasks_file: str | None = None  # YAML file of extra task specs
    vector: str = "async"  # async: envs stepped in worker processes; sync: all in this process (debugging)
    workers: int = 0  # env worker processes, each stepping its share of the envs (0: one per CPU core, at most n_envs)
    threads: int = 1  # torch CPU threads while acting (the env workers need the other cores)
    update_threads: int = 1  # torch CPU threads for the PPO update, when the env workers only build next worlds (0: one per usable core)
    progress: bool = True  # show a progress bar

    # May differ when a run is resumed (`settings_blocking_resume`): they change neither what is learnt nor how.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset({"steps", "progress", "threads", "update_threads", "vector",
                                                             "workers", "out"})

    def validate(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ConfigError(f"--task must name a task (list them with `ptgm tasks`), got {self.task!r}")
        if self.out is not None:
            check_paths_given(self, "out")
        check_choice(self, "world", WORLDS)
        check_at_least(self, 1, "steps", "n_envs", "epochs", "batch_size", "steps_per_iter", "hidden", "threads",
                       "eval_every", "eval_episodes", "checkpoint_every")
        # 0: as many as --n-envs / cores
        check_at_least(self, 0, "seed", "eval_envs", "workers", "update_threads", "ent_coef", "vf_coef")
        check_positive(self, "lr", "clip_coef", "max_grad_norm")
        if self.steps_per_iter < self.n_envs or self.steps_per_iter % self.n_envs:
            raise ConfigError(f"--steps-per-iter ({self.steps_per_iter}) must be a positive multiple of "
                              f"--n-envs ({self.n_envs})")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError("--gamma must be in (0, 1] and --gae-lambda in [0, 1]")
        if self.obs_mode is not None and self.obs_mode not in OBS_MODES:
            raise ConfigError(f"--obs-mode {self.obs_mode!r} is unknown; valid: {', '.join(OBS_MODES)}")
        if self.target_kl is not None:
            check_positive(self, "target_kl")
        if self.vector not in ("async", "sync"):
            raise ConfigError(f"--vector {self.vector!r} is unknown; valid: async, sync")


def compute_advantages(rewards: Tensor, values: Tensor, ended: Tensor, env_steps: Tensor, next_value: Tensor,
                       gamma: float, gae_lambda: float) -> tuple[Tensor, Tensor]:
    """GAE over (T, N) transitions lasting `env_steps` each; `ended[t]`: the episode ended during transition t.

    Returns (advantages, returns), both (T, N)."""
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        continues = 1.0 - ended[t].float()
        discount = gamma ** env_steps[t].float()
        delta = rewards[t] + discount * following * continues - values[t]
        last = delta + discount * gae_lambda * continues * last
        advantages[t] = last
    return advantages, advantages + values


def ppo_update(agent: ActorCritic, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor],
               cfg: PPOConfig) -> dict[str, float]:
    """`cfg.epochs` passes of clipped-objective minibatch updates over one iteration's transitions."""
    n = batch["obs"].shape[0]
    stats: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")}
    for _ in range(cfg.epochs):
        if cfg.target_kl is not None and stats["approx_kl"] and stats["approx_kl"][-1] > cfg.target_kl:
            break
        for mb in torch.randperm(n).split(cfg.batch_size):
            obs = batch["obs"][mb]
            dist = agent.distribution(obs)
            logratio = agent.log_prob(dist, batch["actions"][mb]) - batch["logprobs"][mb]
            ratio = logratio.exp()
            advantages = batch["advantages"][mb]
            if len(mb) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            policy_loss = torch.max(-advantages * ratio,
                                    -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
            value_loss = 0.5 * (agent.value(obs) - batch["returns"][mb]).pow(2).mean()
            ent = entropy(dist).mean()
            loss = policy_loss - cfg.ent_coef * ent + cfg.vf_coef * value_loss

            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                stats["policy_loss"].append(policy_loss.item())
                stats["value_loss"].append(value_loss.item())
                stats["entropy"].append(ent.item())
                stats["approx_kl"].append(((ratio - 1) - logratio).mean().item())
                stats["clipfrac"].append(((ratio - 1).abs() > cfg.clip_coef).float().mean().item())
    return {k: float(np.mean(v)) for k, v in stats.items()}


@dataclass
class Rollout:
    """`horizon` decisions in each of N envs, all (T, N, ...)."""

    obs: Tensor  # observation each decision was made at (the policy's mode)
    actions: Tensor  # code / primitive action indices (long) or goal-space actions (float, (T, N, D))
    logprobs: Tensor  # log pi(action | obs) when it was taken
    values: Tensor  # V(obs)
    rewards: Tensor  # task reward over the transition (+ KL reward, + bootstrap at truncation)
    ended: Tensor  # bool: the episode ended during the transition
    env_steps: Tensor  # int64: env steps the transition took
    kl_to_prior: Tensor | None  # KL(pi(.|obs) || prior(.|obs)) per decision, when a prior is given
    episodes: list[EpisodeStats]  # episodes that finished


@torch.no_grad()
def collect_rollout(agent: ActorCritic, env: TaskVecEnv, obs: Obs, horizon: int, gamma: float,
                    prior: nn.Module | None = None, kl_reward: float = 0.0) -> tuple[Rollout, Obs]:
    """Play `horizon` decisions per env from `obs`; returns the rollout and the observations after it.

    With a `prior`, a transition's reward gets -kl_reward * KL(pi(.|s) || prior(.|s)) at the observation
    s where its action was chosen (`ptgm.rl.rewards.kl_penalty`)."""
    n = env.n_envs
    # the observations' own dtype: bytes for Crafter's grid and images, floats for a state vector (Kitchen)
    obs_buf = torch.from_numpy(np.zeros((horizon, n, *obs[agent.obs_mode].shape[1:]), obs[agent.obs_mode].dtype))
    actions, logprobs, values = [], torch.zeros((horizon, n)), torch.zeros((horizon, n))
    rewards, ended = torch.zeros((horizon, n)), torch.zeros((horizon, n), dtype=torch.bool)
    env_steps = torch.zeros((horizon, n), dtype=torch.int64)
    kls, episodes = [], []
    for t in range(horizon):
        obs_t = torch.from_numpy(obs[agent.obs_mode])
        obs_buf[t] = obs_t
        dist = agent.distribution(obs_t)
        action = agent.sample(dist)
        logprobs[t] = agent.log_prob(dist, action)
        values[t] = agent.value(obs_t)
        if prior is not None:  # at the state where the code is chosen
            prior_logits = prior(torch.from_numpy(obs[prior.obs_mode]))
            kls.append(kl_divergence(dist.logits, prior_logits))
        step = env.step(action.numpy())
        reward = torch.tensor(step.reward, dtype=torch.float32)  # a copy: the KL and bootstrap terms are added in place
        if prior is not None:
            reward += kl_penalty(dist.logits, prior_logits, kl_reward)
        truncated = step.truncated & ~step.terminated
        if truncated.any():  # bootstrap: the step limit is not part of the state
            final_value = agent.value(torch.from_numpy(step.final_obs[agent.obs_mode][truncated]))
            reward[truncated] += gamma_power(gamma, step.env_steps[truncated]) * final_value
        actions.append(action)
        rewards[t] = reward
        ended[t] = torch.from_numpy(step.ended)
        env_steps[t] = torch.from_numpy(step.env_steps)
        episodes.extend(step.episodes)
        obs = step.obs
    rollout = Rollout(obs_buf, torch.stack(actions), logprobs, values, rewards, ended, env_steps,
                      torch.stack(kls) if kls else None, episodes)
    return rollout, obs


def learn(cfg: PPOConfig, agent: ActorCritic, env: TaskVecEnv, eval_env: TaskVecEnv, run: Run,
          prior: nn.Module | None = None, kl_reward: float = 0.0) -> dict:
    """Train `agent` on `env` until `cfg.steps` env steps, evaluating and checkpointing into `run`.

    With a `prior` (the goal prior over the same codes), each transition's reward gets
    -kl_reward * KL(pi(.|s) || prior(.|s)) at the observation s where its code was chosen."""
    # One thread while acting: more spin-wait against the env workers. The update may take more (`update_threads`):
    # faster on a quiet machine, slower on a busy one, whose other work then competes for the cores.
    torch.set_num_threads(cfg.threads)
    update_threads = cfg.update_threads or usable_cores()
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.lr, eps=1e-5)
    counters = {"iteration": 0, "env_steps": 0, "next_eval": 0, "last_eval": -1,
                "next_checkpoint": cfg.checkpoint_every, "seconds": 0.0}
    if run.resumed:
        counters.update({k: v for k, v in run.load_checkpoint(agent, optimizer).items() if k in counters})
    else:
        run.load_start(agent, optimizer, agent)  # a run starting from a saved agent: its weights and moments
        torch.manual_seed(cfg.seed)
    horizon = cfg.steps_per_iter // env.n_envs
    obs = env.reset(seed=restart_seed(cfg.seed, counters["env_steps"]))
    bar = progress_bar(cfg.steps, counters["env_steps"], "step", f"{run.info['method']} {cfg.task}", cfg.progress,
                       smoothing=0.1)
    started = time.perf_counter() - counters["seconds"]
    while True:
        finished = counters["env_steps"] >= cfg.steps
        if counters["env_steps"] >= counters["next_eval"] or (finished and counters["last_eval"] != counters["env_steps"]):
            evaluate_into(run, agent, eval_env, cfg, counters, bar)
            counters["seconds"] = time.perf_counter() - started
            run.save_checkpoint(agent, optimizer, counters)
        if finished:
            break
        iteration_start = time.perf_counter()

        # -- rollout: `horizon` decisions in each env ------------------------------------------
        rollout, obs = collect_rollout(agent, env, obs, horizon, cfg.gamma, prior, kl_reward)
        counters["env_steps"] += int(rollout.env_steps.sum())
        rollout_seconds = time.perf_counter() - iteration_start
        env.prepare_resets()  # the env workers build their next worlds while this process updates

        # -- advantages and update -------------------------------------------------------------
        with torch.no_grad():
            next_value = agent.value(torch.from_numpy(obs[agent.obs_mode]))
        advantages, returns = compute_advantages(rollout.rewards, rollout.values, rollout.ended, rollout.env_steps,
                                                 next_value, cfg.gamma, cfg.gae_lambda)
        batch = {"obs": rollout.obs.flatten(0, 1), "actions": rollout.actions.flatten(0, 1),
                 "logprobs": rollout.logprobs.flatten(), "advantages": advantages.flatten(),
                 "returns": returns.flatten()}
        torch.set_num_threads(update_threads)  # the env workers are idle now but for building worlds
        try:
            losses = ppo_update(agent, optimizer, batch, cfg)
        finally:
            torch.set_num_threads(cfg.threads)
        counters["iteration"] += 1

        # -- logging ---------------------------------------------------------------------------
        env_steps_now = int(rollout.env_steps.sum())
        seconds = time.perf_counter() - iteration_start
        explained = 1 - (returns - rollout.values).var() / returns.var().clamp_min(1e-8)
        kl_mean = float(rollout.kl_to_prior.mean()) if rollout.kl_to_prior is not None else float("nan")
        row = {
            "iteration": counters["iteration"],
            "seconds": round(time.perf_counter() - started, 2),
            **episode_charts(rollout.episodes),
            "charts/kl_to_prior": kl_mean,
            "charts/kl_penalty": -kl_reward * kl_mean,
            "charts/env_steps_per_second": env_steps_now / seconds,
            "charts/rollout_env_steps_per_second": env_steps_now / rollout_seconds,
            "charts/env_steps_per_decision": env_steps_now / rollout.env_steps.numel(),
            "charts/learning_rate": optimizer.param_groups[0]["lr"],
            **{f"losses/{k}": v for k, v in losses.items()},
            "losses/explained_variance": float(explained),
        }
        run.log(counters["env_steps"], row)
        bar.update(min(counters["env_steps"], cfg.steps) - bar.n)
        bar.set_postfix(success=f"{row['charts/success_rate']:.2f}", sps=f"{row['charts/env_steps_per_second']:.0f}")
        if counters["env_steps"] >= counters["next_checkpoint"]:
            counters["next_checkpoint"] = counters["env_steps"] + cfg.checkpoint_every
            counters["seconds"] = time.perf_counter() - started
            run.save_checkpoint(agent, optimizer, counters)
    bar.close()
    return counters


def gamma_power(gamma: float, env_steps: np.ndarray) -> Tensor:
    return torch.from_numpy(gamma ** env_steps.astype(np.float64)).float()
