"""Safe, atomic file I/O and provenance shared by every stage.

Every artefact ptgm writes goes through here: JSON for metadata and configs, `.npz` for arrays,
safetensors for weights. Nothing is ever unpickled. Writes go to a temporary name in the same
directory and are renamed into place, so an interrupted run never leaves a half-written file
under the final name. Every folder a command writes is held with `folder_lock` for the command's
life, so two commands never write one folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np


class ArtifactError(RuntimeError):
    """A file ptgm was asked to read is missing, corrupt, or was produced for something else."""


class FolderInUseError(ArtifactError):
    """Another process holds the lock of an output folder (see `folder_lock`)."""


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


LOCK_FILE = ".ptgm.lock"


@dataclass
class _HeldLock:
    fd: int  # the open lock file holding the flock
    depth: int = 1  # nested `folder_lock`s of the folder in this process


# Folders this process holds, by resolved path: a stage run by the pipeline takes the lock of a folder the
# pipeline already holds, and flock would refuse a second open file of the same process.
_held_folders: dict[Path, _HeldLock] = {}


def _forget_locks_in_child() -> None:
    """In a forked child (a collection or environment worker, writing only under its parent's lock), close the
    inherited lock files: else a killed parent's orphaned workers would keep its folders locked. Closing a
    copy does not unlock the parent's."""
    for held in _held_folders.values():
        os.close(held.fd)
    _held_folders.clear()


os.register_at_fork(after_in_child=_forget_locks_in_child)


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the advisory lock of output folder `folder` (created when missing) while the block runs.

    The lock is an exclusive `fcntl.flock` on `folder/.ptgm.lock`, taken without waiting: when another
    process holds it, FolderInUseError at once, naming that process's pid. The kernel releases a flock
    when its holder dies, so a folder left by a killed run is simply taken over; the pid in the file is
    information for that error message, never what decides. If the block fails and this call created the
    folder and nothing but the lock file is in it, the folder is removed again: a refused command leaves
    nothing behind."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{folder} is a file, not a folder; give a folder to write into")
    key = folder.resolve()
    if key in _held_folders:
        _held_folders[key].depth += 1
        try:
            yield folder
        finally:
            if key in _held_folders:  # not when a forked child returns here
                _held_folders[key].depth -= 1
        return

    created = folder.absolute()  # the outermost folder this call creates (None: the folder existed)
    while not created.parent.exists():
        created = created.parent
    created = None if folder.exists() else created
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_FILE
    fd = _acquire(lock_path)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held_folders[key] = _HeldLock(fd)
    succeeded = False
    try:
        yield folder
        succeeded = True
    finally:
        if _held_folders.pop(key, None) is not None:  # None: a forked child, whose copy is closed already
            try:
                if not succeeded and created is not None and [p.name for p in folder.iterdir()] == [LOCK_FILE]:
                    lock_path.unlink()  # before the unlock: a process waiting on this file sees it gone (_acquire)
                    for empty in [folder.absolute(), *folder.absolute().parents]:
                        empty.rmdir()
                        if empty == created:
                            break
            except OSError:
                pass  # best effort: another process may have started writing here meanwhile
            finally:
                # Unlock explicitly: closing our descriptor alone would not unlock while a forked process that
                # has not closed its copy yet lives.
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _acquire(lock_path: Path) -> int:
    """An open descriptor of `lock_path` holding its exclusive flock; FolderInUseError when another holds it."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(f"{lock_path.parent} is being written by another ptgm process (pid {holder}); "
                                   f"wait for it to end, or write elsewhere") from None
        except BaseException:
            os.close(fd)
            raise
        # A holder that failed removes the lock file of a folder it made; a lock on that removed file guards nothing.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
        lock_path.parent.mkdir(parents=True, exist_ok=True)


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


def load_json(path: str | Path, what: str = "file", error: type[ArtifactError] = ArtifactError,
              required: Sequence[str] = ()) -> Any:
    """Parse a JSON file; a missing or malformed file raises `error` naming `what` it should be. With `required`,
    the file must hold an object with those keys (the error names the missing ones and the file)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{what} {path} is not valid JSON: {e}") from e
    return require_keys(data, required, f"{what} {path}", error) if required else data


def path_inside(folder: str | Path, relative: Any, where: str, error: type[Exception] = ArtifactError) -> Path:
    """`folder / relative` for a path read from a file (`where`) that must name something inside `folder`:
    refused before anything is read when it is not a relative path or climbs out with '..'."""
    if not isinstance(relative, str) or not relative:
        raise error(f"{where}: expected a file name inside {folder}, got {relative!r}")
    parts = Path(relative).parts
    if os.path.isabs(relative) or ".." in parts:
        raise error(f"{where}: the path {relative!r} leaves {folder}; only paths inside it are read")
    return Path(folder) / relative


def require_keys(record: Any, keys: Sequence[str], where: str, error: type[Exception] = ArtifactError) -> dict:
    """`record` if it is a mapping holding every one of `keys`; else `error` naming `where` and what is missing."""
    if not isinstance(record, dict):
        raise error(f"{where} must hold a JSON object, not {type(record).__name__}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise error(f"{where} lacks {', '.join(repr(k) for k in missing)}")
    return record


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

    from ptgm.version import __version__

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
