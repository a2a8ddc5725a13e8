"""Pre-training speed: training samples per second of the low-level policy and the goal prior,
on symbolic and pixel observations.

Each configuration runs the trainers' own update (batch gather from the episodes, pixels spilled to disk,
forward, cross-entropy, backward, Adam step) on real episodes of a dataset with pixels. All four
are measured side by side in every repeat (so a busy neighbour slows them alike), and the
median over repeats is printed.

    python bench/train_throughput.py --data DATASET [--updates 20] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.pretrain.episodes import load_episodes
from ptgm.pretrain.train_low import LowLevelConfig, LowLevelObjective
from ptgm.pretrain.train_prior import PriorConfig, PriorObjective


def setups(store: EpisodeStore, episodes: int, hidden: int, batch: int, n_codes: int):
    """(name, model, objective) for each model and observation mode, on the first `episodes` train episodes."""
    world = get_world(store.world)
    embedder = make_embedder("state", world)
    ids = store.split_ids("train")[:episodes]
    out = []
    for obs in ("symbolic", "pixels"):
        eps = load_episodes(store, ids, obs, embedder, spill=tempfile.gettempdir())  # pixels: as train-low reads them
        low_cfg = LowLevelConfig(data=str(store.root), out="-", obs=obs, hidden=hidden, batch_size=batch)
        policy = LowLevelPolicy(world, obs, embedder.dim, embedder.settings(), hidden)
        out.append((f"low-level  {obs}", policy, LowLevelObjective(low_cfg, eps, None)))
        codes = eps.goals[np.linspace(0, len(eps.goals) - 1, n_codes).astype(int)]
        book = Codebook(codes, embedder.settings(), [{}] * n_codes)
        prior_cfg = PriorConfig(data=str(store.root), out="-", codebook="-", obs=obs, hidden=hidden, batch_size=batch)
        prior = GoalPrior(world, obs, n_codes, book.fingerprint, hidden)
        out.append((f"prior      {obs}", prior, PriorObjective(prior_cfg, book, eps, None)))
    return out


def samples_per_second(model, objective, optimizer, updates: int, batch: int, rng) -> float:
    model.train()
    start = time.perf_counter()
    for _ in range(updates):
        loss, _ = objective.loss(model, rng.integers(objective.n_train, size=batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return updates * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="split dataset recorded with pixels")
    parser.add_argument("--episodes", type=int, default=8, help="training episodes to load")
    parser.add_argument("--updates", type=int, default=20, help="updates per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per configuration (median printed)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--n-codes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    store = EpisodeStore(args.data)
    runs = [(name, model, objective, torch.optim.Adam(model.parameters(), lr=3e-4))
            for name, model, objective in setups(store, args.episodes, args.hidden, args.batch_size, args.n_codes)]
    for _, model, objective, optimizer in runs:  # warm-up
        objective.new_epoch(rng)
        samples_per_second(model, objective, optimizer, 2, args.batch_size, rng)
    results: dict[str, list[float]] = {name: [] for name, *_ in runs}
    for _ in range(args.repeats):
        for name, model, objective, optimizer in runs:
            results[name].append(samples_per_second(model, objective, optimizer, args.updates, args.batch_size, rng))

    print(f"training samples/s: batch {args.batch_size}, hidden {args.hidden}, {args.threads} thread(s), "
          f"median of {args.repeats} x {args.updates} updates")
    print(f"{'model':<10} {'obs':<9} {'median':>9} {'min':>9} {'max':>9}")
    for name, values in results.items():
        model, obs = name.split()
        print(f"{model:<10} {obs:<9} {statistics.median(values):>9.0f} {min(values):>9.0f} {max(values):>9.0f}")


if __name__ == "__main__":
    main()
