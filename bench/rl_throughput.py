"""RL training throughput against the raw vector env and Stable-Baselines3, measured in the same run.

Each round measures, one after another (so load from other processes hits all alike; the table
gives the median over `--rounds`), in env steps per second:

- raw: the task's vector env (`TaskVecEnv`, `--n-envs` envs, symbolic observations) stepped with
  random primitive actions: the ceiling a rollout is compared against;
- flat: a short real `train-flat` run (`--steps` env steps), its iterations' total speed (rollout +
  update, read from progress.csv's per-iteration rows, the first one left out as warm-up;
  evaluation and start-up are not counted), and flat_rollout, the rollout part alone;
- high: a short real `train-high` run on the pre-training in `--run` (its low/, codebook/ and prior/
  are only read), the same way; skipped without `--run`;
- sb3: Stable-Baselines3's PPO with the same encoder, sizes and hyperparameters (`--n-envs`
  forked worker processes, `--steps-per-iter` steps per iteration, `--batch-size`, `--epochs`),
  timed per iteration the same way; skipped when `stable_baselines3` is not installed (an optional
  bench dependency: `pip install stable-baselines3`).

flat and sb3 use `--steps-per-iter`, `--batch-size` and `--epochs` for both; high keeps train-high's
own defaults (a high-level step is up to k env steps). Every trainer acts on `--threads` torch threads and
updates on `--update-threads` (SB3 switched by a callback at the end and start of each rollout).

    python bench/rl_throughput.py --run runs/default --rounds 3
    python bench/rl_throughput.py --json            # {"raw", "flat", "flat_rollout", "high", "sb3"}, env steps/s
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ptgm.envs import get_world, make_env
from ptgm.envs.vector import TaskVecEnv, usable_cores
from ptgm.models.encoders import make_obs_encoder
from ptgm.pipeline import Pretrained
from ptgm.rl.train_flat import FlatConfig, train_flat
from ptgm.rl.train_high import HighConfig, train_high


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="stone", help="downstream task of every measurement")
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=16384, help="env steps of each train-flat / train-high / SB3 run")
    p.add_argument("--raw-steps", type=int, default=4000, help="env steps of each raw measurement")
    p.add_argument("--steps-per-iter", type=int, default=1024, help="flat and SB3: env steps per PPO iteration")
    p.add_argument("--batch-size", type=int, default=256, help="flat and SB3: transitions per minibatch")
    p.add_argument("--epochs", type=int, default=4, help="flat and SB3: passes over each iteration's transitions")
    p.add_argument("--run", help="a pre-training folder (low/, codebook/, prior/) for the train-high row")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads of every trainer (ptgm's: while acting)")
    p.add_argument("--update-threads", type=int, default=1,
                   help="torch threads for the PPO update, ptgm's and SB3's alike (0: one per usable core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print only the medians as JSON")
    return p.parse_args()


def iteration_speeds(progress: Path) -> tuple[float, float]:
    """(total, rollout) env steps/s over a run's PPO iterations, the first left out (warm-up)."""
    with open(progress, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        raise SystemExit(f"{progress}: fewer than 2 iterations; raise --steps")
    steps = np.diff([0] + [int(float(r["env_steps"])) for r in rows])[1:]  # each iteration's env steps
    rows = rows[1:]
    total = sum(s / float(r["charts/env_steps_per_second"]) for s, r in zip(steps, rows))
    rollout = sum(s / float(r["charts/rollout_env_steps_per_second"]) for s, r in zip(steps, rows))
    return float(steps.sum() / total), float(steps.sum() / rollout)


def measure_raw(env: TaskVecEnv, steps: int, rng: np.random.Generator) -> float:
    done, start = 0, time.perf_counter()
    while done < steps:
        done += int(env.step(rng.integers(env.world.n_actions, size=env.n_envs)).env_steps.sum())
    return done / (time.perf_counter() - start)


def short_run_settings(args: argparse.Namespace, out: Path) -> dict:
    """What every short training run shares: no evaluation or checkpoint but the ones at 0 and at the end."""
    return {"task": args.task, "out": str(out), "seed": args.seed, "steps": args.steps, "n_envs": args.n_envs,
            "eval_every": 10 * args.steps, "checkpoint_every": 10 * args.steps, "eval_episodes": 1, "eval_envs": 1,
            "threads": args.threads, "update_threads": args.update_threads, "progress": False}


def measure_flat(args: argparse.Namespace, out: Path) -> tuple[float, float]:
    cfg = FlatConfig(**short_run_settings(args, out), steps_per_iter=args.steps_per_iter,
                     batch_size=args.batch_size, epochs=args.epochs)
    return iteration_speeds(train_flat(cfg) / "progress.csv")


def measure_high(args: argparse.Namespace, out: Path) -> float:
    at = Pretrained(Path(args.run)).check()
    cfg = HighConfig(**short_run_settings(args, out), low=str(at.low), codebook=str(at.codebook),
                     prior=str(at.prior), encoder=str(at.encoder) if at.learned_goals() else None)
    return iteration_speeds(train_high(cfg) / "progress.csv")[0]


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def measure_sb3(args: argparse.Namespace) -> float:
    """SB3's PPO with ptgm's encoder (separate actor and critic encoders, linear heads), timed per iteration."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from stable_baselines3.common.vec_env import SubprocVecEnv

    world = get_world("crafter")

    class Encoder(BaseFeaturesExtractor):
        def __init__(self, observation_space, hidden: int = 256):
            super().__init__(observation_space, hidden)
            self.encoder = make_obs_encoder("symbolic", world, hidden)

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.encoder(obs)

    class IterationClock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.marks: list[tuple[float, int]] = []  # (time, env steps) at each rollout's start, and at the end

        def _on_rollout_start(self) -> None:
            torch.set_num_threads(args.threads)
            self.marks.append((time.perf_counter(), self.num_timesteps))

        def _on_rollout_end(self) -> None:
            torch.set_num_threads(update_threads)  # SB3's update follows: the same split as ptgm's

        def _on_training_end(self) -> None:
            self.marks.append((time.perf_counter(), self.num_timesteps))

        def _on_step(self) -> bool:
            return True

    def make(i: int):
        return lambda: make_env("crafter", obs_mode="symbolic", task=args.task)

    update_threads = args.update_threads or usable_cores()

    env = SubprocVecEnv([make(i) for i in range(args.n_envs)], start_method="fork")
    env.seed(args.seed)
    try:
        defaults = FlatConfig(task=args.task)
        model = PPO("MlpPolicy", env, learning_rate=defaults.lr, n_steps=args.steps_per_iter // args.n_envs,
                    batch_size=args.batch_size, n_epochs=args.epochs, gamma=defaults.gamma,
                    gae_lambda=defaults.gae_lambda, clip_range=defaults.clip_coef, ent_coef=defaults.ent_coef,
                    vf_coef=defaults.vf_coef, max_grad_norm=defaults.max_grad_norm, seed=args.seed, device="cpu",
                    policy_kwargs={"features_extractor_class": Encoder, "share_features_extractor": False,
                                   "net_arch": {"pi": [], "vf": []}})
        clock = IterationClock()
        torch.set_num_threads(args.threads)
        model.learn(total_timesteps=args.steps, callback=clock)
    finally:
        env.close()
    (t0, s0), (t1, s1) = clock.marks[1], clock.marks[-1]  # the first iteration left out, as for ptgm's runs
    return (s1 - s0) / (t1 - t0)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    rows = ["raw", "flat", "flat_rollout"] + (["high"] if args.run else []) + (["sb3"] if sb3_available() else [])
    speeds: dict[str, list[float]] = {name: [] for name in rows}
    say = (lambda *_: None) if args.json else lambda msg: print(msg, flush=True)
    # The trainers print their evaluations; with --json, stdout holds the JSON alone.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet, tempfile.TemporaryDirectory(prefix="rl_throughput_") as tmp, \
         TaskVecEnv(args.task, args.n_envs, ("symbolic",)) as raw_env:
        raw_env.reset(seed=args.seed)
        measure_raw(raw_env, 200, rng)  # warm-up
        for r in range(args.rounds):
            speeds["raw"].append(measure_raw(raw_env, args.raw_steps, rng))
            flat, rollout = measure_flat(args, Path(tmp) / f"flat-{r}")
            speeds["flat"].append(flat)
            speeds["flat_rollout"].append(rollout)
            if "high" in speeds:
                speeds["high"].append(measure_high(args, Path(tmp) / f"high-{r}"))
            if "sb3" in speeds:
                speeds["sb3"].append(measure_sb3(args))
            say(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in speeds.items()))
    median = {name: statistics.median(v) for name, v in speeds.items()}
    if args.json:
        print(json.dumps({name: median.get(name) for name in ("raw", "flat", "flat_rollout", "high", "sb3")}))
        return
    print(f"task {args.task}, {args.n_envs} envs, symbolic; flat and SB3: {args.steps_per_iter} steps per iteration, "
          f"batch {args.batch_size}, {args.epochs} epochs; {args.steps:,} env steps per run; torch threads "
          f"{args.threads} while acting, {args.update_threads or 'one per core'} in updates (ptgm's and SB3's); "
          f"median of {args.rounds} rounds")
    print("| measured | env steps/s | ratio to raw | ratio to SB3 |")
    print("|---|---:|---:|---:|")
    for name, value in median.items():
        to_sb3 = f"{value / median['sb3']:.2f}" if "sb3" in median else "-"
        print(f"| {name} | {value:.0f} | {value / median['raw']:.2f} | {to_sb3} |")
    for name in ("high", "sb3"):
        if name not in median:
            print(f"{name}: skipped ({'no --run given' if name == 'high' else 'stable_baselines3 not installed'})")


if __name__ == "__main__":
    main()
