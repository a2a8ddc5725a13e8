"""The Python API (`ptgm.api`): the README's example run as written (with tiny budgets), predict's held codes,
save/load round trips and the checks on load, callbacks, and a user's own world through the registry."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

from ptgm.api import PTGM, AgentError, FlatPPO, LowLevel, Pretraining, Prior
from ptgm.config import ConfigError
from ptgm.envs import SymbolicLayout, World, WorldSpec, get_world, make_env, register_world
from ptgm.envs.registry import WORLDS
from ptgm.models.artifacts import ModelError
from ptgm.models.prior import GoalPrior
from ptgm.pipeline import load_run_config, run
from ptgm.rl.callbacks import CheckpointCallback, EvalCallback

ROOT = Path(__file__).resolve().parents[1]
# Small enough for a test: 2 in-process envs, a few PPO iterations of small batches, 2 evaluation episodes.
TINY_PPO = {"n_envs": 2, "eval_episodes": 2, "steps_per_iter": 16, "batch_size": 16, "vector": "sync",
            "progress": False, "hidden": 32}
pytestmark = pytest.mark.xdist_group("api")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder holding `runs/default`: a tiny pre-training (random-player data, 6 codes, a few updates)."""
    root = tmp_path_factory.mktemp("api")
    net = {"hidden": 32, "batch_size": 64, "max_updates": 10, "eval_every": 5, "epochs": 1, "progress": False}
    settings = {"out": str(root / "runs" / "default"), "task": "stone", "methods": [], "seeds": [0],
                "pretrained": None,
                "collect": {"player": "random", "frames": 3000, "workers": 1, "pixels": False,
                            "max_episode_steps": 500},
                "val_frames": 500, "codebook": {"n_codebook": 6, "episodes": -1, "reduce": "pca"},
                "low": dict(net), "prior": dict(net),
                "eval_low": {"episodes": 1, "steps": 10, "codes": 2, "cond_scale": [1.0], "progress": False}}
    (root / "tiny.yaml").write_text(yaml.safe_dump(settings))
    run(load_run_config(root / "tiny.yaml"), log=lambda line: None)
    return root


