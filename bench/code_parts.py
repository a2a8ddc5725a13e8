"""Which part of a goal decides which code a state is at?

`ptgm eval-low` counts a code as reached when it is the nearest code (cosine) to the state's goal
embedding. The state embedding has named parts (`StateEmbedder.blocks`: inventory, view, near,
time), and this prints, over the validation states of a run:

- each part's share of the goal vectors' squared length (cosine weighs parts by it);
- how often a state keeps its nearest code when that part is left out of both the state and the
  codes: a part without which most states change code is the one that decides reaching;
- how often the nearest code changes from one step to the next, along the recorded episodes.

    python bench/code_parts.py --run runs/default
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook, cosine_similarity
from ptgm.pretrain.episodes import load_episodes


def code_parts(codes: np.ndarray, goals: np.ndarray, blocks: dict[str, slice],
               episode_rows: list[np.ndarray]) -> dict[str, object]:
    """Per part: share of the squared length and the share of states that keep their nearest code without it;
    and the rate at which the nearest code changes per step along each episode's rows."""
    nearest = cosine_similarity(goals, codes).argmax(axis=1)
    total = (goals ** 2).sum(axis=1).mean()
    parts = {}
    for name, part in blocks.items():
        keep = np.ones(goals.shape[1], bool)
        keep[part] = False
        without = cosine_similarity(goals[:, keep], codes[:, keep]).argmax(axis=1)
        parts[name] = {"share": float((goals[:, part] ** 2).sum(axis=1).mean() / total),
                       "kept_without": float((without == nearest).mean())}
    steps = [np.diff(nearest[rows]) != 0 for rows in episode_rows if len(rows) > 1]
    changes = float(np.concatenate(steps).mean()) if steps else 0.0
    return {"parts": parts, "changes_per_step": changes, "states": len(goals)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a `ptgm run` folder (its data/ and codebook/)")
    args = p.parse_args(argv)
    run = Path(args.run)
    store = EpisodeStore(run / "data")
    codebook = Codebook.load(run / "codebook")
    embedder = codebook.load_embedder(get_world(store.world))
    if not embedder.blocks:
        raise SystemExit(f"the codebook's embedding ({embedder.name}) has no named parts")
    val = load_episodes(store, store.split_ids("val"), embedder.needs, embedder)
    rows = [start + np.arange(length + 1) for start, length in zip(val.obs_start, val.lengths)]
    result = code_parts(codebook.codes, val.goals, embedder.blocks, rows)
    print(f"{result['states']:,} validation states, {codebook.n_codes} codes ({run / 'codebook'})")
    print(f"{'part':<10} {'share of |g|^2':>14} {'same nearest code without it':>29}")
    for name, part in result["parts"].items():
        print(f"{name:<10} {part['share']:>14.3f} {part['kept_without']:>29.3f}")
    print(f"nearest code changes on {result['changes_per_step']:.3f} of the steps along the episodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
