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
`state` is `StateSliceEmbedder`: one named part of that vector (`WorldSpec.state_slices`), by default
`objects`, the 21 object joint positions PTGM-Kitchen uses as its goal. A goal then says where every
object should be, not where the arm is: any arm pose with the kitchen in that state reaches it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

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


GOAL_STATE_SLICE = "objects"  # the part of a state vector that `state` takes as the goal (PTGM-Kitchen's)


class StateSliceEmbedder:
    """`state` in a state-vector world: the named slice `part` of the symbolic observation, as it is."""

    name = "state"
    needs = "symbolic"
    blocks: dict[str, slice] = {}  # one part only: the whole goal

    def __init__(self, world: WorldSpec, part: str = GOAL_STATE_SLICE):
        if part not in world.state_slices:
            raise ValueError(f"world {world.name!r} names no state slice {part!r}; it has: "
                             f"{', '.join(world.state_slices) or 'none'}")
        self.world, self.part = world, part
        self.start, self.end = world.state_slices[part]
        self.dim = self.end - self.start
        self.size = world.symbolic_layout.size

    def settings(self) -> dict[str, Any]:
        # The slice's bounds too: a world whose layout moved would otherwise pass a codebook of other features.
        return {"name": self.name, "world": self.world.name, "dim": self.dim, "part": self.part,
                "slice": [self.start, self.end]}

    def embed(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.size:
            raise ValueError(f"state embedder expects (B, {self.size}) state vectors, got {obs.shape}")
        return obs[:, self.start : self.end].astype(np.float32)


def make_embedder(name: str, world: WorldSpec, encoder_dir: str | Path | None = None) -> GoalEmbedder:
    """The embedder called `name`; `learned` needs the directory `ptgm train-encoder` wrote."""
    if name == "state":
        return StateSliceEmbedder(world) if world.state_vector else StateEmbedder(world)
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
