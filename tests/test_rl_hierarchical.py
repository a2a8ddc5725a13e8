"""The vector envs under RL: early termination inside a high-level step, env-step accounting,
pausing, continuous goals, evaluation on fixed worlds, and the SMDP advantage estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ptgm.envs import get_world
from ptgm.evaluate.periodic import play_episodes
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.models.low_level import LowLevelPolicy
from ptgm.rl.hierarchical import GoalBox, HierarchicalVecEnv
from ptgm.rl.ppo import compute_advantages
from ptgm.envs.vector import PAUSE, PausableEnv, TaskVecEnv
from ptgm.envs import make_env

WORLD = get_world("crafter")
EMBEDDER = make_embedder("state", WORLD)
NOOP = WORLD.action_names.index("noop")
PLACE_TABLE = WORLD.action_names.index("place_table")

TASKS = """
table:              # placing a table succeeds at once: the player spawns on grass, facing grass
  success: [place_table]
  start_inventory: {wood: 9}
  max_steps: 50
short:              # ends by the step limit after 7 steps
  success: [collect_diamond]
  max_steps: 7
"""


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tasks") / "tasks.yaml"
    path.write_text(TASKS)
    return path


def two_codes() -> Codebook:
    """Code 0: all zeros, code 1: all ones (the scripted low-level policy reads goal[0])."""
    codes = np.stack([np.zeros(EMBEDDER.dim), np.ones(EMBEDDER.dim)]).astype(np.float32)
    return Codebook(codes, EMBEDDER.settings(), [{"episode": "x", "step": i} for i in range(2)])


class ScriptedLow:
    """A low-level 'policy' that places a table on its `place_on_call`-th call for goals with goal[0] > 0.5,
    and otherwise does nothing; it records the batch size of every call."""

    obs_mode = "symbolic"
    goal_dim = EMBEDDER.dim
    needs_current = False

    def __init__(self, place_on_call: int):
        self.place_on_call = place_on_call
        self.calls = 0
        self.batch_sizes: list[int] = []

    def act(self, obs, goal, cond_scale=0.0, deterministic=False, generator=None, unconditional=False, current=None):
        self.deterministic = deterministic
        self.calls += 1
        self.batch_sizes.append(len(obs))
        place = (goal[:, 0] > 0.5) & (self.calls == self.place_on_call)
        return torch.where(place, PLACE_TABLE, NOOP)


def test_an_episode_ending_mid_step_stops_there_and_the_others_go_on(tasks_file):
    low = ScriptedLow(place_on_call=3)
    with HierarchicalVecEnv("table", 2, low, two_codes(), low_level_steps=5, cond_scale=0.0, tasks_file=tasks_file,
                            vector="sync") as env:
        env.reset(seed=3)
        step = env.step(np.array([1, 0]))
        world_steps = [e.unwrapped.crafter._step for e in env.envs.envs]
    assert world_steps == [0, 5]  # env 0 already restarted; env 1's world moved 5 steps
    # env 0 succeeded on its 3rd env step and was held still; env 1 ran all 5.
    assert step.env_steps.tolist() == [3, 5]
    assert step.terminated.tolist() == [True, False] and not step.truncated.any()
    assert step.reward.tolist() == [1.0, 0.0]
    assert low.batch_sizes == [2, 2, 2, 1, 1]  # the ended env is left out of the low-level batch
    assert [(e.env, e.length, e.success, e.episode_return) for e in step.episodes] == [(0, 3, True, 1.0)]
    layout = WORLD.symbolic_layout
    table = WORLD.id_names.index("table")
    # final_obs is where the episode ended (the table in view); obs is the next episode's start.
    assert (step.final_obs["symbolic"][0, : layout.view_size] == table).any()
    assert not (step.obs["symbolic"][0, : layout.view_size] == table).any()
    assert step.obs["symbolic"][0, layout.view_size + WORLD.items.index("wood")] == 9
    np.testing.assert_array_equal(step.final_obs["symbolic"][1], step.obs["symbolic"][1])


def test_env_steps_count_every_world_step_across_truncations(tasks_file):
    low = LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32)
    with HierarchicalVecEnv("short", 2, low, two_codes(), low_level_steps=5, cond_scale=1.0, tasks_file=tasks_file,
                            embedder=EMBEDDER,
                            vector="sync") as env:
        env.reset(seed=0)
        steps, world_steps, total = [], [], 0
        for _ in range(4):
            step = env.step(np.array([0, 1]))
            steps.append(step.env_steps.tolist())
            world_steps.append([e.unwrapped.crafter._step for e in env.envs.envs])
            total += int(step.env_steps.sum())
            if step.ended.any():
                assert step.truncated.all() and not step.terminated.any()
                assert [e.length for e in step.episodes] == [7, 7]
    # 7-step episodes cut into high-level steps of at most 5: 5 + 2, then a new episode.
    assert steps == [[5, 5], [2, 2], [5, 5], [2, 2]]
    assert world_steps == [[5, 5], [0, 0], [5, 5], [0, 0]]
    assert total == 28


def test_pause_leaves_the_world_alone():
    env = PausableEnv(make_env(task="wood"))
    obs, _ = env.reset(seed=5)
    moved, *_ = env.step(WORLD.action_names.index("move_left"))
    before = env.unwrapped.crafter._step
    held, reward, terminated, truncated, info = env.step(PAUSE)
    assert env.unwrapped.crafter._step == before
    np.testing.assert_array_equal(held, moved)
    assert (reward, terminated, truncated, info["success"]) == (0.0, False, False, False)


def test_subprocess_workers_match_in_process_ones():
    # relative goals: the env embeds every observation it hands the low-level policy, in both vector modes
    low = LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32, goal_input="relative")
    results = []
    for vector in ("sync", "async"):
        torch.manual_seed(0)
        with HierarchicalVecEnv("wood", 2, low, two_codes(), 4, 2.0, vector=vector, seed=7, embedder=EMBEDDER) as env:
            obs = env.reset(seed=11)
            trace = [obs["symbolic"].copy()]
            for codes in ([0, 1], [1, 1], [1, 0]):
                step = env.step(np.array(codes))
                trace += [step.obs["symbolic"].copy(), step.env_steps.copy(), step.reward.copy()]
        results.append(trace)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_continuous_goals_stay_in_the_codes_box():
    codes = np.array([[0.0, 0.2], [1.0, 0.4], [0.5, 0.3]], np.float32)
    box = GoalBox(codes)
    goals = box(torch.tensor([[-1.0, 1.0], [0.0, 0.0], [5.0, -7.0]]))
    np.testing.assert_allclose(goals.numpy(), [[0.0, 0.4], [0.5, 0.3], [1.0, 0.2]], atol=1e-6)


def test_continuous_mode_steps_with_goal_vectors():
    low = LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32)
    book = two_codes()
    with HierarchicalVecEnv("wood", 2, low, book, 3, 1.0, continuous=True, vector="sync", embedder=EMBEDDER) as env:
        env.reset(seed=0)
        goals = env.goals(np.full((2, EMBEDDER.dim), 3.0, np.float32))
        assert torch.all(goals == 1.0)  # clipped to the codes' maximum
        step = env.step(np.random.default_rng(0).normal(size=(2, EMBEDDER.dim)).astype(np.float32))
        assert step.env_steps.tolist() == [3, 3]
        with pytest.raises(ValueError):
            HierarchicalVecEnv("wood", 1, low, book, 3, 1.0, vector="sync", embedder=EMBEDDER).goals(np.array([2]))


def test_evaluation_plays_each_world_once_and_idles_the_rest(tasks_file):
    with TaskVecEnv("short", 2, tasks_file=tasks_file, vector="sync") as env:
        episodes = play_episodes(env, lambda obs: np.full(2, NOOP), [101, 102, 103])
        assert [e.world_seed for e in episodes] == [101, 102, 103]
        assert all(e.length == 7 for e in episodes)
        assert env.idle.all()
        # The same worlds play the same way again.
        again = play_episodes(env, lambda obs: np.full(2, NOOP), [101, 102, 103])
        assert [(e.world_seed, e.length) for e in again] == [(e.world_seed, e.length) for e in episodes]


def test_advantages_discount_by_the_env_steps_a_transition_took():
    gamma, lam = 0.9, 0.5
    rewards = torch.tensor([[0.0], [1.0]])
    values = torch.tensor([[0.2], [0.4]])
    env_steps = torch.tensor([[3], [2]])
    next_value = torch.tensor([0.7])
    ended = torch.tensor([[False], [False]])
    adv, ret = compute_advantages(rewards, values, ended, env_steps, next_value, gamma, lam)
    delta1 = 1.0 + gamma**2 * 0.7 - 0.4
    delta0 = 0.0 + gamma**3 * 0.4 - 0.2
    assert adv[1, 0].item() == pytest.approx(delta1)
    assert adv[0, 0].item() == pytest.approx(delta0 + gamma**3 * lam * delta1)
    torch.testing.assert_close(ret, adv + values)
    # An episode that ended in transition 0 neither bootstraps nor passes advantage back.
    adv, _ = compute_advantages(rewards, values, torch.tensor([[True], [False]]), env_steps, next_value, gamma, lam)
    assert adv[0, 0].item() == pytest.approx(0.0 - 0.2)


@pytest.mark.parametrize("low_deterministic", [False, True])
def test_the_low_level_policy_samples_unless_told_to_take_its_most_likely_action(tasks_file, low_deterministic):
    low = ScriptedLow(place_on_call=99)
    with HierarchicalVecEnv("table", 1, low, two_codes(), low_level_steps=2, cond_scale=0.0, tasks_file=tasks_file,
                            vector="sync", low_deterministic=low_deterministic) as env:
        env.reset(seed=0)
        env.step(np.array([0]))
    assert low.deterministic is low_deterministic


def test_a_relative_goal_policy_needs_the_embedder_and_sees_what_it_embeds():
    low = LowLevelPolicy(WORLD, "symbolic", EMBEDDER.dim, EMBEDDER.settings(), hidden=32, goal_input="relative")
    with pytest.raises(ValueError, match="pass the goal embedder"):
        HierarchicalVecEnv("wood", 1, low, two_codes(), 3, 0.0, vector="sync")
    seen = []
    original = low.act

    def spy(obs, goal, *args, current=None, **kwargs):
        seen.append((obs.numpy().copy(), current.numpy().copy()))
        return original(obs, goal, *args, current=current, **kwargs)

    low.act = spy
    with HierarchicalVecEnv("wood", 2, low, two_codes(), 3, 0.0, vector="sync", embedder=EMBEDDER) as env:
        env.reset(seed=3)
        env.step(np.array([0, 1]))
    assert len(seen) == 3
    for obs, current in seen:
        np.testing.assert_allclose(current, EMBEDDER.embed(obs))


def test_envs_play_the_same_whichever_worker_process_steps_them(tasks_file):
    # 3 envs over 1, 2 (uneven shares) and 3 processes, through step-limit ends (masked resets) and idling
    def trace(**kwargs) -> list:
        rng = np.random.default_rng(3)
        with TaskVecEnv("short", 3, tasks_file=tasks_file, **kwargs) as env:
            out = [env.reset(seed=5)["symbolic"].copy()]
            for t in range(16):
                if t % 4 == 0:  # worlds generated ahead (workers only) must be the ones a reset builds
                    env.prepare_resets()
                step = env.step(rng.integers(WORLD.n_actions, size=3))
                out += [step.obs["symbolic"].copy(), step.final_obs["symbolic"].copy(), step.reward.copy(),
                        step.ended.copy(), [(e.env, e.world_seed, e.length) for e in step.episodes]]
            played = play_episodes(env, lambda obs: np.full(3, NOOP), [101, 102, 103, 104])
            out.append([(e.world_seed, e.length, e.episode_return) for e in played])
        return out

    expected = trace(vector="sync")
    assert any(len(x) for x in expected[5::5])  # episodes did end during the steps
    for workers in (1, 2, 3):
        got = trace(vector="async", workers=workers)
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
