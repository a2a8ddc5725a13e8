"""`ptgm train-low`: behaviour cloning of the goal-conditioned low-level policy pi_L(a | s, g).

Each recorded step (observation, action) gets the goal embedding of its hindsight goal step
(`ptgm.pretrain.relabel`); with probability `p_uncond` the goal is dropped for the learned null
goal, so the same network learns the unconditional policy that classifier-free guidance needs.
Loss: cross-entropy of the recorded action, over the steps the player chose: the scripted player's
random actions (10% by default), which datasets mark as `noise`, widen the states the data covers
but are not behaviour to imitate. Kept as targets, they outnumber the chosen presses of every
crafting action 4 to 52 times on the default data (`ptgm data stats`), so crafting looks like noise.
`--action-balance P` weighs each action's loss by its count^-P, lifting the rare ones (measured in
docs/limitations.md). Validation reports recall per action, since accuracy is ruled by moves and noop.

In a world with continuous actions (Kitchen) the loss is the Gaussian head's negative log-likelihood
of the recorded action (`LowLevelPolicy.action_nll`), and validation reports the mean squared error of
the policy's mean action next to `mean_action_mse`, the error of always answering the training steps'
mean action (accuracy and recall mean nothing there). The input statistics of a state-vector encoder
are fitted to the training observations first.

The gap defaults are the paper's (15, 200). On Crafter with the scripted player's data, goals that
far ahead say little about the next action once the observation is known (the policy learns to
ignore them); `--min-btwn-goals 1 --max-btwn-goals 10` made the goal matter clearly more, in
validation accuracy and in `ptgm eval-low`, and made the prior's labels learnable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ptgm.config import ConfigError
from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.embedders import check_embedding, make_embedder
from ptgm.models.encoders import fit_obs_encoder
from ptgm.models.low_level import GOAL_INPUTS, LowLevelPolicy
from ptgm.pretrain.distributed import Distributed, init_distributed, shutdown_distributed
from ptgm.pretrain.episodes import Episodes, action_weights, load_episodes, sample_observations
from ptgm.pretrain.loop import PretrainConfig, fit

EVAL_BATCH = 1024


@dataclass(kw_only=True)
class LowLevelConfig(PretrainConfig):
    embedding: str = "state"  # goal embedding the policy is conditioned on: state | state:PART+PART (state-vector slices) | learned
    p_uncond: float = 0.1  # probability of replacing a training goal by the null goal
    goal_input: str = "absolute"  # how the network reads a goal g: absolute (g; paper) | relative (the change g - e(s), standardised, clipped)
    action_balance: float = 0.0  # p: weigh each action's loss by its count^-p over the chosen training steps (0: plain cross-entropy; 0.5 lifts rare crafting actions)

    def validate(self) -> None:
        super().validate()
        check_embedding(self.embedding)
        if not 0.0 <= self.p_uncond < 1.0:
            raise ConfigError(f"--p-uncond must be in [0, 1), got {self.p_uncond}")
        if self.goal_input not in GOAL_INPUTS:
            raise ConfigError(f"--goal-input {self.goal_input!r} is unknown; valid: {', '.join(GOAL_INPUTS)}")
        if not 0.0 <= self.action_balance <= 1.0:
            raise ConfigError(f"--action-balance must be in [0, 1], got {self.action_balance}")


def null_goal_mask(n: int, p_uncond: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: which samples train the unconditional policy (goal replaced by the null goal)."""
    return rng.random(n) < p_uncond


