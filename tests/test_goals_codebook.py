"""`ptgm codebook`: codes are real samples' goals, deterministic under a seed, checked on load,
pictured, and bad input is refused with a clear error."""

import json

import numpy as np
import pytest
from PIL import Image

from ptgm.cli import main
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import DatasetError, DatasetWriter, EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.build import CodebookConfig, build_codebook
from ptgm.goals.clustering import TooFewSamplesError, kmeans
from ptgm.goals.codebook import Codebook, CodebookError
from ptgm.goals.embedders import make_embedder
from ptgm.goals.pictures import CLIP_FRAMES
from ptgm.goals.sampling import GoalSamples, action_history_counts, clustering_features, sample_goals, thin_static_goals
from ptgm.io import save_json, save_npz

WORLD = get_world("crafter")
N_CODES = 12


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """2,500 frames of the random player, symbolic only (pictures then come from replaying episodes)."""
    root = tmp_path_factory.mktemp("goals_data")
    collect(CollectConfig(out=str(root), frames=2500, pixels=False, player="random", seed=0), progress=False)
    split_dataset(EpisodeStore(root), val_frames=400)
    return str(root)


def config(dataset, out, **kw):
    base = dict(data=dataset, out=str(out), n_codebook=N_CODES, episodes=-1, sample_interval=5, seed=3,
                pictures=False)
    return CodebookConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    """The default pipeline (t-SNE, action history 16) with pictures."""
    return build_codebook(config(dataset, tmp_path_factory.mktemp("codebook"), pictures=True), log=quiet)


def test_codebook_has_n_codes_of_the_embedding_dimension(built, dataset):
    book = Codebook.load(built.out)
    assert book.n_codes == N_CODES
    assert book.dim == make_embedder("state", WORLD).dim == book.codes.shape[1]
    assert len(book.sources) == N_CODES
    n_samples = book.meta["n_samples"]
    assert book.extras["points"].shape == (n_samples, 2)
    assert sorted(np.unique(book.extras["labels"])) == list(range(N_CODES))  # no empty cluster
    assert book.meta["dataset_id"] == EpisodeStore(dataset).dataset_id
    assert book.meta["config"]["n_codebook"] == N_CODES and book.meta["provenance"]["command"] == "ptgm codebook"
    assert (built.out / "config.yaml").is_file()


def test_each_code_is_the_goal_of_a_real_observation(built, dataset):
    store = EpisodeStore(dataset)
    embedder = make_embedder("state", WORLD)
    book = Codebook.load(built.out)
    for code, source in zip(book.codes, book.sources):
        obs = store.load(source["episode"], ["obs_symbolic"])["obs_symbolic"][source["step"]]
        np.testing.assert_array_equal(code, embedder.embed(obs[None])[0])
    # ... and the one nearest to its cluster's centre in the reduced space, among the cluster's members.
    points, labels, centers = book.extras["points"], book.extras["labels"], book.extras["centers"]
    for c, chosen in enumerate(book.extras["chosen"]):
        members = np.flatnonzero(labels == c)
        distance = ((points[members] - centers[c]) ** 2).sum(1)
        assert chosen == members[np.argmin(distance)]


def test_goals_are_sampled_every_interval_from_the_training_split(built, dataset):
    store = EpisodeStore(dataset)
    book = Codebook.load(built.out)
    assert book.meta["sample_episode_ids"] == sorted(store.split_ids("train"))
    steps = book.extras["sample_step"]
    assert steps.min() >= 16 and np.all((steps - 16) % 5 == 0)
    assert {s["episode"] for s in book.sources} <= set(store.split_ids("train"))


