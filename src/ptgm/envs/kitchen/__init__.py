"""The Franka Kitchen backend: the only package in ptgm that imports `gymnasium_robotics` and `mujoco`.

`KITCHEN_SPEC` needs neither; `KitchenEnv` and `KitchenPlayer` import them when first used."""

from ptgm.envs.kitchen.spec import KITCHEN_SPEC, SUBTASKS

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


__all__ = ["INSTALL_HINT", "KITCHEN_SPEC", "SUBTASKS", "KitchenEnv", "KitchenPlayer", "MissingExtraError"]
