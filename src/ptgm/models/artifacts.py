"""Saving and loading a trained network: `weights.safetensors` plus `config.json`.

The config names the format, what the network was built from, what produced it (provenance,
dataset id) and the checksum of the weights file, so a changed or truncated file is refused on
load instead of silently giving a different network. Nothing is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from ptgm.io import ArtifactError, atomic_write_bytes, load_json, require_keys, save_json, sha256_bytes

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
# What `store_half` adds to a config: how the file stores the weights, not the network (a re-save drops them).
STORAGE_KEYS = ("stored_dtype", "trained_weights_sha256")


class ModelError(ArtifactError):
    """A saved model is missing, corrupt, or was made for another world, embedder or codebook."""


def state_to_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return save_safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def save_model(out_dir: str | Path, module: nn.Module, config: dict[str, Any]) -> Path:
    """Write the weights, then the config that names their checksum (the config is the commit point)."""
    out = Path(out_dir)
    data = state_to_bytes(module.state_dict())
    atomic_write_bytes(out / WEIGHTS, data)
    config = {k: v for k, v in config.items() if k not in STORAGE_KEYS}
    save_json(out / CONFIG, {**config, "weights_sha256": sha256_bytes(data)})
    return out


# Sizes a network is built from: whole numbers >= 1 wherever a config holds them (torch's own error for a
# negative width is a RuntimeError deep inside a layer).
_SIZES = ("hidden", "dim", "goal_dim", "n_actions", "n_codes")


def read_config(path: str | Path, fmt: str, what: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A saved network's config.json, checked: its format, the `required` keys that build the network, sizes."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{what} not found: {path} is not a directory")
    config = load_json(path / CONFIG, f"{what} config", ModelError, required=("format",))
    if config["format"] != fmt:
        raise ModelError(f"{path}: not a ptgm {what} (format {config.get('format')!r}, expected {fmt!r})")
    require_keys(config, required, f"{what} config {path / CONFIG}", ModelError)
    for key in _SIZES:
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{path / CONFIG}: '{key}' must be a whole number >= 1, got {value!r}")
    return config


def read_weights(path: str | Path, config: dict[str, Any], what: str) -> dict[str, torch.Tensor]:
    """The tensors of `weights.safetensors` in `path`, after checking the file against the checksum in `config`."""
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise ModelError(f"{what} weights not found: {file}")
    data = file.read_bytes()
    if sha256_bytes(data) != config.get("weights_sha256"):
        raise ModelError(f"{file}: checksum differs from the one in {CONFIG} (file changed or corrupt)")
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise ModelError(f"{file} is not a valid safetensors file: {e}") from e


def load_weights(path: str | Path, module: nn.Module, config: dict[str, Any], what: str) -> nn.Module:
    """Load `weights.safetensors` into `module`, checking the checksum and every tensor's name and shape."""
    file = Path(path) / WEIGHTS
    tensors = read_weights(path, config, what)
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ModelError(f"{file} does not fit the network its config describes "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]})")
    module.load_state_dict(tensors)
    return module


# Tensors smaller than this stay float32 when stored in half precision: biases, norms and input statistics, where
# float16's rounding would shift every input, and which are a small part of the file.
HALF_MIN_SIZE = 4096


def store_half(folder: str | Path) -> None:
    """Rewrite a saved network's float32 weight matrices as float16, about halving the file; loading casts them
    back to the network's float32. config.json names the new checksum and keeps the trained weights' one."""
    folder = Path(folder)
    config = load_json(folder / CONFIG, "model config", ModelError, required=("weights_sha256",))
    if config.get("stored_dtype") == "float16":
        return
    file = folder / WEIGHTS
    tensors = read_weights(folder, config, "model")
    half = {}
    for name, tensor in tensors.items():
        if tensor.dtype == torch.float32 and tensor.numel() >= HALF_MIN_SIZE:
            half[name] = tensor.half()
            if not torch.equal(torch.isfinite(half[name]), torch.isfinite(tensor)):
                raise ModelError(f"{file}: {name} holds values beyond float16's range; keep it in float32")
        else:
            half[name] = tensor
    data = state_to_bytes(half)
    atomic_write_bytes(file, data)
    save_json(folder / CONFIG, {**config, "stored_dtype": "float16", "trained_weights_sha256": config["weights_sha256"],
                                "weights_sha256": sha256_bytes(data)})
