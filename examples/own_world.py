"""PTGM on a world of your own, end to end, in a few minutes on a 2-core CPU.

    python examples/own_world.py --out runs/corridor

The world is a corridor of 8 cells with a coin on a random cell: the smallest environment with what ptgm
asks of one (`ptgm.envs.base`): a `WorldSpec` naming its actions, achievements, items and symbolic layout,
and a Gymnasium env whose `info` carries `symbolic`, `inventory`, `achievements` and `player_pos`. Once
registered, every stage takes it by name: a random player records task-agnostic data, then the same
pipeline as `ptgm run` builds the codebook, the low-level policy and the prior, and trains PTGM and flat PPO
on a task defined in YAML. Copy this file and replace the world with yours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

from ptgm.envs import SymbolicLayout, World, WorldSpec, register_world
from ptgm.pipeline import RunConfig, load_run_config, run

LENGTH = 8
SPEC = WorldSpec(
    name="corridor",
    action_names=("noop", "left", "right", "pick"),
    achievements=("reach_end", "collect_coin"),
    items=("coins",),
    item_max=9,
    id_names=("wall", "floor", "coin", "player"),
    # What the agent sees: the 5 cells around it, then its inventory (one item).
    symbolic_layout=SymbolicLayout(view_shape=(1, 5), n_ids=4, n_items=1),
    pixel_shape=(64, 64, 3),  # this world renders no pixels; ptgm reads only the symbolic view
    default_max_steps=60,
)
TASKS = """\
coin:            # success once the agent has picked up the coin
  success: [collect_coin]
  max_steps: 40
"""


class Corridor(gym.Env):
    """Walk along 8 cells; `pick` on the coin's cell collects it; the far end is an achievement too."""

    def __init__(self, obs_mode: str = "symbolic", max_steps: int | None = None):
        if obs_mode != "symbolic":
            raise ValueError(f"the corridor has only a symbolic view, not {obs_mode!r}")
        self.max_steps = max_steps or SPEC.default_max_steps
        self.action_space = gym.spaces.Discrete(len(SPEC.action_names))
        self.observation_space = gym.spaces.Box(0, SPEC.item_max, (SPEC.symbolic_layout.size,), np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.world_seed = int(seed)  # what ptgm's evaluation records with each episode
        elif not hasattr(self, "world_seed"):
            self.world_seed = 0
        self.pos, self.t, self.coins = 0, 0, 0
        self.coin = int(self.np_random.integers(1, LENGTH))
        self.unlocked = np.zeros(len(SPEC.achievements), bool)
        return self._obs(), self._info(self.unlocked)

    def step(self, action: int):
        action = int(action)
        self.pos = int(np.clip(self.pos + {1: -1, 2: 1}.get(action, 0), 0, LENGTH - 1))
        now = np.zeros(len(SPEC.achievements), bool)  # unlocked on this step
        now[0] = self.pos == LENGTH - 1
        if action == 3 and self.pos == self.coin:
            self.coin, self.coins, now[1] = -1, self.coins + 1, True
        self.unlocked |= now
        self.t += 1
        return self._obs(), 0.0, False, self.t >= self.max_steps, self._info(now)

    def ending(self, terminated: bool) -> dict:
        """How the episode just ended, for whole-episode evaluation: the corridor only ever runs out of steps."""
        return {"cause": "timeout"}

    def _obs(self) -> np.ndarray:
        cells = []
        for d in range(-2, 3):
            x = self.pos + d
            cells.append(3 if d == 0 else 0 if not 0 <= x < LENGTH else 2 if x == self.coin else 1)
        return np.array([*cells, self.coins], np.uint8)

    def _info(self, now: np.ndarray) -> dict:
        obs = self._obs()
        return {"symbolic": obs, "inventory": obs[5:], "achievements": now, "unlocked": self.unlocked.copy(),
                "player_pos": np.array([self.pos, 0])}


def config(out: Path, seed: int = 0) -> RunConfig:
    """`ptgm run`'s settings for the corridor: tiny sizes, the random player, PTGM against flat PPO."""
    tasks = out / "corridor_tasks.yaml"
    high = {"world": "corridor", "tasks_file": str(tasks), "steps": 3_000, "n_envs": 2, "eval_every": 1_000,
            "eval_episodes": 10, "checkpoint_every": 1_000, "vector": "sync"}
    return load_run_config(None, from_scratch=True, out=str(out), seed=seed, task="coin", methods=["ptgm", "flat"],
                           val_frames=1_000, collect={"world": "corridor", "player": "random", "frames": 6_000,
                                                               "pixels": False},
                           codebook={"n_codebook": 8, "episodes": -1, "pictures": False},
                           low={"epochs": 3, "hidden": 64}, prior={"epochs": 3, "hidden": 64},
                           eval_low={"episodes": 2, "steps": 8, "codes": 8},
                           high={**high, "low_level_steps": 4, "steps_per_iter": 64, "batch_size": 32, "hidden": 64},
                           flat={**high, "steps_per_iter": 256, "hidden": 64})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/corridor"), help="run folder")
    parser.add_argument("--seed", type=int, default=0, help="seeds every stage")
    args = parser.parse_args()
    register_world("corridor", World(spec=SPEC, make_env=Corridor))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "corridor_tasks.yaml").write_text(TASKS)
    cfg = config(args.out, args.seed)
    print(run(cfg) / "report.md")


if __name__ == "__main__":
    main()