def test_same_seed_same_codebook_other_seed_other_codebook(built, dataset, tmp_path):
    again = build_codebook(config(dataset, tmp_path / "again"), log=quiet).codebook
    first = Codebook.load(built.out)
    np.testing.assert_array_equal(again.codes, first.codes)
    np.testing.assert_array_equal(again.extras["points"], first.extras["points"])
    assert again.fingerprint == first.fingerprint
    other = build_codebook(config(dataset, tmp_path / "other", seed=4), log=quiet).codebook
    assert other.sources != first.sources


def test_action_history_counts_the_previous_h_actions():
    actions = np.array([0, 1, 1, 2, 5, 5, 5], np.uint8)
    counts = action_history_counts(actions, np.array([0, 3, 7]), history=3, n_actions=6)
    np.testing.assert_array_equal(counts[0], np.zeros(6))
    np.testing.assert_array_equal(counts[1], [1, 2, 0, 0, 0, 0])  # actions[0:3]
    np.testing.assert_array_equal(counts[2], [0, 0, 0, 0, 0, 3])  # actions[4:7]


def test_action_history_joins_the_clustering_feature(dataset):
    store = EpisodeStore(dataset)
    embedder = make_embedder("state", WORLD)
    ids = store.split_ids("train")[:3]
    with_history = sample_goals(store, embedder, ids, 5, 16, WORLD.n_actions)
    assert np.all(with_history.action_history.sum(1) == 16)
    assert clustering_features(with_history, 1.0).shape[1] == embedder.dim + WORLD.n_actions
    without = sample_goals(store, embedder, ids, 5, 0, WORLD.n_actions)
    assert clustering_features(without, 1.0).shape[1] == embedder.dim
    # Both blocks have unit spread, so a weight of 1 gives the actions as much say as the goals.
    feats = clustering_features(with_history, 1.0)
    for block in (feats[:, : embedder.dim], feats[:, embedder.dim :]):
        assert np.sqrt(((block - block.mean(0)) ** 2).sum(1).mean()) == pytest.approx(1.0, rel=1e-4)


