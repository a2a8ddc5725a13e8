"""What every RL trainer's loop shares (`ptgm.rl.ppo.learn`, `ptgm.rl.sac.learn`): the worlds it restarts in,
its periodic evaluation, and the episode columns of its progress rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn
from tqdm import tqdm

from ptgm.envs.vector import TaskVecEnv
from ptgm.evaluate.periodic import evaluate
from ptgm.rl.run import Run


def restart_seed(seed: int, env_steps: int) -> int:
    """The seed the training envs reset with, at the start and after a resume at `env_steps`: worlds after a
    resume differ from the ones the stopped run would have met (a world cannot be saved)."""
    return int(np.random.SeedSequence([seed, env_steps]).generate_state(1)[0] & 0x3FFFFFFF)


def evaluate_into(run: Run, policy: nn.Module, eval_env: TaskVecEnv, cfg: Any, counters: dict[str, Any],
                  bar: tqdm) -> None:
    """Evaluate `policy` now (`cfg.eval_episodes` episodes), log the point to eval.csv, schedule the next
    evaluation in `counters`, and print one line under the progress bar."""
    point, _ = evaluate(policy, eval_env, cfg.eval_episodes, counters["env_steps"], cfg.eval_deterministic,
                        seed=cfg.seed)
    run.log_eval(point)
    counters["last_eval"] = counters["env_steps"]
    counters["next_eval"] = counters["env_steps"] + cfg.eval_every
    bar.write(f"eval @ {counters['env_steps']:,} env steps: success {point.success_rate:.2f}, "
              f"return {point.episode_return:.2f}, length {point.episode_length:.0f} ({point.seconds:.1f} s)")


def episode_charts(episodes: list) -> dict[str, float]:
    """The progress row's columns for the training episodes that ended this iteration (NaN when none did)."""
    nan = float("nan")
    return {"charts/success_rate": float(np.mean([e.success for e in episodes])) if episodes else nan,
            "charts/episode_return": float(np.mean([e.episode_return for e in episodes])) if episodes else nan,
            "charts/episode_length": float(np.mean([e.length for e in episodes])) if episodes else nan,
            "charts/episodes": len(episodes)}
