"""ptgm from Python, in the shape of Stable-Baselines3: `load`, `learn`, `predict`, `save`.

    agent = PTGM("runs/default", task="stone")     # a pre-training: low-level policy, codebook, prior
    agent.learn(total_timesteps=50_000)            # `ptgm train-high`, into the run folder `out`
    action, state = agent.predict(obs, state)      # one env action; the code is held k steps in `state`
    agent.save("stone-agent"); agent = PTGM.load("stone-agent")

- `Pretraining` is the frozen part, loaded from a pre-training folder (`ptgm run --out`), a
  `ptgm train-high` run folder or a saved agent; `LowLevel` and `Prior` are its two policies alone.
- `PTGM` adds the high-level policy over codes; `FlatPPO` is the baseline on primitive actions (PPO, or
  SAC on continuous actions with `algo="sac"`).
  `learn` is the trainer the CLI runs (`train_high`, `train_flat`): same run folder, logs, evaluation
  and checkpoints, and calling it again with a larger budget resumes that run. Callbacks
  (`ptgm.rl.callbacks`) are told of its iterations, evaluations and checkpoints.
- `save(path)` writes a folder: `agent.json` (what made it, its settings, the checksum of every
  model), `policy/`, `trainer/` (the training state the policy finished with: the learner's weights
  and optimizer moments, as a checkpoint) and, for PTGM, `low/`, `codebook/`, `prior/` (and
  `encoder/`) copied as the stages wrote them. So a saved PTGM agent is itself a pre-training folder.
  `load` checks each file against the checksums and shapes it records.
- A loaded saved agent learns on as in SB3 (`PTGM.load(path).learn(n)`): in a new run folder that
  starts from its weights and training state (`_Agent.learn` says what is kept and how steps count).

Observations are what the world's env returns: one (a single env; the action is an int) or a batch
(N envs; the actions an array). An agent whose networks read both the pixels and the symbolic view
takes a dict {mode: observation}; `agent.obs_mode` is the mode to make its env in.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptgm.config import ConfigError, from_dict, load_yaml
from ptgm.envs import WorldSpec, env_obs_mode
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import GoalEmbedder
from ptgm.io import ArtifactError, load_json, provenance, require_keys, save_json
from ptgm.models.artifacts import CONFIG, WEIGHTS
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.pipeline.shipped import SHIPPED, check_shipped
from ptgm.pipeline.stages import Pretrained
from ptgm.rl.callbacks import Callback, as_callback
from ptgm.rl.hierarchical import GoalBox, low_level_actions, present_embedder
from ptgm.rl.policies import Policy, load_policy
from ptgm.rl.run import Start, final_checkpoint
from ptgm.rl.train_flat import FlatConfig, train_flat
from ptgm.rl.train_high import ALGOS, HighConfig, train_high
from ptgm.training.checkpoint import copy_checkpoint, read_counters

AGENT_FORMAT = "ptgm-agent/1"
FOLDERS = ("low", "codebook", "prior", "encoder")  # the pre-training's folders, as `ptgm train-high` takes them
AGENT_FILE = "agent.json"
TRAINER = "trainer"  # a saved agent's training state: a checkpoint (`ptgm.training.checkpoint`) without extras
# The files that make up each saved artefact (what its loader reads); logs and checkpoints are not copied.
ARTEFACT_FILES = {"low": (CONFIG, WEIGHTS), "prior": (CONFIG, WEIGHTS), "encoder": (CONFIG, WEIGHTS),
                  "codebook": ("codebook.json", "codebook.npz")}


class AgentError(ArtifactError):
    """A folder holds no agent or pre-training, or a saved agent's files disagree with what it records."""


