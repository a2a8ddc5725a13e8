"""The policies RL trains: categorical (codes or primitive actions) and Gaussian actor-critics for PPO, and the
tanh-squashed Gaussian actor of SAC on a world's continuous actions.

Every network reads one observation mode through `make_obs_encoder`, the family the low-level
policy and the prior use. A policy is `encoder` + `head`, the same two parts and shapes as the
goal prior, so the high-level policy can start from the prior's weights. An actor-critic's critic
has its own encoder, so the value regression never pulls on the features the actor (maybe
prior-initialised) relies on. Each is saved as `weights.safetensors` + `config.json`, whose `kind`
says which class `load_policy` rebuilds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.distributions import Categorical, Normal

from ptgm.config import ConfigError
from ptgm.envs import WorldSpec, get_world
from ptgm.models.artifacts import ModelError, load_weights, read_config, save_model
from ptgm.models.encoders import make_obs_encoder

POLICY_FORMAT = "ptgm-actor-critic/1"


def _layer_init(layer: nn.Linear, std: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


class Policy(nn.Module):
    """What every saved policy shares: its world, the observation mode it reads, an encoder and a head, and saving.
    `n_actions`: discrete actions, or the dimensions of a continuous action."""

    KIND = ""  # config.json's `kind`, which `load_policy` rebuilds the class from
    continuous = False  # its actions are vectors (goal vectors, or a continuous world's actions), not indices

    def __init__(self, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int, head_outputs: int):
        super().__init__()
        self.world, self.obs_mode, self.n_actions, self.hidden = world, obs_mode, int(n_actions), int(hidden)
        self.meta: dict[str, Any] = {}  # what the policy is for (task, codebook fingerprint, ...), saved in config.json
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.head = _layer_init(nn.Linear(hidden, head_outputs), 0.01)  # starts near uniform (or the box's centre)

    def config(self) -> dict[str, Any]:
        return {"format": POLICY_FORMAT, "kind": self.KIND, "world": self.world.name, "obs_mode": self.obs_mode,
                "n_actions": self.n_actions, "hidden": self.hidden, **self.meta}

    def save(self, out_dir: str | Path) -> None:
        """`weights.safetensors` + `config.json`."""
        save_model(out_dir, self, self.config())


class ActorCritic(Policy):
    """pi(a | s) over `n_actions` discrete actions and V(s); actions come from `distribution(obs)`."""

    KIND = "categorical"

    def __init__(self, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int = 256):
        super().__init__(world, obs_mode, n_actions, hidden, int(n_actions))
        self.critic_encoder = make_obs_encoder(obs_mode, world, hidden)
        self.value_head = _layer_init(nn.Linear(hidden, 1), 1.0)

    def logits(self, obs: Tensor) -> Tensor:
        return self.head(self.encoder(obs))

    def distribution(self, obs: Tensor) -> Categorical:
        return Categorical(logits=self.logits(obs))

    def value(self, obs: Tensor) -> Tensor:
        return self.value_head(self.critic_encoder(obs)).squeeze(-1)

    def log_prob(self, dist: Categorical, actions: Tensor) -> Tensor:
        return dist.log_prob(actions.long())

    def actor_parameters(self) -> list[nn.Parameter]:
        """The policy's own weights (encoder and head), without the critic's: what SAC's actor loss trains."""
        return [*self.encoder.parameters(), *self.head.parameters()]

    def sample(self, dist: Categorical, deterministic: bool = False, generator: torch.Generator | None = None) -> Tensor:
        if deterministic:
            return dist.probs.argmax(dim=-1)
        return torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)

    def initialize_from_prior(self, prior: nn.Module) -> None:
        """Copy the goal prior's `encoder` and `head` into the actor (and its encoder into the critic)."""
        if not isinstance(getattr(prior, "head", None), nn.Linear) or prior.head.out_features != self.n_actions:
            raise ValueError(f"the prior has {getattr(prior.head, 'out_features', '?')} codes, the policy {self.n_actions}")
        if getattr(prior, "obs_mode", self.obs_mode) != self.obs_mode:
            raise ValueError(f"the prior reads {prior.obs_mode} observations, the policy {self.obs_mode}")
        if getattr(prior, "hidden", self.hidden) != self.hidden:
            raise ConfigError(f"--initialize-with-prior copies the prior's network (hidden {prior.hidden}), but this "
                              f"policy has --hidden {self.hidden}; match them or pass --no-initialize-with-prior")
        self.encoder.load_state_dict(prior.encoder.state_dict())
        self.head.load_state_dict(prior.head.state_dict())
        self.critic_encoder.load_state_dict(prior.encoder.state_dict())


