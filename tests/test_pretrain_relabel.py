"""Hindsight relabelling: goal gaps, per-step goal labels, and goals staying inside their episode."""

import numpy as np
import pytest

from ptgm.pretrain.episodes import Episodes
from ptgm.pretrain.relabel import goal_steps, relabel


class FixedGaps:
    """A stand-in generator whose `integers` returns chosen gaps, to check labels exactly."""

    def __init__(self, gaps):
        self.gaps = gaps

    def integers(self, low, high, size):
        assert all(low <= g < high for g in self.gaps)
        return np.resize(np.asarray(self.gaps), size)


def test_hand_made_episode_labels_each_step_with_its_next_goal_step():
    # 12 actions, observations 0..12; gaps 4, 5, 4 give goal steps 4, 9 (13 is past the end).
    labels = relabel(12, 3, 6, FixedGaps([4, 5, 4]))
    assert labels.tolist() == [4, 4, 4, 4, 9, 9, 9, 9, 9, 12, 12, 12]
    # A goal step itself is labelled with the following goal, never with itself.
    assert labels[4] == 9
    # After the last drawn goal step the episode's final observation is the goal.
    assert (labels[9:] == 12).all()


def test_episode_shorter_than_min_gap_uses_final_observation():
    assert relabel(3, 15, 200, np.random.default_rng(0)).tolist() == [3, 3, 3]
    assert relabel(0, 15, 200, np.random.default_rng(0)).tolist() == []


@pytest.mark.parametrize("lo,hi", [(15, 200), (1, 2), (5, 9)])
def test_random_gaps_lie_in_half_open_range_and_labels_point_forward(lo, hi):
    rng = np.random.default_rng(1)
    length = 2_000
    steps = goal_steps(length, lo, hi, rng)
    gaps = np.diff(np.concatenate([[0], steps]))
    assert gaps.min() >= lo and gaps.max() < hi
    assert steps.max() <= length and length - steps.max() < hi  # drawn all the way to the end
    labels = relabel(length, lo, hi, np.random.default_rng(1))
    t = np.arange(length)
    assert (labels > t).all() and (labels - t <= hi).all()
    assert np.array_equal(np.unique(labels[labels != length]), steps[steps != length])
    # With gaps >= 2 both ends of the range get drawn over many goals.
    if hi - lo > 1:
        many = np.diff(goal_steps(200_000, lo, hi, np.random.default_rng(2)))
        assert many.min() == lo and many.max() == hi - 1


def test_fresh_draws_differ_between_epochs_but_repeat_with_the_same_seed():
    a = relabel(500, 15, 200, np.random.default_rng([0, 1]))
    b = relabel(500, 15, 200, np.random.default_rng([0, 2]))
    c = relabel(500, 15, 200, np.random.default_rng([0, 1]))
    assert not np.array_equal(a, b) and np.array_equal(a, c)


def test_bad_gaps_are_refused():
    for lo, hi in [(0, 5), (5, 5), (10, 3)]:
        with pytest.raises(ValueError, match="min_btwn_goals"):
            relabel(100, lo, hi, np.random.default_rng(0))


def test_flattened_episodes_relabel_within_each_episode():
    lengths = [30, 7, 50]
    starts = np.cumsum([0] + [n + 1 for n in lengths[:-1]])
    n_obs = sum(n + 1 for n in lengths)
    eps = Episodes(ids=["a", "b", "c"], obs=np.zeros((n_obs, 4), np.uint8), goals=np.zeros((n_obs, 2), np.float32),
                   actions=np.zeros(sum(lengths), np.int64),
                   step_obs=np.concatenate([s + np.arange(n) for s, n in zip(starts, lengths)]),
                   obs_start=starts, lengths=np.asarray(lengths))
    rows = eps.relabel(5, 12, np.random.default_rng(0))
    assert rows.shape == (eps.n_steps,)
    for s, n, (lo, hi) in zip(starts, lengths, [(0, 30), (30, 37), (37, 87)]):
        mine = rows[lo:hi]
        assert (mine > eps.step_obs[lo:hi]).all() and (mine <= s + n).all()
        assert mine[-1] == s + n  # the last step's goal is its episode's final observation
