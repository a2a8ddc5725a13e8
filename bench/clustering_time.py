"""Codebook clustering time against the number of goal samples: t-SNE (openTSNE), k-means (N codes).

Uses real clustering features ([state goal, 16-action history], as `ptgm codebook` builds them)
from a dataset's training split, sampled every step and then subsampled to each size:

    python bench/clustering_time.py --data /tmp/shared_data/scripted50k --sizes 1000 5000 10000 20000

Prints one row per (size, threads). `--sklearn-max` also times scikit-learn's Barnes-Hut t-SNE on
the sizes up to it, for comparison.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.clustering import kmeans, reduce
from ptgm.goals.embedders import make_embedder
from ptgm.goals.sampling import choose_episodes, clustering_features, sample_goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="split dataset directory")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000, 10000, 20000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="openTSNE n_jobs to try")
    parser.add_argument("--n-codebook", type=int, default=100)
    parser.add_argument("--sklearn-max", type=int, default=0, help="also time scikit-learn t-SNE up to this size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    store = EpisodeStore(args.data)
    world = get_world(store.world)
    samples = sample_goals(store, make_embedder("state", world), choose_episodes(store, -1, args.seed), 1, 16,
                           world.n_actions)
    features = clustering_features(samples, 1.0)
    print(f"{len(features)} goal samples available ({features.shape[1]}-d features) from {store.root}")
    rng = np.random.default_rng(args.seed)

    print(f"{'points':>7} {'threads':>7} {'t-SNE s':>8} {'k-means s':>9} {'total s':>8}  method")
    for size in args.sizes:
        if size > len(features):
            print(f"{size:>7}  skipped: only {len(features)} samples")
            continue
        x = features[rng.choice(len(features), size, replace=False)]
        method = "openTSNE " + ("bh" if size < 10_000 else "fft")
        for threads in args.threads:
            clock = time.perf_counter()
            points = reduce(x, "tsne", args.seed, n_jobs=threads)
            tsne_s = time.perf_counter() - clock
            clock = time.perf_counter()
            kmeans(points, args.n_codebook, args.seed)
            kmeans_s = time.perf_counter() - clock
            print(f"{size:>7} {threads:>7} {tsne_s:>8.1f} {kmeans_s:>9.1f} {tsne_s + kmeans_s:>8.1f}  {method}",
                  flush=True)
        if size <= args.sklearn_max:
            from sklearn.manifold import TSNE

            clock = time.perf_counter()
            TSNE(n_components=2, random_state=args.seed, n_jobs=args.threads[0]).fit_transform(x)
            print(f"{size:>7} {args.threads[0]:>7} {time.perf_counter() - clock:>8.1f} {'':>9} {'':>8}  "
                  f"scikit-learn barnes_hut", flush=True)


if __name__ == "__main__":
    main()
