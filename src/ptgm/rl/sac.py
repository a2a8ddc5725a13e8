"""Soft actor-critic, read top to bottom like CleanRL's sac_atari.py and sac_continuous_action.py, in two forms
on one training loop:

**Discrete SAC over code indices with the goal prior in the target: the high-level learner of PTGM-Kitchen.**
PTGM's Kitchen code (built on SPiRL) trains the high-level policy pi_H(i | s) with soft actor-critic
over the N code indices (`DiscreteSAC`, `ptgm train-high --algo sac`):

- discrete SAC as Christodoulou (2019): the critic outputs Q(s, .) for every code, and the actor's loss
  and the soft state value are exact expectations over the N codes (no sampling, no reparameterisation);
- SPiRL's prior in place of the entropy: the soft value is
      V(s) = sum_i pi_H(i|s) min_j Q_targ_j(s, i) - alpha * KL(pi_H(.|s) || pi_P(.|s)),
  the actor minimises  alpha * KL(pi_H || pi_P) - sum_i pi_H(i|s) min_j Q_j(s, i),
  and, without a goal prior (`--no-goal-prior`), pi_P is uniform: the KL is log N minus the entropy,
  i.e. plain discrete SAC;
- alpha is a Lagrange multiplier tuned towards a target divergence: learnt in log space with the loss
  alpha * (target_kl - KL), so alpha shrinks while the policy stays closer to the prior than
  `sac_target_kl` and grows while it strays further (`--sac-target-kl 0` keeps alpha fixed);
- a transition is one high-level step (`ptgm.rl.hierarchical`): a code and the up to `low_level_steps`
  env steps it ran for. Its reward is the sum of the task rewards, and the next state's value is
  discounted by gamma ** env_steps (a semi-MDP, as `ptgm.rl.ppo`).

**SAC on a world's continuous actions: the flat baseline of PTGM-Kitchen** (`ContinuousSAC`, `ptgm train-flat
--algo sac`), Haarnoja et al. (2018) as CleanRL's sac_continuous_action.py has it: a tanh-squashed Gaussian actor
(`ptgm.rl.policies.SquashedGaussianPolicy`) trained through the reparameterisation trick, Q(s, a) critics, and alpha
tuned so the policy's entropy stays near `sac_target_entropy` (by default -|A|, minus the action's dimensions). Until
learning starts it acts uniformly at random in the action box, as CleanRL does, so the first updates see the whole
box rather than the narrow start of one Gaussian. A transition is one env step.

Both have twin Q networks, each with a target copy that follows it by Polyak averaging, and a replay buffer; a
truncated episode (the task's step limit) bootstraps from its last observation, a terminated one does not.
Budgets, logs and evaluation points count environment steps, as PPO's do; an iteration here is
`steps_per_iter` transitions (with their gradient updates), one progress.csv row.
The checkpoint holds the networks, the one optimiser and the replay buffer, so a resumed run learns
from the same memory it stopped with.
"""

from __future__ import annotations

import copy
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ptgm.config import ConfigError, check_at_least, check_positive
from ptgm.envs import WorldSpec
from ptgm.envs.vector import Obs, TaskVecEnv
from ptgm.models.encoders import make_obs_encoder
from ptgm.rl.loop import episode_charts, evaluate_into, restart_seed
from ptgm.rl.run import Run
from ptgm.training.checkpoint import read_tensors, write_tensors
from ptgm.training.logs import progress_bar


@dataclass(kw_only=True)
class SACConfig:
    """The settings both SACs read; they share task, seed, steps, n_envs, steps_per_iter, lr, gamma, batch_size, hidden
    and the evaluation and checkpoint settings with PPO (`ptgm.rl.ppo.PPOConfig`), and each adds its own target
    (`ptgm.rl.train_high.HighConfig`, `ptgm.rl.train_flat.FlatConfig`). Every one changes what is learnt, so none is
    in RESUMABLE_CHANGES."""

    sac_buffer_size: int = 100_000  # SAC: transitions the replay buffer holds, the oldest overwritten (a transition: one high-level step, or one env step flat)
    sac_learning_starts: int = 512  # SAC: transitions collected before the first gradient update
    sac_updates_per_step: float = 1.0  # SAC: gradient updates per transition collected
    sac_tau: float = 0.005  # SAC: Polyak averaging rate of the target Q networks (1: copy every update)

    def validate_sac(self) -> None:
        check_at_least(self, 0, "sac_learning_starts")
        check_at_least(self, 1, "sac_buffer_size")
        check_positive(self, "sac_updates_per_step", "sac_tau")
        if self.sac_tau > 1:
            raise ConfigError(f"--sac-tau must be in (0, 1], got {self.sac_tau!r}")


