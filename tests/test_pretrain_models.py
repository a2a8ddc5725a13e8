"""The low-level policy (null goal, guidance, saving) and the goal prior (codebook binding)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import make_embedder
from ptgm.models.artifacts import ModelError, store_half
from ptgm.models.low_level import MIN_GOAL_SCALE, LowLevelPolicy
from ptgm.models.prior import GoalPrior
from ptgm.pretrain.train_low import null_goal_mask

WORLD = get_world("crafter")
EMBEDDER = make_embedder("state", WORLD)


def random_obs(mode, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    if mode == "symbolic":
        layout = WORLD.symbolic_layout
        view = torch.randint(0, layout.n_ids, (n, layout.view_size), generator=g)
        items = torch.randint(0, 10, (n, layout.n_items), generator=g)
        extras = torch.stack([torch.randint(0, 4, (n,), generator=g), torch.randint(0, 256, (n,), generator=g),
                              torch.randint(0, 2, (n,), generator=g)], 1)
        return torch.cat([view, items, extras], 1).to(torch.uint8)
    return torch.randint(0, 256, (n, *WORLD.pixel_shape), generator=g, dtype=torch.uint8)


def make_policy(mode="symbolic", hidden=32, goal_input="absolute"):
    torch.manual_seed(0)
    policy = LowLevelPolicy(WORLD, mode, EMBEDDER.dim, EMBEDDER.settings(), hidden, goal_input)
    with torch.no_grad():  # a non-zero null goal, so "uses the null goal" is observable
        policy.null_goal.normal_()
    return policy.eval()


def test_null_goal_dropout_rate_matches_p_uncond():
    for p in (0.0, 0.1, 0.5):
        mask = null_goal_mask(200_000, p, np.random.default_rng(3))
        assert abs(mask.mean() - p) < 0.005
    assert not np.array_equal(null_goal_mask(100, 0.5, np.random.default_rng(1)),
                              null_goal_mask(100, 0.5, np.random.default_rng(2)))


def test_unconditional_rows_ignore_the_goal_and_use_the_null_goal():
    policy = make_policy()
    obs = random_obs("symbolic", 6)
    goal_a, goal_b = torch.rand(6, EMBEDDER.dim), torch.rand(6, EMBEDDER.dim)
    mask = torch.tensor([True, False, True, False, False, True])
    with torch.no_grad():
        out_a, out_b = policy(obs, goal_a, mask), policy(obs, goal_b, mask)
        null = policy(obs, policy.null_goal.expand(6, -1).clone())
    assert torch.allclose(out_a[mask], out_b[mask]) and torch.allclose(out_a[mask], null[mask])
    assert not torch.allclose(out_a[~mask], out_b[~mask])
    # the null goal is learned: a loss on unconditional rows reaches it
    policy.train()
    policy(obs, goal_a, mask).sum().backward()
    assert policy.null_goal.grad is not None and policy.null_goal.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["symbolic", "pixels"])
def test_guidance_arithmetic_in_one_forward_pass(mode):
    policy = make_policy(mode)
    obs, goal = random_obs(mode, 5), torch.rand(5, EMBEDDER.dim)
    with torch.no_grad():
        cond = policy(obs, goal)
        uncond = policy(obs, goal, torch.ones(5, dtype=torch.bool))
    batches = []
    hook = policy.encoder.register_forward_hook(lambda m, inp, out: batches.append(inp[0].shape[0]))
    with torch.no_grad():
        for s in (0.0, 1.0, 7.0):
            guided = policy.guided_logits(obs, goal, s)
            assert torch.allclose(guided, (1 + s) * cond - s * uncond, atol=1e-5)
    hook.remove()
    assert batches == [10, 10, 10]  # one pass over [conditional; unconditional] each time
    assert torch.allclose(policy.guided_logits(obs, goal, 0.0), cond, atol=1e-6)
    # deterministic acting takes the guided argmax
    assert torch.equal(policy.act(obs, goal, 7.0, deterministic=True), ((8 * cond - 7 * uncond)).argmax(1))
    assert torch.equal(policy.act(obs, goal, unconditional=True, deterministic=True), uncond.argmax(1))


def test_relative_goals_are_read_as_the_standardised_change_clipped_to_the_trained_range():
    policy = make_policy(goal_input="relative")
    changes = np.random.default_rng(0).normal(0, 0.1, (2000, EMBEDDER.dim)).astype(np.float32)
    changes[:, 0] = 0.0  # a feature that never changes gets the floor scale, not a division by zero
    policy.fit_goal_scale(changes)
    assert policy.goal_scale[0].item() == pytest.approx(MIN_GOAL_SCALE)
    assert policy.goal_scale[1].item() == pytest.approx(changes[:, 1].std(), rel=1e-3)
    assert 2.5 < policy.goal_high[1].item() < 3.5 and -3.5 < policy.goal_low[1].item() < -2.5  # ~ +-3 sigma
    obs, current = random_obs("symbolic", 4), torch.rand(4, EMBEDDER.dim)
    small = current + 0.01
    features = policy.goal_features(small, current)
    expected = torch.clamp(torch.full((4, EMBEDDER.dim), 0.01) / policy.goal_scale, policy.goal_low, policy.goal_high)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-4)
    # a far goal (a code remembered from a richer state) reads as the largest trained change
    far = policy.goal_features(current + 5.0, current)
    torch.testing.assert_close(far, policy.goal_high.expand(4, -1))
    with torch.no_grad():
        goal = torch.rand(4, EMBEDDER.dim)
        assert not torch.allclose(policy(obs, goal, current=current), policy(obs, goal, current=goal))
        with pytest.raises(ValueError, match="pass current="):
            policy(obs, goal)
        # unconditional acting reads no goal, so it needs no present embedding; guidance needs it
        uncond = policy(obs, goal, torch.ones(4, dtype=torch.bool))
        assert torch.equal(policy.act(obs, goal, unconditional=True, deterministic=True), uncond.argmax(1))
        cond = policy(obs, goal, current=current)
        torch.testing.assert_close(policy.guided_logits(obs, goal, 3.0, current), 4 * cond - 3 * uncond)


def test_relative_goal_policy_round_trip_keeps_its_goal_scale(tmp_path):
    policy = make_policy(goal_input="relative")
    policy.fit_goal_scale(np.random.default_rng(1).normal(0, 0.1, (100, EMBEDDER.dim)).astype(np.float32))
    policy.save(tmp_path / "low")
    loaded = LowLevelPolicy.load(tmp_path / "low")
    assert loaded.goal_input == "relative" and loaded.needs_current
    for name in ("goal_scale", "goal_low", "goal_high"):
        torch.testing.assert_close(getattr(loaded, name), getattr(policy, name))
    obs, goal, current = random_obs("symbolic", 3), torch.rand(3, EMBEDDER.dim), torch.rand(3, EMBEDDER.dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded(obs, goal, current=current), policy(obs, goal, current=current))


def test_sampled_actions_follow_the_policy_distribution():
    policy = make_policy()
    obs, goal = random_obs("symbolic", 1).expand(4000, -1), torch.rand(1, EMBEDDER.dim).expand(4000, -1)
    with torch.no_grad():
        probs = torch.softmax(policy.guided_logits(obs[:1], goal[:1], 2.0), 1)[0]
    actions = policy.act(obs, goal, 2.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(actions, minlength=WORLD.n_actions).float() / len(actions)
    assert (freq - probs).abs().max() < 0.03
    same = policy.act(obs, goal, 2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(actions, same)


def test_low_level_save_load_round_trip_and_errors(tmp_path):
    policy = make_policy("pixels")
    policy.meta = {"dataset_id": "abc", "provenance": {"command": "test"}}
    policy.save(tmp_path / "low")
    config = json.loads((tmp_path / "low" / "config.json").read_text())
    assert config["obs_mode"] == "pixels" and config["goal_dim"] == EMBEDDER.dim and config["dataset_id"] == "abc"
    loaded = LowLevelPolicy.load(tmp_path / "low", embedder=EMBEDDER.settings())
    assert not loaded.training and loaded.meta["dataset_id"] == "abc"
    obs, goal = random_obs("pixels", 3), torch.rand(3, EMBEDDER.dim)
    with torch.no_grad():
        assert torch.equal(loaded.guided_logits(obs, goal, 3.0), policy.guided_logits(obs, goal, 3.0))

    with pytest.raises(ModelError, match="embedder"):
        LowLevelPolicy.load(tmp_path / "low", embedder={"name": "learned", "dim": 64})
    weights = tmp_path / "low" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match="checksum"):
        LowLevelPolicy.load(tmp_path / "low")
    with pytest.raises(ModelError, match="not found"):
        LowLevelPolicy.load(tmp_path / "nowhere")
    GoalPrior(WORLD, "symbolic", 3, "f" * 16, 16).save(tmp_path / "prior")
    with pytest.raises(ModelError, match="not a ptgm low-level policy"):
        LowLevelPolicy.load(tmp_path / "prior")


def codebook(seed, n=6):
    codes = np.random.default_rng(seed).random((n, EMBEDDER.dim)).astype(np.float32)
    return Codebook(codes=codes, embedder=EMBEDDER.settings(), sources=[{"episode": "x", "step": i} for i in range(n)])


def test_prior_shapes_and_codebook_binding(tmp_path):
    book = codebook(0)
    prior = GoalPrior(WORLD, "symbolic", book.n_codes, book.fingerprint, hidden=32)
    assert isinstance(prior.head, torch.nn.Linear) and prior.head.out_features == book.n_codes
    obs = random_obs("symbolic", 4)
    assert prior(obs).shape == (4, book.n_codes)
    prior.save(tmp_path / "prior")
    assert json.loads((tmp_path / "prior" / "config.json").read_text())["codebook_fingerprint"] == book.fingerprint
    loaded = GoalPrior.load(tmp_path / "prior", book)
    with torch.no_grad():
        assert torch.equal(loaded(obs), prior(obs))

    with pytest.raises(ModelError, match="fingerprint"):
        GoalPrior.load(tmp_path / "prior", codebook(1))  # same size, other codes
    with pytest.raises(ModelError, match="7 codes"):
        GoalPrior.load(tmp_path / "prior", codebook(0, n=7))


def test_weights_stored_in_half_precision_load_close_to_the_trained_ones_and_a_resave_is_float32(tmp_path):
    policy = make_policy(hidden=64, goal_input="relative")
    policy.fit_goal_scale(np.random.default_rng(1).normal(0, 0.1, (100, EMBEDDER.dim)).astype(np.float32))
    policy.save(tmp_path / "low")
    full = (tmp_path / "low" / "weights.safetensors").stat().st_size
    trained = json.loads((tmp_path / "low" / "config.json").read_text())["weights_sha256"]
    store_half(tmp_path / "low")
    store_half(tmp_path / "low")  # once only
    config = json.loads((tmp_path / "low" / "config.json").read_text())
    assert config["stored_dtype"] == "float16"
    assert config["trained_weights_sha256"] == trained != config["weights_sha256"]
    assert (tmp_path / "low" / "weights.safetensors").stat().st_size < 0.6 * full

    stored = load_file(tmp_path / "low" / "weights.safetensors")
    assert {n for n, v in stored.items() if v.dtype == torch.float16} == {n for n, v in policy.state_dict().items()
                                                                         if v.numel() >= 4096}
    loaded = LowLevelPolicy.load(tmp_path / "low")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for name in ("goal_scale", "goal_low", "goal_high"):  # statistics stay exact
        torch.testing.assert_close(getattr(loaded, name), getattr(policy, name), atol=0, rtol=0)
    obs, goal, current = random_obs("symbolic", 64), torch.rand(64, EMBEDDER.dim), torch.rand(64, EMBEDDER.dim)
    with torch.no_grad():
        half, exact = loaded(obs, goal, current=current), policy(obs, goal, current=current)
    assert not torch.equal(half, exact)
    torch.testing.assert_close(torch.softmax(half, 1), torch.softmax(exact, 1), atol=2e-3, rtol=0)

    loaded.save(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert "stored_dtype" not in again and "trained_weights_sha256" not in again
    LowLevelPolicy.load(tmp_path / "again")

    weights = tmp_path / "again" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"    ")
    with pytest.raises(ModelError, match="checksum differs"):  # shipping never blesses an altered file
        store_half(tmp_path / "again")