def test_thinning_drops_goals_that_did_not_move_since_the_last_kept_one():
    # Episode "a": moves, then sits still for four samples (asleep), then moves again; episode "b"
    # starts where "a" stopped, which must not count as standing still.
    goals = np.array([[0], [1], [2], [2], [2.1], [2], [2.05], [3], [3], [4]], np.float32)
    episode = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], np.int32)
    samples = GoalSamples(["a", "b"], episode, np.arange(10, dtype=np.int32), goals,
                          np.arange(10, dtype=np.float32)[:, None])
    assert thin_static_goals(samples, 0.0) is samples
    thinned = thin_static_goals(samples, 0.5)  # threshold 0.5 x the median consecutive change, 0.525
    np.testing.assert_array_equal(thinned.step, [0, 1, 2, 7, 8, 9])
    np.testing.assert_array_equal(thinned.episode, [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(thinned.action_history[:, 0], thinned.step)  # rows stay together
    with pytest.raises(ValueError, match="min-goal-change"):
        thin_static_goals(samples, -1.0)


def test_thinning_in_the_codebook_keeps_fewer_goals_and_says_so(built, dataset, tmp_path):
    full = built.codebook  # the same settings with thinning off
    thin = build_codebook(config(dataset, tmp_path / "thin", min_goal_change=1.0), log=quiet).codebook
    assert thin.meta["n_sampled_before_thinning"] == full.meta["n_samples"]
    assert thin.meta["n_samples"] < full.meta["n_samples"]
    assert thin.n_codes == N_CODES


def test_pca_and_none_reductions(dataset, tmp_path):
    for method, width in (("pca", 2), ("none", make_embedder("state", WORLD).dim + WORLD.n_actions)):
        book = build_codebook(config(dataset, tmp_path / method, reduce=method), log=quiet).codebook
        assert book.extras["points"].shape[1] == width
        assert book.n_codes == N_CODES


# -- loading checks -----------------------------------------------------------------------------------------------
def test_load_refuses_another_embedder_or_dimension_or_dataset(built, dataset):
    settings = make_embedder("state", WORLD).settings()
    Codebook.load(built.out, embedder=settings, dim=settings["dim"])  # matches
    with pytest.raises(CodebookError, match="embedder"):
        Codebook.load(built.out, embedder={**settings, "name": "learned", "encoder": "abc"})
    with pytest.raises(CodebookError, match="dimension 56, but the caller expects 64"):
        Codebook.load(built.out, dim=64)
    store = EpisodeStore(dataset)
    book = Codebook.load(built.out)
    book.check_data(store.dataset_id, store.train_episodes_sha256)  # the split it was built from
    with pytest.raises(CodebookError, match="built from dataset"):
        book.check_data("0" * 64, store.train_episodes_sha256)
    with pytest.raises(CodebookError, match="another split"):
        book.check_data(store.dataset_id, "0" * 64)
    # a codebook that records neither (made by hand, or before they were recorded) is not checked
    Codebook(book.codes, book.embedder, book.sources).check_data("0" * 64, "0" * 64)


def test_load_refuses_edited_codes_or_samples(built, tmp_path):
    book = Codebook.load(built.out)
    edited = Codebook(book.codes.copy(), book.embedder, book.sources, book.meta, dict(book.extras))
    edited.save(tmp_path / "ok")
    Codebook.load(tmp_path / "ok")
    # Codes changed behind the metadata's back: the fingerprint no longer matches.
    arrays = dict(np.load(tmp_path / "ok" / "codebook.npz"))
    arrays["codes"] = arrays["codes"] + 0.5
    save_npz(tmp_path / "ok" / "codebook.npz", **arrays)
    with pytest.raises(CodebookError, match="fingerprint"):
        Codebook.load(tmp_path / "ok")
    # A code that is not its chosen sample's goal.
    extras = dict(book.extras)
    extras["chosen"] = np.roll(extras["chosen"], 1)
    Codebook(book.codes, book.embedder, book.sources, book.meta, extras).save(tmp_path / "bad")
    with pytest.raises(CodebookError, match="not the goals of their chosen samples"):
        Codebook.load(tmp_path / "bad")
    meta = json.loads((tmp_path / "bad" / "codebook.json").read_text())
    meta["format"] = "something-else"
    save_json(tmp_path / "bad" / "codebook.json", meta)
    with pytest.raises(CodebookError, match="not a ptgm codebook"):
        Codebook.load(tmp_path / "bad")


# -- bad input ------------------------------------------------------------------------------------------------------
def test_more_codes_than_samples_is_refused(dataset, tmp_path):
    with pytest.raises(TooFewSamplesError, match="only .* goals"):
        build_codebook(config(dataset, tmp_path, n_codebook=100_000), log=quiet)
    same = np.zeros((30, 2), np.float32)
    same[:3] = [[1, 1], [2, 2], [3, 3]]
    with pytest.raises(TooFewSamplesError, match="only 4 distinct goal samples"):
        kmeans(same, 5, seed=0)


def test_no_two_codes_are_the_same_goal():
    """Samples of one state with other action histories share a goal but not a point: the representative
    of each cluster must be a goal no other code already is."""
    # two symmetric blobs: the first point of each is its centre, the representative when goals are ignored
    blob = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 2], [-2, -2], [2, -2], [-2, 2]], np.float32) / 10
    points = np.concatenate([blob, blob + 5])
    goals = np.arange(18, dtype=np.float32)[:, None].repeat(3, axis=1)
    goals[9] = goals[0]
    assert sorted(kmeans(points, 2, seed=0).chosen) == [0, 9]
    chosen = kmeans(points, 2, seed=0, goals=goals).chosen
    assert len(np.unique(goals[chosen], axis=0)) == 2 and sorted(chosen % 9).count(0) == 1
    with pytest.raises(TooFewSamplesError, match="only 2 distinct goal samples"):
        kmeans(points, 3, seed=0, goals=np.repeat(np.eye(2, 3, dtype=np.float32), 9, axis=0))
    # a cluster whose only member's goal another code took gets the nearest sample with a free goal
    lone = np.concatenate([points, [[20, 20]]]).astype(np.float32)
    lone_goals = np.concatenate([goals, goals[:1]])
    chosen = kmeans(lone, 3, seed=0, goals=lone_goals).chosen
    assert len(np.unique(lone_goals[chosen], axis=0)) == 3 and 18 not in chosen


