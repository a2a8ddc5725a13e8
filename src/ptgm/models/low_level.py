"""The low-level goal-conditioned policy pi_L(a | s, g) with classifier-free guidance.

Steve-1's recipe on a small network: the goal is projected and *added* to the observation
features, an MLP and a categorical head over the world's actions follow. Training replaces the
goal by a learned null goal with probability `p_uncond`, so one network is both the conditional
and the unconditional policy.

What the goal projection reads (`goal_input`):
- `absolute` (the default): the goal embedding g, as Steve-1 and the paper do;
- `relative`: the change it asks for, g - e(s), where e(s) is the goal embedding of
  the observation the policy acts on; standardised by the spread of the changes seen in training
  (hindsight goals 1..max_btwn_goals steps ahead) and clipped to the range they span there.
  Why: a goal a few steps ahead differs from the present in a few hundredths of a feature, which
  the absolute input buries. Why clipped: a code is a whole remembered state (say 9 stone, 2 diamonds),
  far from anything a short hindsight gap teaches; clipped, it reads as the largest step towards it the
  policy has learnt (one more stone, one more diamond).
  Callers pass `current` = e(s) (`ptgm.goals.embedders`), in the same batch order.
  Measured against the absolute input in docs/limitations.md.

At run time

    logits = (1 + cond_scale) * conditional - cond_scale * unconditional

(one forward pass over the batch [conditional; unconditional]).

In a world with continuous actions (`WorldSpec.continuous`: Kitchen) the head is Gaussian (`head`
"gaussian"): mean tanh(u(s, g)) and a learned, state-independent log-std per action dimension,
trained by the negative log-likelihood of the recorded action. Why not a tanh mean with MSE: with a
learned spread the loss is still an MSE per dimension, but weighted by how predictable that dimension
is, and sampling gets a spread fitted to the demonstrator's own noise. Why state-independent: the
spread only needs to cover that noise; a state-dependent one overfits small datasets. Actions are
sampled, then clipped to [-1, 1]. Guidance mixes the pre-tanh means the way it mixes logits,

    u = (1 + cond_scale) * u_conditional - cond_scale * u_unconditional,  mean = tanh(u),

so a guided mean stays inside [-1, 1] however large cond_scale is; the spread is not guided.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ptgm.envs import WorldSpec, get_world
from ptgm.models.artifacts import ModelError, load_weights, read_config, save_model
from ptgm.models.encoders import make_obs_encoder

LOW_LEVEL_FORMAT = "ptgm-low-level/2"
# config.json keys that describe the network itself; the rest is provenance kept in `meta`.
_BUILD_KEYS = ("format", "world", "obs_mode", "goal_dim", "n_actions", "embedder", "hidden", "goal_input",
               "head", "weights_sha256")
GOAL_INPUTS = ("relative", "absolute")
LOG_STD_BOUNDS = (-5.0, 1.0)  # the Gaussian head's log-std range: no collapse to a point, no noise beyond [-1, 1]
# Floor on a goal feature's spread when standardising: features that barely vary in the data (rare
# items) would otherwise turn tiny differences into huge inputs.
MIN_GOAL_SCALE = 0.05
# Relative goals are clipped to this central share of the training changes, per feature.
GOAL_CLIP_QUANTILES = (0.001, 0.999)


def head_for(world: WorldSpec) -> str:
    """The action head a world's actions need: categorical over ids, or gaussian over [-1, 1] vectors."""
    return "gaussian" if world.continuous else "categorical"


