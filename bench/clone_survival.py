"""What would make the cloned player live longer: a memory, or labels on the states it visits?

`bench/episode_endings.py` shows the clone of the task-agnostic player (the low-level policy with
the null goal) dying in the first night, and the player surviving by building a shelter with a
plan the observation does not show. This tests two explanations. It behaviour-clones the player
on the same data, for the same number of updates, as five variants:

- `none`: the observation alone (what ptgm's low-level policy reads);
- `actions`: plus the player's last `--prev-actions` actions;
- `obs`: plus the previous observation (through its own encoder);
- `balanced`: `none` with each action's cross-entropy weighted by 1 / sqrt(its count among the chosen
  steps; `ptgm train-low --action-balance 0.5`), so the rare actions every tool needs (place a
  table, make a pickaxe: well under 1% of steps) weigh more;
- `recurrent`: plus a GRU over the observation features, trained on `--chunks` windows of `--chunk`
  consecutive steps (from a zero state) and run over the whole episode when it plays;
- `dagger`: `none`, then `--dagger-rounds` rounds of DAgger: the clone plays fresh worlds while the
  player, shadowing it, labels every state the clone visits with the action it would take there;
  the clone is fine-tuned on half recorded steps, half those labels (compounding errors: the clone
  drifts into states the player never recorded).

It reports validation accuracy (all steps, and the steps in the dark) next to how long each clone
lives in plain Crafter on the same fresh worlds (never the worlds DAgger labelled), and how often
it ever stands walled in, as the player does every night, and makes a wood pickaxe, as the player
does in every life (`bench/shelter_choice.py`).

    python bench/clone_survival.py --data runs/benchmark/data
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptgm.data.store import EpisodeStore
from ptgm.envs import WorldSpec, get_world, make_env, make_player
from ptgm.envs.crafter.env import DARK
from ptgm.envs.crafter.player import World, walled_in
from ptgm.goals.embedders import make_embedder
from ptgm.models.encoders import make_obs_encoder
from ptgm.pretrain.episodes import Episodes, action_weights, load_episodes

VARIANTS = ("none", "actions", "obs", "balanced", "recurrent", "dagger")


def memory_inputs(episodes: Episodes, n_actions: int, prev_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """Per recorded step: its previous `prev_actions` actions, newest first (`n_actions` = none yet, at the
    start of an episode), and the row of its previous observation (its own at the start)."""
    actions = np.full((episodes.n_steps, prev_actions), n_actions, np.int64)
    previous_obs = np.zeros(episodes.n_steps, np.int64)
    step = 0
    for start, length in zip(episodes.obs_start, episodes.lengths):
        recorded = episodes.actions[step : step + length]
        for k in range(1, min(prev_actions, length - 1) + 1):
            actions[step + k : step + length, k - 1] = recorded[: length - k]
        previous_obs[step : step + length] = start + np.maximum(np.arange(length) - 1, 0)
        step += length
    return actions, previous_obs


class MemoryClone(nn.Module):
    """Observation features (+ embedded previous actions or + previous observation's features) -> MLP -> actions,
    the shape of ptgm's low-level policy with its goal input replaced by the memory input."""

    def __init__(self, world: WorldSpec, variant: str, prev_actions: int, hidden: int = 256):
        super().__init__()
        self.world = world
        self.variant = variant
        self.prev_actions = prev_actions
        self.encoder = make_obs_encoder("symbolic", world, hidden)
        if variant == "actions":
            self.action_ids = nn.Embedding(world.n_actions + 1, 32)
            self.memory = nn.Linear(32 * prev_actions, hidden)
        elif variant == "obs":
            self.memory = make_obs_encoder("symbolic", world, hidden)
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, world.n_actions)
        self.register_buffer("action_weights", torch.ones(world.n_actions))

    def forward(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_obs: torch.Tensor) -> torch.Tensor:
        features = self.encoder(obs)
        if self.variant == "actions":
            features = features + self.memory(self.action_ids(prev_actions).flatten(1))
        elif self.variant == "obs":
            features = features + self.memory(prev_obs)
        return self.head(self.trunk(features))

    def loss(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_obs: torch.Tensor,
             target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(obs, prev_actions, prev_obs), target, weight=self.action_weights)

    def step(self, obs: torch.Tensor, recent: torch.Tensor, previous: torch.Tensor,
             hidden: None) -> tuple[torch.Tensor, None]:
        """One step of play for a batch of envs; `hidden` is the recurrent variant's state (none here)."""
        return self(obs, recent, previous), None


