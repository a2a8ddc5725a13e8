"""Achievement statistics of the scripted Crafter player on raw crafter.

    python bench/scripted_player_stats.py --episodes 100 --workers 2 --seed 0

Rendering is skipped (the player reads the world directly), so Crafter steps several
times faster. Prints, per achievement, the share of episodes unlocking it next to human
experts, the Crafter score, episode lengths, causes of episode end and the player's
planning cost per step.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections import Counter

import numpy as np

# Human expert success rates (%) from the Crafter paper, for reference.
HUMAN = {
    "collect_wood": 100, "place_table": 100, "make_wood_pickaxe": 100, "collect_stone": 100,
    "collect_drink": 92, "place_stone": 90, "eat_cow": 89, "collect_coal": 86,
    "defeat_zombie": 84, "make_stone_pickaxe": 78, "make_stone_sword": 78, "wake_up": 73,
    "collect_sapling": 67, "collect_iron": 53, "make_wood_sword": 45, "place_furnace": 32,
    "defeat_skeleton": 31, "make_iron_pickaxe": 26, "place_plant": 24, "make_iron_sword": 22,
    "collect_diamond": 12, "eat_plant": 8,
}


class _Shim:
    """Stands in for the package env: exposes the raw game as ``.crafter``."""

    def __init__(self, seed: int) -> None:
        import crafter

        self.crafter = crafter.Env(seed=seed)
        # The player reads the world, not pixels: skip rendering and the semantic map.
        self.crafter._obs = lambda: None
        self.crafter._sem_view = lambda: None


def run_episode(args: tuple[int, float, int]) -> dict:
    seed, random_action_prob, max_steps = args
    from ptgm.envs.crafter.player import ScriptedPlayer

    env = _Shim(seed)
    player = ScriptedPlayer(seed=seed, random_action_prob=random_action_prob)
    env.crafter.reset()
    player.reset(env)
    obs, info, done, steps, plan_time = None, {}, False, 0, 0.0
    while not done and steps < max_steps:
        t0 = time.perf_counter()
        action = player.act(obs, info)
        plan_time += time.perf_counter() - t0
        obs, _, done, info = env.crafter.step(action)
        steps += 1
    inv = info.get("inventory", {})
    dead = inv.get("health", 1) <= 0
    cause = "timeout"
    if dead:
        low = [k for k in ("food", "drink", "energy") if inv.get(k, 1) == 0]
        cause = "starved:" + "+".join(low) if low else "killed"
    return {
        "seed": seed,
        "achievements": {k: int(v > 0) for k, v in info.get("achievements", {}).items()},
        "length": steps,
        "cause": cause,
        "plan_ms": 1000 * plan_time / max(1, steps),
        "random_frac": player.num_random_actions / max(1, player.num_actions),
    }


def crafter_score(rates_percent: list[float]) -> float:
    return float(np.exp(np.mean(np.log(1 + np.asarray(rates_percent)))) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10000, help="max steps per episode")
    parser.add_argument("--random-action-prob", type=float, default=0.1)
    args = parser.parse_args()

    jobs = [(args.seed * 100_003 + i, args.random_action_prob, args.steps) for i in range(args.episodes)]
    t0 = time.time()
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(run_episode, jobs, chunksize=1)
    else:
        results = [run_episode(j) for j in jobs]
    wall = time.time() - t0

    names = list(HUMAN)
    rates = {k: 100.0 * np.mean([r["achievements"].get(k, 0) for r in results]) for k in names}
    print(f"{'achievement':<20} {'player %':>9} {'human %':>8}")
    for k in sorted(names, key=lambda k: -HUMAN[k]):
        print(f"{k:<20} {rates[k]:>9.1f} {HUMAN[k]:>8d}")
    lengths = np.array([r["length"] for r in results])
    print(f"\nepisodes: {len(results)}  (seed {args.seed}, random_action_prob {args.random_action_prob})")
    print(f"crafter score: {crafter_score([rates[k] for k in names]):.1f}%  "
          f"(human experts: {crafter_score(list(HUMAN.values())):.1f}%)")
    print(f"achievements unlocked in some episode: {sum(rates[k] > 0 for k in names)}/22")
    print(f"episode length: mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, "
          f"min {lengths.min()}, max {lengths.max()}")
    print("episode ends:", dict(Counter(r["cause"] for r in results)))
    print(f"planning cost: {np.average([r['plan_ms'] for r in results], weights=lengths):.3f} ms/step")
    print(f"random actions: {100 * np.average([r['random_frac'] for r in results], weights=lengths):.1f}%")
    print(f"wall time: {wall:.0f} s for {lengths.sum()} steps")


if __name__ == "__main__":
    main()
