"""The episode store, collection (with resume), the split and dataset statistics."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ptgm.cli import main
from ptgm.data.collect import CollectConfig, collect, run_episode, truncate_episode
from ptgm.data.split import split_dataset
from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.envs import get_world, make_env

WORLD = get_world("crafter")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "ds"
    collect(CollectConfig(out=str(out), frames=1200, seed=3, pixels=True), progress=False)
    return out


def test_round_trip(dataset):
    store = EpisodeStore(dataset)
    assert store.num_frames == 1200 and store.has_pixels
    store.validate()
    ep = store.episodes[0]
    arrays = store.load(ep.id)
    t = ep.length
    assert arrays["obs_pixels"].shape == (t + 1, 64, 64, 3)
    assert arrays["obs_symbolic"].shape == (t + 1, WORLD.symbolic_layout.size)
    assert arrays["actions"].shape == (t,) and arrays["achievements"].shape == (t, len(WORLD.achievements))
    assert arrays["inventory"].shape == (t + 1, len(WORLD.items)) and arrays["player_pos"].shape == (t + 1, 2)
    assert arrays["terminations"][-1] or arrays["truncations"][-1]
    assert not (arrays["terminations"][:-1] | arrays["truncations"][:-1]).any()
    assert sorted(ep.unlocked) == sorted(a for a, hit in zip(WORLD.achievements, arrays["achievements"].any(0)) if hit)
    # Only the keys asked for are read.
    assert set(store.load(ep.id, keys=["actions"])) == {"actions"}


def test_episodes_replay_from_their_seed(dataset):
    store = EpisodeStore(dataset)
    ep = store.episodes[1]
    arrays = store.load(ep.id, keys=["obs_symbolic", "actions"])
    env = make_env(obs_mode="symbolic")
    obs, _ = env.reset(seed=ep.env_seed)
    replayed = [obs] + [env.step(a)[0] for a in arrays["actions"]]
    np.testing.assert_array_equal(np.stack(replayed), arrays["obs_symbolic"])


def _copy(dataset, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(dataset, tmp_path / "copy"))


def test_truncated_episode_file_is_named(dataset, tmp_path):
    ds = _copy(dataset, tmp_path)
    store = EpisodeStore(ds)
    ep = store.episodes[2]
    path = ds / ep.file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match=f"episode {ep.id}.*checksum"):
        store.load(ep.id)
    with pytest.raises(DatasetError, match=f"episode {ep.id}.*(truncated or corrupt|BadZip|not a zip)"):
        store.load(ep.id, verify=False)


def test_checksum_mismatch_and_missing_file(dataset, tmp_path):
    ds = _copy(dataset, tmp_path)
    store = EpisodeStore(ds)
    a, b = store.episodes[0], store.episodes[1]
    (ds / a.file).write_bytes((ds / b.file).read_bytes())  # a valid file, but not the one recorded
    with pytest.raises(DatasetError, match=f"episode {a.id}: checksum mismatch"):
        store.load(a.id)
    (ds / b.file).unlink()
    with pytest.raises(DatasetError, match=f"episode {b.id}: .*missing"):
        store.load(b.id)
    with pytest.raises(DatasetError, match=f"episode {a.id}: checksum mismatch"):
        store.validate()  # the first bad episode in the manifest


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="dataset not found"):
        EpisodeStore(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        EpisodeStore(tmp_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_collection_resumes_without_loss_or_duplicates(tmp_path, workers):
    args = ["--frames", "2500", "--seed", "5", "--no-pixels", "--player", "random"]
    reference = tmp_path / "reference"
    assert main(["collect", "--out", str(reference), *args]) == 0
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "ptgm.cli", "collect", "--out", str(out), *args,
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "manifest.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if manifest.exists() and len(json.loads(manifest.read_text())["episodes"]) >= 3:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = EpisodeStore(out)
    assert 0 < partial.num_frames < 2500, "the run was not interrupted mid-way"
    # Resumed with the other number of workers: the dataset does not depend on them.
    assert main(["collect", "--out", str(out), *args, "--workers", str(3 - workers)]) == 0
    resumed, ref = EpisodeStore(out), EpisodeStore(reference)
    resumed.validate()
    assert [e.id for e in resumed.episodes] == [e.id for e in ref.episodes]
    assert resumed.dataset_id == ref.dataset_id and resumed.num_frames == 2500
    assert sorted(p.name for p in (out / "episodes").iterdir()) == [Path(e.file).name for e in resumed.episodes]


def test_resume_refuses_other_settings(dataset):
    with pytest.raises(DatasetError, match="other settings"):
        collect(CollectConfig(out=str(dataset), frames=10, seed=99), progress=False)


def test_parallel_collection_hits_the_frame_budget(tmp_path):
    collect(CollectConfig(out=str(tmp_path / "par"), frames=900, workers=2, seed=1, pixels=False), progress=False)
    store = EpisodeStore(tmp_path / "par")
    assert store.num_frames == 900
    assert len({e.env_seed for e in store.episodes}) == len(store.episodes)


def test_collection_does_not_depend_on_workers(tmp_path):
    """Same config, 1 or 2 workers: the same episodes, byte for byte, the last one cut to the frame budget."""
    stores = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        collect(CollectConfig(out=str(out), frames=3000, workers=workers, seed=4, pixels=False, player="random",
                              max_episode_steps=400), progress=False)
        stores.append(EpisodeStore(out))
        # Episodes started beyond the budget left no files behind.
        assert sorted(p.name for p in (out / "episodes").iterdir()) == [Path(e.file).name for e in stores[-1].episodes]
    one, two = stores
    assert one.num_frames == two.num_frames == 3000 and len(one.episodes) > 10
    assert one.manifest["episodes"] == two.manifest["episodes"]  # ids, lengths, checksums, seeds
    for e in one.episodes:
        a, b = one.load(e.id), two.load(e.id)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{e.id} {key}")
    last = one.load(one.episodes[-1].id)
    assert last["truncations"][-1] and not last["terminations"][-1]


def test_cut_episode_equals_playing_it_with_the_shorter_budget(tmp_path):
    cfg = CollectConfig(out=str(tmp_path / "long"), seed=2, pixels=True, player="random", max_episode_steps=120)
    long = run_episode(cfg, 3, 120)
    assert long.length > 40
    cut = truncate_episode(cfg, 3, long, 40)
    direct_cfg = CollectConfig(**{**cfg.__dict__, "out": str(tmp_path / "direct")})
    direct = run_episode(direct_cfg, 3, 40)
    assert cut == direct and cut.length == 40  # same checksum: the same bytes
    assert (tmp_path / "long" / cut.file).read_bytes() == (tmp_path / "direct" / direct.file).read_bytes()


def test_split_semantics(dataset):
    store = EpisodeStore(dataset)
    lengths = {e.id: e.length for e in store.episodes}
    s = split_dataset(store, val_frames=300, train_frames=-1, seed=0)
    assert set(s["train"]).isdisjoint(s["val"]) and set(s["train"]) | set(s["val"]) == set(lengths)
    assert sum(lengths[i] for i in s["val"]) >= 300 and s["val_frames"] == sum(lengths[i] for i in s["val"])
    # Fewer episodes would not have been enough: validation stops as soon as it is met.
    assert sum(lengths[i] for i in s["val"]) - max(lengths[i] for i in s["val"]) < 300
    assert store.split_ids("train") == s["train"]
    s2 = split_dataset(store, val_frames=200, train_frames=500, seed=1)
    assert s2["train_frames"] >= 500 and s2["val_frames"] >= 200
    assert len(s2["train"]) + len(s2["val"]) < len(lengths)
    assert split_dataset(store, 300, -1, seed=0) == s  # deterministic under a seed


def test_split_errors(dataset, tmp_path, capsys):
    with pytest.raises(DatasetError, match="only 1200 frames"):
        split_dataset(EpisodeStore(dataset), val_frames=2000)
    assert main(["split", "--data", str(dataset), "--val-frames", "1000", "--train-frames", "1000"]) == 2
    assert "only 1200 frames" in capsys.readouterr().err
    unsplit = _copy(dataset, tmp_path)
    (unsplit / "split.json").unlink(missing_ok=True)
    with pytest.raises(DatasetError, match="not split"):
        EpisodeStore(unsplit).split_ids("train")


def test_stats_json(dataset, capsys):
    assert main(["data", "stats", str(dataset), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["episodes"] == len(EpisodeStore(dataset).episodes) and stats["frames"] == 1200
    assert set(stats["achievement_rates"]) == set(WORLD.achievements)
    assert all(0 <= r <= 1 for r in stats["achievement_rates"].values())
    assert 0 <= stats["crafter_score"] < 100


def test_stats_table_and_chart(dataset, capsys, tmp_path):
    assert main(["data", "stats", str(dataset), "--plot", str(tmp_path / "chart.png")]) == 0
    out = capsys.readouterr().out
    assert "crafter score" in out and "collect_wood" in out
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_two_writers_of_the_same_chart_do_not_collide(dataset, tmp_path):
    # Two benchmark processes started together both write DATA/stats.png. A fixed temporary name
    # made one rename the other's file away; here the old name is taken (as by the other writer).
    (tmp_path / ".chart.png.tmp.png").mkdir()
    (tmp_path / ".chart.png.tmp").mkdir()
    assert main(["data", "stats", str(dataset), "--plot", str(tmp_path / "chart.png")]) == 0
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [".chart.png.tmp", ".chart.png.tmp.png", "chart.png"]


def test_crafter_score_formula():
    from ptgm.envs import score_from_rates

    assert score_from_rates([0.0] * 22) == pytest.approx(0.0)
    assert score_from_rates([100.0] * 22) == pytest.approx(100.0)
    assert score_from_rates([0.0, 99.0]) == pytest.approx(np.sqrt(100) - 1)
