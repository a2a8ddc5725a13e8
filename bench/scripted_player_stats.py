"""Achievement statistics of the scripted Crafter player.

    python bench/scripted_player_stats.py --episodes 100 --workers 2 --seed 1

Runs ptgm's deterministic Crafter in symbolic mode (no rendering; the player reads the
world directly), so a (seed, episode) pair always gives the same trajectory. Prints, per
achievement, the share of episodes unlocking it next to human experts, the Crafter score,
episode lengths, causes of death (with the objective the player was pursuing) and the
player's planning cost per step.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections import Counter

import numpy as np


def run_episode(args: tuple[int, int, float, int, str, str]) -> dict:
    world_seed, player_seed, random_action_prob, max_steps, perception, choices = args

    from ptgm.envs import make_env
    from ptgm.envs.crafter.player import ScriptedPlayer

    env = make_env("crafter", obs_mode="symbolic", max_steps=max_steps)
    player = ScriptedPlayer(seed=player_seed, random_action_prob=random_action_prob, perception=perception,
                            choices=choices)
    obs, info = env.reset(seed=world_seed)
    player.reset(env.unwrapped)
    steps, plan_time, terminated, truncated = 0, 0.0, False, False
    while not (terminated or truncated):
        t0 = time.perf_counter()
        action = player.act(obs, info)
        plan_time += time.perf_counter() - t0
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
    names = env.unwrapped.spec_world.achievements
    objective = player.objective.name if player.objective is not None else "-"
    return {
        "achievements": dict(zip(names, info["unlocked"].astype(int).tolist())),
        "length": steps,
        "cause": f"{env.unwrapped.death_cause()} during {objective}" if terminated else "timeout",
        "plan_ms": 1000 * plan_time / max(1, steps),
        "random_frac": player.num_random_actions / max(1, player.num_actions),
    }


def main() -> None:
    from ptgm.envs import get_world, score_from_rates

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10000, help="max steps per episode")
    parser.add_argument("--random-action-prob", type=float, default=0.1)
    parser.add_argument("--perception", choices=("global", "local"), default="global",
                        help="what the player knows: the whole map, or only what is on screen now")
    parser.add_argument("--choices", choices=("random", "greedy"), default="random",
                        help="draw the next objective by weight, or take the heaviest")
    args = parser.parse_args()

    human = get_world("crafter").human_rates
    jobs = [(args.seed * 100_003 + i, args.seed * 7_919 + i, args.random_action_prob, args.steps, args.perception,
             args.choices) for i in range(args.episodes)]
    t0 = time.time()
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(run_episode, jobs, chunksize=1)
    else:
        results = [run_episode(j) for j in jobs]
    wall = time.time() - t0

    names = list(human)
    rates = {k: 100.0 * np.mean([r["achievements"].get(k, 0) for r in results]) for k in names}
    print(f"{'achievement':<20} {'player %':>9} {'human %':>8}")
    for k in sorted(names, key=lambda k: -human[k]):
        print(f"{k:<20} {rates[k]:>9.1f} {human[k]:>8d}")
    lengths = np.array([r["length"] for r in results])
    print(f"\nepisodes: {len(results)}  (seed {args.seed}, random_action_prob {args.random_action_prob})")
    print(f"crafter score: {score_from_rates(rates):.1f}%  (human experts: {score_from_rates(human):.1f}%)")
    print(f"achievements unlocked in some episode: {sum(rates[k] > 0 for k in names)}/22")
    print(f"episode length: mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, "
          f"min {lengths.min()}, max {lengths.max()}")
    causes = Counter(r["cause"] for r in results)
    print("episode ends:", ", ".join(f"{k}: {v}" for k, v in causes.most_common()))
    print(f"planning cost: {np.average([r['plan_ms'] for r in results], weights=lengths):.3f} ms/step")
    print(f"random actions: {100 * np.average([r['random_frac'] for r in results], weights=lengths):.1f}%")
    print(f"wall time: {wall:.0f} s for {lengths.sum()} steps")


if __name__ == "__main__":
    main()
