"""A training run's directory: what it is, its logs and its checkpoint, and resuming it.

    config.yaml     the full config (every flag)
    run.json        method, task, seed, the models it builds on (with checksums) and provenance
    progress.csv    one row per PPO (or SAC) iteration (charts/..., losses/...) against env_steps
    eval.csv        one row per periodic evaluation (what `ptgm report` reads): success rate, return,
                    length, the score and each achievement's unlock rate (`unlock/<achievement>`)
    tb/             the same scalars for TensorBoard, against env_steps
    checkpoint/     the last training state (safetensors + JSON), from which the same command resumes; a
                    trainer keeps more in it through `Run.keep_in_checkpoint` (SAC: its replay buffer)
    policy/         the final policy (weights.safetensors + config.json)
    summary.json    the final evaluation, written when the budget is spent, and the checksums of the final
                    policy and checkpoint (so a saved agent can take that training state along)

Starting a command on a directory that holds a checkpoint resumes it: the config and the models
must be the same (only the budget, --steps, may grow); logged rows after the checkpoint are
dropped, since the resumed run redoes that stretch. A directory without a checkpoint starts a new
run, with empty logs.

A run may start from a saved agent instead of fresh weights (`Start`; `ptgm.api`'s `load(saved).learn`):
run.json then records it (`started_from`: its folder, its policy's weights checksum, the env steps it
was trained for), and only a run started from the same saved agent resumes that run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptgm.config import load_yaml, save_yaml
from ptgm.io import ArtifactError, load_json, provenance, save_json, to_jsonable
from ptgm.models.artifacts import CONFIG
from ptgm.rl.policies import Policy, load_policy
from ptgm.training.checkpoint import (STATE_JSON, CheckpointError, load_checkpoint, load_weights_and_moments,
                                     read_counters, save_checkpoint, settings_blocking_resume)
from ptgm.training.logs import CSVLog, TrainingLog, read_csv

RUN_FORMAT = "ptgm-rl-run/1"


class RunError(ArtifactError):
    """A run directory holds another run, or its files are inconsistent."""


@dataclass(frozen=True)
class Start:
    """A saved agent a new run starts from, instead of fresh weights (`ptgm.api`: `PTGM.load(saved).learn(n)`)."""

    agent: str  # the saved agent's folder (absolute), as run.json records where the run started from
    policy: str  # its policy folder (`Policy.save`)
    policy_sha256: str  # the checksum of the policy's weights, as the saved agent records it
    env_steps: int | None  # env steps the run that trained it took (None: not recorded)
    trainer: str | None = None  # its training state, a checkpoint folder (learner weights, optimizer moments); None: the policy's weights and a fresh optimizer
    trainer_sha256: str | None = None  # the checksum of that checkpoint's tensors, as the saved agent records it

    def record(self) -> dict[str, Any]:
        """What run.json keeps as `started_from` (and compares on resume)."""
        return {"agent": self.agent, "policy_sha256": self.policy_sha256, "env_steps": self.env_steps,
                "trainer_sha256": self.trainer_sha256}


def run_folder(out: str | None, default: str, start: Start | None) -> str:
    """The folder a run writes: `out`, else `default` (runs/<method>-<task>-s<seed>), which for a run starting from
    a saved agent gets `-from-<its folder's name>` (the default folder is likely the run that trained it). Never
    the saved agent's own folder, nor one inside it."""
    if start is None:
        return out or default
    folder = out or f"{default}-from-{Path(start.agent).name}"
    agent = Path(start.agent).resolve()
    if agent == Path(folder).resolve() or agent in Path(folder).resolve().parents:
        raise RunError(f"cannot learn into {folder}: it is the saved agent {start.agent} this run starts from; "
                       f"give another out for the new run")
    return folder


def final_checkpoint(path: str | Path, policy_sha256: str) -> Path | None:
    """The checkpoint folder of the run in `path` when it still holds the training state the run finished with and
    its final policy is `policy_sha256`; else None (the run went on since, or never finished)."""
    path = Path(path)
    if not (path / "summary.json").is_file() or not (path / "checkpoint" / STATE_JSON).is_file():
        return None
    summary = load_json(path / "summary.json", "run summary", RunError)
    state = read_counters(path / "checkpoint")
    if summary.get("policy_sha256") != policy_sha256 or summary.get("checkpoint_sha256") != state["sha256"]:
        return None
    return path / "checkpoint"


