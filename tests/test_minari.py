"""Minari interchange: export and import round trips on ptgm's own data, a D4RL-kitchen-like Dict observation,
and bad inputs refused in one line. Local files only."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

minari = pytest.importorskip("minari")

from ptgm.cli import main  # noqa: E402
from ptgm.config import ConfigError  # noqa: E402
from ptgm.data.collect import CollectConfig, collect  # noqa: E402
from ptgm.data.minari_io import export_minari, import_minari  # noqa: E402
from ptgm.data.store import DatasetError, EpisodeStore  # noqa: E402
from ptgm.envs import get_world  # noqa: E402

KEYS = ("obs_symbolic", "actions", "rewards", "terminations", "truncations")
HAS_KITCHEN = importlib.util.find_spec("gymnasium_robotics") is not None


@pytest.fixture(autouse=True)
def local_minari_store(tmp_path, monkeypatch):
    """An empty local Minari store, so that no test reads or writes the user's ~/.minari."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari-store"))


@pytest.fixture(scope="module")
def crafter_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crafter") / "ds"
    collect(CollectConfig(out=str(out), frames=300, player="scripted", pixels=False, seed=2, max_episode_steps=120),
            progress=False)
    return out


def assert_same_episodes(a: EpisodeStore, b: EpisodeStore, keys=KEYS) -> None:
    assert [e.length for e in a.episodes] == [e.length for e in b.episodes]
    for ea, eb in zip(a.episodes, b.episodes):
        x, y = a.load(ea.id), b.load(eb.id)
        for key in keys:
            assert x[key].dtype == y[key].dtype, key
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
        assert ea.env_seed == eb.env_seed and ea.unlocked == eb.unlocked


def test_crafter_round_trip(crafter_data, tmp_path):
    exported = export_minari(crafter_data, tmp_path / "m")
    dataset = minari.MinariDataset(exported / "data")  # what any Minari user reads
    assert dataset.total_steps == 300 and dataset.id == "ptgm/crafter-scripted-v0"
    assert dataset.observation_space.shape == (get_world("crafter").symbolic_layout.size,)
    assert dataset.action_space.n == get_world("crafter").n_actions
    back = EpisodeStore(import_minari(exported, tmp_path / "back"))
    source = EpisodeStore(crafter_data)
    assert back.world == "crafter" and not back.records_noise and not back.has_pixels
    # Inventory and achievements travel too (infos, and the symbolic view), and player positions.
    assert_same_episodes(source, back, (*KEYS, "inventory", "achievements", "player_pos"))
    assert not list(tmp_path.glob(".*"))  # no scratch folders left behind


def test_crafter_pixels_travel_losslessly(tmp_path):
    data = tmp_path / "ds"
    collect(CollectConfig(out=str(data), frames=60, player="random", pixels=True, seed=4, max_episode_steps=40),
            progress=False)
    exported = export_minari(data, tmp_path / "m")
    space = minari.MinariDataset(exported / "data").observation_space  # a Dict: symbolic and pixels
    assert space["pixels"].shape == (64, 64, 3) and space["symbolic"].dtype == np.uint8
    back = EpisodeStore(import_minari(exported, tmp_path / "back"))
    assert back.has_pixels
    assert_same_episodes(EpisodeStore(data), back, (*KEYS, "obs_pixels"))  # stored without JPEG


def test_cli_export_import_and_a_local_dataset_id(crafter_data, tmp_path, capsys):
    store = tmp_path / "minari-store"
    assert main(["data", "export", str(crafter_data), "--format", "minari", "--out",
                 str(store / "me" / "crafter-demo-v1"), "--dataset-id", "me/crafter-demo-v1"]) == 0
    assert minari.load_dataset("me/crafter-demo-v1").total_steps == 300  # found where Minari looks
    assert main(["data", "import", "me/crafter-demo-v1", "--out", str(tmp_path / "back")]) == 0  # by its id
    assert "3 episodes, 300 frames" in capsys.readouterr().out
    assert_same_episodes(EpisodeStore(crafter_data), EpisodeStore(tmp_path / "back"))


def test_bad_inputs_are_one_line_errors(crafter_data, tmp_path, capsys):
    def refused(*argv: str) -> str:
        assert main(list(argv)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    assert "no Minari dataset at" in refused("data", "import", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert "not a Minari dataset" in refused("data", "import", str(crafter_data), "--out", str(tmp_path / "o"))
    assert "not a Minari dataset id" in refused("data", "export", str(crafter_data), "--format", "minari", "--out",
                                                 str(tmp_path / "m"), "--dataset-id", "no spaces allowed")
    exported = export_minari(crafter_data, tmp_path / "m")
    assert "not empty" in refused("data", "export", str(crafter_data), "--format", "minari", "--out", str(exported))
    assert "not empty" in refused("data", "import", str(exported), "--out", str(crafter_data))
    assert "exported from a crafter dataset" in refused("data", "import", str(exported), "--out", str(tmp_path / "o"),
                                                        "--world", "kitchen")
    # Crafter-shaped data read as another world's: shapes do not fit.
    foreign = _minari_dataset(tmp_path / "f", np.zeros((6, 100), np.uint8), np.zeros(5, np.int64))
    assert "not say which world" in refused("data", "import", str(foreign), "--out", str(tmp_path / "o"))
    assert "symbolic observation is (59,)" in refused("data", "import", str(foreign), "--out", str(tmp_path / "o"),
                                                      "--world", "kitchen")
    # An action id the world does not have is refused, not wrapped into uint8.
    bad_ids = _minari_dataset(tmp_path / "b", np.zeros((6, 100), np.uint8), np.full(5, 300, np.int64))
    assert "action id 300 is out of range" in refused("data", "import", str(bad_ids), "--out", str(tmp_path / "o"),
                                                      "--world", "crafter")
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))  # a refused import leaves nothing


