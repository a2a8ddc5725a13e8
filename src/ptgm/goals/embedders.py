"""Goal embedders: turn observations into fixed-length goal vectors, batched.

An embedder is selected by name and its `settings()` are recorded in every artefact built on it
(codebook, low-level policy, prior), which refuse to load with a different one.

`state` (the default for symbolic worlds) is a normalised vector, in [0, 1], of what defines
progress and place, computed from the symbolic observation alone (layout: `WorldSpec.symbolic_layout`):

- inventory: each item count / item_max (16 values for Crafter);
- view: the fraction of the local view's cells holding each id (n_ids values: water, grass,
  stone, ... cow, zombie ...), i.e. what kind of place the player is in;
- near: for each id, whether it is within one cell of the player (the 3x3 neighbourhood,
  centre excluded: n_ids values), i.e. what the player is next to and can act on;
- daylight / 255 and sleeping (2 values), when the world reports them.

For Crafter that is 16 + 19 + 19 + 2 = 56 values. `StateEmbedder.blocks` names the four parts
(`inventory`, `view`, `near`, `time`), so that measures can say which part of a goal was reached.

In a world whose symbolic observation is a float state vector (`WorldSpec.state_vector`: Kitchen),
`state` is `StateSliceEmbedder`: named parts of that vector (`WorldSpec.state_slices`), by default the
world's `goal_slices` (Kitchen: the 9 robot joint positions and the 21 object positions, as PTGM-Kitchen's
goal holds the joints and objects); `state:PART+PART` picks others, e.g. `state:objects`. Why the arm is
in the goal: objects stand still while the arm approaches them, so a goal of objects alone a few steps ahead
equals the present and cannot say where to go; the arm's pose ahead does. Its `blocks` name the parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ptgm.config import ConfigError
from ptgm.envs import WorldSpec

EMBEDDERS = ("state", "learned")


class GoalEmbedder(Protocol):
    name: str
    dim: int
    needs: str  # which observation it reads: "symbolic" or "pixels"
    blocks: dict[str, slice]  # named parts of the goal vector, if it has any ({} for a learned embedding)

    def settings(self) -> dict[str, Any]: ...

    def embed(self, obs: np.ndarray) -> np.ndarray:
        """(B, ...) observations of kind `needs` -> (B, dim) float32 goals."""
        ...


class StateEmbedder:
    name = "state"
    needs = "symbolic"

    def __init__(self, world: WorldSpec):
        self.world = world
        self.layout = world.symbolic_layout
        self._extras = [i for i, e in enumerate(self.layout.extras) if e in ("daylight", "sleeping")]
        self._extra_scale = np.array([255.0 if self.layout.extras[i] == "daylight" else 1.0 for i in self._extras],
                                     np.float32)
        self.dim = self.layout.n_items + 2 * self.layout.n_ids + len(self._extras)
        items, ids = self.layout.n_items, self.layout.n_ids
        self.blocks = {"inventory": slice(0, items), "view": slice(items, items + ids),
                       "near": slice(items + ids, items + 2 * ids)}
        if self._extras:
            self.blocks["time"] = slice(items + 2 * ids, self.dim)

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "world": self.world.name, "dim": self.dim}

    def embed(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.layout.size:
            raise ValueError(f"state embedder expects (B, {self.layout.size}) symbolic observations, got {obs.shape}")
        view, inventory, extras = self.layout.split(obs)
        n_ids = self.layout.n_ids
        onehot = np.eye(n_ids, dtype=np.float32)[view.astype(np.int64)]  # (B, H, W, n_ids)
        composition = onehot.mean(axis=(1, 2))
        cy, cx = view.shape[1] // 2, view.shape[2] // 2
        top, left = max(cy - 1, 0), max(cx - 1, 0)  # a view one cell high or wide has no row or column beyond
        around = onehot[:, top : cy + 2, left : cx + 2].copy()
        around[:, cy - top, cx - left] = 0.0  # the player's own cell
        near = around.max(axis=(1, 2))
        parts = [inventory.astype(np.float32) / self.world.item_max, composition, near]
        if self._extras:
            parts.append(extras[:, self._extras].astype(np.float32) / self._extra_scale)
        return np.concatenate(parts, axis=1).astype(np.float32)


class StateSliceEmbedder:
    """`state` in a state-vector world: named slices (`WorldSpec.state_slices`) of the symbolic observation, as
    they are, one after another; by default the world's `goal_slices`."""

    name = "state"
    needs = "symbolic"

    def __init__(self, world: WorldSpec, parts: tuple[str, ...] | None = None):
        parts = tuple(world.goal_slices if parts is None else parts)
        if not parts:
            raise ValueError(f"world {world.name!r} names no goal slices; choose them: --embedding state:PART+PART "
                             f"(its parts: {', '.join(world.state_slices) or 'none'})")
        unknown = [p for p in parts if p not in world.state_slices]
        if unknown or len(set(parts)) < len(parts):
            raise ValueError(f"--embedding state:{'+'.join(parts)}: each part once, out of world {world.name!r}'s "
                             f"state slices: {', '.join(world.state_slices) or 'none'}")
        self.world, self.parts = world, parts
        self.bounds = [world.state_slices[p] for p in parts]
        self._index = np.concatenate([np.arange(a, b) for a, b in self.bounds])
        self.dim = len(self._index)
        self.size = world.symbolic_layout.size
        # With more than one part, distances per part say whether a goal's arm pose or its objects were reached.
        self.blocks: dict[str, slice] = {}
        if len(parts) > 1:
            ends = np.cumsum([b - a for a, b in self.bounds])
            self.blocks = {p: slice(int(e - (b - a)), int(e)) for p, (a, b), e in zip(parts, self.bounds, ends)}

    def settings(self) -> dict[str, Any]:
        # The slices' bounds too: a world whose layout moved would otherwise pass a codebook of other features.
        # One part keeps the keys it was first recorded with, so artefacts built on it still load.
        if len(self.parts) == 1:
            return {"name": self.name, "world": self.world.name, "dim": self.dim, "part": self.parts[0],
                    "slice": list(self.bounds[0])}
        return {"name": self.name, "world": self.world.name, "dim": self.dim, "parts": list(self.parts),
                "slices": [list(b) for b in self.bounds]}

    def embed(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.size:
            raise ValueError(f"state embedder expects (B, {self.size}) state vectors, got {obs.shape}")
        return obs[:, self._index].astype(np.float32)


def check_embedding(name: str) -> None:
    """ConfigError unless `name` is an embedder: `state`, `state:PART+PART` (slices of a state vector) or `learned`."""
    if name in EMBEDDERS or (name.startswith("state:") and all(name[len("state:"):].split("+"))):
        return
    raise ConfigError(f"--embedding {name!r} is unknown; valid: {', '.join(EMBEDDERS)}, or state:PART+PART "
                      f"(named slices of a state-vector world)")


def embedding_name(settings: dict[str, Any]) -> str:
    """The --embedding value that rebuilds the embedder recorded by `settings()` (`state:PARTS` for slices)."""
    if settings.get("name") == "state" and ("parts" in settings or "part" in settings):
        return "state:" + "+".join(settings.get("parts") or [settings["part"]])
    return str(settings.get("name"))


def make_embedder(name: str, world: WorldSpec, encoder_dir: str | Path | None = None) -> GoalEmbedder:
    """The embedder called `name` (`check_embedding`); `learned` needs the directory `ptgm train-encoder` wrote."""
    if name == "state":
        return StateSliceEmbedder(world) if world.state_vector else StateEmbedder(world)
    if name.startswith("state:"):
        if not world.state_vector:
            raise ValueError(f"--embedding {name}: world {world.name!r} has no state vector to slice; use state")
        return StateSliceEmbedder(world, tuple(name[len("state:"):].split("+")))
    if name == "learned":
        if encoder_dir is None:
            raise ValueError("the 'learned' embedder needs --encoder DIR (made by `ptgm train-encoder`)")
        from ptgm.goals.learned import LearnedEmbedder

        return LearnedEmbedder.load(encoder_dir, world)
    raise ValueError(f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}")


def embed_episode(embedder: GoalEmbedder, arrays: dict[str, np.ndarray], batch: int = 4096) -> np.ndarray:
    """Goal embeddings of every observation of one episode (T+1, dim)."""
    obs = arrays["obs_symbolic" if embedder.needs == "symbolic" else "obs_pixels"]
    return np.concatenate([embedder.embed(obs[i : i + batch]) for i in range(0, len(obs), batch)])
