"""`ptgm train-flat --algo sac`: SAC on a world's continuous actions, the flat baseline of PTGM-Kitchen.

Its actor's log-likelihood is the squashed Gaussian's; it learns a 1-D point world (move to a target) far above
its untrained self; an interrupted run resumed from its checkpoint ends with the same weights, replay buffer and
losses as one that never stopped; a short Kitchen run writes a run folder `ptgm report` and the Python API read;
and bad settings are one-line errors."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from ptgm.cli import main
from ptgm.envs import WORLDS, SymbolicLayout, World, WorldSpec, get_world, register_world
from ptgm.io import load_json
from ptgm.rl.policies import SquashedGaussianPolicy, load_policy

POINT = WorldSpec(
    name="point", action_names=("move",), achievements=("arrive",), items=(), item_max=0, id_names=(),
    symbolic_layout=SymbolicLayout(view_shape=(0, 0), n_ids=0, n_items=0, extras=("x", "target")),
    pixel_shape=(), default_max_steps=10, obs_modes=("symbolic",), symbolic_dtype="float32", action_shape=(1,))
FIXED = dataclasses.replace(POINT, name="point_fixed")
TASKS = """\
reach:  # -|x - target| each step; success once within 0.1 of it; always 10 steps
  success: [arrive]
  reward: native
  max_steps: 10
  end_on_success: false
"""


class Point(gym.Env):
    """x and a target, both drawn in [-1, 1] per episode (`fixed`: x = -0.5 and the target 0.5 always); the action
    a in [-1, 1] moves x by 0.5 a; the reward is -|x - target|."""

    fixed = False

    def __init__(self, obs_mode: str = "symbolic", max_steps: int | None = None):
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.world_seed = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.world_seed = int(seed)
        self.x, self.target = (-0.5, 0.5) if self.fixed else self.np_random.uniform(-1, 1, 2)
        self.unlocked = np.zeros(1, bool)
        return self._obs(), self._info(np.zeros(1, bool))

    def step(self, action):
        self.x = float(np.clip(self.x + 0.5 * float(np.clip(action, -1, 1)[0]), -1.5, 1.5))
        distance = abs(self.x - self.target)
        now = np.array([distance < 0.1])
        self.unlocked |= now
        return self._obs(), -distance, False, False, self._info(now)

    def _obs(self) -> np.ndarray:
        return np.array([self.x, self.target], np.float32)

    def _info(self, now: np.ndarray) -> dict:
        return {"symbolic": self._obs(), "inventory": np.zeros(0, np.uint8), "achievements": now,
                "unlocked": self.unlocked.copy()}


class FixedPoint(Point):
    fixed = True


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def point(tmp_path):
    tasks = tmp_path / "point_tasks.yaml"
    tasks.write_text(TASKS)
    register_world("point", World(spec=POINT, make_env=Point, tasks_file=tasks))
    register_world("point_fixed", World(spec=FIXED, make_env=FixedPoint, tasks_file=tasks))
    yield
    del WORLDS["point"], WORLDS["point_fixed"]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def point_args(out: Path, steps: int, world: str = "point") -> list[str]:
    return ["train-flat", "--algo", "sac", "--world", world, "--task", "reach", "--out", str(out),
            "--steps", str(steps), "--n-envs", "2", "--steps-per-iter", "20", "--hidden", "32", "--lr", "1e-3",
            "--gamma", "0.9", "--batch-size", "64", "--sac-learning-starts", "200", "--eval-every", "1000",
            "--eval-episodes", "20", "--checkpoint-every", "1000", "--vector", "sync", "--no-progress"]


def test_the_actors_log_likelihood_is_the_squashed_gaussians_and_stays_finite_at_the_edge():
    torch.manual_seed(0)
    actor = SquashedGaussianPolicy(POINT, "symbolic", 3, hidden=16)
    obs = torch.randn(256, 2)
    with torch.no_grad():
        actor.head.weight.normal_(0, 0.3)  # means and spreads away from the box's edge, where atanh is exact
        actions, log_prob = actor.rsample(obs)
        dist = actor.distribution(obs)
    reference = TransformedDistribution(Normal(dist.mean.double(), dist.stddev.double()), [TanhTransform()])
    assert (actions.abs() < 0.999).all() and actions.abs().max() > 0.5
    torch.testing.assert_close(log_prob.double(), reference.log_prob(actions.double()).sum(-1), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(actor.sample(dist, deterministic=True), torch.tanh(dist.mean))

    with torch.no_grad():
        actor.head.weight.normal_(0, 30.0)  # means far outside: tanh saturates to exactly +-1 in float32
        actions, log_prob = actor.rsample(obs)
    assert (actions.abs() == 1).any() and torch.isfinite(log_prob).all()


def test_flat_sac_moves_a_point_to_its_target(point, tmp_path, capsys):
    out = tmp_path / "learn"
    assert main([*point_args(out, 1500), "--eval-every", "1500", "--sac-alpha", "0.2"]) == 0
    assert "flat[sac] on reach (seed 0): final success" in capsys.readouterr().out
    evals = rows(out / "eval.csv")
    assert [int(r["env_steps"]) for r in evals] == [0, 1500]
    before, after = evals[0], evals[-1]
    # Untrained, the policy barely moves (its mean is near 0): the return is ten times the start's distance.
    assert float(before["episode_return"]) < -4 and float(before["success_rate"]) < 0.3
    assert float(after["episode_return"]) > -3 and float(after["success_rate"]) >= 0.8
    progress = rows(out / "progress.csv")
    assert int(progress[-1]["charts/buffer_size"]) == 1500 and float(progress[-1]["charts/alpha"]) < 0.2
    policy = load_policy(out / "policy")
    assert isinstance(policy, SquashedGaussianPolicy) and policy.meta["algo"] == "sac" and policy.n_actions == 1


def test_an_interrupted_run_resumes_to_the_same_weights_buffer_and_losses(point, tmp_path):
    """The fixed point ignores its seed and every iteration is one whole 10-step episode per env, so the worlds a
    resumed run restarts in are the ones the uninterrupted run met: the two must end identical."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    args = ["--sac-learning-starts", "40", "--eval-every", "100", "--eval-episodes", "2"]
    assert main([*point_args(straight, 400, "point_fixed"), *args]) == 0
    assert main([*point_args(stopped, 200, "point_fixed"), *args]) == 0  # stops with a checkpoint at 200
    assert load_json(stopped / "checkpoint" / "state.json")["env_steps"] == 200
    assert main([*point_args(stopped, 400, "point_fixed"), *args]) == 0  # resumes

    def policy_sha(run: Path) -> str:
        return load_json(run / "policy" / "config.json")["weights_sha256"]

    assert policy_sha(stopped) == policy_sha(straight)
    state, state2 = (load_json(r / "checkpoint" / "state.json") for r in (straight, stopped))
    assert state["replay"] == state2["replay"] and state["replay"]["size"] == 400
    assert state["sha256"] == state2["sha256"]  # every network, alpha, Adam's moments and the RNG
    assert {k: state[k] for k in ("iteration", "updates", "decisions", "updates_due")} == \
           {k: state2[k] for k in ("iteration", "updates", "decisions", "updates_due")}
    learnt = [{k: v for k, v in r.items() if k.startswith("losses/")} for r in rows(straight / "progress.csv")]
    assert learnt == [{k: v for k, v in r.items() if k.startswith("losses/")} for r in rows(stopped / "progress.csv")]
    assert len(learnt) == 20 and learnt[-1]["losses/qf_loss"] != ""


