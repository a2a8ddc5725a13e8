"""`ptgm train-high` and `ptgm train-flat` end to end: a few iterations of each, the run directory,
learning beats chance, resume (also after a kill), and the errors a user can make."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ptgm.cli import main
from ptgm.envs import get_world, make_env
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.io import load_json
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.rl.policies import ActorCritic, load_policy
from ptgm.rl.ppo import PPOConfig, learn
from ptgm.rl.run import Run
from ptgm.envs.vector import EpisodeStats, Transition

WORLD = get_world("crafter")
EMBEDDER = make_embedder("state", WORLD)
TASKS = """
short_wood:
  success: [collect_wood]
  max_steps: 60
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained low-level policy, prior and a codebook of 6 real observations' goals, saved as the stages save them."""
    root = tmp_path_factory.mktemp("models")
    (root / "tasks.yaml").write_text(TASKS)
    env = make_env(obs_mode="symbolic")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    frames = [env.step(int(rng.integers(WORLD.n_actions)))[0] for _ in range(60)][::10]
    book = Codebook(EMBEDDER.embed(np.stack(frames)), EMBEDDER.settings(),
                    [{"episode": "ep-000000", "step": 10 * i} for i in range(6)])
    book.save(root / "codebook")
    torch.manual_seed(0)
    # relative goals, so train-high must build the goal embedder from the codebook
    LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32, goal_input="relative").save(root / "low")
    GoalPrior(WORLD, "symbolic", book.n_codes, book.fingerprint, hidden=32).save(root / "prior")
    return root


def common(models: Path, out: Path, steps: int = 300) -> list[str]:
    return ["--task", "short_wood", "--tasks-file", str(models / "tasks.yaml"), "--out", str(out), "--steps", str(steps),
            "--n-envs", "2", "--hidden", "32", "--eval-every", "150", "--eval-episodes", "3", "--no-progress"]


def high_args(models: Path) -> list[str]:
    return ["--low", str(models / "low"), "--codebook", str(models / "codebook"), "--prior", str(models / "prior"),
            "--low-level-steps", "5", "--steps-per-iter", "8", "--batch-size", "8", "--epochs", "2"]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_high_few_iterations(models, tmp_path, capsys):
    out = tmp_path / "high"
    assert main(["train-high", *common(models, out), *high_args(models)]) == 0
    assert "ptgm[k=5] on short_wood" in capsys.readouterr().out
    info = load_json(out / "run.json")
    assert info["method"] == "ptgm[k=5]" and info["models"]["codebook"] == Codebook.load(models / "codebook").fingerprint
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["kl_reward"] == 0.05 and config["low_level_steps"] == 5 and config["seed"] == 0
    progress = rows(out / "progress.csv")
    steps = [int(r["env_steps"]) for r in progress]
    assert steps == sorted(steps) and steps[-1] >= 300
    # 8 decisions per iteration of at most 5 env steps each
    assert all(0 < b - a <= 40 for a, b in zip([0, *steps], steps))
    # the policy starts at the prior (KL 0) and learning moves it away; how the KL enters the reward is
    # tests/test_rl_kl.py's subject
    kls = [float(r["charts/kl_to_prior"]) for r in progress]
    assert all(kl >= 0 for kl in kls) and max(kls) > 0
    assert all(1 <= float(r["charts/env_steps_per_decision"]) <= 5 for r in progress)
    evals = rows(out / "eval.csv")
    assert int(evals[0]["env_steps"]) == 0 and int(evals[-1]["env_steps"]) == steps[-1]
    assert all(int(r["episodes"]) == 3 for r in evals)
    policy = load_policy(out / "policy")
    assert policy.n_actions == 6 and policy.meta["low_level_steps"] == 5
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert load_json(out / "summary.json")["final"]["env_steps"] == steps[-1]


def test_train_high_ablations_name_themselves(models, tmp_path):
    out = tmp_path / "noprior"
    assert main(["train-high", *common(models, out, 100), *high_args(models), "--no-goal-prior",
                 "--initialize-with-prior"]) == 0
    assert load_json(out / "run.json")["method"] == "ptgm-no-prior[k=5,init-prior]"
    assert all(r["charts/kl_to_prior"] in ("", "nan") for r in rows(out / "progress.csv"))


def test_train_high_continuous_few_iterations(models, tmp_path):
    out = tmp_path / "cont"
    assert main(["train-high", *common(models, out, 150), *high_args(models), "--continuous"]) == 0
    assert load_json(out / "run.json")["method"] == "ptgm-continuous[k=5]"
    policy = load_policy(out / "policy")
    assert policy.continuous and policy.n_actions == EMBEDDER.dim


