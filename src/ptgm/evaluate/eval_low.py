"""`ptgm eval-low`: does the low-level policy reach the goals it is given?

For every code of a codebook, command that code for K steps from three kinds of start:

- fresh: new worlds (the same few for every code);
- val: states at random steps of validation episodes (the same few for every code), restored by
  replaying the recorded actions from the episode's seed;
- reachable: for each code, validation states from which the recorded episode went on to reach
  that code within K steps (and was not at it yet): goals known to be reachable from their start,
  which is where following the goal, rather than playing as usual, should show;

and measure

- reached: the fraction of rollouts in which, at some step 1..K, the code nearest (cosine) to the
  current goal embedding is the commanded one;
- distance reduction: the Euclidean distance in embedding space between the start and the code,
  minus that distance after the K steps (positive: the policy moved towards the goal); for an
  embedding with named parts (`GoalEmbedder.blocks`: the state embedding's inventory, view, near
  and time; a sliced state vector's parts, such as Kitchen's arm pose and objects), the same per part,
  which says what of a goal the policy does get closer to;
- the code's achievements (with --data): the fraction of rollouts that unlock an achievement which the
  episode the code was taken from had unlocked by the code's step, and which the start had not. Where the
  goal is a world's state rather than a place (Kitchen: an open microwave, a kettle on the burner), this
  says whether commanding a code brings about what that code's state has done; the nearest-code test
  cannot, since a commanded state is rarely matched in every part;

and, where the codebook names each code's stage of play (sleep, wood, stone, ...), the reach rates
per stage, which say on which kinds of goal the policy follows the command.

The same starts, codes and K are measured for a uniformly random policy, for the unconditional
policy (the null goal, no guidance) and for the goal-conditioned policy at each `cond_scale`, so
the numbers sit side by side. Rollouts run batched: one list of environments, one forward pass a step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from ptgm.config import ConfigError, check_at_least, check_paths_given
from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.envs import env_obs_mode, make_env
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import GoalEmbedder, embed_episode
from ptgm.io import folder_lock, provenance, save_json
from ptgm.models.low_level import LowLevelPolicy


@dataclass
class EvalLowConfig:
    low: str  # low-level policy directory (from `ptgm train-low`)
    codebook: str  # codebook whose codes are commanded
    data: str | None = None  # split dataset whose validation episodes give start states (none: fresh worlds only)
    episodes: int = 4  # rollouts per code from each kind of start (fresh worlds, validation states)
    steps: int = 100  # K: environment steps each code is commanded for
    cond_scale: list[float] = field(default_factory=lambda: [0.0, 3.0])  # guidance scales to evaluate
    codes: int = 0  # evaluate only the first N codes (0: all)
    deterministic: bool = False  # take the most likely action instead of sampling
    encoder: str | None = None  # goal encoder directory, for a 'learned' embedding codebook
    out: str | None = None  # results JSON (default: LOW/eval_low.json)
    seed: int = 0  # seeds the start states and the action sampling
    threads: int = 1  # torch CPU threads
    progress: bool = True  # show a progress bar

    def validate(self) -> None:
        check_paths_given(self, "low", "codebook")
        if self.out is not None:
            check_paths_given(self, "out")
        check_at_least(self, 1, "episodes", "steps", "threads")
        check_at_least(self, 0, "codes", "seed")
        if not self.cond_scale:
            raise ConfigError("give at least one --cond-scale")
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s < float("inf")
                   for s in self.cond_scale):
            raise ConfigError(f"--cond-scale values must be numbers >= 0, got {self.cond_scale}")


@dataclass
class Start:
    """A saved world state to start rollouts from (a deep copy of the environment)."""

    kind: str  # "fresh" or "val"
    env: gym.Env
    obs: np.ndarray
    symbolic: np.ndarray
    where: str  # e.g. "seed 123" or "ep-000004 step 310"
    unlocked: np.ndarray  # bool per achievement: unlocked in this life before the start


def env_action(action: np.ndarray):
    """One env's action as its world takes it: an int id, or the continuous vector itself."""
    return action if np.ndim(action) else int(action)