def test_the_api_saves_a_flat_sac_with_its_training_state_and_learns_on_from_it(point, tmp_path):
    from ptgm.api import FlatPPO

    settings = {"world": "point", "algo": "sac", "n_envs": 2, "steps_per_iter": 20, "hidden": 32, "batch_size": 16,
                "sac_learning_starts": 20, "eval_every": 1000, "eval_episodes": 2, "vector": "sync", "progress": False}
    saved = FlatPPO("reach", out=str(tmp_path / "run"), **settings).learn(100).save(tmp_path / "saved")
    record = load_json(saved / "agent.json")
    assert record["trainer"]["algo"] == "sac" and record["env_steps"] == 100
    agent = FlatPPO.load(saved, out=str(tmp_path / "more")).learn(60)
    started = load_json(tmp_path / "more" / "run.json")["started_from"]
    assert started["trainer_sha256"] == record["trainer"]["sha256"]  # its Q networks, targets, alpha and moments
    action, _ = agent.predict(np.array([0.0, 0.5], np.float32))
    assert action.shape == (1,) and -1 <= float(action[0]) <= 1


@pytest.mark.parametrize("flags, says", [
    (["--algo", "foo"], "--algo 'foo' is unknown; valid: ppo, sac"),
    (["--algo", "sac", "--world", "crafter", "--task", "wood"], "--algo sac is over continuous actions"),
    (["--algo", "ppo"], "pass --algo sac"),
    (["--sac-alpha", "0"], "--sac-alpha must be a number > 0"),
    (["--sac-tau", "2"], "--sac-tau must be in (0, 1]"),
])
def test_bad_flat_settings_are_one_line_errors(point, tmp_path, capsys, flags, says):
    out = tmp_path / "bad"
    assert main([*point_args(out, 100), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not out.exists()


def test_flat_sac_on_kitchen_writes_a_run_that_report_and_the_api_read(tmp_path, capsys):
    pytest.importorskip("gymnasium_robotics")
    from ptgm.api import FlatPPO

    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("microwave_short: {success: [microwave], max_steps: 12, reward: each}\n")
    out = tmp_path / "flat-sac"
    assert main(["train-flat", "--algo", "sac", "--world", "kitchen", "--task", "microwave_short", "--tasks-file",
                 str(tasks), "--out", str(out), "--steps", "48", "--n-envs", "2", "--steps-per-iter", "8",
                 "--hidden", "32", "--batch-size", "16", "--sac-learning-starts", "16", "--eval-every", "24",
                 "--eval-episodes", "2", "--vector", "sync", "--no-progress"]) == 0
    for name in ("run.json", "config.yaml", "progress.csv", "eval.csv", "summary.json", "policy/config.json",
                 "checkpoint/state.json"):
        assert (out / name).is_file(), name
    assert any((out / "tb").iterdir())
    assert load_json(out / "run.json")["method"] == "flat[sac]"
    state = load_json(out / "checkpoint" / "state.json")
    replay = (out / "checkpoint" / state["replay"]["file"])
    assert replay.is_file() and state["replay"]["size"] == 48
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| microwave_short | flat[sac] | 1 | 48 |" in table, table

    agent = FlatPPO.load(out)
    obs = np.zeros(get_world("kitchen").symbolic_layout.size, np.float32)
    action, _ = agent.predict(obs, deterministic=True)
    assert action.shape == (9,) and action.dtype == np.float32 and np.abs(action).max() <= 1
    batch, _ = agent.predict(np.stack([obs, obs]))
    assert batch.shape == (2, 9)
