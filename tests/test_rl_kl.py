"""The prior's KL reward: sign, direction and scale on hand-made distributions, and where PPO takes it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.rl.hierarchical import HierarchicalVecEnv
from ptgm.rl.rewards import kl_divergence, kl_penalty
from ptgm.rl.policies import ActorCritic
from ptgm.rl.ppo import collect_rollout

WORLD = get_world("crafter")
EMBEDDER = make_embedder("state", WORLD)


def logits(*probs: float) -> torch.Tensor:
    return torch.log(torch.tensor([probs], dtype=torch.float64))


def test_kl_penalty_is_minus_kl_reward_times_kl_of_policy_to_prior():
    policy, prior = logits(0.9, 0.1), logits(0.5, 0.5)
    kl_policy_to_prior = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # 0.368
    kl_prior_to_policy = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # 0.511: the other direction
    assert kl_divergence(policy, prior).item() == pytest.approx(kl_policy_to_prior, rel=1e-6)
    assert kl_penalty(policy, prior, 0.05).item() == pytest.approx(-0.05 * kl_policy_to_prior, rel=1e-6)
    assert kl_penalty(policy, prior, 0.05).item() != pytest.approx(-0.05 * kl_prior_to_policy, rel=1e-3)
    assert kl_penalty(policy, prior, 0.5).item() == pytest.approx(10 * kl_penalty(policy, prior, 0.05).item())


def test_kl_penalty_is_zero_at_the_prior_and_negative_elsewhere():
    prior = logits(0.7, 0.2, 0.1)
    assert kl_penalty(prior, prior, 0.05).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_penalty(prior + 3.0, prior, 0.05).item() == pytest.approx(0.0, abs=1e-6)  # logits, not probabilities
    for other in (logits(0.1, 0.2, 0.7), logits(1 / 3, 1 / 3, 1 / 3), logits(0.69, 0.21, 0.1)):
        assert kl_penalty(other, prior, 0.05).item() < 0
    # A code the prior finds unlikely costs more when the policy puts its mass there.
    assert kl_penalty(logits(0.05, 0.05, 0.9), prior, 1.0) < kl_penalty(logits(0.05, 0.9, 0.05), prior, 1.0)


def test_kl_is_per_row():
    policy = torch.cat([logits(0.5, 0.5), logits(0.9, 0.1)])
    prior = torch.cat([logits(0.5, 0.5), logits(0.5, 0.5)])
    values = kl_divergence(policy, prior)
    assert values.shape == (2,)
    assert values[0].item() == pytest.approx(0.0, abs=1e-9) and values[1].item() > 0


class ByObservation(nn.Module):
    """A stand-in prior whose code distribution depends on the observation (its inventory and daylight)."""

    obs_mode = "symbolic"

    def __init__(self, n_codes: int):
        super().__init__()
        self.n_codes = n_codes

    def forward(self, obs):
        x = obs.float()[:, 81:].sum(dim=1, keepdim=True)
        return torch.sin(x * torch.arange(1, self.n_codes + 1)) * 3.0


def test_rollout_reward_is_the_kl_at_the_state_where_the_code_was_chosen():
    codes = make_embedder("state", WORLD).embed(np.random.default_rng(0).integers(0, 3, (4, 100)).astype(np.uint8))
    book = Codebook(codes, EMBEDDER.settings(), [{"episode": "x", "step": i} for i in range(4)])
    torch.manual_seed(0)
    low = LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32)
    agent = ActorCritic(WORLD, "symbolic", book.n_codes, hidden=32)
    nn.init.normal_(agent.head.weight, std=0.5)  # far from uniform, so the KL differs between states
    prior = ByObservation(book.n_codes)
    kl_reward = 0.3
    # 'diamond' is never reached by an untrained policy in a few steps: every reward is the KL reward.
    with HierarchicalVecEnv("diamond", 2, low, book, 3, 1.0, vector="sync", embedder=EMBEDDER) as env:
        obs = env.reset(seed=0)
        rollout, _ = collect_rollout(agent, env, obs, horizon=6, gamma=0.99, prior=prior, kl_reward=kl_reward)
    assert not rollout.ended.any()
    with torch.no_grad():
        expected = torch.stack([kl_penalty(agent.logits(o), prior(o), kl_reward) for o in rollout.obs])
        later = torch.stack([kl_penalty(agent.logits(o), prior(o), kl_reward) for o in rollout.obs[1:]])
    torch.testing.assert_close(rollout.rewards, expected.float())
    assert not torch.allclose(rollout.rewards[:-1], later.float())  # not the state the step led to
    assert (rollout.rewards < 0).all()
    torch.testing.assert_close(rollout.kl_to_prior, -expected.float() / kl_reward)


def test_the_real_prior_plugs_in():
    codes = np.random.default_rng(1).random((5, EMBEDDER.dim)).astype(np.float32)
    book = Codebook(codes, EMBEDDER.settings(), [{"episode": "x", "step": i} for i in range(5)])
    prior = GoalPrior(WORLD, "symbolic", 5, book.fingerprint, hidden=32)
    agent = ActorCritic(WORLD, "symbolic", 5, hidden=32)
    agent.initialize_from_prior(prior)
    obs = torch.randint(0, 3, (4, 100), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(kl_penalty(agent.logits(obs), prior(obs), 0.05), torch.zeros(4), atol=1e-6)
