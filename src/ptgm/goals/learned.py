"""The learned goal embedder: an image encoder trained on the dataset's own pixel frames.

For data that has only pixels, as MineCLIP was for Minecraft in the paper. Self-supervised by
temporal contrast (InfoNCE): a frame and another frame 1..`max_offset` steps away in the same
episode are a positive pair, and every other pair in the batch is a negative, so frames from the
same stage of play land close together. The goal is the L2-normalised projection (cosine geometry,
as the codebook's `nearest` uses).

`ptgm train-encoder --data DIR --out DIR` writes `weights.safetensors` + `config.json` (format,
world, sizes, dataset id, provenance, weights checksum, validation retrieval), its losses in
`progress.csv` and `tb/` (TensorBoard), and a resumable `checkpoint/`: running the same command again continues
where it stopped (raise --steps to train longer).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ptgm.config import check_at_least, check_paths_given, check_positive
from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.envs import WorldSpec, get_world
from ptgm.io import folder_lock, provenance
from ptgm.models.artifacts import ModelError, load_weights, read_config, save_model
from ptgm.models.encoders import PixelEncoder

ENCODER_FORMAT = "ptgm-encoder/1"


@dataclass
class EncoderConfig:
    data: str  # dataset directory with pixel frames, split with `ptgm split`
    out: str  # output directory: weights.safetensors, config.json, checkpoint/, progress.csv, tb/
    seed: int = 0  # seeds the network, the frames kept in memory and the batches
    steps: int = 2000  # gradient steps (a rerun with more steps resumes from the checkpoint)
    batch_size: int = 128  # positive pairs per step; each anchor's negatives are the batch's other positives
    learning_rate: float = 3e-4  # Adam step size
    max_offset: int = 4  # a positive is 1..max_offset steps before or after its anchor, same episode
    dim: int = 64  # goal embedding size
    hidden: int = 256  # CNN feature size before the projection to the goal
    temperature: float = 0.1  # InfoNCE softmax temperature
    shift: int = 2  # random translation augmentation, in pixels (0: none)
    max_frames: int = 20_000  # training frames held in memory (whole episodes, drawn with --seed)
    eval_every: int = 500  # steps between validation retrieval checks
    checkpoint_every: int = 500  # steps between resumable checkpoints
    threads: int = 1  # torch CPU threads

    # May differ when a stopped run is started again (`settings_blocking_resume`): none changes a step.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset({"steps", "checkpoint_every", "eval_every", "threads", "out"})

    def validate(self) -> None:
        check_paths_given(self, "data", "out")
        check_at_least(self, 1, "steps", "batch_size", "max_offset", "dim", "hidden", "max_frames", "eval_every",
                       "checkpoint_every", "threads")
        check_at_least(self, 0, "seed", "shift")
        check_positive(self, "learning_rate", "temperature")


class TemporalEncoder(nn.Module):
    """PixelEncoder CNN + a linear projection, L2-normalised: uint8 (B, H, W, 3) -> (B, dim)."""

    def __init__(self, pixel_shape: tuple[int, int, int], hidden: int, dim: int):
        super().__init__()
        self.cnn = PixelEncoder(pixel_shape, hidden)
        self.project = nn.Linear(hidden, dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.cnn(frames)), dim=-1)


class LearnedEmbedder:
    """The `learned` goal embedder: a trained TemporalEncoder, recorded by its weights' checksum."""

    name = "learned"
    needs = "pixels"
    blocks: dict[str, slice] = {}  # a learned vector has no named parts

    def __init__(self, model: TemporalEncoder, world: WorldSpec, config: dict[str, Any]):
        self.model = model.eval()
        self.world = world
        self.config = config
        self.dim = int(config["dim"])

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "world": self.world.name, "dim": self.dim,
                "encoder": self.config["weights_sha256"][:16]}

    @torch.no_grad()
    def embed(self, obs: np.ndarray, batch: int = 512) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 4 or tuple(obs.shape[1:]) != tuple(self.world.pixel_shape):
            raise ValueError(f"learned embedder expects (B, {', '.join(map(str, self.world.pixel_shape))}) "
                             f"pixel frames, got {obs.shape}")
        return np.concatenate([self.model(torch.from_numpy(obs[i : i + batch])).numpy()
                               for i in range(0, len(obs), batch)] or [np.zeros((0, self.dim))]).astype(np.float32)

    @classmethod
    def load(cls, encoder_dir: str | Path, world: WorldSpec) -> "LearnedEmbedder":
        config = read_config(encoder_dir, ENCODER_FORMAT, "learned goal encoder", required=("hidden", "dim"))
        if config.get("world") != world.name or tuple(config.get("pixel_shape", ())) != tuple(world.pixel_shape):
            raise ModelError(f"{encoder_dir}: encoder was trained for world {config.get('world')!r} with frames "
                             f"{config.get('pixel_shape')}, not {world.name!r} with {list(world.pixel_shape)}")
        model = TemporalEncoder(world.pixel_shape, config["hidden"], config["dim"])
        load_weights(encoder_dir, model, config, "learned goal encoder")
        return cls(model, world, config)


