"""The learned image goal embedder: it groups nearby frames, resumes exactly, is checked on load,
and plugs into the codebook. Also: replaying an episode reproduces its recorded pixels."""

import json

import numpy as np
import pytest
import torch

from ptgm.cli import main
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import DatasetError, EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.build import CodebookConfig, build_codebook
from ptgm.goals.codebook import Codebook, CodebookError
from ptgm.goals.embedders import make_embedder
from ptgm.goals.learned import (
    EncoderConfig, LearnedEmbedder, TemporalEncoder, load_frame_pool, temporal_retrieval, train_encoder,
)
from ptgm.goals.pictures import replay_frames
from ptgm.models.artifacts import ModelError
from ptgm.training.checkpoint import CheckpointError
from ptgm.pretrain.train_low import LowLevelConfig, train_low

WORLD = get_world("crafter")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """2,000 frames of the random player with pixels: about ten episodes."""
    root = tmp_path_factory.mktemp("pixels")
    collect(CollectConfig(out=str(root), frames=2000, pixels=True, player="random", seed=1), progress=False)
    split_dataset(EpisodeStore(root), val_frames=600, seed=0)
    return str(root)


@pytest.fixture(scope="module")
def encoder(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder")
    cfg = EncoderConfig(data=dataset, out=str(out), steps=80, batch_size=32, eval_every=1000, checkpoint_every=1000,
                        seed=0)
    record = train_encoder(cfg, progress=False)
    return cfg, record


def test_nearby_frames_are_closer_than_frames_of_other_episodes(dataset, encoder):
    cfg, record = encoder
    store = EpisodeStore(dataset)
    val = load_frame_pool(store, store.split_ids("val"), 10_000, np.random.default_rng(0))
    assert val.n_episodes >= 2
    trained = LearnedEmbedder.load(cfg.out, WORLD)
    torch.manual_seed(cfg.seed)  # the network train_encoder started from
    start = TemporalEncoder(WORLD.pixel_shape, cfg.hidden, cfg.dim).eval()

    def untrained(frames):
        with torch.no_grad():
            return start(torch.from_numpy(frames)).numpy()

    # Frames 8 steps apart (twice the training offset) on held-out episodes, among 19 other-episode frames.
    learned = temporal_retrieval(trained.embed, val, offset=8, seed=1)
    before = temporal_retrieval(untrained, val, offset=8, seed=1)
    assert learned["top1"] > 5 * learned["chance"], learned
    assert learned["pairwise"] > 0.75, learned
    # Nearby frames already look alike in pixels; training must still have pulled them closer.
    assert learned["pairwise"] > before["pairwise"] + 0.03, (learned, before)
    assert record["val_retrieval"]["top1"] > 5 * record["val_retrieval"]["chance"]


def test_embedder_settings_name_the_encoder_and_goals_are_unit_vectors(dataset, encoder):
    cfg, record = encoder
    embedder = make_embedder("learned", WORLD, cfg.out)
    assert embedder.needs == "pixels" and embedder.dim == cfg.dim
    assert embedder.settings() == {"name": "learned", "world": "crafter", "dim": cfg.dim,
                                   "encoder": record["weights_sha256"][:16]}
    frames = EpisodeStore(dataset).load(EpisodeStore(dataset).split_ids("val")[0], ["obs_pixels"])["obs_pixels"]
    goals = embedder.embed(frames[:10])
    assert goals.shape == (10, cfg.dim) and goals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="pixel frames"):
        embedder.embed(np.zeros((2, 100), np.uint8))


def test_resumed_training_continues_where_it_stopped(dataset, tmp_path):
    small = dict(data=dataset, batch_size=8, max_frames=300, hidden=32, dim=16, eval_every=1000, checkpoint_every=2)
    straight = train_encoder(EncoderConfig(out=str(tmp_path / "straight"), steps=6, **small), progress=False)
    train_encoder(EncoderConfig(out=str(tmp_path / "resumed"), steps=3, **small), progress=False)
    resumed = train_encoder(EncoderConfig(out=str(tmp_path / "resumed"), steps=6, **small), progress=False)
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    with pytest.raises(CheckpointError, match="other settings .*learning_rate"):
        train_encoder(EncoderConfig(out=str(tmp_path / "resumed"), steps=8, learning_rate=1e-2, **small),
                      progress=False)


