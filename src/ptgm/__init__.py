"""ptgm: Pre-Training Goal-based Models for sample-efficient RL (Yuan et al., ICLR 2024), on Crafter."""

from ptgm.version import __version__

# The Python API (`ptgm.api`), imported on first use: `import ptgm` stays light for the CLI and env workers.
_API = ("AgentError", "FlatPPO", "LowLevel", "PTGM", "PTGMState", "Pretraining", "Prior")


def __getattr__(name: str):
    if name in _API:
        from ptgm import api

        return getattr(api, name)
    raise AttributeError(f"module 'ptgm' has no attribute {name!r}")


__all__ = ["__version__", *_API]
