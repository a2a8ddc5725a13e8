"""`ptgm train-high --algo sac`: discrete SAC over codes with the goal prior in its target.

It learns a toy chain, stays near a peaked prior under a large alpha, tunes alpha towards the target
divergence in the right direction, runs and resumes on Crafter `stone` from the shipped models, and
refuses bad settings in one line."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import Tensor, nn

from ptgm.cli import main
from ptgm.io import load_json
from ptgm.pipeline.shipped import SHIPPED
from ptgm.rl.policies import load_policy
from ptgm.rl.sac import DiscreteSAC, ReplayBuffer, kl_to, sac_update


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class TinyActor(nn.Module):
    def __init__(self, n_obs: int, n_actions: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_obs, 32), nn.ReLU(), nn.Linear(32, n_actions))

    def logits(self, obs: Tensor) -> Tensor:
        return self.net(obs.float())


def tiny_q(n_obs: int, n_actions: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_obs, 32), nn.ReLU(), nn.Linear(32, n_actions))


def tiny_sac(n_obs: int, n_actions: int, alpha: float) -> DiscreteSAC:
    return DiscreteSAC(TinyActor(n_obs, n_actions), tiny_q(n_obs, n_actions), tiny_q(n_obs, n_actions), alpha)


def test_sac_learns_a_chain_whose_only_way_forward_is_one_action():
    """States 0..3 (one-hot); action 0 moves one state right, the other three fall back to 0. Reaching 3 pays 1 and
    ends the episode. Each step lasts 1 or 2 env steps (discount gamma**d), as a high-level step does."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_states, n_actions, gamma = 4, 4, 0.9
    sac = tiny_sac(n_states, n_actions, alpha=0.05)
    optimizer = sac.make_optimizer(3e-3)
    buffer = ReplayBuffer(5_000)
    eye = np.eye(n_states, dtype=np.float32)
    state = np.zeros(8, np.int64)  # 8 envs in lockstep
    for step in range(250):
        with torch.no_grad():
            probs = torch.softmax(sac.actor.logits(torch.from_numpy(eye[state])), -1)
        action = torch.multinomial(probs, 1).squeeze(1).numpy()
        nxt = np.where(action == 0, state + 1, 0)
        done = nxt == n_states - 1
        d = rng.integers(1, 3, len(state))
        buffer.add(obs=eye[state], actions=action, rewards=done.astype(np.float32),
                   discounts=(gamma ** d).astype(np.float32), terminated=done.astype(np.float32), next_obs=eye[nxt])
        state = np.where(done, 0, nxt)
        if step >= 10:
            stats = sac_update(sac, optimizer, buffer.sample(64), target_kl=1.0, tau=0.05)
    with torch.no_grad():
        probs = torch.softmax(sac.actor.logits(torch.from_numpy(eye[:3])), -1)
        q = torch.min(sac.qf1(torch.from_numpy(eye[:3])), sac.qf2(torch.from_numpy(eye[:3])))
    assert (probs.argmax(-1) == 0).all() and (probs[:, 0] > 0.6).all(), probs
    # Q(2, forward) is the reward itself; Q(1, forward) about one discounted step less
    assert abs(float(q[2, 0]) - 1.0) < 0.15 and 0.6 < float(q[1, 0]) < 1.0, q
    assert math.isfinite(stats["qf_loss"]) and stats["alpha"] > 0


def bandit_batch(n: int, n_actions: int, log_prior: Tensor) -> dict[str, Tensor]:
    """One-step episodes in one state: action n_actions - 1 pays 1, the others 0."""
    actions = torch.randint(n_actions, (n,))
    return {"obs": torch.ones(n, 1), "actions": actions, "rewards": (actions == n_actions - 1).float(),
            "discounts": torch.full((n,), 0.99), "terminated": torch.ones(n), "next_obs": torch.ones(n, 1),
            "log_prior": log_prior.expand(n, -1), "next_log_prior": log_prior.expand(n, -1)}


PEAKED = torch.log(torch.tensor([[0.9, 0.025, 0.025, 0.025, 0.025]]))  # the prior favours a code that pays nothing


def policy_kl(sac: DiscreteSAC) -> float:
    with torch.no_grad():
        log_probs, probs = sac.policy(torch.ones(1, 1))
        return float(kl_to(log_probs, probs, PEAKED))


def test_a_large_alpha_keeps_the_policy_at_a_peaked_prior_and_a_small_one_lets_it_go():
    def train(alpha: float) -> DiscreteSAC:
        torch.manual_seed(0)
        sac = tiny_sac(1, 5, alpha)
        optimizer = sac.make_optimizer(3e-3)
        for _ in range(300):
            sac_update(sac, optimizer, bandit_batch(64, 5, PEAKED), target_kl=0.0, tau=0.05)  # alpha fixed
        return sac

    held, free = train(alpha=10.0), train(alpha=0.01)
    assert policy_kl(held) < 0.05 and held.alpha == pytest.approx(10.0)
    with torch.no_grad():
        assert float(held.policy(torch.ones(1, 1))[1][0, 0]) > 0.8  # still mostly the prior's code
        assert float(free.policy(torch.ones(1, 1))[1][0, -1]) > 0.8  # the paying code
    assert policy_kl(free) > 1.0