def readme_example() -> str:
    """The fenced block after the `<!-- api-example -->` marker in README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no ```python block after <!-- api-example -->"
    return match.group(1)


def test_readme_example_is_short_and_runs_as_written(tmp_path, monkeypatch):
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15  # lines of code, blank ones aside
    # Only the budgets change: a few hundred steps in this process instead of a few thousand in worker processes.
    for written, tiny in [("total_timesteps=5_000", "total_timesteps=200"),
                          ("n_envs=4, eval_episodes=10", ", ".join(f"{k}={v!r}" for k, v in TINY_PPO.items()))]:
        assert code.count(written) == 1, written
        code = code.replace(written, tiny)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md:api-example", "exec"), namespace)
    agent = namespace["agent"]
    assert isinstance(agent, PTGM) and agent.policy is not None
    assert agent.pretraining.codebook.fingerprint == Pretraining.shipped().codebook.fingerprint
    assert (tmp_path / "stone-agent" / "agent.json").is_file()
    assert (tmp_path / "runs" / "ptgm-stone-s0" / "eval.csv").is_file()  # the trainer's own run folder
    assert namespace["done"] and isinstance(namespace["action"], int)


@pytest.fixture(scope="module")
def trained(workdir) -> PTGM:
    return PTGM(workdir / "runs" / "default", task="stone", out=str(workdir / "runs" / "trained"),
                **TINY_PPO).learn(total_timesteps=100)


def first_obs(task: str = "stone", seed: int = 3) -> tuple[np.ndarray, dict]:
    return make_env(obs_mode="symbolic", task=task).reset(seed=seed)


def test_predict_holds_a_code_for_low_level_steps_and_the_low_level_policy_pursues_it(workdir):
    pre = Pretraining.load(workdir / "runs" / "default")
    agent = PTGM(pre, task="stone", low_level_steps=3, low_deterministic=True)
    low = LowLevel(pre)
    chosen = []
    original = agent._choose
    agent._choose = lambda views, deterministic: chosen.append(len(chosen)) or original(views, deterministic)
    env = make_env(obs_mode=agent.obs_mode, task="stone")
    obs, _ = env.reset(seed=0)
    state = None
    for t in range(7):
        action, state = agent.predict(obs, state)
        assert action == low.predict(obs, goal=int(state.code[0]), deterministic=True)[0]
        assert 0 <= state.code[0] < pre.codebook.n_codes and state.steps_left[0] == 2 - t % 3
        obs = env.step(action)[0]
    assert len(chosen) == 3  # at steps 0, 3 and 6
    agent.predict(obs, state, episode_start=True)
    assert len(chosen) == 4  # a new episode chooses again at once


def test_predict_takes_a_batch_and_refuses_observations_of_another_shape(trained):
    obs, _ = first_obs()
    actions, state = trained.predict(np.stack([obs, obs, obs]))
    assert actions.shape == (3,) and state.code.shape == (3,)
    with pytest.raises(ValueError, match="neither crafter's symbolic"):
        trained.predict(obs[:10])
    with pytest.raises(ValueError, match="the state is for 3 envs"):
        trained.predict(obs, state)


def test_low_level_and_prior_alone(workdir):
    folder = workdir / "runs" / "default"
    obs, _ = first_obs()
    low, prior = LowLevel.load(folder), Prior.load(folder)
    n_codes = Pretraining.load(folder).codebook.n_codes
    assert 0 <= low.predict(obs, goal=2)[0] < get_world().n_actions
    assert isinstance(low.predict(obs, goal=None)[0], int)
    assert low.predict(np.stack([obs, obs]), goal=np.array([0, 1]))[0].shape == (2,)
    probs = prior.probabilities(obs)
    assert probs.shape == (n_codes,) and abs(probs.sum() - 1) < 1e-5
    assert prior.predict(obs, deterministic=True)[0] == int(probs.argmax())
    with pytest.raises(ValueError, match=r"codes must be in \[0, 6\)"):
        low.predict(obs, goal=6)


def test_saved_agent_loads_to_the_same_policy_and_its_files_are_checked(trained, tmp_path):
    saved = trained.save(tmp_path / "agent")
    record = json.loads((saved / "agent.json").read_text())
    assert record["kind"] == "ptgm" and record["provenance"]["command"].startswith("ptgm.api")
    assert record["models"]["codebook"] == trained.pretraining.codebook.fingerprint
    loaded = PTGM.load(saved)
    assert loaded.pretraining.folders["low"] == str(saved / "low")  # the copies, not the original pre-training
    assert loaded.pretraining.codebook.fingerprint == trained.pretraining.codebook.fingerprint
    for key, tensor in trained.policy.state_dict().items():
        assert np.array_equal(tensor.numpy(), loaded.policy.state_dict()[key].numpy()), key
    obs, _ = first_obs()
    assert loaded.predict(obs, deterministic=True)[1].code[0] == trained.predict(obs, deterministic=True)[1].code[0]
    # The training state it finished with goes along, so learn() can go on from it (tests/test_api_relearn.py).
    assert record["trainer"]["sha256"] == json.loads((saved / "trainer" / "state.json").read_text())["sha256"]
    assert record["env_steps"] >= 100 and loaded.settings["out"] is None

    # A model replaced by another valid one for the same codebook: its own checks pass, agent.json's does not.
    book = trained.pretraining.codebook
    GoalPrior(get_world(), "symbolic", book.n_codes, book.fingerprint, hidden=8).save(saved / "prior")
    with pytest.raises(AgentError, match="prior differ from what agent.json records"):
        PTGM.load(saved)
    shutil.rmtree(saved / "prior")
    shutil.copytree(trained.pretraining.folders["prior"], saved / "prior")
    (saved / "policy" / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="checksum differs"):
        PTGM.load(saved)
    record["format"] = "ptgm-agent/0"
    (saved / "agent.json").write_text(json.dumps(record))
    with pytest.raises(AgentError, match="not a saved ptgm agent"):
        PTGM.load(saved)


def test_a_train_high_run_folder_loads_as_an_agent(trained):
    agent = PTGM.load(trained.run_path)
    assert agent.run_path == trained.run_path and agent.settings["out"] == str(trained.run_path)
    with pytest.raises(AgentError, match="is a 'ptgm train-high' run, not a 'ptgm train-flat' one"):
        FlatPPO.load(trained.run_path)


def test_settings_are_checked_when_the_agent_is_made(workdir):
    with pytest.raises(ConfigError, match="low given besides the pre-training"):
        PTGM(workdir / "runs" / "default", task="stone", low="elsewhere")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['n_env'\]"):
        PTGM(workdir / "runs" / "default", task="stone", n_env=2)
    with pytest.raises(ConfigError, match="--low-level-steps must be a number >= 1"):
        PTGM(workdir / "runs" / "default", task="stone", low_level_steps=0)


def test_load_refuses_a_missing_folder_and_one_without_models(tmp_path):
    with pytest.raises(AgentError, match="agent not found"):
        PTGM.load(tmp_path / "nowhere")
    with pytest.raises(AgentError, match="holds no pre-training"):
        PTGM.load(tmp_path)


# -- a user's own world ------------------------------------------------------------------------------------------------
CORRIDOR = WorldSpec(
    name="corridor", action_names=("noop", "left", "right"), achievements=("reach_end",), items=("steps",),
    item_max=9, id_names=("none", "floor", "end", "player"),
    symbolic_layout=SymbolicLayout(view_shape=(1, 5), n_ids=4, n_items=1), pixel_shape=(64, 64, 3),
    default_max_steps=50)
CORRIDOR_TASKS = "reach:\n  success: [reach_end]\n  max_steps: 30\n"


class Corridor(gym.Env):
    """Walk right along 8 cells to the end: the smallest world with what ptgm asks of one (`ptgm.envs.base`)."""

    LENGTH = 8

    def __init__(self, obs_mode: str = "symbolic", max_steps: int | None = None):
        self.max_steps = max_steps or CORRIDOR.default_max_steps
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(0, 9, (CORRIDOR.symbolic_layout.size,), np.uint8)
        self.world_seed = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.world_seed = int(seed) if seed is not None else self.world_seed + 1
        self.pos, self.t = 0, 0
        return self._obs(), self._info(False)

    def step(self, action):
        self.pos = int(np.clip(self.pos + (0, -1, 1)[int(action)], 0, self.LENGTH - 1))
        self.t += 1
        reached = self.pos == self.LENGTH - 1
        return self._obs(), float(reached), reached, self.t >= self.max_steps, self._info(reached)

    def _obs(self) -> np.ndarray:
        cells = [0 if not 0 <= self.pos + d < self.LENGTH else 2 if self.pos + d == self.LENGTH - 1 else 1
                 for d in range(-2, 3)]
        cells[2] = 3
        return np.array([*cells, min(self.t, 9)], np.uint8)

    def _info(self, reached: bool) -> dict:
        obs = self._obs()
        return {"symbolic": obs, "inventory": obs[5:6], "achievements": np.array([reached]),
                "player_pos": np.array([self.pos, 0])}


@pytest.fixture
def corridor(tmp_path):
    tasks = tmp_path / "corridor_tasks.yaml"
    tasks.write_text(CORRIDOR_TASKS)
    register_world("corridor", World(spec=CORRIDOR, make_env=Corridor, tasks_file=tasks))
    yield tasks
    del WORLDS["corridor"]


def test_a_registered_world_is_played_and_learnt_like_crafter(corridor, tmp_path):
    assert get_world("corridor") is CORRIDOR
    env = make_env("corridor", task="reach")
    obs, info = env.reset(seed=0)
    assert obs.shape == (6,) and env.step(2)[4]["success"] is False
    evals, checkpoints = EvalCallback(tmp_path / "best"), CheckpointCallback(tmp_path / "checkpoints")
    agent = FlatPPO("reach", world="corridor", out=str(tmp_path / "run"), eval_every=64, checkpoint_every=64,
                    **TINY_PPO).learn(total_timesteps=128, callback=[evals, checkpoints])
    logged = (tmp_path / "run" / "eval.csv").read_text().splitlines()[1:]
    assert [p.env_steps for p in evals.points] == [int(row.split(",")[0]) for row in logged]
    assert len(evals.points) >= 2 and (tmp_path / "best" / "weights.safetensors").is_file()
    assert checkpoints.saved and all((p / "config.json").is_file() for p in checkpoints.saved)
    action, _ = agent.predict(obs, deterministic=True)
    assert action in (0, 1, 2)
    loaded = FlatPPO.load(agent.save(tmp_path / "flat-agent"))
    assert loaded.predict(np.stack([obs] * 4), deterministic=True)[0].tolist() == [action] * 4


def test_an_unknown_world_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown world 'minecraft'; registered: crafter"):
        get_world("minecraft")
    with pytest.raises(TypeError, match="takes a ptgm.envs.World"):
        register_world("grid", CORRIDOR)
    with pytest.raises(ValueError, match="names itself 'corridor'"):
        register_world("grid", World(spec=CORRIDOR, make_env=Corridor))


# -- ptgm watch --------------------------------------------------------------------------------------------------------
def gif_frames(path: Path) -> tuple[int, tuple[int, int]]:
    from PIL import Image

    with Image.open(path) as gif:
        return gif.n_frames, gif.size


def test_watch_writes_a_gif_of_each_agent(trained, workdir, tmp_path, capsys):
    from ptgm.cli import main

    out = tmp_path / "high.gif"
    assert main(["watch", str(trained.run_path), "--out", str(out), "--episodes", "2", "--max-steps", "12",
                 "--scale", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 26 frames"  # 2 episodes x (first frame + 12 steps)
    assert gif_frames(out) == (26, (64 * 2 + 200, 64 * 2))
    for agent in ("low", "player"):
        out = tmp_path / f"{agent}.gif"
        assert main(["watch", str(workdir / "runs" / "default"), "--agent", agent, "--out", str(out),
                     "--max-steps", "5"]) == 0
        assert gif_frames(out) == (6, (64 * 4 + 200, 64 * 4))


def test_watch_mp4_without_imageio_ffmpeg_says_what_to_install(trained, tmp_path, monkeypatch, capsys):
    import importlib.util

    from ptgm.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))
    assert main(["watch", str(trained.run_path), "--out", str(tmp_path / "a.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs imageio-ffmpeg (pip install imageio-ffmpeg); or use --out FILE.gif" in err
    assert not (tmp_path / "a.mp4").exists()


def test_an_installed_package_registers_its_world_through_an_entry_point(monkeypatch):
    from importlib.metadata import EntryPoint

    from ptgm.envs import registry

    point = EntryPoint("corridor", "test_api:CORRIDOR_WORLD", "ptgm.worlds")
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == "ptgm.worlds" else [])
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    registry.register_installed_worlds()
    try:
        assert WORLDS["corridor"] == "test_api:CORRIDOR_WORLD"  # not imported until asked for
        assert get_world("corridor").name == "corridor" and isinstance(WORLDS["corridor"], World)
    finally:
        del WORLDS["corridor"]


CORRIDOR_WORLD = World(spec=CORRIDOR, make_env=Corridor)
