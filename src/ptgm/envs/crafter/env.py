"""Crafter as a Gymnasium environment with a pixel and a symbolic observation mode.

Symbolic observation (uint8 vector of `CRAFTER_SPEC.symbolic_layout.size` = 100 values):

- [0:81]   the 9x9 local semantic view centred on the player, row-major with rows = y (up to
           down) and columns = x (left to right), as on screen. Each cell is an id:
           0 outside the world, 1 water, 2 grass, 3 stone, 4 path, 5 sand, 6 tree, 7 lava,
           8 coal, 9 iron, 10 diamond, 11 table, 12 furnace, 13 player, 14 cow, 15 zombie,
           16 skeleton, 17 arrow, 18 plant (a creature hides the material under it);
- [81:97]  the 16 inventory counts (0..9) in Crafter's order: health, food, drink, energy,
           sapling, wood, stone, coal, iron, diamond, wood_pickaxe, stone_pickaxe, iron_pickaxe,
           wood_sword, stone_sword, iron_sword;
- [97]     facing: 0 left, 1 right, 2 up, 3 down (`do` and `place_*` act on the faced cell);
- [98]     daylight, 0 (night) .. 255 (day);
- [99]     sleeping, 0 or 1.

The pixel observation is Crafter's own 64x64x3 rendering (local view plus inventory bar).
"""

from __future__ import annotations

import collections
from typing import Any

import crafter
import gymnasium as gym
import numpy as np
from crafter import constants, engine

from ptgm.envs.base import OBS_MODES, SymbolicLayout, WorldSpec

VIEW = 9
# Daylight below which an ending counts as "in the dark" (the first night is darkest at step 210).
DARK = 0.5
# Steps in one of Crafter's days: the first night is over by then.
DAY_LENGTH = 300
_FACINGS = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}
_ID_NAMES = (
    "none", "water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron", "diamond",
    "table", "furnace", "player", "cow", "zombie", "skeleton", "arrow", "plant",
)

CRAFTER_SPEC = WorldSpec(
    name="crafter",
    action_names=tuple(constants.actions),
    achievements=tuple(constants.achievements),
    items=tuple(constants.items.keys()),
    item_max=9,
    id_names=_ID_NAMES,
    symbolic_layout=SymbolicLayout(
        view_shape=(VIEW, VIEW), n_ids=len(_ID_NAMES), n_items=len(constants.items),
        extras=("facing", "daylight", "sleeping"),
    ),
    pixel_shape=(64, 64, 3),
    default_max_steps=10000,
    # Hafner (2021), "Benchmarking the Spectrum of Agent Capabilities", human experts, percent.
    human_rates={
        "collect_coal": 86, "collect_diamond": 12, "collect_drink": 92, "collect_iron": 53,
        "collect_sapling": 67, "collect_stone": 100, "collect_wood": 100, "defeat_skeleton": 31,
        "defeat_zombie": 84, "eat_cow": 89, "eat_plant": 8, "make_iron_pickaxe": 26,
        "make_iron_sword": 22, "make_stone_pickaxe": 78, "make_stone_sword": 78,
        "make_wood_pickaxe": 100, "make_wood_sword": 45, "place_furnace": 32, "place_plant": 24,
        "place_stone": 90, "place_table": 100, "wake_up": 73,
    },
    day_length=DAY_LENGTH,
)

_LAYOUT = CRAFTER_SPEC.symbolic_layout
_SYMBOLIC_HIGH = np.concatenate([
    np.full(_LAYOUT.view_size, _LAYOUT.n_ids - 1), np.full(_LAYOUT.n_items, CRAFTER_SPEC.item_max),
    [3, 255, 1],
]).astype(np.uint8)


class _OrderedSet(dict):
    """The part of `set` Crafter uses for a chunk's objects, iterating in insertion order."""

    def add(self, item) -> None:
        self[item] = None

    def remove(self, item) -> None:
        del self[item]


class _OrderedWorld(engine.World):
    """Crafter's world, with chunks that list their creatures in insertion order.

    Crafter keeps each chunk's creatures in a set, whose order follows memory addresses, and picks
    which creature to despawn by index into it: trajectories then differ from run to run. Ordered
    chunks make a seed and actions determine the trajectory."""

    def reset(self, seed=None):
        super().reset(seed)
        self._chunks = collections.defaultdict(_OrderedSet)


