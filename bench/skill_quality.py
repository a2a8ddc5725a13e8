"""Skill quality of a pre-training folder: does the low-level policy play like its data, and does the goal steer it?

    python bench/skill_quality.py --run runs/default [--episodes 100] [--json]

Prints one table:

- for the demonstrator (the recorded player), the clone (low-level policy, null goal) and zero-shot PTGM
  (a prior-drawn code every --low-level-steps steps), on the same fresh worlds of the plain game (the
  world's own step limit, 10,000 for Crafter, 280 for Kitchen), what fits the world (`ptgm.evaluate.skills`):
  - a world summarised by score (Crafter): its score, median life, share of lives ending in the dark, wood and
    stone pickaxe rates, what ended the lives, and the first night: the share of lives that outlast the first
    day ("night"), of those that see dusk the share holding two stone or more then ("stone"), and the share of
    the night's dark steps spent asleep and walled in ("shelter");
  - a world summarised by count (Kitchen): the mean number of achievements (subtasks) unlocked per episode, each
    one's rate, the share of episodes unlocking all of the world's benchmark ones ("benchmark": Kitchen's
    standard four), median life and what ended the lives;
- `ptgm eval-low` reach at 10 and 50 steps for a random, the unconditional and the goal-conditioned policy,
  and the goal's ratio to unconditional (fresh, validation and reachable starts, all codes);
- the low-level policy's validation recall of each craft and place action (`ptgm train-low`'s metrics), in a
  world of discrete actions.

With --json it prints one object instead: {"demonstrator": {"score" or "unlocked", "median_life", ...,
"rates": {achievement: rate}}, "clone": {...},
"zero_shot": {...}, "reach": {"10": {"random", "unconditional", "goal"}, "50": {...}}, "recall": {...}},
scores in percent, reach as fractions. The eval-low results are kept in RUN/skill_quality/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ptgm.envs import WorldSpec
from ptgm.evaluate.eval_low import EvalLowConfig, eval_low
from ptgm.evaluate.skills import AGENTS, Skills, skill_table
from ptgm.io import load_json
from ptgm.pipeline import Pretrained

REACH_STEPS = (10, 50)
# The tech tree's first steps, shown by a score world's table (Crafter's): the score alone hides where play stalls.
PICKAXES = ("make_wood_pickaxe", "make_stone_pickaxe")


def columns(world: WorldSpec) -> list[tuple[str, str, int, int]]:
    """The table's columns for `world` between the agent and what ended the lives: (header, key, width, decimals)."""
    nights = [("dark", "dark_share", 6, 2)] if world.day_length else []
    first_night = [("night", "first_night", 6, 2), ("stone", "stone_at_dusk", 6, 2),
                   ("shelter", "sheltered", 8, 2)] if world.day_length else []
    if world.summary == "score":
        tools = [(header := name.removeprefix("make_").replace("_", " "), name, len(header) + 1, 2)
                 for name in PICKAXES if name in world.achievements]
        return [("score %", "score", 8, 1), ("median life", "median_life", 12, 0), *nights, *tools, *first_night]
    rates = [(name, name, max(len(name), 5), 2) for name in world.achievements]
    benchmark = [("benchmark", "benchmark", 9, 2)] if world.benchmark else []
    return [("unlocked", "unlocked", 8, 2), *rates, *benchmark, ("median life", "median_life", 12, 0), *nights,
            *first_night]


def reach(run: Pretrained, encoder: Path | None, steps: int, episodes: int, seed: int,
          threads: int) -> dict[str, float]:
    cfg = EvalLowConfig(low=str(run.low), codebook=str(run.codebook), data=str(run.data), episodes=episodes,
                        steps=steps, cond_scale=[0.0], seed=seed, threads=threads,
                        encoder=None if encoder is None else str(encoder), progress=False,
                        out=str(run.root / "skill_quality" / f"eval_low_{steps}.json"))
    summary = eval_low(cfg)["summary"]
    return {"random": summary["random"]["reached"], "unconditional": summary["unconditional"]["reached"],
            "goal": summary["goal s=0"]["reached"]}


