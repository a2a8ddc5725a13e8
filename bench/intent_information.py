"""How much of the scripted player's intent does a hindsight goal carry?

A goal-conditioned policy learns to follow goals only as far as the goal tells it something about the
player's next action that the observation does not. This plays the scripted player (never told a task)
with its current objective recorded at every step, then fits one probe network (the library's symbolic
observation encoder, a condition vector concatenated to its features, an MLP head) to predict the
player's chosen actions from:

- the observation alone;
- the observation and the player's objective, the intent it really had (an upper reference);
- the observation and the hindsight goal, absolute e(s_g) and relative e(s_g) - e(s), with goal steps
  drawn at gaps in [--min-btwn-goals, --max-btwn-goals) exactly as `ptgm train-low` draws them;
- with --codebook: the observation and the nearest code of that goal (what the high level commands).

It prints validation accuracy (episodes held out), split by whether the player was heading for a
target it had seen or exploring for one. If the objective adds little over the observation, no goal
can teach goal-following; if the goal adds nearly as much as the objective, the goal is not the gap.

    python bench/intent_information.py --frames 40000 --codebook runs/default/codebook
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ptgm.data.collect import episode_seeds
from ptgm.envs import get_world, make_env, make_player
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import StateEmbedder
from ptgm.models.encoders import make_obs_encoder
from ptgm.pretrain.episodes import Episodes


@dataclass
class Play:
    episodes: Episodes  # the played steps, the player's random ones marked as noise
    objectives: np.ndarray  # (N,) index into `names` of the objective that chose each action
    names: list[str]
    exploring: np.ndarray  # (N,) bool: the player was exploring for a target, not heading for a seen one


def play(frames: int, seed: int, random_action_prob: float, embedder: StateEmbedder) -> Play:
    """Scripted play for `frames` steps, recording which objective chose each action."""
    env = make_env("crafter", obs_mode="symbolic")
    obs_rows, acts, noise, objs, exploring, starts, lengths = [], [], [], [], [], [], []
    names: dict[str, int] = {}
    index = 0
    while len(acts) < frames:
        world_seed, player_seed = episode_seeds(seed, index)
        player = make_player("scripted", player_seed, "crafter", random_action_prob)
        obs, info = env.reset(seed=world_seed)
        player.reset(env.unwrapped)
        starts.append(len(obs_rows))
        obs_rows.append(info["symbolic"])
        done, length = False, 0
        while not done and len(acts) < frames:
            action = player.act(obs, info)
            objective = player.objective
            name = "sleeping" if player.w.player.sleeping else getattr(objective, "name", "none")
            exploring.append(name == "explore" or getattr(objective, "explorer", None) is not None)
            noise.append(player.last_noise)
            objs.append(names.setdefault(name, len(names)))
            acts.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            obs_rows.append(info["symbolic"])
            done, length = terminated or truncated, length + 1
        lengths.append(length)
        index += 1
    all_obs = np.asarray(obs_rows, np.uint8)
    step_obs = np.concatenate([s + np.arange(n) for s, n in zip(starts, lengths)])
    episodes = Episodes([str(i) for i in range(index)], all_obs, embedder.embed(all_obs), np.asarray(acts, np.int64),
                        step_obs, np.asarray(starts, np.int64), np.asarray(lengths, np.int64), np.asarray(noise, bool))
    return Play(episodes, np.asarray(objs, np.int64), sorted(names, key=names.get), np.asarray(exploring, bool))


class Probe(nn.Module):
    def __init__(self, cond_dim: int, n_actions: int, hidden: int = 256):
        super().__init__()
        self.encoder = make_obs_encoder("symbolic", get_world("crafter"), hidden)
        self.head = nn.Sequential(nn.Linear(hidden + cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.encoder(obs), cond], dim=1))


def probe_accuracy(obs: np.ndarray, cond: np.ndarray, actions: np.ndarray, train: np.ndarray, val: np.ndarray,
                   epochs: int, seed: int, batch: int = 256) -> np.ndarray:
    """Fit the probe on rows `train`; (len(val),) bool: whether its most likely action is the recorded one."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Probe(cond.shape[1], get_world("crafter").n_actions)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    obs_t, cond_t, act_t = torch.as_tensor(obs), torch.as_tensor(cond, dtype=torch.float32), torch.as_tensor(actions)
    for _ in range(epochs):
        order = rng.permutation(train)
        for i in range(0, len(order), batch):
            rows = torch.as_tensor(order[i : i + batch])
            loss = nn.functional.cross_entropy(net(obs_t[rows], cond_t[rows]), act_t[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        rows = torch.as_tensor(val)
        return (net(obs_t[rows], cond_t[rows]).argmax(dim=1) == act_t[rows]).numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=40_000, help="scripted steps to play")
    p.add_argument("--codebook", default=None, help="a state-embedding codebook: also probe with nearest codes")
    p.add_argument("--min-btwn-goals", type=int, default=1)
    p.add_argument("--max-btwn-goals", type=int, default=10)
    p.add_argument("--random-action-prob", type=float, default=0.1, help="the player's random actions (not probed)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--val-fraction", type=float, default=0.25, help="share of episodes held out")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    world = get_world("crafter")
    embedder = StateEmbedder(world)
    codebook = Codebook.load(args.codebook, embedder=embedder.settings()) if args.codebook else None

    data = play(args.frames, args.seed, args.random_action_prob, embedder)
    eps = data.episodes
    goal_rows = eps.relabel(args.min_btwn_goals, args.max_btwn_goals, np.random.default_rng(args.seed))
    current, goal = eps.goals[eps.step_obs], eps.goals[goal_rows]
    n_episodes = len(eps.lengths)
    n_val = max(1, round(args.val_fraction * n_episodes))
    held_out = eps.step_obs >= eps.obs_start[n_episodes - n_val]  # the last n_val episodes
    chosen = np.zeros(eps.n_steps, bool)
    chosen[eps.chosen] = True
    train, val = np.flatnonzero(chosen & ~held_out), np.flatnonzero(chosen & held_out)
    if len(train) == 0 or len(val) == 0:
        raise SystemExit(f"{n_episodes} episodes are too few to hold some out; play more --frames")

    conditions = {
        "observation only": np.zeros((eps.n_steps, 0), np.float32),
        "+ objective (the player's intent)": np.eye(len(data.names), dtype=np.float32)[data.objectives],
        "+ hindsight goal, absolute": goal,
        "+ hindsight goal, relative": goal - current,
    }
    if codebook is not None:
        code = codebook.codes[codebook.nearest(goal)]
        conditions["+ its nearest code, absolute"] = code
        conditions["+ its nearest code, relative"] = code - current
    exploring = data.exploring[val]
    majority = np.bincount(eps.actions[train]).argmax()
    print(f"{eps.n_steps:,} steps in {n_episodes} episodes (seed {args.seed}); validation: "
          f"{len(val):,} chosen steps of the last {n_val} episodes, {np.mean(~exploring):.2f} heading for a seen target, {np.mean(exploring):.2f} exploring; "
          f"goal gaps [{args.min_btwn_goals}, {args.max_btwn_goals})")
    print(f"| condition | val accuracy | heading for a target | exploring |\n|---|---|---|---|")
    print(f"| majority action | {np.mean(eps.actions[val] == majority):.3f} | | |")
    for label, cond in conditions.items():
        correct = probe_accuracy(eps.obs[eps.step_obs], cond, eps.actions, train, val, args.epochs, args.seed)
        cells = [f"{correct[rows].mean():.3f}" if rows.any() else "-"
                 for rows in (np.ones_like(correct), ~exploring, exploring)]
        print(f"| {label} | {' | '.join(cells)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