# -- observations ----------------------------------------------------------------------------------------------------
def observations(world: WorldSpec, obs: np.ndarray | Mapping[str, np.ndarray],
                 modes: set[str]) -> tuple[dict[str, np.ndarray], bool]:
    """`obs` as a batch per observation mode, and whether it was one observation (not a batch)."""
    shapes = {"symbolic": (world.symbolic_layout.size,), "pixels": tuple(world.pixel_shape)}
    if isinstance(obs, Mapping):
        views = {k: np.asarray(v) for k, v in obs.items()}
    else:
        obs = np.asarray(obs)
        mode = next((m for m, s in shapes.items() if obs.shape[-len(s):] == s), None)
        if mode is None:
            raise ValueError(f"an observation of shape {obs.shape} is neither {world.name}'s symbolic "
                             f"{shapes['symbolic']} nor its pixels {shapes['pixels']}")
        views = {mode: obs}
    missing = sorted(modes - views.keys())
    if missing:
        raise ValueError(f"this agent reads {' and '.join(sorted(modes))} observations; pass a dict by mode with "
                         f"{', '.join(missing)} too (a pixel env's info['symbolic'] holds the symbolic view)")
    single = {views[m].shape == shapes[m] for m in modes}
    if len(single) != 1:
        raise ValueError("pass one observation per mode, or batches of the same size")
    single_obs = single.pop()
    batch = {m: views[m][None] if single_obs else views[m] for m in modes}
    for m, v in batch.items():
        if v.shape[1:] != shapes[m]:
            raise ValueError(f"{m} observations of shape {v.shape[1:]}, expected {shapes[m]}")
    # The world's own dtypes: bytes for grids and images, floats for a state vector (Kitchen).
    dtypes = {"symbolic": np.dtype(world.symbolic_dtype), "pixels": np.dtype(np.uint8)}
    return {m: np.ascontiguousarray(v, dtypes[m]) for m, v in batch.items()}, single_obs


def _one(actions: np.ndarray) -> int | np.ndarray:
    """The action of a batch of one: an int id, or a continuous action vector."""
    return actions[0] if actions.ndim > 1 else int(actions[0])


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))  # in the world's dtype already (`observations`)


def _copy_artefact(source: str | Path, target: Path, kind: str) -> None:
    """The files of artefact `kind` (ARTEFACT_FILES) from `source` into `target`; none when they are the same folder
    (an agent saved again where it was loaded from)."""
    target.mkdir(parents=True, exist_ok=True)
    if Path(source).resolve() == target.resolve():
        return
    for name in ARTEFACT_FILES[kind]:
        shutil.copyfile(Path(source) / name, target / name)


def run_input(root: Path, settings: dict[str, Any], name: str) -> str | None:
    """Input folder `name` of the run in `root`, as its config records it. A relative path is relative to where the
    run was started, which the run's own recorded `out` tells: a run recording out 'runs/x' found at /a/runs/x was
    started in /a."""
    recorded = settings.get(name)
    if recorded is None or Path(recorded).is_absolute() or Path(recorded).exists():
        return recorded
    out = Path(settings.get("out") or "").parts
    here = root.resolve().parts
    if out and here[-len(out):] == out:
        return str(Path(*here[: -len(out)], recorded))
    return recorded


# -- the frozen pre-training -----------------------------------------------------------------------------------------
@dataclass
class Pretraining:
    """The frozen pre-trained models PTGM builds on, and the folders they were loaded from."""

    low: LowLevelPolicy  # pi_L(a | s, g), the goal-conditioned policy
    codebook: Codebook  # the goals the high-level policy chooses from
    prior: GoalPrior | None  # pi_P(i | s); None when the folder has none (PTGM then needs goal_prior=False)
    embedder: GoalEmbedder | None  # the goal embedder, for a low-level policy reading goals relative to the present
    folders: dict[str, str | None] = field(default_factory=dict)  # low, codebook, prior, encoder: as train-high takes them

    @classmethod
    def load(cls, folder: str | Path) -> "Pretraining":
        """From a pre-training folder (`ptgm run --out`: low/, codebook/, prior/), a `ptgm train-high` run folder
        (the folders its config names) or a saved PTGM agent."""
        root = Path(folder)
        if not root.is_dir():
            raise AgentError(f"pre-training not found: {root} is not a folder")
        if (root / "run.json").is_file():
            run = load_json(root / "run.json", "run description", AgentError)
            if run.get("command") != "ptgm train-high":
                raise AgentError(f"{root} is a {run.get('command') or 'training'} run, which builds on no pre-training")
            settings = load_yaml(root / "config.yaml")
            folders = {k: run_input(root, settings, k) for k in FOLDERS}
        else:
            layout = Pretrained(root)
            folders = {"low": str(layout.low), "codebook": str(layout.codebook),
                       "prior": str(layout.prior) if layout.prior.is_dir() else None,
                       "encoder": str(layout.encoder) if layout.encoder.is_dir() else None}
            if not layout.low.is_dir() or not layout.codebook.is_dir():
                raise AgentError(f"{root} holds no pre-training: give a `ptgm run` --out folder (with low/, codebook/ "
                                 f"and prior/), a `ptgm train-high` run folder or a saved agent")
        codebook = Codebook.load(folders["codebook"])
        low = LowLevelPolicy.load(folders["low"], codebook.embedder)
        codebook.check(low.embedder, low.goal_dim)
        prior = GoalPrior.load(folders["prior"], codebook) if folders["prior"] else None
        embedder = present_embedder(low, codebook, low.world, folders["encoder"])
        return cls(low, codebook, prior, embedder, folders)

    @classmethod
    def shipped(cls) -> "Pretraining":
        """The pre-trained Crafter models shipped in the package (`ptgm.pipeline.shipped`), checked against their
        manifest first."""
        check_shipped(SHIPPED)
        return cls.load(SHIPPED)

    @property
    def world(self) -> WorldSpec:
        return self.low.world

    def models(self) -> dict[str, str | None]:
        """The identity of each model (weights checksum; the codebook's fingerprint), as run.json records them."""
        sha = lambda name: load_json(Path(self.folders[name]) / CONFIG)["weights_sha256"] if self.folders.get(name) else None
        return {"low": sha("low"), "codebook": self.codebook.fingerprint, "prior": sha("prior"),
                "encoder": sha("encoder")}

    def save(self, out: Path) -> None:
        """Copy each artefact's files (as its stage wrote them, provenance and checksums included) under `out`."""
        for name, source in self.folders.items():
            if source is not None:
                _copy_artefact(source, out / name, name)