def recall(run: Pretrained) -> dict[str, float]:
    """Validation recall of each craft and place action, from the low-level policy's best-validation metrics."""
    best = load_json(run.low / "metrics.json", "low-level metrics")["best"]
    return {k.removeprefix("val_recall_"): v for k, v in best.items()
            if k.startswith("val_recall_") and k.removeprefix("val_recall_").startswith(("make_", "place_"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a pre-training folder (`ptgm run`'s data/, codebook/, low/, prior/)")
    p.add_argument("--episodes", type=int, default=100, help="fresh worlds per agent (the same for each)")
    p.add_argument("--agents", nargs="+", choices=AGENTS, default=list(AGENTS))
    p.add_argument("--low-level-steps", type=int, default=10, help="env steps per prior-drawn code (zero_shot)")
    p.add_argument("--reach-episodes", type=int, default=2, help="eval-low rollouts per code and kind of start")
    p.add_argument("--no-reach", action="store_true", help="skip the eval-low part")
    p.add_argument("--seed", type=int, default=0, help="seeds the worlds, the players and the sampling")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args()
    if args.episodes < 1 or args.low_level_steps < 1 or args.reach_episodes < 1:
        p.error("--episodes, --low-level-steps and --reach-episodes must be at least 1")
    torch.set_num_threads(args.threads)
    run = Pretrained(Path(args.run))
    missing = [str(d) for d in (run.data, run.codebook, run.low, run.prior) if not d.is_dir()]
    if missing:
        p.error(f"{args.run} is not a pre-training folder (`ptgm run`'s layout): no {', '.join(missing)}")
    encoder = run.encoder if run.encoder.is_dir() else None
    pre = Skills.load(run.data, run.codebook, run.low, run.prior, encoder)

    start = time.perf_counter()
    table = skill_table(pre, args.episodes, args.seed, tuple(args.agents), args.low_level_steps)
    result: dict = {agent: row | {name.removeprefix("make_"): row["rates"][name] for name in PICKAXES
                                  if name in row["rates"]} for agent, row in table.items()}
    play_seconds = time.perf_counter() - start
    if not args.no_reach:
        result["reach"] = {str(k): reach(run, encoder, k, args.reach_episodes, args.seed, args.threads)
                           for k in REACH_STEPS}
    result["recall"] = recall(run)
    result["seconds"] = {"play": play_seconds, "total": time.perf_counter() - start}
    if args.json:
        json.dump(result, sys.stdout)
        print()
        return

    print(f"{args.run}: {args.episodes} fresh worlds per agent, plain game, k = {args.low_level_steps} "
          f"({result['seconds']['play']:.0f} s)")
    world = pre.low.world
    cols = columns(world)
    print(f"{'agent':<13}" + "".join(f" {header:>{width}}" for header, _, width, _ in cols) + "  ends")
    for agent in args.agents:
        r = result[agent] | result[agent]["rates"]  # the columns read achievements' rates by name
        print(f"{agent:<13}" + "".join(f" {r[key]:>{width}.{decimals}f}" for _, key, width, decimals in cols) + "  "
              + ", ".join(f"{k} {v}" for k, v in list(r["causes"].items())[:4]))
    if world.benchmark:
        print(f"benchmark: share of episodes unlocking all of {', '.join(world.benchmark)}")
    for k, row in result.get("reach", {}).items():
        ratio = row["goal"] / row["unconditional"] if row["unconditional"] else float("nan")
        print(f"eval-low reach at {k:>2} steps: random {row['random']:.3f}, unconditional {row['unconditional']:.3f}, "
              f"goal {row['goal']:.3f} (goal / unconditional {ratio:.2f})")
    rec = result["recall"]
    if not world.continuous:
        print("val recall: " + (", ".join(f"{k} {v:.2f}" for k, v in rec.items()) if rec else
                                "not in low/metrics.json (trained before ptgm recorded it)"))
    print(f"total {result['seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