# -- frames -------------------------------------------------------------------------------------------------
@dataclass
class FramePool:
    """Whole episodes of pixel frames, concatenated; `start`/`end` bound each frame's episode."""

    frames: np.ndarray  # (F, H, W, 3) uint8
    start: np.ndarray  # (F,) index of the first frame of this frame's episode
    end: np.ndarray  # (F,) one past its last frame

    @property
    def n_episodes(self) -> int:
        return len(np.unique(self.start))

    def positives(self, anchors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """A frame `offsets` steps from each anchor, mirrored back when it would leave the episode."""
        j = anchors + offsets
        outside = (j < self.start[anchors]) | (j >= self.end[anchors])
        j[outside] = anchors[outside] - offsets[outside]
        return np.clip(j, self.start[anchors], self.end[anchors] - 1)


def load_frame_pool(store: EpisodeStore, episode_ids: list[str], max_frames: int, rng: np.random.Generator,
                    ) -> FramePool:
    """Whole episodes in random order until `max_frames` (the last one cut to fit); episodes of a single
    observation are skipped (they have no temporal neighbour)."""
    frames, start, end, total = [], [], [], 0
    for ep_id in rng.permutation(episode_ids):
        if total >= max_frames:
            break
        pixels = store.load(str(ep_id), keys=["obs_pixels"])["obs_pixels"][: max_frames - total]
        if len(pixels) < 2:
            continue
        frames.append(pixels)
        start.append(np.full(len(pixels), total))
        end.append(np.full(len(pixels), total + len(pixels)))
        total += len(pixels)
    if not frames:
        raise DatasetError(f"no episodes with at least 2 frames among {len(episode_ids)} in {store.root}")
    return FramePool(np.concatenate(frames), np.concatenate(start), np.concatenate(end))


def shift_augment(frames: np.ndarray, rng: np.random.Generator, shift: int) -> np.ndarray:
    """Translate each frame by up to `shift` pixels, repeating the edge pixels."""
    if shift <= 0:
        return frames
    padded = np.pad(frames, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(frames)))
    h, w = frames.shape[1:3]
    return np.stack([padded[i, y : y + h, x : x + w] for i, (y, x) in enumerate(zip(dy, dx))])


# -- evaluation ------------------------------------------------------------------------------------------------
def temporal_retrieval(embed: Callable[[np.ndarray], np.ndarray], pool: FramePool, offset: int,
                       n_candidates: int = 20, n_queries: int = 500, seed: int = 0) -> dict[str, float] | None:
    """Does a frame's embedding find the frame `offset` steps later in its episode among `n_candidates - 1`
    frames of other episodes? `top1`: how often it ranks first (chance 1 / n_candidates); `pairwise`: how
    often it is closer than one other-episode frame (chance 0.5). None with fewer than 2 episodes."""
    if pool.n_episodes < 2:
        return None
    rng = np.random.default_rng(seed)
    queries = np.flatnonzero(np.arange(len(pool.frames)) + offset < pool.end)
    if len(queries) == 0:
        return None
    queries = rng.choice(queries, size=min(n_queries, len(queries)), replace=False)
    goals = embed(pool.frames)
    top1, pairwise = [], []
    for q in queries:
        others = np.flatnonzero(pool.start != pool.start[q])
        negatives = rng.choice(others, size=min(n_candidates - 1, len(others)), replace=False)
        positive = float(goals[q] @ goals[q + offset])
        against = goals[negatives] @ goals[q]
        top1.append(positive > against.max())
        pairwise.append((positive > against).mean())
    return {"top1": float(np.mean(top1)), "pairwise": float(np.mean(pairwise)),
            "chance": 1.0 / (len(negatives) + 1), "offset": offset, "queries": len(queries)}


# -- training ----------------------------------------------------------------------------------------------------
def format_encoder_result(result: dict[str, Any]) -> str:
    """What `ptgm train-encoder` (and `ptgm run`'s encoder stage) prints about a trained encoder."""
    lines = [f"encoder: {result['out']} (dim {result['dim']}, {result['steps']} steps)"]
    retrieval = result.get("val_retrieval")
    if retrieval:
        lines.append(f"validation retrieval: top-1 {retrieval['top1']:.3f} (chance {retrieval['chance']:.3f}), "
                     f"nearby-closer-than-other-episode {retrieval['pairwise']:.3f} (chance 0.5)")
    return "\n".join(lines)


