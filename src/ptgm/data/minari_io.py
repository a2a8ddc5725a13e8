"""Minari interchange: `ptgm data export --format minari` and `ptgm data import`, local files only.

Needs the `minari` extra (`pip install 'ptgm[minari]'`: Minari 0.5.4 with its HDF5 storage). Nothing here
contacts a server: datasets are written with Minari's storage API at an explicit path and read from a path
or from the local Minari store (`$MINARI_DATASETS_PATH`, else ~/.minari/datasets), never downloaded.

An exported dataset is the folder Minari keeps per dataset id, `OUT/data/{metadata.json, main_data.hdf5}`:
copy OUT to `<local store>/<dataset id>` and `minari.load_dataset(id)` finds it. Per episode:

- observations: the symbolic observation as a Box (T+1 rows, the world's dtype), or, when the ptgm dataset
  records pixels, a Dict {"symbolic": Box, "pixels": Box (64, 64, 3) uint8}, stored without JPEG (lossless);
- actions: Discrete(n) ids, or a Box in [-1, 1] in a continuous world; rewards, terminations, truncations;
- infos, T+1 rows as Minari's DataCollector records them (row 0 is the reset's): `inventory`, `player_pos`
  (in worlds with a map) and `achievements` (row 0 all false: nothing is unlocked by a reset);
- the episode's seed is ptgm's `env_seed`, so the episodes still replay in ptgm's world.
The dataset metadata names the producer (`author` ptgm, `algorithm_name` the collecting player) and carries a
`ptgm` entry (world, the ptgm dataset's id, its producer), which is how an import recovers the world.
The `noise` marks are not exported: they are ptgm's own.

An import takes the world from --world or that `ptgm` entry, and the symbolic observation from a Box
observation, or from a Dict observation's `symbolic` key (ptgm's export) or `observation` key (Gymnasium-
Robotics' goal-conditioned envs: D4RL/kitchen/* holds the 59 kitchen floats there, beside `achieved_goal` and
`desired_goal`, which are dropped); a Dict's `pixels` key is taken in a world with pixels of that shape. Values
are checked in the world's terms (ids, ranges, finite) before any cast to the store's dtypes, so an id out of
range is an error, never wrapped. `inventory` is read off the symbolic observation where the world lays one
out; `achievements` come from the infos, or, in a world whose state decides them (Kitchen), from the states.
Imported datasets record no `noise` (`records_noise` false). Empty episodes are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ptgm.config import ConfigError
from ptgm.data.store import FORMAT, DatasetError, DatasetWriter, EpisodeStore, check_episode, write_episode
from ptgm.envs import WORLDS, WorldSpec, get_world
from ptgm.envs.registry import world_entry
from ptgm.io import LOCK_FILE, folder_lock, provenance

INSTALL_HINT = "Minari interchange needs the minari extra: pip install 'ptgm[minari]'"


def _minari():
    try:
        import minari
        from minari.dataset.minari_storage import MinariStorage
    except ImportError as e:
        raise ConfigError(f"{INSTALL_HINT} ({e})") from e
    return minari, MinariStorage


def default_dataset_id(store: EpisodeStore) -> str:
    player = store.manifest.get("producer_key", {}).get("player", "data")
    return f"ptgm/{store.world}-{player}-v0"


def _fresh_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not empty; give a new --out")


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` folder to `out` in one rename, so that `out` only ever holds a whole dataset."""
    (tmp / LOCK_FILE).unlink(missing_ok=True)
    if out.is_dir():
        out.rmdir()  # empty (checked before writing); a rename replaces only a missing or empty folder
    os.replace(tmp, out)


@contextlib.contextmanager
def _scratch(out: Path, what: str) -> Iterator[Path]:
    """A locked hidden sibling of `out` to write into; emptied first (a killed run's leftovers) and on failure."""
    tmp = out.parent / f".{out.name}.{what}"

    def clear():
        for path in tmp.iterdir() if tmp.is_dir() else ():
            if path.name != LOCK_FILE:
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    with folder_lock(tmp):  # a running export or import into the same place is refused here
        clear()
        try:
            yield tmp
        except BaseException:
            clear()  # folder_lock then removes the folder it made
            raise


