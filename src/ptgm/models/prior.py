"""The goal prior pi_P(i | s): which code a player is likely to pursue next from this state.

A classifier over the codebook's indices, trained with cross-entropy on hindsight-relabelled
codes. It is tied to one codebook: its config records the codebook's fingerprint and loading it
next to another codebook is an error. Its two parts, `encoder` and `head`, have the same shapes
as the high-level PPO policy's, so that policy can start from the prior's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from torch import Tensor, nn

from ptgm.envs import WorldSpec, get_world
from ptgm.models.artifacts import ModelError, load_weights, read_config, save_model
from ptgm.models.encoders import make_obs_encoder

PRIOR_FORMAT = "ptgm-goal-prior/1"
_BUILD_KEYS = ("format", "world", "obs_mode", "n_codes", "codebook_fingerprint", "hidden", "weights_sha256")


class CodebookIdentity(Protocol):
    """What the prior checks of the codebook it is loaded beside (a `ptgm.goals.codebook.Codebook`)."""

    n_codes: int
    fingerprint: str


class GoalPrior(nn.Module):
    """pi_P(i | s): `encoder` (make_obs_encoder(obs_mode, world, hidden)) and `head` (Linear(hidden, n_codes))."""

    def __init__(self, world: WorldSpec, obs_mode: str, n_codes: int, codebook_fingerprint: str, hidden: int = 256):
        super().__init__()
        self.world = world
        self.obs_mode = obs_mode
        self.n_codes = int(n_codes)
        self.codebook_fingerprint = codebook_fingerprint
        self.hidden = int(hidden)
        self.meta: dict[str, Any] = {}  # provenance, dataset_id, metrics: written into config.json by save()
        self.encoder = make_obs_encoder(obs_mode, world, hidden)
        self.head = nn.Linear(hidden, self.n_codes)

    def forward(self, obs: Tensor) -> Tensor:
        """Code logits (B, n_codes)."""
        return self.head(self.encoder(obs))

    def config(self) -> dict[str, Any]:
        return {"format": PRIOR_FORMAT, "world": self.world.name, "obs_mode": self.obs_mode, "n_codes": self.n_codes,
                "codebook_fingerprint": self.codebook_fingerprint, "hidden": self.hidden, **self.meta}

    def save(self, out_dir: str | Path) -> None:
        save_model(out_dir, self, self.config())

    @classmethod
    def load(cls, path: str | Path, codebook: CodebookIdentity) -> "GoalPrior":
        """The saved prior in eval mode; a ModelError when `codebook` is not the one it was trained on."""
        config = read_config(path, PRIOR_FORMAT, "goal prior",
                             required=("world", "obs_mode", "n_codes", "codebook_fingerprint", "hidden"))
        try:
            world = get_world(config["world"])
            prior = cls(world, config["obs_mode"], config["n_codes"], config["codebook_fingerprint"], config["hidden"])
        except (KeyError, ValueError) as e:
            raise ModelError(f"{path}/config.json describes no valid goal prior: {e}") from e
        if prior.n_codes != codebook.n_codes or prior.codebook_fingerprint != codebook.fingerprint:
            raise ModelError(
                f"{path}: the goal prior was trained on a codebook of {prior.n_codes} codes with fingerprint "
                f"{prior.codebook_fingerprint}, but the codebook given has {codebook.n_codes} codes with fingerprint "
                f"{codebook.fingerprint}; pass the codebook it was trained with or train the prior again")
        load_weights(path, prior, config, "goal prior")
        prior.meta = {k: v for k, v in config.items() if k not in _BUILD_KEYS}
        return prior.eval()