# -- networks --------------------------------------------------------------------------------------

class QNetwork(nn.Module):
    """Q(s, .) for every code: an observation encoder (the prior's family) and a linear head."""

    def __init__(self, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int):
        super().__init__()
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, obs: Tensor) -> Tensor:
        return self.head(self.encoder(obs))


class ActionQNetwork(nn.Module):
    """Q(s, a) for a continuous action: the observation's features (the policy's encoder family) and the action,
    through one hidden layer, to a number."""

    def __init__(self, world: WorldSpec, obs_mode: str, action_dim: int, hidden: int):
        super().__init__()
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.head = nn.Sequential(nn.Linear(hidden + action_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        return self.head(torch.cat([self.encoder(obs), actions.float()], dim=-1)).squeeze(-1)


class TwinQ(nn.Module):
    """What both SACs hold: the actor, twin Q networks, their targets and log alpha.

    One module, so the run's checkpoint (`ptgm.training.checkpoint`) holds all of it; one Adam with a
    parameter group per part, since each loss only gives gradients to its own part. A subclass says how
    it acts, what the replay buffer keeps of an observation, how it updates and what it charts; `learn`
    below drives either."""

    PROGRESS_FIELDS: list[str] = []  # progress.csv's columns

    def __init__(self, actor: nn.Module, qf1: nn.Module, qf2: nn.Module, alpha: float):
        super().__init__()
        self.actor, self.qf1, self.qf2 = actor, qf1, qf2
        self.qf1_target, self.qf2_target = copy.deepcopy(qf1), copy.deepcopy(qf2)
        for p in (*self.qf1_target.parameters(), *self.qf2_target.parameters()):
            p.requires_grad_(False)
        # log(0) for a fixed alpha of 0 (no regulariser at all) is -inf, whose exp is 0 again.
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha) if alpha > 0 else -math.inf))

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    def actor_parameters(self) -> list[nn.Parameter]:
        # An ActorCritic's value head is PPO's; SAC never trains it.
        return list(getattr(self.actor, "actor_parameters", self.actor.parameters)())

    def make_optimizer(self, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam([{"params": self.actor_parameters()},
                                 {"params": [*self.qf1.parameters(), *self.qf2.parameters()]},
                                 {"params": [self.log_alpha]}], lr=lr, eps=1e-5)

    def update_targets(self, tau: float) -> None:
        """The targets follow the critics by Polyak averaging."""
        with torch.no_grad():
            for net, target_net in ((self.qf1, self.qf1_target), (self.qf2, self.qf2_target)):
                for p, p_target in zip(net.parameters(), target_net.parameters()):
                    p_target.lerp_(p, tau)

    # -- what `learn` asks of a SAC ----------------------------------------------------------------
    def observe(self, views: Obs) -> dict[str, np.ndarray]:
        """What the replay buffer keeps of a batch of observations (`obs`, ...); `next_`-prefixed for the next ones."""
        raise NotImplementedError

    def act(self, seen: dict[str, np.ndarray], warming_up: bool) -> tuple[np.ndarray, dict[str, Tensor]]:
        """(one action per env, per-env values to chart) for what `observe` kept; `warming_up`: no update yet."""
        raise NotImplementedError

    def update(self, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], tau: float) -> dict[str, float]:
        """One gradient step on a replay batch; returns its losses (losses/...) and `alpha`."""
        raise NotImplementedError

    def charts(self, acted: dict[str, float]) -> dict[str, float]:
        """The progress row's charts/... of an iteration, from the means of what `act` charted."""
        return {**acted, "charts/alpha": self.alpha}


# -- discrete SAC over codes ---------------------------------------------------------------------------

