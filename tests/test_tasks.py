"""Task specs: the built-in suite, start inventories, success conditions, custom files, bad input."""

import numpy as np
import pytest

from ptgm.cli import main
from ptgm.envs import TaskError, get_world, load_tasks, make_env

WORLD = get_world("crafter")
BUILTIN = {
    "wood": ("collect_wood", {}, 1000), "drink": ("collect_drink", {}, 1000),
    "stone": ("collect_stone", {"wood_pickaxe": 1}, 500),
    "iron": ("collect_iron", {"wood_pickaxe": 1, "stone_pickaxe": 1}, 2000),
    "zombie": ("defeat_zombie", {"stone_sword": 1}, 1000),
    "stone_pickaxe": ("make_stone_pickaxe", {}, 2000), "iron_from_scratch": ("collect_iron", {}, 5000),
    "diamond": ("collect_diamond", {}, 10000),
}


def test_builtin_suite():
    tasks = load_tasks(WORLD)
    assert set(tasks) == set(BUILTIN) | {"crafter"}
    for name, (success, inventory, max_steps) in BUILTIN.items():
        t = tasks[name]
        assert t.success == (success,) and t.start_inventory == inventory and t.max_steps == max_steps
        assert t.reward == "success" and t.end_on_success
    assert tasks["crafter"].reward == "native" and tasks["crafter"].success == ()


def _face(env, material=None, creature=None):
    """Put `material` (or a creature) on the cell the player faces, through Crafter's world API."""
    raw = env.unwrapped.crafter
    player = raw._player
    target = tuple(np.asarray(player.pos) + np.asarray(player.facing))
    obj = raw._world[target][1]
    if obj is not None:
        raw._world.remove(obj)
    raw._world[target] = material or "grass"
    if creature is not None:
        raw._world.add(creature(raw._world, target))
    return raw


# How to drive each task to success in one step: (what to face, extra inventory, action).
SETUPS = {
    "wood": ("tree", {}, "do"),
    "drink": ("water", {}, "do"),
    "stone": ("stone", {}, "do"),
    "iron": ("iron", {}, "do"),
    "iron_from_scratch": ("iron", {"stone_pickaxe": 1}, "do"),
    "diamond": ("diamond", {"iron_pickaxe": 1}, "do"),
    "stone_pickaxe": ("table", {"wood": 1, "stone": 1}, "make_stone_pickaxe"),
}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_start_inventory_and_success(name):
    success, inventory, _ = BUILTIN[name]
    env = make_env(obs_mode="symbolic", task=name)
    obs, info = env.reset(seed=0)
    for item, count in inventory.items():
        assert info["inventory"][WORLD.items.index(item)] == count, item
    # A noop step pays nothing and does not end the episode.
    obs, reward, terminated, truncated, info = env.step(WORLD.action_names.index("noop"))
    assert reward == 0.0 and not terminated and not info["success"]
    if name == "zombie":
        from crafter import objects

        raw = _face(env, "grass", lambda world, pos: objects.Zombie(world, pos, env.unwrapped.crafter._player))
        zombie = raw._world[tuple(np.asarray(raw._player.pos) + raw._player.facing)][1]
        zombie.health = 1
        action = "do"
    else:
        material, extra, action = SETUPS[name]
        env.unwrapped.set_inventory(extra)
        _face(env, material)
    obs, reward, terminated, truncated, info = env.step(WORLD.action_names.index(action))
    assert info["success"] and reward == 1.0 and terminated, name
    assert info["achievements"][WORLD.achievements.index(success)]


def test_task_step_limit(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text("short:\n  success: [collect_diamond]\n  max_steps: 20\n")
    env = make_env(obs_mode="symbolic", task="short", tasks_file=path)
    env.reset(seed=0)
    truncations = [env.step(0)[3] for _ in range(20)]
    assert truncations == [False] * 19 + [True]


def test_crafter_task_native_reward():
    env = make_env(obs_mode="symbolic", task="crafter")
    env.reset(seed=0)
    _face(env, "tree")
    _, reward, terminated, _, info = env.step(WORLD.action_names.index("do"))
    assert reward == pytest.approx(1.0) and not terminated and not info["success"]


def test_custom_tasks_file(tmp_path, capsys):
    path = tmp_path / "tasks.yaml"
    path.write_text("coal:\n  success: [collect_coal]\n  start_inventory: {wood_pickaxe: 1}\n  max_steps: 300\n")
    tasks = load_tasks(WORLD, path)
    assert tasks["coal"].max_steps == 300 and "wood" in tasks
    env = make_env(obs_mode="symbolic", task="coal", tasks_file=path)
    env.reset(seed=0)
    _face(env, "coal")
    assert env.step(WORLD.action_names.index("do"))[4]["success"]
    assert main(["tasks", "--tasks-file", str(path)]) == 0
    assert "coal" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("x:\n  success: [collect_gold]\n", "unknown achievement 'collect_gold'"),
    ("x:\n  success: [collect_wood]\n  start_inventory: {gold: 1}\n", "unknown item 'gold'"),
    ("x:\n  success: [collect_wood]\n  max_steps: -3\n", "max_steps"),
    ("x:\n  success: [collect_wood]\n  colour: red\n", "unknown field"),
    ("x:\n  success: [collect_wood]\n  reward: dense\n", "'reward' must be one of"),
    ("x: [unclosed\n", "not valid YAML"),
])
def test_bad_tasks_file(tmp_path, text, message):
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(TaskError, match=message):
        load_tasks(WORLD, path)


def test_unknown_task_names_the_valid_ones(capsys):
    with pytest.raises(TaskError, match="unknown task 'gold'.*wood"):
        make_env(task="gold")
    assert main(["tasks", "--tasks-file", "/nonexistent/tasks.yaml"]) == 2
    assert "tasks file not found" in capsys.readouterr().err
