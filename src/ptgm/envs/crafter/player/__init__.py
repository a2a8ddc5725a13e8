"""A scripted Crafter player that plays the whole game, for task-agnostic free-play data.

- `grid`: material and action ids, shortest paths and array shifts (numba kernels);
- `perception`: what the player knows each step (the whole map, or only its screen);
- `moves`: getting somewhere, digging and bridging, and the stone pocket it sleeps in;
- `objectives`: collect, interact, explore, sleep, garden;
- `player`: `ScriptedPlayer`, which picks one objective at a time and reacts to danger.
"""

from ptgm.envs.crafter.player.perception import PERCEPTIONS, World, walled_in
from ptgm.envs.crafter.player.player import ScriptedPlayer

__all__ = ["PERCEPTIONS", "ScriptedPlayer", "World", "walled_in"]