# -- export ------------------------------------------------------------------------------------------------
def _spaces(world: WorldSpec, pixels: bool):
    import gymnasium as gym

    size = world.symbolic_layout.size
    if np.dtype(world.symbolic_dtype).kind == "f":
        symbolic = gym.spaces.Box(-np.inf, np.inf, (size,), np.dtype(world.symbolic_dtype))
    else:
        info = np.iinfo(world.symbolic_dtype)
        symbolic = gym.spaces.Box(info.min, info.max, (size,), np.dtype(world.symbolic_dtype))
    obs = symbolic
    if pixels:
        obs = gym.spaces.Dict({"symbolic": symbolic,
                               "pixels": gym.spaces.Box(0, 255, tuple(world.pixel_shape), np.uint8)})
    if world.continuous:
        actions = gym.spaces.Box(-1.0, 1.0, world.action_shape, np.float32)
    else:
        actions = gym.spaces.Discrete(world.n_actions)
    return obs, actions


def export_minari(data: str | Path, out: str | Path, dataset_id: str | None = None) -> Path:
    """Write the ptgm dataset `data` as a Minari dataset folder `out` (see the module docstring); returns `out`."""
    _, MinariStorage = _minari()
    from minari import __version__ as minari_version
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id

    store = EpisodeStore(data)
    dataset_id = dataset_id or default_dataset_id(store)
    try:
        parse_dataset_id(dataset_id)  # Minari's own grammar; it needs the version (a missing one is a TypeError)
    except (ValueError, TypeError):
        raise ConfigError(f"--dataset-id {dataset_id!r} is not a Minari dataset id: (namespace/)name-vN, "
                          f"say ptgm/{store.world}-scripted-v0") from None
    world = store.world_spec
    out = Path(out)
    _fresh_output(out)
    obs_space, action_space = _spaces(world, store.has_pixels)
    with _scratch(out, "exporting") as tmp:
        # An absolute path: Minari sizes its files by walking the folder and joins the names onto it again.
        storage = MinariStorage.new(tmp.absolute() / "data", observation_space=obs_space, action_space=action_space,
                                    data_format="hdf5", jpeg_encoding=False)
        producer_key = store.manifest.get("producer_key", {})
        storage.update_metadata({
            "dataset_id": dataset_id,
            "minari_version": minari_version,
            "author": {"ptgm"},
            "algorithm_name": f"ptgm collect --player {producer_key.get('player', 'unknown')}",
            "description": f"{store.world} episodes recorded by ptgm ({store.num_frames} steps in "
                           f"{len(store.episodes)} episodes), exported by `ptgm data export --format minari`",
            # What `import_minari` reads the world from, and what ties the export to the ptgm dataset it came from.
            "ptgm": {"world": store.world, "format": FORMAT, "dataset_id": store.dataset_id,
                     "producer_key": producer_key, "producer": store.manifest.get("producer"),
                     "exporter": provenance("ptgm data export --format minari", None, data=str(data))},
        })
        for i, (ep_id, arrays) in enumerate(store.iter_episodes()):
            obs = arrays["obs_symbolic"]
            if store.has_pixels:
                obs = {"symbolic": obs, "pixels": arrays["obs_pixels"]}
            # Minari's infos hold T+1 rows, row 0 the reset's: nothing happens on a reset.
            achievements = np.concatenate([np.zeros_like(arrays["achievements"][:1]), arrays["achievements"]])
            infos = {"achievements": achievements, "inventory": arrays["inventory"]}
            if "player_pos" in arrays:
                infos["player_pos"] = arrays["player_pos"]
            actions = arrays["actions"].astype(np.float32 if world.continuous else np.int64)
            storage.update_episodes([EpisodeBuffer(
                id=i, seed=store.episode(ep_id).env_seed, observations=obs, actions=actions,
                rewards=arrays["rewards"], terminations=arrays["terminations"], truncations=arrays["truncations"],
                infos=infos)])
        _publish(tmp, out)
    return out


