"""Hindsight relabelling: which future observation is each step's goal.

Along an episode of T actions (observations 0..T), goal steps are drawn at random gaps in
[min_btwn_goals, max_btwn_goals): g1 = gap1, g2 = g1 + gap2, ... while g <= T. Step t is labelled
with the first goal step after it, g_k > t >= g_{k-1}; its goal is the embedding of observation g_k.
The steps after the last goal step have no drawn goal ahead of them: they take the episode's final
observation T as their goal (it is still a state the recorded actions led to, just fewer than
`min_btwn_goals` steps away), so no recorded action is thrown away. Fresh gaps are drawn every epoch.
"""

from __future__ import annotations

import numpy as np


def check_gaps(min_btwn_goals: int, max_btwn_goals: int) -> None:
    if min_btwn_goals < 1 or max_btwn_goals <= min_btwn_goals:
        raise ValueError(f"need 1 <= min_btwn_goals < max_btwn_goals, got min_btwn_goals={min_btwn_goals}, "
                         f"max_btwn_goals={max_btwn_goals}")


def goal_steps(length: int, min_btwn_goals: int, max_btwn_goals: int, rng: np.random.Generator) -> np.ndarray:
    """Goal observation indices along an episode of `length` actions, at random gaps in [min, max)."""
    check_gaps(min_btwn_goals, max_btwn_goals)
    # Enough gaps to pass the end even if every one is the shortest.
    gaps = rng.integers(min_btwn_goals, max_btwn_goals, size=length // min_btwn_goals + 1)
    steps = np.cumsum(gaps)
    return steps[steps <= length]


def relabel(length: int, min_btwn_goals: int, max_btwn_goals: int, rng: np.random.Generator) -> np.ndarray:
    """(length,) index of the goal observation of every step t = 0..length-1 (always > t)."""
    goals = goal_steps(length, min_btwn_goals, max_btwn_goals, rng)
    goals = np.append(goals, length) if len(goals) == 0 or goals[-1] != length else goals
    return goals[np.searchsorted(goals, np.arange(length), side="right")]
