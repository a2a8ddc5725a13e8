"""Training the low-level policy and the prior: learning, resuming, the CLI and its outputs."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from ptgm.cli import main
from ptgm.config import ConfigError
from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook, CodebookError
from ptgm.goals.embedders import embed_episode, make_embedder
from ptgm.models.low_level import LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.training.checkpoint import CheckpointError
from ptgm.pretrain.episodes import load_episodes
from ptgm.pretrain.train_low import LowLevelConfig, LowLevelObjective, train_low
from ptgm.pretrain.train_prior import PriorConfig, train_prior

WORLD = get_world("crafter")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """5,000 frames of the scripted player (predictable actions, so there is something to learn), in
    episodes of at most 500 steps so that validation holds more than one world."""
    root = tmp_path_factory.mktemp("scripted")
    collect(CollectConfig(out=str(root), frames=5000, pixels=False, player="scripted", seed=1, max_episode_steps=500),
            progress=False)
    split_dataset(EpisodeStore(root), val_frames=1000)
    return str(root)


@pytest.fixture(scope="module")
def pixel_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixels")
    collect(CollectConfig(out=str(root), frames=400, pixels=True, player="random", seed=2), progress=False)
    split_dataset(EpisodeStore(root), val_frames=100)
    return str(root)


@pytest.fixture(scope="module")
def codebook_dir(dataset, tmp_path_factory):
    """Ten codes: embeddings of real training observations spread over the episodes."""
    store = EpisodeStore(dataset)
    embedder = make_embedder("state", WORLD)
    codes, sources = [], []
    for ep_id in store.split_ids("train"):
        goals = embed_episode(embedder, store.load(ep_id, ["obs_symbolic"]))
        for t in np.linspace(0, len(goals) - 1, 4).astype(int)[1:]:
            codes.append(goals[t])
            sources.append({"episode": ep_id, "step": int(t)})
    pick = np.random.default_rng(0).choice(len(codes), size=min(10, len(codes)), replace=False)
    book = Codebook(np.stack(codes)[pick], embedder.settings(), [sources[i] for i in pick])
    return str(book.save(tmp_path_factory.mktemp("codebook")))


def low_config(dataset, out, **kw):
    base = dict(data=dataset, out=str(out), hidden=64, batch_size=64, lr=1e-3, epochs=3, eval_every=20,
                checkpoint_every=10, progress=False)
    return LowLevelConfig(**{**base, **kw})


def test_training_lowers_validation_loss_and_beats_the_majority_action(dataset, tmp_path):
    cfg = low_config(dataset, tmp_path / "low")
    store = EpisodeStore(dataset)
    embedder = make_embedder("state", WORLD)
    val = load_episodes(store, store.split_ids("val"), "symbolic", embedder)
    objective = LowLevelObjective(cfg, val, val)
    torch.manual_seed(cfg.seed)
    untrained = objective.evaluate(LowLevelPolicy(WORLD, "symbolic", embedder.dim, embedder.settings(), cfg.hidden))

    policy, metrics = train_low(cfg)
    best = metrics["best"]
    assert metrics["updates"] == 3 * metrics["updates_per_epoch"] and metrics["resumed_from"] is None
    assert best["val_loss"] < untrained["val_loss"] - 0.5
    # beats the baselines that ignore the observation
    assert best["val_loss"] < best["marginal_loss"] - 0.15
    assert best["val_accuracy"] > best["majority_accuracy"] + 0.05
    # the saved weights are the best-validation ones and evaluate to the recorded numbers
    saved = LowLevelPolicy.load(tmp_path / "low", embedder=embedder.settings())
    assert saved.meta["update"] == metrics["best_update"] and saved.meta["dataset_id"] == store.dataset_id
    assert objective.evaluate(saved)["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def fit_objective(objective, embedder, hidden, updates, batch, lr, rng):
    """A fresh low-level policy after `updates` Adam steps on `objective` (one relabelling)."""
    torch.manual_seed(0)
    net = LowLevelPolicy(WORLD, "symbolic", embedder.dim, embedder.settings(), hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    objective.new_epoch(rng)
    for _ in range(updates):
        loss, _ = objective.loss(net, rng.integers(0, objective.n_train, batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


def test_the_players_random_actions_are_marked_and_not_imitated(dataset, pixel_dataset, tmp_path):
    from ptgm.pretrain.episodes import Episodes

    store = EpisodeStore(dataset)
    embedder = make_embedder("state", WORLD)
    recorded = load_episodes(store, store.split_ids("train"), "symbolic", embedder)
    assert store.records_noise and recorded.n_steps > 3000
    assert 0.07 < recorded.noise.mean() < 0.13  # the scripted player's random_action_prob, 0.1
    random_play = EpisodeStore(pixel_dataset)  # a random player has no choice to tell its actions apart from
    assert not load_episodes(random_play, random_play.split_ids("train"), "symbolic", embedder).noise.any()
    # `ptgm data stats` splits each action's presses into the player's choices and the rest.
    from ptgm.data.stats import dataset_stats, format_stats

    stats = dataset_stats(store)
    noise = np.concatenate([store.load(e.id, ["noise"])["noise"] for e in store.episodes])
    assert sum(r for _, r in stats["action_origin"].values()) == noise.sum()
    assert sum(c + r for c, r in stats["action_origin"].values()) == store.num_frames
    share = 100 * noise.sum() / store.num_frames
    assert f"not the player's choice (random or a driver's) {share:.1f}% of steps" in format_stats(stats)

    # One state seen 300 times: the player chose action 1 there; its random actions, 70% of the steps, were 2.
    rng = np.random.default_rng(0)
    noise = rng.random(300) < 0.7
    obs = np.zeros((301, WORLD.symbolic_layout.size), np.uint8)
    eps = Episodes(["a"], obs, np.zeros((301, embedder.dim), np.float32), np.where(noise, 2, 1), np.arange(300),
                   np.array([0]), np.array([300]), noise)
    cfg = low_config(dataset, tmp_path / "low")
    objective = LowLevelObjective(cfg, eps, eps)
    assert objective.n_train == (~noise).sum()
    net = fit_objective(objective, embedder, cfg.hidden, updates=30, batch=32, lr=1e-2, rng=rng)
    with torch.no_grad():
        logits = net(torch.from_numpy(obs[:1]), torch.zeros(1, embedder.dim), torch.ones(1, dtype=torch.bool))
    assert logits.argmax().item() == 1
    assert objective.evaluate(net)["majority_accuracy"] == 1.0  # validation counts the chosen steps only


def test_validation_reports_recall_per_action(dataset, tmp_path):
    """A rare action the policy never predicts shows as recall 0 however high the accuracy."""
    from ptgm.pretrain.episodes import Episodes

    embedder = make_embedder("state", WORLD)
    obs = np.zeros((101, WORLD.symbolic_layout.size), np.uint8)
    obs[:100, :81] = 1 + (np.arange(100) % 2)[:, None]  # two kinds of view: action 1 in one, 2 in the other ...
    actions = np.where(np.arange(100) % 2 == 0, 1, 2)
    actions[[10, 20]] = 11  # ... but for two presses of make_wood_pickaxe among the 1s
    eps = Episodes(["a"], obs, np.zeros((101, embedder.dim), np.float32), actions, np.arange(100),
                   np.array([0]), np.array([100]))
    objective = LowLevelObjective(low_config(dataset, tmp_path / "low", p_uncond=0.0), eps, eps)
    net = fit_objective(objective, embedder, 32, updates=150, batch=32, lr=1e-2, rng=np.random.default_rng(0))
    metrics = objective.evaluate(net)
    assert metrics["val_accuracy"] == pytest.approx(0.98)
    assert metrics["val_recall_move_left"] == pytest.approx(1.0) and metrics["val_recall_move_right"] == 1.0
    assert metrics["val_recall_make_wood_pickaxe"] == 0.0
    assert "val_recall_noop" not in metrics  # no validation step of it: no recall


def test_action_balance_weighs_rare_actions_up_until_they_win_where_the_player_hesitates(dataset, tmp_path):
    from ptgm.pretrain.episodes import Episodes, action_weights

    counts = np.array([96, 4, 0])
    weights = action_weights(counts, 0.5)
    assert weights[2] == 0 and weights[1] == pytest.approx(weights[0] * np.sqrt(24))
    assert (weights * counts).sum() / counts.sum() == pytest.approx(1.0)  # the loss keeps its scale
    assert np.allclose(action_weights(counts[:2], 0.0), 1.0)

    # 900 steps of state A, always action 0; 100 of state B, where the player took 0 60% and 1 40% of the time.
    # Over all steps, action 1 is 4% of the presses. Plain cross-entropy prefers 0 in B; weighted by count^-0.5,
    # 1 wins there (0.4 * 5 against 0.6 * 1.02), and A stays 0.
    embedder = make_embedder("state", WORLD)
    rng = np.random.default_rng(0)
    in_b = np.arange(1000) >= 900
    actions = np.where(in_b & (rng.random(1000) < 0.4), 1, 0)
    obs = np.zeros((1001, WORLD.symbolic_layout.size), np.uint8)
    obs[900:1000, 0] = 1  # state B differs from A in one cell
    eps = Episodes(["a"], obs, np.zeros((1001, embedder.dim), np.float32), actions, np.arange(1000), np.array([0]),
                   np.array([1000]))

    def trained_choice(balance: float) -> list[int]:
        cfg = low_config(dataset, tmp_path / f"low{balance}", action_balance=balance)
        weights = action_weights(np.bincount(actions, minlength=WORLD.n_actions), balance) if balance else None
        objective = LowLevelObjective(cfg, eps, eps, weights)
        net = fit_objective(objective, embedder, cfg.hidden, updates=150, batch=64, lr=3e-3,
                            rng=np.random.default_rng(1))
        with torch.no_grad():
            logits = net(torch.from_numpy(obs[[0, 950]]), torch.zeros(2, embedder.dim))  # the goal it trained on
        return logits.argmax(1).tolist()

    assert trained_choice(0.0) == [0, 0]
    assert trained_choice(0.5) == [0, 1]
    with pytest.raises(ConfigError, match="action-balance"):
        low_config(dataset, tmp_path / "bad", action_balance=1.5).validate()


def test_resumed_run_continues_from_checkpoint_and_matches_uninterrupted(dataset, tmp_path):
    class Killed(Exception):
        pass

    def kill_at_update_17(update):
        if update == 17:
            raise Killed

    full, full_metrics = train_low(low_config(dataset, tmp_path / "full", epochs=1))
    with pytest.raises(Killed):
        train_low(low_config(dataset, tmp_path / "cut", epochs=1), on_update=kill_at_update_17)
    state = json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text())
    assert state["update"] == 10  # the last checkpoint before the kill

    seen = []
    resumed, metrics = train_low(low_config(dataset, tmp_path / "cut", epochs=1), on_update=seen.append)
    assert metrics["resumed_from"] == 10 and seen[0] == 11 and metrics["updates"] == full_metrics["updates"]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert metrics["best"] == full_metrics["best"]

    # a checkpoint is only continued by the same run
    with pytest.raises(CheckpointError, match="lr"):
        train_low(low_config(dataset, tmp_path / "cut", epochs=1, lr=5e-4))
    # a longer budget is the same run, extended
    _, longer = train_low(low_config(dataset, tmp_path / "cut", epochs=2))
    assert longer["resumed_from"] == full_metrics["updates"] and longer["updates"] == 2 * full_metrics["updates"]


def test_a_checkpoint_is_not_resumed_with_another_codebook_or_split(dataset, codebook_dir, tmp_path, monkeypatch):
    """The settings name the codebook and the dataset by path; what is at the path may have changed since."""
    data, book = tmp_path / "data", tmp_path / "codebook"
    shutil.copytree(dataset, data)
    shutil.copytree(codebook_dir, book)

    class Killed(Exception):
        pass

    def kill_at_update_12(update):
        if update == 12:
            raise Killed

    def config():
        return PriorConfig(data=str(data), codebook=str(book), out=str(tmp_path / "prior"), hidden=32, batch_size=64,
                           lr=1e-3, epochs=1, eval_every=5, checkpoint_every=5, progress=False)

    with pytest.raises(Killed):
        train_prior(config(), on_update=kill_at_update_12)
    started_with = Codebook.load(book)
    Codebook(started_with.codes[::-1].copy(), started_with.embedder, started_with.sources[::-1]).save(book)
    with pytest.raises(CheckpointError, match="codebook"):
        train_prior(config())
    started_with.save(book)
    split_dataset(EpisodeStore(data), val_frames=1500)  # other validation episodes
    with pytest.raises(CheckpointError, match="split"):
        train_prior(config())
    split_dataset(EpisodeStore(data), val_frames=1000)  # the split it was started with: it resumes, and paths
    monkeypatch.chdir(tmp_path)                        # are compared by what they name, not how they are spelled
    (tmp_path / "book_link").symlink_to(book)
    _, metrics = train_prior(dataclasses.replace(config(), data="data", codebook="book_link", out="prior"))
    assert metrics["resumed_from"] == 10


def test_the_prior_refuses_a_codebook_built_from_other_data(dataset, codebook_dir, tmp_path):
    book = Codebook.load(codebook_dir)
    store = EpisodeStore(dataset)
    config = PriorConfig(data=dataset, codebook=str(tmp_path / "book"), out=str(tmp_path / "prior"), hidden=32,
                         max_updates=2, progress=False)
    Codebook(book.codes, book.embedder, book.sources, {"dataset_id": "0" * 64}).save(tmp_path / "book")
    with pytest.raises(CodebookError, match="built from dataset 000000000000"):
        train_prior(config)
    other_split = {"dataset_id": store.dataset_id, "train_episodes_sha256": "0" * 64}
    Codebook(book.codes, book.embedder, book.sources, other_split).save(tmp_path / "book")
    with pytest.raises(CodebookError, match="another split"):
        train_prior(config)
    assert not (tmp_path / "prior").exists()


def test_prior_learns_codes_better_than_the_majority(dataset, codebook_dir, tmp_path):
    # Short goal gaps: on this little data the codes 15-200 steps ahead are too noisy to beat the majority reliably.
    cfg = PriorConfig(data=dataset, codebook=codebook_dir, out=str(tmp_path / "prior"), hidden=64, batch_size=64,
                      lr=1e-3, epochs=6, eval_every=30, progress=False, min_btwn_goals=1, max_btwn_goals=20)
    _, metrics = train_prior(cfg)
    best = metrics["best"]
    assert best["val_top1"] > best["majority_top1"] + 0.05
    assert best["val_loss"] < best["marginal_loss"] - 0.1
    book = Codebook.load(codebook_dir)
    prior = GoalPrior.load(tmp_path / "prior", book)
    assert prior.meta["metrics"] == best


def test_cli_writes_the_documented_outputs_for_both_observation_modes(dataset, pixel_dataset, codebook_dir, tmp_path,
                                                                    capsys):
    out = tmp_path / "low_px"
    assert main(["train-low", "--data", pixel_dataset, "--obs", "pixels", "--out", str(out), "--max-updates", "4",
                 "--batch-size", "32", "--hidden", "32", "--eval-every", "2", "--no-progress", "--seed", "3"]) == 0
    assert "low-level policy" in capsys.readouterr().out
    for name in ("weights.safetensors", "config.json", "metrics.json", "run_config.yaml", "checkpoint/state.json"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert (out / "progress.csv").read_text().splitlines()[0].startswith("update,losses/loss,")
    config = json.loads((out / "config.json").read_text())
    assert config["obs_mode"] == "pixels" and config["provenance"]["config"]["seed"] == 3
    assert config["dataset_id"] == EpisodeStore(pixel_dataset).dataset_id
    assert main(["train-low", "--data", dataset, "--obs", "pixels", "--out", str(tmp_path / "y")]) == 2
    assert "no pixel observations" in capsys.readouterr().err

    out = tmp_path / "prior"
    assert main(["train-prior", "--data", dataset, "--codebook", codebook_dir, "--out", str(out), "--max-updates", "3",
                 "--batch-size", "32", "--hidden", "32", "--no-progress"]) == 0
    assert "majority" in capsys.readouterr().out
    # errors the user must fix: one line, exit code 2
    assert main(["train-low", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert main(["train-low", "--data", dataset, "--out", str(tmp_path / "x"), "--min-btwn-goals", "50",
                 "--max-btwn-goals", "20"]) == 2
    assert main(["train-low", "--data", dataset, "--out", str(tmp_path / "x"), "--obs", "voxels"]) == 2
    err = capsys.readouterr().err
    assert "min_btwn_goals" in err and "valid: pixels, symbolic" in err


def test_spilled_pixel_frames_read_back_as_in_memory_and_leave_no_file(pixel_dataset, tmp_path):
    store = EpisodeStore(pixel_dataset)
    embedder = make_embedder("state", get_world(store.world))
    ids = store.split_ids("train")
    in_memory = load_episodes(store, ids, "pixels", embedder)
    spill = tmp_path / "out"
    spilled = load_episodes(store, ids, "pixels", embedder, spill=spill)
    assert isinstance(in_memory.obs, np.ndarray) and not isinstance(spilled.obs, np.ndarray)
    assert spilled.obs.shape == in_memory.obs.shape
    rows = np.random.default_rng(0).integers(0, len(in_memory.obs), 300)
    np.testing.assert_array_equal(spilled.obs[rows], in_memory.obs[rows])
    np.testing.assert_array_equal(spilled.obs[np.arange(len(in_memory.obs))], in_memory.obs)
    np.testing.assert_array_equal(spilled.goals, in_memory.goals)
    with pytest.raises(IndexError):
        spilled.obs[np.array([len(in_memory.obs)])]
    assert list(spill.iterdir()) == []  # the file has no name: nothing to clean up, even after a kill
    symbolic = load_episodes(store, ids, "symbolic", embedder, spill=spill)
    assert isinstance(symbolic.obs, np.ndarray)  # 100 bytes a frame stay in memory
