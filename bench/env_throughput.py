"""Raw Crafter throughput: environment steps per second, resets included, random actions.

The ceiling every later rollout is compared against. Each worker process steps its own
environment; all configurations are measured in one run, `--repeats` times, and the median
is printed.

    python bench/env_throughput.py [--steps 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import numpy as np

from ptgm.envs import make_env


def _worker(args: tuple[str, int, int]) -> tuple[int, int]:
    obs_mode, steps, seed = args
    env = make_env(obs_mode=obs_mode)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    resets = 0
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()
            resets += 1
    return steps, resets


def measure(obs_mode: str, workers: int, steps: int, seed: int) -> tuple[float, int]:
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_worker, [(obs_mode, 10, seed + i) for i in range(workers)])  # warm up (numba, textures)
        start = time.perf_counter()
        results = pool.map(_worker, [(obs_mode, steps, seed + i) for i in range(workers)])
        elapsed = time.perf_counter() - start
    return sum(s for s, _ in results) / elapsed, sum(r for _, r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000, help="steps per worker per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for obs_mode in ("pixels", "symbolic"):
        for workers in (1, 2):
            runs = [measure(obs_mode, workers, args.steps, args.seed + 100 * r) for r in range(args.repeats)]
            rows.append((obs_mode, workers, statistics.median(r[0] for r in runs), sum(r[1] for r in runs)))
    print(f"{'obs mode':<10} {'workers':>7} {'steps/s (median)':>17} {'resets':>7}")
    for obs_mode, workers, sps, resets in rows:
        print(f"{obs_mode:<10} {workers:>7} {sps:>17.0f} {resets:>7}")


if __name__ == "__main__":
    main()
