"""The low-level goal-conditioned policy pi_L(a | s, g) with classifier-free guidance.

Steve-1's recipe on a small network: the goal is projected and *added* to the observation
features, an MLP and a categorical head over the world's actions follow. Training replaces the
goal by a learned null goal with probability `p_uncond`, so one network is both the conditional
and the unconditional policy; at run time

    logits = (1 + cond_scale) * conditional - cond_scale * unconditional

(one forward pass over the batch [conditional; unconditional]).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ptgm.envs import WorldSpec, get_world
from ptgm.models.artifacts import ModelError, load_weights, read_config, save_model
from ptgm.models.encoders import make_obs_encoder

LOW_LEVEL_FORMAT = "ptgm-low-level/1"
# config.json keys that describe the network itself; the rest is provenance kept in `meta`.
_BUILD_KEYS = ("format", "world", "obs_mode", "goal_dim", "n_actions", "embedder", "hidden", "weights_sha256")


class LowLevelPolicy(nn.Module):
    """pi_L(a | s, g): obs encoder + goal projection added to its features + MLP + categorical head.

    A learned null goal (`null_goal`) stands in for the goal in unconditional rows."""

    def __init__(self, world: WorldSpec, obs_mode: str, goal_dim: int, embedder: dict, hidden: int = 256):
        super().__init__()
        self.world = world
        self.obs_mode = obs_mode
        self.goal_dim = int(goal_dim)
        self.n_actions = world.n_actions
        self.embedder = dict(embedder)
        self.hidden = int(hidden)
        self.meta: dict[str, Any] = {}  # provenance, dataset_id, metrics: written into config.json by save()
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.goal_proj = nn.Sequential(nn.Linear(goal_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.null_goal = nn.Parameter(torch.zeros(goal_dim))
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, self.n_actions)

    def forward(self, obs: Tensor, goal: Tensor, unconditional: Tensor | None = None) -> Tensor:
        """Action logits (B, A); rows where `unconditional` is True use the null goal instead of `goal`."""
        goal = goal.float()
        if unconditional is not None:
            goal = torch.where(unconditional.bool()[:, None], self.null_goal.expand_as(goal), goal)
        features = self.encoder(obs) + self.goal_proj(goal)
        return self.head(self.trunk(features))

    def guided_logits(self, obs: Tensor, goal: Tensor, cond_scale: float) -> Tensor:
        """(1 + s) * conditional - s * unconditional logits, from one pass over [conditional; unconditional]."""
        b = obs.shape[0]
        unconditional = torch.arange(2 * b, device=obs.device) >= b
        logits = self(torch.cat([obs, obs]), torch.cat([goal, goal]), unconditional)
        conditional, null = logits[:b], logits[b:]
        return (1.0 + cond_scale) * conditional - cond_scale * null

    @torch.no_grad()
    def act(self, obs: Tensor, goal: Tensor, cond_scale: float = 0.0, deterministic: bool = False,
            generator: torch.Generator | None = None, unconditional: bool = False) -> Tensor:
        """Actions (B,) long. `unconditional=True` ignores `goal` (null goal, no guidance)."""
        if unconditional:
            logits = self(obs, goal, torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device))
        elif cond_scale == 0.0:
            logits = self(obs, goal)  # guidance with s = 0 is exactly the conditional policy
        else:
            logits = self.guided_logits(obs, goal, cond_scale)
        if deterministic:
            return logits.argmax(dim=1)
        return torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)

    def config(self) -> dict[str, Any]:
        return {"format": LOW_LEVEL_FORMAT, "world": self.world.name, "obs_mode": self.obs_mode,
                "goal_dim": self.goal_dim, "n_actions": self.n_actions, "embedder": self.embedder,
                "hidden": self.hidden, **self.meta}

    def save(self, out_dir: str | Path) -> None:
        """`weights.safetensors` + `config.json` (world, obs_mode, goal_dim, embedder, hidden, provenance, dataset_id)."""
        save_model(out_dir, self, self.config())

    @classmethod
    def load(cls, path: str | Path, embedder: dict | None = None) -> "LowLevelPolicy":
        """The saved policy in eval mode; refuses one trained with another goal embedder than `embedder`."""
        config = read_config(path, LOW_LEVEL_FORMAT, "low-level policy")
        try:
            world = get_world(config["world"])
            policy = cls(world, config["obs_mode"], config["goal_dim"], config["embedder"], config["hidden"])
        except (KeyError, ValueError) as e:
            raise ModelError(f"{path}/config.json describes no valid low-level policy: {e}") from e
        if embedder is not None and embedder != config["embedder"]:
            raise ModelError(f"{path}: the low-level policy was trained on goals of embedder {config['embedder']}, "
                             f"but the caller uses {embedder}")
        if config.get("n_actions") != world.n_actions:
            raise ModelError(f"{path}: trained for {config.get('n_actions')} actions, world {world.name} has "
                             f"{world.n_actions}")
        load_weights(path, policy, config, "low-level policy")
        policy.meta = {k: v for k, v in config.items() if k not in _BUILD_KEYS}
        return policy.eval()
