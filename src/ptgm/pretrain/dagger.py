"""The clone as a driver of data collection: on-policy demonstrations for the next clone.

A clone trained on demonstrations drifts into states the demonstrations never show, and there it has
learnt nothing (its agreement with the player on its own states is far below its validation accuracy).
DAgger (Ross et al., 2011) answers with the player's choices on the clone's own states. `ptgm collect
--player scripted --driver RUN/low` records them by expert takeover (HG-DAgger, Kelly et al., 2019): the
clone and the scripted player take turns, the clone's steps are marked as not the player's choices, and
the player's steps after each turn of the clone are demonstrations of recovering from where the clone
went. Pre-training on that dataset trains the next clone; the player is never told a task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ptgm.models.low_level import LowLevelPolicy


class CloneDriver:
    """The low-level policy with the null goal, sampling its actions (what `ptgm.evaluate.skills` calls the clone)."""

    def __init__(self, folder: str, seed: int):
        torch.set_num_threads(1)  # one per collection worker
        self.policy = LowLevelPolicy.load(folder)
        self.goal = torch.zeros(1, self.policy.goal_dim)
        self.generator = torch.Generator().manual_seed(int(seed))

    def act(self, obs: Any, info: dict) -> int:
        view = info["symbolic"] if self.policy.obs_mode == "symbolic" else obs
        view = torch.from_numpy(np.asarray(view)[None])
        if self.policy.obs_mode == "pixels" and view.dim() != 4:
            raise ValueError("the driver reads pixels: collect with --pixels")
        return int(self.policy.act(view, self.goal, generator=self.generator, unconditional=True)[0])


def clone_driver(folder: str, seed: int) -> CloneDriver:
    """`ptgm.data.collect.MakeDriver` for a low-level policy folder."""
    return CloneDriver(folder, seed)
