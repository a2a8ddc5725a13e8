"""`ptgm collect`: record task-agnostic episodes with a player, in parallel, resumably.

The dataset depends only on the config, not on workers or timing. Episode i of a run with seed s
always gets the same world and player seeds, episodes are committed to the manifest in index
order, and the frame budget is exact: the episode that crosses it keeps its first `cfg.frames -
(frames of episodes 0..i-1)` steps, as one worker playing the episodes in turn would record it.
An episode started before the earlier ones have ended is played with an upper bound on its share
and cut to its share when committed (an episode is a function of its seeds, so this is the same as
playing it with its share); episodes beyond the budget are discarded.

A collection that is interrupted and started again continues after the committed episodes
(rewriting any episode file written but not committed) and never duplicates or loses one.

With a `driver` (a policy, say the clone of this very player: `ptgm.pretrain.dagger`), the driver and the
player take turns in stretches: the player keeps playing along on every step (so its objectives follow
the game), but in the driver's stretches the driver's action is the one taken, and recorded as not the
player's choice (`noise`). What the player does on taking over is then a demonstration from the states its
clone drifts into, which plain demonstrations never show: expert takeover, as in HG-DAgger (Kelly et al.,
2019). The player is still never told a task.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from ptgm.data.store import DatasetError, DatasetWriter, EpisodeInfo, episode_id, write_episode
from ptgm.config import ConfigError, check_at_least, check_choice, check_paths_given
from ptgm.envs import PLAYERS, WORLDS, get_world, make_env, make_player
from ptgm.io import folder_lock, provenance, sha256_file
from ptgm.training.logs import progress_bar

PRESETS = {"small": 50_000, "full": 1_000_000}


@dataclass
class CollectConfig:
    out: str  # dataset directory (created, or resumed when it exists)
    world: str = "crafter"  # which world to play
    player: str = "random"  # task-agnostic player: random | scripted
    frames: int = 10_000  # total environment steps to record
    workers: int = 1  # parallel processes
    seed: int = 0  # base seed: episode i uses seeds derived from (seed, i)
    max_episode_steps: int | None = None  # episode length; unset: the world's default (Crafter 10,000, Kitchen 280)
    pixels: bool = True  # also record the 64x64 image, in worlds that have one (the symbolic view is always recorded)
    random_action_prob: float = 0.1  # scripted player's chance of a random action
    target_spread: float = 0.0  # scripted player: 0 heads for the nearest tree/stone/water; s > 0 draws one, weight exp(-extra steps / s)
    perception: str = "global"  # scripted player: global reads the whole map; local acts only on what is on screen, as its clone
    choices: str = "random"  # scripted player: random draws its next objective; greedy takes the heaviest, so the state decides
    driver: str | None = None  # a low-level policy folder whose clone (null goal) takes turns with the player; its steps are not the player's choices
    driver_share: float = 0.5  # with --driver: the expected share of steps the driver takes
    driver_stretch: int = 20  # with --driver: mean length of each turn, in steps (drawn geometric)

    def validate(self) -> None:
        check_paths_given(self, "out")
        check_choice(self, "world", WORLDS)
        check_choice(self, "player", PLAYERS)
        check_at_least(self, 1, "frames", "workers")
        if self.max_episode_steps is not None:
            check_at_least(self, 1, "max_episode_steps")
        check_at_least(self, 0, "seed", "random_action_prob", "target_spread")
        check_at_least(self, 1, "driver_stretch")
        if self.random_action_prob > 1:
            raise ConfigError(f"--random-action-prob must be in [0, 1], got {self.random_action_prob}")
        if not 0 <= self.driver_share <= 1:
            raise ConfigError(f"--driver-share must be in [0, 1], got {self.driver_share}")
        if self.driver is not None and self.player == "random":
            raise ConfigError("--driver takes turns with a player whose choices are worth learning; the random player "
                              "has none (use --player scripted)")
        # The player's own checks (its perception modes, say), before any write.
        make_player(self.player, 0, self.world, self.random_action_prob, self.target_spread, self.perception,
                    self.choices)

    def resolved(self) -> CollectConfig:
        """This config with the world's defaults filled in: what the dataset records and resumes by."""
        spec = get_world(self.world)
        return replace(self, max_episode_steps=self.max_episode_steps or spec.default_max_steps,
                       pixels=self.pixels and "pixels" in spec.obs_modes)


def episode_seeds(seed: int, index: int) -> tuple[int, int]:
    """(world seed, player seed) of episode `index`."""
    world, player = np.random.SeedSequence([seed, index]).generate_state(2)
    return int(world) & 0x7FFFFFFF, int(player)


class Driver(Protocol):
    """A policy that takes turns with the player (`CollectConfig.driver`): one action per observation."""

    def act(self, obs: Any, info: dict) -> int: ...


# Builds the driver of `CollectConfig.driver` for one episode: (folder, seed) -> Driver. The data layer only
# plays it; what it is (a trained policy) is known above (`ptgm.pretrain.dagger.clone_driver`).
MakeDriver = Callable[[str, int], Driver]


