"""The worlds ptgm can play, by name: Crafter, and any Gymnasium environment a user registers.

A world is registered as a `World`, or as the "module:attribute" naming one, imported on first use
as Gymnasium's entry points are (listing the worlds never imports a game). Crafter registers itself
that way at the bottom of this file; a user's world, before any stage asks for it:

    from ptgm.envs import World, register_world
    register_world("grid", World(spec=GRID_SPEC, make_env=GridEnv, tasks_file="grid_tasks.yaml"))

What its environment must carry in `info` is in `ptgm.envs.base`. Worker processes are forked from
the one that registered it, so a world registered in a script is also known to its env workers.
An installed package makes its world known to the `ptgm` command (`--world grid`) with an entry
point in the group `ptgm.worlds`: `grid = "grid_pkg.world:WORLD"` in its pyproject.toml.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from ptgm.envs.base import WorldSpec


@dataclass(frozen=True)
class World:
    """A world ptgm can play: its names and shapes, its environment, its built-in tasks and its players."""

    spec: WorldSpec  # names and shapes: actions, achievements, items, the symbolic layout
    # make_env(obs_mode=..., max_steps=...) -> its Gymnasium env; `env.unwrapped.world_seed` is the seed of the world
    # it plays, and with tasks that set a start inventory `env.unwrapped.set_inventory(items)` and `observe_again()`.
    make_env: Callable[..., gym.Env]
    tasks_file: str | Path | None = None  # its built-in tasks, YAML in the format of ptgm/envs/tasks.yaml
    # Task-agnostic players besides 'random' (which every world has): name -> player(seed, **settings).
    players: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # events_from_states(symbolic (T+1, S)) -> achievements (T, A) bool, for a world whose symbolic observation
    # alone decides them (Kitchen): lets data recorded elsewhere, with no per-step events, be imported.
    events_from_states: Callable[[Any], Any] | None = None


# Registered worlds by name: a `World`, or the "module:attribute" entry point that loads one.
WORLDS: dict[str, World | str] = {}


def register_world(name: str, world: World | str) -> None:
    """Make `world` playable as `name` (`--world NAME`); registering a name again replaces it."""
    if not isinstance(world, (World, str)):
        raise TypeError(f"register_world({name!r}, ...) takes a ptgm.envs.World or a 'module:attribute' string, "
                        f"got {type(world).__name__}")
    if isinstance(world, World) and world.spec.name != name:
        raise ValueError(f"world registered as {name!r} names itself {world.spec.name!r} in its WorldSpec")
    WORLDS[name] = world


def world_entry(name: str) -> World:
    """The registered world `name`, its entry point imported on first use."""
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; registered: {', '.join(WORLDS)}")
    entry = WORLDS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
        if not isinstance(entry, World) or entry.spec.name != name:
            raise ValueError(f"entry point {WORLDS[name]!r} of world {name!r} is not a World named {name!r}")
        WORLDS[name] = entry
    return entry


def register_installed_worlds() -> None:
    """Register the worlds installed packages name in the entry point group `ptgm.worlds` (imported on first use)."""
    for point in entry_points(group="ptgm.worlds"):
        register_world(point.name, point.value)


register_world("crafter", "ptgm.envs.crafter:WORLD")
register_world("kitchen", "ptgm.envs.kitchen:WORLD")
register_installed_worlds()