@pytest.mark.parametrize("target_kl, moves", [(5.0, "down"), (0.05, "up")])
def test_alpha_moves_towards_the_target_divergence(target_kl, moves):
    """KL below the target: the constraint is slack and alpha shrinks; above it, alpha grows. The KL to the peaked
    prior is at most log(1 / 0.025), about 3.7 nats, so a target of 5 is never reached."""
    torch.manual_seed(0)
    sac = tiny_sac(1, 5, alpha=0.1)
    optimizer = sac.make_optimizer(1e-2)
    alphas = [sac.alpha]
    for _ in range(200):
        alphas.append(sac_update(sac, optimizer, bandit_batch(64, 5, PEAKED), target_kl, tau=0.05)["alpha"])
    if moves == "down":
        assert alphas[-1] < 0.5 * alphas[0] and policy_kl(sac) < target_kl
    else:
        assert alphas[-1] > 2 * alphas[0]
        assert policy_kl(sac) < 0.5  # the grown alpha pulled the policy back from the paying code to the prior


def test_replay_buffer_wraps_and_saves_its_rows_in_order(tmp_path):
    buffer = ReplayBuffer(5)
    for i in range(3):
        buffer.add(x=np.array([[2 * i], [2 * i + 1]], np.float32))  # rows 0..5: 0 is overwritten
    assert buffer.size == 5 and buffer.pos == 1
    record = buffer.save(tmp_path)
    again = ReplayBuffer(5)
    again.load(tmp_path, record)
    assert again.data["x"][: again.size, 0].tolist() == [1, 2, 3, 4, 5] and again.pos == 0


def test_the_replay_buffer_round_trips_through_the_runs_checkpoint_hook(tmp_path):
    """`Run.keep_in_checkpoint`: the buffer is saved with every checkpoint (one file, the older ones go), comes back in
    order on resume, and a checkpoint interrupted before its state.json leaves the previous one whole."""
    from ptgm.rl.ppo import PPOConfig
    from ptgm.rl.run import Run
    from ptgm.training.checkpoint import CheckpointError

    cfg, info = PPOConfig(task="stone", out=str(tmp_path)), {"method": "sac", "task": "stone", "seed": 0, "models": {}}
    sac = tiny_sac(3, 4, alpha=0.1)
    optimizer = sac.make_optimizer(1e-3)
    counters = {"iteration": 1, "env_steps": 10, "next_eval": 20, "last_eval": 0, "next_checkpoint": 20}
    buffer = ReplayBuffer(4)
    run = Run(tmp_path, cfg, info)
    run.keep_in_checkpoint("replay", buffer.save, buffer.load)
    buffer.add(x=np.array([[0.0], [1.0], [2.0]], np.float32))
    run.save_checkpoint(sac, optimizer, counters)
    buffer.add(x=np.array([[3.0], [4.0]], np.float32))  # row 0 is overwritten
    run.save_checkpoint(sac, optimizer, {**counters, "iteration": 2, "env_steps": 20})
    state = load_json(tmp_path / "checkpoint" / "state.json")
    assert state["extras"] == ["replay"] and state["replay"]["size"] == 4
    assert [p.name for p in (tmp_path / "checkpoint").glob("replay-*")] == [state["replay"]["file"]]

    def interrupted(folder: Path) -> dict:  # writes its file, then dies before the checkpoint commits it
        buffer.save(folder)
        raise KeyboardInterrupt

    buffer.add(x=np.array([[5.0]], np.float32))
    run.keep_in_checkpoint("replay", interrupted, buffer.load)
    with pytest.raises(KeyboardInterrupt):
        run.save_checkpoint(sac, optimizer, {**counters, "iteration": 3, "env_steps": 30})

    resumed_buffer = ReplayBuffer(4)
    resumed = Run(tmp_path, cfg, info)
    resumed.keep_in_checkpoint("replay", resumed_buffer.save, resumed_buffer.load)
    assert resumed.load_checkpoint(sac, optimizer)["env_steps"] == 20
    assert resumed_buffer.data["x"][:, 0].tolist() == [1, 2, 3, 4] and resumed_buffer.pos == 0

    (tmp_path / "checkpoint" / state["replay"]["file"]).write_bytes(b"changed")
    with pytest.raises(CheckpointError, match="checksum differs"):
        resumed.load_checkpoint(sac, optimizer)
    plain = {k: v for k, v in state.items() if k not in ("replay", "extras")}
    (tmp_path / "checkpoint" / "state.json").write_text(json.dumps(plain))
    with pytest.raises(CheckpointError, match="holds no 'replay'"):
        resumed.load_checkpoint(sac, optimizer)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sac_args(out: Path, steps: int) -> list[str]:
    return ["train-high", "--algo", "sac", "--task", "stone", "--low", str(SHIPPED / "low"),
            "--codebook", str(SHIPPED / "codebook"), "--prior", str(SHIPPED / "prior"), "--initialize-with-prior",
            "--out", str(out), "--steps", str(steps), "--n-envs", "2", "--steps-per-iter", "8",
            "--batch-size", "16", "--sac-learning-starts", "16", "--low-level-steps", "5", "--eval-every", "1000",
            "--eval-episodes", "1", "--checkpoint-every", "100", "--vector", "sync", "--no-progress"]