def test_unsplit_and_empty_datasets_are_refused(dataset, tmp_path):
    unsplit = tmp_path / "unsplit"
    collect(CollectConfig(out=str(unsplit), frames=200, pixels=False, player="random", seed=5), progress=False)
    with pytest.raises(DatasetError, match="not split; run: ptgm split"):
        build_codebook(config(str(unsplit), tmp_path / "a"), log=quiet)
    empty = tmp_path / "empty"
    writer = DatasetWriter(empty, {"world": "crafter", "observations": ["symbolic"], "producer_key": {}})
    store = EpisodeStore(empty)
    save_json(empty / "split.json", {"dataset_id": store.dataset_id, "train": [], "val": []})
    assert writer.committed == []
    with pytest.raises(DatasetError, match="no training episodes"):
        build_codebook(config(str(empty), tmp_path / "b"), log=quiet)
    with pytest.raises(DatasetError, match="dataset not found"):
        build_codebook(config(str(tmp_path / "nowhere"), tmp_path / "c"), log=quiet)


def test_unknown_embedder_or_reduction_or_missing_pixels_is_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="--embedding 'clip' is unknown; valid: state, learned"):
        build_codebook(config(dataset, tmp_path, embedding="clip"), log=quiet)
    with pytest.raises(ValueError, match="--reduce 'umap' is unknown; valid: tsne, pca, none"):
        build_codebook(config(dataset, tmp_path, reduce="umap"), log=quiet)
    with pytest.raises(ValueError, match="needs --encoder"):
        build_codebook(config(dataset, tmp_path, embedding="learned"), log=quiet)


# -- pictures -------------------------------------------------------------------------------------------------------
def test_pictures_show_every_code(built):
    out = built.out
    scatter = np.asarray(Image.open(out / "scatter.png").convert("RGB"))
    assert scatter.shape[0] > 500 and scatter.std() > 10
    html = (out / "overview.html").read_text()
    overview = np.asarray(Image.open(out / "overview.png").convert("RGB"))
    assert overview.std() > 10
    book = Codebook.load(out)
    for code, description in enumerate(book.meta["descriptions"]):
        assert f"<b>code {code}</b>" in html
        assert description["text"] and description["stage"] in description["tags"]
        strip = Image.open(out / "codes" / f"code_{code:03d}.png")
        assert strip.width == 8 * 128
        gif = Image.open(out / "codes" / f"code_{code:03d}.gif")
        durations = []
        for i in range(gif.n_frames):  # identical consecutive frames are merged, their durations summed
            gif.seek(i)
            durations.append(gif.info["duration"])
        assert sum(durations) == (CLIP_FRAMES - 1) * 150 + 6 * 150  # samples start at t = 16: full clips
        # Replayed frames are real game images, not blank.
        assert np.asarray(gif.convert("RGB")).std() > 5
    assert sum(built.coverage.values()) == N_CODES


def test_cli_codebook_and_its_errors(dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["codebook", "--data", dataset, "--out", str(out), "--n-codebook", "6", "--reduce", "pca",
                 "--no-pictures", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"codebook: {out} (6 codes of dimension 56, embedder state" in printed
    assert Codebook.load(out).meta["seed"] == 2
    assert main(["codebook", "--data", dataset, "--out", str(out), "--embedding", "clip"]) == 2
    assert "--embedding 'clip' is unknown" in capsys.readouterr().err
