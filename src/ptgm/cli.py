"""The `ptgm` command: one subcommand per pipeline stage. Each parses flags into the stage's
config dataclass and calls the stage; errors that are the user's to fix print one clear line."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import traceback
from pathlib import Path

from ptgm.config import ConfigError, add_arguments, from_args
from ptgm.io import ArtifactError


def _tasks(args: argparse.Namespace) -> None:
    from ptgm.envs import get_world, load_tasks

    for name, t in load_tasks(get_world(args.world), args.tasks_file).items():
        inv = ", ".join(f"{k}={v}" for k, v in t.start_inventory.items()) or "empty"
        print(f"{name:<18} success={'|'.join(t.success) or '-':<20} start={inv:<36} max_steps={t.max_steps:<6} "
              f"reward={t.reward:<8} mirrors={t.mirrors}")


def _collect(args: argparse.Namespace) -> None:
    from ptgm.data.collect import PRESETS, CollectConfig, collect

    frames = PRESETS[args.preset] if args.preset else args.frames
    cfg = from_args(CollectConfig, args, frames=frames)
    out = collect(cfg, make_driver=_clone_driver() if cfg.driver is not None else None)
    print(f"dataset: {out}")


def _clone_driver():
    from ptgm.pretrain.dagger import clone_driver

    return clone_driver


def _split(args: argparse.Namespace) -> None:
    from ptgm.data.split import split_dataset
    from ptgm.data.store import EpisodeStore

    s = split_dataset(EpisodeStore(args.data), args.val_frames, args.train_frames, args.seed)
    print(f"train: {len(s['train'])} episodes, {s['train_frames']} frames; "
          f"val: {len(s['val'])} episodes, {s['val_frames']} frames")


def _stats(args: argparse.Namespace) -> None:
    from ptgm.data.stats import dataset_stats, format_stats, plot_stats
    from ptgm.data.store import EpisodeStore

    store = EpisodeStore(args.data)
    stats = dataset_stats(store)
    if args.json:
        print(json.dumps(stats))
        return
    print(format_stats(stats))
    plot = plot_stats(stats, args.plot or Path(args.data) / "stats.png")
    print(f"chart: {plot}")


def _export(args: argparse.Namespace) -> None:
    from ptgm.data.minari_io import export_minari

    print(f"minari dataset: {export_minari(args.data, args.out, args.dataset_id)}")


def _import(args: argparse.Namespace) -> None:
    from ptgm.data.minari_io import import_minari
    from ptgm.data.store import EpisodeStore

    store = EpisodeStore(import_minari(args.src, args.out, args.world))
    print(f"dataset: {store.root} ({store.world}, {len(store.episodes)} episodes, {store.num_frames} frames)")


def _agent_save(args: argparse.Namespace) -> None:
    from ptgm.api import load_agent

    agent = load_agent(args.run)
    print(f"saved {agent.KIND} agent: {agent.save(args.out)} (from {args.run})")


def _agent_learn(args: argparse.Namespace) -> None:
    from ptgm.api import load_agent
    from ptgm.rl.commands import print_result

    changes = {k: v for k, v in (("out", args.out), ("seed", args.seed)) if v is not None}
    if changes and not (Path(args.agent) / "agent.json").is_file() and (Path(args.agent) / "run.json").is_file():
        raise ConfigError(f"{args.agent} is a training run, which `agent learn` resumes in place (no --out or --seed); "
                          f"to start a new run from its policy, `ptgm agent save {args.agent} --out DIR` first")
    agent = load_agent(args.agent, **changes).learn(args.steps)
    print_result(agent.run_path)


def build_parser() -> argparse.ArgumentParser:
    from ptgm.data.collect import PRESETS, CollectConfig
    from ptgm.envs import WORLDS

    parser = argparse.ArgumentParser(prog="ptgm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list the downstream tasks")
    p.add_argument("--world", default="crafter", choices=WORLDS)
    p.add_argument("--tasks-file", help="YAML file of extra or overriding task specs")
    p.set_defaults(fn=_tasks)

    p = sub.add_parser("collect", help="record task-agnostic episodes with a player")
    add_arguments(p, CollectConfig)
    p.add_argument("--preset", choices=sorted(PRESETS), help=f"named dataset size: {PRESETS} frames")
    p.add_argument("--env", dest="world", choices=WORLDS, help="same as --world")
    p.set_defaults(fn=_collect)

    p = sub.add_parser("split", help="split a dataset into train and validation by frames")
    p.add_argument("--data", required=True, help="dataset directory")
    p.add_argument("--val-frames", type=int, required=True, help="validation frames")
    p.add_argument("--train-frames", type=int, default=-1, help="training frames (-1: all the rest)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=_split)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("stats", help="episodes, frames, achievement rates, Crafter score, actions")
    p.add_argument("data", help="dataset directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", help="where to save the bar chart (default DATA/stats.png)")
    p.add_argument("--seed", type=int, default=0, help="unused; every command takes one")
    p.set_defaults(fn=_stats)
    p = data.add_parser("export", help="write a dataset in another format (Minari), local files only")
    p.add_argument("data", help="dataset directory")
    p.add_argument("--format", required=True, choices=["minari"], help="the format to write")
    p.add_argument("--out", required=True, help="new Minari dataset folder (it gets OUT/data/...; copy it to "
                   "<minari store>/<dataset id> for minari.load_dataset)")
    p.add_argument("--dataset-id", help="the Minari dataset id to record (default ptgm/WORLD-PLAYER-v0)")
    p.set_defaults(fn=_export)
    p = data.add_parser("import", help="read a local Minari dataset into a new ptgm dataset (never downloads)")
    p.add_argument("src", help="a Minari dataset folder, or a dataset id in the local Minari store")
    p.add_argument("--out", required=True, help="new dataset directory")
    p.add_argument("--world", choices=WORLDS, help="the world the data is from (default: what a ptgm export "
                   "recorded)")
    p.set_defaults(fn=_import)

    agent = sub.add_parser("agent", help="saved agents (`ptgm.api`): save a finished run, learn on from a saved agent")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    p = agent_sub.add_parser("save", help="save a finished `train-high` or `train-flat` run as an agent folder: its "
                             "policy, training state and (PTGM) pre-training, checked on load")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--out", required=True, help="the agent folder to write")
    p.add_argument("--seed", type=int, default=0, help="unused; every command takes one")
    p.set_defaults(fn=_agent_save)
    p = agent_sub.add_parser("learn", help="train on from a saved agent in a new run folder (SB3's "
                             "load(path).learn(n)): its weights and training state, env steps counted from 0")
    p.add_argument("agent", help="a saved agent folder (`ptgm agent save`); a run folder instead resumes in place")
    p.add_argument("--steps", type=int, required=True, help="the new run's budget in env steps (a run folder's: its "
                   "total budget)")
    p.add_argument("--out", help="the new run's folder (default: runs/<method>-<task>-s<seed>-from-<the agent's name>)")
    p.add_argument("--seed", type=int, help="the new run's seed (default: the saved agent's)")
    p.set_defaults(fn=_agent_learn)

    # Each stage package has a `commands` module whose `register(subparsers)` adds its subcommands; they
    # import their stage's heavy modules only when a subcommand runs.
    from ptgm.evaluate import commands as evaluate_commands
    from ptgm.goals import commands as goals_commands
    from ptgm.pipeline import commands as pipeline_commands
    from ptgm.pretrain import commands as pretrain_commands
    from ptgm.rl import commands as rl_commands
    from ptgm import watch as watch_command

    for module in (goals_commands, pretrain_commands, evaluate_commands, rl_commands, pipeline_commands,
                   watch_command):
        module.register(sub)
    return parser


# What the user can fix (a flag, a config, an input file or folder, the disk): one line and exit 2. Anything
# else is a bug in ptgm and keeps its traceback. The stages raise ConfigError, ArtifactError and its kinds
# (DatasetError, ModelError, CodebookError, CheckpointError, RunError, FolderInUseError), TaskError and
# TooFewSamplesError (ValueErrors), and OSError from the filesystem.
USER_ERRORS = (ArtifactError, ConfigError, ValueError, KeyError, OSError)


def describe_error(error: BaseException) -> str:
    """`error` as one line for the user."""
    if isinstance(error, KeyError):
        # A required entry was missing from something read; the stages name the file where they can, this is the
        # fallback: which key, and which code read it.
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        where = f" (read by {Path(frame.filename).name}:{frame.lineno}, in {frame.name})" if frame else ""
        text = f"required entry {error.args[0]!r} is missing{where}" if error.args else "a required entry is missing"
    elif isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.strerror}: {error.filename}" + (f" -> {error.filename2}" if error.filename2 else "")
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())  # one line, whatever the message (YAML parse errors span several)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (a BrokenPipeError may also come from a worker's pipe)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (e.g. captured in tests)
        return False
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poll.poll(0))  # a pipe without a reader polls as an error


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(c for c in (args.command, getattr(args, "data_command", None),
                                   getattr(args, "agent_command", None)) if c)
    try:
        args.fn(args)
        sys.stdout.flush()  # a reader that went away shows here, while this boundary still stands
    except BrokenPipeError as e:
        if not _stdout_closed():
            print(f"ptgm {command}: error: {describe_error(e)}", file=sys.stderr)
            return 2
        # `ptgm data stats D --json | head -c 1`: the reader has what it wanted. Point stdout at /dev/null, so that
        # the interpreter's own flush at exit does not fail again, and end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as e:
        print(f"ptgm {command}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"ptgm {command}: the error above is a bug in ptgm, not in what it was given; please report it with "
              f"the traceback", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
