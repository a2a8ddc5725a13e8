"""`ptgm codebook`: the clustered goal codebook, the discrete high-level action space (PTGM stage 3).

sample goals from the training split -> clustering features [goal, action history] -> t-SNE to 2-D
-> k-means (k-means++) into N clusters -> per cluster, the real sample nearest to the centre; its goal
embedding (not its 2-D point) is the code. Then the pictures that show what each code means.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptgm.config import ConfigError, check_at_least, check_choice, check_paths_given, check_positive, save_yaml
from ptgm.data.store import MANIFEST, EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.clustering import REDUCERS, TooFewSamplesError, kmeans, reduce
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import check_embedding, make_embedder
from ptgm.goals.pictures import CodeView, describe_code, save_pictures
from ptgm.goals.sampling import choose_episodes, clustering_features, sample_goals, thin_static_goals
from ptgm.io import folder_lock, provenance, sha256_file


@dataclass
class CodebookConfig:
    data: str  # dataset directory, split with `ptgm split`
    out: str  # output directory: codebook.npz + codebook.json, config.yaml and the pictures
    embedding: str = "state"  # goal embedder: state (symbolic view + inventory; a state vector: its goal slices) | state:PART+PART | learned (needs --encoder)
    encoder: str | None = None  # directory written by `ptgm train-encoder`, for --embedding learned
    n_codebook: int = 100  # number of codes N, the size of the high-level action space (paper: 100)
    episodes: int = 50  # training episodes to sample goals from, drawn with --seed (-1: all; paper: 50)
    sample_interval: int = 4  # keep every k-th step; paper 50 on long videos, 4 here: ~5k goals from 50 Crafter episodes
    min_goal_change: float = 0.0  # thin static stretches: keep a goal only if it moved this many median step-changes from the last kept one of its episode (0: keep all)
    action_history: int = 16  # H: add the counts of the previous H actions to the clustering feature (0: goals only)
    action_weight: float = 1.0  # weight of the action-history block against the goal block (both spread-normalised)
    reduce: str = "tsne"  # reduction before k-means: tsne (2-D, openTSNE) | pca (2-D) | none
    perplexity: float = 30.0  # t-SNE perplexity
    seed: int = 1  # seeds the episode draw, t-SNE and k-means
    threads: int = 1  # CPU threads for t-SNE and the learned encoder (1 is fastest on a busy 2-core machine: bench/)
    pictures: bool = True  # write the scatter, per-code clips and the overview page

    def validate(self) -> None:
        check_paths_given(self, "data", "out")
        check_embedding(self.embedding)
        check_choice(self, "reduce", REDUCERS)
        check_at_least(self, 1, "n_codebook", "sample_interval", "threads")
        check_at_least(self, 0, "min_goal_change", "action_history", "action_weight", "seed")
        check_positive(self, "perplexity")
        if self.episodes != -1 and self.episodes < 1:
            raise ConfigError(f"--episodes must be at least 1, or -1 for all, got {self.episodes}")


@dataclass
class CodebookResult:
    codebook: Codebook
    out: Path
    pictures: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, int] = field(default_factory=dict)  # codes per stage tag


def build_codebook(cfg: CodebookConfig, log=print) -> CodebookResult:
    """Build, save and picture the codebook described by `cfg`."""
    cfg.validate()
    with folder_lock(cfg.out):
        return _build_codebook(cfg, log)


def _build_codebook(cfg: CodebookConfig, log) -> CodebookResult:
    out = Path(cfg.out)
    store = EpisodeStore(cfg.data)
    world = get_world(store.world)
    if cfg.embedding == "learned":
        import torch

        torch.set_num_threads(cfg.threads)
    embedder = make_embedder(cfg.embedding, world, cfg.encoder)
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    episode_ids = choose_episodes(store, cfg.episodes, cfg.seed)
    sampled = sample_goals(store, embedder, episode_ids, cfg.sample_interval, cfg.action_history, world.n_actions)
    samples = thin_static_goals(sampled, cfg.min_goal_change)
    if len(samples) < cfg.n_codebook:
        raise TooFewSamplesError(
            f"asked for {cfg.n_codebook} codes but sampling gave only {len(samples)} goals ({len(episode_ids)} "
            f"episodes, every {cfg.sample_interval} steps, {len(sampled) - len(samples)} dropped as static); lower "
            f"--n-codebook or --min-goal-change, or sample more (more --episodes, smaller --sample-interval, or a "
            f"larger dataset)")
    features = clustering_features(samples, cfg.action_weight)
    timings["sample_s"] = time.perf_counter() - clock
    thinned = f" ({len(sampled) - len(samples)} of {len(sampled)} dropped as static)" if cfg.min_goal_change else ""
    log(f"sampled {len(samples)} goals from {len(episode_ids)} episodes{thinned}; "
        f"clustering features {features.shape[1]}-d")

    clock = time.perf_counter()
    points = reduce(features, cfg.reduce, cfg.seed, cfg.perplexity, cfg.threads)
    timings["reduce_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    clusters = kmeans(points, cfg.n_codebook, cfg.seed, samples.goals)
    timings["kmeans_s"] = time.perf_counter() - clock
    log(f"{cfg.reduce} {timings['reduce_s']:.1f}s, k-means {timings['kmeans_s']:.1f}s")

    chosen = clusters.chosen
    sources = [{"episode": episode_ids[samples.episode[i]], "step": int(samples.step[i])} for i in chosen]
    views = describe_codes(store, world, sources)
    coverage: dict[str, int] = {}
    for v in views:
        coverage[v.stage] = coverage.get(v.stage, 0) + 1

    meta = {
        "seed": cfg.seed,
        "dataset": str(store.root),
        "dataset_id": store.dataset_id,
        "manifest_sha256": sha256_file(store.root / MANIFEST),
        "train_episodes_sha256": store.train_episodes_sha256,
        "n_samples": len(samples),
        "n_sampled_before_thinning": len(sampled),
        "feature_dim": int(features.shape[1]),
        "sample_episode_ids": episode_ids,
        "descriptions": [{"text": v.description, "tags": v.tags, "stage": v.stage} for v in views],
        "coverage": coverage,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "config": asdict(cfg),
        "provenance": provenance("ptgm codebook", cfg, dataset_id=store.dataset_id),
    }
    extras = {
        "points": clusters.points, "labels": clusters.labels, "centers": clusters.centers, "chosen": chosen,
        "sample_episode": samples.episode, "sample_step": samples.step, "sample_goals": samples.goals,
    }
    codebook = Codebook(samples.goals[chosen].copy(), embedder.settings(), sources, meta, extras)
    codebook.save(out)
    save_yaml(out / "config.yaml", cfg)
    result = CodebookResult(codebook, out, coverage=coverage)

    if cfg.pictures:
        clock = time.perf_counter()
        title = (f"{cfg.n_codebook} codes, {cfg.embedding} embedding, {len(samples)} goals from "
                 f"{len(episode_ids)} episodes (reduce={cfg.reduce}, H={cfg.action_history}, seed={cfg.seed})")
        summary = [f"dataset {store.root} ({store.dataset_id[:12]})",
                   "codes per stage: " + ", ".join(f"{k} {n}" for k, n in coverage.items()),
                   f"codebook fingerprint {codebook.fingerprint}"]
        result.pictures = save_pictures(store, world, views, clusters.points, clusters.labels, chosen, out, title,
                                        summary)
        log(f"pictures {time.perf_counter() - clock:.1f}s")
    return result


def describe_codes(store: EpisodeStore, world, sources: list[dict]) -> list[CodeView]:
    """A CodeView (description and stage tags, no frames yet) for every code."""
    views: list[CodeView | None] = [None] * len(sources)
    by_episode: dict[str, list[int]] = {}
    for code, s in enumerate(sources):
        by_episode.setdefault(s["episode"], []).append(code)
    for ep_id, codes in by_episode.items():
        arrays = store.load(ep_id, keys=["obs_symbolic", "achievements"])
        for code in codes:
            step = sources[code]["step"]
            text, tags = describe_code(world, arrays["obs_symbolic"], arrays["achievements"], step)
            views[code] = CodeView(code, ep_id, step, text, tags)
    return views  # type: ignore[return-value]
