"""The Franka Kitchen world: the env, its tasks, the scripted demonstrator, and its datasets."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from ptgm.cli import main  # noqa: E402
from ptgm.data.collect import CollectConfig, collect  # noqa: E402
from ptgm.data.stats import dataset_stats, format_stats  # noqa: E402
from ptgm.data.store import DatasetError, EpisodeStore, check_episode, write_episode  # noqa: E402
from ptgm.envs import TaskEnv, TaskError, get_task, get_world, load_tasks, make_env, make_player  # noqa: E402
from ptgm.envs.kitchen import KitchenEnv, KitchenPlayer  # noqa: E402

WORLD = get_world("kitchen")
FOUR = ("microwave", "kettle", "bottom_burner", "light_switch")


def _rollout(env, seed: int, steps: int) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 9)).astype(np.float32)
    return np.stack([obs] + [env.step(a)[0] for a in actions])


def test_spec_and_observation():
    assert WORLD.continuous and WORLD.action_shape == (9,) and WORLD.obs_modes == ("symbolic",)
    assert WORLD.achievements == ("bottom_burner", "top_burner", "light_switch", "slide_cabinet", "hinge_cabinet",
                                  "microwave", "kettle")
    start, end = WORLD.state_slices["objects"]
    assert end - start == 21 and WORLD.symbolic_layout.size == 59
    env = make_env("kitchen")
    obs, info = env.reset(seed=0)
    assert obs.shape == (59,) and obs.dtype == np.float32 and np.array_equal(obs, info["symbolic"])
    # the kettle's x, y, z at the start: on the bottom left burner
    assert np.allclose(obs[start + 14 : start + 17], [-0.269, 0.35, 1.62], atol=0.01)
    obs, reward, terminated, truncated, info = env.step(np.zeros(9, np.float32))
    assert reward == 0.0 and not terminated and not truncated
    assert info["achievements"].shape == info["unlocked"].shape == (7,) and not info["unlocked"].any()
    assert info["inventory"].shape == (0,) and "player_pos" not in info
    with pytest.raises(ValueError, match="obs_mode"):
        make_env("kitchen", obs_mode="pixels")


def test_determinism_under_a_seed():
    a, b = KitchenEnv(), KitchenEnv()
    first = _rollout(a, 7, 20)
    assert np.array_equal(first, _rollout(b, 7, 20))
    assert np.array_equal(first, _rollout(a, 7, 20))  # a second episode of the same env
    assert not np.array_equal(first, _rollout(a, 8, 20))  # the observation noise follows the seed


def test_a_deep_copy_continues_exactly_as_the_original():
    # eval-low restores its start states by deep copy; a copy must be this kitchen, not a new one
    import copy

    env = KitchenEnv()
    env.reset(seed=5)
    for _ in range(5):
        env.step(np.full(9, 0.3, np.float32))
    copies = [copy.deepcopy(env) for _ in range(2)]
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 9)).astype(np.float32)
    runs = [np.stack([e.step(a)[0] for a in actions]) for e in [*copies, env]]  # the copies first, then the original
    assert np.array_equal(runs[0], runs[2]) and np.array_equal(runs[1], runs[2])
    assert copies[0].data is not env.data and copies[0].kitchen.robot_env.data is copies[0].data
    # and a copy starts a new episode as any kitchen does
    assert np.array_equal(_rollout(copies[0], 7, 10), _rollout(KitchenEnv(), 7, 10))


@pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value is:UserWarning")
def test_check_env():
    check_env(KitchenEnv(max_steps=50), skip_render_check=True)


def test_episode_ends_at_max_steps():
    env = KitchenEnv(max_steps=3)
    env.reset(seed=0)
    ends = [env.step(np.zeros(9))[3] for _ in range(3)]
    assert ends == [False, False, True]


def test_tasks():
    tasks = load_tasks(WORLD)
    four = tasks["standard_four"]
    assert set(four.success) == set(FOUR) and four.needs == "all" and four.reward == "each"
    assert four.max_steps == 280
    assert set(tasks["all_seven"].success) == set(WORLD.achievements)
    for name in WORLD.achievements:
        assert tasks[name].success == (name,)
    assert "wood" not in tasks  # Crafter's tasks stay Crafter's
    with pytest.raises(TaskError, match="unknown task 'wood'.*standard_four"):
        make_env("kitchen", task="wood")


class _Scripted(gym.Env):
    """Reports a fixed sequence of achievement events, one row per step."""

    observation_space = gym.spaces.Box(-1, 1, (1,))
    action_space = gym.spaces.Box(-1, 1, (9,))

    def __init__(self, events):
        self.events = np.asarray(events, bool)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros(1, np.float32), {"achievements": np.zeros(7, bool)}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 0.0, False, False, {"achievements": self.events[self.t - 1]}


def test_needs_all_pays_each_subtask_once():
    a = {name: i for i, name in enumerate(WORLD.achievements)}
    rows = np.zeros((5, 7), bool)
    rows[0, a["microwave"]] = rows[1, a["microwave"]] = True  # done twice: paid once
    rows[2, [a["kettle"], a["top_burner"]]] = True  # top burner is not part of the task
    rows[3, a["bottom_burner"]] = rows[4, a["light_switch"]] = True
    env = TaskEnv(_Scripted(rows), get_task("standard_four", WORLD), WORLD)
    env.reset()
    steps = [env.step(np.zeros(9)) for _ in range(5)]
    assert [s[1] for s in steps] == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert [s[4]["success"] for s in steps] == [False, False, False, False, True]
    assert [s[2] for s in steps] == [False, False, False, False, True]  # ends on success


def _play(name: str, seed: int) -> bool:
    env = make_env("kitchen", task=name)
    player = KitchenPlayer(seed, subtasks=get_task(name, WORLD).success)
    obs, info = env.reset(seed=seed)
    player.reset(env.unwrapped)
    for _ in range(280):
        obs, _, terminated, truncated, info = env.step(player.act(obs, info))
        if terminated or truncated:
            break
    return bool(info["success"])


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", WORLD.achievements)
def test_scripted_subtask(name, seed):
    assert _play(name, seed)


def test_scripted_standard_four_within_280_steps():
    assert _play("standard_four", 0)


def test_player_is_task_agnostic_and_random():
    player = make_player("scripted", 3, "kitchen")
    env = make_env("kitchen")
    plans = set()
    for seed in range(6):
        env.reset(seed=seed)
        player.reset(env.unwrapped)
        assert len(set(player.plan)) == len(player.plan) >= 3 and set(player.plan) <= set(WORLD.achievements)
        plans.add(tuple(player.plan))
    assert len(plans) > 1
    action = player.act(*env.reset(seed=0))
    assert action.shape == (9,) and action.dtype == np.float32 and np.abs(action).max() <= 1
    with pytest.raises(ValueError, match="unknown kitchen subtask"):
        KitchenPlayer(0, subtasks=("dishes",))


def test_collection_round_trip(tmp_path):
    out = tmp_path / "ds"
    collect(CollectConfig(out=str(out), world="kitchen", player="scripted", frames=50, max_episode_steps=30, seed=1),
            progress=False)
    store = EpisodeStore(out)
    assert store.world == "kitchen" and store.num_frames == 50 and not store.has_pixels
    assert [e.length for e in store.episodes] == [30, 20]
    arrays = store.load("ep-000000")
    assert arrays["obs_symbolic"].shape == (31, 59) and arrays["obs_symbolic"].dtype == np.float32
    assert arrays["actions"].shape == (30, 9) and arrays["actions"].dtype == np.float32
    assert arrays["achievements"].shape == (30, 7) and arrays["inventory"].shape == (31, 0)
    assert "player_pos" not in arrays and "obs_pixels" not in arrays
    stats = dataset_stats(store)
    assert stats["action_histogram"] is None and set(stats["achievement_rates"]) == set(WORLD.achievements)
    assert "crafter score" not in format_stats(stats)
    # the recorded actions replay the recorded states (the env is deterministic under its seed)
    env = make_env("kitchen")
    obs, _ = env.reset(seed=store.episodes[0].env_seed)
    for t, action in enumerate(arrays["actions"]):
        assert np.array_equal(obs, arrays["obs_symbolic"][t])
        obs = env.step(action)[0]


def test_store_checks_continuous_actions(tmp_path):
    env = make_env("kitchen")
    obs, info = env.reset(seed=0)
    good = {"obs_symbolic": np.stack([obs, obs]), "actions": np.zeros((1, 9), np.float32),
            "achievements": np.zeros((1, 7), bool), "rewards": np.zeros(1, np.float32)}
    check_episode(good, 1, WORLD, "ep")
    bad = [({"actions": np.zeros(1, np.uint8)}, "actions"), ({"actions": np.full((1, 9), 1.5, np.float32)}, "out of range"),
           ({"actions": np.full((1, 9), np.nan, np.float32)}, "finite"),
           ({"obs_symbolic": np.full((2, 59), np.inf, np.float32)}, "finite"),
           ({"obs_symbolic": np.zeros((2, 58), np.float32)}, "shape")]
    for change, message in bad:
        with pytest.raises(DatasetError, match=message):
            write_episode(tmp_path, 0, {**good, **change}, 0, WORLD)


def test_cli_tasks_and_bad_world(capsys):
    assert main(["tasks", "--world", "kitchen"]) == 0
    assert "standard_four" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["collect", "--env", "kitchn", "--out", "/tmp/never"])


def test_the_crafter_players_settings_are_refused_for_kitchen():
    from ptgm.envs import make_player

    for setting in ({"perception": "local"}, {"choices": "greedy"}, {"target_spread": 1.0}):
        with pytest.raises(ValueError, match="no --target-spread, --perception or --choices"):
            make_player("scripted", 0, "kitchen", **setting)
