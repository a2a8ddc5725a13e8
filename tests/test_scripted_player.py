"""Tests for the scripted free-play Crafter player, on ptgm's deterministic Crafter env."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ptgm.cli import main
from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world, make_env, make_player
from ptgm.envs.crafter.player import ScriptedPlayer
from ptgm.envs.crafter.player.grid import TREE

ACHIEVEMENTS = get_world("crafter").achievements


def play(world_seed: int, player_seed: int, steps: int, prob: float = 0.1, stop_when=None, perception: str = "global",
         choices: str = "random"):
    """Play up to `steps` steps; returns (player, unlocked achievement names, actions, observations)."""
    env = make_env("crafter", obs_mode="symbolic")
    player = ScriptedPlayer(seed=player_seed, random_action_prob=prob, perception=perception, choices=choices)
    obs, info = env.reset(seed=world_seed)
    player.reset(env.unwrapped)
    actions, observations = [], [obs]
    for _ in range(steps):
        a = player.act(obs, info)
        assert 0 <= a < 17
        actions.append(a)
        obs, _, terminated, truncated, info = env.step(a)
        observations.append(obs)
        unlocked = {name for name, hit in zip(ACHIEVEMENTS, info["unlocked"]) if hit}
        if terminated or truncated or (stop_when is not None and stop_when(unlocked)):
            break
    return player, unlocked, actions, np.stack(observations)


EARLY = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unlocks_early_tech_tree(seed: int) -> None:
    _, unlocked, actions, _ = play(seed, seed, 1500, stop_when=lambda u: set(EARLY) <= u)
    missing = [k for k in EARLY if k not in unlocked]
    assert not missing, f"seed {seed}: missing {missing} after {len(actions)} steps"


def test_random_actions_uniform_when_prob_one() -> None:
    player, _, actions, _ = play(3, 3, 1700, prob=1.0)
    assert player.num_random_actions == player.num_actions == len(actions)
    counts = player.random_action_counts
    expected = counts.sum() / 17
    # Chi-square with 16 dof: 99.9% quantile is ~39.3.
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 39.3, counts


def test_random_action_rate_honoured() -> None:
    player, _, _, _ = play(4, 4, 2000, prob=0.1)
    frac = player.num_random_actions / player.num_actions
    assert 0.07 < frac < 0.13
    quiet, _, _, _ = play(4, 4, 500, prob=0.0)
    assert quiet.num_random_actions == 0


@pytest.mark.parametrize("perception", ["global", "local"])
def test_same_seeds_give_the_same_trajectory(perception: str) -> None:
    # End to end: same world seed and player seed => same actions and observations, even
    # with random key presses; another player seed in the same world plays differently.
    _, _, actions_a, obs_a = play(5, 7, 400, prob=0.1, perception=perception)
    _, _, actions_b, obs_b = play(5, 7, 400, prob=0.1, perception=perception)
    assert actions_a == actions_b
    np.testing.assert_array_equal(obs_a, obs_b)
    _, _, actions_c, _ = play(5, 8, 400, prob=0.1, perception=perception)
    assert actions_c != actions_a
    # The recorded actions replay to the same observations from the world seed alone (datasets rely on it).
    env = make_env("crafter", obs_mode="symbolic")
    replayed = [env.reset(seed=5)[0]] + [env.step(a)[0] for a in actions_a]
    np.testing.assert_array_equal(np.stack(replayed), obs_a)


def test_the_two_perceptions_play_differently_in_the_same_world() -> None:
    _, _, actions_global, _ = play(5, 7, 400, prob=0.0)
    _, _, actions_local, _ = play(5, 7, 400, prob=0.0, perception="local")
    assert actions_global != actions_local


def test_never_told_a_task() -> None:
    params = list(inspect.signature(ScriptedPlayer.__init__).parameters)
    assert params == ["self", "seed", "random_action_prob", "target_spread", "perception", "choices"]  # no task
    assert inspect.signature(ScriptedPlayer.__init__).parameters["random_action_prob"].default == 0.1
    assert ScriptedPlayer.name == "scripted"
    assert isinstance(make_player("scripted", 0), ScriptedPlayer)
    # Behaviour depends on the game only: in a task env (which adds success/reward) it plays
    # exactly as in the plain env, given the same world.
    plain, _, actions_plain, _ = play(9, 9, 300)
    env = make_env("crafter", obs_mode="symbolic", task="diamond")
    player = ScriptedPlayer(seed=9)
    obs, info = env.reset(seed=9)
    player.reset(env.unwrapped)
    actions_task = []
    for _ in range(len(actions_plain)):
        a = player.act(obs, info)
        actions_task.append(a)
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    assert actions_task == actions_plain[: len(actions_task)]


def test_never_steps_into_lava() -> None:
    """Surrounded by lava and pressing random keys, the player turns every move onto lava into a noop."""
    from ptgm.envs.crafter.player.grid import DIRS, MOVE_LEFT

    env = make_env("crafter", obs_mode="symbolic")
    player = ScriptedPlayer(seed=8, random_action_prob=1.0)
    obs, info = env.reset(seed=8)
    player.reset(env.unwrapped)
    game = env.unwrapped.crafter
    start = tuple(int(v) for v in game._player.pos)
    for dx, dy in DIRS:
        game._world[(start[0] + int(dx), start[1] + int(dy))] = "lava"
    moves_drawn = 0
    for _ in range(200):
        before = player.random_action_counts[MOVE_LEFT:MOVE_LEFT + 4].sum()
        obs, _, terminated, truncated, info = env.step(player.act(obs, info))
        moves_drawn += player.random_action_counts[MOVE_LEFT:MOVE_LEFT + 4].sum() - before
        assert tuple(int(v) for v in game._player.pos) == start and not terminated
    assert moves_drawn > 20  # lava was one step away every time a move was drawn


def test_interrupted_scripted_collection_resumes(tmp_path) -> None:
    args = ["--frames", "900", "--seed", "5", "--no-pixels", "--player", "scripted", "--max-episode-steps", "150"]
    reference = tmp_path / "reference"
    assert main(["collect", "--out", str(reference), *args]) == 0
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "ptgm.cli", "collect", "--out", str(out), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "manifest.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if manifest.exists() and len(json.loads(manifest.read_text())["episodes"]) >= 2:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = EpisodeStore(out)
    assert 0 < partial.num_frames < 900, "the run was not interrupted mid-way"
    assert main(["collect", "--out", str(out), *args]) == 0
    resumed, ref = EpisodeStore(out), EpisodeStore(reference)
    resumed.validate()
    assert [e.id for e in resumed.episodes] == [e.id for e in ref.episodes]
    assert resumed.dataset_id == ref.dataset_id and resumed.num_frames == 900
    # The scripted player's episodes are more than random flailing.
    assert any("collect_wood" in e.unlocked for e in ref.episodes)


def test_walled_in_means_a_closed_pocket_with_no_creature_inside() -> None:
    from crafter import objects

    from ptgm.envs.crafter.player import World, walled_in

    env = make_env("crafter", obs_mode="symbolic")
    env.reset(seed=3)
    game = env.unwrapped.crafter
    player = game._player
    for obj in list(game._world.objects):
        if obj is not player:
            game._world.remove(obj)
    x, y = player.pos
    game._world[(x, y)] = "path"
    for cell in ((x - 1, y), (x, y - 1), (x, y + 1)):
        game._world[cell] = "stone"
    world = World(game)
    # A corridor of 6 free cells closed at the far end is a pocket; one more free cell is not.
    for dx in range(1, 6):
        game._world[(x + dx, y)] = "path"
        game._world[(x + dx, y - 1)] = game._world[(x + dx, y + 1)] = "stone"
    game._world[(x + 6, y)] = "stone"
    world.refresh()
    assert walled_in(world)
    game._world[(x + 6, y)] = "grass"
    world.refresh()
    assert not walled_in(world)
    game._world[(x + 2, y)] = "stone"  # a pocket of 2 cells, with a zombie in the second
    game._world.add(objects.Zombie(game._world, (x + 1, y), player))
    world.refresh()
    assert not walled_in(world)


def test_target_spread_draws_targets_beyond_the_nearest_and_keeps_to_one(tmp_path) -> None:
    """With target_spread > 0 the player draws which tree to go for (its intention is not written in
    the view); with 0 it keeps heading for the nearest, and the early tech tree is still unlocked."""
    with pytest.raises(ValueError, match="target_spread"):
        ScriptedPlayer(seed=0, target_spread=-1.0)
    bad = tmp_path / "bad"
    assert main(["collect", "--player", "scripted", "--frames", "50", "--target-spread", "-1", "--out", str(bad)]) == 2
    assert not bad.exists()  # refused before anything was written
    env = make_env("crafter", obs_mode="symbolic")
    env.reset(seed=3)
    player = ScriptedPlayer(seed=0, random_action_prob=0.0, target_spread=50.0)
    player.reset(env.unwrapped)
    player.w.refresh()
    player._see()
    player._plan()
    trees = (player.w.mat == TREE) & player.seen & (player.dist < 1000)
    assert trees.sum() >= 3, "world 3 should show a few trees at the start"
    drawn = {player.draw_target(trees) for _ in range(200)}
    assert len(drawn) >= 3 and all(trees[c] for c in drawn)
    player.target_spread = 1e-3  # all but the nearest weigh exp(-1000) = 0
    assert len({player.draw_target(trees) for _ in range(50)}) == 1

    # An objective keeps its drawn target from one step to the next while it is there.
    player.target_spread = 50.0
    collect = player._collect("wood", TREE, 9, "grass")
    collect.start(player)
    collect.step(player)
    first = collect.chosen
    assert first is not None and trees[first]
    for _ in range(5):
        collect.step(player)
        assert collect.chosen == first

    env = make_env("crafter", obs_mode="symbolic")
    obs, info = env.reset(seed=1)
    player = ScriptedPlayer(seed=1, random_action_prob=0.1, target_spread=4.0)
    player.reset(env.unwrapped)
    unlocked: set[str] = set()
    for _ in range(1500):
        obs, _, terminated, truncated, info = env.step(player.act(obs, info))
        unlocked |= {name for name, hit in zip(ACHIEVEMENTS, info["unlocked"]) if hit}
        if terminated or truncated or set(EARLY) <= unlocked:
            break
    assert set(EARLY) <= unlocked, f"missing {set(EARLY) - unlocked}"


def test_local_perception_sees_only_the_screen_and_still_plays() -> None:
    """A local player knows nothing beyond its 9x7 view (no map, no creatures off screen), and with that alone
    still climbs the early tech tree."""
    from ptgm.envs.crafter.player.grid import UNKNOWN

    env = make_env("crafter", obs_mode="symbolic")
    player = ScriptedPlayer(seed=4, random_action_prob=0.0, perception="local")
    obs, info = env.reset(seed=4)
    player.reset(env.unwrapped)
    unlocked: set[str] = set()
    for _ in range(1500):
        a = player.act(obs, info)
        w = player.w
        x, y = w.pos
        inside = np.zeros(w.shape, bool)
        inside[max(0, x - 4): x + 5, max(0, y - 3): y + 4] = True
        assert (w.mat[~inside] == UNKNOWN).all() and (w.mat[inside] != UNKNOWN).all()
        assert not w.occupied[~inside].any() and not player.seen[~inside].any()
        for o in w.zombies + w.cows + w.skeletons + w.plants:
            assert abs(int(o.pos[0]) - x) <= 4 and abs(int(o.pos[1]) - y) <= 3
        obs, _, terminated, truncated, info = env.step(a)
        unlocked |= {name for name, hit in zip(ACHIEVEMENTS, info["unlocked"]) if hit}
        if terminated or truncated or set(EARLY) <= unlocked:
            break
    assert set(EARLY) <= unlocked, f"missing {set(EARLY) - unlocked}"


def test_unknown_perception_is_refused() -> None:
    with pytest.raises(ValueError, match="perception"):
        ScriptedPlayer(seed=0, perception="psychic")
    with pytest.raises(ValueError, match="choices"):
        ScriptedPlayer(seed=0, choices="dice")


@pytest.mark.parametrize("perception", ["global", "local"])
def test_greedy_choices_follow_from_the_game_alone(perception: str) -> None:
    """Without random key presses, a greedy player's seed changes nothing: every choice is read off the game.
    A drawing player with another seed plays differently in the same world."""
    runs = {(choices, seed): play(5, seed, 600, prob=0.0, perception=perception, choices=choices)[2]
            for choices in ("greedy", "random") for seed in (7, 8)}
    assert runs["greedy", 7] == runs["greedy", 8]
    assert runs["random", 7] != runs["random", 8]
    assert runs["greedy", 7] != runs["random", 7]


def test_greedy_local_player_climbs_the_early_tech_tree() -> None:
    _, unlocked, actions, _ = play(4, 4, 1500, stop_when=lambda u: set(EARLY) <= u, perception="local",
                                   choices="greedy")
    assert set(EARLY) <= unlocked, f"missing {set(EARLY) - unlocked} after {len(actions)} steps"