def test_train_flat_few_iterations(models, tmp_path):
    out = tmp_path / "flat"
    assert main(["train-flat", *common(models, out), "--steps-per-iter", "64", "--batch-size", "32"]) == 0
    assert load_json(out / "run.json")["method"] == "flat"
    progress = rows(out / "progress.csv")
    assert [int(r["env_steps"]) for r in progress] == [64 * i for i in range(1, len(progress) + 1)]
    assert [int(r["env_steps"]) for r in rows(out / "eval.csv")] == [0, 192, 320]
    assert load_policy(out / "policy").n_actions == WORLD.n_actions


def test_the_update_has_its_own_threads_and_acting_keeps_one(models, tmp_path, monkeypatch):
    """The env workers wait during the PPO update, so it may use every core; acting goes back to --threads."""
    from ptgm.rl import ppo

    seen: list[tuple[str, int]] = []
    update, rollout = ppo.ppo_update, ppo.collect_rollout

    def counting_update(*args, **kwargs):
        seen.append(("update", torch.get_num_threads()))
        return update(*args, **kwargs)

    def counting_rollout(*args, **kwargs):
        seen.append(("rollout", torch.get_num_threads()))
        return rollout(*args, **kwargs)

    monkeypatch.setattr(ppo, "ppo_update", counting_update)
    monkeypatch.setattr(ppo, "collect_rollout", counting_rollout)
    before = torch.get_num_threads()
    try:
        assert main(["train-flat", *common(models, tmp_path / "flat", steps=192), "--steps-per-iter", "64",
                     "--batch-size", "32", "--threads", "1", "--update-threads", "2"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [("rollout", 1), ("update", 2)] * 3
    assert yaml.safe_load((tmp_path / "flat" / "config.yaml").read_text())["update_threads"] == 2


def test_resume_continues_where_it_stopped(models, tmp_path):
    out = tmp_path / "resume"
    args = ["train-flat", *common(models, out, 256), "--steps-per-iter", "64", "--batch-size", "32"]
    assert main(args) == 0
    first = load_json(out / "checkpoint" / "state.json")
    assert (first["env_steps"], first["iteration"]) == (256, 4)
    weights = (out / "policy" / "weights.safetensors").read_bytes()
    args[args.index("--steps") + 1] = "448"
    assert main(args) == 0
    progress = rows(out / "progress.csv")
    assert [int(r["iteration"]) for r in progress] == list(range(1, 8))
    assert [int(r["env_steps"]) for r in progress] == [64 * i for i in range(1, 8)]
    assert [int(r["env_steps"]) for r in rows(out / "eval.csv")] == [0, 192, 256, 448]
    assert load_json(out / "checkpoint" / "state.json")["env_steps"] == 448
    assert (out / "policy" / "weights.safetensors").read_bytes() != weights
    # Running it again with nothing left to do changes nothing.
    assert main(args) == 0
    assert len(rows(out / "eval.csv")) == 4 and len(rows(out / "progress.csv")) == 7


def test_a_killed_run_resumes_from_its_last_checkpoint(models, tmp_path):
    out = tmp_path / "killed"
    args = ["train-flat", *common(models, out, 100_000), "--steps-per-iter", "64", "--batch-size", "32",
            "--checkpoint-every", "128", "--eval-every", "100000", "--vector", "sync"]
    proc = subprocess.Popen([sys.executable, "-m", "ptgm.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    state = out / "checkpoint" / "state.json"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (state.exists() and load_json(state)["env_steps"] >= 384):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        time.sleep(0.5)  # let it log past the checkpoint
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    checkpoint = load_json(state)
    assert checkpoint["env_steps"] >= 384
    resume_at = checkpoint["env_steps"]
    args[args.index("--steps") + 1] = str(resume_at + 128)
    assert main(args) == 0
    progress = rows(out / "progress.csv")
    assert [int(r["iteration"]) for r in progress] == list(range(1, len(progress) + 1))
    assert [int(r["env_steps"]) for r in progress] == [64 * i for i in range(1, len(progress) + 1)]
    assert int(progress[-1]["env_steps"]) == resume_at + 128


def test_a_resume_drops_an_evaluation_its_checkpoint_does_not_record(tmp_path):
    """Killed between an evaluation's eval.csv row and the checkpoint after it, a run redoes that evaluation on resume;
    the stale row must go, or eval.csv holds the step twice and `ptgm report` refuses it."""
    cfg = PPOConfig(task="short_wood", out=str(tmp_path))
    info = {"method": "flat", "task": "short_wood", "seed": 0, "models": {}}
    agent = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(agent.parameters())
    counters = {"iteration": 2, "env_steps": 128, "next_eval": 128, "last_eval": 0, "next_checkpoint": 192,
                "seconds": 1.0}
    run = Run(tmp_path, cfg, info)
    run.save_checkpoint(agent, optimizer, counters)  # the periodic checkpoint, its evaluation at 128 still due
    for step in (0, 128):
        run.evals.append({"env_steps": step, "success_rate": 0.5})
    resumed = Run(tmp_path, cfg, info)
    assert [int(r["env_steps"]) for r in rows(tmp_path / "eval.csv")] == [0]
    # Once a checkpoint records the evaluation at its step, a resume keeps that row.
    resumed.evals.append({"env_steps": 128, "success_rate": 0.5})
    resumed.save_checkpoint(agent, optimizer, {**counters, "next_eval": 256, "last_eval": 128})
    Run(tmp_path, cfg, info)
    assert [int(r["env_steps"]) for r in rows(tmp_path / "eval.csv")] == [0, 128]


def test_resuming_with_other_settings_is_refused(models, tmp_path, capsys, monkeypatch):
    out = tmp_path / "other"
    args = ["train-flat", *common(models, out, 64), "--steps-per-iter", "64", "--batch-size", "32"]
    assert main(args) == 0
    assert main([*args, "--lr", "0.001"]) == 2
    err = capsys.readouterr().err
    assert "lr: 0.0003 -> 0.001" in err and "another --out" in err
    # the same tasks file spelled as a relative path is the same setting
    monkeypatch.chdir(models)
    relative = [*args]
    relative[relative.index("--tasks-file") + 1] = "tasks.yaml"
    assert main(relative) == 0, capsys.readouterr().err
    (models / "tasks_copy.yaml").write_text((models / "tasks.yaml").read_text())
    relative[relative.index("--tasks-file") + 1] = "tasks_copy.yaml"
    assert main(relative) == 2
    assert "tasks_file" in capsys.readouterr().err


def test_missing_prior_is_a_clear_error(models, tmp_path, capsys):
    args = high_args(models)
    i = args.index("--prior")
    del args[i : i + 2]
    assert main(["train-high", *common(models, tmp_path / "x", 64), *args]) == 2
    assert "--prior" in capsys.readouterr().err
    assert main(["train-high", *common(models, tmp_path / "y", 64), *high_args(models), "--task", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err


class ContextBandit:
    """A stand-in vector env, fast enough to learn on in a test: each episode is one decision; the
    observation's view (all cells one of 4 materials c, the inventory random) says which of 8 actions
    pays 1 (chance: 1/8). Transitions last 1-4 env steps at random, as high-level steps do."""

    def __init__(self, n_envs: int, seed: int = 0):
        self.n_envs = n_envs
        self.rng = np.random.default_rng(seed)
        self.world_seeds = iter(range(10**9))

    def _observe(self) -> dict:
        obs = np.zeros((self.n_envs, WORLD.symbolic_layout.size), np.uint8)
        self.context = self.rng.integers(0, 4, self.n_envs)
        obs[:, :81] = np.array([1, 3, 6, 9])[self.context][:, None]
        obs[:, 81:97] = self.rng.integers(0, 10, (self.n_envs, 16))
        self.obs = {"symbolic": obs}
        return {"symbolic": obs.copy()}

    def reset(self, seed=None, seeds=None):
        self.left = None if seeds is None else len(seeds)
        return self._observe()

    def prepare_resets(self):
        pass

    def step(self, actions):
        reward = (np.asarray(actions) == self.context).astype(np.float32)
        steps = self.rng.integers(1, 5, self.n_envs)
        final = {"symbolic": self.obs["symbolic"].copy()}
        episodes = [EpisodeStats(i, next(self.world_seeds), float(r), int(d), bool(r)) for i, (r, d) in
                    enumerate(zip(reward, steps))]
        if self.left is not None:
            episodes, self.left = episodes[: self.left], self.left - min(self.left, self.n_envs)
        ended = np.ones(self.n_envs, bool)
        return Transition(self._observe(), reward, ended, ~ended, steps, final, episodes)


def test_ppo_learns_what_pays_from_the_observation(tmp_path):
    cfg = PPOConfig(task="bandit", steps=6000, n_envs=8, steps_per_iter=64, batch_size=32, epochs=4, lr=3e-4,
                    hidden=32, eval_every=3000, eval_episodes=64, progress=False, seed=1)
    torch.manual_seed(cfg.seed)
    agent = ActorCritic(WORLD, "symbolic", 8, hidden=32)
    run = Run(tmp_path / "learn", cfg, {"method": "test", "task": cfg.task, "seed": cfg.seed, "models": {}})
    counters = learn(cfg, agent, ContextBandit(8, seed=1), ContextBandit(8, seed=2), run)
    run.close()
    evals = rows(tmp_path / "learn" / "eval.csv")
    assert float(evals[0]["success_rate"]) < 0.3
    assert float(evals[-1]["success_rate"]) >= 0.9
    progress = rows(tmp_path / "learn" / "progress.csv")
    # Budgets count env steps (1-4 per decision), not decisions.
    assert counters["env_steps"] >= 6000 and len(progress) < 6000 / 64
    assert 2.0 < float(progress[-1]["charts/env_steps_per_decision"]) < 3.0
