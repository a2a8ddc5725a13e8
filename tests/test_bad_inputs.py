"""A corpus of bad inputs across every command: each is refused with exit code 2 and one line on stderr (no
traceback), and leaves no file or folder behind. Commands run in-process through `ptgm.cli.main`."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ptgm.cli import main
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import DatasetError, EpisodeStore, write_episode
from ptgm.envs import get_world, make_env
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.io import LOCK_FILE, save_json, save_npz, sha256_file
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior

WORLD = get_world("crafter")
# The settings the shared dataset was collected with: `collect` with them extends it rather than refusing it.
DATA_ARGS = ["--no-pixels", "--player", "random", "--seed", "1", "--max-episode-steps", "80"]
TASKS = "short_wood:\n  success: [collect_wood]\n  max_steps: 60\n"


@dataclass(frozen=True)
class Shared:
    data: Path  # a split symbolic dataset of 400 frames
    models: Path  # codebook/, low/, prior/ (untrained, saved as the stages save them) and tasks.yaml
    run: Path  # a finished RL run folder as `ptgm report` reads it


@dataclass(frozen=True)
class Inputs:
    root: Path  # this case's own folder: its outputs and broken inputs go here
    shared: Shared

    @property
    def data(self) -> str:
        return str(self.shared.data)

    def model(self, name: str) -> str:
        return str(self.shared.models / name)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Shared:
    root = tmp_path_factory.mktemp("bad_inputs")
    data = root / "data"
    collect(CollectConfig(out=str(data), frames=400, pixels=False, player="random", seed=1, max_episode_steps=80),
            progress=False)
    split_dataset(EpisodeStore(data), val_frames=100)

    models = root / "models"
    (models / "tasks.yaml").parent.mkdir()
    (models / "tasks.yaml").write_text(TASKS)
    embedder = make_embedder("state", WORLD)
    env = make_env(obs_mode="symbolic")
    env.reset(seed=0)
    frames = [env.step(a)[0] for a in [1, 2, 3, 4] * 5][::5]
    book = Codebook(embedder.embed(np.stack(frames)), embedder.settings(),
                    [{"episode": "ep-000000", "step": 5 * i} for i in range(len(frames))])
    book.save(models / "codebook")
    torch.manual_seed(0)
    LowLevelPolicy(WORLD, "symbolic", embedder.dim, embedder.settings(), hidden=16, goal_input="absolute").save(
        models / "low")
    GoalPrior(WORLD, "symbolic", book.n_codes, book.fingerprint, hidden=16).save(models / "prior")

    run = root / "run"
    run.mkdir()
    save_json(run / "run.json", {"format": "ptgm-rl-run/1", "method": "flat", "task": "wood", "seed": 0})
    write_eval_csv(run, [(0, 0.0), (100, 0.5)])
    return Shared(data, models, run)


def write_eval_csv(run: Path, points: list[tuple[int, float]]) -> None:
    with open(run / "eval.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_steps", "success_rate", "episode_return", "episode_length", "episodes", "seconds"])
        writer.writerows([steps, success, success, 100, 10, 1.0] for steps, success in points)


# -- broken inputs, made in the case's own folder ------------------------------------------------------------------
def dataset_copy(i: Inputs, edit_manifest: Callable[[dict], None] | None = None,
                 edit_episode: Callable[[dict[str, np.ndarray]], None] | None = None, split: bool = True) -> Path:
    """A copy of the shared dataset with its manifest and/or first episode edited (checksum updated, so only the
    content is wrong)."""
    copy = i.root / "data"
    shutil.copytree(i.shared.data, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    if edit_episode is not None:
        entry = manifest["episodes"][0]
        with np.load(copy / entry["file"]) as npz:
            arrays = {k: npz[k] for k in npz.files}
        edit_episode(arrays)
        save_npz(copy / entry["file"], **arrays)
        entry["sha256"] = sha256_file(copy / entry["file"])
    if edit_manifest is not None:
        edit_manifest(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    if not split:
        (copy / "split.json").unlink()
    elif edit_episode is not None:  # the split names the episodes by their checksums: split the copy again
        split_dataset(EpisodeStore(copy), val_frames=100)
    return copy


def set_value(key: str, value: int, index: int = 0) -> Callable[[dict[str, np.ndarray]], None]:
    """An episode edit: element `index` of the first row of `key` set to `value`."""
    def edit(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = arrays[key].copy()
        arrays[key].flat[index] = value

    return edit


def low_copy(i: Inputs, drop: tuple[str, ...] = (), **config_changes) -> str:
    """A copy of the shared low-level policy with its config.json changed."""
    low = i.root / "low"
    shutil.copytree(i.shared.models / "low", low)
    config = json.loads((low / "config.json").read_text())
    config = {k: v for k, v in {**config, **config_changes}.items() if k not in drop}
    (low / "config.json").write_text(json.dumps(config))
    return str(low)


def checkpoint_in(out: Path, **state) -> None:
    """A training checkpoint's state.json in `out`, with `state` over plausible values."""
    (out / "checkpoint").mkdir(parents=True)
    save_json(out / "checkpoint" / "state.json", {"format": "ptgm-train-state/1", "tensors": "state-00000001.safetensors",
                                                  "sha256": "0" * 64, "optimizer": {"state": {}, "param_groups": []},
                                                  "update": 1, **state})