class Turns:
    """Who acts: stretches of geometric length (mean `stretch`), each the driver's with probability `share`."""

    def __init__(self, share: float, stretch: int, seed: int):
        self.share, self.stretch = share, stretch
        self.rng = np.random.default_rng([seed, 1])
        self.left, self.driving = 0, False

    def driver_acts(self) -> bool:
        if self.left == 0:
            self.driving = bool(self.rng.random() < self.share)
            self.left = int(self.rng.geometric(1.0 / self.stretch))
        self.left -= 1
        return self.driving


def run_episode(cfg: CollectConfig, index: int, budget: int, make_driver: MakeDriver | None = None) -> EpisodeInfo:
    """Play one episode of at most `budget` steps and write it; runs in a worker process."""
    world_seed, player_seed = episode_seeds(cfg.seed, index)
    spec = get_world(cfg.world)
    env = make_env(cfg.world, obs_mode="pixels" if cfg.pixels else "symbolic", max_steps=cfg.max_episode_steps)
    player = make_player(cfg.player, player_seed, cfg.world, cfg.random_action_prob, cfg.target_spread,
                         cfg.perception, cfg.choices)
    driver = turns = None
    if cfg.driver is not None:  # `collect` has checked that there is a `make_driver`
        driver = make_driver(cfg.driver, player_seed)
        turns = Turns(cfg.driver_share, cfg.driver_stretch, player_seed)
    obs, info = env.reset(seed=world_seed)
    player.reset(env.unwrapped)
    rec: dict[str, list] = {k: [] for k in ("obs_symbolic", "obs_pixels", "actions", "rewards", "terminations",
                                            "truncations", "inventory", "achievements", "player_pos", "noise")}

    def observe(obs, info):
        rec["obs_symbolic"].append(info["symbolic"])
        if cfg.pixels:
            rec["obs_pixels"].append(obs)
        for key in ("inventory", "player_pos"):
            if key in rec:
                rec[key].append(info[key])

    # Per-observation facts the world reports (a world without a map has no player position).
    for key in ("inventory", "player_pos"):
        if key not in info:
            del rec[key]
    observe(obs, info)
    for t in range(budget):
        action = player.act(obs, info)  # on every step, so that the player follows the game in the driver's turns
        noise = getattr(player, "last_noise", False)  # a random player has no choice to tell apart
        if turns is not None and turns.driver_acts():
            action, noise = driver.act(obs, info), True
        rec["noise"].append(noise)
        obs, reward, terminated, truncated, info = env.step(action)
        truncated = truncated or (t == budget - 1 and not terminated)
        rec["actions"].append(action)
        rec["rewards"].append(reward)
        rec["terminations"].append(terminated)
        rec["truncations"].append(truncated)
        rec["achievements"].append(info["achievements"])
        observe(obs, info)
        if terminated or truncated:
            break
    if not cfg.pixels:
        del rec["obs_pixels"]
    dtypes = {"actions": np.float32 if spec.continuous else np.uint8, "rewards": np.float32, "terminations": bool,
              "truncations": bool, "inventory": np.uint8, "achievements": bool, "player_pos": np.int16,
              "obs_symbolic": np.dtype(spec.symbolic_dtype), "obs_pixels": np.uint8, "noise": bool}
    arrays = {k: np.asarray(v, dtypes[k]) for k, v in rec.items()}
    return write_episode(cfg.out, index, arrays, world_seed, spec)


def truncate_episode(cfg: CollectConfig, index: int, info: EpisodeInfo, steps: int) -> EpisodeInfo:
    """Cut written episode `index` (longer than `steps`) to its first `steps` steps and rewrite it, exactly
    as `run_episode` with budget `steps` writes it: the same rows, the last step marked truncated."""
    with np.load(Path(cfg.out) / info.file, allow_pickle=False) as npz:
        arrays = {}
        for key in npz.files:  # the order they were written in
            value = npz[key]
            arrays[key] = value[:steps + len(value) - info.length]  # observations keep their one extra row
    arrays["truncations"][steps - 1] = True  # not terminal: the episode went on
    spec = get_world(cfg.world)
    return write_episode(cfg.out, index, arrays, info.env_seed, spec)


def _worker(args: tuple[CollectConfig, int, int, MakeDriver | None]) -> tuple[int, EpisodeInfo]:
    cfg, index, budget, make_driver = args
    return index, run_episode(cfg, index, budget, make_driver)


def driver_record(cfg: CollectConfig) -> dict:
    """What identifies the driver in the dataset's producer key: its folder, the checksum of its config.json
    (which holds its weights' checksum) and the turn settings."""
    config = Path(cfg.driver) / "config.json"
    if not config.is_file():
        raise ConfigError(f"--driver {cfg.driver}: no config.json there (give a low-level policy folder, RUN/low)")
    return {"folder": str(cfg.driver), "config_sha256": sha256_file(config), "share": cfg.driver_share,
            "stretch": cfg.driver_stretch}