def _minari_dataset(path: Path, obs, actions, infos=None, rewards=None) -> Path:
    """A one-episode Minari dataset as another producer would write it (Box or Dict observation)."""
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    def space(value):
        if isinstance(value, dict):
            return gym.spaces.Dict({k: space(v) for k, v in value.items()})
        value = np.asarray(value)
        if value.dtype.kind == "f":
            return gym.spaces.Box(-np.inf, np.inf, value.shape[1:], value.dtype)
        return gym.spaces.Box(0, 255, value.shape[1:], value.dtype)

    actions = np.asarray(actions)
    action_space = (gym.spaces.Box(-1, 1, actions.shape[1:], actions.dtype) if actions.dtype.kind == "f"
                    else gym.spaces.Discrete(17))
    storage = MinariStorage.new(path.absolute(), observation_space=space(obs), action_space=action_space)
    storage.update_metadata({"dataset_id": "other/made-elsewhere-v0", "minari_version": minari.__version__})
    n = len(actions)
    storage.update_episodes([EpisodeBuffer(
        id=0, observations=obs, actions=actions, rewards=np.zeros(n) if rewards is None else rewards,
        terminations=np.zeros(n, bool), truncations=np.arange(n) == n - 1, infos=infos)])
    return path


def _kitchen_states(steps: int) -> np.ndarray:
    """Kitchen-like states: the microwave door (state 31 = qpos 22) swings open from step 3 on."""
    states = np.random.default_rng(0).normal(0, 0.01, (steps + 1, 59))
    states[3:, 31] = -0.75
    return states


def test_a_dict_observation_imports_its_observation_key(tmp_path):
    """D4RL/kitchen/* stores Gymnasium-Robotics' goal dict; the 59 floats are its `observation`."""
    steps = 6
    states = _kitchen_states(steps)  # float64, as D4RL's
    obs = {"observation": states, "achieved_goal": {"microwave": states[:, 31:32]},
           "desired_goal": {"microwave": np.full((steps + 1, 1), -0.75)}}
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, 9)).astype(np.float32)
    src = _minari_dataset(tmp_path / "d4rl", obs, actions, rewards=np.arange(steps, dtype=np.float64))
    store = EpisodeStore(import_minari(src, tmp_path / "kitchen", world="kitchen"))
    arrays = store.load(store.episodes[0].id)
    assert arrays["obs_symbolic"].dtype == np.float32
    np.testing.assert_allclose(arrays["obs_symbolic"], states.astype(np.float32))
    np.testing.assert_array_equal(arrays["actions"], actions)
    np.testing.assert_array_equal(arrays["rewards"], np.arange(steps, dtype=np.float32))
    # No infos: the subtask events come from the states (the microwave, once, on the step it opened).
    assert arrays["achievements"].sum() == 1 and arrays["achievements"][2, 5]
    assert store.episodes[0].unlocked == ["microwave"]
    # Out-of-range actions are refused, naming the value.
    bad = _minari_dataset(tmp_path / "bad", {"observation": states}, np.full((steps, 9), 1.5, np.float32))
    with pytest.raises(DatasetError, match="action value 1.5 is out of range"):
        import_minari(bad, tmp_path / "k2", world="kitchen")
    with pytest.raises(ConfigError, match="give --world"):
        import_minari(bad, tmp_path / "k3")


@pytest.mark.skipif(not HAS_KITCHEN, reason="the kitchen extra is not installed")
def test_kitchen_round_trip(tmp_path):
    data = tmp_path / "kitchen"
    collect(CollectConfig(out=str(data), world="kitchen", frames=100, player="random", seed=0, max_episode_steps=50),
            progress=False)
    exported = export_minari(data, tmp_path / "m")
    assert minari.MinariDataset(exported / "data").action_space.shape == (9,)
    back = EpisodeStore(import_minari(exported, tmp_path / "back"))
    assert back.world == "kitchen"
    assert_same_episodes(EpisodeStore(data), back, (*KEYS, "achievements"))


@pytest.mark.skipif(not HAS_KITCHEN, reason="the kitchen extra is not installed")
def test_kitchen_events_from_states_match_the_env(tmp_path):
    """What an import without infos recomputes is what the env reported, on the scripted player's episodes."""
    from ptgm.envs.kitchen import events_from_states

    data = tmp_path / "kitchen"
    collect(CollectConfig(out=str(data), world="kitchen", frames=280, player="scripted", seed=0), progress=False)
    store = EpisodeStore(data)
    arrays = store.load(store.episodes[0].id)
    assert arrays["achievements"].any()  # seed 0: it completes subtasks in its first episode
    np.testing.assert_array_equal(events_from_states(arrays["obs_symbolic"]), arrays["achievements"])
