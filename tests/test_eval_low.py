"""eval-low: the reach and distance measures, restored start states, and the command's output."""

import json

import numpy as np
import pytest
import torch

from ptgm.cli import main
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.evaluate.eval_low import (code_achievements, command_codes, fresh_starts, format_results, reachable_starts,
                                    summarise, validation_starts, with_code_achievements)
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import embed_episode, make_embedder
from ptgm.pretrain.train_low import LowLevelConfig, train_low

WORLD = get_world("crafter")
EMBEDDER = make_embedder("state", WORLD)


class ReplayActions:
    """A stand-in policy that plays a fixed action sequence in every rollout, whatever the goal."""

    n_actions = WORLD.n_actions
    obs_mode = "symbolic"

    def __init__(self, actions):
        self.actions, self.t = list(actions), 0

    def act(self, obs, goal, cond_scale=0.0, deterministic=False, generator=None, unconditional=False, current=None):
        action = self.actions[min(self.t, len(self.actions) - 1)]
        self.t += 1
        return torch.full((obs.shape[0],), action, dtype=torch.long)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_data")
    collect(CollectConfig(out=str(root), frames=1500, pixels=False, player="scripted", seed=3, max_episode_steps=250),
            progress=False)
    split_dataset(EpisodeStore(root), val_frames=400)
    return str(root)


def test_reached_and_distance_follow_the_states_the_rollout_visits():
    rng = np.random.default_rng(0)
    starts = fresh_starts("symbolic", 2, rng)
    actions = rng.integers(1, 5, size=25)  # moves only
    # Where those moves lead from start 0: that state's embedding is code 0; the two starts are codes 1 and 2.
    env = __import__("copy").deepcopy(starts[0].env)
    for a in actions:
        _, _, _, _, info = env.step(int(a))
    target_goal = EMBEDDER.embed(info["symbolic"][None])[0]
    start_goals = EMBEDDER.embed(np.stack([s.symbolic for s in starts]))
    book = Codebook(np.stack([target_goal, *start_goals]), EMBEDDER.settings(), [{}] * 3)
    assert len(set(book.nearest(book.codes).tolist())) == 3  # three distinct codes

    pairs = [(start, code) for code in range(3) for start in starts]
    out = command_codes(ReplayActions(actions), "goal", 0.0, pairs, book, EMBEDDER, steps=len(actions),
                        deterministic=True, seed=0)
    assert out["code"].tolist() == [0, 0, 1, 1, 2, 2]
    # rollouts are code-major: (code 0, start 0), (code 0, start 1), (code 1, start 0), ...
    assert out["reached"][0] and out["dist_final"][0] == pytest.approx(0.0, abs=1e-6)
    assert out["dist_start"][0] > 0 and out["dist_min"][0] == pytest.approx(0.0, abs=1e-6)
    assert out["start_at_code"].tolist() == [False, False, True, False, False, True]
    assert out["dist_start"][2] == pytest.approx(0.0, abs=1e-6)  # start 0 commanded its own state
    # the parts' distances make up the whole one; the rollout that reaches code 0 closes every part
    for part, whole in (("block_dist_start", "dist_start"), ("block_dist_final", "dist_final")):
        assert out[part].shape == (6, len(EMBEDDER.blocks))
        assert np.sqrt((out[part] ** 2).sum(axis=1)) == pytest.approx(out[whole], abs=1e-5)
    assert out["block_dist_final"][0] == pytest.approx(0.0, abs=1e-6) and out["block_dist_start"][0].max() > 0
    # the saved starts are untouched by the rollouts: running again gives the same numbers
    again = command_codes(ReplayActions(actions), "goal", 0.0, pairs, book, EMBEDDER, steps=len(actions),
                          deterministic=True, seed=0)
    for key in out:
        assert np.array_equal(out[key], again[key]), key


def test_validation_starts_are_restored_exactly(dataset):
    store = EpisodeStore(dataset)
    starts, skipped = validation_starts(store, "symbolic", 3, 20, np.random.default_rng(1))
    assert skipped == [] and len(starts) == 3
    for start in starts:
        ep_id, _, t = start.where.split()
        recorded = store.load(ep_id, ["obs_symbolic"])["obs_symbolic"][int(t)]
        assert np.array_equal(start.symbolic, recorded) and ep_id in store.split_ids("val")


