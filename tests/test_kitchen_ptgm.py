"""PTGM on Franka Kitchen: the state-vector encoder, object-state goals, the continuous low-level policy,
the codebook and prior on a kitchen dataset, the hierarchical env with continuous low-level actions, the
skill table's whole episodes, and flat PPO refusing a continuous world (flat SAC plays it:
tests/test_rl_flat_sac.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium_robotics")

from ptgm.cli import main  # noqa: E402
from ptgm.config import ConfigError  # noqa: E402
from ptgm.data.collect import CollectConfig, collect  # noqa: E402
from ptgm.data.split import split_dataset  # noqa: E402
from ptgm.data.store import EpisodeStore  # noqa: E402
from ptgm.envs import get_world, make_env  # noqa: E402
from ptgm.envs.vector import PausableEnv, TaskVecEnv, is_pause, pause_actions  # noqa: E402
from ptgm.evaluate.skills import AGENTS, Skills, play, summarise  # noqa: E402
from ptgm.goals.build import CodebookConfig, build_codebook  # noqa: E402
from ptgm.goals.codebook import Codebook, CodebookError  # noqa: E402
from ptgm.goals.embedders import StateSliceEmbedder, check_embedding, embedding_name, make_embedder  # noqa: E402
from ptgm.goals.sampling import action_history_counts  # noqa: E402
from ptgm.models.artifacts import ModelError  # noqa: E402
from ptgm.models.encoders import SymbolicEncoder, VectorEncoder, make_obs_encoder  # noqa: E402
from ptgm.models.low_level import LowLevelPolicy  # noqa: E402
from ptgm.models.prior import GoalPrior  # noqa: E402
from ptgm.pretrain.train_low import LowLevelConfig, train_low  # noqa: E402
from ptgm.pretrain.train_prior import PriorConfig, train_prior  # noqa: E402
from ptgm.rl.hierarchical import HierarchicalVecEnv  # noqa: E402
from ptgm.rl.train_flat import FlatConfig  # noqa: E402

WORLD = get_world("kitchen")
CRAFTER = get_world("crafter")
OBJECTS = slice(*WORLD.state_slices["objects"])
GOAL = np.r_[0:9, 18:39]  # the default goal: the arm's joint positions, then the objects


def _states(n: int = 8) -> np.ndarray:
    env = make_env("kitchen")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    states = [obs]
    for _ in range(n - 1):
        states.append(env.step(rng.uniform(-1, 1, 9).astype(np.float32))[0])
    return np.stack(states)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """12 episodes of 100 steps of the scripted demonstrator, 2 of them for validation (~10 s)."""
    out = tmp_path_factory.mktemp("kitchen") / "data"
    collect(CollectConfig(out=str(out), world="kitchen", player="scripted", frames=1200, max_episode_steps=100,
                          seed=3, pixels=False), progress=False)
    split_dataset(EpisodeStore(out), 200, -1, 0)
    return out


@pytest.fixture(scope="module")
def codebook_dir(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("kitchen") / "codebook"
    build_codebook(CodebookConfig(data=str(dataset), out=str(out), n_codebook=12, sample_interval=6, episodes=-1),
                   log=lambda *_: None)
    return out


def test_state_vector_worlds_get_an_mlp_encoder_and_crafter_keeps_its_own():
    assert WORLD.state_vector and not CRAFTER.state_vector
    assert isinstance(make_obs_encoder("symbolic", CRAFTER, 32), SymbolicEncoder)
    encoder = make_obs_encoder("symbolic", WORLD, 32)
    assert isinstance(encoder, VectorEncoder)
    states = _states()
    encoder.fit(states)
    standardised = (torch.from_numpy(states) - encoder.input_mean) / encoder.input_scale
    assert standardised.mean(0).abs().max() < 1e-4  # fitted to these states
    features = encoder(torch.from_numpy(states))
    assert features.shape == (8, 32) and torch.isfinite(features).all()
    # the input statistics are buffers: saved with the weights
    assert {"input_mean", "input_scale"} <= set(encoder.state_dict())


def test_the_state_embedder_of_kitchen_is_the_arm_pose_and_the_objects():
    embedder = make_embedder("state", WORLD)
    assert isinstance(embedder, StateSliceEmbedder) and embedder.dim == 30
    states = _states()
    goals = embedder.embed(states)
    assert goals.dtype == np.float32 and np.array_equal(goals, np.concatenate([states[:, :9], states[:, 18:39]], 1))
    assert embedder.settings() == {"name": "state", "world": "kitchen", "dim": 30, "parts": ["robot_pos", "objects"],
                                   "slices": [[0, 9], [18, 39]]}
    # named parts, for eval-low's distances per part
    assert {name: (b.start, b.stop) for name, b in embedder.blocks.items()} == {"robot_pos": (0, 9), "objects": (9, 30)}
    with pytest.raises(ValueError, match="59"):
        embedder.embed(states[:, :40])
    # artefacts built on it refuse another embedder, and the other way round
    book = Codebook(goals[:2], embedder.settings(), [{"episode": "x", "step": i} for i in range(2)])
    with pytest.raises(CodebookError, match="embedder"):
        book.check(make_embedder("state", CRAFTER).settings())
    with pytest.raises(CodebookError, match=r"--embedding state:robot_pos\+objects"):
        Codebook(states[:2, OBJECTS], make_embedder("state:objects", WORLD).settings(), [{}] * 2).check(
            embedder.settings())


def test_state_parts_pick_other_slices_and_rebuild_from_what_artefacts_record():
    objects = make_embedder("state:objects", WORLD)
    states = _states()
    assert np.array_equal(objects.embed(states), states[:, OBJECTS]) and objects.blocks == {}
    # one part records what the object-slice embedder always recorded, so artefacts built on it still load
    assert objects.settings() == {"name": "state", "world": "kitchen", "dim": 21, "part": "objects", "slice": [18, 39]}
    for name in ("state", "state:objects", "state:objects+robot_vel"):
        settings = make_embedder(name, WORLD).settings()
        assert make_embedder(embedding_name(settings), WORLD).settings() == settings
    assert embedding_name(make_embedder("state", CRAFTER).settings()) == "state"
    book = Codebook(states[:2, OBJECTS], objects.settings(), [{}] * 2)
    assert book.load_embedder(WORLD).settings() == objects.settings()
    for bad in ("state:", "state:objects+", "pose"):
        with pytest.raises(ConfigError, match="--embedding"):
            check_embedding(bad)
    check_embedding("state:robot_pos+objects")
    for bad in ("state:hands", "state:objects+objects"):
        with pytest.raises(ValueError, match="state slices: robot_pos, robot_vel, objects, objects_vel"):
            make_embedder(bad, WORLD)
    with pytest.raises(ValueError, match="no state vector"):
        make_embedder("state:objects", CRAFTER)
    with pytest.raises(ConfigError, match="--embedding"):
        LowLevelConfig(data="d", out="o", embedding="state:").validate()
    with pytest.raises(ConfigError, match="--embedding"):
        CodebookConfig(data="d", out="o", embedding="pose").validate()


def test_continuous_action_history_is_the_sum_of_the_actions():
    actions = np.arange(12, dtype=np.float32).reshape(6, 2) / 10
    sums = action_history_counts(actions, np.array([0, 3, 6]), 2, 2)
    assert np.allclose(sums, [[0, 0], actions[1:3].sum(0), actions[4:6].sum(0)])


def _policy(seed: int = 0) -> LowLevelPolicy:
    torch.manual_seed(seed)
    embedder = make_embedder("state", WORLD)
    return LowLevelPolicy(WORLD, "symbolic", embedder.dim, embedder.settings(), hidden=32).eval()


def test_continuous_act_is_in_range_shaped_and_seeded():
    policy = _policy()
    states = torch.from_numpy(_states())
    goals = states[:, GOAL].flip(0)
    assert policy.config()["head"] == "gaussian"

    def act(seed, **kw):
        return policy.act(states, goals, generator=torch.Generator().manual_seed(seed), **kw)

    a = act(5)
    assert a.shape == (8, 9) and a.dtype == torch.float32 and a.abs().max() <= 1.0
    assert torch.equal(a, act(5)) and not torch.equal(a, act(6))
    mean = torch.tanh(policy(states, goals))
    assert torch.equal(act(5, deterministic=True), mean)
    # guidance mixes the pre-tanh means like logits, so a guided action stays in [-1, 1] however large the scale
    guided = act(5, cond_scale=50.0, deterministic=True)
    assert guided.abs().max() <= 1.0 and not torch.allclose(guided, mean)
    assert act(5, unconditional=True).shape == (8, 9)


def test_train_low_on_kitchen_lowers_the_validation_loss_and_round_trips(dataset, tmp_path):
    common = dict(data=str(dataset), min_btwn_goals=1, max_btwn_goals=10, hidden=64, batch_size=64, epochs=1000,
                  eval_every=100, checkpoint_every=1000, progress=False)
    _, start = train_low(LowLevelConfig(out=str(tmp_path / "one"), max_updates=1, **common))
    policy, trained = train_low(LowLevelConfig(out=str(tmp_path / "low"), max_updates=300, **common))
    before, after = start["final"], trained["best"]
    assert after["val_loss"] < before["val_loss"] - 3.0  # the Gaussian NLL, summed over the 9 dimensions
    assert after["val_mse"] < 0.5 * before["val_mse"] and after["val_mse"] < 0.5 * after["mean_action_mse"]
    assert "val_accuracy" not in after and "val_recall_arm1_velocity" not in after
    loaded = LowLevelPolicy.load(tmp_path / "low", embedder=make_embedder("state", WORLD).settings())
    assert loaded.config()["head"] == "gaussian" and loaded.encoder.input_scale.min() > 0
    assert not torch.equal(loaded.encoder.input_scale, torch.ones(59))  # the fitted statistics were saved
    with pytest.raises(ModelError, match="embedder"):
        LowLevelPolicy.load(tmp_path / "low", embedder=make_embedder("state", CRAFTER).settings())


def test_codebook_and_prior_on_a_kitchen_dataset(dataset, codebook_dir, tmp_path):
    book = Codebook.load(codebook_dir, embedder=make_embedder("state", WORLD).settings())
    assert book.codes.shape == (12, 30)
    assert (codebook_dir / "scatter.png").is_file() and (codebook_dir / "overview.html").is_file()
    assert all(d["text"].startswith(("done", "done in clip")) for d in book.meta["descriptions"])
    _, metrics = train_prior(PriorConfig(data=str(dataset), out=str(tmp_path / "prior"), codebook=str(codebook_dir),
                                         min_btwn_goals=1, max_btwn_goals=10, hidden=64, batch_size=64, epochs=100,
                                         max_updates=150, eval_every=50, progress=False))
    assert metrics["best"]["val_loss"] < metrics["best"]["marginal_loss"]
    prior = GoalPrior.load(tmp_path / "prior", book)
    assert isinstance(prior.encoder, VectorEncoder) and prior(torch.from_numpy(_states())).shape == (8, 12)


def test_vector_env_keeps_float_states_and_pauses_continuous_actions():
    assert is_pause(-1) and not is_pause(3) and is_pause(pause_actions(WORLD, 1)[0])
    assert not is_pause(np.zeros(9, np.float32))
    env = PausableEnv(make_env("kitchen", task="microwave"))
    obs, _ = env.reset(seed=0)
    still, _, _, _, _ = env.step(pause_actions(WORLD, 1)[0])
    assert np.array_equal(still, obs)
    with TaskVecEnv("microwave", 2, world="kitchen", vector="sync") as vec:
        first = vec.reset(seed=0)["symbolic"]
        assert first.dtype == np.float32 and first.shape == (2, 59)
        step = vec.step(np.full((2, 9), 0.5, np.float32))
        assert step.obs["symbolic"].dtype == np.float32 and not np.array_equal(step.obs["symbolic"], first)
        assert np.array_equal(step.env_steps, [1, 1])


def test_hierarchical_env_runs_the_continuous_low_level_policy_on_kitchen():
    policy = _policy()
    codes = _states()[:3, GOAL]
    book = Codebook(codes, policy.embedder, [{"episode": "x", "step": i} for i in range(3)])
    with HierarchicalVecEnv("microwave", 2, policy, book, low_level_steps=4, cond_scale=0.0, world="kitchen",
                            vector="sync", seed=1) as env:
        obs = env.reset(seed=0)["symbolic"]
        transition = env.step(np.array([0, 2]))
        assert np.array_equal(transition.env_steps, [4, 4]) and transition.reward.shape == (2,)
        after = transition.obs["symbolic"]
        assert after.dtype == np.float32 and not np.array_equal(after[:, :9], obs[:, :9])  # the arm moved


def test_a_ppo_rollout_keeps_kitchen_states_as_floats():
    """The high level's PPO rollout stores the observations it acted on as they came: a state vector must not
    be cut to bytes on its way into the update."""
    from ptgm.rl.policies import ActorCritic
    from ptgm.rl.ppo import collect_rollout

    policy = _policy()
    codes = _states()[:3, GOAL]
    book = Codebook(codes, policy.embedder, [{"episode": "x", "step": i} for i in range(3)])
    torch.manual_seed(0)
    agent = ActorCritic(WORLD, "symbolic", n_actions=3, hidden=32)
    with HierarchicalVecEnv("microwave", 2, policy, book, low_level_steps=2, cond_scale=0.0, world="kitchen",
                            vector="sync", seed=1) as env:
        obs = env.reset(seed=0)
        rollout, _ = collect_rollout(agent, env, obs, horizon=3, gamma=0.99)
    assert rollout.obs.dtype == torch.float32
    np.testing.assert_array_equal(rollout.obs[0].numpy(), obs["symbolic"])


def test_train_flat_ppo_refuses_a_continuous_world_and_names_sac(capsys):
    with pytest.raises(ConfigError, match="continuous actions"):
        FlatConfig(task="microwave", world="kitchen").validate()
    assert main(["train-flat", "--world", "kitchen", "--task", "microwave", "--out", "/tmp/never-flat"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "continuous actions" in err and "--algo sac" in err


def test_skill_table_on_kitchen_counts_subtasks_and_the_demonstrator_does_some(dataset, codebook_dir):
    """Whole episodes on Kitchen: the recorded (scripted) player does subtasks where an untrained clone, a random
    policy in effect, does next to none; lives end at the step limit; the summary counts subtasks (no Crafter
    score, no nights) and the share of episodes doing the standard four."""
    book = Codebook.load(codebook_dir, embedder=make_embedder("state", WORLD).settings())
    prior = GoalPrior(WORLD, "symbolic", len(book.codes), book.fingerprint, hidden=32).eval()
    skills = Skills(EpisodeStore(dataset), book, _policy(), prior)
    assert skills.demonstrator_settings()["name"] == "scripted"
    rows = {}
    for agent in AGENTS:
        lives = play(agent, skills, worlds=[1, 2], seed=0, max_steps=150)
        assert [(life["length"], life["cause"]) for life in lives] == [(150, "timeout")] * 2
        rows[agent] = summarise(lives, WORLD)
        assert rows[agent]["unlocked"] == pytest.approx(np.mean([life["unlocked"].sum() for life in lives]))
    assert {"unlocked", "benchmark", "median_life", "causes", "rates"} <= set(rows["demonstrator"])
    assert not {"score", "dark_share", "first_night"} & set(rows["demonstrator"])
    assert list(rows["demonstrator"]["rates"]) == list(WORLD.achievements)
    assert rows["demonstrator"]["unlocked"] >= 1 > rows["clone"]["unlocked"]
    four = np.isin(WORLD.achievements, ("microwave", "kettle", "bottom_burner", "light_switch"))
    lives = [{"length": 280, "cause": "timeout", "unlocked": four | (np.arange(7) == i)} for i in range(7)]
    row = summarise(lives + [{"length": 280, "cause": "timeout", "unlocked": ~four}], WORLD)
    assert row["benchmark"] == 7 / 8 and row["unlocked"] == pytest.approx((4 * 4 + 3 * 5 + 3) / 8)
