"""Does a short memory make the cloned player live longer?

`bench/episode_endings.py` shows the clone of the task-agnostic player (the low-level policy with
the null goal) dying in the first night, and the player surviving by building a shelter with a
plan the observation does not show. This checks whether a short memory is enough to close that
gap. It behaviour-clones the player on the same data, for the same number of updates, with three
inputs:

- `none`: the observation alone (what ptgm's low-level policy reads);
- `actions`: plus the player's last `--prev-actions` actions;
- `obs`: plus the previous observation (through its own encoder).

and reports validation accuracy (all steps, and the steps in the dark) next to how long each clone
lives in plain Crafter on the same fresh worlds.

    python bench/clone_memory.py --data runs/benchmark/data
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptgm.data.store import EpisodeStore
from ptgm.envs import WorldSpec, get_world, make_env
from ptgm.envs.crafter.env import DARK
from ptgm.goals.embedders import make_embedder
from ptgm.models.encoders import make_obs_encoder
from ptgm.pretrain.episodes import Episodes, load_episodes

VARIANTS = ("none", "actions", "obs")


def memory_inputs(episodes: Episodes, n_actions: int, prev_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """Per recorded step: its previous `prev_actions` actions, newest first (`n_actions` = none yet, at the
    start of an episode), and the row of its previous observation (its own at the start)."""
    actions = np.full((episodes.n_steps, prev_actions), n_actions, np.int64)
    previous_obs = np.zeros(episodes.n_steps, np.int64)
    step = 0
    for start, length in zip(episodes.obs_start, episodes.lengths):
        recorded = episodes.actions[step : step + length]
        for k in range(1, min(prev_actions, length - 1) + 1):
            actions[step + k : step + length, k - 1] = recorded[: length - k]
        previous_obs[step : step + length] = start + np.maximum(np.arange(length) - 1, 0)
        step += length
    return actions, previous_obs


class MemoryClone(nn.Module):
    """Observation features (+ embedded previous actions or + previous observation's features) -> MLP -> actions,
    the shape of ptgm's low-level policy with its goal input replaced by the memory input."""

    def __init__(self, world: WorldSpec, variant: str, prev_actions: int, hidden: int = 256):
        super().__init__()
        self.variant = variant
        self.encoder = make_obs_encoder("symbolic", world, hidden)
        if variant == "actions":
            self.action_ids = nn.Embedding(world.n_actions + 1, 32)
            self.memory = nn.Linear(32 * prev_actions, hidden)
        elif variant == "obs":
            self.memory = make_obs_encoder("symbolic", world, hidden)
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, world.n_actions)

    def forward(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_obs: torch.Tensor) -> torch.Tensor:
        features = self.encoder(obs)
        if self.variant == "actions":
            features = features + self.memory(self.action_ids(prev_actions).flatten(1))
        elif self.variant == "obs":
            features = features + self.memory(prev_obs)
        return self.head(self.trunk(features))


def batch(episodes: Episodes, memory: tuple[np.ndarray, np.ndarray], steps: np.ndarray):
    actions, previous_obs = memory
    return (torch.from_numpy(episodes.obs[episodes.step_obs[steps]]), torch.from_numpy(actions[steps]),
            torch.from_numpy(episodes.obs[previous_obs[steps]]), torch.from_numpy(episodes.actions[steps]))


def train(world: WorldSpec, variant: str, prev_actions: int, train_eps: Episodes, updates: int, seed: int,
          batch_size: int = 256, lr: float = 3e-4) -> MemoryClone:
    torch.manual_seed(seed)
    net = MemoryClone(world, variant, prev_actions)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    memory = memory_inputs(train_eps, world.n_actions, prev_actions)
    rng = np.random.default_rng(seed)
    for _ in range(updates):
        obs, acts, prev, target = batch(train_eps, memory, rng.integers(0, train_eps.n_steps, batch_size))
        loss = F.cross_entropy(net(obs, acts, prev), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: MemoryClone, world: WorldSpec, prev_actions: int, val: Episodes) -> tuple[float, float, int]:
    """Validation action accuracy over all steps and over the steps in the dark, and the number of dark steps."""
    obs, acts, prev, target = batch(val, memory_inputs(val, world.n_actions, prev_actions), np.arange(val.n_steps))
    correct = (net(obs, acts, prev).argmax(1) == target).float()
    layout = world.symbolic_layout
    daylight = obs[:, layout.view_size + layout.n_items + list(layout.extras).index("daylight")].float() / 255.0
    dark = daylight < DARK
    return float(correct.mean()), float(correct[dark].mean()) if dark.any() else float("nan"), int(dark.sum())


