"""The Crafter environment: Gymnasium compliance, observation modes, seeding, vector envs."""

import copy
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ptgm.envs import get_world, make_env
from ptgm.envs.crafter import CrafterEnv

WORLD = get_world("crafter")


@pytest.mark.parametrize("obs_mode", ["pixels", "symbolic"])
def test_check_env(obs_mode):
    check_env(CrafterEnv(obs_mode=obs_mode), skip_render_check=True)


@pytest.mark.parametrize("obs_mode", ["pixels", "symbolic"])
def test_observation_and_info(obs_mode):
    env = make_env(obs_mode=obs_mode)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    if obs_mode == "pixels":
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    else:
        assert obs.shape == (WORLD.symbolic_layout.size,)
        np.testing.assert_array_equal(obs, info["symbolic"])
    view, inventory, extras = WORLD.symbolic_layout.split(info["symbolic"])
    assert view.shape == (9, 9) and view[4, 4] == WORLD.id_names.index("player")
    np.testing.assert_array_equal(inventory, info["inventory"])
    assert list(inventory[:4]) == [9, 9, 9, 9]  # health, food, drink, energy start full
    assert info["achievements"].shape == (len(WORLD.achievements),) and not info["achievements"].any()
    assert info["player_pos"].shape == (2,)
    obs, reward, terminated, truncated, info = env.step(0)
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert "symbolic" in info and "unlocked" in info


def test_symbolic_view_matches_world():
    env = make_env(obs_mode="symbolic")
    env.reset(seed=3)
    raw = env.unwrapped.crafter
    x, y = raw._player.pos
    view = WORLD.symbolic_layout.split(env.unwrapped.symbolic())[0]
    # Row = y, column = x: the cell right of the player is (x + 1, y).
    material = raw._world[(x + 1, y)][0]
    if raw._world[(x + 1, y)][1] is None:
        assert WORLD.id_names[view[4, 5]] == material


def _rollout(env, seed, actions):
    """Observations along `actions` after reset(seed); seed None: from the env's present state."""
    obs = env.reset(seed=seed)[0] if seed is not None else env.unwrapped.observe_again()[0]
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    return np.stack(out)


@pytest.mark.parametrize("obs_mode", ["pixels", "symbolic"])
def test_same_seed_same_world_and_trajectory(obs_mode):
    actions = np.random.default_rng(0).integers(0, WORLD.n_actions, 60)
    a = _rollout(make_env(obs_mode=obs_mode), 7, actions)
    b = _rollout(make_env(obs_mode=obs_mode), 7, actions)
    c = _rollout(make_env(obs_mode=obs_mode), 8, actions)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Reseeding the same instance also reproduces the world.
    env = make_env(obs_mode=obs_mode)
    _rollout(env, 1, actions[:5])
    np.testing.assert_array_equal(_rollout(env, 7, actions), a)


@pytest.mark.parametrize("obs_mode", ["pixels", "symbolic"])
def test_a_deep_copy_steps_and_renders_its_own_world(obs_mode):
    # eval-low copies its start states; a copy once rendered the original's frozen world.
    actions = np.random.default_rng(1).integers(0, WORLD.n_actions, 40)
    original = make_env(obs_mode=obs_mode)
    start, _ = original.reset(seed=7)
    copied = _rollout(copy.deepcopy(original), None, actions)  # None: continue from the copied state
    np.testing.assert_array_equal(copied, _rollout(make_env(obs_mode=obs_mode), 7, actions))
    np.testing.assert_array_equal(original.unwrapped.observe_again()[0], start)  # the original stayed put
    again = copy.deepcopy(original)
    again.reset(seed=8)
    np.testing.assert_array_equal(original.unwrapped.observe_again()[0], start)  # resetting a copy too