def test_reachable_starts_pair_states_with_codes_their_episode_reached_soon_after(dataset):
    store = EpisodeStore(dataset)
    ep_id = store.split_ids("val")[0]
    goals = embed_episode(EMBEDDER, store.load(ep_id, ["obs_symbolic"]))
    book = Codebook(goals[[5, 40, 90]], EMBEDDER.settings(), [{"step": t} for t in (5, 40, 90)])
    steps = 30
    pairs, skipped = reachable_starts(store, book, np.arange(3), EMBEDDER, "symbolic", 4, steps,
                                      np.random.default_rng(0))
    assert skipped == [] and pairs
    assert {c for _, c in pairs} <= {0, 1, 2} and max(np.bincount([c for _, c in pairs])) <= 4
    for start, code in pairs:
        ep, _, t = start.where.split()
        t = int(t)
        recorded = store.load(ep, ["obs_symbolic"])["obs_symbolic"]
        assert np.array_equal(start.symbolic, recorded[t])  # restored exactly
        future = book.nearest(EMBEDDER.embed(recorded[t : t + steps + 1]))
        assert future[0] != code and code in future[1:]


def test_a_codes_achievements_are_those_its_episode_had_unlocked_by_its_step(dataset):
    store = EpisodeStore(dataset)
    ep_id = store.split_ids("train")[0]
    arrays = store.load(ep_id, ["obs_symbolic", "achievements"])
    events = arrays["achievements"]
    first = int(np.argmax(events.any(axis=1)))  # the first step that unlocked anything
    assert events.any()
    goals = embed_episode(EMBEDDER, arrays)
    sources = [{"episode": ep_id, "step": first}, {"episode": ep_id, "step": first + 1}]
    sets = code_achievements(store, Codebook(goals[[first, first + 1]], EMBEDDER.settings(), sources))
    assert sets.shape == (2, len(WORLD.achievements)) and not sets[0].any()
    assert np.array_equal(sets[1], events[first])  # the observation after that step has it unlocked
    # a codebook whose sources this dataset does not hold has no such measure
    assert code_achievements(store, Codebook(goals[:2], EMBEDDER.settings(), [{"step": 0}, {"step": 1}])) is None


def test_code_achievements_count_only_what_the_start_had_left_to_do():
    n = 4
    rollouts = {"code": np.array([0, 1, 1, 0]), "reached": np.zeros(n, bool), "start_at_code": np.zeros(n, bool),
                "dist_start": np.ones(n), "dist_final": np.ones(n), "dist_min": np.ones(n),
                "block_dist_start": np.zeros((n, 0)), "block_dist_final": np.zeros((n, 0)),
                "unlocked_start": np.array([[0, 0], [1, 0], [1, 0], [1, 0]], bool),
                "unlocked_final": np.array([[1, 0], [1, 0], [1, 1], [1, 1]], bool)}
    code_sets = np.array([[1, 0], [1, 1]], bool)  # code 0's episode had done the first, code 1's both
    r = with_code_achievements(rollouts, code_sets)
    assert r["new_achievement"].tolist() == [True, False, True, True]
    # the 4th rollout's code had nothing left to do from its start: its new achievement is not the code's
    assert r["code_todo"].tolist() == [True, True, True, False]
    assert r["code_achieved"].tolist() == [True, False, True, False]
    results = summarise({"goal": {"val": r}}, np.arange(2))
    stats = results["summary"]["goal"]
    assert stats["code_todo"] == 3 and stats["code_achieved"] == pytest.approx(2 / 3)
    assert stats["new_achievement"] == pytest.approx(3 / 4)
    assert results["per_code"]["goal"][1]["code_achieved"] == pytest.approx(1 / 2)
    assert "eval-low code achievements (3 rollouts with one to do): goal 66.7%" in format_results(results)
    # without the codes' achievements, the rest is measured as before
    plain = summarise({"goal": {"val": with_code_achievements(rollouts, None)}}, np.arange(2))["summary"]["goal"]
    assert "code_achieved" not in plain and plain["new_achievement"] == pytest.approx(3 / 4)


