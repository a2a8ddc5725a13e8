"""`ptgm train-prior`: the goal prior pi_P(i | s), a classifier over the codebook's codes.

Each step's label is the code with the highest cosine similarity to its hindsight goal
embedding (the same relabelling as the low-level policy, fresh every epoch). Validation reports
top-1 and top-5 accuracy next to the majority-class baseline (always answering the codes most
frequent among the training labels, whatever the observation), and the loss next to
`marginal_loss` (the cross-entropy of always predicting the training labels' frequencies). For
reference it also gives the accuracy of answering the validation set's own most frequent codes,
which no model can be expected to know.
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
from ptgm.goals.codebook import Codebook
from ptgm.models.encoders import fit_obs_encoder
from ptgm.models.prior import GoalPrior
from ptgm.pretrain.distributed import Distributed, init_distributed, shutdown_distributed
from ptgm.pretrain.episodes import Episodes, load_episodes, sample_observations
from ptgm.pretrain.loop import PretrainConfig, fit

EVAL_BATCH = 1024


@dataclass(kw_only=True)
class PriorConfig(PretrainConfig):
    codebook: str  # codebook directory (from `ptgm codebook`); the prior classifies over its codes

    def validate(self) -> None:
        super().validate()
        if not self.codebook:
            raise ConfigError("--codebook DIR is required")


def top_k_accuracy(logits: Tensor, labels: Tensor, k: int) -> Tensor:
    """(B,) bool: whether each label is among the k highest logits."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == labels[:, None]).any(dim=1)


class PriorObjective:
    """Cross-entropy of the code nearest to each step's hindsight goal."""

    def __init__(self, cfg: PriorConfig, codebook: Codebook, train: Episodes, val: Episodes | None):
        self.cfg, self.train, self.val = cfg, train, val
        self.n_train = train.n_steps
        # The code of every observation, once: a step's label is then the code of its goal row.
        self.train_codes = codebook.nearest(train.goals)
        self.labels = np.zeros(self.n_train, np.int64)
        self.n_codes = codebook.n_codes
        # Majority baseline: the codes most frequent among the (fixed-seed relabelled) training labels.
        fixed = self.train_codes[train.relabel(cfg.min_btwn_goals, cfg.max_btwn_goals,
                                               np.random.default_rng([cfg.seed, 7_002]))]
        train_counts = np.bincount(fixed, minlength=self.n_codes)
        self.majority = np.argsort(-train_counts, kind="stable")[:5]
        self.log_marginal = np.log((train_counts + 1.0) / (train_counts.sum() + self.n_codes))
        if val is not None:
            rows = val.relabel(cfg.min_btwn_goals, cfg.max_btwn_goals, np.random.default_rng([cfg.seed, 7_001]))
            self.val_labels = codebook.nearest(val.goals)[rows]

    def new_epoch(self, rng: np.random.Generator) -> None:
        self.labels = self.train_codes[self.train.relabel(self.cfg.min_btwn_goals, self.cfg.max_btwn_goals, rng)]

    def loss(self, net: nn.Module, batch: np.ndarray) -> tuple[Tensor, dict[str, float]]:
        obs = torch.from_numpy(self.train.obs[self.train.step_obs[batch]])
        labels = torch.from_numpy(self.labels[batch])
        logits = net(obs)
        loss = F.cross_entropy(logits, labels)
        return loss, {"top1": (logits.argmax(1) == labels).float().mean().item()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        val = self.val
        loss = top1 = top5 = 0.0
        for i in range(0, val.n_steps, EVAL_BATCH):
            rows = slice(i, i + EVAL_BATCH)
            logits = model(torch.from_numpy(val.obs[val.step_obs[rows]]))
            labels = torch.from_numpy(self.val_labels[rows])
            loss += F.cross_entropy(logits, labels, reduction="sum").item()
            top1 += top_k_accuracy(logits, labels, 1).sum().item()
            top5 += top_k_accuracy(logits, labels, 5).sum().item()
        n = val.n_steps
        val_counts = np.bincount(self.val_labels, minlength=self.n_codes)
        own = np.sort(val_counts)[::-1]
        return {"val_loss": loss / n, "val_top1": top1 / n, "val_top5": top5 / n,
                "majority_top1": float(val_counts[self.majority[:1]].sum() / n),
                "majority_top5": float(val_counts[self.majority[:5]].sum() / n),
                "marginal_loss": float(-self.log_marginal[self.val_labels].mean()),
                "val_own_majority_top1": float(own[:1].sum() / n), "val_own_majority_top5": float(own[:5].sum() / n),
                "val_codes_used": int((val_counts > 0).sum())}


def train_prior(cfg: PriorConfig, on_update=None, dist: Distributed | None = None) -> tuple[GoalPrior, dict[str, Any]]:
    """Train pi_P on cfg.data's train split against cfg.codebook; returns the final prior and the run's
    metrics (the best-validation weights are in cfg.out)."""
    cfg.validate()
    torch.set_num_threads(cfg.threads)
    own_dist = dist is None
    dist = init_distributed() if own_dist else dist
    try:
        store = EpisodeStore(cfg.data)
        world = get_world(store.world)
        codebook = Codebook.load(cfg.codebook).check_data(store.dataset_id, store.train_episodes_sha256)
        embedder = codebook.load_embedder(world, cfg.encoder)
        progress = cfg.progress and dist.is_main
        train = load_episodes(store, dist.shard(store.split_ids("train")), cfg.obs, embedder, progress,
                              "train episodes", spill=cfg.out)
        val = load_episodes(store, store.split_ids("val"), cfg.obs, embedder, progress, "val episodes", cfg.out) \
            if dist.is_main else None
        torch.manual_seed(cfg.seed)
        prior = GoalPrior(world, cfg.obs, codebook.n_codes, codebook.fingerprint, cfg.hidden)
        fit_obs_encoder(prior, lambda: sample_observations(train, cfg.seed))  # a state-vector encoder's input statistics
        metrics = fit(cfg, prior, PriorObjective(cfg, codebook, train, val), dist, "ptgm train-prior",
                      store.dataset_id, on_update, inputs={"split": store.split_id, "embedder": embedder.settings(),
                                                           "codebook": codebook.fingerprint})
        return prior, metrics
    finally:
        if own_dist:
            shutdown_distributed(dist)
