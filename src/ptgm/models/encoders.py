"""Observation encoders shared by every network (low-level policy, prior, high-level and flat PPO).

Each takes the raw observation tensor a world environment returns (uint8 grids and images, or the
float state vector of a world like Kitchen) and gives a feature vector of size `out_dim`, so the
heads on top never care which observation mode or world is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ptgm.envs import OBS_MODES, SymbolicLayout, WorldSpec


class SymbolicEncoder(nn.Module):
    """Local grid of ids -> learned id embeddings -> two 3x3 convs; inventory and extras -> MLP."""

    def __init__(self, layout: SymbolicLayout, item_max: int, out_dim: int = 256, id_dim: int = 16):
        super().__init__()
        self.layout = layout
        self.item_max = item_max
        self.ids = nn.Embedding(layout.n_ids, id_dim)
        self.conv = nn.Sequential(
            nn.Conv2d(id_dim, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        self._facing = "facing" in layout.extras
        n_scalar = layout.n_items + len(layout.extras) + (3 if self._facing else 0)  # facing as one-hot of 4
        self.out = nn.Sequential(nn.Linear(32 * layout.view_size + n_scalar, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        view = obs[:, : self.layout.view_size].long().view(-1, *self.layout.view_shape)
        grid = self.conv(self.ids(view).permute(0, 3, 1, 2))
        items = obs[:, self.layout.view_size : self.layout.view_size + self.layout.n_items].float() / self.item_max
        scalars = [items]
        for i, name in enumerate(self.layout.extras):
            value = obs[:, self.layout.view_size + self.layout.n_items + i]
            if name == "facing":
                scalars.append(nn.functional.one_hot(value.long(), 4).float())
            elif name == "daylight":
                scalars.append(value.float()[:, None] / 255.0)
            else:
                scalars.append(value.float()[:, None])
        return self.out(torch.cat([grid, *scalars], dim=1))


class PixelEncoder(nn.Module):
    """A small CNN for 64x64x3 uint8 images (channels last, as worlds return them)."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int = 256):
        super().__init__()
        h, w, c = shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, 4, stride=2), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.out = nn.Sequential(nn.Linear(n, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv(obs.permute(0, 3, 1, 2).float() / 255.0))


class VectorEncoder(nn.Module):
    """A float state vector -> standardised -> Linear, LayerNorm, ReLU -> Linear, ReLU.

    Kitchen's state mixes joint angles (radians), finger positions (centimetres) and velocities whose
    spreads differ by two orders of magnitude. The input is standardised by per-feature statistics
    (`fit`, from the training data; buffers, so they are saved with the weights and copied with the
    encoder) and the LayerNorm after the first layer keeps the features' scale steady for a network
    that never saw those statistics (a fresh PPO critic): identity statistics are then still usable."""

    MIN_SCALE = 1e-3  # floor on a feature's spread: constant features (a closed cabinet) stay near 0

    def __init__(self, in_dim: int, out_dim: int = 256):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(in_dim))
        self.register_buffer("input_scale", torch.ones(in_dim))
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.ReLU(),
                                 nn.Linear(out_dim, out_dim), nn.ReLU())
        self.out_dim = out_dim

    @torch.no_grad()
    def fit(self, obs) -> None:
        """Standardise inputs by these observations' (N, in_dim) per-feature mean and spread."""
        obs = torch.as_tensor(obs, dtype=torch.float32)
        self.input_mean.copy_(obs.mean(dim=0))
        self.input_scale.copy_(obs.std(dim=0).clamp_min(self.MIN_SCALE))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net((obs.float() - self.input_mean) / self.input_scale)


def fit_obs_encoder(module: nn.Module, sample_obs: Callable[[], np.ndarray]) -> None:
    """Fit the input statistics of every `VectorEncoder` in `module` to the observations `sample_obs()` returns;
    it is only called when there is one (grid and image encoders need none)."""
    parts = [part for part in module.modules() if isinstance(part, VectorEncoder)]
    if parts:
        obs = sample_obs()
        for part in parts:
            part.fit(obs)


def make_obs_encoder(obs_mode: str, world: WorldSpec, out_dim: int = 256) -> nn.Module:
    if obs_mode == "symbolic" and world.state_vector:
        return VectorEncoder(world.symbolic_layout.size, out_dim)
    if obs_mode == "symbolic":
        return SymbolicEncoder(world.symbolic_layout, world.item_max, out_dim)
    if obs_mode == "pixels":
        return PixelEncoder(world.pixel_shape, out_dim)
    raise ValueError(f"unknown obs_mode {obs_mode!r}; valid: {', '.join(OBS_MODES)}")
