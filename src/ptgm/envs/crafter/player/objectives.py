"""The scripted player's objectives: one at a time, each returns the next action or None when it is over.

``step`` returns an action, or None when the objective is done or given up; the player then draws a new one.
"""

from __future__ import annotations

from typing import Callable, Optional, Protocol

import numpy as np
from crafter import constants

from ptgm.envs.crafter.player import grid as nav
from ptgm.envs.crafter.player.grid import (
    COAL, DIAMOND, DO, INF, IRON, LAVA, MOVE_LEFT, NOOP, PLACE_STONE, SLEEP, STONE, TREE, GRASS,
)
from ptgm.envs.crafter.player.moves import ACT
from ptgm.envs.crafter.player.perception import World

HEALED = 8  # health at which a hurt player leaves its shelter
WAIT_R = 6  # a rested player stays walled in while a zombie is this close (Manhattan)


class Player(Protocol):
    """What an objective may read of, or ask of, the player running it (`ScriptedPlayer`)."""

    w: World  # this step's perception
    t: int  # steps played this episode
    seen: np.ndarray  # cells it may target (seen on screen)
    dist: np.ndarray  # shortest-path cost to every cell this step
    rng: np.random.Generator
    greedy: bool  # take the heaviest option instead of drawing one
    target_spread: float
    hurt_at: int
    no_shelter_until: int

    def approach(self, targets: np.ndarray, kind: str, stand: Optional[np.ndarray], max_dist: int) -> Optional[int]: ...
    def go_to(self, goal: tuple[int, int]) -> Optional[int]: ...
    def go_to_near(self, goal: tuple[int, int], radius: int) -> Optional[int]: ...
    def step_into(self, cell: tuple[int, int], k: int) -> int: ...
    def draw_target(self, targets: np.ndarray) -> Optional[tuple[int, int]]: ...
    def pick(self, weights: np.ndarray) -> int: ...
    def find_pocket(self) -> Optional[tuple]: ...
    def critical(self) -> int: ...
    def is_night(self) -> bool: ...
    def enclosed(self) -> bool: ...
    def zombie_near(self, r: int) -> bool: ...
    def _collect(self, name: str, mat: int, goal: int, explore_for: str) -> "Objective": ...



