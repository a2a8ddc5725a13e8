"""The Crafter backend: the only package in ptgm that imports `crafter`. `WORLD` is what
`ptgm.envs.registry` registers as "crafter"."""

from ptgm.envs.crafter.env import CRAFTER_SPEC, CrafterEnv
from ptgm.envs.registry import World
from ptgm.envs.tasks import builtin_tasks_path


def scripted_player(seed: int, random_action_prob: float = 0.1, target_spread: float = 0.0,
                    perception: str = "global", choices: str = "random"):
    """The scripted task-agnostic player (`ptgm.envs.crafter.player`), imported when first asked for."""
    from ptgm.envs.crafter.player import ScriptedPlayer

    return ScriptedPlayer(seed, random_action_prob=random_action_prob, target_spread=target_spread,
                          perception=perception, choices=choices)


WORLD = World(spec=CRAFTER_SPEC, make_env=CrafterEnv, tasks_file=builtin_tasks_path(),
              players={"scripted": scripted_player})

__all__ = ["CRAFTER_SPEC", "CrafterEnv", "WORLD", "scripted_player"]
