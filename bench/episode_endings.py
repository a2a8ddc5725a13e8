"""How long do the pre-trained agents survive in plain Crafter, and what ends their episodes?

Three agents play the same fresh worlds (no task, Crafter's 10,000-step limit):

- scripted: the task-agnostic player the dataset was recorded from (it plans on a remembered map
  and walls itself in at night);
- clone: the low-level policy with the null goal, i.e. plain behaviour cloning of that player;
- ptgm: zero-shot PTGM, a code drawn from the goal prior every `--low-level-steps` steps and
  pursued by the low-level policy (what the high-level policy starts from with
  `--initialize-with-prior`).

Per agent it prints the episode lengths, the share of episodes ending in the dark (Crafter's
daylight below 0.5; the first night is darkest at step 210), and the causes of death
(`CrafterEnv.death_cause`). Failed task episodes are mostly deaths, so this says what limits
PTGM's success on long tasks.

    python bench/episode_endings.py --run runs/benchmark --episodes 30
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ptgm.envs import get_world, make_env, make_player
from ptgm.goals.codebook import Codebook
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.rl.hierarchical import present_embedder

AGENTS = ("scripted", "clone", "ptgm")


def play(agent: str, run: Path, worlds: list[int], low_level_steps: int, seed: int,
         deterministic: bool = False) -> list[dict]:
    """One episode per world, all envs stepped together (one forward pass a step for the networks)."""
    envs = [make_env("crafter", obs_mode="symbolic") for _ in worlds]
    started = [env.reset(seed=w) for env, w in zip(envs, worlds)]
    obs = np.stack([o for o, _ in started])
    infos = [info for _, info in started]
    gen = torch.Generator().manual_seed(seed)
    if agent == "scripted":
        players = [make_player("scripted", seed * 7_919 + i) for i in range(len(envs))]
        for player, env in zip(players, envs):
            player.reset(env.unwrapped)
    else:
        codebook = Codebook.load(run / "codebook")
        low = LowLevelPolicy.load(run / "low", codebook.embedder)
        embedder = present_embedder(low, codebook, low.world)
        prior = GoalPrior.load(run / "prior", codebook) if agent == "ptgm" else None
        goals = torch.zeros(len(envs), low.goal_dim)
    results: list[dict | None] = [None] * len(envs)
    t = 0
    while any(r is None for r in results):
        alive = np.array([r is None for r in results])
        if agent == "scripted":
            actions = np.array([p.act(o, info) if a else 0 for p, o, info, a in zip(players, obs, infos, alive)])
        else:
            x = torch.from_numpy(obs)
            with torch.no_grad():
                if prior is not None and t % low_level_steps == 0:
                    codes = torch.multinomial(torch.softmax(prior(x), dim=1), 1, generator=gen).squeeze(1)
                    goals = torch.from_numpy(codebook.codes[codes.numpy()])
                current = (None if embedder is None
                           else torch.from_numpy(embedder.embed(np.stack([info["symbolic"] for info in infos]))))
                actions = low.act(x, goals, deterministic=deterministic, generator=gen, unconditional=prior is None,
                                  current=current).numpy()
        for i, env in enumerate(envs):
            if not alive[i]:
                continue
            obs[i], _, terminated, truncated, infos[i] = env.step(int(actions[i]))
            if terminated or truncated:
                results[i] = {"length": t + 1, **env.unwrapped.ending(terminated)}
        t += 1
    return results  # type: ignore[return-value]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a `ptgm run` folder (its low/, codebook/ and prior/)")
    p.add_argument("--agents", nargs="+", choices=AGENTS, default=list(AGENTS))
    p.add_argument("--episodes", type=int, default=30, help="episodes per agent (the same worlds for each)")
    p.add_argument("--low-level-steps", type=int, default=10, help="env steps per prior-drawn code (ptgm)")
    p.add_argument("--low-deterministic", action="store_true",
                   help="the low-level policy takes its most likely action instead of sampling (clone, ptgm)")
    p.add_argument("--seed", type=int, default=0, help="seeds the worlds, the players and the sampling")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    for part in ("low", "codebook", "prior"):
        if not (run / part).is_dir():
            p.error(f"{run / part} not found: --run must be a `ptgm run` folder")
    worlds = [args.seed * 100_000 + i for i in range(args.episodes)]
    print(f"{args.episodes} fresh worlds per agent, plain Crafter (limit 10,000 steps), k = {args.low_level_steps}, "
          f"low level {'deterministic' if args.low_deterministic else 'sampled'}")
    print(f"{'agent':<9} {'median length':>13} {'mean':>6} {'min':>5} {'max':>6} {'ended in the dark':>17} {'s':>5}"
          "  causes")
    for agent in args.agents:
        start = time.perf_counter()
        results = play(agent, run, worlds, args.low_level_steps, args.seed, args.low_deterministic)
        lengths = np.array([r["length"] for r in results])
        causes = Counter(r["cause"] for r in results)
        dark = np.mean([r["dark"] for r in results])
        print(f"{agent:<9} {np.median(lengths):>13.0f} {lengths.mean():>6.0f} {lengths.min():>5} {lengths.max():>6} "
              f"{dark:>17.0%} {time.perf_counter() - start:>5.0f}  "
              + ", ".join(f"{k} {v}" for k, v in causes.most_common()))


if __name__ == "__main__":
    main()
