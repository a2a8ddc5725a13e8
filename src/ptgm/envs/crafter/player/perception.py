"""What the scripted player knows of the game each step: a snapshot of the raw world, cut to its sight."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from crafter import objects

from ptgm.envs.crafter.player import grid as nav
from ptgm.envs.crafter.player.grid import DIRS, LAVA

# global: the player reads the whole map (it still only targets tiles it has seen, but plans paths
# through unseen ground and watches creatures off screen); local: it knows only what is on screen now.
PERCEPTIONS = ("global", "local")

# Where the player sees tiles: the 9x7 local view of the default Crafter render.
VIEW_X, VIEW_Y = 4, 3
# Creatures are only noticed within this Chebyshev distance (about one screen).
CREATURE_SIGHT = 6


class World:
    """Per-step snapshot of what the player needs from the raw game.

    With ``sight`` = (rx, ry), everything beyond that box around the player reads as ``UNKNOWN``
    ground with no creatures: the player then decides on what its clone will observe."""

    def __init__(self, game: Any, sight: Optional[tuple[int, int]] = None) -> None:
        self.game = game
        self.world = game._world
        self.shape = tuple(self.world.area)
        self.sight = sight

    def refresh(self) -> None:
        w = self.world
        p = self.game._player
        self.player = p
        self.pos = (int(p.pos[0]), int(p.pos[1]))
        self.facing = (int(p.facing[0]), int(p.facing[1]))
        self.inv = p.inventory
        self.ach = p.achievements
        self.mat = w._mat_map
        self.occupied = w._obj_map > 0
        if self.sight is not None:
            box = self.box()
            mat = np.full(self.shape, nav.UNKNOWN, self.mat.dtype)
            mat[box] = self.mat[box]
            occupied = np.zeros(self.shape, bool)
            occupied[box] = self.occupied[box]
            self.mat, self.occupied = mat, occupied
        self.cows, self.zombies, self.skeletons, self.plants = [], [], [], []
        for obj in w._objects:
            if obj is None or obj is p:
                continue
            if self.sight is not None and (abs(int(obj.pos[0]) - self.pos[0]) > self.sight[0]
                                           or abs(int(obj.pos[1]) - self.pos[1]) > self.sight[1]):
                continue
            if isinstance(obj, objects.Zombie):
                self.zombies.append(obj)
            elif isinstance(obj, objects.Cow):
                self.cows.append(obj)
            elif isinstance(obj, objects.Skeleton):
                self.skeletons.append(obj)
            elif isinstance(obj, objects.Plant):
                self.plants.append(obj)

    def box(self) -> tuple[slice, slice]:
        """The cells within sight (the whole map when sight is unlimited)."""
        if self.sight is None:
            return slice(None), slice(None)
        (x, y), (rx, ry) = self.pos, self.sight
        return slice(max(0, x - rx), x + rx + 1), slice(max(0, y - ry), y + ry + 1)

    def facing_tile(self) -> tuple[int, int]:
        return self.pos[0] + self.facing[0], self.pos[1] + self.facing[1]

    def inside(self, c: tuple[int, int]) -> bool:
        return 0 <= c[0] < self.shape[0] and 0 <= c[1] < self.shape[1]

    def mat_at(self, c: tuple[int, int]) -> int:
        return int(self.mat[c]) if self.inside(c) else nav.NONE

    def free(self, c: tuple[int, int]) -> bool:
        """Walkable by the player right now (lava is excluded on purpose)."""
        return self.inside(c) and nav.WALKABLE[self.mat[c]] and not self.occupied[c]


def walled_in(w: World) -> bool:
    """True if no zombie or skeleton can walk up to the player: it stands in a closed pocket of at
    most 6 walkable cells with no creature inside."""
    stack, seen = [w.pos], {w.pos}
    while stack:
        c = stack.pop()
        for k in range(4):
            n = (c[0] + int(DIRS[k, 0]), c[1] + int(DIRS[k, 1]))
            if n in seen or not w.inside(n):
                continue
            m = w.mat_at(n)
            if nav.WALKABLE[m] or m == LAVA or m == nav.UNKNOWN:
                seen.add(n)
                stack.append(n)
                if len(seen) > 6:
                    return False
    return not any(tuple(int(v) for v in o.pos) in seen for o in w.zombies + w.skeletons)


def cells_mask(shape: tuple[int, int], objs: list, pos: tuple[int, int], sight: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for o in objs:
        if max(abs(int(o.pos[0]) - pos[0]), abs(int(o.pos[1]) - pos[1])) <= sight:
            mask[int(o.pos[0]), int(o.pos[1])] = True
    return mask


# --------------------------------------------------------------------------------------
# Objectives. ``step`` returns an action, or None when the objective is over (done or
# given up); the player then draws a new one.
# --------------------------------------------------------------------------------------
