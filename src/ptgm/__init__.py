"""ptgm: Pre-Training Goal-based Models for sample-efficient RL (Yuan et al., ICLR 2024), on Crafter."""

__version__ = "0.1.0"