def header(cfg: CollectConfig) -> dict:
    spec = get_world(cfg.world)
    return {
        "world": cfg.world,
        "observations": ["symbolic", "pixels"] if cfg.pixels else ["symbolic"],
        "records_noise": True,
        "world_spec": {"action_names": spec.action_names, "achievements": spec.achievements, "items": spec.items,
                       "symbolic_size": spec.symbolic_layout.size,
                       # only for worlds with continuous actions, so that Crafter's manifests stay as they were
                       **({"action_shape": list(spec.action_shape)} if spec.continuous else {})},
        # Settings that must agree for a resumed collection to extend the same dataset.
        "producer_key": {"player": cfg.player, "seed": cfg.seed, "max_episode_steps": cfg.max_episode_steps,
                         "random_action_prob": cfg.random_action_prob,
                         # recorded only when set, so datasets from before the setting still resume
                         **({"target_spread": cfg.target_spread} if cfg.target_spread else {}),
                         **({"perception": cfg.perception} if cfg.perception != "global" else {}),
                         **({"choices": cfg.choices} if cfg.choices != "random" else {}),
                         **({"driver": driver_record(cfg)} if cfg.driver is not None else {})},
        "producer": provenance("ptgm collect", cfg),
    }


def collect(cfg: CollectConfig, progress: bool = True, make_driver: MakeDriver | None = None) -> Path:
    """Collect until the dataset at `cfg.out` holds `cfg.frames` frames; resumes an existing one. `make_driver`
    builds `cfg.driver` in each episode (needed when it is set)."""
    cfg.validate()
    if cfg.driver is not None and make_driver is None:
        raise ConfigError("--driver needs a way to build the driver: run it as `ptgm collect --driver ...`")
    cfg = cfg.resolved()
    with folder_lock(cfg.out):
        return _collect(cfg, progress, make_driver)


def _collect(cfg: CollectConfig, progress: bool, make_driver: MakeDriver | None) -> Path:
    writer = DatasetWriter(cfg.out, header(cfg))
    done = writer.committed
    if [e.id for e in done] != [episode_id(i) for i in range(len(done))]:
        raise DatasetError(f"{cfg.out}: the committed episodes are not {episode_id(0)}, {episode_id(1)}, ... without "
                           "gaps (an interrupted parallel collection of an older ptgm); collect into another --out")
    frames = sum(e.length for e in done)  # of the committed episodes
    if frames > cfg.frames:
        raise DatasetError(f"{cfg.out} already holds {frames} frames, more than --frames {cfg.frames}: a dataset is "
                           f"never cut; give --frames {frames} or more to extend it, or another --out")
    next_commit = next_index = len(done)  # the next episode to commit, and to start
    finished: dict[int, EpisodeInfo] = {}  # episodes done, waiting for an earlier one to be committed
    pending = []  # running episodes
    bar = progress_bar(cfg.frames, frames, "frame", f"collect {cfg.player}", progress)
    start, new_frames = time.perf_counter(), 0

    def next_job():
        nonlocal next_index
        # Episodes before this one take at least: the committed and finished ones all their frames, the running
        # ones one each (if a finished one gets cut, the budget ends there). What is left bounds this one's share.
        budget = min(cfg.max_episode_steps,
                     cfg.frames - frames - sum(e.length for e in finished.values()) - len(pending))
        if budget <= 0:
            return None  # beyond the budget
        next_index += 1
        return cfg, next_index - 1, budget, make_driver

    ctx = mp.get_context("fork")
    with ctx.Pool(cfg.workers) if cfg.workers > 1 else _InlinePool() as pool:
        while True:
            while len(pending) < cfg.workers and (job := next_job()) is not None:
                pending.append(pool.apply_async(_worker, (job,)))
            if not pending:
                break
            ready = next((p for p in pending if p.ready()), None)
            if ready is None:
                pending[0].wait(0.05)
                continue
            pending.remove(ready)
            index, info = ready.get()
            finished[index] = info
            while next_commit in finished:  # commit in index order
                info = finished.pop(next_commit)
                allowed = cfg.frames - frames  # this episode's share of the budget
                if allowed > 0:
                    if info.length > allowed:
                        info = truncate_episode(cfg, next_commit, info, allowed)
                    writer.commit(info)
                    frames += info.length
                    new_frames += info.length
                    bar.update(info.length)
                    bar.set_postfix(episodes=len(writer.manifest["episodes"]),
                                    fps=f"{new_frames / (time.perf_counter() - start):.0f}")
                next_commit += 1
    bar.close()
    # Episode files not in the manifest: beyond the budget, or left by an interrupted run.
    listed = {Path(e["file"]).name for e in writer.manifest["episodes"]}
    episodes = Path(cfg.out) / "episodes"
    for path in [*episodes.glob("ep-*.npz"), *episodes.glob(".ep-*.tmp")]:
        if path.name not in listed:
            path.unlink()
    writer.record_run(new_frames, time.perf_counter() - start, cfg.workers)
    return Path(cfg.out)


class _InlinePool:
    """The Pool interface, run in this process (one worker: no fork, easy to debug)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def apply_async(self, fn, args):
        return _Done(fn(*args))


class _Done:
    def __init__(self, value):
        self._value = value

    def ready(self) -> bool:
        return True

    def wait(self, timeout=None) -> None:
        pass

    def get(self):
        return self._value
