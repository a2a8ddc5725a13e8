"""How much does the choice of code matter on a task? Task success with one code held all episode.

For every code of a codebook, the frozen low-level policy pursues that code (re-chosen every
`--low-level-steps`, i.e. always the same) for whole episodes of `--task`, on the same fixed worlds
for every code. This is the set of the simplest high-level policies, the constant ones:

- if the best codes clearly beat the average, a high-level policy has something to learn even
  without looking at the state;
- if the spread of the per-code success rates is no wider than binomial noise over `--episodes`
  (printed next to it), the low-level policy behaves about the same whatever it is told on this
  task, and the high level can gain little by choosing.

    python bench/code_success.py --run runs/default --task stone --episodes 16
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from ptgm.goals.codebook import Codebook
from ptgm.models.low_level import LowLevelPolicy
from ptgm.rl.hierarchical import HierarchicalVecEnv, present_embedder


def code_success(low: LowLevelPolicy, codebook: Codebook, task: str, episodes: int, n_envs: int, low_level_steps: int,
                 cond_scale: float, seed: int, encoder: str | None = None) -> list[tuple[int, float, float]]:
    """(code, success rate, mean episode length) of every code, each over the same `episodes` worlds."""
    embedder = present_embedder(low, codebook, low.world, encoder)
    worlds = [seed * 100_000 + i for i in range(episodes)]
    results = []
    with HierarchicalVecEnv(task, n_envs, low, codebook, low_level_steps, cond_scale, seed=seed,
                            embedder=embedder) as env:
        for code in range(codebook.n_codes):
            env.reset(seeds=worlds)
            done = []
            while len(done) < episodes:
                done += env.step(np.full(n_envs, code)).episodes
            results.append((code, float(np.mean([e.success for e in done])), float(np.mean([e.length for e in done]))))
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="a `ptgm run` folder (its low/ and codebook/)")
    p.add_argument("--low", help="low-level policy directory (default: RUN/low)")
    p.add_argument("--codebook", help="codebook directory (default: RUN/codebook)")
    p.add_argument("--encoder", help="goal encoder directory, for a codebook on the 'learned' embedding")
    p.add_argument("--task", default="stone")
    p.add_argument("--episodes", type=int, default=16, help="episodes per code (the same worlds for every code)")
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--low-level-steps", type=int, default=10)
    p.add_argument("--cond-scale", type=float, default=0.0)
    p.add_argument("--top", type=int, default=10, help="codes listed at each end")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not (args.run or (args.low and args.codebook)):
        p.error("give --run, or --low and --codebook")
    torch.set_num_threads(args.threads)
    low = LowLevelPolicy.load(args.low or Path(args.run) / "low")
    codebook = Codebook.load(args.codebook or Path(args.run) / "codebook", embedder=low.embedder, dim=low.goal_dim)
    start = time.perf_counter()
    results = code_success(low, codebook, args.task, args.episodes, args.n_envs, args.low_level_steps,
                           args.cond_scale, args.seed, args.encoder)
    rates = np.array([r[1] for r in results])
    mean = float(rates.mean())
    noise = math.sqrt(mean * (1 - mean) / args.episodes)
    print(f"task {args.task}: {codebook.n_codes} codes x {args.episodes} episodes, k = {args.low_level_steps}, "
          f"cond_scale = {args.cond_scale} ({time.perf_counter() - start:.0f} s)")
    print(f"{'code':>6} {'success':>8} {'length':>7}")
    ranked = sorted(results, key=lambda r: -r[1])
    shown = ranked if len(ranked) <= 2 * args.top else ranked[: args.top] + [None] + ranked[-args.top:]
    for row in shown:
        print("   ..." if row is None else f"{row[0]:>6} {row[1]:>8.2f} {row[2]:>7.0f}")
    print(f"success over codes: mean {mean:.3f}, sd {rates.std():.3f} (binomial noise alone: {noise:.3f}), "
          f"best {rates.max():.2f}, worst {rates.min():.2f}")


if __name__ == "__main__":
    main()
