"""The `state` goal embedder holds what its docstring says, and code descriptions read the game right."""

import numpy as np
import pytest

from ptgm.envs import get_world
from ptgm.goals.embedders import make_embedder
from ptgm.goals.pictures import describe_code, render_symbolic

WORLD = get_world("crafter")
LAYOUT = WORLD.symbolic_layout
ID = {name: i for i, name in enumerate(WORLD.id_names)}
ITEM = {name: i for i, name in enumerate(WORLD.items)}


def observation(view_fill="grass", cells=None, items=None, facing=1, daylight=255, sleeping=0):
    """A hand-made symbolic observation: a 9x9 view (rows = y), inventory, facing, daylight, sleeping."""
    view = np.full(LAYOUT.view_shape, ID[view_fill], np.uint8)
    view[4, 4] = ID["player"]
    for (row, col), name in (cells or {}).items():
        view[row, col] = ID[name]
    inventory = np.zeros(LAYOUT.n_items, np.uint8)
    for name, n in (items or {}).items():
        inventory[ITEM[name]] = n
    return np.concatenate([view.ravel(), inventory, [facing, daylight, sleeping]]).astype(np.uint8)


def test_state_embedding_layout():
    embedder = make_embedder("state", WORLD)
    assert embedder.dim == 16 + 19 + 19 + 2 == 56
    obs = observation(cells={(4, 5): "tree", (0, 0): "water"}, items={"wood": 3, "health": 9}, daylight=51,
                      sleeping=1)
    goal = embedder.embed(obs[None])[0]
    inventory, composition, near, extras = goal[:16], goal[16:35], goal[35:54], goal[54:]
    blocks = embedder.blocks
    assert list(blocks) == ["inventory", "view", "near", "time"]
    assert [goal[b].tolist() for b in blocks.values()] == [p.tolist() for p in (inventory, composition, near, extras)]
    assert inventory[ITEM["wood"]] == pytest.approx(3 / 9) and inventory[ITEM["health"]] == 1.0
    assert composition.sum() == pytest.approx(1.0)
    assert composition[ID["water"]] == pytest.approx(1 / 81) and composition[ID["grass"]] == pytest.approx(78 / 81)
    assert near[ID["tree"]] == 1 and near[ID["grass"]] == 1 and near[ID["water"]] == 0
    assert near[ID["player"]] == 0  # the player's own cell is not "near"
    assert extras == pytest.approx([51 / 255, 1.0])
    assert goal.min() >= 0 and goal.max() <= 1
    with pytest.raises(ValueError, match=r"expects \(B, 100\) symbolic"):
        embedder.embed(np.zeros((1, 99), np.uint8))


def test_unknown_embedder_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown embedder 'mineclip'; valid: state, learned"):
        make_embedder("mineclip", WORLD)


def test_description_names_events_gains_what_is_faced_and_night():
    start = observation(items={"wood": 1})
    goal = observation(cells={(4, 5): "tree", (3, 4): "water"}, items={"wood": 3, "sapling": 1}, facing=1,
                       daylight=40)
    symbolic = np.stack([start] * 10 + [goal])
    achievements = np.zeros((10, len(WORLD.achievements)), bool)
    achievements[[3, 7], WORLD.achievements.index("collect_wood")] = True
    text, tags = describe_code(WORLD, symbolic, achievements, step=10)
    assert text.split(" | ") == ["collect_wood x2", "+1 sapling +2 wood", "facing tree", "next to tree, water",
                                 "night", "has sapling, 3 wood"]
    assert tags == ["wood", "water", "night"]


def test_description_of_a_quiet_day_is_exploring():
    obs = observation()
    text, tags = describe_code(WORLD, np.stack([obs] * 20), np.zeros((19, 22), bool), step=19)
    assert text == "day | has nothing" and tags == ["explore"]
    sleeping = observation(sleeping=1, daylight=10)
    text, tags = describe_code(WORLD, np.stack([sleeping] * 3), np.zeros((2, 22), bool), step=2)
    assert "asleep" in text and tags[0] == "sleep"


def test_symbolic_render_colours_each_cell():
    obs = observation(cells={(0, 0): "water", (8, 8): "lava"})
    image = render_symbolic(WORLD, obs[None])[0]
    assert image.shape == (64, 64, 3)
    assert not np.array_equal(image[0, 0], image[30, 10])  # water vs grass
    assert not np.array_equal(image[60, 60], image[30, 10])  # lava vs grass


def test_state_embedding_of_a_view_one_cell_high_names_the_two_neighbours():
    from ptgm.envs import SymbolicLayout, WorldSpec

    world = WorldSpec(name="strip", action_names=("noop",), achievements=(), items=("coins",), item_max=9,
                      id_names=("wall", "floor", "coin", "player"), pixel_shape=(64, 64, 3), default_max_steps=10,
                      symbolic_layout=SymbolicLayout(view_shape=(1, 5), n_ids=4, n_items=1))
    embedder = make_embedder("state", world)
    goal = embedder.embed(np.array([[1, 0, 3, 2, 1, 4]], np.uint8))[0]  # floor, wall, player, coin, floor; 4 coins
    near = goal[embedder.blocks["near"]]
    assert near.tolist() == [1.0, 0.0, 1.0, 0.0]  # wall and coin beside the player; not floor, not itself
    assert goal[embedder.blocks["inventory"]].tolist() == pytest.approx([4 / 9])
