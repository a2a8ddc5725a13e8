"""`ptgm split`: train/validation split by frames over whole episodes, as the paper's code did."""

from __future__ import annotations

import numpy as np

from ptgm.data.store import SPLIT, DatasetError, EpisodeStore
from ptgm.io import folder_lock, save_json


def split_dataset(store: EpisodeStore, val_frames: int, train_frames: int = -1, seed: int = 0) -> dict:
    """Shuffle whole episodes; fill train until `train_frames` (-1: all not needed for validation),
    then validation until `val_frames`. Writes and returns `split.json`."""
    if val_frames < 0 or train_frames < -1:
        raise ValueError("--val-frames must be >= 0 and --train-frames >= 0 or -1")
    with folder_lock(store.root):  # no collection may change the episodes while they are split
        return _split(store, val_frames, train_frames, seed)


def _split(store: EpisodeStore, val_frames: int, train_frames: int, seed: int) -> dict:
    total = store.num_frames
    wanted = val_frames + max(train_frames, 0)
    if wanted > total:
        raise DatasetError(f"asked for {wanted} frames ({max(train_frames, 0)} train + {val_frames} val) but the "
                           f"dataset {store.root} has only {total} frames in {len(store.episodes)} episodes")
    order = np.random.default_rng(seed).permutation(len(store.episodes))
    episodes = [store.episodes[i] for i in order]
    train, val, n_train, n_val = [], [], 0, 0
    if train_frames == -1:
        # Validation first, so "everything else" can go to training.
        for e in episodes:
            if n_val < val_frames:
                val.append(e.id)
                n_val += e.length
            else:
                train.append(e.id)
                n_train += e.length
    else:
        for e in episodes:
            if n_train < train_frames:
                train.append(e.id)
                n_train += e.length
            elif n_val < val_frames:
                val.append(e.id)
                n_val += e.length
    if not train:
        raise DatasetError(f"no episodes left for training after {n_val} validation frames; lower --val-frames")
    split = {"dataset_id": store.dataset_id, "seed": seed, "val_frames_requested": val_frames,
             "train_frames_requested": train_frames, "train_frames": n_train, "val_frames": n_val,
             "train": sorted(train), "val": sorted(val)}
    save_json(store.root / SPLIT, split)
    return split