def fresh_starts(obs_mode: str, n: int, rng: np.random.Generator, world: str = "crafter") -> list[Start]:
    starts = []
    for seed in rng.integers(2**31 - 1, size=n):
        env = make_env(world, obs_mode=obs_mode)
        obs, info = env.reset(seed=int(seed))
        starts.append(Start("fresh", env, obs, info["symbolic"].copy(), f"seed {seed}", info["unlocked"].copy()))
    return starts


def validation_starts(store: EpisodeStore, obs_mode: str, n: int, steps: int,
                      rng: np.random.Generator, max_tries: int = 10) -> tuple[list[Start], list[str]]:
    """States at random steps of validation episodes, rebuilt by replaying the recorded actions.

    An episode whose replay does not reproduce its recorded observations (recorded by another
    version of the world) is skipped; the skipped ones are returned next to the starts."""
    ids = store.split_ids("val")
    if not ids:
        raise DatasetError(f"dataset {store.root} has no validation episodes to start from")
    starts: list[Start] = []
    skipped: list[str] = []
    while len(starts) < n:
        if len(skipped) >= max_tries * n:
            raise DatasetError(
                f"replaying validation episodes of {store.root} from their seeds does not reproduce their recorded "
                f"observations ({', '.join(skipped[:5])}, ...): the dataset was recorded with another version of the "
                f"world; collect it again or evaluate without --data (fresh worlds only)")
        ep_id = str(rng.choice(ids))
        info_ep = store.episode(ep_id)
        arrays = store.load(ep_id, ["actions", "obs_symbolic"])
        t = int(rng.integers(0, max(1, info_ep.length - steps)))  # leave room for K steps before the episode's end
        env = make_env(store.world, obs_mode=obs_mode)
        obs, info = env.reset(seed=info_ep.env_seed)
        replayed = np.array_equal(info["symbolic"], arrays["obs_symbolic"][0])
        for i, action in enumerate(arrays["actions"][:t]):
            obs, _, _, _, info = env.step(env_action(action))
            if not np.array_equal(info["symbolic"], arrays["obs_symbolic"][i + 1]):
                replayed = False
                break
        if replayed:
            starts.append(Start("val", env, obs, info["symbolic"].copy(), f"{ep_id} step {t}",
                                info["unlocked"].copy()))
        else:
            skipped.append(f"{ep_id} step {t}")
    return starts, skipped


def reachable_starts(store: EpisodeStore, codebook: Codebook, codes: np.ndarray, embedder: GoalEmbedder,
                     obs_mode: str, per_code: int, steps: int, rng: np.random.Generator,
                     ) -> tuple[list[tuple[Start, int]], list[str]]:
    """(start, code) pairs where the recorded validation episode went on to reach `code` within `steps`
    steps of `start` (and was not at it already): goals known to be reachable from their start.

    Up to `per_code` pairs per code; each episode is replayed once and snapshotted at the chosen steps."""
    ids = store.split_ids("val")
    candidates: dict[int, list[tuple[str, int]]] = {int(c): [] for c in codes}
    for ep_id in ids:
        arrays = store.load(ep_id, ["obs_symbolic"] if embedder.needs == "symbolic" else ["obs_pixels"])
        ep_codes = codebook.nearest(embed_episode(embedder, arrays))
        for c in candidates:
            hits = np.flatnonzero(ep_codes == c)
            for t in np.flatnonzero(ep_codes[:-1] != c):
                # the first visit of c after t, within the next `steps` observations
                later = hits[np.searchsorted(hits, t + 1):]
                if len(later) and later[0] - t <= steps:
                    candidates[c].append((ep_id, int(t)))
    chosen: dict[str, list[tuple[int, int]]] = {}
    for c, cands in candidates.items():
        for i in rng.permutation(len(cands))[:per_code]:
            ep_id, t = cands[i]
            chosen.setdefault(ep_id, []).append((t, c))
    pairs, skipped = [], []
    for ep_id, wanted in sorted(chosen.items()):
        info_ep = store.episode(ep_id)
        arrays = store.load(ep_id, ["actions", "obs_symbolic"])
        env = make_env(store.world, obs_mode=obs_mode)
        obs, info = env.reset(seed=info_ep.env_seed)
        at: dict[int, list[int]] = {}
        for t, c in wanted:
            at.setdefault(t, []).append(c)
        for t in range(max(at) + 1):
            if not np.array_equal(info["symbolic"], arrays["obs_symbolic"][t]):
                skipped.append(f"{ep_id} step {t}")
                break
            for c in at.get(t, []):
                pairs.append((Start("reachable", copy.deepcopy(env), obs, info["symbolic"].copy(),
                                    f"{ep_id} step {t}", info["unlocked"].copy()), c))
            if t < max(at):
                obs, _, _, _, info = env.step(env_action(arrays["actions"][t]))
    return pairs, skipped