class LowLevelPolicy(nn.Module):
    """pi_L(a | s, g): obs encoder + goal projection added to its features + MLP + categorical or Gaussian head.

    A learned null goal (`null_goal`, in the goal projection's input space) stands in for the goal in
    unconditional rows."""

    def __init__(self, world: WorldSpec, obs_mode: str, goal_dim: int, embedder: dict, hidden: int = 256,
                 goal_input: str = "absolute"):
        super().__init__()
        self.world = world
        self.obs_mode = obs_mode
        self.goal_dim = int(goal_dim)
        self.n_actions = world.n_actions
        self.embedder = dict(embedder)
        self.hidden = int(hidden)
        if goal_input not in GOAL_INPUTS:
            raise ValueError(f"unknown goal_input {goal_input!r}; valid: {', '.join(GOAL_INPUTS)}")
        self.goal_input = goal_input
        self.meta: dict[str, Any] = {}  # provenance, dataset_id, metrics: written into config.json by save()
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.goal_proj = nn.Sequential(nn.Linear(goal_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.null_goal = nn.Parameter(torch.zeros(goal_dim))
        # Set from the training changes by `fit_goal_scale` (relative input only); saved with the weights.
        self.register_buffer("goal_scale", torch.ones(goal_dim))
        self.register_buffer("goal_low", torch.full((goal_dim,), -float("inf")))
        self.register_buffer("goal_high", torch.full((goal_dim,), float("inf")))
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, self.n_actions)  # logits, or the Gaussian's pre-tanh means
        self.head_kind = head_for(world)
        self.continuous = world.continuous
        self.action_shape = tuple(world.action_shape)
        if self.continuous:  # only here, so a categorical policy's weights stay as they were
            self.log_std = nn.Parameter(torch.full((self.n_actions,), -1.0))

    @property
    def needs_current(self) -> bool:
        """Whether callers must pass `current`, the goal embedding of the observation acted on."""
        return self.goal_input == "relative"

    @torch.no_grad()
    def fit_goal_scale(self, changes: np.ndarray) -> None:
        """Standardise relative goals by these training changes' (g - e(s)) per-feature spread and clip them to
        the range the changes span (`GOAL_CLIP_QUANTILES`)."""
        changes = torch.as_tensor(changes, dtype=torch.float32)
        self.goal_scale.copy_(changes.std(dim=0).clamp_min(MIN_GOAL_SCALE))
        scaled = changes / self.goal_scale
        self.goal_low.copy_(torch.quantile(scaled, GOAL_CLIP_QUANTILES[0], dim=0))
        self.goal_high.copy_(torch.quantile(scaled, GOAL_CLIP_QUANTILES[1], dim=0))

    def goal_features(self, goal: Tensor, current: Tensor | None) -> Tensor:
        """What the goal projection reads: g, or the clipped standardised change g - e(s) (see the module doc)."""
        goal = goal.float()
        if self.goal_input == "absolute":
            return goal
        if current is None:
            raise ValueError("this low-level policy reads goals relative to the present (goal_input 'relative'): "
                             "pass current=, the goal embedding of each observation")
        return torch.clamp((goal - current.float()) / self.goal_scale, self.goal_low, self.goal_high)

    def forward(self, obs: Tensor, goal: Tensor, unconditional: Tensor | None = None,
                current: Tensor | None = None) -> Tensor:
        """The head's output (B, A): action logits, or the Gaussian's pre-tanh means; rows where `unconditional`
        is True use the null goal instead of `goal`."""
        if unconditional is not None and bool(unconditional.all()):  # no goal is read: `current` may be absent
            features = self.null_goal.expand(obs.shape[0], -1)
        else:
            features = self.goal_features(goal, current)
            if unconditional is not None:
                features = torch.where(unconditional.bool()[:, None], self.null_goal.expand_as(features), features)
        return self.head(self.trunk(self.encoder(obs) + self.goal_proj(features)))

    def guided_logits(self, obs: Tensor, goal: Tensor, cond_scale: float, current: Tensor | None = None) -> Tensor:
        """(1 + s) * conditional - s * unconditional head outputs (logits or pre-tanh means), from one pass over
        [conditional; unconditional]."""
        b = obs.shape[0]
        unconditional = torch.arange(2 * b, device=obs.device) >= b
        logits = self(torch.cat([obs, obs]), torch.cat([goal, goal]), unconditional,
                      None if current is None else torch.cat([current, current]))
        conditional, null = logits[:b], logits[b:]
        return (1.0 + cond_scale) * conditional - cond_scale * null

    @torch.no_grad()
    def act(self, obs: Tensor, goal: Tensor, cond_scale: float = 0.0, deterministic: bool = False,
            generator: torch.Generator | None = None, unconditional: bool = False,
            current: Tensor | None = None) -> Tensor:
        """Actions: (B,) long ids, or (B, *action_shape) float32 in [-1, 1] for a Gaussian head.
        `unconditional=True` ignores `goal` (null goal, no guidance); `current`: see `needs_current`."""
        if unconditional:
            logits = self(obs, goal, torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device))
        elif cond_scale == 0.0:
            logits = self(obs, goal, current=current)  # guidance with s = 0 is exactly the conditional policy
        else:
            logits = self.guided_logits(obs, goal, cond_scale, current)
        if self.continuous:
            mean = torch.tanh(logits)
            if not deterministic:
                noise = torch.randn(mean.shape, generator=generator, device=mean.device)
                mean = mean + self.std() * noise
            return mean.clamp(-1.0, 1.0).reshape(-1, *self.action_shape)
        if deterministic:
            return logits.argmax(dim=1)
        return torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)

    def std(self) -> Tensor:
        """The Gaussian head's spread per action dimension (A,)."""
        return self.log_std.clamp(*LOG_STD_BOUNDS).exp()

    def action_nll(self, outputs: Tensor, actions: Tensor) -> Tensor:
        """Per-sample negative log-likelihood (B,) of recorded continuous actions under the Gaussian head."""
        dist = torch.distributions.Normal(torch.tanh(outputs), self.std())
        return -dist.log_prob(actions.reshape(len(actions), -1).float()).sum(dim=1)

    def config(self) -> dict[str, Any]:
        return {"format": LOW_LEVEL_FORMAT, "world": self.world.name, "obs_mode": self.obs_mode,
                "goal_dim": self.goal_dim, "n_actions": self.n_actions, "embedder": self.embedder,
                "hidden": self.hidden, "goal_input": self.goal_input, "head": self.head_kind, **self.meta}

    def save(self, out_dir: str | Path) -> None:
        """`weights.safetensors` + `config.json` (world, obs_mode, goal_dim, embedder, hidden, provenance, dataset_id)."""
        save_model(out_dir, self, self.config())

    @classmethod
    def load(cls, path: str | Path, embedder: dict | None = None) -> "LowLevelPolicy":
        """The saved policy in eval mode; refuses one trained with another goal embedder than `embedder`."""
        config = read_config(path, LOW_LEVEL_FORMAT, "low-level policy",
                             required=("world", "obs_mode", "goal_dim", "embedder", "hidden", "goal_input"))
        try:
            world = get_world(config["world"])
            policy = cls(world, config["obs_mode"], config["goal_dim"], config["embedder"], config["hidden"],
                         config["goal_input"])
        except (KeyError, ValueError) as e:
            raise ModelError(f"{path}/config.json describes no valid low-level policy: {e}") from e
        if embedder is not None and embedder != config["embedder"]:
            raise ModelError(f"{path}: the low-level policy was trained on goals of embedder {config['embedder']}, "
                             f"but the caller uses {embedder}")
        # Saved before heads were recorded: categorical, the only head there was.
        if config.get("head", "categorical") != policy.head_kind:
            raise ModelError(f"{path}: a {config.get('head', 'categorical')} action head, but world {world.name} needs "
                             f"a {policy.head_kind} one")
        if config.get("n_actions") != world.n_actions:
            raise ModelError(f"{path}: trained for {config.get('n_actions')} actions, world {world.name} has "
                             f"{world.n_actions}")
        load_weights(path, policy, config, "low-level policy")
        policy.meta = {k: v for k, v in config.items() if k not in _BUILD_KEYS}
        return policy.eval()
