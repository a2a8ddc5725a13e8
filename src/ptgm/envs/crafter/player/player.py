"""A scripted Crafter player that plays the whole game, for task-agnostic free-play data.

The player reads the raw game (``env.crafter``) but only *targets* tiles it has already
seen on screen, so it has to explore like a person would. It keeps one objective at a time
(collect wood, make a pickaxe, drink, sleep in a stone shelter, ...). When an objective
ends, succeeds, times out or becomes impossible, it draws the next one at random among
those that make sense in its state, needs first. With probability ``random_action_prob``
it presses a uniformly random key instead (never a step into lava).

With ``choices="greedy"`` it takes the heaviest option wherever it would draw one (objective, exploration
goal, amounts, temperament), so that what it does follows from the game state, not from a hidden draw; only
its random key presses stay random.

It is never told a downstream task: behaviour depends only on the game state and its rng.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
from crafter import constants

from ptgm.envs.crafter.player import grid as nav
from ptgm.envs.crafter.player.grid import (
    COAL, DIAMOND, DIRS, DO, FURNACE, GRASS, IRON, LAVA, MOVE_LEFT, NOOP, PLACE_FURNACE, PLACE_PLANT, PLACE_STONE,
    PLACE_TABLE, SAND, PATH, SLEEP, STONE, TABLE, TREE, WATER,
)
from ptgm.envs.crafter.player.moves import ACT, Mover
from ptgm.envs.crafter.player.objectives import Explore, Garden, Interact, Objective, Sleep
from ptgm.envs.crafter.player.perception import CREATURE_SIGHT, PERCEPTIONS, VIEW_X, VIEW_Y, World, cells_mask, walled_in

# random: draw the next objective, exploration goal, amounts and temperament; greedy: take the heaviest option
# and middle amounts, so the choice is one the clone can read off the game state.
CHOICES = ("random", "greedy")

TABLE_WOOD = constants.place["table"]["uses"]["wood"]
FURNACE_STONE = constants.place["furnace"]["uses"]["stone"]
PLACEABLE = nav.lut([GRASS, SAND, PATH])
# Crafter's day is 300 steps, darkest at step 210 of each; zombies spawn on grass below
# daylight ~0.83 (steps ~116..296) and despawn above it.
NIGHT_CRITICAL = 1  # in the dark, leave the shelter for drink/food only at this level
EVENING = (95, 135)  # steps of the day (light still full) for the pre-night top-up ...
EVENING_DRINK, EVENING_FOOD = 6, 5  # ... of drink and food at or below these levels
DRIVE = 5.0  # weight factor for materials the next pickaxe still lacks
READY = 5.0  # weight factor for making the next pickaxe once its materials are in hand


class ScriptedPlayer(Mover):
    """Scripted free-play agent for raw Crafter; see the module docstring."""

    name = "scripted"

    def __init__(self, seed: int, random_action_prob: float = 0.1, target_spread: float = 0.0,
                 perception: str = "global", choices: str = "random") -> None:
        if choices not in CHOICES:
            raise ValueError(f"unknown choices {choices!r}; valid: {', '.join(CHOICES)}")
        self.greedy = choices == "greedy"
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
        self.thirst_at = self.amount(3, 6)
        self.hunger_at = self.amount(3, 6)
        self.tired_at = self.amount(2, 5)
        self.hurt_at = self.amount(3, 6)
        # Daylight at which it heads for shelter, and at which it leaves in the morning:
        # zombies start spawning below ~0.83 and the night's crowd despawns only above it.
        self.dusk = 0.7 if self.greedy else float(self.rng.uniform(0.6, 0.8))
        self.dawn = 0.94 if self.greedy else float(self.rng.uniform(0.9, 0.98))
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

    # -- choices ----------------------------------------------------------------------

    def pick(self, weights: np.ndarray) -> int:
        """Index of one option: drawn by weight, or the heaviest (the first among equals) when greedy."""
        if self.greedy:
            return int(np.argmax(weights))
        return int(self.rng.choice(len(weights), p=weights / weights.sum()))

    def amount(self, low: int, high: int) -> int:
        """An integer in [low, high): drawn, or the middle one when greedy."""
        return (low + high - 1) // 2 if self.greedy else int(self.rng.integers(low, high))

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
        elif cur is not None and not self.greedy and self.rng.random() < 0.002:
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
        goal = self.amount(8, 10)
        return Interact("drink", self._mat_targets(WATER), DO,
                        lambda pl: pl.w.inv["drink"] >= goal, explore_for="any", commit=True)

    def _eat(self) -> Objective:
        goal = self.amount(6, 10)
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
        wood_goal = self.amount(4, 10)
        if inv["wood"] < 9:
            low = inv["wood"] < 4
            want((4.0 if low else 1.0) * drive("wood"), "collect_wood",
                 lambda: self._collect("wood", TREE, wood_goal, "grass"))
        if inv["wood"] >= TABLE_WOOD and (not near_table or (not self.greedy and rng.random() < 0.05)):
            want(2.0 if not near_table else 0.2, "place_table", lambda: self._place("table", PLACE_TABLE, None))
        for tool, act in (("pickaxe", nav.MAKE_WOOD_PICKAXE), ("sword", nav.MAKE_WOOD_SWORD)):
            item = f"wood_{tool}"
            if has("wood") and not has(item) and (near_table or inv["wood"] >= TABLE_WOOD + 1):
                want(make_w(item), f"make_{item}", lambda i=item, a=act: self._make(i, a))
        if has("wood_pickaxe"):
            stone_goal = self.amount(3, 10)
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
            o = growing[0 if self.greedy else int(rng.integers(len(growing)))]
            want(0.6, "eat_plant", lambda: Garden((int(o.pos[0]), int(o.pos[1]))))
        if has("stone"):
            water = self._mat_targets(WATER)(self)
            if water.any() and (self.greedy or rng.random() < 0.7):
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
            "mountain" if has("wood_pickaxe") and (self.greedy or rng.random() < 0.6) else "any", self.amount(30, 120)))
        return options[self.pick(np.array([o[0] for o in options]))][1]()