class LowLevelObjective:
    """Cross-entropy of the recorded action given (observation, hindsight goal or null goal), over the steps
    whose action the player chose (`Episodes.chosen`; a dataset that marks no random actions: every step)."""

    def __init__(self, cfg: LowLevelConfig, train: Episodes, val: Episodes | None,
                 action_weights: np.ndarray | None = None):
        self.cfg, self.train, self.val = cfg, train, val
        # (A,) loss weight of each action (`action_balance`), or None for plain cross-entropy.
        self.action_weights = None if action_weights is None else torch.as_tensor(action_weights, dtype=torch.float32)
        self.samples = train.chosen  # sample i of an epoch is step samples[i]
        self.n_train = len(self.samples)
        self.goal_rows = np.zeros(train.n_steps, np.int64)
        self.null = np.zeros(train.n_steps, bool)
        if val is not None:
            # One fixed relabelling of the validation set, so every evaluation measures the same thing.
            self.val_goal_rows = val.relabel(cfg.min_btwn_goals, cfg.max_btwn_goals,
                                             np.random.default_rng([cfg.seed, 7_001]))

    def new_epoch(self, rng: np.random.Generator) -> None:
        self.goal_rows = self.train.relabel(self.cfg.min_btwn_goals, self.cfg.max_btwn_goals, rng)
        self.null = null_goal_mask(self.train.n_steps, self.cfg.p_uncond, rng)

    def loss(self, net: nn.Module, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        batch = self.samples[batch]
        rows = self.train.step_obs[batch]
        obs, current = torch.from_numpy(self.train.obs[rows]), torch.from_numpy(self.train.goals[rows])
        goal = torch.from_numpy(self.train.goals[self.goal_rows[batch]])
        actions = torch.from_numpy(self.train.actions[batch])
        logits = net(obs, goal, torch.from_numpy(self.null[batch]), current)
        if self.train.actions.ndim > 1:  # continuous actions: the Gaussian head's likelihood
            policy = net.module if hasattr(net, "module") else net  # DDP wraps the policy
            mean = torch.tanh(logits)
            return policy.action_nll(logits, actions).mean(), {"mse": F.mse_loss(mean, actions).item()}
        loss = F.cross_entropy(logits, actions, weight=self.action_weights)
        return loss, {"accuracy": (logits.argmax(1) == actions).float().mean().item()}

    def _val_batches(self):
        """(observations, their goal embeddings, hindsight goals, actions) of the validation steps the player
        chose, `EVAL_BATCH` at a time."""
        val = self.val
        steps = val.chosen
        for i in range(0, len(steps), EVAL_BATCH):
            rows = steps[i : i + EVAL_BATCH]
            yield (torch.from_numpy(val.obs[val.step_obs[rows]]), torch.from_numpy(val.goals[val.step_obs[rows]]),
                   torch.from_numpy(val.goals[self.val_goal_rows[rows]]), torch.from_numpy(val.actions[rows]))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Loss and accuracy on the validation steps the player chose, with their goals and with the null goal."""
        if self.val.actions.ndim > 1:
            return self._evaluate_continuous(model)
        model.eval()
        val = self.val
        steps = val.chosen
        sums = {"val_loss": 0.0, "val_accuracy": 0.0, "val_loss_uncond": 0.0, "val_accuracy_uncond": 0.0}
        hits = np.zeros(model.n_actions, np.int64)  # per action: validation steps of it predicted right (with the goal)
        for obs, current, goal, actions in self._val_batches():
            for suffix, null in (("", False), ("_uncond", True)):
                logits = model(obs, goal, torch.full((len(obs),), null), current)
                sums[f"val_loss{suffix}"] += F.cross_entropy(logits, actions, reduction="sum").item()
                sums[f"val_accuracy{suffix}"] += (logits.argmax(1) == actions).sum().item()
                if not null:
                    right = (logits.argmax(1) == actions).numpy()
                    hits += np.bincount(actions.numpy()[right], minlength=model.n_actions)
        metrics = {k: v / len(steps) for k, v in sums.items()}
        # Baselines that ignore the observation: the most frequent validation action, and the cross-entropy of
        # always predicting the training actions' frequencies.
        counts = np.bincount(val.actions[steps], minlength=model.n_actions)
        # Accuracy is ruled by moves, noop and sleep; recall per action shows the rare decisive ones (crafting).
        for a, name in enumerate(model.world.action_names):
            if counts[a]:
                metrics[f"val_recall_{name}"] = float(hits[a] / counts[a])
        metrics["majority_accuracy"] = float(counts.max() / len(steps))
        freq = np.bincount(self.train.actions[self.samples], minlength=model.n_actions) + 1.0
        metrics["marginal_loss"] = float(-np.log(freq / freq.sum())[val.actions[steps]].mean())
        return metrics

    def _evaluate_continuous(self, model: nn.Module) -> dict[str, float]:
        """Negative log-likelihood and MSE of the mean action on the validation steps the player chose, with their
        goals and with the null goal, and the MSE of always answering the training steps' mean action."""
        model.eval()
        val = self.val
        steps = val.chosen
        sums = {"val_loss": 0.0, "val_mse": 0.0, "val_loss_uncond": 0.0, "val_mse_uncond": 0.0}
        for obs, current, goal, actions in self._val_batches():
            for suffix, null in (("", False), ("_uncond", True)):
                outputs = model(obs, goal, torch.full((len(obs),), null), current)
                sums[f"val_loss{suffix}"] += model.action_nll(outputs, actions).sum().item()
                # per action dimension, so the number reads on the actions' own [-1, 1] scale
                sums[f"val_mse{suffix}"] += F.mse_loss(torch.tanh(outputs), actions, reduction="sum").item() / \
                    actions[0].numel()
        metrics = {k: v / len(steps) for k, v in sums.items()}
        mean_action = self.train.actions[self.samples].mean(axis=0)
        metrics["mean_action_mse"] = float(((val.actions[steps] - mean_action) ** 2).mean())
        return metrics


def train_low(cfg: LowLevelConfig, on_update=None, dist: Distributed | None = None) -> tuple[LowLevelPolicy, dict[str, Any]]:
    """Train pi_L on cfg.data's train split; returns the final policy and the run's metrics
    (the best-validation weights are in cfg.out)."""
    cfg.validate()
    torch.set_num_threads(cfg.threads)
    own_dist = dist is None
    dist = init_distributed() if own_dist else dist
    try:
        store = EpisodeStore(cfg.data)
        world = get_world(store.world)
        embedder = make_embedder(cfg.embedding, world, cfg.encoder)
        train_ids = dist.shard(store.split_ids("train"))
        progress = cfg.progress and dist.is_main
        train = load_episodes(store, train_ids, cfg.obs, embedder, progress, "train episodes",
                              spill=cfg.out)
        val = load_episodes(store, store.split_ids("val"), cfg.obs, embedder, progress, "val episodes", cfg.out) \
            if dist.is_main else None
        torch.manual_seed(cfg.seed)  # the same initial weights in every process
        policy = LowLevelPolicy(world, cfg.obs, embedder.dim, embedder.settings(), cfg.hidden, cfg.goal_input)
        if world.continuous and cfg.action_balance > 0:
            raise ConfigError("--action-balance weighs discrete actions by their counts; world "
                              f"{world.name!r} has continuous actions: leave it at 0")
        # A state-vector encoder standardises its inputs by the training observations (this shard's; DDP then
        # broadcasts the main process's buffers).
        fit_obs_encoder(policy, lambda: sample_observations(train, cfg.seed))
        if policy.needs_current:
            # From one relabelling of this process's shard (at most 200k steps: quantiles of more cost time, not
            # accuracy); under DDP every process then takes the main one's (DDP broadcasts buffers).
            rng = np.random.default_rng([cfg.seed, 7_002])
            rows = train.relabel(cfg.min_btwn_goals, cfg.max_btwn_goals, rng)
            pick = rng.permutation(train.n_steps)[:200_000]
            policy.fit_goal_scale(train.goals[rows[pick]] - train.goals[train.step_obs[pick]])
        weights = None
        if cfg.action_balance > 0:
            # Counted over every process's shard, so that all of them weigh the same action alike.
            counts = dist.sum(np.bincount(train.actions[train.chosen], minlength=world.n_actions))
            weights = action_weights(counts, cfg.action_balance)
        metrics = fit(cfg, policy, LowLevelObjective(cfg, train, val, weights), dist, "ptgm train-low", store.dataset_id,
                      on_update, inputs={"split": store.split_id, "embedder": embedder.settings()})
        return policy, metrics
    finally:
        if own_dist:
            shutdown_distributed(dist)
