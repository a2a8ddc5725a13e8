"""What every stage may ask of a world, independent of the game behind it.

Stages above `ptgm.envs` (data, goals, models, pretraining, RL) see a world only through a
`WorldSpec` (names and shapes) and the Gymnasium environments that `ptgm.envs.make_env` returns.
They never import a game package.

Every world environment follows Gymnasium: `reset(seed=...) -> (obs, info)`, five-tuple `step`.
Its `info` always carries, on reset and on every step:

- `symbolic`: the symbolic observation (see `WorldSpec.symbolic_layout`), even in pixel mode;
- `inventory`: uint8 vector of the item counts, in `WorldSpec.items` order (empty in a world without items);
- `achievements`: bool vector, which achievements were unlocked *on this step* (`WorldSpec.achievements` order);
- `unlocked`: bool vector, which achievements were unlocked at least once this episode;
- `player_pos`: int vector, the player's position in the world (only in worlds with a map).

The unwrapped env also has (what whole-episode evaluation, `ptgm.evaluate.skills`, reads):

- `world_seed`: the seed its current world was made from (the episode's seed when reset was given one), which
  evaluation records with each episode;
- `ending(terminated) -> dict`: how the episode that just ended, ended: its `cause` ("timeout" when it was not
  terminated, else the world's name for what ended it) and, in a world with nights, `dark` (ended in the dark);
- in a world with nights (`WorldSpec.day_length` > 0) only, `night_state() -> dict`: whether it is `dark` now,
  whether the player is `asleep` and `walled_in` (in a pocket no enemy can walk into), and the `stone` it holds
  (what walls are made of), for following the first night step by step.

A world whose state is a vector of measurements (Kitchen) reports that vector as its symbolic
observation: `WorldSpec.symbolic_dtype` says its dtype, `WorldSpec.state_slices` names its parts
(`WorldSpec.goal_slices`: those its goals are made of),
and its layout has no view and no items, only `extras`. A world with continuous actions says so
with `WorldSpec.action_shape`; its actions are float vectors in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

OBS_MODES = ("pixels", "symbolic")


def env_obs_mode(readers: Iterable[str]) -> str:
    """The observation mode to build envs in so that every reader (an iterable of OBS_MODES) is served:
    a pixel env also reports the symbolic view in `info["symbolic"]`, so pixels if anyone reads them."""
    return "pixels" if "pixels" in set(readers) else "symbolic"


@dataclass(frozen=True)
class SymbolicLayout:
    """How a flat symbolic observation vector is laid out."""

    view_shape: tuple[int, int]  # local grid around the player (ids), stored row-major first
    n_ids: int  # number of distinct ids a view cell can hold (materials + creatures)
    n_items: int  # inventory counts follow the view
    extras: tuple[str, ...] = ()  # scalar features after the inventory

    @property
    def view_size(self) -> int:
        return self.view_shape[0] * self.view_shape[1]

    @property
    def size(self) -> int:
        return self.view_size + self.n_items + len(self.extras)

    def split(self, symbolic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(view [..., H, W], inventory [..., n_items], extras [..., n_extras]) of a batch."""
        v = self.view_size
        view = symbolic[..., :v].reshape(*symbolic.shape[:-1], *self.view_shape)
        return view, symbolic[..., v : v + self.n_items], symbolic[..., v + self.n_items :]


@dataclass(frozen=True)
class WorldSpec:
    """Names and shapes of one world: all that data, goals, models and RL need to know."""

    name: str
    action_names: tuple[str, ...]
    achievements: tuple[str, ...]
    items: tuple[str, ...]
    item_max: int
    id_names: tuple[str, ...]  # name of each symbolic view id
    symbolic_layout: SymbolicLayout
    pixel_shape: tuple[int, ...]  # () when the world has no pixel observation
    default_max_steps: int
    # Published per-achievement success rates of human experts (percent), for side-by-side tables.
    human_rates: dict[str, float] = field(default_factory=dict)
    obs_modes: tuple[str, ...] = OBS_MODES  # the observation modes the world offers
    symbolic_dtype: str = "uint8"  # dtype of the symbolic observation ("float32" for a state vector)
    action_shape: tuple[int, ...] = ()  # () for discrete action ids; else the shape of a continuous action
    state_slices: dict[str, tuple[int, int]] = field(default_factory=dict)  # named [start, end) of the symbolic vector
    goal_slices: tuple[str, ...] = ()  # the state_slices whose concatenation is the `state` goal of a state-vector world
    # How whole episodes are summarised: "score" (Crafter's score, from each achievement's rate) or "count" (the
    # mean number unlocked per episode, for a world of a few subtasks each worth the same).
    summary: Literal["score", "count"] = "score"
    benchmark: tuple[str, ...] = ()  # achievements whose completion in one episode is the world's standard test
    day_length: int = 0  # steps in one day, in a world with nights (its env then offers `night_state()`); else 0

    @property
    def n_actions(self) -> int:
        """Number of discrete actions; for a continuous world, the number of action dimensions."""
        return len(self.action_names)

    @property
    def continuous(self) -> bool:
        return bool(self.action_shape)

    @property
    def state_vector(self) -> bool:
        """Whether the symbolic observation is a float vector of measurements (no grid view, no items)."""
        return self.symbolic_layout.view_size == 0 and np.dtype(self.symbolic_dtype).kind == "f"


def score_from_rates(rates_percent: dict[str, float] | np.ndarray) -> float:
    """Crafter score: geometric mean of the per-achievement success rates (percent), with a +1 offset."""
    r = np.asarray(list(rates_percent.values()) if isinstance(rates_percent, dict) else rates_percent, float)
    return float(np.exp(np.mean(np.log1p(r))) - 1.0)


class RandomPlayer:
    """Uniformly random actions: the simplest task-agnostic player, for any world."""

    name = "random"

    def __init__(self, seed: int, n_actions: int, action_shape: tuple[int, ...] = ()):
        self._rng = np.random.default_rng(seed)
        self._n = n_actions
        self._shape = action_shape  # () for discrete ids, else a continuous action in [-1, 1]

    def reset(self, env) -> None:
        pass

    def act(self, obs, info) -> int | np.ndarray:
        if self._shape:
            return self._rng.uniform(-1.0, 1.0, self._shape).astype(np.float32)
        return int(self._rng.integers(self._n))
