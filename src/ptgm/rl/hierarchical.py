"""The hierarchical environment: the high-level policy picks a code, the frozen low-level policy acts.

One high-level step of `HierarchicalVecEnv` takes one action per env, a code index (discrete, the
paper's method) or a goal vector (`continuous`, the paper's ablation), and then, for up to
`low_level_steps` env steps, runs the low-level policy towards that goal (its actions are the world's:
ids, or continuous vectors in Kitchen): one batched forward pass
(with classifier-free guidance at `cond_scale`) over all envs still running per env step. An env
whose episode ends mid-way is paused there while the others go on, and its transition ends there.
The returned `Transition` holds, per env, the sum of the task rewards and the number of env steps
taken, which is what budgets, discounting (gamma ** env_steps) and learning curves count.

The prior's KL term depends on the high-level policy's own distribution, so the RL trainer adds it
(`ptgm.rl.rewards`); the env stays a fixed Markov process over codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ptgm.envs import WorldSpec
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import GoalEmbedder
from ptgm.envs.vector import Obs, TaskVecEnv, Transition, pause_actions


class LowLevelActor(Protocol):
    """What the hierarchical env needs of a low-level policy (`ptgm.models.low_level.LowLevelPolicy`)."""

    obs_mode: str
    goal_dim: int
    needs_current: bool  # act() needs `current`, the goal embedding of each observation

    def act(self, obs: Tensor, goal: Tensor, cond_scale: float = 0.0, deterministic: bool = False,
            generator: torch.Generator | None = None, unconditional: bool = False,
            current: Tensor | None = None) -> Tensor: ...


def present_embedder(low: LowLevelActor, codebook: Codebook, world: WorldSpec,
                     encoder: str | Path | None = None) -> GoalEmbedder | None:
    """The goal embedder the env needs for `low` (None unless it reads goals relative to the present),
    checked against the codebook; `encoder`: the directory of a 'learned' embedder."""
    if not low.needs_current:
        return None
    return codebook.load_embedder(world, encoder)


def low_level_actions(low: LowLevelActor, embedder: GoalEmbedder | None, views: Mapping[str, np.ndarray], goals: Tensor,
                      cond_scale: float, deterministic: bool, generator: torch.Generator | None) -> Tensor:
    """The low-level policy's actions towards `goals` for a batch of observations by mode; `embedder` (from
    `present_embedder`) embeds the present for a policy that reads goals relative to it."""
    current = None if embedder is None else torch.from_numpy(embedder.embed(views[embedder.needs]))
    return low.act(torch.from_numpy(views[low.obs_mode]), goals, cond_scale, deterministic, generator=generator,
                   current=current)


class GoalBox:
    """Continuous goals: the policy's action a in [-1, 1]^D (clipped) scaled to the box the codes span.

    The low-level policy only learnt goals that real observations embed to; the codebook's range
    per dimension is a cheap stand-in for that set, so a goal vector never leaves it."""

    def __init__(self, codes: np.ndarray):
        low, high = codes.min(axis=0), codes.max(axis=0)
        self.center = torch.as_tensor((low + high) / 2, dtype=torch.float32)
        self.half_width = torch.as_tensor((high - low) / 2, dtype=torch.float32)

    def __call__(self, actions: Tensor) -> Tensor:
        return self.center + self.half_width * actions.float().clamp(-1.0, 1.0)


class HierarchicalVecEnv(TaskVecEnv):
    """N task envs where one step is one high-level step: a code (or goal) per env, then the low-level policy."""

    def __init__(self, task: str, n_envs: int, low: LowLevelActor, codebook: Codebook, low_level_steps: int,
                 cond_scale: float, continuous: bool = False, obs_modes: Iterable[str] = ("symbolic",),
                 world: str = "crafter", tasks_file: str | Path | None = None, vector: str = "async", seed: int = 0,
                 low_deterministic: bool = False, embedder: GoalEmbedder | None = None, workers: int = 0):
        """`embedder`: the goal embedder, for a low-level policy that reads goals relative to the present;
        `workers`: as `TaskVecEnv`'s."""
        if low_level_steps < 1:
            raise ValueError(f"low_level_steps must be at least 1, got {low_level_steps}")
        if codebook.dim != low.goal_dim:
            raise ValueError(f"codebook goals have dimension {codebook.dim}, the low-level policy takes {low.goal_dim}")
        if low.needs_current and embedder is None:
            raise ValueError("the low-level policy reads goals relative to the present: pass the goal embedder")
        self.embedder = embedder if low.needs_current else None
        extra = {self.embedder.needs} if self.embedder is not None else set()
        super().__init__(task, n_envs, {low.obs_mode, *obs_modes, *extra}, world, tasks_file, vector, workers)
        self.low = low
        self.low_modes = {low.obs_mode} | extra  # what one low-level step reads
        self.codes = torch.as_tensor(codebook.codes, dtype=torch.float32)
        self.low_level_steps = low_level_steps
        self.cond_scale = cond_scale
        self.low_deterministic = low_deterministic
        self.continuous = continuous
        self.goal_box = GoalBox(codebook.codes) if continuous else None
        self.generator = torch.Generator().manual_seed(seed)  # the low-level policy's action sampling

    def reset(self, seed: int | None = None, seeds: Sequence[int] | None = None) -> Obs:
        """As `TaskVecEnv.reset`; a training `seed` also reseeds the low-level policy's action sampling, so a
        run (or a resumed one) is reproducible from the seed it resets with."""
        if seed is not None:
            self.generator.manual_seed(seed)
        return super().reset(seed=seed, seeds=seeds)

    @property
    def n_codes(self) -> int:
        return int(self.codes.shape[0])

    def goals(self, actions: np.ndarray | Tensor) -> Tensor:
        """The goal vector (N, D) each env's low-level policy pursues for a high-level action."""
        actions = torch.as_tensor(np.asarray(actions))
        if self.continuous:
            return self.goal_box(actions)
        if actions.dtype.is_floating_point or actions.min() < 0 or actions.max() >= self.n_codes:
            raise ValueError(f"high-level actions must be code indices in [0, {self.n_codes}), got {actions}")
        return self.codes[actions.long()]

    def step(self, actions: np.ndarray | Tensor) -> Transition:
        """One high-level step: up to `low_level_steps` env steps of the low-level policy per env."""
        goals = self.goals(actions)
        self._begin_transition()
        for _ in range(self.low_level_steps):
            running = self._running
            if not running.any():
                break
            views = {mode: self.obs[mode][running] for mode in self.low_modes}
            low_actions = pause_actions(self.world, self.n_envs)  # ids, or continuous actions in a continuous world
            low_actions[running] = low_level_actions(self.low, self.embedder, views, goals[running], self.cond_scale,
                                                     self.low_deterministic, self.generator).numpy()
            self._env_step(low_actions)
        return self._end_transition()
