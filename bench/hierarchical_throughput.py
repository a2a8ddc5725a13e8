"""Hierarchical rollout throughput against the raw vector env, measured in the same run.

Both use the same N worker processes. "raw" steps them with random primitive actions
(`TaskVecEnv.step`: the vector env plus episode bookkeeping); "hierarchical" runs
`HierarchicalVecEnv.step` with random codes, so every env step includes the batched low-level
forward pass (with guidance). Rounds alternate between the two so load from other processes hits
both alike; the table gives env steps per second (median over rounds) and their ratio.

A Crafter reset (world generation, ~50-100 ms) stalls the lockstep vector step, so throughput
depends on how often episodes end, i.e. on behaviour: the low-level policy collects wood in ~60
steps where random actions die in ~150. The default task, `fixed100` (success never happens, the
episode is cut at 100 steps), gives both the same reset rate, so the ratio isolates the cost of the
hierarchy itself; `--task wood` etc. measure a real task (episodes per 1000 steps are printed).

    python bench/hierarchical_throughput.py --low /tmp/shared_models/low --codebook /tmp/shared_models/codebook
    python bench/hierarchical_throughput.py            # random-init low-level policy and codebook
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ptgm.envs import get_world, make_env
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.models.low_level import LowLevelPolicy
from ptgm.rl.hierarchical import HierarchicalVecEnv, present_embedder


def random_models(n_codes: int, hidden: int) -> tuple[LowLevelPolicy, Codebook]:
    """An untrained low-level policy and a codebook of real observations' embeddings (same cost as trained)."""
    world = get_world("crafter")
    embedder = make_embedder("state", world)
    env = make_env(obs_mode="symbolic")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    frames = [env.step(int(rng.integers(world.n_actions)))[0] for _ in range(n_codes)]
    codes = embedder.embed(np.stack(frames))
    book = Codebook(codes, embedder.settings(), [{"episode": "none", "step": i} for i in range(n_codes)])
    return LowLevelPolicy(world, "symbolic", embedder.dim, embedder.settings(), hidden).eval(), book


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--low", help="low-level policy directory (default: an untrained one)")
    p.add_argument("--codebook", help="codebook directory (default: 64 random real goals)")
    p.add_argument("--task", default="fixed100", help="fixed100 (built here) or any task name")
    p.add_argument("--n-envs", type=int, nargs="+", default=[8])
    p.add_argument("--low-level-steps", type=int, default=10)
    p.add_argument("--cond-scale", type=float, default=0.0, help="guidance scale (train-high default 0; 7 doubles the forward batch)")
    p.add_argument("--env-steps", type=int, default=4000, help="env steps per measurement round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.low:
        low = LowLevelPolicy.load(args.low)
        book = Codebook.load(args.codebook, embedder=low.embedder, dim=low.goal_dim)
    else:
        low, book = random_models(64, 256)
    embedder = present_embedder(low, book, low.world)
    rng = np.random.default_rng(args.seed)
    tasks_file = Path(tempfile.mkdtemp()) / "bench_tasks.yaml"
    tasks_file.write_text("fixed100:\n  success: [collect_diamond]\n  max_steps: 100\n")
    print(f"low-level policy: {args.low or 'untrained, hidden 256'}; {book.n_codes} codes; "
          f"k = {args.low_level_steps}; cond_scale = {args.cond_scale}; torch threads = {args.threads}")
    print(f"task {args.task}")
    print(f"{'n_envs':>6} {'raw steps/s':>12} {'hier steps/s':>13} {'ratio':>6} {'low fwd ms/step':>16} "
          f"{'raw eps/1k':>10} {'hier eps/1k':>11}")
    for n in args.n_envs:
        with HierarchicalVecEnv(args.task, n, low, book, args.low_level_steps, args.cond_scale, seed=args.seed,
                                tasks_file=tasks_file, embedder=embedder) as env:
            env.reset(seed=args.seed)
            episodes = {"raw": [0, 0], "hier": [0, 0]}  # episodes ended, env steps

            def measure(mode: str) -> float:
                steps, start = 0, time.perf_counter()
                while steps < args.env_steps:
                    if mode == "raw":
                        step = env.step_primitive(rng.integers(env.world.n_actions, size=n))
                    else:
                        step = env.step(rng.integers(book.n_codes, size=n))
                    steps += int(step.env_steps.sum())
                    episodes[mode][0] += len(step.episodes)
                seconds = time.perf_counter() - start
                episodes[mode][1] += steps
                return steps / seconds

            measure("hier")  # warm-up: first forward passes, first episodes
            for counts in episodes.values():
                counts[:] = [0, 0]
            raws, hiers = [], []
            for _ in range(args.rounds):
                raws.append(measure("raw"))
                hiers.append(measure("hier"))
            obs = torch.from_numpy(env.obs[low.obs_mode])
            goals = env.goals(rng.integers(book.n_codes, size=n))
            start = time.perf_counter()
            for _ in range(50):  # the embedding of the present is part of the low-level step's cost
                current = torch.from_numpy(embedder.embed(env.obs[embedder.needs])) if embedder else None
                low.act(obs, goals, args.cond_scale, current=current)
            forward_ms = (time.perf_counter() - start) / 50 * 1000
            raw, hier = statistics.median(raws), statistics.median(hiers)
            rate = {m: 1000 * e / max(s, 1) for m, (e, s) in episodes.items()}
            print(f"{n:>6} {raw:>12.0f} {hier:>13.0f} {hier / raw:>6.2f} {forward_ms:>16.2f} "
                  f"{rate['raw']:>10.1f} {rate['hier']:>11.1f}")


if __name__ == "__main__":
    main()
