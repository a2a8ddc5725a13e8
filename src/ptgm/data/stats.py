"""`ptgm data stats`: what a dataset contains, next to the world's published human-expert rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world, score_from_rates
from ptgm.io import save_figure


def dataset_stats(store: EpisodeStore) -> dict[str, Any]:
    spec = get_world(store.world)
    n = len(store.episodes)
    rates = {a: (sum(a in e.unlocked for e in store.episodes) / n if n else 0.0) for a in spec.achievements}
    actions = np.sum([e.action_counts for e in store.episodes], axis=0) if n else np.zeros(spec.n_actions)
    runs = store.manifest.get("collection_runs", [])
    random_presses = None
    # Which presses were not the player's choices (its random actions, or a driver's): read from the episode
    # files. Presses of action ids only; a continuous world has none.
    if store.records_noise and not spec.continuous:
        random_presses = np.zeros(spec.n_actions, np.int64)
        for e in store.episodes:  # two small arrays each; the stages that train on them verify the checksums
            arrays = store.load(e.id, ["actions", "noise"], verify=False)
            random_presses += np.bincount(arrays["actions"][arrays["noise"]], minlength=spec.n_actions)
    seconds = sum(r["seconds"] for r in runs)
    lengths = [e.length for e in store.episodes]
    return {
        "episodes": n,
        "frames": store.num_frames,
        "mean_episode_length": float(np.mean(lengths)) if n else 0.0,
        "achievement_rates": rates,
        "crafter_score": score_from_rates({a: 100 * r for a, r in rates.items()}),
        "human_rates": {a: spec.human_rates.get(a, float("nan")) / 100 for a in spec.achievements},
        "human_crafter_score": score_from_rates(spec.human_rates) if spec.human_rates else None,
        "action_histogram": None if spec.continuous else dict(
            zip(spec.action_names, (actions / max(actions.sum(), 1)).tolist())),
        # Per action: (presses the player chose, presses that were not its choice); None if not recorded.
        "action_origin": None if random_presses is None else {
            name: (int(total - rnd), int(rnd)) for name, total, rnd in zip(spec.action_names, actions, random_presses)},
        "collection_fps": sum(r["frames"] for r in runs) / seconds if seconds > 0 else None,
        "producer": store.manifest.get("producer_key"),
        "dataset_id": store.dataset_id,
    }


def format_stats(stats: dict[str, Any]) -> str:
    lines = [f"episodes {stats['episodes']}  frames {stats['frames']}  mean length {stats['mean_episode_length']:.0f}"]
    if stats["collection_fps"]:
        lines[0] += f"  collection {stats['collection_fps']:.0f} frames/s"
    human = stats["human_crafter_score"]
    if human is None:  # a world without published human rates: the dataset's own rates only
        lines.append(f"{'achievement':<20} {'data %':>7}")
        lines += [f"{a:<20} {100 * r:7.1f}" for a, r in stats["achievement_rates"].items()]
    else:
        lines.append(f"{'achievement':<20} {'data %':>7} {'human %':>8}")
        for a, r in sorted(stats["achievement_rates"].items(), key=lambda kv: -stats["human_rates"][kv[0]]):
            lines.append(f"{a:<20} {100 * r:7.1f} {100 * stats['human_rates'][a]:8.0f}")
    if human is not None:  # the score is Crafter's measure, next to its human experts'
        lines.append(f"{'crafter score':<20} {stats['crafter_score']:7.1f} {round(human, 1):>8}")
    if stats["action_histogram"] is not None:
        hist = "  ".join(f"{k}:{100 * v:.0f}%" for k, v in stats["action_histogram"].items())
        lines.append(f"actions  {hist}")
    if stats.get("action_origin"):
        origin = stats["action_origin"]
        share = sum(r for _, r in origin.values()) / max(sum(c + r for c, r in origin.values()), 1)
        lines.append(f"not the player's choice (random or a driver's) {100 * share:.1f}% of steps, not imitated by "
                     "train-low; presses chosen/not:")
        lines.append("  " + "  ".join(f"{k}:{c}/{r}" for k, (c, r) in origin.items()))
    return "\n".join(lines)


def plot_stats(stats: dict[str, Any], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(stats["achievement_rates"], key=lambda a: -stats["human_rates"][a])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.bar(x - 0.2, [100 * stats["achievement_rates"][a] for a in names], 0.4,
           label=f"this dataset (score {stats['crafter_score']:.1f}%)")
    if stats["human_crafter_score"] is not None:
        ax.bar(x + 0.2, [100 * stats["human_rates"][a] for a in names], 0.4,
               label=f"human experts (score {stats['human_crafter_score']:.1f}%)", alpha=0.7)
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set_ylabel("episodes unlocking it (%)")
    ax.set_title(f"{stats['episodes']} episodes, {stats['frames']} frames")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=100)
    return path