class RecurrentClone(nn.Module):
    """Observation features + a GRU's summary of the episode so far -> MLP -> actions."""

    variant = "recurrent"
    prev_actions = 1  # reads no previous actions; sized for the shared inputs of `accuracy` and `survive`

    def __init__(self, world: WorldSpec, hidden: int = 256):
        super().__init__()
        self.world = world
        self.encoder = make_obs_encoder("symbolic", world, hidden)
        self.memory = nn.GRU(hidden, hidden, batch_first=True)
        self.trunk = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, world.n_actions)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, ...) observations in order -> (B, T, n_actions) logits and the GRU state after them."""
        features = self.encoder(obs.flatten(0, 1)).unflatten(0, obs.shape[:2])
        memory, hidden = self.memory(features, hidden)
        return self.head(self.trunk(features + memory)), hidden

    def loss(self, obs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(obs)[0].flatten(0, 1), target.flatten())

    def step(self, obs: torch.Tensor, recent: torch.Tensor, previous: torch.Tensor,
             hidden: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = self(obs[:, None], hidden)
        return logits[:, 0], hidden


Clone = MemoryClone | RecurrentClone


def window_starts(episodes: Episodes, chunk: int) -> np.ndarray:
    """The recorded steps from which `chunk` consecutive steps stay inside one episode."""
    ends = np.cumsum(episodes.lengths)
    starts = [np.arange(end - length, end - chunk + 1) for end, length in zip(ends, episodes.lengths)]
    starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    if not len(starts):
        raise ValueError(f"no episode has {chunk} steps; lower --chunk")
    return starts


def windows(episodes: Episodes, starts: np.ndarray, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations and target actions of the windows; the player's random actions are no target (-100)."""
    steps = starts[:, None] + np.arange(chunk)
    targets = np.where(episodes.noise[steps], -100, episodes.actions[steps])
    return torch.from_numpy(episodes.obs[episodes.step_obs[steps]]), torch.from_numpy(targets)


def batch(episodes: Episodes, memory: tuple[np.ndarray, np.ndarray], steps: np.ndarray):
    actions, previous_obs = memory
    return (torch.from_numpy(episodes.obs[episodes.step_obs[steps]]), torch.from_numpy(actions[steps]),
            torch.from_numpy(episodes.obs[previous_obs[steps]]), torch.from_numpy(episodes.actions[steps]))


