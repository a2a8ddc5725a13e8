"""Grid helpers for the scripted Crafter player: material ids, shortest paths, shifts.

Kept separate from the behaviour code so the numba kernels (compiled once and cached on
disk) stay small. Coordinates follow Crafter: arrays are indexed ``[x, y]``; ``x`` grows
to the right and ``y`` grows downwards.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

# Material ids, in the order of crafter's data.yaml (id 0 is "outside the map").
NONE, WATER, GRASS, STONE, PATH, SAND, TREE, LAVA, COAL, IRON, DIAMOND, TABLE, FURNACE = range(13)
# Ground a player with limited sight has not seen (not a Crafter material).
UNKNOWN = 255

# Actions, in the order of crafter's data.yaml.
NOOP, MOVE_LEFT, MOVE_RIGHT, MOVE_UP, MOVE_DOWN, DO, SLEEP = range(7)
PLACE_STONE, PLACE_TABLE, PLACE_FURNACE, PLACE_PLANT = range(7, 11)
MAKE_WOOD_PICKAXE, MAKE_STONE_PICKAXE, MAKE_IRON_PICKAXE = range(11, 14)
MAKE_WOOD_SWORD, MAKE_STONE_SWORD, MAKE_IRON_SWORD = range(14, 17)
NUM_ACTIONS = 17

# Direction k is reached with action MOVE_LEFT + k.
DIRS = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], np.int64)
DIR_INDEX = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}

INF = np.int32(1_000_000)

# Per-material lookup tables (indexable by a uint8 material map).
_LUT = 256


def lut(ids: list[int]) -> np.ndarray:
    table = np.zeros(_LUT, bool)
    table[ids] = True
    return table


WALKABLE = lut([GRASS, SAND, PATH])
# Tiles that keep zombies (walk on grass/sand/path) and arrows (fly over water/lava too,
# but skeletons live in tunnels far from water) away from a sleeper.
SAFE_WALL = lut([NONE, STONE, TREE, COAL, IRON, DIAMOND, TABLE, FURNACE, WATER])


@njit(cache=True)
def dijkstra(cost: np.ndarray, sx: int, sy: int) -> tuple[np.ndarray, np.ndarray]:
    """Shortest path costs from (sx, sy); ``cost[c] <= 0`` means c cannot be entered.

    Returns the distance map (INF where unreachable) and, per cell, the index of the
    direction of the last step into it (for backtracking).
    """
    w, h = cost.shape
    dist = np.full((w, h), 1_000_000, np.int32)
    parent = np.full((w, h), -1, np.int8)
    dist[sx, sy] = 0
    # Heap entries pack (distance, x, y) into one int so numba needs no tuple typing.
    heap = [np.int64(sx * 256 + sy)]
    while len(heap) > 0:
        key = heapq.heappop(heap)
        d = key >> 16
        x = (key >> 8) & 255
        y = key & 255
        if d > dist[x, y]:
            continue
        for k in range(4):
            nx = x + DIRS[k, 0]
            ny = y + DIRS[k, 1]
            if nx < 0 or ny < 0 or nx >= w or ny >= h:
                continue
            c = cost[nx, ny]
            if c <= 0:
                continue
            nd = d + c
            if nd < dist[nx, ny]:
                dist[nx, ny] = nd
                parent[nx, ny] = k
                heapq.heappush(heap, np.int64((nd << 16) | (nx << 8) | ny))
    return dist, parent


@njit(cache=True)
def first_step(parent: np.ndarray, sx: int, sy: int, gx: int, gy: int) -> int:
    """Direction index of the first move on the stored path from (sx, sy) to (gx, gy)."""
    x, y, k = gx, gy, -1
    for _ in range(parent.size):
        if x == sx and y == sy:
            return k
        k = parent[x, y]
        if k < 0:
            return -1
        x -= DIRS[k, 0]
        y -= DIRS[k, 1]
    return -1


def shift(arr: np.ndarray, dx: int, dy: int, fill) -> np.ndarray:
    """``out[x, y] = arr[x - dx, y - dy]`` (``fill`` where that lies outside the map)."""
    w, h = arr.shape
    out = np.full_like(arr, fill)
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    out[xd, yd] = arr[xs, ys]
    return out


def near(mask: np.ndarray, radius: int) -> np.ndarray:
    """Cells within Chebyshev distance ``radius`` of a True cell of ``mask``."""
    out = mask.copy()
    for _ in range(radius):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown2 = grown.copy()
        grown2[:, 1:] |= grown[:, :-1]
        grown2[:, :-1] |= grown[:, 1:]
        out = grown2
    return out


def box_count(mask: np.ndarray, radius: int) -> np.ndarray:
    """Number of True cells in the (2r+1)^2 box around every cell."""
    pad = np.pad(mask.astype(np.int32), radius + 1)
    c = pad.cumsum(0).cumsum(1)
    k = 2 * radius + 1
    w, h = mask.shape
    return c[k:k + w, k:k + h] - c[0:w, k:k + h] - c[k:k + w, 0:h] + c[0:w, 0:h]
