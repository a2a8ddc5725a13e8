"""The Crafter backend: the only package in ptgm that imports `crafter`."""

from ptgm.envs.crafter.env import CRAFTER_SPEC, CrafterEnv

__all__ = ["CRAFTER_SPEC", "CrafterEnv"]