class Objective:
    name = "objective"
    timeout = 300

    def start(self, pl: Player) -> None:
        self.t0 = pl.t

    def step(self, pl: Player) -> Optional[int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Interact(Objective):
    """Reach a tile (face it, or stand on it) and press ``action`` until ``done``.

    kind: "face" for tiles the player cannot enter (trees, water, cows); "place" for
    walkable tiles it must face without stepping on them (placing, collecting saplings);
    "stand" to stand on a cell (crafting next to a table).
    If nothing is visible, it explores (``explore_for``) until a target shows up.
    commit: for targets that stay put and are faced (materials), a player with ``target_spread`` > 0
    draws one target and keeps to it until it is gone or out of reach, instead of heading for the nearest.
    """

    def __init__(
        self,
        name: str,
        targets: Callable[[Player], np.ndarray],
        action: int,
        done: Callable[[Player], bool],
        kind: str = "face",
        stand: Optional[Callable[[Player], np.ndarray]] = None,
        explore_for: str = "any",
        timeout: int = 300,
        max_dist: int = INF,
        commit: bool = False,
    ) -> None:
        self.name, self.targets, self.action, self.done = name, targets, action, done
        self.kind, self.stand, self.explore_for = kind, stand, explore_for
        self.timeout, self.max_dist, self.commit = timeout, max_dist, commit
        self.explorer: Optional[Explore] = None
        self.chosen: Optional[tuple[int, int]] = None

    def step(self, pl: Player) -> Optional[int]:
        if self.done(pl):
            return None
        targets = self.targets(pl)
        stand = self.stand(pl) if self.stand is not None else None
        a = None
        if self.commit and pl.target_spread > 0 and targets.any():
            if self.chosen is None or not targets[self.chosen]:
                self.chosen = pl.draw_target(targets)
            if self.chosen is not None:
                only = np.zeros_like(targets)
                only[self.chosen] = True
                a = pl.approach(only, self.kind, stand, self.max_dist)
                if a is None:
                    self.chosen = None  # out of reach after all: fall back to the nearest this step
        if a is None:
            a = pl.approach(targets, self.kind, stand, self.max_dist) if targets.any() else None
        if a is None:
            if self.explore_for == "none":
                return None
            if self.explorer is None:
                self.explorer = Explore(self.explore_for)
                self.explorer.start(pl)
            return self.explorer.step(pl)
        self.explorer = None
        return self.action if a == ACT else a


class Explore(Objective):
    """Walk to an unseen tile (biased toward ``purpose``); wander once the map is known."""

    name = "explore"
    timeout = 200

    def __init__(self, purpose: str = "any", timeout: int = 200) -> None:
        self.purpose = purpose
        self.timeout = timeout
        self.goal: Optional[tuple[int, int]] = None
        self.goal_unseen = False

    def _pick(self, pl: Player) -> Optional[tuple[int, int]]:
        reach = pl.dist < INF
        cand = reach & ~pl.seen & (pl.dist >= 6)
        if not cand.any():
            cand = reach & ~pl.seen
        weights = np.exp(-pl.dist / 20.0)
        if self.purpose == "mountain":
            rock = pl.seen & nav.lut([STONE, COAL, IRON, DIAMOND, LAVA])[pl.w.mat]
            weights = weights * (0.05 + nav.box_count(rock, 4))
        elif self.purpose == "grass":
            grass = pl.seen & nav.lut([GRASS, TREE])[pl.w.mat]
            weights = weights * (0.05 + nav.box_count(grass, 4))
        if not cand.any():
            # Everything is known: wander somewhere a bit away.
            cand = reach & (pl.dist >= 8)
            weights = np.ones(pl.w.shape)
            if not cand.any():
                return None
        w = np.where(cand, weights, 0.0).ravel()
        if w.sum() <= 0:
            w = cand.ravel().astype(float)
        return divmod(pl.pick(w), pl.w.shape[1])

    def step(self, pl: Player) -> Optional[int]:
        g = self.goal
        # Re-pick on arrival, when the goal became unreachable, or once an unseen goal
        # is close and on screen (walking the rest of the way would teach nothing).
        close = g is not None and abs(g[0] - pl.w.pos[0]) + abs(g[1] - pl.w.pos[1]) <= 3
        if g is None or pl.w.pos == g or pl.dist[g] >= INF or (self.goal_unseen and pl.seen[g] and close):
            self.goal = self._pick(pl)
            if self.goal is None:
                return None
            self.goal_unseen = not pl.seen[self.goal]
        a = pl.go_to(self.goal)
        return a if a not in (None, ACT) else None


class Sleep(Objective):
    """Wall itself into a 2-cell pocket with stone, then sleep until energy is full.

    Facing a walkable tile is only possible right after stepping toward it, so the
    pocket is a straight 1x2 corridor: enter from one end P, walk to the far cell C2 and
    seal its far end E, step back to C1 (now facing P) and seal P. Side walls are natural
    obstacles, or stones placed from outside first.
    """

    timeout = 500
    name = "sleep"

    def start(self, pl: Player) -> None:
        super().start(pl)
        self.plan: Optional[tuple] = None
        self.visited_c2 = False
        self.slept = False
        self.fallback: Optional[Objective] = None
        # Hurt players rest walled in until healed: regeneration is slow (one point per
        # ~25 steps awake, twice that asleep) and every zombie met costs two.
        self.heal = pl.w.inv["health"] <= pl.hurt_at

    def step(self, pl: Player) -> Optional[int]:
        w = pl.w
        if w.player.sleeping:
            self.slept = True
            return SLEEP
        crit = pl.critical()
        if w.inv["drink"] <= crit or w.inv["food"] <= crit:
            return None  # thirst or hunger first; shelter again afterwards
        # Nights are spent in the shelter even once rested (zombies swarm the grass).
        night = pl.is_night()
        rested = w.inv["energy"] >= constants.items["energy"]["max"]
        healing = self.heal and w.inv["health"] < HEALED
        # Zombies crowd around a shelter overnight and despawn only in full daylight:
        # stepping out among them costs two health each.
        besieged = pl.enclosed() and pl.zombie_near(WAIT_R) and pl.t - self.t0 < self.timeout - 50
        if rested and not night and not healing and not besieged:
            return None
        if pl.enclosed():
            return NOOP if rested else SLEEP
        # Repair: inside the pocket and facing an open tile outside it.
        if self.plan is not None:
            c1, c2, g, p, e, sides = self.plan
            ft = w.facing_tile()
            if w.pos in (c1, c2) and ft not in (c1, c2) and w.free(ft) and self._sealing(ft):
                return PLACE_STONE if w.inv["stone"] > 0 else None
        if self.plan is None:
            self.plan = pl.find_pocket()
            self.visited_c2 = False
            if self.plan is None:
                return self._no_shelter(pl)
        c1, c2, g, p, e, sides = self.plan
        # Build missing side walls from outside before entering.
        open_sides = [s for s in sides if nav.WALKABLE[w.mat_at(s)]]
        if open_sides and w.pos not in (c1, c2):
            if w.inv["stone"] == 0:
                return None
            mask = np.zeros(w.shape, bool)
            for s in open_sides:
                mask[s] = True
            a = pl.approach(mask, "place", None, 60)
            if a is None or a == ACT and not nav.WALKABLE[w.mat_at(w.facing_tile())]:
                self.plan = None
                return NOOP
            return PLACE_STONE if a == ACT else a
        gk = nav.DIR_INDEX[g]
        back = nav.DIR_INDEX[(-g[0], -g[1])]
        if w.pos == c2:
            self.visited_c2 = True
            if nav.WALKABLE[w.mat_at(e)]:
                if w.facing == g:
                    return PLACE_STONE if w.inv["stone"] > 0 else None
                return MOVE_LEFT + back  # step back to C1, then return facing g
            return MOVE_LEFT + back
        if w.pos == c1:
            if not self.visited_c2:
                return pl.step_into(c2, gk)
            if w.facing == (-g[0], -g[1]):
                if nav.WALKABLE[w.mat_at(p)]:
                    return PLACE_STONE if w.inv["stone"] > 0 else None
                self.plan = None  # sealed the ends but a side is open: look again
                return NOOP
            self.visited_c2 = False
            return pl.step_into(c2, gk)
        if w.pos == p:
            return pl.step_into(c1, gk)
        self.visited_c2 = False
        a = pl.go_to(p)
        if a is None:
            self.plan = None
            return NOOP
        return a if a != ACT else NOOP

    def _sealing(self, tile: tuple[int, int]) -> bool:
        c1, c2, g, p, e, sides = self.plan
        return tile == p or tile == e or tile in sides

    def _no_shelter(self, pl: Player) -> Optional[int]:
        """No pocket reachable: get stone (or find rock), or doze off if exhausted."""
        w = pl.w
        daylight = w.game._world.daylight
        if w.inv["energy"] <= 1 or (w.inv["energy"] <= 2 and daylight > 0.6):
            return SLEEP  # zombies hardly spawn by day; sleeping beats fainting
        if not w.inv["wood_pickaxe"]:
            pl.no_shelter_until = pl.t + 40  # get a pickaxe first; ask again later
            return None
        if self.fallback is None:
            self.fallback = pl._collect("stone", STONE, min(9, w.inv["stone"] + 4), "mountain")
            self.fallback.start(pl)
        a = self.fallback.step(pl)
        if a is None:
            self.fallback = None
            return NOOP
        return a


class Garden(Objective):
    """Stay near a growing sapling (plants only grow while the player is close)."""

    name = "garden"
    timeout = 350

    def __init__(self, plant_pos: tuple[int, int]) -> None:
        self.plant_pos = plant_pos

    def step(self, pl: Player) -> Optional[int]:
        w = pl.w
        plant = next((o for o in w.plants if tuple(int(v) for v in o.pos) == self.plant_pos), None)
        if plant is None:
            return None
        if plant.ripe or w.game._world.daylight < 0.4:
            return None  # ripe: the eat-plant objective takes over; dark: too dangerous
        d = abs(w.pos[0] - self.plant_pos[0]) + abs(w.pos[1] - self.plant_pos[1])
        if d > 6:
            a = pl.go_to_near(self.plant_pos, 3)
            return a if a not in (None, ACT) else NOOP
        # Pass the time usefully: look for saplings on nearby grass, or idle.
        if pl.greedy or pl.rng.random() < 0.5:
            return DO if nav.WALKABLE[w.mat_at(w.facing_tile())] else NOOP
        return NOOP


# --------------------------------------------------------------------------------------
# The player.
# --------------------------------------------------------------------------------------
