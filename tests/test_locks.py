"""One writer per output folder: `ptgm.io.folder_lock`, and two commands started on one folder."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptgm.cli import main
from ptgm.data.store import EpisodeStore
from ptgm.io import LOCK_FILE, FolderInUseError, folder_lock

# A process that holds the lock of the folder argv[1] until it is killed, saying "locked" once it holds it.
HOLDER = """
import sys, time
from ptgm.io import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def is_locked(folder: Path) -> bool:
    """Whether some process holds the flock of `folder`'s lock file (tried from a fresh open file)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start_holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_holder_is_refused_at_once_with_the_holders_pid(tmp_path):
    holder = start_holder(tmp_path / "out")
    try:
        start = time.perf_counter()
        with pytest.raises(FolderInUseError, match=f"pid {holder.pid}"):
            with folder_lock(tmp_path / "out"):
                pass
        assert time.perf_counter() - start < 1.0
        assert (tmp_path / "out" / LOCK_FILE).read_text().strip() == str(holder.pid)  # the refusal changed nothing
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    holder = start_holder(tmp_path / "out")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "out" / LOCK_FILE).read_text().strip() == str(holder.pid)  # its pid is still written there
    with folder_lock(tmp_path / "out"):
        assert (tmp_path / "out" / LOCK_FILE).read_text().strip() == str(os.getpid())
        assert is_locked(tmp_path / "out")
    assert not is_locked(tmp_path / "out")


def test_forked_children_do_not_keep_the_lock(tmp_path):
    """A worker forked under the lock, still alive when its parent is gone, must not hold the folder."""
    with folder_lock(tmp_path / "out"):
        pid = os.fork()
        if pid == 0:  # the child: outlives the lock's release below
            time.sleep(5)
            os._exit(0)
    try:
        assert not is_locked(tmp_path / "out")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_nested_locks_of_one_folder_in_one_process(tmp_path):
    with folder_lock(tmp_path / "out"):
        with folder_lock(tmp_path / "out"):  # the pipeline holding a stage folder that the stage locks again
            pass
        assert is_locked(tmp_path / "out")  # the inner exit did not release the outer lock
    assert not is_locked(tmp_path / "out")


def test_a_failed_writer_removes_the_folders_it_created_and_nothing_else(tmp_path):
    with pytest.raises(ValueError):
        with folder_lock(tmp_path / "a" / "b"):
            raise ValueError("refused")
    assert not (tmp_path / "a").exists()

    (tmp_path / "kept").mkdir()
    with pytest.raises(ValueError):
        with folder_lock(tmp_path / "kept"):
            raise ValueError("refused")
    assert (tmp_path / "kept").is_dir()  # it existed before

    with pytest.raises(ValueError):
        with folder_lock(tmp_path / "wrote"):
            (tmp_path / "wrote" / "partial.json").write_text("{}")
            raise ValueError("failed mid-way")
    assert (tmp_path / "wrote" / "partial.json").exists()  # what a command wrote stays, to resume from


def test_a_file_is_not_a_folder_to_lock(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="is a file, not a folder"):
        with folder_lock(tmp_path / "file"):
            pass


def test_two_collections_into_one_folder(tmp_path, capsys):
    """The second `ptgm collect` on a folder being collected is refused at once (exit 2, one line naming the
    first one's pid) and the first finishes the dataset it was asked for, intact."""
    out = tmp_path / "data"
    args = ["--out", str(out), "--no-pixels", "--player", "random", "--seed", "3", "--max-episode-steps", "200"]
    first = subprocess.Popen([sys.executable, "-m", "ptgm.cli", "collect", *args, "--frames", "1500"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not is_locked(out):
            assert first.poll() is None and time.time() < deadline, "the first collection never took the lock"
            time.sleep(0.01)
        start = time.perf_counter()
        assert main(["collect", *args, "--frames", "400"]) == 2
        refused_in = time.perf_counter() - start
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {first.pid}" in err and "Traceback" not in err, err
        assert refused_in < 5, f"refused after {refused_in:.1f} s"
        assert first.poll() is None, "the first collection was done before the second started; the test saw nothing"
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    store = EpisodeStore(out)
    store.validate()
    assert store.num_frames == 1500
    assert sorted(p.name for p in (out / "episodes").iterdir()) == sorted(Path(e.file).name for e in store.episodes)
