"""The pre-trained models shipped in the package: checked on load, made by configs/pretrain.yaml, installed
into a run once, and what the default `ptgm run` starts from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ptgm.config import ConfigError, from_dict
from ptgm.io import ArtifactError
from ptgm.pipeline import Pretrained, RunConfig, load_run_config, run
from ptgm.pipeline.config import PRETRAIN_FIELDS, over_built_in_stages, settings_of
from ptgm.pipeline.shipped import FILES, MANIFEST, SHIPPED, check_shipped, install_shipped, ship

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_models_match_their_manifest_and_the_config_that_regenerates_them():
    manifest = check_shipped()
    assert manifest["world"] == "crafter"
    assert {f"{folder}/{name}" for folder, names in FILES.items() for name in names} == set(manifest["files"])
    made_with = from_dict(RunConfig, over_built_in_stages(manifest["config"]), "shipped config")
    regenerate = load_run_config(ROOT / "configs" / "pretrain.yaml")

    for name in PRETRAIN_FIELDS:  # by what they set
        assert settings_of(made_with, name) == settings_of(regenerate, name), f"{name} differs from configs/pretrain.yaml"
    assert yaml.safe_load((ROOT / "configs" / "pretrain.yaml").read_text())["pretrained"] is None


def test_an_altered_shipped_file_is_refused(tmp_path):
    copy = tmp_path / "shipped"
    shutil.copytree(SHIPPED, copy)
    weights = copy / "low" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="low/weights.safetensors is missing or altered"):
        check_shipped(copy)
    weights.unlink()
    with pytest.raises(ArtifactError, match="missing or altered"):
        install_shipped(Pretrained(tmp_path / "run"), source=copy)
    assert not (tmp_path / "run").exists()


def test_install_copies_once_resumes_and_refuses_a_pre_training_of_its_own(tmp_path):
    at = Pretrained(tmp_path / "run")
    lines: list[str] = []
    install_shipped(at, lines.append)
    for folder, names in FILES.items():
        assert sorted(p.name for p in (at.root / folder).iterdir()) == sorted(names)
    assert json.loads((at.root / MANIFEST).read_text())["files"] == check_shipped()["files"]
    install_shipped(at, lines.append)
    assert "done already" in lines[-1]

    # Interrupted after two folders were in place, before the record: the rest is copied.
    (at.root / MANIFEST).unlink()
    shutil.rmtree(at.prior)
    shutil.rmtree(at.eval_low)
    install_shipped(at, lines.append)
    assert (at.root / MANIFEST).is_file() and (at.prior / "weights.safetensors").is_file()

    own = Pretrained(tmp_path / "own")
    (own.low).mkdir(parents=True)
    (own.low / "weights.safetensors").write_bytes(b"not the shipped ones")
    with pytest.raises(ConfigError, match="pre-training of this run's own"):
        install_shipped(own, lines.append)


def test_shipping_a_run_with_downstream_methods_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    install_shipped(Pretrained(run_dir), lambda _: None)
    for folder in ("data",):  # ship() wants a finished pre-training's every stage
        (run_dir / folder).mkdir()
        (run_dir / folder / "stage.json").write_text("{}")
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"methods": ["ptgm"]}))
    with pytest.raises(ConfigError, match="downstream methods"):
        ship(run_dir, tmp_path / "to")
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"methods": []}))
    manifest = ship(run_dir, tmp_path / "to")
    assert check_shipped(tmp_path / "to")["files"] == manifest["files"] == check_shipped()["files"]


def test_pre_training_settings_with_the_shipped_models_are_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"collect": {"frames": 1234}}))
    with pytest.raises(ConfigError, match="collect: pre-training settings.*--from-scratch"):
        load_run_config(path).validate()
    assert load_run_config(path, from_scratch=True).pretrained is None
    load_run_config(path, from_scratch=True).validate()
    path.write_text(yaml.safe_dump({"pretrained": "mine"}))
    with pytest.raises(ConfigError, match="pretrained must be 'shipped' or null"):
        load_run_config(path).validate()
    assert RunConfig().pretrained == "shipped"
    # configs/default.yaml lists every setting of every stage, the built-in ones: it starts from the shipped models
    # as the built-in default does (the README's `ptgm run --config configs/default.yaml`).
    committed = load_run_config(ROOT / "configs" / "default.yaml")
    assert committed.pretrained == "shipped"
    committed.validate()
    edited = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    edited["low"]["epochs"] = 7
    path.write_text(yaml.safe_dump(edited))
    with pytest.raises(ConfigError, match="^low: pre-training settings"):
        load_run_config(path).validate()


def test_the_default_run_starts_from_the_shipped_models(tmp_path):
    rl = {"steps": 200, "n_envs": 2, "eval_every": 100, "eval_episodes": 2, "vector": "sync",
          "progress": False, "epochs": 1}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "out"), "task": "wood", "methods": ["ptgm"],
                                    "high": {**rl, "low_level_steps": 5, "steps_per_iter": 8, "batch_size": 8}}))
    lines: list[str] = []
    report = run(load_run_config(path), log=lines.append)
    out = tmp_path / "out"
    assert (report / "report.md").is_file() and (out / MANIFEST).is_file() and not (out / "data").exists()
    stage = json.loads((out / "rl" / "ptgm-wood-s0" / "stage.json").read_text())
    assert stage["config"]["low"] == str(out / "low") and stage["config"]["prior"] == str(out / "prior")
    assert any("[pretrained] the shipped models" in line for line in lines)


def test_a_policy_that_cannot_take_the_priors_weights_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "out"), "task": "wood", "methods": ["ptgm"],
                                    "high": {"steps": 100, "n_envs": 1, "hidden": 32, "vector": "sync",
                                             "progress": False}}))
    with pytest.raises(ConfigError, match="copies the prior's network .* --hidden 32"):
        run(load_run_config(path), log=lambda _: None)