def fit(net: Clone, draw, updates: int, rng: np.random.Generator, lr: float = 3e-4) -> Clone:
    """`updates` Adam steps of the clone's cross-entropy on the batches `draw(rng)` gives."""
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(updates):
        loss = net.loss(*draw(rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def train(world: WorldSpec, variant: str, prev_actions: int, train_eps: Episodes, updates: int, seed: int,
          batch_size: int = 256, chunk: int = 64, chunks: int = 8) -> Clone:
    """A clone after `updates` updates of `batch_size` random steps (`recurrent`: `chunks` windows of `chunk`)."""
    torch.manual_seed(seed)
    if variant == "recurrent":
        starts = window_starts(train_eps, chunk)
        return fit(RecurrentClone(world), lambda rng: windows(train_eps, rng.choice(starts, chunks), chunk), updates,
                   np.random.default_rng(seed))
    net = MemoryClone(world, variant, prev_actions)
    if variant == "balanced":
        counts = np.bincount(train_eps.actions[train_eps.chosen], minlength=world.n_actions)
        net.action_weights = torch.from_numpy(action_weights(counts, 0.5))
    memory = memory_inputs(train_eps, world.n_actions, prev_actions)
    chosen = train_eps.chosen  # as ptgm's low-level objective: the player's random actions are not imitated
    return fit(net, lambda rng: batch(train_eps, memory, chosen[rng.integers(0, len(chosen), batch_size)]), updates,
               np.random.default_rng(seed))


@torch.no_grad()
def label_visits(net: MemoryClone, worlds: list[int], seed: int, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The observations the clone (no memory) visits in `worlds`, and the action the scripted player, run
    alongside on the same game and never acting, would take in each."""
    envs = [make_env(net.world.name, obs_mode="symbolic", max_steps=max_steps) for _ in worlds]
    started = [env.reset(seed=w) for env, w in zip(envs, worlds)]
    obs = np.stack([o for o, _ in started])
    infos = [info for _, info in started]
    players = [make_player("scripted", seed * 7_919 + w, net.world.name, random_action_prob=0.0) for w in worlds]
    for player, env in zip(players, envs):
        player.reset(env.unwrapped)
    gen = torch.Generator().manual_seed(seed)
    seen, labels = [], []
    alive = np.ones(len(envs), bool)
    none = torch.zeros(len(envs), 1, dtype=torch.long)
    while alive.any():
        x = torch.from_numpy(obs)
        actions = torch.multinomial(torch.softmax(net(x, none, x), dim=1), 1, generator=gen).squeeze(1).numpy()
        for i in np.flatnonzero(alive):
            seen.append(obs[i].copy())
            labels.append(players[i].act(obs[i], infos[i]))
            obs[i], _, terminated, truncated, infos[i] = envs[i].step(int(actions[i]))
            alive[i] = not (terminated or truncated)
    return np.stack(seen), np.asarray(labels, np.int64)


def dagger(net: MemoryClone, train_eps: Episodes, rounds: int, n_worlds: int, updates: int, seed: int,
           max_steps: int, batch_size: int = 256,
           after_round: Callable[[int, MemoryClone], None] | None = None) -> MemoryClone:
    """Fine-tune a clone without memory on the player's labels of the states it visits, `rounds` times
    (`after_round(round, net)` after each, from 1)."""
    seen, labels = np.zeros((0, *train_eps.obs.shape[1:]), np.uint8), np.zeros(0, np.int64)
    half = batch_size // 2
    none = torch.zeros(batch_size, 1, dtype=torch.long)

    def draw(rng: np.random.Generator):
        recorded = train_eps.chosen[rng.integers(0, len(train_eps.chosen), half)]
        visited = rng.integers(0, len(labels), batch_size - half)
        obs = torch.from_numpy(np.concatenate([train_eps.obs[train_eps.step_obs[recorded]], seen[visited]]))
        target = torch.from_numpy(np.concatenate([train_eps.actions[recorded], labels[visited]]))
        return obs, none, obs, target

    for r in range(rounds):
        worlds = [seed * 100_000 + 50_000 + 1_000 * r + i for i in range(n_worlds)]
        new_seen, new_labels = label_visits(net, worlds, seed, max_steps)
        seen, labels = np.concatenate([seen, new_seen]), np.concatenate([labels, new_labels])
        net = fit(net, draw, updates, np.random.default_rng([seed, r]))
        if after_round is not None:
            after_round(r + 1, net)
    return net


@torch.no_grad()
def accuracy(net: Clone, val: Episodes) -> tuple[float, float]:
    """Validation action accuracy over the steps the player chose, all and in the dark (nan if none are);
    the recurrent clone reads each episode from its first step, as when it plays."""
    memory = memory_inputs(val, net.world.n_actions, net.prev_actions)
    obs, acts, prev, target = batch(val, memory, np.arange(val.n_steps))
    if isinstance(net, RecurrentClone):
        bounds = np.concatenate([[0], np.cumsum(val.lengths)])
        logits = torch.cat([net(obs[a:b][None])[0][0] for a, b in zip(bounds[:-1], bounds[1:])])
    else:
        logits = net(obs, acts, prev)
    chosen = torch.from_numpy(val.chosen)
    correct = (logits.argmax(1) == target).float()[chosen]
    layout = net.world.symbolic_layout
    _, _, extras = layout.split(obs.numpy())
    dark = torch.from_numpy(extras[:, layout.extras.index("daylight")] / 255.0 < DARK)[chosen]
    return float(correct.mean()), float(correct[dark].mean()) if dark.any() else float("nan")


@torch.no_grad()
def survive(net: Clone, worlds: list[int], seed: int, max_steps: int | None = None) -> list[dict]:
    """One episode of plain Crafter per world, the clone sampling its actions; all envs stepped together.
    Each ends with its length, whether the clone ever stood walled in (`walled_in` of the scripted player,
    whose nights are spent so), whether it made a wood pickaxe (the first tool, which walls need), and
    `CrafterEnv.ending`."""
    envs = [make_env(net.world.name, obs_mode="symbolic", max_steps=max_steps) for _ in worlds]
    obs = np.stack([env.reset(seed=w)[0] for env, w in zip(envs, worlds)])
    games = [World(env.unwrapped.crafter) for env in envs]
    walled = np.zeros(len(envs), bool)
    recent = np.full((len(envs), net.prev_actions), net.world.n_actions, np.int64)
    previous = obs.copy()
    gen = torch.Generator().manual_seed(seed)
    results: list[dict | None] = [None] * len(envs)
    hidden = None
    t = 0
    while any(r is None for r in results):
        logits, hidden = net.step(torch.from_numpy(obs), torch.from_numpy(recent), torch.from_numpy(previous), hidden)
        actions = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen).squeeze(1).numpy()
        previous = obs.copy()
        for i, env in enumerate(envs):
            if results[i] is not None:
                continue
            obs[i], _, terminated, truncated, _ = env.step(int(actions[i]))
            games[i].refresh()
            walled[i] |= walled_in(games[i])
            if terminated or truncated:
                made = games[i].player.achievements["make_wood_pickaxe"] > 0
                results[i] = {"length": t + 1, "walled_in": bool(walled[i]), "wood_pickaxe": made,
                              **env.unwrapped.ending(terminated)}
        recent = np.concatenate([actions[:, None], recent[:, :-1]], axis=1)
        t += 1
    return results  # type: ignore[return-value]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a split dataset of the scripted player (`ptgm collect` + split)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--prev-actions", type=int, default=4, help="previous actions the `actions` variant reads")
    p.add_argument("--chunk", type=int, default=64, help="consecutive steps per training window (`recurrent`)")
    p.add_argument("--chunks", type=int, default=8, help="windows per update (`recurrent`; others: 256 steps)")
    p.add_argument("--updates", type=int, default=4000, help="training updates of 256 steps per variant")
    p.add_argument("--train-episodes", type=int, default=400, help="training episodes used (the first N of the split)")
    p.add_argument("--val-episodes", type=int, default=60, help="validation episodes used (the first N)")
    p.add_argument("--episodes", type=int, default=30, help="closed-loop episodes per variant (the same worlds)")
    p.add_argument("--max-steps", type=int, default=None, help="episode limit (default: Crafter's 10,000)")
    p.add_argument("--dagger-rounds", type=int, default=3, help="rounds of labelling and fine-tuning (`dagger`)")
    p.add_argument("--dagger-worlds", type=int, default=40, help="fresh worlds the clone plays per DAgger round")
    p.add_argument("--dagger-updates", type=int, default=1500, help="fine-tuning updates per DAgger round")
    p.add_argument("--dagger-max-steps", type=int, default=1500, help="episode limit while labelling")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the batches, the worlds and the sampling")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if not Path(args.data).is_dir():
        p.error(f"{args.data} not found: --data must be a dataset folder")
    torch.set_num_threads(args.threads)
    store = EpisodeStore(args.data)
    world = get_world(store.world)
    embedder = make_embedder("state", world, None)  # load_episodes embeds goals; the clones do not read them
    train_eps = load_episodes(store, store.split_ids("train")[: args.train_episodes], "symbolic", embedder)
    val = load_episodes(store, store.split_ids("val")[: args.val_episodes], "symbolic", embedder)
    worlds = [args.seed * 100_000 + i for i in range(args.episodes)]
    print(f"{train_eps.n_steps:,} training steps, {args.updates} updates of 256 steps per variant (recurrent: "
          f"{args.chunks} windows of {args.chunk}); {val.n_steps:,} "
          f"validation steps; {args.episodes} fresh worlds of plain Crafter")
    print(f"{'variant':<8} {'val acc':>7} {'in the dark':>11} {'median length':>13} {'mean':>5} "
          f"{'ended in the dark':>17} {'ever walled in':>14} {'wood pickaxe':>12} {'s':>5}  causes")

    def row(name: str, net: Clone, start: float) -> None:
        acc, acc_dark = accuracy(net, val)
        results = survive(net, worlds, args.seed, args.max_steps)
        lengths = np.array([r["length"] for r in results])
        causes = Counter(r["cause"] for r in results)
        print(f"{name:<8} {acc:>7.3f} {acc_dark:>11.3f} {np.median(lengths):>13.0f} {lengths.mean():>5.0f} "
              f"{np.mean([r['dark'] for r in results]):>17.0%} {np.mean([r['walled_in'] for r in results]):>14.0%} "
              f"{np.mean([r['wood_pickaxe'] for r in results]):>12.0%} "
              f"{time.perf_counter() - start:>5.0f}  "
              + ", ".join(f"{k} {v}" for k, v in causes.most_common()), flush=True)

    for variant in args.variants:
        start = time.perf_counter()
        net = train(world, "none" if variant == "dagger" else variant, args.prev_actions, train_eps, args.updates,
                    args.seed, chunk=args.chunk, chunks=args.chunks)
        if variant == "dagger":  # one row per round; the clone before round 1 is the `none` row
            dagger(net, train_eps, args.dagger_rounds, args.dagger_worlds, args.dagger_updates, args.seed,
                   args.dagger_max_steps, after_round=lambda r, tuned: row(f"dagger {r}", tuned, start))
        else:
            row(variant, net, start)


if __name__ == "__main__":
    main()