class DiscreteSAC(TwinQ):
    """The actor (anything with `logits(obs) -> (B, N)`), twin Q(s, .) networks, their targets, and log alpha.

    `target_kl`: what alpha is tuned towards (0: alpha stays fixed); `prior`: the goal prior's logits over the same
    codes, read from `prior_obs_mode` observations (None: uniform, plain discrete SAC). The prior is held in a
    function, so the frozen network is no part of this module's state (nor of its checkpoints)."""

    PROGRESS_FIELDS = ["env_steps", "iteration", "seconds", "charts/success_rate", "charts/episode_return",
                       "charts/episode_length", "charts/episodes", "charts/kl_to_prior", "charts/kl_penalty",
                       "charts/alpha", "charts/env_steps_per_second", "charts/env_steps_per_decision",
                       "charts/learning_rate", "charts/updates", "charts/buffer_size", "losses/qf_loss",
                       "losses/q_value", "losses/actor_loss", "losses/alpha_loss", "losses/kl_to_prior"]

    def __init__(self, actor: nn.Module, qf1: nn.Module, qf2: nn.Module, alpha: float, target_kl: float = 0.0,
                 prior: Callable[[Tensor], Tensor] | None = None, prior_obs_mode: str | None = None):
        super().__init__(actor, qf1, qf2, alpha)
        self.target_kl = target_kl

        @torch.no_grad()
        def log_prior_of(views: Obs) -> np.ndarray:
            return torch.log_softmax(prior(torch.from_numpy(views[prior_obs_mode])).float(), -1).numpy()

        self.log_prior_of = None if prior is None else log_prior_of

    def policy(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(log pi(.|s), pi(.|s)), both (B, N)."""
        log_probs = torch.log_softmax(self.actor.logits(obs), dim=-1)
        return log_probs, log_probs.exp()

    def observe(self, views: Obs) -> dict[str, np.ndarray]:
        seen = {"obs": views[self.actor.obs_mode]}
        if self.log_prior_of is not None:  # the prior is frozen: its log-probabilities are stored, not recomputed per batch
            seen["log_prior"] = self.log_prior_of(views)
        return seen

    def act(self, seen: dict[str, np.ndarray], warming_up: bool) -> tuple[np.ndarray, dict[str, Tensor]]:
        # pi_H from the first step: a policy started from the prior already acts like the data, unlike uniform codes
        log_probs, probs = self.policy(torch.from_numpy(seen["obs"]))
        action = torch.multinomial(probs, 1).squeeze(-1)
        log_prior = torch.from_numpy(seen["log_prior"]) if "log_prior" in seen else uniform_log_prior(*probs.shape)
        return action.numpy(), {"charts/kl_to_prior": kl_to(log_probs, probs, log_prior)}

    def update(self, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], tau: float) -> dict[str, float]:
        return sac_update(self, optimizer, batch, self.target_kl, tau)

    def charts(self, acted: dict[str, float]) -> dict[str, float]:
        return {**super().charts(acted), "charts/kl_penalty": -self.alpha * acted["charts/kl_to_prior"]}


def uniform_log_prior(batch: int, n_actions: int) -> Tensor:
    """log pi_P for a uniform prior: with it the KL is log N - H(pi), plain SAC's entropy term."""
    return torch.full((batch, n_actions), -math.log(n_actions))


def kl_to(log_probs: Tensor, probs: Tensor, log_prior: Tensor) -> Tensor:
    """KL(pi || prior) per row (B,), exact over the N actions."""
    return (probs * (log_probs - log_prior)).sum(dim=-1)


def sac_update(sac: DiscreteSAC, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], target_kl: float,
               tau: float) -> dict[str, float]:
    """One gradient step of the critics, the actor and (when `target_kl` > 0) alpha on a replay batch."""
    alpha = sac.log_alpha.exp().detach()

    # -- critics: regress Q(s, a) on r + gamma**d * (1 - terminated) * V_targ(s') -------------------
    with torch.no_grad():
        next_log_probs, next_probs = sac.policy(batch["next_obs"])
        n_actions = next_probs.shape[-1]
        next_log_prior = batch.get("next_log_prior", uniform_log_prior(len(next_probs), n_actions))
        next_q = torch.min(sac.qf1_target(batch["next_obs"]), sac.qf2_target(batch["next_obs"]))
        next_value = (next_probs * next_q).sum(-1) - alpha * kl_to(next_log_probs, next_probs, next_log_prior)
        target = batch["rewards"] + batch["discounts"] * (1.0 - batch["terminated"]) * next_value
    actions = batch["actions"].long()[:, None]
    q1 = sac.qf1(batch["obs"]).gather(1, actions).squeeze(1)
    q2 = sac.qf2(batch["obs"]).gather(1, actions).squeeze(1)
    qf_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
    optimizer.zero_grad(set_to_none=True)
    qf_loss.backward()
    optimizer.step()

    # -- actor: the exact expectation over codes of alpha * (log pi - log prior) - Q ------------------
    log_probs, probs = sac.policy(batch["obs"])
    log_prior = batch.get("log_prior", uniform_log_prior(len(probs), n_actions))
    with torch.no_grad():
        q = torch.min(sac.qf1(batch["obs"]), sac.qf2(batch["obs"]))
    kl = kl_to(log_probs, probs, log_prior)
    actor_loss = (alpha * kl - (probs * q).sum(-1)).mean()
    optimizer.zero_grad(set_to_none=True)
    actor_loss.backward()
    optimizer.step()

    # -- alpha: a Lagrange multiplier on the constraint KL <= target_kl ---------------------------------
    alpha_loss = torch.zeros(())
    if target_kl > 0:
        alpha_loss = (sac.log_alpha.exp() * (target_kl - kl.detach())).mean()
        optimizer.zero_grad(set_to_none=True)
        alpha_loss.backward()
        optimizer.step()

    sac.update_targets(tau)
    return {"qf_loss": qf_loss.item() / 2, "q_value": 0.5 * (q1 + q2).mean().item(), "actor_loss": actor_loss.item(),
            "kl_to_prior": kl.mean().item(), "alpha": sac.alpha, "alpha_loss": alpha_loss.item()}


