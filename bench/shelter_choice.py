"""Where does the scripted player shelter for the night: within sight, or somewhere only its map knows?

`bench/clone_survival.py` finds that no clone of the player (reactive, with a short or a long
memory, or trained with DAgger) survives the first night. The explanation it leaves is that the
player's night routine rests on what the observation does not show: `Sleep` picks the cheapest
1x2 pocket on the player's remembered map of the whole world (`ScriptedPlayer.find_pocket`). This
measures that. The player plays fresh worlds of plain Crafter as when recording data; for every
night it heads for shelter (each `Sleep` objective), the pocket it first picks is compared with
its 9x7 view at that moment, and the night is followed to whether it ends walled in.

    python bench/shelter_choice.py --episodes 30
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from ptgm.envs import make_env, make_player
from ptgm.envs.crafter.player import VIEW_X, VIEW_Y, Sleep


@dataclass
class Night:
    """One `Sleep` objective: the first pocket it picked (None: none in reach) and how the night went."""

    t: int
    offset: tuple[int, int] | None = None  # pocket entrance minus the player's position, when first picked
    in_view: bool | None = None  # every cell of the pocket, its ends and its sides within the 9x7 view
    walled_at: int | None = None  # first step it stood walled in

    @property
    def walled_in(self) -> bool:
        return self.walled_at is not None


def pocket_in_view(plan: tuple, pos: tuple[int, int]) -> bool:
    c1, c2, _, p, e, sides = plan
    return all(abs(c[0] - pos[0]) <= VIEW_X and abs(c[1] - pos[1]) <= VIEW_Y for c in (c1, c2, p, e, *sides))


def nights(world: int, seed: int, max_steps: int, random_action_prob: float) -> tuple[list[Night], int, int | None]:
    """The player's nights in one episode, how many steps it lived (at most `max_steps`), and the step it
    made its first wood pickaxe at (None: never)."""
    env = make_env("crafter", obs_mode="symbolic", max_steps=max_steps)
    obs, info = env.reset(seed=world)
    player = make_player("scripted", seed * 7_919 + world, random_action_prob=random_action_prob)
    player.reset(env.unwrapped)
    log: list[Night] = []
    current: list[Sleep] = []  # the Sleep objective `log[-1]` belongs to
    t = 0

    def night() -> Night:
        if not current or player.objective is not current[0]:
            current[:] = [player.objective]
            log.append(Night(t))
        return log[-1]

    find_pocket = player.find_pocket

    def watched() -> tuple | None:  # only Sleep looks for pockets
        plan = find_pocket()
        tonight = night()
        if tonight.in_view is None and plan is not None:
            pos = player.w.pos
            tonight.offset = (plan[3][0] - pos[0], plan[3][1] - pos[1])
            tonight.in_view = pocket_in_view(plan, pos)
        return plan

    player.find_pocket = watched
    pickaxe_at = None
    for t in range(max_steps):
        action = player.act(obs, info)
        if isinstance(player.objective, Sleep) and night().walled_at is None and player.enclosed():
            log[-1].walled_at = t
        obs, _, terminated, truncated, info = env.step(action)
        if pickaxe_at is None and player.w.player.achievements["make_wood_pickaxe"] > 0:
            pickaxe_at = t + 1
        if terminated or truncated:
            return log, t + 1, pickaxe_at
    return log, max_steps, pickaxe_at


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=30, help="fresh worlds the player plays")
    p.add_argument("--max-steps", type=int, default=1500, help="steps per episode (5 Crafter days)")
    p.add_argument("--random-action-prob", type=float, default=0.1, help="as when recording (`ptgm collect`)")
    p.add_argument("--seed", type=int, default=0, help="seeds the worlds and the player")
    args = p.parse_args()
    start = time.perf_counter()
    log, lengths, walled, pickaxe = [], [], [], []
    for i in range(args.episodes):
        episode, length, pickaxe_at = nights(args.seed * 100_000 + i, args.seed, args.max_steps,
                                             args.random_action_prob)
        pickaxe.append(pickaxe_at)
        log += episode
        lengths.append(length)
        walled.append(any(n.walled_in for n in episode))
    picked = [n for n in log if n.in_view is not None]
    near = [n for n in picked if n.in_view]
    far = [n for n in picked if not n.in_view]
    steps = np.array([abs(n.offset[0]) + abs(n.offset[1]) for n in picked])

    def share_walled(group: list[Night]) -> str:
        return f"{np.mean([n.walled_in for n in group]):.0%}" if group else "-"

    print(f"{args.episodes} fresh worlds, at most {args.max_steps} steps each (median life {np.median(lengths):.0f}), "
          f"{time.perf_counter() - start:.0f} s")
    made = [s for s in pickaxe if s is not None]
    print(f"made a wood pickaxe: {len(made) / len(pickaxe):.0%} of lives"
          + (f", at a median step of {np.median(made):.0f}" if made else ""))
    print(f"episodes in which it ever stood walled in: {np.mean(walled):.0%}")
    print(f"shelter attempts (Sleep objectives): {len(log)}; walled in: {share_walled(log)}")
    print(f"never found a pocket in reach: {len(log) - len(picked)}")
    if picked:
        print(f"first pocket picked: {len(picked)}; within the 9x7 view: {len(near)} ({len(near) / len(picked):.0%}), "
              f"walled in {share_walled(near)}; outside it: {len(far)}, walled in {share_walled(far)}")
        entrance = np.mean([abs(n.offset[0]) <= VIEW_X and abs(n.offset[1]) <= VIEW_Y for n in picked])
        print(f"its entrance: within the view {entrance:.0%}; distance (|dx| + |dy|) median {np.median(steps):.0f}, "
              f"75th percentile {np.percentile(steps, 75):.0f}, max {steps.max()}")
    took = np.array([n.walled_at - n.t for n in log if n.walled_in])
    if len(took):
        print(f"steps from heading for shelter to walled in: median {np.median(took):.0f}, 75th percentile "
              f"{np.percentile(took, 75):.0f}, max {took.max()}")


if __name__ == "__main__":
    main()