def test_episode_truncates_at_max_steps():
    env = make_env(obs_mode="symbolic", max_steps=5)
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs(vector_cls):
    fns = [partial(make_env, obs_mode="symbolic", task="wood") for _ in range(2)]
    envs = vector_cls(fns)
    try:
        obs, info = envs.reset(seed=[1, 2])
        assert obs.shape == (2, WORLD.symbolic_layout.size)
        for _ in range(5):
            obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert obs.shape[0] == 2 and reward.shape == (2,)
        assert info["symbolic"].shape == (2, WORLD.symbolic_layout.size)
    finally:
        envs.close()


def test_bad_obs_mode():
    with pytest.raises(ValueError, match="unknown obs_mode"):
        make_env(obs_mode="rgb")


def test_death_cause_names_what_is_next_to_the_player():
    from crafter import objects

    env = CrafterEnv()
    env.reset(seed=3)
    game = env.crafter
    player = game._player
    for obj in list(game._world.objects):  # a clean neighbourhood: only the player
        if obj is not player:
            game._world.remove(obj)
    assert env.death_cause() == "other"
    player.inventory["drink"] = 0
    player.inventory["food"] = 0
    assert env.death_cause() == "starved:food+drink"
    x, y = player.pos
    game._world[(x + 2, y)] = "grass"  # within 2 cells, whatever the world put there
    game._world.add(objects.Zombie(game._world, (x + 2, y), player))
    assert env.death_cause() == "zombie"
    player.sleeping = True
    assert env.death_cause() == "zombie(asleep)"
    game._world[player.pos] = "lava"
    assert env.death_cause() == "lava"


def test_ending_says_timeout_or_the_death_cause_and_whether_it_is_dark():
    env = CrafterEnv()
    env.reset(seed=3)
    assert env.ending(terminated=False) == {"dark": False, "cause": "timeout"}  # daylight is full at reset
    env.crafter._player.inventory["food"] = 0
    env.crafter._world.daylight = 0.2
    ending = env.ending(terminated=True)
    assert ending["dark"] and ending["cause"] in ("starved:food", "zombie", "arrow")


def test_night_state_says_dark_asleep_walled_in_and_stone():
    from crafter import objects

    env = CrafterEnv()
    env.reset(seed=3)
    game, player = env.crafter, env.crafter._player
    for obj in list(game._world.objects):
        if obj is not player:
            game._world.remove(obj)
    x, y = (int(v) for v in player.pos)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # open ground all round
        game._world[(x + dx, y + dy)] = "grass"
    assert env.night_state() == {"dark": False, "asleep": False, "walled_in": False, "stone": 0}
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # stone all round: a pocket of one cell
        game._world[(x + dx, y + dy)] = "stone"
    player.inventory["stone"] = 3
    player.sleeping = True
    game._world.daylight = 0.2
    assert env.night_state() == {"dark": True, "asleep": True, "walled_in": True, "stone": 3}
    game._world[(x + 1, y)] = "path"  # a pocket of two cells with a zombie in it is no shelter
    game._world.add(objects.Zombie(game._world, (x + 1, y), player))
    assert env.night_state()["walled_in"] is False


@pytest.mark.parametrize("obs_mode", ["symbolic", "pixels"])
def test_worlds_generated_ahead_are_the_worlds_resets_build(obs_mode):
    def play(ahead: bool) -> list:
        env = make_env(obs_mode=obs_mode, task="stone")
        rng = np.random.default_rng(0)
        out = [env.reset(seed=9)[0]]
        for episode in range(4):
            if ahead and episode % 2 == 0:
                env.unwrapped.prepare_resets(2)
            for _ in range(5):
                out.append(env.step(int(rng.integers(env.action_space.n)))[0])
            obs, info = env.reset(seed=21) if episode == 2 else env.reset()  # a seeded reset drops the worlds made ahead
            out += [obs, info["symbolic"], env.unwrapped.world_seed, env.unwrapped.crafter._episode]
        return out

    for a, b in zip(play(False), play(True), strict=True):
        np.testing.assert_array_equal(a, b)
