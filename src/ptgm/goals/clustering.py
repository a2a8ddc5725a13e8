"""Stage 3b: reduce the clustering features to 2-D, k-means them, and pick one real sample per cluster.

t-SNE runs on openTSNE (FFT-accelerated gradients, Annoy neighbours): on 2 cores it embeds 20,000
points in well under a minute, where scikit-learn's Barnes-Hut t-SNE takes several minutes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

REDUCERS = ("tsne", "pca", "none")


class TooFewSamplesError(ValueError):
    """Fewer distinct goal samples than the codes asked for."""


@dataclass
class Clusters:
    points: np.ndarray  # (M, d) float32 reduced features (d = 2 for tsne and pca)
    labels: np.ndarray  # (M,) int32 cluster of each sample
    centers: np.ndarray  # (N, d) float32 k-means centres
    chosen: np.ndarray  # (N,) int64 index of the sample nearest to each centre, among its own cluster


def reduce(features: np.ndarray, method: str, seed: int, perplexity: float = 30.0, n_jobs: int = 2) -> np.ndarray:
    """(M, F) clustering features -> (M, 2) points (or the features unchanged for `none`)."""
    if method == "none":
        return features.astype(np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    if method == "tsne":
        from openTSNE import TSNE

        # Perplexity must stay below the number of neighbours a point can have.
        perplexity = min(perplexity, max(2.0, (len(features) - 1) / 3.0))
        tsne = TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=n_jobs, verbose=False)
        return np.asarray(tsne.fit(features.astype(np.float64)), np.float32)
    raise ValueError(f"unknown reduction {method!r}; valid: {', '.join(REDUCERS)}")


def kmeans(points: np.ndarray, n_clusters: int, seed: int, goals: np.ndarray | None = None) -> Clusters:
    """k-means with k-means++ initialisation, then, per cluster, the member nearest to its centre.

    `goals` (M, D): each point's goal. Two points can share a goal (same state, other action history); the
    representatives then skip a goal another cluster already took, so that no two codes are the same goal."""
    goal_ids = np.unique(points if goals is None else goals, axis=0, return_inverse=True)[1].reshape(-1)
    n_goals = int(goal_ids.max()) + 1 if len(goal_ids) else 0
    n_distinct = min(n_goals, len(np.unique(points, axis=0)))  # k-means needs distinct points too
    if n_distinct < n_clusters:
        raise TooFewSamplesError(
            f"asked for {n_clusters} codes but there are only {n_distinct} distinct goal samples ({len(points)} "
            f"in all); lower --n-codebook, or sample more (more --episodes, smaller --sample-interval)")
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # sklearn threadpool notices on tiny inputs
        fit = KMeans(n_clusters=n_clusters, init="k-means++", n_init=4, random_state=seed).fit(points)
    labels = fit.labels_.astype(np.int32)
    centers = fit.cluster_centers_.astype(np.float32)
    chosen = np.empty(n_clusters, np.int64)
    taken = np.zeros(n_goals, bool)  # goals already chosen as a code
    for c in range(n_clusters):
        members = np.flatnonzero((labels == c) & ~taken[goal_ids])
        if len(members) == 0:  # empty, or only goals taken already: the nearest sample with a free goal joins it
            free = np.flatnonzero(~taken[goal_ids])  # chosen samples' goals are taken, so they are not free
            labels[free[np.argmin(((points[free] - centers[c]) ** 2).sum(axis=1))]] = c
            members = np.flatnonzero((labels == c) & ~taken[goal_ids])
        distance = ((points[members] - centers[c]) ** 2).sum(axis=1)
        chosen[c] = members[np.argmin(distance)]
        taken[goal_ids[chosen[c]]] = True
    return Clusters(points.astype(np.float32), labels, centers, chosen)
