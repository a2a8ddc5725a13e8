"""A saved agent learns on, as in SB3 (`PTGM.load(path).learn(n)`): a new run folder that starts from the saved
policy's weights and training state, counts its env steps from 0, records where it started, resumes from its own
checkpoint, and refuses a folder it must not write. PPO and SAC high-level runs and the flat baseline, from the
shipped pre-training, a few hundred env steps each."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ptgm.api import PTGM, AgentError, FlatPPO, Pretraining
from ptgm.io import load_json
from ptgm.rl.callbacks import Callback
from ptgm.rl.run import RunError

# Small enough for a test: 2 in-process envs, a few iterations of small batches, 1 evaluation episode.
TINY = {"n_envs": 2, "eval_episodes": 1, "steps_per_iter": 16, "batch_size": 16, "vector": "sync",
        "progress": False, "hidden": 32, "low_level_steps": 5}
SAC = {**TINY, "algo": "sac", "steps_per_iter": 8, "sac_learning_starts": 16, "initialize_with_prior": True,
       "hidden": 256}  # the prior's width, to start from its weights
pytestmark = pytest.mark.xdist_group("api")


@pytest.fixture(scope="module")
def shipped() -> Pretraining:
    return Pretraining.shipped()


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def checkpoint_tensors(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    state = load_json(folder / "state.json")
    return state, load_file(folder / state["tensors"])


class FirstState(Callback):
    """What the run holds at the first checkpoint of this learn() (a new run's: after the evaluation at env step 0,
    before any update): when it was, the acting policy's weights and the checkpoint's state and tensors."""

    def __init__(self):
        self.at: int | None = None
        self.policy: dict[str, torch.Tensor] | None = None
        self.checkpoint: tuple[dict, dict[str, torch.Tensor]] | None = None

    def on_checkpoint(self, env_steps: int) -> None:
        if self.at is None:
            self.at, self.policy = env_steps, weights(self.agent)
            self.checkpoint = checkpoint_tensors(self.run.checkpoint_dir)


class StopAfter(Callback):
    """Interrupts learn() once the run has checkpointed past `env_steps`."""

    def __init__(self, env_steps: int):
        self.env_steps = env_steps

    def on_checkpoint(self, env_steps: int) -> None:
        if env_steps >= self.env_steps:
            raise KeyboardInterrupt


def test_a_saved_ptgm_agent_learns_on_in_a_new_run_from_its_weights_and_optimizer(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = PTGM(shipped, task="stone", out="runs/first", **TINY).learn(total_timesteps=160)
    saved = first.save("stone-agent")
    record = load_json(saved / "agent.json")
    trained_for = load_json(Path("runs/first/checkpoint/state.json"))["env_steps"]
    assert record["env_steps"] == trained_for >= 160 and record["trainer"]["algo"] == "ppo"
    trainer, trainer_tensors = checkpoint_tensors(saved / "trainer")
    assert record["trainer"]["sha256"] == trainer["sha256"] and "optim/0/exp_avg" in trainer_tensors

    seen = FirstState()
    agent = PTGM.load(saved, lr=1e-3)  # a new run may change what the old one could not on resume
    agent.learn(total_timesteps=96, callback=seen)
    assert seen.at == 0
    out = Path("runs/ptgm[k=5]-stone-s0-from-stone-agent")  # the default folder: the method's, from the saved agent
    assert agent.run_path == out and agent.settings["out"] == str(out)
    # It started from the saved policy and optimizer moments, with its own learning rate.
    assert_same(seen.policy, weights(PTGM.load(saved).policy))
    state, tensors = seen.checkpoint
    assert_same({k: v for k, v in tensors.items() if k.startswith("optim/")},
                {k: v for k, v in trainer_tensors.items() if k.startswith("optim/")})
    assert state["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert any(not torch.equal(a, b) for a, b in zip(agent.policy.state_dict().values(), seen.policy.values()))
    # Its env steps count from 0 (SB3's reset_num_timesteps=True); run.json says where it started.
    assert [int(r["env_steps"]) for r in rows(out / "eval.csv")][0] == 0
    assert int(rows(out / "progress.csv")[0]["iteration"]) == 1
    assert 96 <= load_json(out / "checkpoint" / "state.json")["env_steps"] < 96 + 16 * 5
    assert load_json(out / "run.json")["started_from"] == {
        "agent": str(saved.resolve()), "policy_sha256": record["models"]["policy"], "env_steps": trained_for,
        "trainer_sha256": trainer["sha256"]}
    # The continued agent saves with its own run's training state, and again learns on from it.
    again = agent.save("stone-agent-2")
    assert load_json(again / "agent.json")["trainer"]["sha256"] == load_json(out / "checkpoint" / "state.json")["sha256"]
    assert load_json(again / "agent.json")["trained_in"] == str(out)


def test_an_interrupted_relearn_resumes_from_its_own_checkpoint(shipped, tmp_path):
    saved = PTGM(shipped, task="stone", out=str(tmp_path / "first"), **TINY).learn(total_timesteps=80).save(
        tmp_path / "agent")
    out = tmp_path / "more"
    with pytest.raises(KeyboardInterrupt):
        PTGM.load(saved, out=str(out), checkpoint_every=32).learn(total_timesteps=400, callback=StopAfter(100))
    stopped = load_json(out / "checkpoint" / "state.json")
    assert stopped["env_steps"] >= 100
    resumed = FirstState()
    agent = PTGM.load(saved, out=str(out), checkpoint_every=32).learn(total_timesteps=240, callback=resumed)
    progress = rows(out / "progress.csv")
    assert [int(r["iteration"]) for r in progress] == list(range(1, len(progress) + 1))  # not started over
    assert int(progress[-1]["env_steps"]) >= 240 and resumed.at > stopped["env_steps"]  # no new start at step 0
    assert load_json(out / "run.json")["started_from"]["agent"] == str(saved.resolve())
    assert agent.run_path == out


def test_a_saved_sac_agent_learns_on_from_its_q_networks_and_alpha_with_a_fresh_replay_buffer(shipped, tmp_path):
    saved = PTGM(shipped, task="stone", out=str(tmp_path / "first"), **SAC).learn(total_timesteps=120).save(
        tmp_path / "agent")
    record = load_json(saved / "agent.json")
    assert record["trainer"]["algo"] == "sac"
    trainer, trainer_tensors = checkpoint_tensors(saved / "trainer")
    assert "replay" not in trainer and any(k.startswith("model/qf1_target.") for k in trainer_tensors)
    assert not list((saved / "trainer").glob("replay-*"))

    seen = FirstState()
    out = tmp_path / "more"
    agent = PTGM.load(saved, out=str(out)).learn(total_timesteps=80, callback=seen)
    assert_same(seen.policy, weights(PTGM.load(saved).policy))
    state, tensors = seen.checkpoint
    assert_same({k: v for k, v in tensors.items() if k != "rng/torch"},
                {k: v for k, v in trainer_tensors.items() if k != "rng/torch"})  # Q networks, targets, alpha, moments
    progress = rows(out / "progress.csv")
    assert float(progress[0]["charts/buffer_size"]) == 8  # the replay buffer starts empty and refills
    assert float(progress[0]["charts/updates"]) == 0 and float(progress[-1]["charts/updates"]) > 0
    assert state["replay"]["size"] == 0 and load_json(out / "checkpoint" / "state.json")["replay"]["size"] > 0
    assert agent.policy.meta["algo"] == "sac"

    # Learning on with PPO instead: only the policy's weights carry over (the SAC state fits no PPO learner).
    ppo = FirstState()
    PTGM.load(saved, out=str(tmp_path / "ppo"), algo="ppo", steps_per_iter=16).learn(total_timesteps=48, callback=ppo)
    assert load_json(tmp_path / "ppo" / "run.json")["started_from"]["trainer_sha256"] is None
    assert_same(ppo.policy, weights(PTGM.load(saved).policy))
    assert not any(k.startswith("optim/") for k in ppo.checkpoint[1])  # a fresh Adam: no moments before its first step


def test_a_saved_flat_agent_learns_on(tmp_path):
    first = FlatPPO("stone", out=str(tmp_path / "first"), **{k: v for k, v in TINY.items() if k != "low_level_steps"})
    saved = first.learn(total_timesteps=64).save(tmp_path / "agent")
    seen = FirstState()
    agent = FlatPPO.load(saved, out=str(tmp_path / "more")).learn(total_timesteps=64, callback=seen)
    assert_same(seen.policy, weights(FlatPPO.load(saved).policy))
    started = load_json(tmp_path / "more" / "run.json")["started_from"]
    assert started["policy_sha256"] == load_json(saved / "agent.json")["models"]["policy"]
    assert started["trainer_sha256"] == load_json(saved / "trainer" / "state.json")["sha256"]
    assert agent.run_path == tmp_path / "more"


def test_relearn_refuses_folders_it_must_not_write_and_networks_that_do_not_fit(shipped, tmp_path):
    first = PTGM(shipped, task="stone", out=str(tmp_path / "first"), **TINY).learn(total_timesteps=32)
    saved = first.save(tmp_path / "agent")
    before = sorted(p.name for p in saved.rglob("*"))
    with pytest.raises(RunError, match="it is the saved agent .* this run starts from"):
        PTGM.load(saved, out=str(saved)).learn(total_timesteps=32)
    with pytest.raises(RunError, match="it is the saved agent"):
        PTGM.load(saved, out=str(saved / "more")).learn(total_timesteps=32)
    assert sorted(p.name for p in saved.rglob("*")) == before
    # The run that trained it is another run: learning there would mix the two.
    with pytest.raises(RunError, match="first (holds a run with other settings|was trained with started_from None)"):
        PTGM.load(saved, out=str(tmp_path / "first")).learn(total_timesteps=64)
    with pytest.raises(RunError, match="keeps its network settings"):
        PTGM.load(saved, out=str(tmp_path / "wider"), hidden=64).learn(total_timesteps=32)
    # A run folder's learn() goes on in that folder; it does not start another run.
    with pytest.raises(AgentError, match="is a training run, whose learn\\(\\) goes on in that folder"):
        PTGM.load(tmp_path / "first", out=str(tmp_path / "elsewhere"))
    # A saved agent whose training state was changed is refused, not half used.
    record = load_json(saved / "agent.json")
    record["trainer"]["sha256"] = "0" * 64
    (saved / "agent.json").write_text(json.dumps(record))
    with pytest.raises(AgentError, match="trainer is not the training state .*agent.json records"):
        PTGM.load(saved)


def test_the_cli_saves_a_finished_run_and_learns_on_from_the_saved_agent(tmp_path, capsys):
    from ptgm.cli import main

    FlatPPO("stone", out=str(tmp_path / "first"), **{k: v for k, v in TINY.items() if k != "low_level_steps"}).learn(64)
    assert main(["agent", "save", str(tmp_path / "first"), "--out", str(tmp_path / "agent")]) == 0
    record = load_json(tmp_path / "agent" / "agent.json")
    assert record["kind"] == "flat" and record["trained_in"] == str(tmp_path / "first")
    assert main(["agent", "learn", str(tmp_path / "agent"), "--steps", "64", "--out", str(tmp_path / "more"),
                 "--seed", "3"]) == 0
    run = load_json(tmp_path / "more" / "run.json")
    assert run["started_from"]["policy_sha256"] == record["models"]["policy"]
    assert run["started_from"]["trainer_sha256"] == record["trainer"]["sha256"]
    assert load_json(tmp_path / "more" / "summary.json")["seed"] == 3
    assert f"run: {tmp_path / 'more'}" in capsys.readouterr().out
    # Bad input is one line and exit code 2, nothing written.
    assert main(["agent", "learn", str(tmp_path / "nothing"), "--steps", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ptgm agent learn: error: agent not found: {tmp_path / 'nothing'} is not a folder"]
    (tmp_path / "empty").mkdir()
    assert main(["agent", "learn", str(tmp_path / "empty"), "--steps", "64"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"ptgm agent learn: error: agent not found: {tmp_path / 'empty'} holds neither agent.json (a saved agent) nor "
        f"run.json (a training run)"]
    assert main(["agent", "save", str(tmp_path / "agent" / "policy"), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    # A run folder resumes in place: a larger budget goes on there; a new folder or seed is refused in one line.
    capsys.readouterr()
    assert main(["agent", "learn", str(tmp_path / "first"), "--steps", "64", "--seed", "5"]) == 2
    assert "is a training run, which `agent learn` resumes in place" in capsys.readouterr().err
    assert main(["agent", "learn", str(tmp_path / "first"), "--steps", "128"]) == 0
    assert int(float(rows(tmp_path / "first" / "progress.csv")[-1]["env_steps"])) == 128
    # Saving into a run folder would turn it into a saved agent: refused.
    assert main(["agent", "save", str(tmp_path / "first"), "--out", str(tmp_path / "more")]) == 2
    assert not (tmp_path / "more" / "agent.json").exists()