@torch.no_grad()
def survive(net: MemoryClone, world: WorldSpec, prev_actions: int, worlds: list[int], seed: int,
            max_steps: int | None = None) -> list[dict]:
    """One episode of plain Crafter per world, the clone sampling its actions; all envs stepped together."""
    envs = [make_env(world.name, obs_mode="symbolic", max_steps=max_steps) for _ in worlds]
    obs = np.stack([env.reset(seed=w)[0] for env, w in zip(envs, worlds)])
    recent = np.full((len(envs), prev_actions), world.n_actions, np.int64)
    previous = obs.copy()
    gen = torch.Generator().manual_seed(seed)
    results: list[dict | None] = [None] * len(envs)
    t = 0
    while any(r is None for r in results):
        logits = net(torch.from_numpy(obs), torch.from_numpy(recent), torch.from_numpy(previous))
        actions = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen).squeeze(1).numpy()
        previous = obs.copy()
        for i, env in enumerate(envs):
            if results[i] is not None:
                continue
            obs[i], _, terminated, truncated, _ = env.step(int(actions[i]))
            if terminated or truncated:
                results[i] = {"length": t + 1, **env.unwrapped.ending(terminated)}
        recent = np.concatenate([actions[:, None], recent[:, :-1]], axis=1)
        t += 1
    return results  # type: ignore[return-value]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a split dataset of the scripted player (`ptgm collect` + split)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--prev-actions", type=int, default=4, help="previous actions the `actions` variant reads")
    p.add_argument("--updates", type=int, default=4000, help="training updates of 256 steps per variant")
    p.add_argument("--train-episodes", type=int, default=400, help="training episodes used (the first N of the split)")
    p.add_argument("--val-episodes", type=int, default=60, help="validation episodes used (the first N)")
    p.add_argument("--episodes", type=int, default=30, help="closed-loop episodes per variant (the same worlds)")
    p.add_argument("--max-steps", type=int, default=None, help="episode limit (default: Crafter's 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the batches, the worlds and the sampling")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if not Path(args.data).is_dir():
        p.error(f"{args.data} not found: --data must be a dataset folder")
    torch.set_num_threads(args.threads)
    store = EpisodeStore(args.data)
    world = get_world(store.world)
    embedder = make_embedder("state", world, None)  # load_episodes embeds goals; the clones do not read them
    train_eps = load_episodes(store, store.split_ids("train")[: args.train_episodes], "symbolic", embedder)
    val = load_episodes(store, store.split_ids("val")[: args.val_episodes], "symbolic", embedder)
    worlds = [args.seed * 100_000 + i for i in range(args.episodes)]
    print(f"{train_eps.n_steps:,} training steps, {args.updates} updates of 256 per variant; {val.n_steps:,} "
          f"validation steps; {args.episodes} fresh worlds of plain Crafter")
    print(f"{'memory':<8} {'val acc':>7} {'in the dark':>11} {'median length':>13} {'mean':>5} "
          f"{'ended in the dark':>17} {'s':>5}  causes")
    for variant in args.variants:
        start = time.perf_counter()
        net = train(world, variant, args.prev_actions, train_eps, args.updates, args.seed)
        acc, acc_dark, _ = accuracy(net, world, args.prev_actions, val)
        results = survive(net, world, args.prev_actions, worlds, args.seed, args.max_steps)
        lengths = np.array([r["length"] for r in results])
        causes = Counter(r["cause"] for r in results)
        print(f"{variant:<8} {acc:>7.3f} {acc_dark:>11.3f} {np.median(lengths):>13.0f} {lengths.mean():>5.0f} "
              f"{np.mean([r['dark'] for r in results]):>17.0%} {time.perf_counter() - start:>5.0f}  "
              + ", ".join(f"{k} {v}" for k, v in causes.most_common()))


if __name__ == "__main__":
    main()
