"""Collection throughput of `ptgm collect --player scripted`, and where a step's time goes.

    python bench/collect_throughput.py --frames 20000 --workers 1 2

Runs the real collection path (both observation modes recorded, compressed .npz episode files,
manifest commits) into a temporary directory for each worker count, prints frames/s, and
extrapolates the wall time of the 1M-frame `full` preset from the measured rate. That last
column is an extrapolation from a short run, not a measurement of a 1M-frame collection.

With --profile it also times, in this process, the parts of one step: Crafter's step with
rendering, the player's planning, and compressing + writing the episode file.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ptgm.data.collect import PRESETS, CollectConfig, collect
from ptgm.data.store import EpisodeStore


def measure(frames: int, workers: int, seed: int, episode_steps: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="ptgm_collect_bench_"))
    try:
        cfg = CollectConfig(out=str(out / "ds"), player="scripted", frames=frames, workers=workers, seed=seed,
                            pixels=True, max_episode_steps=episode_steps)
        start = time.perf_counter()
        collect(cfg, progress=False)
        seconds = time.perf_counter() - start
        store = EpisodeStore(cfg.out)
        assert store.num_frames == frames and store.has_pixels
        size = sum(f.stat().st_size for f in (out / "ds" / "episodes").iterdir())
        return {"workers": workers, "frames": frames, "episodes": len(store.episodes), "seconds": seconds,
                "fps": frames / seconds, "bytes_per_frame": size / frames}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def profile(steps: int, seed: int) -> None:
    from ptgm.envs import make_env, make_player

    env = make_env("crafter", obs_mode="pixels")
    player = make_player("scripted", seed)
    obs, info = env.reset(seed=seed)
    player.reset(env.unwrapped)
    t_env = t_plan = 0.0
    pixels, symbolic = [obs], [info["symbolic"]]
    for _ in range(steps):
        t0 = time.perf_counter()
        action = player.act(obs, info)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        t_plan, t_env = t_plan + t1 - t0, t_env + t2 - t1
        pixels.append(obs)
        symbolic.append(info["symbolic"])
        if terminated or truncated:
            obs, info = env.reset(seed=seed + len(pixels))
            player.reset(env.unwrapped)
    arrays = {"obs_pixels": np.stack(pixels), "obs_symbolic": np.stack(symbolic)}
    t0 = time.perf_counter()
    np.savez_compressed(io.BytesIO(), **arrays)
    t_save = time.perf_counter() - t0
    total = t_env + t_plan + t_save
    print(f"\nprofile, one process, {steps} steps (ms per step):")
    for name, t in (("crafter step + render", t_env), ("player planning", t_plan), ("npz compression", t_save)):
        print(f"  {name:<22} {1000 * t / steps:7.3f}  ({100 * t / total:4.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000, help="frames per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-episode-steps", type=int, default=10_000)
    parser.add_argument("--profile", type=int, default=0, help="also profile this many steps in-process")
    args = parser.parse_args()

    full = PRESETS["full"]
    print(f"{'workers':>7} {'frames':>8} {'episodes':>8} {'seconds':>8} {'frames/s':>9} {'KB/frame':>8} "
          f"{'1M preset (extrapolated)':>25}")
    for workers in args.workers:
        r = measure(args.frames, workers, args.seed, args.max_episode_steps)
        print(f"{r['workers']:>7} {r['frames']:>8} {r['episodes']:>8} {r['seconds']:>8.1f} {r['fps']:>9.0f} "
              f"{r['bytes_per_frame'] / 1024:>8.2f} {full / r['fps'] / 60:>20.1f} min", flush=True)
    print(f"(the last column is {full:,} frames / measured frames/s: an extrapolation, not a 1M-frame run)")
    if args.profile:
        profile(args.profile, args.seed)


if __name__ == "__main__":
    main()
