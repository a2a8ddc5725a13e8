"""Safe, atomic file I/O and provenance shared by every stage.

Every artefact ptgm writes goes through here: JSON for metadata and configs, `.npz` for arrays,
safetensors for weights. Nothing is ever unpickled. Writes go to a temporary name in the same
directory and are renamed into place, so an interrupted run never leaves a half-written file
under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np


class ArtifactError(RuntimeError):
    """A file ptgm was asked to read is missing, corrupt, or was produced for something else."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes files private; give them the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename lives in the directory: sync it too, or after a power cut a checkpoint that names this file
    # can survive while the file's new name does not. Best effort: some systems and filesystems cannot open or
    # sync a directory, and the file itself is already written.
    try:
        directory = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n").encode())


def load_json(path: str | Path, what: str = "file", error: type[ArtifactError] = ArtifactError) -> Any:
    """Parse a JSON file; a missing or malformed file raises `error` naming `what` it should be."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{what} {path} is not valid JSON: {e}") from e


def save_figure(fig, path: str | Path, dpi: float | None = None) -> None:
    """Write a matplotlib figure as PNG atomically (unique temporary name) and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def save_npz(path: str | Path, compress: bool = True, **arrays: np.ndarray) -> bytes:
    """Write arrays atomically; returns the bytes written (callers checksum them)."""
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data


def load_npz(path: str | Path, what: str = "array file") -> np.lib.npyio.NpzFile:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, EOFError
        raise ArtifactError(f"{what} {path} is corrupt or not an .npz file: {e}") from e


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance(command: str, config: Any = None, **extra: Any) -> dict[str, Any]:
    """What produced an artefact: the command, its full config, and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    from ptgm import __version__

    def _version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "command": command,
        "config": to_jsonable(config),
        "ptgm_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "world_package": {"crafter": _version("crafter")},
        **to_jsonable(extra),
    }
