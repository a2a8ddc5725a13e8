"""How well the Kitchen scripted demonstrator does its subtasks, and how fast it plays.

    python bench/kitchen_demonstrator.py --episodes 20 [--json] [--seed 0]

For each of the 7 subtasks: the success rate of the player doing that subtask alone, in fresh
episodes of the single-subtask task (280 steps). Then the rate at which it finishes the standard
four (microwave, kettle, bottom burner, light switch, in a random order of its own) within the
`standard_four` task's 280 steps. The player keeps its action noise, pauses and free moves: this
is the player that collects the datasets, told which subtasks to do. Steps/s counts every env
step of the run, the player's own time included, in this one process.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ptgm.envs import get_task, get_world, make_env
from ptgm.envs.kitchen import KitchenPlayer

FOUR = "standard_four"


def success_rate(task_name: str, episodes: int, seed: int) -> tuple[float, int]:
    """(share of episodes in which `task_name` succeeded, env steps taken) for the player doing its subtasks."""
    world = get_world("kitchen")
    task = get_task(task_name, world)
    env = make_env("kitchen", task=task)
    wins, steps = 0, 0
    for i in range(episodes):
        episode_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        player = KitchenPlayer(episode_seed, subtasks=task.success)
        obs, info = env.reset(seed=episode_seed)
        player.reset(env.unwrapped)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(player.act(obs, info))
            steps += 1
            wins += info["success"]
            done = terminated or truncated
    env.close()
    return wins / episodes, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per subtask and for the four-subtask task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")

    start, steps = time.perf_counter(), 0
    subtasks = {}
    for name in get_world("kitchen").achievements:
        subtasks[name], n = success_rate(name, args.episodes, args.seed)
        steps += n
    four, n = success_rate(FOUR, args.episodes, args.seed)
    steps += n
    result = {"subtasks": subtasks, "four_task_280": four, "steps_per_s": steps / (time.perf_counter() - start)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"Kitchen scripted demonstrator, {args.episodes} episodes each, seed {args.seed}")
    print(f"{'subtask (alone, 280 steps)':<28} success")
    for name, rate in subtasks.items():
        print(f"{name:<28} {rate:7.0%}")
    print(f"{'standard four within 280':<28} {four:7.0%}")
    print(f"{'env steps/s (one process)':<28} {result['steps_per_s']:7.0f}")


if __name__ == "__main__":
    main()