class _Crafter(crafter.Env):
    """crafter.Env made deterministic, and cheap when no image is needed.

    The changes are methods of subclasses, not functions patched onto an instance, so that a deep
    copy of the env (eval-low copies its start states) steps and renders its own world."""

    def __init__(self, length: int, images: bool):
        super().__init__(length=length, seed=0)
        self._world.__class__ = _OrderedWorld  # the class, not the object: crafter's views hold this world
        self._images = images

    def render(self, size=None):
        # Crafter's night rendering draws noise from the world's RNG, so the world would evolve
        # differently with and without images. Rendering here leaves the RNG untouched: the same
        # seed and actions give the same trajectory in both modes (episodes replay either way).
        random = self._world.random
        state = random.get_state()
        try:
            return super().render(size)
        finally:
            random.set_state(state)

    def _obs(self):
        return self.render() if self._images else None


class CrafterEnv(gym.Env):
    """One Crafter world. `reset(seed=s)` always builds the same world for the same `s`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    spec_world = CRAFTER_SPEC

    def __init__(self, obs_mode: str = "symbolic", max_steps: int | None = None, render_mode: str | None = None):
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; valid: {', '.join(OBS_MODES)}")
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self.max_steps = max_steps or CRAFTER_SPEC.default_max_steps
        self.action_space = gym.spaces.Discrete(CRAFTER_SPEC.n_actions)
        if obs_mode == "pixels":
            self.observation_space = gym.spaces.Box(0, 255, CRAFTER_SPEC.pixel_shape, np.uint8)
        else:
            self.observation_space = gym.spaces.Box(np.zeros_like(_SYMBOLIC_HIGH), _SYMBOLIC_HIGH, dtype=np.uint8)
        # Rendering is most of Crafter's step time; the symbolic mode never needs the image.
        self.crafter = _Crafter(length=self.max_steps, images=obs_mode == "pixels" or render_mode is not None)
        # Worlds of the next unseeded resets, generated ahead by `prepare_resets`, and finished games to reuse for them.
        self._ready: collections.deque[_Crafter] = collections.deque()
        self._retired: list[_Crafter] = []
        self._world_seed: int | None = None
        self._counts = np.zeros(len(CRAFTER_SPEC.achievements), np.int64)
        self._unlocked = np.zeros(len(CRAFTER_SPEC.achievements), bool)

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or self._world_seed is None:
            self._world_seed = int(self.np_random.integers(2**31 - 1)) if seed is None else int(seed)
            self.crafter._seed = self._world_seed
            self.crafter._episode = 0
            self._retired.extend(self._ready)  # generated for the old seed
            self._ready.clear()
        if self._ready:  # generated ahead: the very world `self.crafter.reset()` would build now
            self._retired.append(self.crafter)
            self.crafter = self._ready.popleft()
            pixels = self.crafter._obs()
        else:
            pixels = self.crafter.reset()
        self._counts[:] = 0
        self._unlocked[:] = False
        return self._observe(pixels), self._info(np.zeros_like(self._unlocked))

    def step(self, action):
        pixels, reward, done, raw = self.crafter.step(int(action))
        counts = np.fromiter((raw["achievements"][a] for a in CRAFTER_SPEC.achievements), np.int64)
        events = counts > self._counts
        self._counts = counts
        self._unlocked |= events
        terminated = self.crafter._player.health <= 0
        truncated = bool(done and not terminated)
        obs = self._observe(pixels, raw["semantic"])
        return obs, float(reward), bool(terminated), truncated, self._info(events)

    def render(self):
        return self.crafter.render()

    def prepare_resets(self, episodes: int = 2) -> None:
        """Generate the worlds of the next `episodes` unseeded resets now, while nothing waits on this env.

        World generation is most of a reset's time, and a reset in one env holds up every env of a
        lockstep vector step; a vector env calls this while its learner updates. The worlds are the ones
        the resets would build (Crafter derives each from the env's seed and the episode's number)."""
        if self._world_seed is None:
            return
        while len(self._ready) < episodes:
            last = self._ready[-1] if self._ready else self.crafter
            game = self._retired.pop() if self._retired else _Crafter(self.max_steps, self.crafter._images)
            game._seed, game._episode = last._seed, last._episode
            game.reset()
            self._ready.append(game)

    # -- What the task layer may set ------------------------------------------------------------
    def set_inventory(self, items: dict[str, int]) -> None:
        inv = self.crafter._player.inventory
        for name, count in items.items():
            if name not in inv:
                raise KeyError(f"unknown item {name!r}; valid: {', '.join(CRAFTER_SPEC.items)}")
            inv[name] = int(np.clip(count, 0, CRAFTER_SPEC.item_max))

    def observe_again(self):
        """(obs, info) of the current state without stepping, e.g. after `set_inventory`."""
        pixels = self.crafter.render() if self.obs_mode == "pixels" else None
        return self._observe(pixels), self._info(np.zeros_like(self._unlocked))

    @property
    def world_seed(self) -> int | None:
        return self._world_seed

    def death_cause(self) -> str:
        """Best guess at what is killing the player now: lava, a zombie, an arrow or an empty stat.

        Read after the step that ended a life: "lava" (standing on it), "zombie" or "zombie(asleep)"
        (one within 2 cells, Manhattan), "arrow" (an arrow or skeleton that close), "starved:food+..."
        (the stats at 0), else "other"."""
        game = self.crafter
        player = game._player
        x, y = int(player.pos[0]), int(player.pos[1])
        if game._world[x, y][0] == "lava":
            return "lava"
        near = {type(o).__name__ for o in game._world._objects
                if o is not None and o is not player and abs(int(o.pos[0]) - x) + abs(int(o.pos[1]) - y) <= 2}
        if "Zombie" in near:
            return "zombie" + ("(asleep)" if player.sleeping else "")
        if "Arrow" in near or "Skeleton" in near:
            return "arrow"
        empty = [k for k in ("food", "drink", "energy") if player.inventory[k] == 0]
        return "starved:" + "+".join(empty) if empty else "other"

    def night_state(self) -> dict[str, Any]:
        """How the player is spending the night: whether it is `dark` (daylight below `DARK`), whether it is
        `asleep`, whether it is `walled_in` (a closed pocket no zombie or skeleton can walk into, as the scripted
        player builds one) and how much `stone` it holds (what walls are made of)."""
        from ptgm.envs.crafter.player.perception import World, walled_in

        snapshot = World(self.crafter)
        snapshot.refresh()
        player = self.crafter._player
        return {"dark": bool(self.crafter._world.daylight < DARK), "asleep": bool(player.sleeping),
                "walled_in": walled_in(snapshot), "stone": int(player.inventory["stone"])}

    def ending(self, terminated: bool) -> dict[str, Any]:
        """How the episode just ended: in the dark or not (daylight below `DARK`) and its `cause`, the
        `death_cause` when `terminated`, else "timeout"."""
        return {"dark": bool(self.crafter._world.daylight < DARK),
                "cause": self.death_cause() if terminated else "timeout"}

    # -- Observations ---------------------------------------------------------------------------
    def symbolic(self, semantic: np.ndarray | None = None) -> np.ndarray:
        player = self.crafter._player
        if semantic is None:
            semantic = self.crafter._sem_view()  # [x, y] ids, creatures drawn over materials
        x, y = player.pos
        r = VIEW // 2
        padded = np.pad(semantic, r, constant_values=0)
        view = padded[x : x + VIEW, y : y + VIEW].T  # rows = y, as on screen
        inventory = np.fromiter(player.inventory.values(), np.int64, len(CRAFTER_SPEC.items))
        extras = [_FACINGS[tuple(int(v) for v in player.facing)], int(round(self.crafter._world.daylight * 255)),
                  int(player.sleeping)]
        return np.concatenate([view.ravel(), np.clip(inventory, 0, 9), extras]).astype(np.uint8)

    def _observe(self, pixels: np.ndarray | None, semantic: np.ndarray | None = None) -> np.ndarray:
        self._symbolic = self.symbolic(semantic)
        if self.obs_mode == "pixels":
            return pixels
        return self._symbolic.copy()

    def _info(self, events: np.ndarray) -> dict[str, Any]:
        return {
            "symbolic": self._symbolic,
            "inventory": self._symbolic[_LAYOUT.view_size : _LAYOUT.view_size + _LAYOUT.n_items].copy(),
            "achievements": events.copy(),
            "unlocked": self._unlocked.copy(),
            "player_pos": np.asarray(self.crafter._player.pos, np.int64).copy(),
        }
