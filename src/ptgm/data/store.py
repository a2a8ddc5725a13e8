"""The episode store: the dataset format every stage reads.

A dataset is a directory::

    manifest.json          world, observation settings, producer, and one entry per episode
    episodes/ep-000000.npz one compressed file per episode
    split.json             (after `ptgm split`) which episodes are train and which validation

Per episode, with T the number of actions (observations are one longer, as in Minari)::

    obs_symbolic  (T+1, S) uint8   symbolic observation (always stored; see the world's layout); float32 in a
                                   world whose symbolic observation is a state vector (Kitchen)
    obs_pixels    (T+1, H, W, 3) uint8   only when the dataset records pixels
    actions       (T,) uint8       action ids; (T, *action_shape) float32 in [-1, 1] in a continuous world
    rewards       (T,) float32     the world's native reward
    terminations  (T,) bool
    truncations   (T,) bool
    inventory     (T+1, I) uint8
    achievements  (T, A) bool      which achievements happened on each step
    player_pos    (T+1, 2) int16   only in worlds with a map
    noise         (T,) bool        the action was not the player's choice: its injected random action, or
                                   a driver's (`ptgm collect --driver`); only in datasets whose manifest
                                   says `records_noise`

Episode files are written atomically and listed in the manifest only once complete, so a dataset
interrupted mid-collection is always valid. Reading checks each file's checksum and shapes and
loads one episode at a time (only the keys asked for).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptgm.envs import WorldSpec, get_world
from ptgm.io import ArtifactError, load_json, path_inside, require_keys, save_json, save_npz, sha256_bytes, sha256_file

FORMAT = "ptgm-episodes/1"
MANIFEST = "manifest.json"
SPLIT = "split.json"
EPISODE_KEYS = ("obs_symbolic", "obs_pixels", "actions", "rewards", "terminations", "truncations",
                "inventory", "achievements", "player_pos", "noise")
_BOOL_KEYS = {"terminations", "truncations", "achievements", "noise"}
_INTEGER_KEYS = {"obs_pixels", "inventory", "player_pos"}  # and, in a discrete world, obs_symbolic and actions
MANIFEST_KEYS = ("format", "world", "observations", "episodes")  # what every manifest holds
_PER_OBS = {"obs_symbolic", "obs_pixels", "inventory", "player_pos"}  # length T+1


class DatasetError(ArtifactError):
    """A dataset is missing, corrupt, inconsistent, or not split when a split is needed."""


@dataclass
class EpisodeInfo:
    id: str
    file: str
    length: int  # number of actions
    sha256: str
    env_seed: int
    unlocked: list[str] = field(default_factory=list)  # achievements unlocked at least once
    action_counts: list[int] = field(default_factory=list)


def episode_id(index: int) -> str:
    return f"ep-{index:06d}"


def write_episode(root: str | Path, index: int, arrays: dict[str, np.ndarray], env_seed: int,
                  world: WorldSpec) -> EpisodeInfo:
    """Validate and atomically write one episode file; returns its manifest entry (not yet committed)."""
    where = f"episode {index}"
    if "actions" not in arrays or "obs_symbolic" not in arrays:
        raise DatasetError(f"{where}: missing 'actions' or 'obs_symbolic'")
    check_episode(arrays, len(arrays["actions"]), world, where)
    ep = episode_id(index)
    rel = f"episodes/{ep}.npz"
    data = save_npz(Path(root) / rel, **arrays)
    unlocked = [a for a, hit in zip(world.achievements, arrays["achievements"].any(0)) if hit]
    counts = [] if world.continuous else np.bincount(arrays["actions"].astype(np.int64),
                                                     minlength=world.n_actions).tolist()
    return EpisodeInfo(ep, rel, int(len(arrays["actions"])), sha256_bytes(data), int(env_seed), unlocked, counts)


def check_episode(arrays: dict[str, np.ndarray], length: int, world: WorldSpec, where: str) -> None:
    """DatasetError unless the episode's `arrays` (any subset of EPISODE_KEYS) fit `length` actions and `world`:
    rows, widths, action and symbolic ids in range (in a continuous world: finite actions in [-1, 1] and finite
    states), finite rewards, inventory counts within the world's limit.
    Run on every write and every read: a wrong id would otherwise fail deep inside training, or silently index
    another action's weights."""
    layout = world.symbolic_layout
    for key, value in arrays.items():
        want = length + 1 if key in _PER_OBS else length
        if value.ndim == 0 or len(value) != want:
            raise DatasetError(f"{where}: '{key}' has {len(value) if value.ndim else 'no'} rows, expected {want} "
                               f"(observations are one longer than the {length} actions)")
        if key in _BOOL_KEYS and value.dtype != bool:
            raise DatasetError(f"{where}: '{key}' must be boolean, got {value.dtype}")
        integer = key in _INTEGER_KEYS or (key == "obs_symbolic" and world.symbolic_dtype.startswith("uint")) or (
            key == "actions" and not world.continuous)
        if integer and not np.issubdtype(value.dtype, np.integer):
            raise DatasetError(f"{where}: '{key}' must hold integers, got {value.dtype}")
        if not integer and key in ("obs_symbolic", "actions"):
            if not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
                raise DatasetError(f"{where}: '{key}' must be finite floats (got {value.dtype}, or NaN or infinity)")
    widths = {"obs_symbolic": layout.size, "inventory": len(world.items), "achievements": len(world.achievements),
              "player_pos": 2}
    for key, width in widths.items():
        if key in arrays and arrays[key].shape[1:] != (width,):
            raise DatasetError(f"{where}: '{key}' rows have shape {arrays[key].shape[1:]}, expected ({width},)")
    if "obs_pixels" in arrays and arrays["obs_pixels"].shape[1:] != tuple(world.pixel_shape):
        raise DatasetError(f"{where}: 'obs_pixels' frames have shape {arrays['obs_pixels'].shape[1:]}, expected "
                           f"{tuple(world.pixel_shape)}")
    if "actions" in arrays and world.continuous:
        if arrays["actions"].shape[1:] != world.action_shape:
            raise DatasetError(f"{where}: 'actions' rows have shape {arrays['actions'].shape[1:]}, expected "
                               f"{world.action_shape}")
        _check_range(arrays["actions"], -1, 1, f"{where}: action value")
    elif "actions" in arrays and len(arrays["actions"]):
        _check_range(arrays["actions"], 0, world.n_actions - 1, f"{where}: action id", world.n_actions)
    if "obs_symbolic" in arrays:
        view, inventory, _ = layout.split(arrays["obs_symbolic"])
        _check_range(view, 0, layout.n_ids - 1, f"{where}: symbolic view id", layout.n_ids)
        _check_range(inventory, 0, world.item_max, f"{where}: inventory count in the symbolic view")
    if "inventory" in arrays:
        _check_range(arrays["inventory"], 0, world.item_max, f"{where}: inventory count")
    if "rewards" in arrays:
        if not np.issubdtype(arrays["rewards"].dtype, np.number) or not np.isfinite(arrays["rewards"]).all():
            raise DatasetError(f"{where}: 'rewards' must be finite numbers (NaN or infinity found)")


