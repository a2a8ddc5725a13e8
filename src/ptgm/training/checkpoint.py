"""Training checkpoints that resume: model, optimizer, counters and RNG state, without pickles.

`checkpoint/state-<sha>.safetensors` holds every tensor (model weights, optimizer moments,
the torch RNG state); `checkpoint/state.json` holds the counters, the optimizer's settings and
the name and checksum of that tensor file. A trainer's extra state (SAC's replay buffer) is more
files beside it, each named by its owner (`<name>-<sha>.safetensors`) and recorded in state.json
under that name (`extras` lists the names). Every tensor file is named by its checksum, so a new
checkpoint never rewrites a file the previous state.json names; the JSON is written last and is the
commit point, so a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def write_tensors(folder: str | Path, name: str, tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """`tensors` as `folder/<name>-<sha>.safetensors`, written atomically; returns the record that names it
    ({'file', 'sha256'}). Named by the checksum, so it never replaces a different file of the same owner."""
    data = state_to_bytes(tensors)
    digest = sha256_bytes(data)
    file = f"{name}-{digest[:16]}.safetensors"
    atomic_write_bytes(Path(folder) / file, data)
    return {"file": file, "sha256": digest}


def _checked_bytes(folder: Path, record: Any, what: str) -> bytes:
    """The bytes of the file `record` ({'file', 'sha256'}) names inside `folder`, checked against its checksum."""
    where = f"{folder / STATE_JSON}: {what}"
    if not isinstance(record, dict):
        raise CheckpointError(f"{where}: expected a record of its file, got {record!r}")
    file = path_inside(folder, record.get("file"), where, CheckpointError)
    if not file.is_file():
        raise CheckpointError(f"{where} names {file}, which is missing")
    data = file.read_bytes()
    if sha256_bytes(data) != record.get("sha256"):
        raise CheckpointError(f"{file}: checksum differs from {STATE_JSON} (file changed or corrupt)")
    return data


def read_tensors(folder: str | Path, record: Any, what: str) -> dict[str, torch.Tensor]:
    """The tensors of the file `record` (`write_tensors`'s) names inside `folder`, checked against its checksum."""
    data = _checked_bytes(Path(folder), record, what)
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{Path(folder) / record['file']} is not a valid safetensors file: {e}") from e


def save_checkpoint(folder: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    counters: dict[str, Any], extras: Mapping[str, dict[str, Any]] | None = None) -> None:
    """`extras`: the records of extra files a trainer has already written into `folder` for this checkpoint, by
    name (each record names its 'file', `<name>-...`); state.json keeps each record under its name, and the
    older files of each name go once state.json names the new ones."""
    folder = Path(folder)
    extras = dict(extras or {})
    clash = sorted(set(extras) & (set(counters) | {"format", "tensors", "sha256", "optimizer", "extras", "state"}))
    if clash:
        raise ValueError(f"checkpoint extras may not be named like its own entries: {clash}")
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
    record = write_tensors(folder, "state", tensors)
    save_json(folder / STATE_JSON, {"format": CHECKPOINT_FORMAT, "tensors": record["file"], "sha256": record["sha256"],
                                     "optimizer": {"param_groups": optim["param_groups"], "state": plain_state},
                                     **counters, **extras, **({"extras": sorted(extras)} if extras else {})})
    _drop_older(folder, ("state", *extras), {record["file"], *(str(r.get("file")) for r in extras.values())})


def _drop_older(folder: Path, owners: tuple[str, ...], kept: set[str]) -> None:
    """Delete each owner's tensor files (`<owner>-*.safetensors`) but those in `kept`, the ones state.json names:
    called once state.json is written, so a kill before it leaves the previous checkpoint whole."""
    for owner in owners:
        for old in folder.glob(f"{owner}-*.safetensors"):
            if old.name not in kept:
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
    """Restore model, optimizer and torch RNG in place; returns the counters (with the extras' records)."""
    folder = Path(folder)
    state = read_counters(folder)
    if state is None:
        raise CheckpointError(f"no training checkpoint in {folder}")
    tensors = read_tensors(folder, {"file": state["tensors"], "sha256": state["sha256"]}, "'tensors'")
    file = folder / state["tensors"]
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
    try:
        optimizer.load_state_dict({"state": optim_state, "param_groups": state["optimizer"]["param_groups"]})
    except ValueError as e:
        raise CheckpointError(f"{folder / STATE_JSON} holds the state of another optimizer: {e}") from e
    torch.set_rng_state(tensors["rng/torch"])
    return {k: v for k, v in state.items() if k not in ("format", "tensors", "sha256", "optimizer", "extras")}


def load_weights_and_moments(folder: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Start a new run from another run's checkpoint: its model weights and optimizer moments, while this run keeps
    its own optimizer settings (learning rate, ...), torch RNG state and counters."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    rng = torch.get_rng_state()
    load_checkpoint(folder, model, optimizer)
    torch.set_rng_state(rng)
    for group, own in zip(optimizer.param_groups, settings):
        group.update(own)


def copy_checkpoint(source: str | Path, target: str | Path) -> dict[str, Any]:
    """The checkpoint in `source` (model, optimizer, counters; not its extras) as a checkpoint in `target`;
    returns its state.json. state.json is written last, and older tensor files in `target` go after it."""
    source, target = Path(source), Path(target)
    state = read_counters(source)
    if state is None:
        raise CheckpointError(f"no training checkpoint in {source}")
    data = _checked_bytes(source, {"file": state["tensors"], "sha256": state["sha256"]}, "'tensors'")
    atomic_write_bytes(target / state["tensors"], data)
    extras = set(state.get("extras", []))
    copied = {k: v for k, v in state.items() if k not in extras and k != "extras"}
    save_json(target / STATE_JSON, copied)
    _drop_older(target, ("state",), {state["tensors"]})
    return copied


def settings_blocking_resume(saved: dict[str, Any], cfg: Any) -> list[str]:
    """The settings of `cfg` (a config dataclass) that differ from `saved`, the config recorded with a checkpoint,
    and forbid continuing it: every setting but those its class lists in `RESUMABLE_CHANGES` (how long it
    trains, how often it reports and checkpoints, how it is run), which change nothing an update computes.
    The one resume rule of every trainer."""
    allowed = getattr(type(cfg), "RESUMABLE_CHANGES", frozenset())
    return [name for name in changed_settings(saved, cfg) if name not in allowed]