def test_load_refuses_corrupt_weights_or_another_world(encoder, tmp_path):
    cfg, _ = encoder
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cfg.out, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "pixel_shape": [32, 32, 3]}))
    with pytest.raises(ModelError, match="trained for world"):
        LearnedEmbedder.load(copy, WORLD)
    (copy / "config.json").write_text(json.dumps(config))
    weights = copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match="checksum"):
        LearnedEmbedder.load(copy, WORLD)


def test_codebook_on_learned_goals(dataset, encoder, tmp_path):
    cfg, record = encoder
    result = build_codebook(CodebookConfig(data=dataset, out=str(tmp_path / "book"), embedding="learned",
                                           encoder=cfg.out, n_codebook=8, episodes=-1, sample_interval=8,
                                           reduce="pca", pictures=False), log=lambda *_: None)
    embedder = make_embedder("learned", WORLD, cfg.out)
    book = Codebook.load(result.out, embedder=embedder.settings(), dim=embedder.dim)
    assert book.codes.shape == (8, cfg.dim)
    store = EpisodeStore(dataset)
    source = book.sources[0]
    frame = store.load(source["episode"], ["obs_pixels"])["obs_pixels"][source["step"]]
    np.testing.assert_allclose(book.codes[0], embedder.embed(frame[None])[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(CodebookError, match="embedder"):
        Codebook.load(result.out, embedder=make_embedder("state", WORLD).settings())


def test_eval_low_measures_learned_goals_for_a_symbolic_policy(dataset, encoder, tmp_path, capsys):
    # The policy reads the symbolic view, the codes are pixel embeddings: eval-low must step pixel
    # envs and embed their frames (it once fed the learned embedder symbolic vectors).
    cfg, _ = encoder
    book = tmp_path / "book"
    build_codebook(CodebookConfig(data=dataset, out=str(book), embedding="learned", encoder=cfg.out, n_codebook=4,
                                  episodes=-1, sample_interval=8, reduce="pca", pictures=False), log=lambda *_: None)
    low = tmp_path / "low"
    train_low(LowLevelConfig(data=dataset, out=str(low), obs="symbolic", embedding="learned", encoder=cfg.out,
                             hidden=32, batch_size=64, max_updates=10, eval_every=10, progress=False))
    assert main(["eval-low", "--low", str(low), "--codebook", str(book), "--encoder", cfg.out, "--data", dataset,
                 "--episodes", "2", "--steps", "6", "--cond-scale", "0", "--no-progress"]) == 0
    assert "eval-low summary" in capsys.readouterr().out
    fresh = json.loads((low / "eval_low.json").read_text())["per_kind"]["random"]["fresh"]
    assert fresh["dist_reduction"] != 0.0  # the frames the goals are measured on move with the rollout


def test_learned_needs_pixel_frames(tmp_path, encoder):
    cfg, _ = encoder
    symbolic = tmp_path / "symbolic"
    collect(CollectConfig(out=str(symbolic), frames=300, pixels=False, player="random", seed=3), progress=False)
    split_dataset(EpisodeStore(symbolic), val_frames=50)
    with pytest.raises(DatasetError, match="no pixel frames"):
        train_encoder(EncoderConfig(data=str(symbolic), out=str(tmp_path / "enc"), steps=2), progress=False)
    with pytest.raises(DatasetError, match="reads pixel frames"):
        build_codebook(CodebookConfig(data=str(symbolic), out=str(tmp_path / "book"), embedding="learned",
                                      encoder=cfg.out, n_codebook=2, pictures=False), log=lambda *_: None)


def test_replaying_an_episode_reproduces_its_pixels(dataset):
    store = EpisodeStore(dataset)
    ep_id = store.split_ids("train")[0]
    arrays = store.load(ep_id, ["obs_symbolic", "obs_pixels", "actions"])
    steps = np.array([0, 5, len(arrays["actions"]) // 2, len(arrays["actions"])])
    frames = replay_frames(store, ep_id, steps, arrays["obs_symbolic"], arrays["actions"])
    np.testing.assert_array_equal(frames, arrays["obs_pixels"][steps])
    shuffled = np.random.default_rng(0).permutation(arrays["actions"])  # other actions: the replay diverges
    assert replay_frames(store, ep_id, steps, arrays["obs_symbolic"], shuffled) is None


def test_cli_train_encoder(dataset, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train-encoder", "--data", dataset, "--out", str(out), "--steps", "2", "--batch-size", "4",
                 "--max-frames", "200", "--hidden", "16", "--dim", "8", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"encoder: {out} (dim 8, 2 steps)" in printed and "validation retrieval" in printed
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 1
    assert main(["train-encoder", "--data", dataset, "--out", str(out), "--steps", "0"]) == 2