class Run:
    """The directory of one training run (see the module doc)."""

    PROGRESS_FIELDS = ["env_steps", "iteration", "seconds", "charts/success_rate", "charts/episode_return",
                       "charts/episode_length", "charts/episodes", "charts/kl_to_prior", "charts/kl_penalty",
                       "charts/env_steps_per_second", "charts/rollout_env_steps_per_second",
                       "charts/env_steps_per_decision", "charts/learning_rate", "losses/policy_loss",
                       "losses/value_loss", "losses/entropy", "losses/approx_kl", "losses/clipfrac",
                       "losses/explained_variance"]
    EVAL_FIELDS = ["env_steps", "success_rate", "episode_return", "episode_length", "episodes", "seconds", "score"]

    def __init__(self, path: str | Path, config: Any, info: dict[str, Any], achievements: Sequence[str] = (),
                 progress_fields: Sequence[str] | None = None, start: Start | None = None):
        """`info`: method, task, seed, the metric the task is judged by and the identities of the models the
        run builds on; `achievements`: the world's, whose unlock rates eval.csv records; `progress_fields`:
        progress.csv's columns, when the learner logs others than PPO's (`PROGRESS_FIELDS`); `start`: the saved
        agent a new run starts from (`load_start`)."""
        self.path = Path(path)
        self.config = config
        self.start = start
        self.info = {**info, "started_from": start.record()} if start is not None else info
        self.checkpoint_dir = self.path / "checkpoint"
        self.counters = read_counters(self.checkpoint_dir) if self.checkpoint_dir.exists() else None
        if self.counters is not None:
            self._check_same_run()
        self.path.mkdir(parents=True, exist_ok=True)
        save_yaml(self.path / "config.yaml", config)
        save_json(self.path / "run.json", {"format": RUN_FORMAT, **self.info,
                                            "provenance": provenance(info.get("command", ""), config)})
        self.start_env_steps = 0 if self.counters is None else int(self.counters["env_steps"])
        fields = [f for f in progress_fields or self.PROGRESS_FIELDS if f != "env_steps"]
        self.logs = TrainingLog(self.path, "env_steps", fields, resumed_at=self.start_env_steps if self.resumed else None)
        self.evals = CSVLog(self.path / "eval.csv", self.EVAL_FIELDS + [f"unlock/{a}" for a in achievements])
        # An evaluation at the checkpoint's own step is kept only if the checkpoint records it: one logged after it
        # (a kill between the row and the next save) is redone on resume, and two rows at one step would make
        # eval.csv unreadable for `ptgm report`. A fresh run keeps none.
        evaluated = self.resumed and self.counters.get("last_eval") == self.start_env_steps
        self.evals.truncate_after(self.start_env_steps if evaluated else self.start_env_steps - 1)
        # name -> (save, load): the trainer's own state kept with every checkpoint (`keep_in_checkpoint`)
        self._extras: dict[str, tuple[Callable[[Path], dict[str, Any]], Callable[[Path, dict[str, Any]], None]]] = {}

    @property
    def resumed(self) -> bool:
        return self.counters is not None

    def _check_same_run(self) -> None:
        old = load_yaml(self.path / "config.yaml")
        new = to_jsonable(self.config)
        diff = settings_blocking_resume(old, self.config)
        if diff:
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
            raise RunError(f"{self.path} holds a run with other settings ({changes}); use another --out to start a "
                           f"new run, or the same settings to resume it (only --steps may change)")
        old_info = load_json(self.path / "run.json", "run description")
        for key in ("method", "task", "models", "started_from"):
            if old_info.get(key) != self.info.get(key):
                raise RunError(f"{self.path} was trained with {key} {old_info.get(key)!r}, now given "
                               f"{self.info.get(key)!r}; use another --out or the same inputs to resume")

    # -- logging --------------------------------------------------------------------------------
    def log(self, env_steps: int, row: dict[str, Any]) -> None:
        self.logs.log(env_steps, row)

    def log_eval(self, point: Any) -> None:
        row = asdict(point)
        row.update({f"unlock/{a}": r for a, r in row.pop("unlock_rates", {}).items()})
        self.evals.append(row)
        self.logs.scalars(row["env_steps"], {f"eval/{key}": row[key]  # the score is NaN without achievements
                                             for key in ("success_rate", "episode_return", "episode_length", "score")})
        self.logs.flush()

    # -- checkpoints ----------------------------------------------------------------------------
    def keep_in_checkpoint(self, name: str, save: Callable[[Path], dict[str, Any]],
                           load: Callable[[Path, dict[str, Any]], None]) -> None:
        """Keep state of the trainer's own (beyond the model and optimizer) in every checkpoint of this run.

        `save(folder)` writes it into the checkpoint folder as new files named `<name>-...` (never one an earlier
        checkpoint names: `ptgm.training.checkpoint.write_tensors` names a file by its checksum) and returns the
        JSON record naming them ('file'); the checkpoint commits that record with the rest, and the older files
        go. `load(folder, record)` gets it back when the run resumes (`load_checkpoint`)."""
        self._extras[name] = (save, load)

    def save_checkpoint(self, agent: nn.Module, optimizer: torch.optim.Optimizer, counters: dict[str, Any]) -> None:
        extras = {name: save(self.checkpoint_dir) for name, (save, _) in self._extras.items()}
        save_checkpoint(self.checkpoint_dir, agent, optimizer, {"update": counters["iteration"], **counters}, extras)

    def load_checkpoint(self, agent: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Restore the model, optimizer and everything kept with `keep_in_checkpoint`; returns the counters."""
        counters = load_checkpoint(self.checkpoint_dir, agent, optimizer)
        for name, (_, load) in self._extras.items():
            if not isinstance(counters.get(name), dict):
                raise CheckpointError(f"{self.checkpoint_dir / STATE_JSON} holds no {name!r}, which this trainer "
                                      f"keeps in its checkpoints")
            load(self.checkpoint_dir, counters.pop(name))
        return counters

    def load_start(self, learner: nn.Module, optimizer: torch.optim.Optimizer, policy: Policy) -> None:
        """For a new run starting from a saved agent (`start`): its training state into `learner` and `optimizer`
        when it has one (this run keeps its own learning rate), else its policy's weights into `policy`, the part
        of `learner` that acts (the optimizer starts afresh). Nothing without a `start`."""
        start = self.start
        if start is None:
            return
        saved = load_policy(start.policy)
        if load_json(Path(start.policy) / CONFIG)["weights_sha256"] != start.policy_sha256:
            raise RunError(f"{start.policy} is not the policy {start.agent} records (replaced or changed)")
        theirs = (type(saved).__name__, saved.obs_mode, saved.n_actions, saved.hidden)
        ours = (type(policy).__name__, policy.obs_mode, policy.n_actions, policy.hidden)
        if theirs != ours:
            raise RunError(f"{start.agent}'s policy is a {theirs[0]} reading {theirs[1]} observations with {theirs[2]} "
                           f"actions and hidden {theirs[3]}; this run's is a {ours[0]} reading {ours[1]} with {ours[2]} "
                           f"and hidden {ours[3]}: a run starting from a saved agent keeps its network settings")
        if start.trainer is None:
            policy.load_state_dict(saved.state_dict())
            return
        state = read_counters(start.trainer)
        if state is None or state["sha256"] != start.trainer_sha256:
            raise RunError(f"{start.trainer} is not the training state {start.agent} records (missing or changed)")
        load_weights_and_moments(start.trainer, learner, optimizer)

    def finish(self, agent: nn.Module) -> dict[str, Any]:
        """Save the final policy and `summary.json` (the last evaluation) once the budget is spent."""
        agent.save(self.path / "policy")
        evals = read_csv(self.path / "eval.csv", RunError)
        summary = {"method": self.info["method"], "task": self.info["task"], "seed": self.info["seed"],
                   "final": {k: float(v) for k, v in evals[-1].items() if v} if evals else None,
                   "best_success_rate": max((float(r["success_rate"]) for r in evals), default=None),
                   "policy_sha256": load_json(self.path / "policy" / CONFIG)["weights_sha256"],
                   "checkpoint_sha256": (read_counters(self.checkpoint_dir) or {}).get("sha256")}
        save_json(self.path / "summary.json", summary)
        return summary

    def close(self) -> None:
        self.logs.close()