def run_config(i: Inputs, **settings) -> str:
    """A `ptgm run` config of a tiny run into the case's folder, with `settings` over it."""
    path = i.root / "run.yaml"
    path.write_text(yaml.safe_dump({"out": str(i.root / "run"), "task": "stone", "pretrained": None,
                                    "collect": {"player": "random", "frames": 1000, "pixels": False},
                                    "val_frames": 200, **settings}))
    return str(path)


def saved_agent(i: Inputs, agent_json: str) -> None:
    """A saved-agent folder holding `agent_json` as its agent.json."""
    (i.root / "agent").mkdir()
    (i.root / "agent" / "agent.json").write_text(agent_json)


HOLDER = "import sys, time\nfrom ptgm.io import folder_lock\nwith folder_lock(sys.argv[1]):\n" \
         "    print('locked', flush=True)\n    time.sleep(600)\n"


def held_by_another_process(folder: Path) -> Callable[[], None]:
    """Lock `folder` from another process; returns what releases it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"

    def release() -> None:
        holder.kill()
        holder.wait()

    return release


# -- the corpus -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Inputs], list[str]]
    says: str  # part of the one-line error
    # Makes the broken input under the case's folder before the command runs; may return what undoes it.
    prepare: Callable[[Inputs], Callable[[], None] | None] | None = None
    max_seconds: float | None = None  # how fast it must be refused (in-process, imports done)


def _out(i: Inputs) -> str:
    return str(i.root / "out")


def collect_args(*args: str) -> Callable[[Inputs], list[str]]:
    return lambda i: ["collect", "--out", _out(i), "--no-pixels", *args]


def low_args(*args: str, data: Callable[[Inputs], str] = lambda i: i.data) -> Callable[[Inputs], list[str]]:
    return lambda i: ["train-low", "--data", data(i), "--out", _out(i), "--hidden", "16", "--batch-size", "32",
                      "--no-progress", *args]


def flat_args(*args: str) -> Callable[[Inputs], list[str]]:
    return lambda i: ["train-flat", "--task", "stone", "--out", _out(i), "--no-progress", *args]


def high_args(*args: str) -> Callable[[Inputs], list[str]]:
    return lambda i: ["train-high", "--task", "stone", "--out", _out(i), "--low", i.model("low"),
                      "--codebook", i.model("codebook"), "--prior", i.model("prior"), "--no-progress", *args]


def eval_args(*args: str, low: Callable[[Inputs], str] = lambda i: i.model("low")) -> Callable[[Inputs], list[str]]:
    return lambda i: ["eval-low", "--low", low(i), "--codebook", i.model("codebook"), "--out",
                      str(i.root / "out" / "eval.json"), "--no-progress", *args]


CASES = [
    # collect
    Case("collect-frames-0", collect_args("--frames", "0"), "--frames must be a number >= 1, got 0"),
    Case("collect-frames-negative", collect_args("--frames", "-5"), "--frames must be a number >= 1"),
    Case("collect-workers-0", collect_args("--workers", "0"), "--workers must be a number >= 1"),
    Case("collect-max-episode-steps-negative", collect_args("--max-episode-steps", "-3"),
         "--max-episode-steps must be a number >= 1"),
    Case("collect-out-empty", lambda i: ["collect", "--out", ""], "--out must name a file or folder"),
    Case("collect-out-is-a-file", lambda i: ["collect", "--out", str(i.root / "file"), "--frames", "10"],
         "is a file, not a folder", prepare=lambda i: (i.root / "file").write_text("x") and None),
    Case("collect-out-under-a-file", lambda i: ["collect", "--out", str(i.root / "file" / "d"), "--frames", "10"],
         "Not a directory", prepare=lambda i: (i.root / "file").write_text("x") and None),
    Case("collect-fewer-frames-than-the-dataset-holds",
         lambda i: ["collect", "--out", i.data, "--frames", "100", *DATA_ARGS], "already holds 400 frames"),
    Case("collect-into-a-dataset-of-other-settings",
         lambda i: ["collect", "--out", i.data, "--frames", "1000", "--no-pixels", "--seed", "9"], "other settings"),
    Case("collect-unknown-player", collect_args("--player", "human"), "--player 'human' is unknown"),
    Case("collect-random-action-prob-above-1", collect_args("--random-action-prob", "2"),
         "--random-action-prob must be in [0, 1]"),
    Case("collect-seed-negative", collect_args("--seed", "-1"), "--seed must be a number >= 0"),
    Case("collect-folder-held-by-another-process", collect_args("--frames", "10"), "being written by another ptgm "
         "process (pid", prepare=lambda i: held_by_another_process(i.root / "out")),
    # split
    Case("split-val-frames-negative", lambda i: ["split", "--data", i.data, "--val-frames", "-1"],
         "--val-frames must be >= 0"),
    Case("split-more-frames-than-the-dataset-has", lambda i: ["split", "--data", i.data, "--val-frames", "5000"],
         "has only 400 frames"),
    Case("split-train-frames-below-minus-1",
         lambda i: ["split", "--data", i.data, "--val-frames", "10", "--train-frames", "-5"], "--train-frames"),
    Case("split-missing-dataset", lambda i: ["split", "--data", str(i.root / "nowhere"), "--val-frames", "10"],
         "dataset not found"),
    # data stats: broken datasets
    Case("stats-manifest-not-json", lambda i: ["data", "stats", str(i.root / "data"), "--json"], "is not valid JSON",
         prepare=lambda i: dataset_copy(i, split=False) and (i.root / "data" / "manifest.json").write_text("{") and None),
    Case("stats-manifest-without-world", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "lacks 'world'", prepare=lambda i: dataset_copy(i, lambda m: m.pop("world"), split=False) and None),
    Case("stats-manifest-lists-an-episode-twice", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "listed more than once",
         prepare=lambda i: dataset_copy(i, lambda m: m["episodes"].append(m["episodes"][0]), split=False) and None),
    Case("stats-episode-file-outside-absolute", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "'/etc/hostname' leaves",
         prepare=lambda i: dataset_copy(i, lambda m: m["episodes"][0].update(file="/etc/hostname"), split=False)
         and None),
    Case("stats-episode-file-outside-relative", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "'../x.npz' leaves",
         prepare=lambda i: dataset_copy(i, lambda m: m["episodes"][0].update(file="../x.npz"), split=False) and None),
    Case("stats-episode-length-a-string", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "'length' must be int",
         prepare=lambda i: dataset_copy(i, lambda m: m["episodes"][0].update(length="12"), split=False) and None),
    Case("stats-action-id-out-of-range", lambda i: ["data", "stats", str(i.root / "data"), "--json"],
         "action id 200 is out of range",
         prepare=lambda i: dataset_copy(i, edit_episode=set_value("actions", 200)) and None),
    Case("stats-plot-onto-a-folder", lambda i: ["data", "stats", i.data, "--plot", str(i.root)], "Is a directory"),
    # codebook
    Case("codebook-n-codebook-0", lambda i: ["codebook", "--data", i.data, "--out", _out(i), "--n-codebook", "0"],
         "--n-codebook must be a number >= 1"),
    Case("codebook-unknown-reduction", lambda i: ["codebook", "--data", i.data, "--out", _out(i), "--reduce", "umap"],
         "--reduce 'umap' is unknown"),
    Case("codebook-perplexity-negative",
         lambda i: ["codebook", "--data", i.data, "--out", _out(i), "--perplexity", "-1"], "--perplexity must be"),
    Case("codebook-episodes-0", lambda i: ["codebook", "--data", i.data, "--out", _out(i), "--episodes", "0"],
         "--episodes must be at least 1, or -1"),
    Case("codebook-dataset-not-split",
         lambda i: ["codebook", "--data", str(i.root / "data"), "--out", _out(i), "--n-codebook", "2"], "is not split",
         prepare=lambda i: dataset_copy(i, split=False) and None),
    Case("codebook-symbolic-id-out-of-range",
         lambda i: ["codebook", "--data", str(i.root / "data"), "--out", _out(i), "--n-codebook", "2", "--episodes",
                    "-1", "--reduce", "pca", "--no-pictures"], "symbolic view id 250 is out of range",
         prepare=lambda i: dataset_copy(i, edit_episode=set_value("obs_symbolic", 250)) and None),
    # train-encoder
    Case("encoder-steps-0", lambda i: ["train-encoder", "--data", i.data, "--out", _out(i), "--steps", "0"],
         "--steps must be a number >= 1"),
    Case("encoder-temperature-0", lambda i: ["train-encoder", "--data", i.data, "--out", _out(i), "--temperature", "0"],
         "--temperature must be a number > 0"),
    Case("encoder-dataset-without-pixels", lambda i: ["train-encoder", "--data", i.data, "--out", _out(i)],
         "has no pixel frames"),
    # train-low
    Case("low-epochs-0", low_args("--epochs", "0"), "--epochs must be a number >= 1"),
    Case("low-lr-negative", low_args("--lr", "-1"), "--lr must be a number > 0"),
    Case("low-lr-nan", low_args("--lr", "nan"), "--lr must be a number > 0, got nan"),
    Case("low-p-uncond-1.5", low_args("--p-uncond", "1.5"), "--p-uncond must be in [0, 1)"),
    Case("low-goal-gaps-empty", low_args("--min-btwn-goals", "5", "--max-btwn-goals", "5"), "min_btwn_goals"),
    Case("low-unknown-observation", low_args("--obs", "rgb"), "--obs 'rgb' is not an observation mode"),
    Case("low-threads-0", low_args("--threads", "0"), "--threads must be a number >= 1"),
    Case("low-action-id-out-of-range", low_args(data=lambda i: str(i.root / "data")), "action id 200 is out of range",
         prepare=lambda i: dataset_copy(i, edit_episode=set_value("actions", 200)) and None),
    Case("low-inventory-255", low_args(data=lambda i: str(i.root / "data")),
         "inventory count in the symbolic view 255 is out of range", prepare=lambda i: dataset_copy(
             i, edit_episode=set_value("obs_symbolic", 255, WORLD.symbolic_layout.view_size)) and None),
    Case("low-checkpoint-update-a-string", low_args(), "'update' must be a whole number >= 0, got 'abc'",
         prepare=lambda i: checkpoint_in(i.root / "out", update="abc")),
    Case("low-checkpoint-tensors-outside", low_args(), "'/etc/hostname' leaves",
         prepare=lambda i: checkpoint_in(i.root / "out", tensors="/etc/hostname")),
    # train-prior
    Case("prior-codebook-empty",
         lambda i: ["train-prior", "--data", i.data, "--out", _out(i), "--codebook", ""], "--codebook"),
    Case("prior-codebook-missing",
         lambda i: ["train-prior", "--data", i.data, "--out", _out(i), "--codebook", str(i.root / "none"),
                    "--no-progress"], "codebook metadata not found"),
    Case("prior-batch-size-0", lambda i: ["train-prior", "--data", i.data, "--out", _out(i), "--codebook",
                                          i.model("codebook"), "--batch-size", "0"], "--batch-size must be"),
    # eval-low
    Case("eval-low-episodes-0", eval_args("--episodes", "0"), "--episodes must be a number >= 1"),
    Case("eval-low-cond-scale-negative", eval_args("--cond-scale", "-1"), "--cond-scale values must be numbers >= 0"),
    Case("eval-low-policy-hidden-negative", eval_args(low=lambda i: str(i.root / "low")),
         "'hidden' must be a whole number >= 1, got -1", prepare=lambda i: low_copy(i, hidden=-1) and None),
    Case("eval-low-policy-config-without-world", eval_args(low=lambda i: str(i.root / "low")), "lacks 'world'",
         prepare=lambda i: low_copy(i, drop=("world",)) and None),
    Case("eval-low-missing-policy", eval_args(low=lambda i: str(i.root / "none")), "low-level policy not found"),
    # train-flat
    Case("flat-clip-coef-negative", flat_args("--clip-coef", "-1"), "--clip-coef must be a number > 0"),
    Case("flat-ent-coef-negative", flat_args("--ent-coef", "-100"), "--ent-coef must be a number >= 0"),
    Case("flat-max-grad-norm-negative", flat_args("--max-grad-norm", "-1"), "--max-grad-norm must be a number > 0"),
    Case("flat-vf-coef-negative", flat_args("--vf-coef", "-1"), "--vf-coef must be a number >= 0"),
    Case("flat-lr-negative", flat_args("--lr", "-1"), "--lr must be a number > 0"),
    Case("flat-eval-envs-negative", flat_args("--eval-envs", "-1"), "--eval-envs must be a number >= 0"),
    Case("flat-threads-0", flat_args("--threads", "0"), "--threads must be a number >= 1"),
    Case("flat-gamma-above-1", flat_args("--gamma", "1.5"), "--gamma must be in (0, 1]"),
    Case("flat-steps-per-iter-not-a-multiple", flat_args("--n-envs", "2", "--steps-per-iter", "7"),
         "must be a positive multiple of --n-envs"),
    Case("flat-unknown-task", lambda i: ["train-flat", "--task", "stne", "--out", _out(i)], "unknown task 'stne'"),
    Case("flat-tasks-file-missing", flat_args("--tasks-file", "/nonexistent/tasks.yaml"), "tasks file not found"),
    Case("flat-out-held-by-another-process", flat_args(), "being written by another ptgm process (pid",
         prepare=lambda i: held_by_another_process(i.root / "out")),
    # train-high
    Case("high-low-level-steps-0", high_args("--low-level-steps", "0"), "--low-level-steps must be a number >= 1"),
    Case("high-kl-reward-negative", high_args("--kl-reward", "-1"), "--kl-reward must be a number >= 0"),
    Case("high-prior-missing-for-the-kl-reward",
         lambda i: ["train-high", "--task", "stone", "--out", _out(i), "--low", i.model("low"),
                    "--codebook", i.model("codebook")], "need the goal prior"),
    Case("high-low-policy-missing",
         lambda i: ["train-high", "--task", "stone", "--out", _out(i), "--low", str(i.root / "none"),
                    "--codebook", i.model("codebook"), "--no-goal-prior"], "low-level policy not found"),
    # report
    Case("report-run-without-run-json", lambda i: ["report", str(i.root), "--out", _out(i)], "run description not found"),
    Case("report-run-json-without-task", lambda i: ["report", str(i.root / "run"), "--out", _out(i)], "lacks 'task'",
         prepare=lambda i: save_json(i.root / "run" / "run.json", {"method": "flat", "seed": 0})),
    Case("report-steps-not-increasing", lambda i: ["report", str(i.root / "run"), "--out", _out(i)],
         "env_steps must increase",
         prepare=lambda i: (save_json(i.root / "run" / "run.json", {"method": "flat", "task": "wood", "seed": 0}),
                            write_eval_csv(i.root / "run", [(100, 0.1), (50, 0.2)]))[-1]),
    Case("report-out-is-a-file", lambda i: ["report", str(i.shared.run), "--out", str(i.root / "file")],
         "is a file, not a folder", prepare=lambda i: (i.root / "file").write_text("x") and None),
    # run: every stage's settings checked before the first runs
    Case("run-low-epochs-0", lambda i: ["run", "--config", run_config(i, low={"epochs": 0})],
         "low: --epochs must be a number >= 1", max_seconds=5),
    Case("run-pre-training-settings-with-the-shipped-models",
         lambda i: ["run", "--config", run_config(i, pretrained="shipped")], "set pretrained: null"),
    Case("run-seed-a-string", lambda i: ["run", "--config", run_config(i, seeds=["a"])],
         "seeds must be list[int], got ['a']", max_seconds=5),
    Case("run-misspelt-task", lambda i: ["run", "--config", run_config(i, task="stne")],
         "task: unknown task 'stne'", max_seconds=5),
    Case("run-collect-frames-a-string", lambda i: ["run", "--config", run_config(i, collect={"frames": "abc"})],
         "collect: frames must be int, got 'abc'", max_seconds=5),
    Case("run-flat-clip-coef-negative", lambda i: ["run", "--config", run_config(i, flat={"clip_coef": -1})],
         "flat (flat): --clip-coef must be a number > 0", max_seconds=5),
    Case("run-unknown-method", lambda i: ["run", "--config", run_config(i, methods=["ptgm", "dreamer"])],
         "unknown method 'dreamer'", max_seconds=5),
    Case("run-seed-twice", lambda i: ["run", "--config", run_config(i, seeds=[0, 0])], "given more than once",
         max_seconds=5),
    Case("run-val-frames-all-of-the-data", lambda i: ["run", "--config", run_config(i, val_frames=1000)],
         "leaves none of the collect.frames", max_seconds=5),
    Case("run-unknown-key", lambda i: ["run", "--config", run_config(i, epochs=3)], "unknown key(s) ['epochs']",
         max_seconds=5),
    Case("run-config-not-yaml", lambda i: ["run", "--config", str(i.root / "bad.yaml")], "is not valid YAML",
         prepare=lambda i: (i.root / "bad.yaml").write_text("low: {epochs: [1,\n  2\nhigh: :\n") and None,
         max_seconds=5),
    Case("run-config-missing", lambda i: ["run", "--config", str(i.root / "none.yaml")], "config file not found"),
    Case("run-out-is-a-file", lambda i: ["run", "--config", run_config(i, out=str(i.root / "file"))],
         "is a file, not a folder", prepare=lambda i: (i.root / "file").write_text("x") and None),
    # unknown worlds
    Case("flat-unknown-world", flat_args("--world", "minecraft"), "--world 'minecraft' is unknown; valid: crafter"),
    Case("collect-unknown-world", collect_args("--world", "minecraft"), "--world 'minecraft' is unknown; valid: crafter"),
    # watch
    Case("watch-unknown-agent", lambda i: ["watch", i.model(""), "--out", str(i.root / "a.gif"), "--agent", "human"],
         "--agent 'human' is unknown; valid: high, low, player"),
    Case("watch-out-of-another-format", lambda i: ["watch", i.model(""), "--out", str(i.root / "a.avi")],
         "give a .gif or .mp4 file"),
    Case("watch-missing-run", lambda i: ["watch", str(i.root / "nowhere"), "--out", str(i.root / "a.gif")],
         "run not found"),
    Case("watch-folder-without-models", lambda i: ["watch", str(i.root), "--out", str(i.root / "a.gif"),
                                                   "--agent", "low"], "holds no pre-training"),
    Case("watch-pre-training-without-an-agent", lambda i: ["watch", i.model(""), "--out", str(i.root / "a.gif")],
         "holds a pre-training but no trained PTGM agent"),
    Case("watch-agent-json-not-json", lambda i: ["watch", str(i.root / "agent"), "--out", str(i.root / "a.gif")],
         "is not valid JSON", prepare=lambda i: saved_agent(i, "{")),
    Case("watch-agent-json-of-another-format", lambda i: ["watch", str(i.root / "agent"), "--out",
                                                          str(i.root / "a.gif")], "not a saved ptgm agent",
         prepare=lambda i: saved_agent(i, json.dumps({"format": "sb3-zip", "kind": "ptgm", "settings": {},
                                                      "models": {}}))),
    Case("watch-agent-json-without-kind", lambda i: ["watch", str(i.root / "agent"), "--out", str(i.root / "a.gif")],
         "lacks 'kind'", prepare=lambda i: saved_agent(i, json.dumps({"format": "ptgm-agent/1"}))),
    # tasks
    Case("tasks-file-missing", lambda i: ["tasks", "--tasks-file", str(i.root / "none.yaml")], "tasks file not found"),
]


def snapshot(*folders: Path) -> dict[str, tuple[int, int] | None]:
    """Every file under `folders` with its (size, modification time), and every folder, lock files aside (taking
    the lock of an existing folder writes only the pid). A folder's own time is left out: it changes when a
    command makes something in it and removes it again, leaving it as it was."""
    seen: dict[str, tuple[int, int] | None] = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            if path.name != LOCK_FILE:
                stat = path.stat()
                seen[str(path)] = None if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return seen


def test_the_corpus_is_large_and_names_each_case_once():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.id.split("-")[0] for c in CASES}  # each id starts with its command
    assert commands == {"collect", "split", "stats", "codebook", "encoder", "low", "prior", "eval", "flat", "high",
                        "report", "run", "tasks", "watch"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(case: Case, shared: Shared, tmp_path, capsys):
    inputs = Inputs(tmp_path, shared)
    undo = case.prepare(inputs) if case.prepare else None
    try:
        argv = case.argv(inputs)
        before = snapshot(tmp_path, *vars(shared).values())
        capsys.readouterr()
        start = time.perf_counter()
        code = main(argv)
        seconds = time.perf_counter() - start
        out, err = capsys.readouterr()
        after = snapshot(tmp_path, *vars(shared).values())
    finally:
        if undo is not None:
            undo()
    assert code == 2, f"exit {code}; stderr: {err}"
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"ptgm {argv[0]}") and ": error: " in err, err
    assert case.says in err, err
    assert after == before, f"left behind or changed: {sorted(set(after.items()) ^ set(before.items()), key=str)}"
    if case.max_seconds is not None:
        assert seconds < case.max_seconds, f"refused after {seconds:.1f} s"


@pytest.mark.parametrize("key, value, says", [
    ("rewards", np.nan, "'rewards' must be finite"), ("rewards", np.inf, "'rewards' must be finite"),
    ("inventory", 255, "inventory count 255 is out of range"), ("actions", 17, "action id 17 is out of range"),
    ("obs_symbolic", 19, "symbolic view id 19 is out of range")])
def test_episodes_out_of_the_worlds_range_are_refused_on_write_and_on_read(shared, tmp_path, key, value, says):
    store = EpisodeStore(shared.data)
    info = store.episodes[0]
    arrays = store.load(info.id)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = value
    with pytest.raises(DatasetError, match=says):
        write_episode(tmp_path / "written", 0, arrays, info.env_seed, WORLD)
    assert not (tmp_path / "written" / "episodes").exists()  # refused before the file was written
    copy = dataset_copy(Inputs(tmp_path, shared), edit_episode=lambda a: a.update({key: arrays[key]}))
    with pytest.raises(DatasetError, match=says):
        EpisodeStore(copy).load(info.id)


def test_a_bug_keeps_its_traceback_and_says_it_is_one(monkeypatch, capsys):
    def broken(args) -> None:
        raise RuntimeError("an invariant broke")

    monkeypatch.setattr("ptgm.cli._tasks", broken)
    assert main(["tasks"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an invariant broke" in err
    assert err.rstrip().splitlines()[-1].startswith("ptgm tasks: the error above is a bug in ptgm")


def test_a_missing_key_is_named_with_where_it_was_read(monkeypatch, capsys):
    def reads_a_missing_key(args) -> None:
        record: dict = {}
        record["world"]

    monkeypatch.setattr("ptgm.cli._tasks", reads_a_missing_key)
    assert main(["tasks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required entry 'world' is missing (read by test_bad_inputs.py:" in err, err


def test_a_closed_stdout_ends_quietly(shared):
    """`ptgm data stats D --json | head -c 0`: the reader is gone before anything is written."""
    proc = subprocess.run(f"{sys.executable} -m ptgm.cli data stats {shared.data} --json | head -c 0; "
                          f"exit ${{PIPESTATUS[0]}}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, timeout=120)
    assert proc.stderr == "" and proc.returncode == 1, proc.stderr