def _check_range(values: np.ndarray, low: int, high: int, what: str, count: int | None = None) -> None:
    if values.size and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)].flat[0]
        limit = f"the world has {count}: 0..{count - 1}" if count is not None else f"the world's limit is {low}..{high}"
        raise DatasetError(f"{what} {bad} is out of range ({limit})")


def read_episode_list(root: Path, entries: Any) -> list[EpisodeInfo]:
    """The manifest's episode entries, checked before any episode file is read: their fields and types, each
    id and file listed once (a repeated entry would count its frames twice), files inside the dataset folder."""
    where = root / MANIFEST
    if not isinstance(entries, list):
        raise DatasetError(f"{where}: 'episodes' must be a list, got {type(entries).__name__}")
    episodes = []
    for i, entry in enumerate(entries):
        try:
            info = EpisodeInfo(**entry)
        except TypeError as e:  # a missing or unknown field, or not an object at all
            raise DatasetError(f"{where}: episode entry {i} is malformed: {e}") from e
        fields = {"id": str, "file": str, "length": int, "sha256": str, "env_seed": int, "unlocked": list,
                  "action_counts": list}
        for name, kind in fields.items():
            value = getattr(info, name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise DatasetError(f"{where}: episode entry {i} '{name}' must be {kind.__name__}, got {value!r}")
        if info.length < 1:
            raise DatasetError(f"{where}: episode {info.id} has length {info.length}; an episode has at least 1 step")
        path_inside(root, info.file, f"{where}: episode {info.id} 'file'", DatasetError)
        episodes.append(info)
    for name in ("id", "file"):
        seen: set[str] = set()
        for info in episodes:
            value = getattr(info, name)
            if value in seen:
                raise DatasetError(f"{where}: {name} {value!r} is listed more than once (its frames would count twice)")
            seen.add(value)
    return episodes


class EpisodeStore:
    """Read access to a dataset directory, validated on open and on every episode load."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset not found: {self.root}")
        self.manifest = load_json(self.root / MANIFEST, "dataset manifest", DatasetError, required=("format",))
        if self.manifest["format"] != FORMAT:
            raise DatasetError(f"{self.root / MANIFEST}: not a ptgm dataset (format {self.manifest['format']!r}, "
                               f"expected {FORMAT!r})")
        require_keys(self.manifest, MANIFEST_KEYS, f"dataset manifest {self.root / MANIFEST}", DatasetError)
        try:
            self.world_spec = get_world(self.manifest["world"])
        except ValueError as e:
            raise DatasetError(f"{self.root / MANIFEST}: {e}") from e
        self.episodes = read_episode_list(self.root, self.manifest["episodes"])
        self._by_id = {e.id: e for e in self.episodes}

    # -- what the dataset is ---------------------------------------------------------------------
    @property
    def world(self) -> str:
        return self.manifest["world"]

    @property
    def has_pixels(self) -> bool:
        return "pixels" in self.manifest["observations"]

    @property
    def records_noise(self) -> bool:
        """Whether every episode marks the player's random actions (`noise`); older datasets do not."""
        return bool(self.manifest.get("records_noise", False))

    @property
    def num_frames(self) -> int:
        return sum(e.length for e in self.episodes)

    @property
    def dataset_id(self) -> str:
        """Checksum of the episode list: names exactly these episodes with exactly these contents."""
        return sha256_bytes("\n".join(f"{e.id}:{e.sha256}" for e in self.episodes).encode())

    @property
    def split_id(self) -> str:
        """Checksum of the split: which episodes train and which validate (splitting again changes it)."""
        return sha256_bytes(("\n".join(self.split_ids("train")) + "\n|\n" + "\n".join(self.split_ids("val"))).encode())

    @property
    def train_episodes_sha256(self) -> str:
        """Checksum of the training split's episode ids: what a codebook built from this split records."""
        return sha256_bytes("\n".join(self.split_ids("train")).encode())

    def episode(self, ep_id: str) -> EpisodeInfo:
        if ep_id not in self._by_id:
            raise DatasetError(f"{self.root}: no episode {ep_id!r} in the manifest")
        return self._by_id[ep_id]

    # -- split -----------------------------------------------------------------------------------
    @property
    def split(self) -> dict[str, Any] | None:
        path = self.root / SPLIT
        return load_json(path, "dataset split", DatasetError) if path.exists() else None

    def split_ids(self, part: str) -> list[str]:
        """Episode ids of 'train' or 'val'; a clear error when the dataset has not been split."""
        split = self.split
        if split is None:
            raise DatasetError(f"dataset {self.root} is not split; run: ptgm split --data {self.root} --val-frames N")
        if split.get("dataset_id") != self.dataset_id:
            raise DatasetError(f"{self.root / SPLIT} was made for other episodes; split the dataset again")
        if part not in ("train", "val"):
            raise ValueError(f"unknown split part {part!r}; valid: train, val")
        ids = split.get(part)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DatasetError(f"{self.root / SPLIT}: '{part}' must be a list of episode ids, got {ids!r:.80}")
        unknown = [i for i in ids if i not in self._by_id]
        if unknown:
            raise DatasetError(f"{self.root / SPLIT}: '{part}' names episodes the manifest lacks: {unknown[:5]}")
        return list(ids)

    # -- episodes --------------------------------------------------------------------------------
    def load(self, ep_id: str, keys: Sequence[str] | None = None, verify: bool = True) -> dict[str, np.ndarray]:
        """One episode's arrays (only `keys`, default all), checked against the manifest."""
        info = self.episode(ep_id)
        path = self.root / info.file  # confined to the dataset folder when the manifest was read
        if not path.is_file():
            raise DatasetError(f"episode {ep_id}: file {path} is listed in the manifest but missing")
        if verify and sha256_file(path) != info.sha256:
            raise DatasetError(f"episode {ep_id}: checksum mismatch for {path} (file changed or corrupt)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                names = keys or npz.files
                missing = [k for k in names if k not in npz.files]
                if missing:
                    raise DatasetError(f"episode {ep_id}: {path} has no {missing}; it has {npz.files}")
                arrays = {k: npz[k] for k in names}
        except DatasetError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise DatasetError(f"episode {ep_id}: {path} is truncated or corrupt: {e}") from e
        if "actions" in arrays and len(arrays["actions"]) != info.length:
            raise DatasetError(f"episode {ep_id}: {len(arrays['actions'])} actions, manifest says {info.length}")
        check_episode(arrays, info.length, self.world_spec, f"episode {ep_id} ({path})")
        return arrays

    def iter_episodes(self, ids: Sequence[str] | None = None, keys: Sequence[str] | None = None,
                      ) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for ep_id in ids if ids is not None else [e.id for e in self.episodes]:
            yield ep_id, self.load(ep_id, keys)

    def validate(self) -> None:
        """Check every episode file (checksums, shapes)."""
        for e in self.episodes:
            self.load(e.id, keys=["actions"])


class DatasetWriter:
    """Creates a dataset or reopens one to append; commits episodes to the manifest atomically."""

    def __init__(self, root: str | Path, header: dict[str, Any]):
        """`header`: world, observations, world_spec, producer; must match an existing dataset's."""
        self.root = Path(root)
        path = self.root / MANIFEST
        if path.exists():
            self.manifest = load_json(path, "dataset manifest", DatasetError, required=MANIFEST_KEYS)
            read_episode_list(self.root, self.manifest["episodes"])  # an existing dataset is extended only if sound
            for key in ("world", "observations", "producer_key"):
                if self.manifest.get(key) != header.get(key):
                    raise DatasetError(
                        f"{self.root} holds a dataset made with other settings ({key}: "
                        f"{self.manifest.get(key)!r} != {header.get(key)!r}); use another --out or the same settings")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.manifest = {"format": FORMAT, **header, "episodes": [], "collection_runs": []}
            self._save()

    @property
    def committed(self) -> list[EpisodeInfo]:
        return [EpisodeInfo(**e) for e in self.manifest["episodes"]]

    def commit(self, info: EpisodeInfo) -> None:
        if any(e["id"] == info.id for e in self.manifest["episodes"]):
            raise DatasetError(f"{self.root}: episode {info.id} is committed already")
        self.manifest["episodes"].append(info.__dict__)
        self.manifest["episodes"].sort(key=lambda e: e["id"])
        self._save()

    def record_run(self, frames: int, seconds: float, workers: int) -> None:
        self.manifest["collection_runs"].append({"frames": frames, "seconds": round(seconds, 3), "workers": workers})
        self._save()

    def _save(self) -> None:
        save_json(self.root / MANIFEST, self.manifest)