def test_train_high_sac_on_stone_from_the_shipped_models_runs_and_resumes(tmp_path, capsys):
    out = tmp_path / "sac"
    assert main(sac_args(out, 200)) == 0
    assert "ptgm[sac,k=5,init-prior] on stone" in capsys.readouterr().out
    assert yaml.safe_load((out / "config.yaml").read_text())["algo"] == "sac"
    progress = rows(out / "progress.csv")
    assert int(progress[-1]["env_steps"]) >= 200 and float(progress[-1]["charts/updates"]) > 0
    assert all(float(r["charts/kl_to_prior"]) >= 0 and float(r["charts/alpha"]) > 0 for r in progress)
    assert float(progress[0]["charts/kl_to_prior"]) < 1e-4  # started from the prior's weights
    evals = rows(out / "eval.csv")
    assert [int(r["env_steps"]) for r in evals] == [0, int(progress[-1]["env_steps"])]
    state = load_json(out / "checkpoint" / "state.json")
    assert state["replay"]["size"] == 8 * len(progress) and (out / "checkpoint" / state["replay"]["file"]).is_file()
    assert len(list((out / "checkpoint").glob("replay-*"))) == 1
    policy = load_policy(out / "policy")
    assert policy.n_actions == 100 and policy.meta["algo"] == "sac"

    assert main(sac_args(out, 320)) == 0  # resumes: the same rows, then more
    progress2 = rows(out / "progress.csv")
    assert progress2[: len(progress)] == progress and int(progress2[-1]["env_steps"]) >= 320
    assert [int(r["iteration"]) for r in progress2] == list(range(1, len(progress2) + 1))
    assert load_json(out / "checkpoint" / "state.json")["replay"]["size"] == 8 * len(progress2)


@pytest.mark.parametrize("flags, says", [
    (["--algo", "foo"], "--algo 'foo' is unknown; valid: ppo, sac"),
    (["--algo", "sac", "--sac-target-kl", "-1"], "--sac-target-kl must be a number >= 0, got -1.0"),
    (["--algo", "sac", "--continuous", "--no-initialize-with-prior"], "--algo sac picks code indices"),
    (["--algo", "sac", "--kl-reward", "0"], "SAC tunes alpha in log space"),
    (["--algo", "sac", "--sac-tau", "2"], "--sac-tau must be in (0, 1]"),
])
def test_bad_sac_settings_are_one_line_errors(tmp_path, capsys, flags, says):
    out = tmp_path / "bad"
    assert main([*sac_args(out, 100), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not out.exists()


def test_train_high_sac_on_kitchen_keeps_float_states_in_its_replay_buffer(tmp_path):
    """Kitchen's observation is a float state vector: the replay buffer must store it as floats."""
    pytest.importorskip("gymnasium_robotics")
    from safetensors.numpy import load_file

    from ptgm.envs import get_world, make_env
    from ptgm.goals.codebook import Codebook
    from ptgm.goals.embedders import make_embedder
    from ptgm.models.low_level import LowLevelPolicy
    from ptgm.models.prior import GoalPrior

    world = get_world("kitchen")
    env = make_env("kitchen")
    states = [env.reset(seed=0)[0]]
    rng = np.random.default_rng(0)
    states += [env.step(rng.uniform(-1, 1, 9).astype(np.float32))[0] for _ in range(3)]
    embedder = make_embedder("state", world)
    torch.manual_seed(0)
    low = LowLevelPolicy(world, "symbolic", embedder.dim, embedder.settings(), hidden=32)
    book = Codebook(embedder.embed(np.stack(states)), embedder.settings(),
                    [{"episode": "x", "step": i} for i in range(4)])
    book.save(tmp_path / "codebook")
    low.save(tmp_path / "low")
    GoalPrior(world, "symbolic", 4, book.fingerprint, hidden=32).save(tmp_path / "prior")
    out = tmp_path / "run"
    assert main(["train-high", "--algo", "sac", "--world", "kitchen", "--task", "microwave", "--out", str(out),
                 "--low", str(tmp_path / "low"), "--codebook", str(tmp_path / "codebook"),
                 "--prior", str(tmp_path / "prior"), "--hidden", "32", "--steps", "40", "--n-envs", "1",
                 "--steps-per-iter", "2", "--low-level-steps", "4", "--batch-size", "4", "--sac-learning-starts", "2",
                 "--eval-every", "1000", "--eval-episodes", "1", "--vector", "sync", "--no-progress"]) == 0
    state = load_json(out / "checkpoint" / "state.json")
    replay = load_file(out / "checkpoint" / state["replay"]["file"])
    assert replay["obs"].dtype == np.float32 and np.abs(replay["obs"] - np.round(replay["obs"])).max() > 0
    assert replay["log_prior"].shape == (state["replay"]["size"], 4)
