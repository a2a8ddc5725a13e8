"""How the scripted player gets somewhere: shortest paths over the tiles it knows, digging and bridging
on the way, and the stone pocket it shelters in. A base class of the player; it reads ``self.w``
(the perception snapshot), ``self.seen``, ``self.rng`` and ``self.target_spread``."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ptgm.envs.crafter.player import grid as nav
from ptgm.envs.crafter.player.grid import (
    COAL, DIAMOND, DIRS, DO, INF, IRON, LAVA, MOVE_LEFT, NOOP, PLACE_STONE, STONE, TREE, WATER,
)
from ptgm.envs.crafter.player.perception import World

ACT = -1  # returned by navigation when the player already faces / stands on its target


class Mover:
    w: World
    seen: np.ndarray
    rng: np.random.Generator
    target_spread: float

    def step_into(self, cell: tuple[int, int], k: int) -> int:
        """Action to get onto adjacent ``cell`` in direction k (digging/bridging as needed)."""
        w = self.w
        m = w.mat_at(cell)
        facing = w.facing == tuple(DIRS[k])
        if nav.WALKABLE[m]:
            return MOVE_LEFT + k
        if m == LAVA:
            return PLACE_STONE if facing and w.inv["stone"] else NOOP
        if m == WATER:
            return PLACE_STONE if facing else MOVE_LEFT + k
        if m in (TREE, STONE, COAL, IRON, DIAMOND):
            return DO if facing else MOVE_LEFT + k
        return MOVE_LEFT + k  # blocked by a creature: turning toward it is harmless

    def go_to(self, goal: tuple[int, int]) -> Optional[int]:
        """Next action on the way to ``goal``; ACT on arrival; None if unreachable."""
        w = self.w
        if w.pos == goal:
            return ACT
        if self.dist[goal] >= INF:
            return None
        k = nav.first_step(self.parent, w.pos[0], w.pos[1], goal[0], goal[1])
        if k < 0:
            return None
        nxt = (w.pos[0] + int(DIRS[k, 0]), w.pos[1] + int(DIRS[k, 1]))
        return self.step_into(nxt, k)

    def draw_target(self, targets: np.ndarray) -> Optional[tuple[int, int]]:
        """One of `targets`, drawn with weight exp(-(steps to it - steps to the nearest) / target_spread), the
        steps being to a cell next to the target (committing objectives face theirs); None if none is in reach."""
        steps = np.full(self.w.shape, INF)
        for k in range(4):
            steps = np.minimum(steps, nav.shift(self.dist, int(DIRS[k, 0]), int(DIRS[k, 1]), INF))
        steps = np.where(targets, steps, INF)
        reach = steps < INF
        if not reach.any():
            return None
        extra = (steps[reach] - steps[reach].min()).astype(float)
        weights = np.exp(-extra / self.target_spread)
        cells = np.flatnonzero(reach.ravel())
        i = int(cells[self.rng.choice(len(cells), p=weights / weights.sum())])
        return divmod(i, self.w.shape[1])

    def go_to_near(self, goal: tuple[int, int], radius: int) -> Optional[int]:
        mask = np.zeros(self.w.shape, bool)
        mask[max(0, goal[0] - radius): goal[0] + radius + 1, max(0, goal[1] - radius): goal[1] + radius + 1] = True
        return self.approach(mask, "stand", None, INF)

    def approach(
        self, targets: np.ndarray, kind: str, stand: Optional[np.ndarray], max_dist: int
    ) -> Optional[int]:
        """Progress toward acting on the nearest target; ACT when in position.

        face:  stand next to the target and turn to it (moving into a blocked tile turns).
        place: the target is walkable, so to face it without entering the player must
               arrive at the cell before it moving in its direction.
        stand: be on a target cell.
        """
        w = self.w
        px, py = w.pos
        dist = self.dist
        if kind == "stand":
            if targets[w.pos]:
                return ACT
            d = np.where(targets, dist, INF)
            i = int(d.argmin())
            goal = divmod(i, w.shape[1])
            if d[goal] >= min(INF, max_dist):
                return None
            return self.go_to(goal)
        ft = w.facing_tile()
        stand_here = stand is None or stand[w.pos]
        if w.inside(ft) and targets[ft] and stand_here:
            if kind == "face" or not w.occupied[ft]:
                return ACT
        free_or_me = self.cost == 1
        free_or_me[w.pos] = True
        stand_ok = stand if stand is not None else np.ones(w.shape, bool)
        best, best_d, best_goal = INF, -1, None
        for k in range(4):
            dx, dy = int(DIRS[k, 0]), int(DIRS[k, 1])
            if kind == "face":
                # Stand cell X - d (any reachable cell, digging into it if needed).
                ds = np.where(stand_ok, dist, INF)
                score = nav.shift(ds, dx, dy, INF) + 1
            else:
                # Stand cell X - d must be walkable; approach from X - 2d.
                ok = nav.shift(free_or_me & stand_ok, dx, dy, False)
                score = np.where(ok, nav.shift(dist, 2 * dx, 2 * dy, INF) + 1, INF)
            score = np.where(targets, score, INF)
            i = int(score.argmin())
            if score.flat[i] < best:
                best, best_d = int(score.flat[i]), k
                x, y = divmod(i, w.shape[1])
                best_goal = (x - dx, y - dy) if kind == "face" else (x - 2 * dx, y - 2 * dy)
        if best_goal is None or best >= min(INF, max_dist):
            return None
        if w.pos == best_goal:
            return MOVE_LEFT + best_d  # turn toward the target / step in front of it
        return self.go_to(best_goal)

    # -- shelter ----------------------------------------------------------------------

    def find_pocket(self) -> Optional[tuple]:
        """Cheapest 1x2 shelter reachable from here (see Sleep), or None."""
        w = self.w
        mat = w.mat
        inv = w.inv
        diggable = nav.lut([TREE] + ([STONE, COAL] if inv["wood_pickaxe"] else []))
        walk_free = nav.WALKABLE[mat] & ~w.occupied
        walk_free[w.pos] = True
        cell_ok = walk_free | diggable[mat]
        cell_cost = np.where(walk_free, 0, 3)
        gives_stone = (mat == STONE) & bool(inv["wood_pickaxe"])
        wall = nav.SAFE_WALL[mat]
        placeable = nav.WALKABLE[mat] & ~w.occupied
        best, best_plan = INF, None
        for gk in range(4):
            gx, gy = int(DIRS[gk, 0]), int(DIRS[gk, 1])
            sx, sy = abs(gy), abs(gx)  # perpendicular
            # Index everything by C1: C2 = C1 + g, P = C1 - g, E = C1 + 2g.
            c2_ok = nav.shift(cell_ok, -gx, -gy, False)
            p_dist = nav.shift(np.where(walk_free, self.dist, INF), gx, gy, INF)
            e_wall = nav.shift(wall, -2 * gx, -2 * gy, True)
            e_open = nav.shift(placeable, -2 * gx, -2 * gy, False)
            side_cost = np.zeros(w.shape, np.int32)
            side_bad = np.zeros(w.shape, bool)
            stones_needed = 1 + e_open.astype(np.int32)
            for ox, oy in ((sx, sy), (-sx, -sy)):
                for base in (0, 1):  # sides of C1 and of C2
                    s_wall = nav.shift(wall, -(ox + base * gx), -(oy + base * gy), True)
                    s_open = nav.shift(placeable, -(ox + base * gx), -(oy + base * gy), False)
                    side_bad |= ~(s_wall | s_open)
                    side_cost += np.where(s_open, 12, 0)
                    stones_needed += s_open.astype(np.int32)
            stones_have = inv["stone"] + gives_stone + nav.shift(gives_stone, -gx, -gy, False)
            ok = cell_ok & c2_ok & (e_wall | e_open) & ~side_bad & (p_dist < INF)
            ok &= stones_have >= stones_needed
            score = p_dist + cell_cost + nav.shift(cell_cost, -gx, -gy, 3) + side_cost
            score = np.where(ok, score, INF)
            i = int(score.argmin())
            if score.flat[i] < best:
                best = int(score.flat[i])
                c1 = divmod(i, w.shape[1])
                c2 = (c1[0] + gx, c1[1] + gy)
                sides = [
                    (c[0] + o[0], c[1] + o[1])
                    for c in (c1, c2)
                    for o in ((sx, sy), (-sx, -sy))
                ]
                best_plan = (c1, c2, (gx, gy), (c1[0] - gx, c1[1] - gy), (c2[0] + gx, c2[1] + gy), sides)
        if best > 80:
            return None
        return best_plan