# -- import ------------------------------------------------------------------------------------------------
def local_store() -> Path:
    """Minari's local dataset folder, as `minari.storage.get_dataset_path` finds it (without creating it)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    return Path(root) if root else Path.home() / ".minari" / "datasets"


def find_minari(src: str | Path) -> Path:
    """The Minari data folder (holding metadata.json) of `src`: a dataset folder, its `data` folder, or a dataset
    id in the local Minari store. Never downloads."""
    for path in (Path(src), local_store() / str(src)):
        for data in (path, path / "data"):
            if (data / "metadata.json").is_file():
                return data.absolute()  # Minari joins the paths it walks onto this one: relative ones break
    if Path(src).exists():
        raise DatasetError(f"{src} is not a Minari dataset (no metadata.json in it or in its data folder)")
    raise DatasetError(f"no Minari dataset at {src}, nor as a dataset id in the local Minari store {local_store()} "
                       f"(ptgm never downloads; `minari download ID` does)")


def _open(data: Path):
    minari, _ = _minari()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Minari warns of a missing env spec, which ptgm never needs
            return minari.MinariDataset(data)
    except (ValueError, KeyError, AssertionError, OSError, ImportError) as e:
        raise DatasetError(f"{data}: cannot read the Minari dataset: {type(e).__name__}: {e}") from e


def _symbolic(obs: Any, world: WorldSpec, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(symbolic (T+1, S), pixels (T+1, H, W, 3) or None) of an episode's Minari observations."""
    size = world.symbolic_layout.size
    if isinstance(obs, dict):
        key = next((k for k in ("symbolic", "observation") if k in obs), None)
        if key is None:
            raise DatasetError(f"{where}: a Dict observation needs a 'symbolic' or 'observation' key for the "
                               f"{world.name} state; it has {sorted(obs)}")
        pixels = obs.get("pixels") if world.pixel_shape else None
        if pixels is not None and np.shape(pixels)[1:] != tuple(world.pixel_shape):
            pixels = None  # not the world's pictures: the symbolic state is what ptgm needs
        symbolic = np.asarray(obs[key])
        where = f"{where}: observation '{key}'"
    else:
        symbolic, pixels = np.asarray(obs), None
        where = f"{where}: observation"
    if symbolic.ndim != 2 or symbolic.shape[1] != size:
        raise DatasetError(f"{where} has shape {symbolic.shape[1:]}, but a {world.name} symbolic observation is "
                           f"({size},); is this {world.name} data? (--world)")
    return symbolic, None if pixels is None else np.asarray(pixels)


def _events(infos: dict | None, symbolic: np.ndarray, world: WorldSpec, length: int, where: str) -> np.ndarray:
    """The episode's `achievements` (T, A): from its infos (T+1 rows, row 0 the reset's; or T), else from its states."""
    value = (infos or {}).get("achievements")
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == len(world.achievements):
        rows = value[1:] if len(value) == length + 1 else value
        if len(rows) == length and np.isin(rows, (0, 1)).all():
            return rows.astype(bool)
    events_from_states = world_entry(world.name).events_from_states
    if events_from_states is not None:
        return np.asarray(events_from_states(symbolic), bool)
    raise DatasetError(f"{where}: its infos carry no 'achievements' ({length + 1}, {len(world.achievements)}) of "
                       f"0/1, and {world.name}'s cannot be recomputed from observations")


def _flags(value: Any, name: str, where: str) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype != bool and not np.isin(value, (0, 1)).all():
        raise DatasetError(f"{where}: '{name}' must be true/false, got values like {value.flat[0]!r}")
    return value.astype(bool)