def test_unreplayable_dataset_is_a_clear_error(dataset, tmp_path):
    import shutil

    from ptgm.data.store import DatasetError
    from ptgm.io import load_json, save_json

    copy = tmp_path / "shifted"
    shutil.copytree(dataset, copy)
    manifest = load_json(copy / "manifest.json")
    for e in manifest["episodes"]:
        e["env_seed"] += 1  # another world than the one recorded
    save_json(copy / "manifest.json", manifest)
    split = load_json(copy / "split.json")
    split["dataset_id"] = EpisodeStore(copy).dataset_id
    save_json(copy / "split.json", split)
    with pytest.raises(DatasetError, match="does not reproduce"):
        validation_starts(EpisodeStore(copy), "symbolic", 1, 10, np.random.default_rng(0), max_tries=3)


def test_eval_low_command_reports_every_policy_side_by_side(dataset, tmp_path, capsys):
    low = tmp_path / "low"
    train_low(LowLevelConfig(data=dataset, out=str(low), hidden=32, batch_size=64, max_updates=20, eval_every=10,
                             progress=False))
    store = EpisodeStore(dataset)
    goals = embed_episode(EMBEDDER, store.load(store.split_ids("train")[0], ["obs_symbolic"]))
    stages = {"descriptions": [{"stage": st} for st in ("sleep", "wood", "sleep")]}
    Codebook(goals[[0, 30, 60]], EMBEDDER.settings(), [{"step": t} for t in (0, 30, 60)], stages).save(tmp_path / "cb")

    assert main(["eval-low", "--low", str(low), "--codebook", str(tmp_path / "cb"), "--data", dataset,
                 "--episodes", "2", "--steps", "8", "--cond-scale", "0", "3", "--no-progress", "--seed", "4"]) == 0
    text = capsys.readouterr().out
    summary = [line for line in text.splitlines() if line.startswith("eval-low summary")]
    assert len(summary) == 1 and "random" in summary[0] and "goal s=3" in summary[0]
    results = json.loads((low / "eval_low.json").read_text())
    assert list(results["summary"]) == ["random", "unconditional", "goal s=0", "goal s=3"]
    kinds = results["per_kind"]["random"]
    assert set(kinds) in ({"fresh", "val"}, {"fresh", "val", "reachable"})
    assert kinds["fresh"]["rollouts"] == kinds["val"]["rollouts"] == 3 * 2
    for stats in results["summary"].values():
        assert stats["rollouts"] == sum(k["rollouts"] for k in kinds.values()) and 0.0 <= stats["reached"] <= 1.0
    assert len(results["per_code"]["random"]) == 3
    assert results["replay_skipped"] == [] and results["config"]["seed"] == 4
    for stats in [*results["summary"].values(), *results["per_kind"]["goal s=0"].values()]:
        assert list(stats["block_reduction"]) == ["inventory", "view", "near", "time"]
    assert sum(line.startswith("distance reduction by part") for line in text.splitlines()) == 1 + len(kinds)
    assert len(results["starts"]["fresh"]) == 2 and len(results["starts"]["val"]) <= 2
    # by the codes' stage of play: the rollouts split 2 codes to 1, and together give the summary
    for name, stats in results["summary"].items():
        by_stage = results["per_stage"][name]
        assert list(by_stage) == ["sleep", "wood"] and [v["codes"] for v in by_stage.values()] == [2, 1]
        assert by_stage["sleep"]["rollouts"] + by_stage["wood"]["rollouts"] == stats["rollouts"]
        assert sum(v["reached"] * v["rollouts"] for v in by_stage.values()) == pytest.approx(
            stats["reached"] * stats["rollouts"])
    assert sum(line.lstrip().startswith(("sleep codes (2,", "wood codes (1,")) for line in text.splitlines()) == 2

    assert main(["eval-low", "--low", str(low), "--codebook", str(tmp_path / "nowhere")]) == 2
    assert "codebook" in capsys.readouterr().err
