"""How well the pre-trained skills play a whole game, next to the player they were learnt from.

Three agents play the same fresh worlds of the plain game (no task, the world's own step limit):

- `demonstrator`: the task-agnostic player the dataset was recorded with, with its recorded settings;
- `clone`: the low-level policy with the null goal, i.e. behaviour cloning of that player;
- `zero_shot`: zero-shot PTGM, a code drawn from the goal prior every `low_level_steps` steps and pursued
  by the low-level policy (where a high-level policy initialised from the prior starts).

Per episode it records what was unlocked, the length of the life and what ended it (`ending`, see
`ptgm.envs.base`), so that the summary gives the median life, the rate of each achievement and what the world's
`WorldSpec.summary` asks for: the Crafter score, or the mean number unlocked per episode; and the share of episodes
that complete the world's `benchmark` achievements, if it names some. In a world with nights (`day_length`), the
share of lives ending in the dark, and the first night, where Crafter's clones die, followed step by step: whether
the life outlasts the first day, how much stone the player holds when darkness falls, and the share of the
first night's dark steps it spends asleep and walled in (the demonstrator's way through it). Offline validation
accuracy hides what matters here: a clone that predicts most recorded actions can still die in its first night,
because its own states are not the recorded ones.
All environments of an agent step together, one forward pass a step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptgm.data.store import EpisodeStore
from ptgm.envs import WorldSpec, env_obs_mode, make_env, make_player, score_from_rates
from ptgm.goals.codebook import Codebook
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior

AGENTS = ("demonstrator", "clone", "zero_shot")


@dataclass
class Skills:
    """What the agents are made of: the dataset (for its player), the codebook, the low-level policy and the prior."""

    store: EpisodeStore
    codebook: Codebook
    low: LowLevelPolicy
    prior: GoalPrior
    encoder: Path | None = None  # the goal encoder's folder, for a 'learned' embedding

    @classmethod
    def load(cls, data: str | Path, codebook: str | Path, low: str | Path, prior: str | Path,
             encoder: str | Path | None = None) -> "Skills":
        book = Codebook.load(codebook)
        return cls(EpisodeStore(data), book, LowLevelPolicy.load(low, book.embedder), GoalPrior.load(prior, book),
                   None if encoder is None else Path(encoder))

    def demonstrator_settings(self) -> dict[str, Any]:
        """The recorded player and its settings, as `make_player` takes them."""
        key = self.store.manifest.get("producer_key", {})
        settings = {"name": key.get("player", "random"), "random_action_prob": key.get("random_action_prob", 0.1),
                    "target_spread": key.get("target_spread", 0.0)}
        for optional in ("perception", "choices"):
            if optional in key:
                settings[optional] = key[optional]
        return settings


def play(agent: str, pre: Skills, worlds: list[int], seed: int, low_level_steps: int = 10,
         max_steps: int | None = None) -> list[dict[str, Any]]:
    """One life per world seed; returns per life its `length`, its `ending` (`cause`, and `dark` in a world with
    nights), `unlocked` (bool per achievement) and, in a world with nights, `first_night`: `dark_steps` and
    `sheltered_steps` (asleep and walled in) of the first day, `stone_at_dusk` (None if the life never saw the
    dark) and `survived` (lived past the first day)."""
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; valid: {', '.join(AGENTS)}")
    world = pre.low.world
    embedder = pre.codebook.load_embedder(world, pre.encoder) if pre.low.needs_current else None
    readers = [pre.low.obs_mode, pre.prior.obs_mode] + ([embedder.needs] if embedder else [])
    mode = env_obs_mode(readers)
    envs = [make_env(world.name, obs_mode=mode, max_steps=max_steps) for _ in worlds]
    started = [env.reset(seed=w) for env, w in zip(envs, worlds)]
    obs = np.stack([o for o, _ in started])
    infos = [info for _, info in started]
    gen = torch.Generator().manual_seed(seed)
    if agent == "demonstrator":
        settings = pre.demonstrator_settings()
        name = settings.pop("name")
        players = [make_player(name, seed * 7_919 + i, world.name, **settings) for i in range(len(envs))]
        for player, env in zip(players, envs):
            player.reset(env.unwrapped)
    goals = torch.zeros(len(envs), pre.low.goal_dim)

    def network_input(reader: str, batch_obs: np.ndarray, batch_infos: list[dict]) -> torch.Tensor:
        if reader == mode:
            return torch.from_numpy(batch_obs)
        return torch.from_numpy(np.stack([info["symbolic"] for info in batch_infos]))

    results: list[dict[str, Any] | None] = [None] * len(envs)
    nights: list[dict[str, Any]] = [{"dark_steps": 0, "sheltered_steps": 0, "stone_at_dusk": None, "survived": False}
                                    for _ in envs]
    t = 0
    while any(r is None for r in results):
        alive = np.flatnonzero([r is None for r in results])
        if agent == "demonstrator":
            actions = {i: players[i].act(obs[i], infos[i]) for i in alive}
        else:
            live_infos = [infos[i] for i in alive]
            x = network_input(pre.low.obs_mode, obs[alive], live_infos)
            with torch.no_grad():
                if agent == "zero_shot" and t % low_level_steps == 0:
                    logits = pre.prior(network_input(pre.prior.obs_mode, obs[alive], live_infos))
                    codes = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen).squeeze(1)
                    goals[alive] = torch.from_numpy(pre.codebook.codes[codes.numpy()]).float()
                current = None
                if embedder is not None:
                    seen = obs[alive] if embedder.needs == mode else np.stack([i["symbolic"] for i in live_infos])
                    current = torch.from_numpy(embedder.embed(seen))
                chosen = pre.low.act(x, goals[alive], generator=gen, unconditional=agent == "clone", current=current)
            actions = dict(zip(alive.tolist(), chosen.numpy()))
        for i, a in actions.items():
            obs[i], _, terminated, truncated, infos[i] = envs[i].step(a if world.continuous else int(a))
            night = nights[i]
            if t < world.day_length:
                state = envs[i].unwrapped.night_state()
                if state["dark"]:
                    if night["stone_at_dusk"] is None:
                        night["stone_at_dusk"] = state["stone"]
                    night["dark_steps"] += 1
                    night["sheltered_steps"] += state["asleep"] and state["walled_in"]
            if t + 1 == world.day_length and not terminated:
                night["survived"] = True
            if terminated or truncated:
                results[i] = {"length": t + 1, **envs[i].unwrapped.ending(terminated),
                              "unlocked": infos[i]["unlocked"].copy()}
                if world.day_length:
                    results[i]["first_night"] = night
        t += 1
    return results  # type: ignore[return-value]


def summarise(lives: list[dict[str, Any]], world: WorldSpec) -> dict[str, Any]:
    """The world's summary (`score`: Crafter score in percent, or `unlocked`: the mean number per life), the share
    of lives completing its `benchmark` (if it has one), median life, what ended the lives (most common first),
    each achievement's rate and, in a world with nights, the share of lives ending in the dark and the first
    night's measures (`first_night`, `stone_at_dusk`, `sheltered`: see `play`)."""
    unlocked = np.stack([life["unlocked"] for life in lives])
    rates = unlocked.mean(axis=0)
    lengths = np.array([life["length"] for life in lives])
    causes = Counter(life["cause"] for life in lives)
    if world.summary == "score":
        row: dict[str, Any] = {"score": score_from_rates(100.0 * rates)}
    else:
        row = {"unlocked": float(unlocked.sum(axis=1).mean())}
    if world.benchmark:
        columns = [world.achievements.index(name) for name in world.benchmark]
        row["benchmark"] = float(unlocked[:, columns].all(axis=1).mean())
    row |= {"median_life": float(np.median(lengths)), "lives": len(lives)}
    if world.day_length:
        nights = [life["first_night"] for life in lives]
        dusk = [n for n in nights if n["stone_at_dusk"] is not None]
        row |= {"dark_share": float(np.mean([life["dark"] for life in lives])),
                # the first night: share of lives that outlast it; of those that saw it fall, the share holding two
                # stone or more at dusk, and the mean share of its dark steps spent asleep and walled in
                "first_night": float(np.mean([n["survived"] for n in nights])),
                "stone_at_dusk": float(np.mean([n["stone_at_dusk"] >= 2 for n in dusk])) if dusk else float("nan"),
                "sheltered": float(np.mean([n["sheltered_steps"] / n["dark_steps"] for n in dusk])) if dusk
                else float("nan")}
    return row | {"causes": dict(causes.most_common()),
                  "rates": {name: float(r) for name, r in zip(world.achievements, rates)}}


def skill_table(pre: Skills, episodes: int, seed: int, agents: tuple[str, ...] = AGENTS,
                low_level_steps: int = 10, max_steps: int | None = None) -> dict[str, dict[str, Any]]:
    """`summarise` of each agent over the same `episodes` fresh worlds (world seeds drawn from `seed`)."""
    worlds = [int(w) for w in np.random.default_rng([seed, 31]).integers(0, 2**31 - 1, episodes)]
    world = pre.low.world
    return {agent: summarise(play(agent, pre, worlds, seed, low_level_steps, max_steps), world)
            for agent in agents}