def code_achievements(store: EpisodeStore, codebook: Codebook) -> np.ndarray | None:
    """(n_codes, A) bool: the achievements the episode each code was taken from had unlocked by the code's step;
    None when a code's source (episode and step) is not recorded in `store`."""
    known = set(store.split_ids("train")) | set(store.split_ids("val"))
    rows = []
    for source in codebook.sources:
        if source.get("episode") not in known or "step" not in source:
            return None
        events = store.load(source["episode"], ["achievements"])["achievements"]
        rows.append(events[: int(source["step"])].any(axis=0))
    return np.stack(rows) if rows and len(rows) == codebook.n_codes else None


def command_codes(policy: LowLevelPolicy, mode: str, cond_scale: float, pairs: list[tuple[Start, int]],
                  codebook: Codebook, embedder: GoalEmbedder, steps: int, deterministic: bool,
                  seed: int, progress: bool = False) -> dict[str, np.ndarray]:
    """From each (start, code) pair, command the code for `steps` steps; all rollouts in one batch.

    mode: "random" (uniform actions), "uncond" (null goal) or "goal" (guided by cond_scale).
    Returns per rollout: code, reached, start_at_code, dist_start, dist_final, dist_min,
    block_dist_start, block_dist_final (N, number of `embedder.blocks`): the distances per named part, and
    unlocked_start, unlocked_final (N, A): the achievements unlocked before the start and by the rollout's end."""
    target = np.array([c for _, c in pairs], np.int64)
    envs = [copy.deepcopy(start.env) for start, _ in pairs]
    obs = np.stack([start.obs for start, _ in pairs])  # the envs' observation: pixels if anyone needs them
    symbolic = np.stack([start.symbolic for start, _ in pairs])
    policy_obs = symbolic if policy.obs_mode == "symbolic" else obs
    goal_vecs = codebook.codes[target]
    goal_t = torch.from_numpy(goal_vecs)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    blocks = list(embedder.blocks.values())

    def measure(symbolic: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        emb = embedder.embed(symbolic if embedder.needs == "symbolic" else obs)
        gap = emb - goal_vecs
        by_block = np.stack([np.linalg.norm(gap[:, b], axis=1) for b in blocks], axis=1) if blocks \
            else np.zeros((len(emb), 0), np.float32)
        return codebook.nearest(emb) == target, np.linalg.norm(gap, axis=1), emb, by_block

    at_code, dist_start, current, block_dist_start = measure(symbolic, obs)
    block_dist_final = block_dist_start.copy()
    reached = np.zeros(len(envs), bool)
    dist_final, dist_min = dist_start.copy(), dist_start.copy()
    alive = np.ones(len(envs), bool)
    unlocked_start = np.stack([start.unlocked for start, _ in pairs]).astype(bool)
    unlocked_final = unlocked_start.copy()
    for _ in tqdm(range(steps), desc=f"eval-low {mode}", unit="step", disable=not progress, leave=False):
        if mode == "random" and policy.continuous:
            actions = rng.uniform(-1.0, 1.0, (len(envs), *policy.action_shape)).astype(np.float32)
        elif mode == "random":
            actions = rng.integers(policy.n_actions, size=len(envs))
        else:
            actions = policy.act(torch.from_numpy(policy_obs), goal_t, cond_scale, deterministic, gen,
                                 unconditional=mode == "uncond", current=torch.from_numpy(current)).numpy()
        for i, env in enumerate(envs):
            if not alive[i]:
                continue
            o, _, terminated, truncated, info = env.step(env_action(actions[i]))
            obs[i], symbolic[i] = o, info["symbolic"]
            unlocked_final[i] |= info["unlocked"]
            alive[i] = not (terminated or truncated)
        now_at_code, dist, current, block_dist_final = measure(symbolic, obs)
        reached |= now_at_code
        dist_final = dist
        dist_min = np.minimum(dist_min, dist)
    return {"code": target, "reached": reached, "start_at_code": at_code, "dist_start": dist_start,
            "dist_final": dist_final, "dist_min": dist_min, "block_dist_start": block_dist_start,
            "block_dist_final": block_dist_final, "unlocked_start": unlocked_start, "unlocked_final": unlocked_final}


def eval_low(cfg: EvalLowConfig) -> dict[str, Any]:
    """Run the evaluation; writes and returns the results (per policy, per start kind, per code)."""
    cfg.validate()
    out = Path(cfg.out) if cfg.out else Path(cfg.low) / "eval_low.json"
    with folder_lock(out.parent):
        return _eval_low(cfg, out)


def _eval_low(cfg: EvalLowConfig, out: Path) -> dict[str, Any]:
    torch.set_num_threads(cfg.threads)
    codebook = Codebook.load(cfg.codebook)
    policy = LowLevelPolicy.load(cfg.low, embedder=codebook.embedder)
    world = policy.world
    embedder = codebook.load_embedder(world, cfg.encoder)
    codes = np.arange(codebook.n_codes if cfg.codes == 0 else min(cfg.codes, codebook.n_codes))

    env_mode = env_obs_mode((policy.obs_mode, embedder.needs))
    rng = np.random.default_rng(cfg.seed)
    fresh = fresh_starts(env_mode, cfg.episodes, rng, world.name)
    pairs = {"fresh": [(s, int(c)) for c in codes for s in fresh]}
    store, skipped, code_sets = None, [], None
    if cfg.data is not None:
        store = EpisodeStore(cfg.data)
        if store.world != world.name:
            raise DatasetError(f"dataset {cfg.data} is of world {store.world!r}, the policy of {world.name!r}")
        codebook.check_data(store.dataset_id, store.train_episodes_sha256)  # its "reachable" starts must be unseen states
        val, skipped = validation_starts(store, env_mode, cfg.episodes, cfg.steps, rng)
        pairs["val"] = [(s, int(c)) for c in codes for s in val]
        pairs["reachable"], more = reachable_starts(store, codebook, codes, embedder, env_mode, cfg.episodes,
                                                    cfg.steps, rng)
        skipped += more
        if not pairs["reachable"]:
            del pairs["reachable"]
        code_sets = code_achievements(store, codebook)

    policies = [("random", "random", 0.0), ("unconditional", "uncond", 0.0)]
    policies += [(f"goal s={s:g}", "goal", float(s)) for s in cfg.cond_scale]
    rollouts: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for name, mode, scale in policies:
        rollouts[name] = {kind: with_code_achievements(
                              command_codes(policy, mode, scale, kind_pairs, codebook, embedder, cfg.steps,
                                            cfg.deterministic, cfg.seed, cfg.progress), code_sets)
                          for kind, kind_pairs in pairs.items()}

    # Each code's stage of play as the codebook describes it (sleep, wood, stone, ...), to see where the goal steers.
    stages = [d.get("stage", "?") for d in codebook.meta.get("descriptions") or []][: len(codes)]
    results = summarise(rollouts, codes, list(embedder.blocks), stages if len(stages) == len(codes) else None)
    results.update({
        "config": cfg, "policy": str(cfg.low), "codebook_fingerprint": codebook.fingerprint,
        "starts": {kind: sorted({s.where for s, _ in kind_pairs}) for kind, kind_pairs in pairs.items()},
        "replay_skipped": skipped,
        "provenance": provenance("ptgm eval-low", cfg, dataset_id=store.dataset_id if store else None),
    })
    save_json(out, results)
    return results


def with_code_achievements(r: dict[str, np.ndarray], code_sets: np.ndarray | None) -> dict[str, np.ndarray]:
    """Adds to a `command_codes` result, per rollout: `new_achievement` (it unlocked something not unlocked before
    its start) and, given each code's achievements (`code_achievements`), `code_todo` (the code's episode had one
    unlocked that the start had not) and `code_achieved` (the rollout unlocked one of those)."""
    new = r["unlocked_final"] & ~r["unlocked_start"]
    r = {**r, "new_achievement": new.any(axis=1)}
    if code_sets is not None:
        todo = code_sets[r["code"]] & ~r["unlocked_start"]
        r.update(code_todo=todo.any(axis=1), code_achieved=(new & todo).any(axis=1))
    return r


def summarise(rollouts: dict[str, dict[str, dict[str, np.ndarray]]], codes: np.ndarray,
              blocks: list[str] | None = None, stages: list[str] | None = None) -> dict[str, Any]:
    """Rates and mean distance reductions: per policy overall, per start kind, and per code; overall and per
    start kind also per named part of the embedding (`blocks`, the columns of block_dist_*); with `stages`
    (one label per code), also per stage over all starts."""
    blocks = blocks or []

    def stats(r: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, float] | None:
        if mask is not None:
            r = {k: v[mask] for k, v in r.items()}
        if len(r["reached"]) == 0:
            return None
        out = {"reached": float(r["reached"].mean()), "start_at_code": float(r["start_at_code"].mean()),
               "dist_reduction": float((r["dist_start"] - r["dist_final"]).mean()),
               "dist_reduction_min": float((r["dist_start"] - r["dist_min"]).mean()), "rollouts": len(r["reached"])}
        if "new_achievement" in r:
            out["new_achievement"] = float(r["new_achievement"].mean())
        if "code_todo" in r:
            # over the rollouts whose code had an achievement left to do from their start; None if none had
            todo = r["code_todo"]
            out["code_todo"] = int(todo.sum())
            out["code_achieved"] = float(r["code_achieved"][todo].mean()) if todo.any() else None
        return out

    def with_blocks(r: dict[str, np.ndarray]) -> dict[str, Any] | None:
        out = stats(r)
        if out is not None and blocks:
            reduction = (r["block_dist_start"] - r["block_dist_final"]).mean(axis=0)
            out["block_reduction"] = {b: float(v) for b, v in zip(blocks, reduction)}
        return out

    summary, per_kind, per_code, per_stage = {}, {}, {}, {}
    stage_of = dict(zip(codes.tolist(), stages or []))
    for name, kinds in rollouts.items():
        joined = {k: np.concatenate([r[k] for r in kinds.values()]) for k in next(iter(kinds.values()))}
        summary[name] = with_blocks(joined)
        per_kind[name] = {kind: with_blocks(r) for kind, r in kinds.items()}
        per_code[name] = [stats(joined, joined["code"] == c) for c in codes]
        if stages:
            labels = np.array([stage_of[int(c)] for c in joined["code"]])
            per_stage[name] = {st: {**stats(joined, labels == st), "codes": stages.count(st)}
                               for st in sorted(set(stages), key=lambda st: (-stages.count(st), st))
                               if (labels == st).any()}
    results = {"codes": codes.tolist(), "summary": summary, "per_kind": per_kind, "per_code": per_code}
    if per_stage:
        results["per_stage"] = per_stage
    return results


def format_results(results: dict[str, Any]) -> str:
    """The per-code table (reached % and distance reduction per policy), per start kind lines, one summary line."""
    names = list(results["summary"])

    def cell(stats: dict[str, float] | None) -> str:
        return f"{'-':>7} {'-':>8}" if stats is None else f"{100 * stats['reached']:>7.1f} {stats['dist_reduction']:>+8.3f}"

    lines = [f"{'':>19} " + " ".join(f"{n[:16]:>16}" for n in names),
             f"{'code':>5} {'runs':>5} {'start%':>6} " + " ".join(f"{'reach%':>7} {'dDist':>8}" for _ in names)]
    for i, code in enumerate(results["codes"]):
        first = results["per_code"][names[0]][i]
        runs, start = (0, 0.0) if first is None else (first["rollouts"], 100 * first["start_at_code"])
        lines.append(f"{code:>5} {runs:>5} {start:>6.1f} " + " ".join(cell(results["per_code"][n][i]) for n in names))
    for kind in next(iter(results["per_kind"].values())):
        k = {n: results["per_kind"][n][kind] for n in names}
        lines.append(f"{kind:>9} starts ({k[names[0]]['rollouts']} rollouts): reached " + ", ".join(
            f"{n} {100 * k[n]['reached']:.1f}%" for n in names) + " | distance reduction " + ", ".join(
            f"{n} {k[n]['dist_reduction']:+.3f}" for n in names))
    for kind in next(iter(results["per_kind"].values())):
        k = {n: results["per_kind"][n][kind] for n in names}
        if k[names[0]].get("code_achieved") is not None:
            lines.append(f"{kind:>9} starts: the code's achievements done in {k[names[0]]['code_todo']} rollouts that "
                         "had one to do: " + ", ".join(f"{n} {100 * k[n]['code_achieved']:.1f}%" for n in names)
                         + " | any new achievement: " + ", ".join(f"{n} {100 * k[n]['new_achievement']:.1f}%"
                                                                   for n in names))
    for stage, first in results.get("per_stage", {}).get(names[0], {}).items():
        st = {n: results["per_stage"][n][stage] for n in names}
        lines.append(f"{stage:>9} codes ({first['codes']}, {first['rollouts']} rollouts): reached " + ", ".join(
            f"{n} {100 * st[n]['reached']:.1f}%" for n in names))
    s = results["summary"]
    lines.append(f"eval-low summary ({len(results['codes'])} codes, {s[names[0]]['rollouts']} rollouts per policy, "
                 f"{'+'.join(results['per_kind'][names[0]])} starts): reached "
                 + ", ".join(f"{name} {100 * s[name]['reached']:.1f}%" for name in names)
                 + " | distance reduction " + ", ".join(f"{name} {s[name]['dist_reduction']:+.3f}" for name in names))
    if s[names[0]].get("code_achieved") is not None:
        lines.append(f"eval-low code achievements ({s[names[0]]['code_todo']} rollouts with one to do): "
                     + ", ".join(f"{n} {100 * s[n]['code_achieved']:.1f}%" for n in names))
    if "block_reduction" in s[names[0]]:
        for kind, by_kind in [("all", s)] + [(k, {n: results["per_kind"][n][k] for n in names})
                                              for k in results["per_kind"][names[0]]]:
            lines.append(f"distance reduction by part, {kind} starts: " + " | ".join(
                f"{n} " + " ".join(f"{b} {v:+.3f}" for b, v in by_kind[n]["block_reduction"].items()) for n in names))
    if results.get("replay_skipped"):
        lines.append(f"note: {len(results['replay_skipped'])} validation states could not be restored by replay "
                     f"and were skipped")
    return "\n".join(lines)
