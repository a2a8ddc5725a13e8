"""The Franka Kitchen backend: the only package in ptgm that imports `gymnasium_robotics` and `mujoco`.

`KITCHEN_SPEC` needs neither; `KitchenEnv` and `KitchenPlayer` import them when first used. `WORLD` is what
`ptgm.envs.registry` registers as "kitchen"."""

from importlib import resources
from pathlib import Path

from ptgm.envs.kitchen.spec import KITCHEN_SPEC, SUBTASKS, events_from_states
from ptgm.envs.registry import World

INSTALL_HINT = "Franka Kitchen needs gymnasium-robotics and mujoco: pip install 'ptgm[kitchen]'"


class MissingExtraError(ValueError):
    """The optional packages of the Kitchen world are not installed (a ValueError: the CLI prints one line)."""


def __getattr__(name: str):
    # Imported on first use, so that naming the world (its spec, its tasks) never needs MuJoCo.
    if name == "KitchenEnv":
        from ptgm.envs.kitchen.env import KitchenEnv

        return KitchenEnv
    if name == "KitchenPlayer":
        from ptgm.envs.kitchen.player import KitchenPlayer

        return KitchenPlayer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_env(obs_mode: str = "symbolic", max_steps: int | None = None):
    from ptgm.envs.kitchen.env import KitchenEnv

    return KitchenEnv(obs_mode=obs_mode, max_steps=max_steps)


def scripted_player(seed: int, random_action_prob: float = 0.1, target_spread: float = 0.0,
                    perception: str = "global", choices: str = "random"):
    """The scripted demonstrator (`ptgm.envs.kitchen.player`). Its imperfection is action noise, not random
    key presses, and it always sees the whole state: the Crafter player's settings are refused, not ignored."""
    if target_spread != 0.0 or perception != "global" or choices != "random":
        raise ValueError("the kitchen player has no --target-spread, --perception or --choices (they are Crafter's)")
    from ptgm.envs.kitchen.player import KitchenPlayer

    return KitchenPlayer(seed)


WORLD = World(spec=KITCHEN_SPEC, make_env=_make_env,
              tasks_file=Path(str(resources.files("ptgm.envs.kitchen") / "tasks.yaml")),
              players={"scripted": scripted_player}, events_from_states=events_from_states)

__all__ = ["WORLD", "scripted_player", "INSTALL_HINT", "KITCHEN_SPEC", "SUBTASKS", "KitchenEnv", "KitchenPlayer", "MissingExtraError"]
