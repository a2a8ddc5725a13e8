"""Peak memory of pixel pre-training against the dataset's size.

For each size in --frames, builds a dataset of that many frames from the pixel episodes of --data
(hard links to its episode files, cycled: no extra disk), splits it, and runs in a child process:
- `load in memory`: the pixel episodes loaded the way symbolic ones are (all frames in the process's
  memory), for sizes up to --in-memory-max only, since a large one would not fit;
- `ptgm train-low`: the command itself on pixels, for --updates updates (its frames spilled to disk).

Each row is the child's peak resident memory (ru_maxrss) and its wall time.

    python bench/pretrain_memory.py --data runs/default/data --frames 100000 1000000 [--updates 20]
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

from ptgm.data.split import split_dataset
from ptgm.data.store import MANIFEST, EpisodeStore, episode_id
from ptgm.io import save_json

# Prints the peak resident memory (KiB) of the command it runs, after it exits (Linux reports KiB).
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
LOAD_IN_MEMORY = ("import sys; from ptgm.data.store import EpisodeStore; from ptgm.envs import get_world; "
                  "from ptgm.goals.embedders import make_embedder; from ptgm.pretrain.episodes import load_episodes; "
                  "s = EpisodeStore(sys.argv[1]); "
                  "load_episodes(s, s.split_ids('train'), 'pixels', make_embedder('state', get_world(s.world)))")


def build(base: EpisodeStore, frames: int, root: Path, val_frames: int) -> EpisodeStore:
    """A dataset of at least `frames` frames at `root`, whose episodes are hard links to `base`'s, cycled."""
    if (root / MANIFEST).exists():
        store = EpisodeStore(root)
        if store.num_frames >= frames:
            return store
        raise SystemExit(f"{root} holds a smaller dataset; delete it first")
    (root / "episodes").mkdir(parents=True)
    manifest = copy.deepcopy(base.manifest)
    episodes, total = [], 0
    while total < frames:
        entry = dict(base.manifest["episodes"][len(episodes) % len(base.manifest["episodes"])])
        name = episode_id(len(episodes))
        os.link(base.root / entry["file"], root / "episodes" / f"{name}.npz")
        entry.update(id=name, file=f"episodes/{name}.npz")
        episodes.append(entry)
        total += entry["length"]
    manifest["episodes"] = episodes
    save_json(root / MANIFEST, manifest)
    store = EpisodeStore(root)
    split_dataset(store, val_frames, -1, seed=0)
    return EpisodeStore(root)


def peak(command: list[str]) -> tuple[float, float]:
    """(peak resident memory in MiB, seconds) of `command` run in a child process."""
    tic = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - tic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a dataset collected with pixels (e.g. runs/default/data)")
    p.add_argument("--frames", type=int, nargs="+", default=[100_000, 1_000_000], help="dataset sizes to measure")
    p.add_argument("--updates", type=int, default=20, help="train-low updates per run")
    p.add_argument("--in-memory-max", type=int, default=200_000, help="largest size also loaded in memory")
    p.add_argument("--val-frames", type=int, default=5_000, help="validation frames of each split")
    p.add_argument("--work", default="bench/results/pretrain_memory", help="folder for the datasets and runs")
    p.add_argument("--seed", type=int, default=0, help="train-low's seed")
    args = p.parse_args()
    base = EpisodeStore(args.data)
    if not base.has_pixels:
        raise SystemExit(f"{args.data} has no pixel observations; collect one with pixels")
    work = Path(args.work)
    rows = []
    for frames in args.frames:
        store = build(base, frames, work / f"data-{frames}", args.val_frames)
        train = sum(store.episode(e).length for e in store.split_ids("train"))
        if frames <= args.in_memory_max:
            rows.append((frames, train, "load in memory", *peak([sys.executable, "-c", LOAD_IN_MEMORY, str(store.root)])))
        out = work / f"low-{frames}"
        rows.append((frames, train, "ptgm train-low", *peak([
            sys.executable, "-m", "ptgm.cli", "train-low", "--data", str(store.root), "--obs", "pixels",
            "--out", str(out), "--max-updates", str(args.updates), "--eval-every", str(args.updates),
            "--checkpoint-every", str(args.updates), "--no-progress", "--threads", "1", "--seed", str(args.seed)])))
        for row in rows[-2:] if frames <= args.in_memory_max else rows[-1:]:
            print(f"{row[0]:>10,} frames ({row[1]:,} train)  {row[2]:<16} peak {row[3]:8.0f} MiB  {row[4]:6.0f} s",
                  flush=True)
    print(f"\n{'frames':>10}  {'what':<16} {'peak MiB':>9} {'MiB / 1k frames':>16} {'seconds':>8}")
    for frames, train, what, mib, seconds in rows:
        print(f"{frames:>10,}  {what:<16} {mib:>9.0f} {1000 * mib / frames:>16.1f} {seconds:>8.0f}")
    low = [(f, m) for f, _, w, m, _ in rows if w == "ptgm train-low"]
    if len(low) > 1:
        print(f"train-low peak at {low[-1][0]:,} frames / at {low[0][0]:,}: {low[-1][1] / low[0][1]:.2f}x")


if __name__ == "__main__":
    main()
