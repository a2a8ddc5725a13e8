"""`ptgm collect`: record task-agnostic episodes with a player, in parallel, resumably.

Episode i of a run with seed s always gets the same world and player seeds, so a collection that
is interrupted and started again continues with the next episodes and never duplicates or loses
a completed one. The frame budget is exact: the last episodes are truncated to fit it.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ptgm.data.store import DatasetWriter, EpisodeInfo, write_episode
from ptgm.envs import get_world, make_env, make_player
from ptgm.io import provenance

PRESETS = {"small": 50_000, "full": 1_000_000}


@dataclass
class CollectConfig:
    out: str  # dataset directory (created, or resumed when it exists)
    world: str = "crafter"  # which world to play
    player: str = "random"  # task-agnostic player: random | scripted
    frames: int = 10_000  # total environment steps to record
    workers: int = 1  # parallel processes
    seed: int = 0  # base seed: episode i uses seeds derived from (seed, i)
    max_episode_steps: int = 10_000  # Crafter's default episode length
    pixels: bool = True  # also record the 64x64 image (the symbolic view is always recorded)
    random_action_prob: float = 0.1  # scripted player's chance of a random action


def episode_seeds(seed: int, index: int) -> tuple[int, int]:
    """(world seed, player seed) of episode `index`."""
    world, player = np.random.SeedSequence([seed, index]).generate_state(2)
    return int(world) & 0x7FFFFFFF, int(player)


def run_episode(cfg: CollectConfig, index: int, budget: int) -> EpisodeInfo:
    """Play one episode of at most `budget` steps and write it; runs in a worker process."""
    world_seed, player_seed = episode_seeds(cfg.seed, index)
    spec = get_world(cfg.world)
    env = make_env(cfg.world, obs_mode="pixels" if cfg.pixels else "symbolic", max_steps=cfg.max_episode_steps)
    player = make_player(cfg.player, player_seed, cfg.world, cfg.random_action_prob)
    obs, info = env.reset(seed=world_seed)
    player.reset(env.unwrapped)
    rec: dict[str, list] = {k: [] for k in ("obs_symbolic", "obs_pixels", "actions", "rewards", "terminations",
                                            "truncations", "inventory", "achievements", "player_pos")}

    def observe(obs, info):
        rec["obs_symbolic"].append(info["symbolic"])
        if cfg.pixels:
            rec["obs_pixels"].append(obs)
        rec["inventory"].append(info["inventory"])
        rec["player_pos"].append(info["player_pos"])

    observe(obs, info)
    for t in range(budget):
        action = player.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        truncated = truncated or (t == budget - 1 and not terminated)
        rec["actions"].append(action)
        rec["rewards"].append(reward)
        rec["terminations"].append(terminated)
        rec["truncations"].append(truncated)
        rec["achievements"].append(info["achievements"])
        observe(obs, info)
        if terminated or truncated:
            break
    if not cfg.pixels:
        del rec["obs_pixels"]
    dtypes = {"actions": np.uint8, "rewards": np.float32, "terminations": bool, "truncations": bool,
              "inventory": np.uint8, "achievements": bool, "player_pos": np.int16, "obs_symbolic": np.uint8,
              "obs_pixels": np.uint8}
    arrays = {k: np.asarray(v, dtypes[k]) for k, v in rec.items()}
    return write_episode(cfg.out, index, arrays, world_seed, spec.achievements, spec.n_actions)


def _worker(args: tuple[CollectConfig, int, int]) -> tuple[int, int, EpisodeInfo]:
    cfg, index, budget = args
    return index, budget, run_episode(cfg, index, budget)


def header(cfg: CollectConfig) -> dict:
    spec = get_world(cfg.world)
    return {
        "world": cfg.world,
        "observations": ["symbolic", "pixels"] if cfg.pixels else ["symbolic"],
        "world_spec": {"action_names": spec.action_names, "achievements": spec.achievements, "items": spec.items,
                       "symbolic_size": spec.symbolic_layout.size},
        # Settings that must agree for a resumed collection to extend the same dataset.
        "producer_key": {"player": cfg.player, "seed": cfg.seed, "max_episode_steps": cfg.max_episode_steps,
                         "random_action_prob": cfg.random_action_prob},
        "producer": provenance("ptgm collect", cfg),
    }


def collect(cfg: CollectConfig, progress: bool = True) -> Path:
    """Collect until the dataset at `cfg.out` holds `cfg.frames` frames; resumes an existing one."""
    writer = DatasetWriter(cfg.out, header(cfg))
    done = writer.committed
    frames = sum(e.length for e in done)
    next_index = max((int(e.id.split("-")[1]) for e in done), default=-1) + 1
    bar = tqdm(total=cfg.frames, initial=min(frames, cfg.frames), unit="frame", desc=f"collect {cfg.player}",
               disable=not progress, smoothing=0.05)
    start, new_frames = time.perf_counter(), 0
    in_flight = 0  # frames promised to running episodes

    def jobs():
        nonlocal next_index, in_flight
        budget = min(cfg.max_episode_steps, cfg.frames - frames - in_flight)
        if budget <= 0:
            return None
        in_flight += budget
        next_index += 1
        return cfg, next_index - 1, budget

    ctx = mp.get_context("fork")
    with ctx.Pool(cfg.workers) if cfg.workers > 1 else _InlinePool() as pool:
        pending = []
        while True:
            while len(pending) < cfg.workers and (job := jobs()) is not None:
                pending.append(pool.apply_async(_worker, (job,)))
            if not pending:
                break
            finished = next((p for p in pending if p.ready()), None)
            if finished is None:
                pending[0].wait(0.05)
                continue
            pending.remove(finished)
            index, budget, info = finished.get()
            in_flight -= budget
            writer.commit(info)
            frames += info.length
            new_frames += info.length
            bar.update(info.length)
            bar.set_postfix(episodes=len(writer.manifest["episodes"]),
                            fps=f"{new_frames / (time.perf_counter() - start):.0f}")
    bar.close()
    writer.record_run(new_frames, time.perf_counter() - start, cfg.workers)
    return Path(cfg.out)


class _InlinePool:
    """The Pool interface, run in this process (one worker: no fork, easy to debug)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def apply_async(self, fn, args):
        return _Done(fn(*args))


class _Done:
    def __init__(self, value):
        self._value = value

    def ready(self) -> bool:
        return True

    def wait(self, timeout=None) -> None:
        pass

    def get(self):
        return self._value
