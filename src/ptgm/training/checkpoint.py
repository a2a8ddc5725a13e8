"""Training checkpoints that resume: model, optimizer, counters and RNG state, without pickles.

`checkpoint/state-<update>.safetensors` holds every tensor (model weights, optimizer moments,
the torch RNG state); `checkpoint/state.json` holds the counters, the optimizer's settings and
the name and checksum of that tensor file. The JSON is written last and names a complete file,
so a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from torch import nn

from ptgm.config import changed_settings
from ptgm.io import ArtifactError, atomic_write_bytes, load_json, path_inside, require_keys, save_json, sha256_bytes
from ptgm.models.artifacts import state_to_bytes

CHECKPOINT_FORMAT = "ptgm-train-state/1"
STATE_JSON = "state.json"
# Counters a resumed run continues from (pre-training: update; RL: also env_steps, iteration and the next
# evaluation and checkpoint): whole numbers >= 0 wherever a checkpoint holds them.
_COUNTS = ("update", "env_steps", "iteration", "next_eval", "next_checkpoint")


class CheckpointError(ArtifactError):
    """A training checkpoint is corrupt or belongs to a run with other settings."""


def save_checkpoint(folder: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    counters: dict[str, Any]) -> None:
    folder = Path(folder)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    optim = optimizer.state_dict()
    plain_state: dict[str, dict[str, Any]] = {}
    for index, entry in optim["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim/{index}/{key}"] = value
            else:
                plain_state.setdefault(str(index), {})[key] = value
    tensors["rng/torch"] = torch.get_rng_state()
    data = state_to_bytes(tensors)
    name = f"state-{int(counters['update']):08d}.safetensors"
    atomic_write_bytes(folder / name, data)
    save_json(folder / STATE_JSON, {"format": CHECKPOINT_FORMAT, "tensors": name, "sha256": sha256_bytes(data),
                                     "optimizer": {"param_groups": optim["param_groups"], "state": plain_state},
                                     **counters})
    for old in folder.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def read_counters(folder: str | Path) -> dict[str, Any] | None:
    """The checkpoint's JSON (counters, config), or None when there is no checkpoint."""
    path = Path(folder) / STATE_JSON
    if not path.exists():
        return None
    state = load_json(path, "training checkpoint", CheckpointError, required=("format",))
    if state["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a ptgm training checkpoint (format {state.get('format')!r})")
    require_keys(state, ("tensors", "sha256", "optimizer", "update"), f"training checkpoint {path}", CheckpointError)
    path_inside(folder, state["tensors"], f"{path} 'tensors'", CheckpointError)
    for key in _COUNTS:
        value = state.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"{path}: '{key}' must be a whole number >= 0, got {value!r}")
    optimizer = state["optimizer"]
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
            and isinstance(optimizer.get("param_groups"), list)):
        raise CheckpointError(f"{path}: 'optimizer' must hold 'state' (an object) and 'param_groups' (a list)")
    return state


def load_checkpoint(folder: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model, optimizer and torch RNG in place; returns the counters."""
    folder = Path(folder)
    state = read_counters(folder)
    if state is None:
        raise CheckpointError(f"no training checkpoint in {folder}")
    file = path_inside(folder, state["tensors"], f"{folder / STATE_JSON} 'tensors'", CheckpointError)
    if not file.is_file():
        raise CheckpointError(f"{folder / STATE_JSON} names {file}, which is missing")
    data = file.read_bytes()
    if sha256_bytes(data) != state["sha256"]:
        raise CheckpointError(f"{file}: checksum differs from {STATE_JSON} (file changed or corrupt)")
    try:
        tensors = load_safetensors_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{file} is not a valid safetensors file: {e}") from e
    model_state = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_state)
    except RuntimeError as e:
        raise CheckpointError(f"{file} holds weights of another network: {e}") from e
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            optim_state.setdefault(int(index), {})[name] = value
    for index, entry in state["optimizer"]["state"].items():
        optim_state.setdefault(int(index), {}).update(entry)
    optimizer.load_state_dict({"state": optim_state, "param_groups": state["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    return {k: v for k, v in state.items() if k not in ("format", "tensors", "sha256", "optimizer")}


def settings_blocking_resume(saved: dict[str, Any], cfg: Any) -> list[str]:
    """The settings of `cfg` (a config dataclass) that differ from `saved`, the config recorded with a checkpoint,
    and forbid continuing it: every setting but those its class lists in `RESUMABLE_CHANGES` (how long it
    trains, how often it reports and checkpoints, how it is run), which change nothing an update computes.
    The one resume rule of every trainer."""
    allowed = getattr(type(cfg), "RESUMABLE_CHANGES", frozenset())
    return [name for name in changed_settings(saved, cfg) if name not in allowed]