class GaussianActorCritic(ActorCritic):
    """pi(a | s) = Normal(mean(s), exp(log_std)) over R^D and V(s): the continuous-goal ablation.

    Actions are read as a point in [-1, 1]^D (see `ptgm.rl.hierarchical.GoalBox`); the mean starts
    at the box's centre and the spread at half its width, i.e. near the middle of the codes' range."""

    KIND = "continuous"
    continuous = True

    def __init__(self, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int = 256, init_std: float = 0.5):
        super().__init__(world, obs_mode, n_actions, hidden)
        self.log_std = nn.Parameter(torch.full((self.n_actions,), math.log(init_std)))

    def distribution(self, obs: Tensor) -> Normal:
        mean = self.head(self.encoder(obs))
        return Normal(mean, self.log_std.exp().expand_as(mean))

    def log_prob(self, dist: Normal, actions: Tensor) -> Tensor:
        return dist.log_prob(actions).sum(dim=-1)

    def sample(self, dist: Normal, deterministic: bool = False, generator: torch.Generator | None = None) -> Tensor:
        if deterministic:
            return dist.mean
        return dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=generator)

    def initialize_from_prior(self, prior: nn.Module) -> None:
        raise ValueError("a continuous-goal policy has no code head to copy from the prior; "
                         "drop --initialize-with-prior or --continuous")


class SquashedGaussianPolicy(Policy):
    """pi(a | s) = tanh(u), u ~ Normal(mean(s), std(s)): SAC's actor over a continuous world's actions in [-1, 1]^D.

    The head gives the mean and the log-std of u per dimension; the log-std is squashed into
    [LOG_STD_MIN, LOG_STD_MAX] (as CleanRL's sac_continuous_action.py), so that neither a collapsed nor
    an exploding spread makes the log-likelihood below overflow. `distribution` is the Gaussian of u;
    `sample` squashes its draws, so an evaluation or `predict` reads it like any other policy."""

    KIND = "squashed"
    continuous = True
    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(self, world: WorldSpec, obs_mode: str, n_actions: int, hidden: int = 256):
        super().__init__(world, obs_mode, n_actions, hidden, 2 * int(n_actions))

    def distribution(self, obs: Tensor) -> Normal:
        mean, log_std = self.head(self.encoder(obs)).chunk(2, dim=-1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return Normal(mean, log_std.exp())

    def sample(self, dist: Normal, deterministic: bool = False, generator: torch.Generator | None = None) -> Tensor:
        if deterministic:
            return torch.tanh(dist.mean)
        return torch.tanh(dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=generator))

    def rsample(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(actions (B, D), log pi(actions | obs) (B,)), reparameterised so gradients reach the actor; drawn with
        torch's global generator (which a checkpoint saves)."""
        dist = self.distribution(obs)
        u = dist.rsample()
        # log pi(a) = log N(u) - sum log(1 - tanh(u)^2), the last term in a form that stays finite at large |u|:
        # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))
        log_prob = dist.log_prob(u).sum(-1) - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob


def entropy(dist: Categorical | Normal) -> Tensor:
    """Entropy per row (B,), summed over dimensions for a Gaussian."""
    ent = dist.entropy()
    return ent.sum(dim=-1) if isinstance(dist, Normal) else ent


POLICY_KINDS: dict[str, type[Policy]] = {cls.KIND: cls for cls in (ActorCritic, GaussianActorCritic,
                                                                    SquashedGaussianPolicy)}


def load_policy(path: str | Path) -> Policy:
    """A policy saved by `Policy.save`, in eval mode."""
    config = read_config(path, POLICY_FORMAT, "actor-critic policy",
                         required=("kind", "world", "obs_mode", "n_actions", "hidden"))
    try:
        policy = POLICY_KINDS[config["kind"]](get_world(config["world"]), config["obs_mode"], config["n_actions"], config["hidden"])
    except (KeyError, ValueError) as e:
        raise ModelError(f"{path}/config.json describes no valid policy: {e}") from e
    load_weights(path, policy, config, "actor-critic policy")
    policy.meta = {k: v for k, v in config.items()
                   if k not in ("format", "kind", "world", "obs_mode", "n_actions", "hidden", "weights_sha256")}
    return policy.eval()