class LowLevel:
    """The pre-trained low-level policy alone: `predict(obs, goal)` towards a code, a goal vector or no goal."""

    def __init__(self, pretraining: Pretraining, cond_scale: float = 0.0, seed: int = 0):
        self.pretraining, self.cond_scale = pretraining, cond_scale
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def load(cls, folder: str | Path, **kwargs: Any) -> "LowLevel":
        """From anything `Pretraining.load` reads; `cond_scale`, `seed` as keywords."""
        return cls(Pretraining.load(folder), **kwargs)

    @property
    def obs_mode(self) -> str:
        pre = self.pretraining
        return env_obs_mode([pre.low.obs_mode] + ([pre.embedder.needs] if pre.embedder else []))

    @torch.no_grad()
    def predict(self, obs: np.ndarray | Mapping[str, np.ndarray], goal: int | np.ndarray | None = None,
                deterministic: bool = False) -> tuple[int | np.ndarray, None]:
        """(action, None). `goal`: a code index (int, or one per env), a goal vector (D,) or (N, D), or None for
        the unconditional policy (the clone of the data's player)."""
        pre = self.pretraining
        modes = {pre.low.obs_mode} | ({pre.embedder.needs} if pre.embedder else set())
        views, single = observations(pre.world, obs, modes)
        actions = act_low(pre, views, goal_vectors(pre.codebook, goal, len(views[pre.low.obs_mode])),
                          self.cond_scale, deterministic, self.generator)
        return (_one(actions) if single else actions), None


def goal_vectors(codebook: Codebook, goal: int | np.ndarray | None, n: int) -> np.ndarray | None:
    """(n, D) goal vectors for `goal`: code indices, goal vectors or None."""
    if goal is None:
        return None
    goal = np.asarray(goal)
    if goal.dtype.kind in "iu":
        codes = np.broadcast_to(goal, (n,))
        if codes.min() < 0 or codes.max() >= codebook.n_codes:
            raise ValueError(f"codes must be in [0, {codebook.n_codes}), got {goal}")
        return codebook.codes[codes]
    if goal.shape[-1] != codebook.dim:
        raise ValueError(f"goal vectors have dimension {codebook.dim}, got shape {goal.shape}")
    return np.broadcast_to(goal.astype(np.float32), (n, codebook.dim))


def act_low(pre: Pretraining, views: dict[str, np.ndarray], goals: np.ndarray | None, cond_scale: float,
            deterministic: bool, generator: torch.Generator) -> np.ndarray:
    """The low-level policy's actions towards `goals` (None: its unconditional policy), as the hierarchical env
    takes them (`ptgm.rl.hierarchical.HierarchicalVecEnv.step`)."""
    if goals is None:
        obs = _tensor(views[pre.low.obs_mode])
        return pre.low.act(obs, torch.zeros(len(obs), pre.low.goal_dim), deterministic=deterministic,
                           generator=generator, unconditional=True).numpy()
    return low_level_actions(pre.low, pre.embedder, views, torch.as_tensor(np.ascontiguousarray(goals)), cond_scale,
                             deterministic, generator).numpy()


