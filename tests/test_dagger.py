"""Collection with a driver: the clone and the scripted player take turns (expert takeover, `ptgm.pretrain.dagger`)."""

from __future__ import annotations

import numpy as np
import pytest

from ptgm.config import ConfigError
from ptgm.data.collect import CollectConfig, Turns, collect
from ptgm.data.store import EpisodeStore
from ptgm.pipeline.shipped import SHIPPED
from ptgm.pretrain.dagger import clone_driver

CLONE = str(SHIPPED / "low")  # the shipped low-level policy: a trained clone of the screen-only player


def _collect(out, **settings) -> EpisodeStore:
    cfg = CollectConfig(out=str(out), player="scripted", frames=1500, pixels=False, perception="local", seed=2,
                        **settings)
    collect(cfg, progress=False, make_driver=clone_driver if cfg.driver else None)
    return EpisodeStore(out)


def _arrays(store: EpisodeStore, key: str) -> np.ndarray:
    return np.concatenate([store.load(e.id, [key])[key] for e in store.episodes])


def test_turns_give_the_driver_its_share_in_stretches_of_the_mean_length():
    turns = Turns(share=0.3, stretch=20, seed=0)
    driving = np.array([turns.driver_acts() for _ in range(200_000)])
    assert driving.mean() == pytest.approx(0.3, abs=0.03)
    changes = np.flatnonzero(np.diff(driving.astype(int))) + 1
    runs = np.diff(np.concatenate([[0], changes, [len(driving)]]))
    # Back-to-back stretches of the same side merge, so runs are at least as long as the stretches.
    assert runs.mean() > 20


def test_the_driver_takes_its_share_of_steps_and_they_are_not_the_players_choices(tmp_path):
    plain = _collect(tmp_path / "plain")
    driven = _collect(tmp_path / "driven", driver=CLONE, driver_share=0.5)
    noise_plain, noise_driven = _arrays(plain, "noise").mean(), _arrays(driven, "noise").mean()
    assert noise_plain == pytest.approx(0.1, abs=0.04)  # only the player's random key presses
    # Half the steps are the clone's, and the player's own random presses come on top in its half.
    assert noise_driven == pytest.approx(0.5 + 0.5 * 0.1, abs=0.12)
    assert not np.array_equal(_arrays(plain, "actions")[:1000], _arrays(driven, "actions")[:1000])
    key = driven.manifest["producer_key"]["driver"]
    assert key["folder"] == CLONE and key["share"] == 0.5 and len(key["config_sha256"]) == 64


def test_a_driven_collection_depends_only_on_its_config(tmp_path):
    one = _collect(tmp_path / "one", driver=CLONE)
    two = _collect(tmp_path / "two", driver=CLONE, workers=2)
    for key in ("actions", "noise", "obs_symbolic"):
        np.testing.assert_array_equal(_arrays(one, key), _arrays(two, key))


def test_a_driver_with_no_share_leaves_the_players_episodes_as_they_were(tmp_path):
    plain = _collect(tmp_path / "plain")
    idle = _collect(tmp_path / "idle", driver=CLONE, driver_share=0.0)
    for key in ("actions", "noise", "obs_symbolic"):
        np.testing.assert_array_equal(_arrays(plain, key), _arrays(idle, key))


def test_bad_driver_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="random player"):
        collect(CollectConfig(out=str(tmp_path / "a"), player="random", driver=CLONE), make_driver=clone_driver)
    with pytest.raises(ConfigError, match="no config.json"):
        collect(CollectConfig(out=str(tmp_path / "b"), player="scripted", driver=str(tmp_path)),
                make_driver=clone_driver)
    with pytest.raises(ConfigError, match="driver-share"):
        CollectConfig(out=str(tmp_path / "c"), player="scripted", driver=CLONE, driver_share=1.5).validate()
    with pytest.raises(ConfigError, match="build the driver"):
        collect(CollectConfig(out=str(tmp_path / "d"), player="scripted", driver=CLONE))
