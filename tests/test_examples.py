"""examples/own_world.py, the README's example of a world of one's own, runs as it says."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ptgm.envs import WORLDS, make_env
from ptgm.pipeline import Pretrained, check_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def example():
    spec = importlib.util.spec_from_file_location("own_world", ROOT / "examples" / "own_world.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["own_world"] = module
    spec.loader.exec_module(module)
    yield module
    WORLDS.pop("corridor", None)
    del sys.modules["own_world"]


def test_the_example_world_is_a_gymnasium_env_that_reports_what_ptgm_asks(example):
    check_env(example.Corridor(), skip_render_check=True)
    env = example.Corridor()
    obs, info = env.reset(seed=3)
    assert env.world_seed == 3 and obs.tolist() == info["symbolic"].tolist()
    coin = env.coin
    for _ in range(coin):
        obs, _, _, _, info = env.step(2)
    assert not info["achievements"][1]
    obs, _, _, _, info = env.step(3)  # pick on the coin's cell
    assert info["achievements"].tolist() == [coin == example.LENGTH - 1, True] and obs[5] == 1
    obs, _, _, _, info = env.step(3)  # once only
    assert not info["achievements"][1] and info["unlocked"][1] and obs[5] == 1
    assert env.ending(terminated=False) == {"cause": "timeout"}


def test_the_example_config_is_a_valid_plan_on_the_registered_world(example, tmp_path):
    from ptgm.envs import World, register_world

    register_world("corridor", World(spec=example.SPEC, make_env=example.Corridor))
    (tmp_path / "corridor_tasks.yaml").write_text(example.TASKS)
    cfg = example.config(tmp_path)
    plan = check_run(cfg, Pretrained(tmp_path))
    assert sorted(method for method, _ in plan) == ["flat", "ptgm"]
    env = make_env("corridor", task="coin", tasks_file=str(tmp_path / "corridor_tasks.yaml"))
    env.reset(seed=0)
    assert np.isfinite(env.step(0)[1])


@pytest.mark.slow
def test_the_example_runs_end_to_end(example, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["own_world.py", "--out", str(tmp_path / "run")])
    example.main()
    report = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "| coin | flat |" in report and "| coin | ptgm" in report