def train_encoder(cfg: EncoderConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) the temporal-contrast encoder; returns what config.json records."""
    cfg.validate()
    with folder_lock(cfg.out):
        return _train_encoder(cfg, progress)


def _train_encoder(cfg: EncoderConfig, progress: bool) -> dict[str, Any]:
    from ptgm.training.checkpoint import (CheckpointError, load_checkpoint, read_counters, save_checkpoint,
                                         settings_blocking_resume)
    from ptgm.training.logs import TrainingLog, progress_bar

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    store = EpisodeStore(cfg.data)
    world = get_world(store.world)
    if not store.has_pixels:
        raise DatasetError(f"dataset {store.root} has no pixel frames (collected with --no-pixels); the learned "
                           f"encoder trains on pixels: collect without --no-pixels, or use --embedding state")
    train = load_frame_pool(store, store.split_ids("train"), cfg.max_frames, np.random.default_rng([cfg.seed, 0]))
    val_ids = store.split_ids("val")
    val = load_frame_pool(store, val_ids, cfg.max_frames, np.random.default_rng([cfg.seed, 0])) if val_ids else None

    model = TemporalEncoder(world.pixel_shape, cfg.hidden, cfg.dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    rng = np.random.default_rng([cfg.seed, 1])
    out, checkpoint = Path(cfg.out), Path(cfg.out) / "checkpoint"
    first_step = 0
    saved = read_counters(checkpoint)
    if saved is not None:
        changed = settings_blocking_resume(saved["config"], cfg)
        if changed or saved["dataset_id"] != store.dataset_id:
            changed = changed or ["dataset"]
            raise CheckpointError(f"{checkpoint} belongs to a run with other settings ({', '.join(changed)}); "
                                  f"use another --out or the same settings")
        first_step = load_checkpoint(checkpoint, model, optimizer)["update"]
        rng.bit_generator.state = saved["numpy_rng"]

    def embed(frames: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            goals = torch.cat([model(torch.from_numpy(frames[i : i + 512])) for i in range(0, len(frames), 512)])
        model.train()
        return goals.numpy()

    logs = TrainingLog(out, "update", resumed_at=first_step if saved is not None else None)
    bar = progress_bar(cfg.steps, first_step, "step", "ptgm train-encoder", progress)
    labels = torch.arange(cfg.batch_size)
    retrieval = None
    clock, last_step = time.perf_counter(), first_step
    for step in range(first_step, cfg.steps):
        anchors = rng.integers(0, len(train.frames), cfg.batch_size)
        offsets = rng.integers(1, cfg.max_offset + 1, cfg.batch_size) * rng.choice([-1, 1], cfg.batch_size)
        positives = train.positives(anchors, offsets)
        anchor_goals = model(torch.from_numpy(shift_augment(train.frames[anchors], rng, cfg.shift)))
        positive_goals = model(torch.from_numpy(shift_augment(train.frames[positives], rng, cfg.shift)))
        logits = anchor_goals @ positive_goals.T / cfg.temperature
        # Symmetric InfoNCE: each anchor must pick its positive, and each positive its anchor.
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        done = step + 1
        if done % 50 == 0 or done == cfg.steps:
            accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
            sps = (done - last_step) / (time.perf_counter() - clock)
            clock, last_step = time.perf_counter(), done
            logs.log(done, {"losses/infonce": loss.item(), "charts/in_batch_accuracy": accuracy,
                            "charts/steps_per_second": sps})
            bar.set_postfix(loss=f"{loss.item():.3f}", in_batch_accuracy=f"{accuracy:.3f}")
        bar.update(1)
        if val is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
            retrieval = temporal_retrieval(embed, val, cfg.max_offset, seed=cfg.seed)
            if retrieval is not None:
                logs.scalars(done, {"charts/val_retrieval_top1": retrieval["top1"],
                                    "charts/val_retrieval_pairwise": retrieval["pairwise"]})
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(checkpoint, model, optimizer, {"update": done, "numpy_rng": rng.bit_generator.state,
                                                           "config": asdict(cfg), "dataset_id": store.dataset_id})
    bar.close()
    logs.close()
    if retrieval is None and val is not None:  # resumed at the end: measure once more for the record
        retrieval = temporal_retrieval(embed, val, cfg.max_offset, seed=cfg.seed)

    record = {
        "format": ENCODER_FORMAT, "world": world.name, "pixel_shape": list(world.pixel_shape), "dim": cfg.dim,
        "hidden": cfg.hidden, "steps": max(cfg.steps, first_step), "dataset_id": store.dataset_id,
        "train_frames": int(len(train.frames)), "val_retrieval": retrieval, "config": asdict(cfg),
        "provenance": provenance("ptgm train-encoder", cfg, dataset_id=store.dataset_id),
    }
    save_model(out, model, record)
    return {**read_config(out, ENCODER_FORMAT, "learned goal encoder"), "out": str(out)}
