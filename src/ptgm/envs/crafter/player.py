"""A scripted Crafter player that plays the whole game, for task-agnostic free-play data.

The player reads the raw game (``env.crafter``) but only *targets* tiles it has already
seen on screen, so it has to explore like a person would. It keeps one objective at a time
(collect wood, make a pickaxe, drink, sleep in a stone shelter, ...). When an objective
ends, succeeds, times out or becomes impossible, it draws the next one at random among
those that make sense in its state, needs first. With probability ``random_action_prob``
it presses a uniformly random key instead (never a step into lava).

It is never told a downstream task: behaviour depends only on the game state and its rng.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from crafter import constants, objects

from ptgm.envs.crafter import player_nav as nav
from ptgm.envs.crafter.player_nav import (
    COAL, DIAMOND, DIRS, DO, FURNACE, GRASS, INF, IRON, LAVA, MOVE_LEFT, NOOP, PATH,
    PLACE_FURNACE, PLACE_PLANT, PLACE_STONE, PLACE_TABLE, SAND, SLEEP, STONE, TABLE,
    TREE, WATER,
)

ACT = -1  # returned by navigation when the player already faces / stands on its target

# global: the player reads the whole map (it still only targets tiles it has seen, but plans paths
# through unseen ground and watches creatures off screen); local: it knows only what is on screen now.
PERCEPTIONS = ("global", "local")

# Where the player sees tiles: the 9x7 local view of the default Crafter render.
VIEW_X, VIEW_Y = 4, 3
# Creatures are only noticed within this Chebyshev distance (about one screen).
CREATURE_SIGHT = 6

TABLE_WOOD = constants.place["table"]["uses"]["wood"]
FURNACE_STONE = constants.place["furnace"]["uses"]["stone"]
PLACEABLE = nav.lut([GRASS, SAND, PATH])
HEALED = 8  # health at which a hurt player leaves its shelter
# Crafter's day is 300 steps, darkest at step 210 of each; zombies spawn on grass below
# daylight ~0.83 (steps ~116..296) and despawn above it.
NIGHT_CRITICAL = 1  # in the dark, leave the shelter for drink/food only at this level
EVENING = (95, 135)  # steps of the day (light still full) for the pre-night top-up ...
EVENING_DRINK, EVENING_FOOD = 6, 5  # ... of drink and food at or below these levels
WAIT_R = 6  # a rested player stays walled in while a zombie is this close (Manhattan)
DRIVE = 5.0  # weight factor for materials the next pickaxe still lacks
READY = 5.0  # weight factor for making the next pickaxe once its materials are in hand


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


class Objective:
    name = "objective"
    timeout = 300

    def start(self, pl: "ScriptedPlayer") -> None:
        self.t0 = pl.t

    def step(self, pl: "ScriptedPlayer") -> Optional[int]:
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
        targets: Callable[["ScriptedPlayer"], np.ndarray],
        action: int,
        done: Callable[["ScriptedPlayer"], bool],
        kind: str = "face",
        stand: Optional[Callable[["ScriptedPlayer"], np.ndarray]] = None,
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

    def step(self, pl: "ScriptedPlayer") -> Optional[int]:
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

    def _pick(self, pl: "ScriptedPlayer") -> Optional[tuple[int, int]]:
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
        i = int(pl.rng.choice(w.size, p=w / w.sum()))
        return divmod(i, pl.w.shape[1])

    def step(self, pl: "ScriptedPlayer") -> Optional[int]:
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

    def start(self, pl: "ScriptedPlayer") -> None:
        super().start(pl)
        self.plan: Optional[tuple] = None
        self.visited_c2 = False
        self.slept = False
        self.fallback: Optional[Objective] = None
        # Hurt players rest walled in until healed: regeneration is slow (one point per
        # ~25 steps awake, twice that asleep) and every zombie met costs two.
        self.heal = pl.w.inv["health"] <= pl.hurt_at

    def step(self, pl: "ScriptedPlayer") -> Optional[int]:
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

    def _no_shelter(self, pl: "ScriptedPlayer") -> Optional[int]:
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

    def step(self, pl: "ScriptedPlayer") -> Optional[int]:
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
        if pl.rng.random() < 0.5:
            return DO if nav.WALKABLE[w.mat_at(w.facing_tile())] else NOOP
        return NOOP


# --------------------------------------------------------------------------------------
# The player.
# --------------------------------------------------------------------------------------


class ScriptedPlayer:
    """Scripted free-play agent for raw Crafter; see the module docstring."""

    name = "scripted"

    def __init__(self, seed: int, random_action_prob: float = 0.1, target_spread: float = 0.0,
                 perception: str = "global") -> None:
        if perception not in PERCEPTIONS:
            raise ValueError(f"unknown perception {perception!r}; valid: {', '.join(PERCEPTIONS)}")
        self.perception = perception
        if not 0.0 <= random_action_prob <= 1.0:
            raise ValueError("random_action_prob must be in [0, 1]")
        if target_spread < 0:
            raise ValueError("target_spread must be >= 0")
        self.seed = seed
        self.random_action_prob = random_action_prob
        # 0: head for the nearest tree, stone, water, ...; s > 0: draw which one with weight
        # exp(-extra steps / s), so where it walks is an intention the observation does not show.
        self.target_spread = target_spread
        self.rng = np.random.default_rng(seed)
        # Counters, useful to check the imperfection rate.
        self.num_actions = 0
        self.num_random_actions = 0
        self.random_action_counts = np.zeros(nav.NUM_ACTIONS, np.int64)
        self.objective_log: list[str] = []
        self.w: Optional[World] = None
        self.last_noise = False  # whether the last action was a random one, not the player's choice

    # -- episode ----------------------------------------------------------------------

    def reset(self, env: Any) -> None:
        game = env.crafter
        self.w = World(game, (VIEW_X, VIEW_Y) if self.perception == "local" else None)
        self.seen = np.zeros(self.w.shape, bool)
        self.t = 0
        self.objective: Optional[Objective] = None
        self.last_pos: Optional[tuple[int, int]] = None
        self.still = 0
        self.planted: list[tuple[int, int]] = []
        # Per-episode temperament, so episodes differ in how cautious the player is.
        self.thirst_at = int(self.rng.integers(3, 6))
        self.hunger_at = int(self.rng.integers(3, 6))
        self.tired_at = int(self.rng.integers(2, 5))
        self.hurt_at = int(self.rng.integers(3, 6))
        # Daylight at which it heads for shelter, and at which it leaves in the morning:
        # zombies start spawning below ~0.83 and the night's crowd despawns only above it.
        self.dusk = float(self.rng.uniform(0.6, 0.8))
        self.dawn = float(self.rng.uniform(0.9, 0.98))
        self.no_shelter_until = 0
        self.objective_log = []

    def act(self, obs: Any, info: Any) -> int:
        assert self.w is not None, "call reset(env) after env.reset()"
        self.t += 1
        self.num_actions += 1
        w = self.w
        w.refresh()
        self._see()
        self.last_noise = bool(self.rng.random() < self.random_action_prob)
        if self.last_noise:
            a = int(self.rng.integers(nav.NUM_ACTIONS))
            self.num_random_actions += 1
            self.random_action_counts[a] += 1
            return self._safe(a, random=True)
        if w.player.sleeping:
            return SLEEP
        self._plan()
        a = self._reflex()
        if a is None:
            a = self._run_objective()
        return self._safe(a)

    # -- perception -------------------------------------------------------------------

    def _see(self) -> None:
        x, y = self.w.pos
        if self.perception == "local":
            self.seen[:] = False
        self.seen[max(0, x - VIEW_X): x + VIEW_X + 1, max(0, y - VIEW_Y): y + VIEW_Y + 1] = True

    def _plan(self) -> None:
        """Shortest-path costs from the player; tools decide what it can dig through."""
        w = self.w
        inv = w.inv
        table = np.zeros(256, np.int16)
        table[[GRASS, SAND, PATH]] = 1
        table[TREE] = 3  # cutting through gives wood, leaves grass
        table[nav.UNKNOWN] = 2  # out of sight: hoped to be open ground
        if inv["wood_pickaxe"]:
            table[[STONE, COAL]] = 3
            if inv["stone"] > 0:
                table[WATER] = 5  # bridge: place stone, mine it back to a path
        if inv["stone_pickaxe"]:
            table[IRON] = 3
        if inv["iron_pickaxe"]:
            table[DIAMOND] = 3
        cost = table[w.mat]
        # Give zombies a wide berth: every bite costs 2 health, and they chase.
        px, py = w.pos
        for z in w.zombies:
            zx, zy = int(z.pos[0]), int(z.pos[1])
            if abs(zx - px) + abs(zy - py) <= 10:
                region = cost[max(0, zx - 2): zx + 3, max(0, zy - 2): zy + 3]
                region[region > 0] += 4
        # Stay out of skeletons' line of fire (arrows fly straight, two damage each).
        for sk in w.skeletons:
            sx, sy = int(sk.pos[0]), int(sk.pos[1])
            if abs(sx - px) + abs(sy - py) <= 12:
                for line in (cost[max(0, sx - 4): sx + 5, sy], cost[sx, max(0, sy - 4): sy + 5]):
                    line[line > 0] += 3
        cost[w.occupied] = 0
        # Unknown ground costs a little more so the player prefers known routes.
        cost = np.where(self.seen | (cost == 0), cost, cost + 1).astype(np.int16)
        self.cost = cost
        self.dist, self.parent = nav.dijkstra(cost, w.pos[0], w.pos[1])

    # -- navigation -------------------------------------------------------------------

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

    # -- safety -----------------------------------------------------------------------

    def _safe(self, a: int, random: bool = False) -> int:
        w = self.w
        if MOVE_LEFT <= a <= nav.MOVE_DOWN:
            d = DIRS[a - MOVE_LEFT]
            dest = (w.pos[0] + int(d[0]), w.pos[1] + int(d[1]))
            if w.mat_at(dest) == LAVA:
                return NOOP
        if random and a == SLEEP and not self.enclosed():
            # Dozing off in the open is how careless players die (7 damage per zombie
            # bite while asleep); a random key press should not do that.
            return NOOP
        return a

    def day_phase(self) -> int:
        """Step within Crafter's 300-step day; darkest at 210."""
        return self.w.game._step % 300

    def is_night(self) -> bool:
        """Dark enough to stay walled in (evening and morning thresholds differ)."""
        light = self.w.game._world.daylight
        return light < (self.dawn if self.day_phase() >= 210 else self.dusk)

    def critical(self) -> int:
        """Level of drink or food that overrides everything else (lower in the dark)."""
        return NIGHT_CRITICAL if self.is_night() else 2

    def zombie_near(self, r: int) -> bool:
        px, py = self.w.pos
        return any(abs(int(o.pos[0]) - px) + abs(int(o.pos[1]) - py) <= r for o in self.w.zombies)

    def _enemy_near(self, r: int) -> bool:
        px, py = self.w.pos
        return any(
            abs(int(o.pos[0]) - px) + abs(int(o.pos[1]) - py) <= r
            for o in self.w.zombies + self.w.skeletons
        )

    def enclosed(self) -> bool:
        """True if no zombie or skeleton can walk up to the player (small closed pocket)."""
        return walled_in(self.w)

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

    # -- behaviour --------------------------------------------------------------------

    def _reflex(self) -> Optional[int]:
        """Hit a zombie or skeleton standing next to the player (fleeing rarely works)."""
        w = self.w
        px, py = w.pos
        adjacent = []
        for o in w.zombies + w.skeletons:
            d = (int(o.pos[0]) - px, int(o.pos[1]) - py)
            if abs(d[0]) + abs(d[1]) == 1:
                adjacent.append(d)
        if not adjacent:
            return None
        # Finish the one in front first: turning between two attackers wastes every hit.
        if w.facing in adjacent:
            return DO
        return MOVE_LEFT + nav.DIR_INDEX[adjacent[0]]

    def _run_objective(self) -> int:
        for _ in range(4):
            self._maybe_interrupt()
            if self.objective is None:
                self._start(self._choose())
            a = self.objective.step(self)
            if a is not None and self.t - self.objective.t0 <= self.objective.timeout:
                self._track_progress(a)
                if self.still < 25:
                    return a
            self.objective = None
        return NOOP

    def _track_progress(self, a: int) -> None:
        """Give up an objective whose moves keep failing (stuck behind something)."""
        moving = MOVE_LEFT <= a <= nav.MOVE_DOWN
        if moving and self.w.pos == self.last_pos:
            self.still += 1
        elif moving:
            self.still = 0
        self.last_pos = self.w.pos

    def _need(self) -> Optional[str]:
        """The most urgent bodily need, if any."""
        inv = self.w.inv
        night = self.is_night()
        drink_at, food_at = self.thirst_at, self.hunger_at
        if night:
            # Roaming in the dark is worse than being thirsty.
            drink_at = food_at = self.critical()
        elif EVENING[0] <= self.day_phase() < EVENING[1]:
            # Light fading, night ahead: top up before holing up.
            drink_at, food_at = max(drink_at, EVENING_DRINK), max(food_at, EVENING_FOOD)
        if inv["drink"] <= drink_at:
            return "drink"
        if inv["food"] <= food_at:
            return "eat"
        if self.t < self.no_shelter_until and inv["energy"] > 1:
            return None
        # Nights swarm with zombies on grass: spend them walled in, asleep. Also rest to
        # heal faster (sleeping doubles recovery) when badly hurt.
        if inv["energy"] <= self.tired_at or night or (
            inv["health"] <= self.hurt_at and not self._enemy_near(2)
        ):
            return "sleep"
        return None

    def _need_objective(self, need: str) -> Objective:
        obj = {"drink": self._drink, "eat": self._eat, "sleep": Sleep}[need]()
        obj.urgent = True
        return obj

    def _maybe_interrupt(self) -> None:
        cur = self.objective
        if cur is not None and getattr(cur, "urgent", False):
            # Finish (or time out on) the current need first, unless another is critical.
            inv = self.w.inv
            crit = self.critical()
            if inv["drink"] <= crit and cur.name != "drink":
                self._start(self._need_objective("drink"))
            elif inv["food"] <= crit and cur.name not in ("eat", "drink"):
                self._start(self._need_objective("eat"))
            return
        need = self._need()
        if need is not None:
            self._start(self._need_objective(need))
        elif cur is not None and self.rng.random() < 0.002:
            # Occasional change of mind, so trajectories are not one fixed script.
            self.objective = None

    def _start(self, obj: Objective) -> None:
        self.objective = obj
        obj.start(self)
        self.objective_log.append(obj.name)
        self.last_pos, self.still = None, 0

    # Objective factories ---------------------------------------------------------------

    def _mat_targets(self, *mats: int) -> Callable[["ScriptedPlayer"], np.ndarray]:
        table = nav.lut(list(mats))
        return lambda pl: table[pl.w.mat] & pl.seen

    def _creatures(self, kind: str) -> Callable[["ScriptedPlayer"], np.ndarray]:
        return lambda pl: cells_mask(pl.w.shape, getattr(pl.w, kind), pl.w.pos, CREATURE_SIGHT)

    def _drink(self) -> Objective:
        goal = int(self.rng.integers(8, 10))
        return Interact("drink", self._mat_targets(WATER), DO,
                        lambda pl: pl.w.inv["drink"] >= goal, explore_for="any", commit=True)

    def _eat(self) -> Objective:
        goal = int(self.rng.integers(6, 10))
        start_cow = self.w.ach["eat_cow"]
        start_plant = self.w.ach["eat_plant"]

        def targets(pl: "ScriptedPlayer") -> np.ndarray:
            t = cells_mask(pl.w.shape, pl.w.cows, pl.w.pos, CREATURE_SIGHT)
            return t | self._ripe_plants(pl)

        def done(pl: "ScriptedPlayer") -> bool:
            ate = pl.w.ach["eat_cow"] > start_cow or pl.w.ach["eat_plant"] > start_plant
            return pl.w.inv["food"] >= goal or (ate and pl.w.inv["food"] >= 6)

        return Interact("eat", targets, DO, done, explore_for="grass", timeout=250)

    @staticmethod
    def _ripe_plants(pl: "ScriptedPlayer") -> np.ndarray:
        mask = np.zeros(pl.w.shape, bool)
        for o in pl.w.plants:
            c = (int(o.pos[0]), int(o.pos[1]))
            if o.ripe and pl.seen[c]:
                mask[c] = True
        return mask

    def _collect(self, name: str, mat: int, goal: int, explore_for: str) -> Objective:
        return Interact(f"collect_{name}", self._mat_targets(mat), DO,
                        lambda pl: pl.w.inv[name] >= goal, explore_for=explore_for, timeout=400, commit=True)

    def _station_cells(self, need_furnace: bool) -> np.ndarray:
        w = self.w
        ok = nav.near(w.mat == TABLE, 1)
        if need_furnace:
            ok &= nav.near(w.mat == FURNACE, 1)
        return ok & (nav.WALKABLE[w.mat] | (self.cost > 1))

    def _make(self, item: str, action: int) -> Objective:
        info = constants.make[item]
        need_furnace = "furnace" in info["nearby"]
        start = self.w.ach[f"make_{item}"]
        outer = self

        class Make(Objective):
            name = f"make_{item}"
            timeout = 300

            def step(self, pl: "ScriptedPlayer") -> Optional[int]:
                if pl.w.ach[f"make_{item}"] > start:
                    return None
                if any(pl.w.inv[k] < v for k, v in info["uses"].items()):
                    return None
                stations = outer._station_cells(need_furnace)
                a = pl.approach(stations, "stand", None, 40) if stations.any() else None
                if a is not None:
                    return action if a == ACT else a
                # No crafting spot nearby: build one (furnace next to a table if possible).
                table_spots = nav.near(pl.w.mat == TABLE, 1) & (pl.dist < 40)
                if need_furnace and table_spots.any() and pl.w.inv["stone"] >= FURNACE_STONE:
                    return outer._place_step(PLACE_FURNACE, nav.near(pl.w.mat == TABLE, 1))
                if pl.w.inv["wood"] >= TABLE_WOOD + info["uses"].get("wood", 0):
                    if not need_furnace or pl.w.inv["stone"] >= FURNACE_STONE:
                        return outer._place_step(PLACE_TABLE, None)
                return None

        return Make()

    def _shortfall(self, near_table: bool) -> dict[str, int]:
        """Materials the next missing pickaxe still needs, stations to build included."""
        inv = self.w.inv
        tool = next((t for t in ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe") if not inv[t]), None)
        if tool is None:
            return {}
        info = constants.make[tool]
        need = dict(info["uses"])
        if not near_table:
            need["wood"] = need.get("wood", 0) + TABLE_WOOD
        if "furnace" in info["nearby"] and not (self._station_cells(True) & (self.dist < 40)).any():
            need["stone"] = need.get("stone", 0) + FURNACE_STONE
        return {k: v - inv[k] for k, v in need.items() if inv[k] < v}

    def _place_step(self, action: int, stand: Optional[np.ndarray]) -> Optional[int]:
        targets = PLACEABLE[self.w.mat] & ~self.w.occupied
        a = self.approach(targets, "place", stand, 30)
        if a is None:
            return None
        return action if a == ACT else a

    def _place(self, name: str, action: int, stand_fn=None, targets_fn=None, kind: str = "place") -> Objective:
        """Place ``name`` once; on ``targets_fn`` tiles if given, else on any free ground."""
        start = self.w.ach[f"place_{name}"]
        outer = self

        class Place(Objective):
            timeout = 150

            def step(self, pl: "ScriptedPlayer") -> Optional[int]:
                if pl.w.ach[f"place_{name}"] > start:
                    return None
                stand = stand_fn(pl) if stand_fn else None
                if targets_fn is None:
                    return outer._place_step(action, stand)
                t = targets_fn(pl)
                a = pl.approach(t, kind, stand, 30) if t.any() else None
                if a is None:
                    return None
                return action if a == ACT else a

        obj = Place()
        obj.name = f"place_{name}"
        return obj

    def _fight(self, kind: str, ach: str) -> Objective:
        start = self.w.ach[ach]
        return Interact(f"fight_{kind}", self._creatures(kind), DO,
                        lambda pl: pl.w.ach[ach] > start, explore_for="none", timeout=100)

    def _choose(self) -> Objective:
        """Draw an objective among those that make sense now (needs come first)."""
        need = self._need()
        if need is not None:
            return self._need_objective(need)
        w = self.w
        inv, ach = w.inv, w.ach
        rng = self.rng
        options: list[tuple[float, Callable[[], Objective]]] = []

        def want(weight: float, achievement: Optional[str], factory: Callable[[], Objective]) -> None:
            # Unmet achievements are more attractive, but repeats still happen.
            if achievement is not None and ach.get(achievement, 0) == 0:
                weight *= 4.0
            options.append((weight, factory))

        has = lambda k: inv[k] > 0  # noqa: E731
        tables = (w.mat == TABLE) & (self.dist < 40)
        near_table = tables.any()
        # Like a person, it works toward its next pickaxe: what that still lacks weighs more.
        short = self._shortfall(near_table)
        drive = lambda item: DRIVE if item in short else 1.0  # noqa: E731
        next_tool = next((t for t in ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe") if not inv[t]), None)
        # Materials in hand for the next pickaxe: making it is what a person does next.
        make_w = lambda item: 3.0 * (READY if item == next_tool else 1.0)  # noqa: E731
        wood_goal = int(rng.integers(4, 10))
        if inv["wood"] < 9:
            low = inv["wood"] < 4
            want((4.0 if low else 1.0) * drive("wood"), "collect_wood",
                 lambda: self._collect("wood", TREE, wood_goal, "grass"))
        if inv["wood"] >= TABLE_WOOD and (not near_table or rng.random() < 0.05):
            want(2.0 if not near_table else 0.2, "place_table", lambda: self._place("table", PLACE_TABLE, None))
        for tool, act in (("pickaxe", nav.MAKE_WOOD_PICKAXE), ("sword", nav.MAKE_WOOD_SWORD)):
            item = f"wood_{tool}"
            if has("wood") and not has(item) and (near_table or inv["wood"] >= TABLE_WOOD + 1):
                want(make_w(item), f"make_{item}", lambda i=item, a=act: self._make(i, a))
        if has("wood_pickaxe"):
            stone_goal = int(rng.integers(3, 10))
            if inv["stone"] < 9:
                want((2.0 if inv["stone"] < 5 else 0.5) * drive("stone"), "collect_stone",
                     lambda: self._collect("stone", STONE, stone_goal, "mountain"))
            if inv["coal"] < 2:
                want(1.5 * drive("coal"), "collect_coal", lambda: self._collect("coal", COAL, inv["coal"] + 1, "mountain"))
        for tool, act in (("pickaxe", nav.MAKE_STONE_PICKAXE), ("sword", nav.MAKE_STONE_SWORD)):
            item = f"stone_{tool}"
            if has("wood") and has("stone") and not has(item) and (near_table or inv["wood"] >= TABLE_WOOD + 1):
                want(make_w(item), f"make_{item}", lambda i=item, a=act: self._make(i, a))
        if inv["stone"] >= FURNACE_STONE and near_table:
            furnace_ok = self._station_cells(True) & (self.dist < 40)
            if not furnace_ok.any():
                want(1.5, "place_furnace",
                     lambda: self._place("furnace", PLACE_FURNACE, lambda pl: nav.near(pl.w.mat == TABLE, 1)))
        if has("stone_pickaxe") and inv["iron"] < 2:
            want(2.0 * drive("iron"), "collect_iron", lambda: self._collect("iron", IRON, inv["iron"] + 1, "mountain"))
        for tool, act in (("pickaxe", nav.MAKE_IRON_PICKAXE), ("sword", nav.MAKE_IRON_SWORD)):
            item = f"iron_{tool}"
            if has("wood") and has("coal") and has("iron") and not has(item):
                want(make_w(item), f"make_{item}", lambda i=item, a=act: self._make(i, a))
        if has("iron_pickaxe"):
            want(2.0, "collect_diamond", lambda: self._collect("diamond", DIAMOND, inv["diamond"] + 1, "mountain"))
        if inv["sapling"] < 2:
            want(0.7, "collect_sapling", lambda: Interact(
                "collect_sapling", lambda pl: (pl.w.mat == GRASS) & ~pl.w.occupied & pl.seen, DO,
                lambda pl: pl.w.inv["sapling"] >= 1, kind="place", explore_for="grass", timeout=150))
        if has("sapling"):
            want(1.0, "place_plant", lambda: self._place(
                "plant", PLACE_PLANT, None, lambda pl: (pl.w.mat == GRASS) & ~pl.w.occupied & pl.seen))
        if self._ripe_plants(self).any():
            start = ach["eat_plant"]
            want(3.0, "eat_plant", lambda: Interact(
                "eat_plant", self._ripe_plants, DO, lambda pl: pl.w.ach["eat_plant"] > start,
                explore_for="none", timeout=150))
        growing = [o for o in w.plants if not o.ripe and self.seen[int(o.pos[0]), int(o.pos[1])]]
        if growing:
            o = growing[int(rng.integers(len(growing)))]
            want(0.6, "eat_plant", lambda: Garden((int(o.pos[0]), int(o.pos[1]))))
        if has("stone"):
            water = self._mat_targets(WATER)(self)
            if water.any() and rng.random() < 0.7:
                want(0.4, "place_stone", lambda: self._place(
                    "stone", PLACE_STONE, None, self._mat_targets(WATER), kind="face"))
            else:
                want(0.4, "place_stone", lambda: self._place("stone", PLACE_STONE))
        if inv["health"] >= 6:
            if cells_mask(w.shape, w.zombies, w.pos, CREATURE_SIGHT).any():
                want(1.5, "defeat_zombie", lambda: self._fight("zombies", "defeat_zombie"))
            if cells_mask(w.shape, w.skeletons, w.pos, CREATURE_SIGHT).any():
                want(1.5, "defeat_skeleton", lambda: self._fight("skeletons", "defeat_skeleton"))
        if inv["food"] < 9 and cells_mask(w.shape, w.cows, w.pos, CREATURE_SIGHT).any():
            want(0.5, "eat_cow", self._eat)
        if inv["drink"] < 9:
            want(0.3, "collect_drink", self._drink)
        if inv["energy"] < 9 and inv["stone"] >= 2:
            want(0.3, "wake_up", Sleep)
        want(0.8, None, lambda: Explore(
            "mountain" if has("wood_pickaxe") and rng.random() < 0.6 else "any", int(rng.integers(30, 120))))
        weights = np.array([o[0] for o in options])
        i = int(rng.choice(len(options), p=weights / weights.sum()))
        return options[i][1]()