# -- SAC on continuous actions ---------------------------------------------------------------------------

class ContinuousSAC(TwinQ):
    """The actor (`ptgm.rl.policies.SquashedGaussianPolicy`: `rsample(obs) -> (actions, log pi)`), twin Q(s, a)
    networks, their targets, and log alpha; `target_entropy`: what alpha keeps the policy's entropy near."""

    PROGRESS_FIELDS = ["env_steps", "iteration", "seconds", "charts/success_rate", "charts/episode_return",
                       "charts/episode_length", "charts/episodes", "charts/entropy", "charts/alpha",
                       "charts/env_steps_per_second", "charts/env_steps_per_decision", "charts/learning_rate",
                       "charts/updates", "charts/buffer_size", "losses/qf_loss", "losses/q_value",
                       "losses/actor_loss", "losses/alpha_loss", "losses/entropy"]

    def __init__(self, actor: nn.Module, qf1: nn.Module, qf2: nn.Module, alpha: float, target_entropy: float):
        super().__init__(actor, qf1, qf2, alpha)
        self.target_entropy = target_entropy

    def observe(self, views: Obs) -> dict[str, np.ndarray]:
        return {"obs": views[self.actor.obs_mode]}

    def act(self, seen: dict[str, np.ndarray], warming_up: bool) -> tuple[np.ndarray, dict[str, Tensor]]:
        actions, log_prob = self.actor.rsample(torch.from_numpy(seen["obs"]))
        if warming_up:  # uniform in the box until the first update (the module doc says why)
            actions = 2 * torch.rand(actions.shape) - 1
        return actions.numpy(), {"charts/entropy": -log_prob}  # the policy's entropy, estimated where it acted

    def update(self, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], tau: float) -> dict[str, float]:
        return continuous_sac_update(self, optimizer, batch, self.target_entropy, tau)


def continuous_sac_update(sac: ContinuousSAC, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor],
                          target_entropy: float, tau: float) -> dict[str, float]:
    """One gradient step of the critics, the actor and alpha on a replay batch."""
    alpha = sac.log_alpha.exp().detach()

    # -- critics: regress Q(s, a) on r + gamma**d * (1 - terminated) * (min Q_targ(s', a') - alpha log pi(a'|s')) ----
    with torch.no_grad():
        next_actions, next_log_prob = sac.actor.rsample(batch["next_obs"])
        next_q = torch.min(sac.qf1_target(batch["next_obs"], next_actions),
                           sac.qf2_target(batch["next_obs"], next_actions))
        target = batch["rewards"] + batch["discounts"] * (1.0 - batch["terminated"]) * (next_q - alpha * next_log_prob)
    q1, q2 = sac.qf1(batch["obs"], batch["actions"]), sac.qf2(batch["obs"], batch["actions"])
    qf_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
    optimizer.zero_grad(set_to_none=True)
    qf_loss.backward()
    optimizer.step()

    # -- actor: alpha log pi(a|s) - min Q(s, a) at a reparameterised a ~ pi(.|s) ------------------------------------
    actions, log_prob = sac.actor.rsample(batch["obs"])
    q = torch.min(sac.qf1(batch["obs"], actions), sac.qf2(batch["obs"], actions))
    actor_loss = (alpha * log_prob - q).mean()
    optimizer.zero_grad(set_to_none=True)
    # The gradient flows through Q to the action, but only the actor's weights may take it: the one optimiser would
    # otherwise step the critics along the actor's objective.
    actor_loss.backward(inputs=sac.actor_parameters())
    optimizer.step()

    # -- alpha: a Lagrange multiplier on the constraint entropy >= target_entropy ------------------------------------
    alpha_loss = (sac.log_alpha.exp() * (-log_prob.detach() - target_entropy)).mean()
    optimizer.zero_grad(set_to_none=True)
    alpha_loss.backward()
    optimizer.step()

    sac.update_targets(tau)
    return {"qf_loss": qf_loss.item() / 2, "q_value": 0.5 * (q1 + q2).mean().item(), "actor_loss": actor_loss.item(),
            "entropy": -log_prob.mean().item(), "alpha": sac.alpha, "alpha_loss": alpha_loss.item()}


