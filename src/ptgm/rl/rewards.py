"""The goal prior's reward term, PTGM's regulariser of the high-level policy.

Each high-level step adds `-kl_reward * KL(pi_H(.|s) || pi_P(.|s))` to the task reward, both
distributions taken at the observation s where the code was chosen. `kl_reward` is the coefficient's
one name (the paper's alpha): the `high` setting, the `--kl-reward` flag and the argument below.
The term it adds is charted as `charts/kl_penalty`, the divergence itself as `charts/kl_to_prior`.

It depends on the policy's own distribution, so the RL trainer adds it where it has both; the
environment stays a fixed Markov process over codes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def kl_divergence(policy_logits: Tensor, prior_logits: Tensor) -> Tensor:
    """KL(pi_H(.|s) || pi_P(.|s)) per row, in nats, from unnormalised logits (B, N) -> (B,)."""
    log_policy = torch.log_softmax(policy_logits.float(), dim=-1)
    log_prior = torch.log_softmax(prior_logits.float(), dim=-1)
    return (log_policy.exp() * (log_policy - log_prior)).sum(dim=-1)


def kl_penalty(policy_logits: Tensor, prior_logits: Tensor, kl_reward: float) -> Tensor:
    """The reward term for each high-level step: -kl_reward * KL(pi_H(.|s) || pi_P(.|s)).

    Zero when the policy equals the prior, more negative the further away."""
    return -kl_reward * kl_divergence(policy_logits, prior_logits)