def episode_arrays(ep: Any, world: WorldSpec, where: str) -> dict[str, np.ndarray]:
    """ptgm's arrays of one Minari episode (an `EpisodeData`), checked in the world's terms and then cast."""
    length = len(ep.rewards)
    symbolic, pixels = _symbolic(ep.observations, world, where)
    if isinstance(ep.actions, (dict, tuple)):
        raise DatasetError(f"{where}: actions are a {type(ep.actions).__name__}; ptgm takes one action array")
    raw = {"obs_symbolic": symbolic, "actions": np.asarray(ep.actions), "rewards": np.asarray(ep.rewards),
           "terminations": _flags(ep.terminations, "terminations", where),
           "truncations": _flags(ep.truncations, "truncations", where)}
    if not world.continuous and raw["actions"].ndim == 2 and raw["actions"].shape[1] == 1:
        raw["actions"] = raw["actions"][:, 0]  # ids stored as one-element rows
    if pixels is not None:
        raw["obs_pixels"] = pixels
    check_episode(raw, length, world, where)  # before the casts below, which would wrap or round bad values
    dtypes = {"obs_symbolic": world.symbolic_dtype, "actions": np.float32 if world.continuous else np.uint8,
              "rewards": np.float32, "obs_pixels": np.uint8}
    arrays = {k: v.astype(dtypes.get(k, v.dtype)) for k, v in raw.items()}
    arrays["inventory"] = world.symbolic_layout.split(arrays["obs_symbolic"])[1].astype(np.uint8)
    arrays["achievements"] = _events(ep.infos, arrays["obs_symbolic"], world, length, where)
    pos = (ep.infos or {}).get("player_pos")
    if isinstance(pos, np.ndarray) and pos.shape == (length + 1, 2) and np.issubdtype(pos.dtype, np.integer):
        arrays["player_pos"] = pos.astype(np.int16)
    return arrays


def _world_of(metadata: dict, world: str | None, data: Path) -> str:
    recorded = (metadata.get("ptgm") or {}).get("world") if isinstance(metadata.get("ptgm"), dict) else None
    if world is not None and recorded is not None and world != recorded:
        raise ConfigError(f"--world {world}, but {data} was exported from a {recorded} dataset")
    world = world or recorded
    if world is None:
        raise ConfigError(f"{data} does not say which world it is from (it was not exported by ptgm); give --world "
                          f"({', '.join(WORLDS)})")
    try:
        get_world(world)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    return world


def import_minari(src: str | Path, out: str | Path, world: str | None = None) -> Path:
    """Read the local Minari dataset `src` (a path or a local dataset id) into a new ptgm dataset `out`."""
    data = find_minari(src)
    dataset = _open(data)
    metadata = dataset.storage.metadata
    name = _world_of(metadata, world, data)
    spec = get_world(name)
    out = Path(out)
    _fresh_output(out)
    episodes = list(dataset.episode_indices)
    seeds = [m.get("seed") for m in dataset.storage.get_episode_metadata(episodes)]
    first = next(dataset.iterate_episodes(episodes[:1]), None) if episodes else None
    if first is None:
        raise DatasetError(f"{data}: the Minari dataset has no episodes")
    pixels = "obs_pixels" in episode_arrays(first, spec, f"{data} episode {first.id}")
    source = {"path": str(data.resolve()), "dataset_id": metadata.get("dataset_id"),
              "minari_version": metadata.get("minari_version"), "author": sorted(metadata.get("author", ())),
              "algorithm_name": metadata.get("algorithm_name"), "description": metadata.get("description")}
    header = {
        "world": name,
        "observations": ["symbolic", "pixels"] if pixels else ["symbolic"],
        "records_noise": False,  # a Minari dataset does not say which actions were not its player's choice
        "world_spec": {"action_names": spec.action_names, "achievements": spec.achievements, "items": spec.items,
                       "symbolic_size": spec.symbolic_layout.size,
                       **({"action_shape": list(spec.action_shape)} if spec.continuous else {})},
        "producer_key": {"minari": source["dataset_id"]},
        # Episodes without a recorded seed get 0: replaying them (eval-low, pictures) finds they do not reproduce.
        "producer": provenance("ptgm data import", None, source=source,
                               seeds_recorded=all(isinstance(s, (int, np.integer)) for s in seeds)),
    }
    with _scratch(out, "importing") as tmp:
        writer = DatasetWriter(tmp, header)
        index = 0
        for ep, seed in zip(dataset.iterate_episodes(episodes), seeds):
            if len(ep.rewards) == 0:
                continue
            arrays = episode_arrays(ep, spec, f"{data} episode {ep.id}")
            if ("obs_pixels" in arrays) != pixels:
                raise DatasetError(f"{data} episode {ep.id}: pixels in some episodes and not in others")
            env_seed = int(seed) if isinstance(seed, (int, np.integer)) and 0 <= seed < 2**63 else 0
            writer.commit(write_episode(tmp, index, arrays, env_seed, spec))
            index += 1
        if index == 0:
            raise DatasetError(f"{data}: every episode of the Minari dataset is empty")
        _publish(tmp, out)
    return out