class Prior:
    """The pre-trained goal prior alone: which code the data's player would pursue next from a state."""

    def __init__(self, pretraining: Pretraining, seed: int = 0):
        if pretraining.prior is None:
            raise AgentError(f"{pretraining.folders.get('low')}: this pre-training has no goal prior")
        self.pretraining = pretraining
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def load(cls, folder: str | Path, **kwargs: Any) -> "Prior":
        return cls(Pretraining.load(folder), **kwargs)

    @torch.no_grad()
    def probabilities(self, obs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """pi_P(. | s): (n_codes,) for one observation, (N, n_codes) for a batch."""
        prior = self.pretraining.prior
        views, single = observations(self.pretraining.world, obs, {prior.obs_mode})
        probs = torch.softmax(prior(_tensor(views[prior.obs_mode])), dim=1).numpy()
        return probs[0] if single else probs

    def predict(self, obs: np.ndarray | Mapping[str, np.ndarray],
                deterministic: bool = False) -> tuple[int | np.ndarray, None]:
        """(code, None): a code drawn from the prior (its most likely one when `deterministic`)."""
        probs = self.probabilities(obs)
        batch = torch.from_numpy(np.atleast_2d(probs))
        codes = batch.argmax(1) if deterministic else torch.multinomial(batch, 1, generator=self.generator).squeeze(1)
        return (int(codes[0]) if probs.ndim == 1 else codes.numpy()), None


def _not_found(root: Path) -> AgentError:
    """The error for a folder that holds no agent."""
    if not root.is_dir():
        return AgentError(f"agent not found: {root} is not a folder")
    return AgentError(f"agent not found: {root} holds neither {AGENT_FILE} (a saved agent) nor run.json (a training "
                      f"run)")


# -- agents that learn -------------------------------------------------------------------------------------------------
class _Agent:
    """What PTGM and flat PPO share: settings, the policy, `learn` through the CLI's trainer, saving."""

    KIND = ""  # agent.json's `kind`
    COMMAND = ""  # the CLI command whose run folders hold this kind of agent
    CONFIG: type = HighConfig

    def __init__(self, settings: dict[str, Any], policy: Policy | None):
        self.settings = settings
        if settings.get("task"):
            self.config(1)  # refuse bad settings now, not at the first `learn`
        self.policy = policy
        self.run_path: Path | None = None  # the run folder `learn` wrote
        self.saved_in: Path | None = None  # the folder a saved agent was loaded from, until it learns on
        self.saved_record: dict[str, Any] | None = None  # that folder's agent.json
        self.start: Start | None = None  # the saved agent `learn` starts from (kept, so a second learn resumes)
        self.generator = torch.Generator().manual_seed(int(settings.get("seed", 0)))

    def config(self, total_timesteps: int) -> Any:
        cfg = from_dict(self.CONFIG, {**self.settings, "steps": total_timesteps}, f"{type(self).__name__} settings")
        cfg.validate()
        return cfg

    def _train(self, cfg: Any, callback: Callback | None, start: Start | None) -> Path:
        raise NotImplementedError

    def learn(self, total_timesteps: int, callback: Callback | Sequence[Callback] | None = None) -> "_Agent":
        """Train until the run in `out` has `total_timesteps` env steps; called again with a larger budget, it
        resumes that run.

        An agent loaded from a saved agent (`load(saved)`) learns on as SB3's `PPO.load(path).learn(n)` does, in a
        new run folder: `out` (`load(saved, out=...)`; by default runs/<method>-<task>-s<seed>-from-<the saved
        folder's name>), never the saved folder itself. That run starts from the saved policy's weights and, when
        the agent was saved with its training state for the same learner (`algo`), from that state too: PPO's
        Adam moments, SAC's Q networks, targets, alpha and moments (not SAC's replay buffer, which refills before
        its first update); the run's own settings (lr, ...) apply. Its env steps count from 0, as in SB3's default
        `reset_num_timesteps=True`: `total_timesteps` is the new run's budget and its charts and evaluations start
        at 0; its run.json records the saved agent it started from (`started_from`: path, weights sha256, and the
        env steps it had been trained for). Interrupted, it resumes from its own checkpoint."""
        cfg = self.config(total_timesteps)
        if self.saved_in is not None and self.start is None:
            self.start = self._start(cfg)
        self.run_path = self._train(cfg, as_callback(callback), self.start)
        self.settings["out"] = str(self.run_path)
        self.policy = load_policy(self.run_path / "policy")
        self.saved_in = self.saved_record = None  # its policy and training state are now the new run's
        return self

    def _start(self, cfg: Any) -> Start:
        """Where a loaded saved agent's new run starts: its policy and, for the same learner, its training state."""
        record, root = self.saved_record, self.saved_in.resolve()
        trainer = record.get(TRAINER)
        same = isinstance(trainer, dict) and trainer.get("algo") == getattr(cfg, "algo", "ppo")
        return Start(agent=str(root), policy=str(root / "policy"), policy_sha256=record["models"]["policy"],
                     env_steps=record.get("env_steps"), trainer=str(root / TRAINER) if same else None,
                     trainer_sha256=trainer.get("sha256") if same else None)

    def _require_policy(self) -> Policy:
        if self.policy is None:
            raise AgentError(f"this {type(self).__name__} has no trained policy yet: call learn() first")
        return self.policy

    def _agent_record(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | Path) -> Path:
        """`agent.json` + `policy/` (+ `trainer/`, the pre-training's artefacts); agent.json is written last (the
        commit point)."""
        out = Path(path)
        policy = self._require_policy()
        if out.exists() and not out.is_dir():
            raise AgentError(f"cannot save into {out}: it is a file")
        if (out / "run.json").is_file():
            raise AgentError(f"cannot save into {out}: it holds a training run; give another folder")
        self._save_models(out)
        policy.save(out / "policy")
        sha = load_json(out / "policy" / CONFIG)["weights_sha256"]
        trainer, algo = self._training_state(sha)
        if trainer is None:
            shutil.rmtree(out / TRAINER, ignore_errors=True)  # another agent's, saved here before
            state = None
        elif trainer.resolve() == (out / TRAINER).resolve():  # saved again where it was loaded from
            state = read_counters(trainer)
        else:
            state = copy_checkpoint(trainer, out / TRAINER)
        save_json(out / AGENT_FILE, {
            "format": AGENT_FORMAT, "kind": self.KIND, "world": policy.world.name, "settings": self.settings,
            "models": {"policy": sha, **self._agent_record()},
            "trained_in": None if self.run_path is None else str(self.run_path),
            "env_steps": None if state is None else state.get("env_steps"),
            TRAINER: None if state is None else {"sha256": state["sha256"], "algo": algo},
            "provenance": provenance(f"ptgm.api {type(self).__name__}.save")})
        return out

    def _training_state(self, policy_sha256: str) -> tuple[Path | None, str | None]:
        """(the checkpoint holding the training state this policy, `policy_sha256`, finished with, and the learner
        it is of: ppo or sac): a saved agent's own `trainer/`, or the last checkpoint of the run that trained it
        while that run still ends with it. (None, None) when there is none."""
        if self.saved_in is not None:
            trainer = (self.saved_record or {}).get(TRAINER)
            return (self.saved_in / TRAINER, trainer["algo"]) if trainer else (None, None)
        checkpoint = None if self.run_path is None else final_checkpoint(self.run_path, policy_sha256)
        if checkpoint is None:
            return None, None
        return checkpoint, str(load_yaml(self.run_path / "config.yaml").get("algo", "ppo"))  # what it was trained with

    def _save_models(self, out: Path) -> None:
        pass

    @classmethod
    def _open(cls, root: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """(settings, the models it records, agent.json or None) of a saved agent of this kind or of a finished run
        of this kind's command."""
        command = cls.COMMAND
        if (root / AGENT_FILE).is_file():
            record = load_json(root / AGENT_FILE, "saved agent", AgentError, required=("format",))
            if record["format"] != AGENT_FORMAT:
                raise AgentError(f"{root}: not a saved ptgm agent (format {record['format']!r}, expected {AGENT_FORMAT!r})")
            require_keys(record, ("kind", "world", "settings", "models"), f"saved agent {root / AGENT_FILE}", AgentError)
            if record["kind"] != cls.KIND:
                raise AgentError(f"{root} holds a saved {record['kind']!r} agent, not a {cls.KIND!r} one")
            if not isinstance(record["settings"], dict) or not isinstance(record["models"], dict):
                raise AgentError(f"{root / AGENT_FILE}: 'settings' and 'models' must be mappings")
            return dict(record["settings"]), record["models"], record
        if (root / "run.json").is_file():
            run = load_json(root / "run.json", "run description", AgentError)
            if run.get("command") != command:
                raise AgentError(f"{root} is a {run.get('command')!r} run, not a {command!r} one")
            return load_yaml(root / "config.yaml"), run.get("models") or {}, None
        raise _not_found(root)

    @staticmethod
    def _learn_settings(root: Path, settings: dict[str, Any], record: dict[str, Any] | None,
                        changes: dict[str, Any]) -> dict[str, Any]:
        """A loaded agent's settings with `changes` over them. A run folder's `learn` goes on with that run (which
        refuses changes its resume rule forbids); a saved agent's starts a new run, in `out` when one is given."""
        if record is not None:
            return {**settings, "out": None, **changes}
        if "out" in changes and Path(changes["out"]).resolve() != root.resolve():
            raise AgentError(f"{root} is a training run, whose learn() goes on in that folder; to start a new run "
                             f"from its policy, save the agent (agent.save(path)) and load that with out=...")
        return {**settings, **changes, "out": str(root)}

    def _loaded_from(self, root: Path, record: dict[str, Any] | None) -> "_Agent":
        """This agent, as loaded from `root` (a saved agent when `record`, its agent.json, is given)."""
        self.run_path = self._trained_in(root, record)
        if record is not None:
            self.saved_in, self.saved_record = root, record
        return self

    @staticmethod
    def _trained_in(root: Path, record: dict[str, Any] | None) -> Path | None:
        """The run folder the policy was trained in: the one loaded, or the one a saved agent records."""
        if record is None:
            return root
        return Path(record["trained_in"]) if record.get("trained_in") else None

    @staticmethod
    def _check_policy(root: Path, record: dict[str, Any] | None) -> Policy:
        """The final policy in `root/policy`, checked (with a saved agent's training state) against what a saved
        agent's agent.json records."""
        policy_dir = root / "policy"
        if not policy_dir.is_dir():
            raise AgentError(f"{root} has no final policy (policy/): the run has not finished; rerun its command "
                             f"to finish it")
        policy = load_policy(policy_dir)
        if record is not None:
            if record["models"].get("policy") != load_json(policy_dir / CONFIG)["weights_sha256"]:
                raise AgentError(f"{policy_dir} is not the policy {root / AGENT_FILE} records (replaced or changed)")
            trainer = record.get(TRAINER)
            if trainer is not None and (not isinstance(trainer, dict) or trainer.get("algo") not in ALGOS
                                        or (read_counters(root / TRAINER) or {}).get("sha256") != trainer.get("sha256")):
                raise AgentError(f"{root / TRAINER} is not the training state {root / AGENT_FILE} records (missing, "
                                 f"replaced or changed)")
            if record["world"] != policy.world.name:
                raise AgentError(f"{root / AGENT_FILE} names world {record['world']!r}, its policy plays "
                                 f"{policy.world.name!r}")
        return policy


@dataclass
class PTGMState:
    """What `PTGM.predict` carries from one step to the next, per env."""

    code: np.ndarray  # (N,) int64: the code being pursued (-1 for a continuous goal)
    goal: np.ndarray  # (N, D) float32: its goal vector, which the low-level policy reads
    steps_left: np.ndarray  # (N,) int64: env steps before the high-level policy chooses again

    @classmethod
    def start(cls, n: int, dim: int) -> "PTGMState":
        return cls(np.full(n, -1, np.int64), np.zeros((n, dim), np.float32), np.zeros(n, np.int64))

    def copy(self) -> "PTGMState":
        return PTGMState(self.code.copy(), self.goal.copy(), self.steps_left.copy())


class PTGM(_Agent):
    """A PTGM agent: the frozen pre-training and a high-level policy over its codes, learnt with PPO.

    `settings`: any of `ptgm train-high`'s (`ptgm.rl.train_high.HighConfig`: `n_envs`, `low_level_steps`,
    `kl_reward`, `out`, ...). Before `learn`, a PTGM loaded from a pre-training folder plays zero-shot: codes
    drawn from the goal prior."""

    KIND = "ptgm"
    COMMAND = "ptgm train-high"
    CONFIG = HighConfig

    def __init__(self, pretrained: Pretraining | str | Path, task: str = "", policy: Policy | None = None,
                 **settings: Any):
        self.pretraining = pretrained if isinstance(pretrained, Pretraining) else Pretraining.load(pretrained)
        folders = {k: self.pretraining.folders.get(k) for k in FOLDERS}
        other = sorted(k for k in FOLDERS if k in settings and settings[k] != folders[k])
        if other:
            raise ConfigError(f"{', '.join(other)} given besides the pre-training: PTGM reads them from its first "
                              f"argument (a pre-training folder or a Pretraining)")
        super().__init__({"task": task, **settings, **folders}, policy)
        self.goal_box = GoalBox(self.pretraining.codebook.codes) if policy is not None and policy.continuous else None
        if policy is not None:
            self._check_fits(policy)

    def _check_fits(self, policy: Policy) -> None:
        book = self.pretraining.codebook
        if policy.meta.get("codebook_fingerprint") != book.fingerprint:
            raise AgentError(f"the high-level policy was trained over codebook {policy.meta.get('codebook_fingerprint')}, "
                             f"the pre-training's is {book.fingerprint}")
        if policy.n_actions != (book.dim if policy.continuous else book.n_codes):
            raise AgentError(f"the high-level policy has {policy.n_actions} outputs, the codebook {book.n_codes} codes")

    def _train(self, cfg: HighConfig, callback: Callback | None, start: Start | None) -> Path:
        return train_high(cfg, callback, start)

    def learn(self, total_timesteps: int, callback: Callback | Sequence[Callback] | None = None) -> "PTGM":
        if not self.settings.get("task"):
            raise ConfigError("PTGM needs a task to learn: PTGM(pretrained, task='stone', ...)")
        super().learn(total_timesteps, callback)
        self._check_fits(self.policy)
        self.goal_box = GoalBox(self.pretraining.codebook.codes) if self.policy.continuous else None
        return self

    @property
    def low_level_steps(self) -> int:
        return int(self.settings.get("low_level_steps", HighConfig.low_level_steps))

    @property
    def obs_mode(self) -> str:
        """The observation mode to make this agent's env in (`ptgm.envs.make_env(obs_mode=...)`)."""
        return env_obs_mode(self._readers())

    def _readers(self) -> set[str]:
        pre = self.pretraining
        high = self.policy.obs_mode if self.policy is not None else pre.prior.obs_mode if pre.prior else pre.low.obs_mode
        return {high, pre.low.obs_mode} | ({pre.embedder.needs} if pre.embedder else set())

    @torch.no_grad()
    def predict(self, obs: np.ndarray | Mapping[str, np.ndarray], state: PTGMState | None = None,
                episode_start: np.ndarray | bool | None = None,
                deterministic: bool = False) -> tuple[int | np.ndarray, PTGMState]:
        """(env action, state). Every `low_level_steps` steps (and at an `episode_start`) the high-level policy picks
        a code, which the low-level policy then pursues. `deterministic` takes the most likely code; the low-level
        policy acts as it did in training (`low_deterministic`)."""
        pre = self.pretraining
        views, single = observations(pre.world, obs, self._readers())
        n = len(next(iter(views.values())))
        state = PTGMState.start(n, pre.codebook.dim) if state is None else state.copy()
        if len(state.steps_left) != n:
            raise ValueError(f"the state is for {len(state.steps_left)} envs, the observations for {n}")
        if episode_start is not None:
            state.steps_left[np.broadcast_to(np.asarray(episode_start, bool), (n,))] = 0
        choose = state.steps_left <= 0
        if choose.any():
            state.code[choose], state.goal[choose] = self._choose({m: v[choose] for m, v in views.items()},
                                                                  deterministic)
            state.steps_left[choose] = self.low_level_steps
        actions = act_low(pre, views, state.goal, float(self.settings.get("cond_scale", 0.0)),
                          bool(self.settings.get("low_deterministic", False)), self.generator)
        state.steps_left -= 1
        return (_one(actions) if single else actions), state

    def _choose(self, views: dict[str, np.ndarray], deterministic: bool) -> tuple[np.ndarray, np.ndarray]:
        """(code, goal vector) per row: from the high-level policy, or zero-shot from the prior before `learn`."""
        book = self.pretraining.codebook
        if self.policy is None:
            prior = self.pretraining.prior
            if prior is None:
                raise AgentError("this PTGM has neither a trained policy nor a goal prior to pick codes: call learn()")
            probs = torch.softmax(prior(_tensor(views[prior.obs_mode])), dim=1)
            codes = probs.argmax(1) if deterministic else torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
        else:
            dist = self.policy.distribution(_tensor(views[self.policy.obs_mode]))
            action = self.policy.sample(dist, deterministic, self.generator)
            if self.goal_box is not None:  # the continuous-goal ablation: the action is the goal itself
                return np.full(len(action), -1), self.goal_box(action).numpy()
            codes = action
        codes = codes.numpy()
        return codes, book.codes[codes]

    def _agent_record(self) -> dict[str, Any]:
        return self.pretraining.models()

    def _save_models(self, out: Path) -> None:
        self.pretraining.save(out)

    @classmethod
    def load(cls, path: str | Path, **changes: Any) -> "PTGM":
        """A saved agent, a finished `ptgm train-high` run, or a pre-training folder (a PTGM that has not learnt).
        `changes`: settings changed for what `learn` does next, as SB3's `load(path, **kwargs)` (`out` for a saved
        agent's new run; `_Agent._learn_settings`)."""
        root = Path(path)
        if root.is_dir() and not (root / AGENT_FILE).is_file() and not (root / "run.json").is_file():
            return cls(Pretraining.load(root), **changes)
        settings, recorded, record = cls._open(root)
        pre = Pretraining.load(root)
        differ = sorted(k for k, v in pre.models().items() if k in recorded and v != recorded[k])
        if differ:
            where = AGENT_FILE if record is not None else "run.json"
            raise AgentError(f"{root}: {', '.join(differ)} differ from what {where} records (replaced, changed, "
                             f"or trained again since)")
        for name in FOLDERS:  # the folders found (a saved agent: the copies beside it)
            settings[name] = pre.folders.get(name)
        agent = cls(pre, policy=cls._check_policy(root, record), **cls._learn_settings(root, settings, record, changes))
        return agent._loaded_from(root, record)


class FlatPPO(_Agent):
    """The baseline: PPO on the world's primitive actions, or with `algo="sac"` SAC on a continuous world's (Kitchen;
    `predict` then returns float action vectors). `settings`: any of `ptgm train-flat`'s
    (`ptgm.rl.train_flat.FlatConfig`)."""

    KIND = "flat"
    COMMAND = "ptgm train-flat"
    CONFIG = FlatConfig

    def __init__(self, task: str, policy: Policy | None = None, **settings: Any):
        super().__init__({"task": task, **settings}, policy)

    def _train(self, cfg: FlatConfig, callback: Callback | None, start: Start | None) -> Path:
        return train_flat(cfg, callback, start)

    @property
    def obs_mode(self) -> str:
        return self.policy.obs_mode if self.policy is not None else str(self.settings.get("obs_mode", "symbolic"))

    @torch.no_grad()
    def predict(self, obs: np.ndarray | Mapping[str, np.ndarray], state: None = None,
                episode_start: np.ndarray | bool | None = None,
                deterministic: bool = False) -> tuple[int | np.ndarray, None]:
        """(env action, None): sampled from the policy, or its most likely action when `deterministic`."""
        policy = self._require_policy()
        views, single = observations(policy.world, obs, {policy.obs_mode})
        dist = policy.distribution(_tensor(views[policy.obs_mode]))
        actions = policy.sample(dist, deterministic, self.generator).numpy()
        return (_one(actions) if single else actions), None

    @classmethod
    def load(cls, path: str | Path, **changes: Any) -> "FlatPPO":
        """A saved agent or a finished `ptgm train-flat` run. `changes`: settings changed for what `learn` does next,
        as `PTGM.load`'s."""
        root = Path(path)
        settings, _, record = cls._open(root)
        agent = cls(policy=cls._check_policy(root, record), **cls._learn_settings(root, settings, record, changes))
        return agent._loaded_from(root, record)


def load_agent(path: str | Path, **changes: Any) -> PTGM | FlatPPO:
    """The PTGM or flat agent a saved agent's folder (agent.json) or a finished run's folder (run.json) holds, loaded by
    its class's `load` with `changes`."""
    root = Path(path)
    classes = (PTGM, FlatPPO)
    if (root / AGENT_FILE).is_file():
        kind = load_json(root / AGENT_FILE, "saved agent", AgentError).get("kind")
        found = next((c for c in classes if c.KIND == kind), None)
        what = f"a saved {kind!r} agent"
    elif (root / "run.json").is_file():
        command = load_json(root / "run.json", "run description", AgentError).get("command")
        found = next((c for c in classes if c.COMMAND == command), None)
        what = f"a {command!r} run"
    else:
        raise _not_found(root)
    if found is None:
        raise AgentError(f"{root} holds {what}, not a PTGM or flat agent")
    return found.load(root, **changes)


__all__ = ["AgentError", "FlatPPO", "LowLevel", "PTGM", "PTGMState", "Pretraining", "Prior", "load_agent"]