# -- replay buffer ---------------------------------------------------------------------------------

class ReplayBuffer:
    """A ring buffer of transitions, each a dict of equally-shaped rows (arrays made on the first `add`)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.data: dict[str, np.ndarray] = {}
        self.pos = 0  # where the next row goes
        self.size = 0

    def add(self, **rows: np.ndarray) -> None:
        """A batch of B transitions: each field a (B, ...) array."""
        n = len(next(iter(rows.values())))
        if not self.data:
            self.data = {k: np.zeros((self.capacity, *v.shape[1:]), v.dtype) for k, v in rows.items()}
        index = (self.pos + np.arange(n)) % self.capacity
        for k, v in rows.items():
            self.data[k][index] = v
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> dict[str, Tensor]:
        """Uniform rows, drawn with torch's global generator (which the checkpoint saves)."""
        index = torch.randint(self.size, (batch_size,)).numpy()
        return {k: torch.from_numpy(v[index]) for k, v in self.data.items()}

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the filled rows, oldest first (so a resumed buffer overwrites the same ones next), to a file named
        by its checksum in `folder`; returns the record naming it (as `Run.keep_in_checkpoint` takes it)."""
        order = (self.pos - self.size + np.arange(self.size)) % self.capacity
        rows = {k: torch.from_numpy(np.ascontiguousarray(v[order])) for k, v in self.data.items()}
        return {**write_tensors(folder, "replay", rows), "size": self.size}

    def load(self, folder: Path, record: dict[str, Any]) -> None:
        rows = {k: v.numpy() for k, v in read_tensors(folder, record, "the replay buffer").items()}
        self.data, self.pos, self.size = {}, 0, 0
        if rows:
            self.add(**{k: v[-self.capacity:] for k, v in rows.items()})


# -- the training loop -------------------------------------------------------------------------------

def learn(cfg: Any, sac: TwinQ, env: TaskVecEnv, eval_env: TaskVecEnv, run: Run) -> dict:
    """Train `sac` on `env` until `cfg.steps` env steps, evaluating `sac.actor` and checkpointing into `run`.

    `cfg`: a `SACConfig` with PPOConfig's shared settings (`ptgm.rl.train_high.HighConfig`,
    `ptgm.rl.train_flat.FlatConfig`)."""
    torch.set_num_threads(cfg.threads)
    actor = sac.actor
    optimizer = sac.make_optimizer(cfg.lr)
    buffer = ReplayBuffer(cfg.sac_buffer_size)
    run.keep_in_checkpoint("replay", buffer.save, buffer.load)  # a resumed run learns from the memory it stopped with
    counters: dict[str, Any] = {"iteration": 0, "env_steps": 0, "next_eval": 0, "last_eval": -1,
                                "next_checkpoint": cfg.checkpoint_every, "seconds": 0.0, "updates": 0,
                                "decisions": 0, "updates_due": 0.0}
    if run.resumed:
        counters.update({k: v for k, v in run.load_checkpoint(sac, optimizer).items() if k in counters})
    else:
        run.load_start(sac, optimizer, actor)  # a run starting from a saved agent: its networks, alpha and moments
        torch.manual_seed(cfg.seed)
    horizon = cfg.steps_per_iter // env.n_envs
    obs = env.reset(seed=restart_seed(cfg.seed, counters["env_steps"]))

    bar = progress_bar(cfg.steps, counters["env_steps"], "step", f"{run.info['method']} {cfg.task}", cfg.progress,
                       smoothing=0.1)
    started = time.perf_counter() - counters["seconds"]
    while True:
        finished = counters["env_steps"] >= cfg.steps
        if counters["env_steps"] >= counters["next_eval"] or (finished and counters["last_eval"] != counters["env_steps"]):
            evaluate_into(run, actor, eval_env, cfg, counters, bar)
            counters["seconds"] = time.perf_counter() - started
            run.save_checkpoint(sac, optimizer, counters)
        if finished:
            break
        iteration_start = time.perf_counter()
        env_steps_before, updates_before = counters["env_steps"], counters["updates"]
        episodes, acted, stats = [], defaultdict(list), []

        for _ in range(horizon):
            # -- act: one action per env ---------------------------------------------------------------------
            seen = sac.observe(obs)
            with torch.no_grad():
                action, charted = sac.act(seen, warming_up=counters["decisions"] < cfg.sac_learning_starts)
            for key, values in charted.items():
                acted[key].append(values)
            step = env.step(action)
            if step.ended.any():
                env.prepare_resets()  # the worker builds the next world while this process updates

            # -- remember: next_obs is the episode's last observation where it ended ---------------------
            buffer.add(**seen, actions=action, rewards=step.reward.astype(np.float32),
                       discounts=(cfg.gamma ** step.env_steps.astype(np.float64)).astype(np.float32),
                       terminated=step.terminated.astype(np.float32),
                       **{f"next_{k}": v for k, v in sac.observe(step.final_obs).items()})
            counters["env_steps"] += int(step.env_steps.sum())
            counters["decisions"] += env.n_envs
            episodes.extend(step.episodes)
            obs = step.obs

            # -- learn: `sac_updates_per_step` gradient updates per transition, once the buffer is warm ----
            if counters["decisions"] >= cfg.sac_learning_starts:
                counters["updates_due"] += env.n_envs * cfg.sac_updates_per_step
                while counters["updates_due"] >= 1:
                    stats.append(sac.update(optimizer, buffer.sample(cfg.batch_size), cfg.sac_tau))
                    counters["updates"] += 1
                    counters["updates_due"] -= 1
        counters["iteration"] += 1

        # -- logging ---------------------------------------------------------------------------------
        env_steps_now = counters["env_steps"] - env_steps_before
        seconds = time.perf_counter() - iteration_start
        losses = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]} if stats else {}
        row = {
            "iteration": counters["iteration"],
            "seconds": round(time.perf_counter() - started, 2),
            **episode_charts(episodes),
            **sac.charts({k: float(torch.cat(v).mean()) for k, v in acted.items()}),
            "charts/env_steps_per_second": env_steps_now / seconds,
            "charts/env_steps_per_decision": env_steps_now / (horizon * env.n_envs),
            "charts/learning_rate": optimizer.param_groups[0]["lr"],
            "charts/updates": counters["updates"] - updates_before,
            "charts/buffer_size": buffer.size,
            **{f"losses/{k}": v for k, v in losses.items() if k != "alpha"},
        }
        run.log(counters["env_steps"], row)
        bar.update(min(counters["env_steps"], cfg.steps) - bar.n)
        bar.set_postfix(success=f"{row['charts/success_rate']:.2f}", alpha=f"{sac.alpha:.3g}")
        if counters["env_steps"] >= counters["next_checkpoint"]:
            counters["next_checkpoint"] = counters["env_steps"] + cfg.checkpoint_every
            counters["seconds"] = time.perf_counter() - started
            run.save_checkpoint(sac, optimizer, counters)
    bar.close()
    return counters


def build_sac(actor: nn.Module, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int, alpha: float,
              target_kl: float, initial: nn.Module | None = None, prior: nn.Module | None = None) -> DiscreteSAC:
    """Discrete SAC: `actor` with twin Q networks reading `obs_mode`; with `initial` (a goal prior of the same mode and
    width), the Q encoders start from its encoder, as PPO's critic does under --initialize-with-prior; `prior`: the
    goal prior in the target (None: uniform)."""
    qfs = [QNetwork(world, obs_mode, n_actions, hidden) for _ in range(2)]
    if initial is not None:
        for qf in qfs:
            qf.encoder.load_state_dict(initial.encoder.state_dict())
    return DiscreteSAC(actor, *qfs, alpha, target_kl, prior, None if prior is None else prior.obs_mode)


def build_continuous_sac(actor: nn.Module, world: WorldSpec, obs_mode: str, action_dim: int, hidden: int,
                         alpha: float, target_entropy: float) -> ContinuousSAC:
    """SAC on continuous actions: `actor` (a `SquashedGaussianPolicy`) with twin Q(s, a) networks reading `obs_mode`."""
    qfs = [ActionQNetwork(world, obs_mode, action_dim, hidden) for _ in range(2)]
    return ContinuousSAC(actor, *qfs, alpha, target_entropy)
