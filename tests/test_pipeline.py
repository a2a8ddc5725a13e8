"""`ptgm run` end to end on a tiny config, the experiment configs under configs/, the sample-efficiency
bench on a tiny subset, and `--help` of every command."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ptgm.cli import build_parser, main
from ptgm.config import ConfigError
from ptgm.envs import get_world
from ptgm.pipeline import (STAGE_FIELDS, Pretrained, RunConfig, format_configs, stage_config,
                           load_run_config, pretrain_configs, render_config, rl_config, run)

ROOT = Path(__file__).resolve().parents[1]
TASKS = "short_wood:\n  success: [collect_wood]\n  max_steps: 60\n"
# Group the tests that share the tiny run on one xdist worker, so it is built once.
pytestmark = pytest.mark.xdist_group("pipeline")


def tiny_config(root: Path) -> dict:
    """Random-player data, 6 codes, a few updates of each network and a few hundred RL steps: ~20 s."""
    (root / "tasks.yaml").write_text(TASKS)
    rl = {"steps": 300, "n_envs": 2, "hidden": 32, "eval_every": 150, "eval_episodes": 2, "vector": "sync",
          "progress": False, "tasks_file": str(root / "tasks.yaml"), "epochs": 1}
    net = {"hidden": 32, "batch_size": 64, "max_updates": 10, "eval_every": 5, "epochs": 1, "progress": False}
    return {"out": str(root / "run"), "task": "short_wood", "methods": ["ptgm", "flat"], "seeds": [0], "pretrained": None,
            "collect": {"player": "random", "frames": 3000, "workers": 1, "pixels": False, "max_episode_steps": 500},
            "val_frames": 500, "codebook": {"n_codebook": 6, "episodes": -1, "reduce": "pca"},
            "low": dict(net), "prior": dict(net),
            "eval_low": {"episodes": 1, "steps": 10, "codes": 2, "cond_scale": [1.0], "progress": False},
            "high": {**rl, "low_level_steps": 5, "steps_per_iter": 8, "batch_size": 8},
            "flat": {**rl, "steps_per_iter": 64, "batch_size": 32}}


def write_config(root: Path, settings: dict, name: str = "tiny.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished tiny `ptgm run`: (its config file, its output folder, what it printed)."""
    root = tmp_path_factory.mktemp("pipeline")
    config = write_config(root, tiny_config(root))
    lines: list[str] = []
    run(load_run_config(config), log=lines.append)
    return config, root / "run", lines


def test_run_writes_the_report_folder(tiny_run):
    _, out, lines = tiny_run
    report = out / "report"
    for name in ("report.md", "report.png", "report.csv", "codebook_overview.png", "config.yaml", "data_stats.png"):
        assert (report / name).is_file(), name
    md = (report / "report.md").read_text()
    assert "| short_wood | flat | 1 |" in md and "| short_wood | ptgm[k=5,init-prior] | 1 |" in md
    assert yaml.safe_load((report / "config.yaml").read_text())["task"] == "short_wood"
    ran = [line for line in lines if "] running ->" in line]
    assert [line.split("]")[0][1:] for line in ran] == ["collect", "codebook", "train-low", "train-prior", "eval-low",
                                                        "ptgm", "flat"]
    assert any(line.startswith("finished in") for line in lines)


def test_a_rerun_skips_every_stage(tiny_run):
    config, out, _ = tiny_run
    lines: list[str] = []
    run(load_run_config(config), log=lines.append)
    assert not [line for line in lines if "] running ->" in line]
    done = [line.split("]")[0][1:] for line in lines if "] done already:" in line]
    assert done == ["collect", "codebook", "train-low", "train-prior", "eval-low", "ptgm", "flat"]


def test_a_changed_setting_in_the_same_folder_is_an_error(tiny_run, tmp_path):
    config, out, _ = tiny_run
    settings = yaml.safe_load(config.read_text())
    settings["codebook"]["n_codebook"] = 5
    with pytest.raises(ConfigError, match="codebook stage made with other settings"):
        run(load_run_config(write_config(tmp_path, settings)), log=lambda _: None)
    settings = yaml.safe_load(config.read_text())
    settings["flat"]["lr"] = 1e-3  # only the last stage differs: everything before is skipped, then the error
    lines: list[str] = []
    with pytest.raises(ConfigError, match="flat stage made with other settings"):
        run(load_run_config(write_config(tmp_path, settings)), log=lines.append)
    assert not [line for line in lines if "] running ->" in line]


def test_a_stage_recorded_before_a_setting_existed_matches_while_it_holds_its_default(tiny_run, tmp_path):
    """A setting added later (with a default that reproduces the old behaviour) does not invalidate folders
    recorded before it existed; given another value, or a recorded setting gone, it does."""
    from ptgm.config import changed_settings
    from ptgm.pipeline import STAGE_FILE, pretrain_configs, stage_status

    config, out, _ = tiny_run
    cfg = load_run_config(config)
    low = pretrain_configs(cfg, Pretrained(out))["low"]
    marker = out / "low" / STAGE_FILE
    record = json.loads(marker.read_text())
    assert stage_status("low", out / "low", low) == "done"
    older = {**record, "config": {k: v for k, v in record["config"].items() if k != "action_balance"}}
    marker.write_text(json.dumps(older))
    try:
        assert stage_status("low", out / "low", low) == "done"
        assert stage_status("low", out / "low", dataclasses.replace(low, action_balance=0.5)) == "other settings"
        assert changed_settings(older["config"], dataclasses.replace(low, action_balance=0.5)) == ["action_balance"]
        assert changed_settings({**record["config"], "gone": 1}, low) == ["gone"]
        # nested records (the collect stage's {collect: CollectConfig, val_frames}) compare setting by setting
        assert changed_settings({"inner": {"lr": 1.0}, "n": 2}, {"inner": {"lr": 2.0}, "n": 2}) == ["inner.lr"]
    finally:
        marker.write_text(json.dumps(record))
    # `--pretrained` elsewhere: the stages' folders are not settings, a changed setting is
    from ptgm.pipeline import pretrain_differences

    linked = tmp_path / "linked"
    linked.mkdir()
    for name in ("data", "codebook", "low", "prior"):
        (linked / name).symlink_to(out / name)
    assert pretrain_differences(cfg, Pretrained(linked)) == []
    cfg.low["action_balance"] = 0.5
    assert pretrain_differences(cfg, Pretrained(linked)) == ["low"]


def test_a_dataset_linked_into_another_run_is_not_collected_again(tiny_run, tmp_path):
    """Two experiments can share one dataset: the collect stage is done wherever its folder is linked
    (where a stage wrote is not a setting); a stage that read another folder than the config gives is not,
    but one that read the same folder by another path (the link's target) is."""
    from ptgm.pipeline import STAGE_FILE, collect_record, pretrain_configs, stage_status

    config, out, _ = tiny_run
    other = tmp_path / "other"
    other.mkdir()
    (other / "data").symlink_to(out / "data")
    cfg = load_run_config(config, out=str(other))
    at = Pretrained(other)
    c = pretrain_configs(cfg, at)
    assert stage_status("collect", at.data, collect_record(c["collect"], cfg.val_frames)) == "done"
    (other / "codebook").mkdir()
    record = json.loads((out / "codebook" / STAGE_FILE).read_text())
    (other / "codebook" / STAGE_FILE).write_text(json.dumps(record))
    # a codebook copied over read the folder this run's data links to: the same dataset, so it is done
    assert stage_status("codebook", at.codebook, c["codebook"]) == "done"
    # one that read another folder is built again here
    (tmp_path / "another_dataset").mkdir()
    record["config"]["data"] = str(tmp_path / "another_dataset")
    (other / "codebook" / STAGE_FILE).write_text(json.dumps(record))
    assert stage_status("codebook", at.codebook, c["codebook"]) == "other settings"


def test_run_with_learned_goals_trains_the_encoder_and_every_stage_reads_goals_through_it(tmp_path):
    """codebook.embedding 'learned': an encoder stage runs after collect, and the codebook, both
    pre-trained policies, eval-low and the high level all get its folder."""
    settings = tiny_config(tmp_path)
    settings["collect"]["pixels"] = True
    settings["encoder"] = {"steps": 4, "batch_size": 16, "max_frames": 1000, "eval_every": 4, "checkpoint_every": 4}
    settings["codebook"]["embedding"] = settings["low"]["embedding"] = "learned"
    settings["methods"] = ["ptgm"]
    lines: list[str] = []
    run(load_run_config(write_config(tmp_path, settings)), log=lines.append)
    out = tmp_path / "run"
    ran = [line.split("]")[0][1:] for line in lines if "] running ->" in line]
    assert ran == ["collect", "train-encoder", "codebook", "train-low", "train-prior", "eval-low", "ptgm"]
    assert any("validation retrieval: top-1" in line for line in lines)
    encoder = str(out / "encoder")
    for stage in ("codebook", "low", "prior", "eval_low", "rl/ptgm-short_wood-s0"):
        assert json.loads((out / stage / "stage.json").read_text())["config"]["encoder"] == encoder, stage
    assert json.loads((out / "codebook" / "codebook.json").read_text())["embedder"]["name"] == "learned"
    assert Pretrained(out).check().learned_goals()

    settings["low"]["embedding"] = "state"
    with pytest.raises(ConfigError, match="low.embedding 'state' differs from codebook.embedding 'learned'"):
        run(load_run_config(write_config(tmp_path, settings, "mismatch.yaml")), log=lambda _: None)


def test_unknown_or_pipeline_set_stage_settings_are_errors_naming_the_valid_ones(tmp_path, capsys):
    settings = tiny_config(tmp_path)
    settings["high"]["kl_weight"] = 0.1
    with pytest.raises(ConfigError, match=r"high: unknown setting\(s\) \['kl_weight'\]; valid: .*'kl_reward'"):
        run(load_run_config(write_config(tmp_path, settings)), log=lambda _: None)
    assert not (tmp_path / "run").exists()  # caught before anything ran
    settings = tiny_config(tmp_path)
    settings["low"]["data"] = "elsewhere"
    with pytest.raises(ConfigError, match=r"low: \['data'\] are set by the pipeline"):
        run(load_run_config(write_config(tmp_path, settings)), log=lambda _: None)
    settings = tiny_config(tmp_path)
    settings["methods"] = ["ptgm", "dreamer"]
    assert main(["run", "--config", str(write_config(tmp_path, settings))]) == 2
    assert "unknown method 'dreamer'" in capsys.readouterr().err


def test_stage_settings_in_a_file_are_laid_over_the_built_in_ones(tmp_path):
    cfg = load_run_config(write_config(tmp_path, {"collect": {"frames": 1234}}))
    assert cfg.collect == {**RunConfig().collect, "frames": 1234}  # the scripted player stays
    assert cfg.high == RunConfig().high


def resolved(cfg: RunConfig) -> dict:
    """Every stage config `cfg` makes (pre-training, and each method's RL run), as plain data."""
    at = Pretrained(Path("out"))
    stages = {k: dataclasses.asdict(v) for k, v in pretrain_configs(cfg, at).items() if v is not None}
    # the encoder's settings count even where the state embedding leaves the stage out
    stages["encoder settings"] = dataclasses.asdict(stage_config("encoder", cfg.encoder, data="", out="", seed=0))
    for method in cfg.methods:
        stages[method] = dataclasses.asdict(rl_config(cfg, method, cfg.task, 0, "run", at))
    top = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in STAGE_FIELDS}
    return {"top": top, **stages}


CONFIG_FILES = sorted((ROOT / "configs").glob("*.yaml"))


def test_every_config_file_lists_every_setting_with_its_current_help():
    assert len(CONFIG_FILES) >= 7
    assert format_configs(CONFIG_FILES, check=True) == [], \
        "run `python -m ptgm.pipeline --format-configs configs/*.yaml`"


def test_format_configs_keeps_values_and_description_and_rewrites_listings(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("# My experiment: more frames.\nseed: 3\ncollect: {frames: 12345}\nlow: {epochs: 2}  # mine\n")
    assert format_configs([path], check=True) == [path] and path.read_text().startswith("# My experiment")
    assert format_configs([path]) == [path]  # rewritten in place
    text = path.read_text()
    assert text.startswith("# My experiment: more frames.\n") and "  kl_reward: 0.05  # " in text
    cfg = load_run_config(path)
    assert (cfg.seed, cfg.collect["frames"], cfg.low["epochs"]) == (3, 12345, 2)
    assert resolved(cfg) == resolved(dataclasses.replace(RunConfig(), seed=3, collect={**RunConfig().collect,
                                                         "frames": 12345}, low={**RunConfig().low, "epochs": 2}))
    assert format_configs([path], check=True) == []  # formatting is idempotent


def test_default_config_is_the_built_in_default_and_lists_every_setting():
    assert resolved(load_run_config(ROOT / "configs" / "default.yaml")) == resolved(RunConfig())
    text = (ROOT / "configs" / "default.yaml").read_text()
    data = yaml.safe_load(text)
    assert set(data["high"]) >= {"steps", "kl_reward", "low_level_steps", "cond_scale", "lr", "gamma", "vf_coef"}
    assert "(paper: 0.05)" in text and "(paper: 0.999)" in text and "(paper: 10,000)" in text
    # What the pipeline sets itself is not a setting of the file.
    assert not {"out", "seed", "data", "codebook"} & set(data["low"]) and "task" not in data["flat"]
    bench = load_run_config(ROOT / "configs" / "benchmark.yaml")
    assert bench.collect["frames"] == 1_000_000 and len(bench.seeds) >= 3
    assert bench.methods == ["ptgm", "ptgm-no-prior", "ptgm-continuous", "flat"]


def test_rendered_config_loads_back_to_the_same_run(tmp_path):
    cfg = dataclasses.replace(RunConfig(), task="stone", seeds=[3, 4], high={**RunConfig().high, "kl_reward": 0.5})
    path = tmp_path / "c.yaml"
    path.write_text(render_config(cfg, "a test config"))
    assert resolved(load_run_config(path)) == resolved(cfg)


def load_bench(name: str = "sample_efficiency"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_runs_a_subset_and_resumes(tiny_run, tmp_path):
    config, pretrained, _ = tiny_run
    bench = load_bench()
    out = tmp_path / "bench"
    args = ["--config", str(config), "--out", str(out), "--pretrained", str(pretrained), "--tasks", "short_wood",
            "--methods", "ptgm-no-prior", "flat", "--seeds", "0", "1", "--steps", "200", "--evals", "2"]
    lines: list[str] = []
    assert bench.main(args, log=lines.append) == 0
    report = out / "report"
    for name in ("report.md", "report.csv", "short_wood.png"):
        assert (report / name).is_file(), name
    md = (report / "report.md").read_text()
    assert "| short_wood | ptgm-no-prior[k=5] | 2 |" in md and "| short_wood | flat | 2 |" in md
    assert sum("] running ->" in line for line in lines) == 4  # four runs, no pre-training
    assert any(line.startswith("total:") for line in lines)
    assert not [line for line in lines if line.startswith("note:")]  # same pre-training settings as --config
    record = json.loads((out / "bench.json").read_text())
    assert set(record["runs"]) == {f"{m}-short_wood-s{s}" for m in ("ptgm-no-prior", "flat") for s in (0, 1)}
    assert all(r["steps"] == 200 and r["seconds"] > 0 for r in record["runs"].values())
    # Evaluated at 0, every 100 steps and at the end of the budget.
    evals = (out / "rl" / "flat-short_wood-s0" / "eval.csv").read_text().splitlines()
    assert len(evals) - 1 >= 3

    again: list[str] = []
    assert bench.main(args, log=again.append) == 0
    assert not [line for line in again if "] running ->" in line]
    assert sum("done already" in line for line in again if line.startswith("[") and "/4]" in line) == 4

    # --report-only on a larger plan: the finished runs in the table, the others listed, nothing trained.
    (report / "report.md").unlink()
    only: list[str] = []
    larger = [*args[:args.index("--seeds")], "--seeds", "0", "1", "2", "--steps", "200", "--evals", "2"]
    assert bench.main([*larger, "--report-only"], log=only.append) == 0
    assert not [line for line in only if "running ->" in line]
    assert sorted(line for line in only if line.startswith("missing:")) == [
        "missing: flat-short_wood-s2: not run", "missing: ptgm-no-prior-short_wood-s2: not run"]
    assert [line for line in only if line.startswith("remaining: 2 runs, 0.0M env steps: about ")]
    md = (report / "report.md").read_text()
    assert "| short_wood | flat | 2 |" in md and "- flat-short_wood-s2: not run" in md
    assert not (out / "rl" / "flat-short_wood-s2").exists()


def test_bench_estimates_the_missing_runs_at_their_methods_measured_speed():
    bench = load_bench()
    # flat at its median 200 env steps/s: 1 h; ptgm at 100: 1 h; a method with no finished run at the
    # median of all finished runs (100): 0.5 h.
    missing = [("a", "flat", 720_000), ("b", "ptgm", 360_000), ("c", "ptgm-no-prior", 180_000)]
    line = bench.remaining_time(missing, {"flat": [100.0, 300.0], "ptgm": [100.0]})
    assert line.startswith("remaining: 3 runs, 1.3M env steps: about 2.5 h one after another")
    assert line.endswith("(flat 200, ptgm 100)")


def test_bench_report_only_needs_a_finished_run(tiny_run, tmp_path, capsys):
    config, pretrained, _ = tiny_run
    args = ["--config", str(config), "--out", str(tmp_path / "b"), "--pretrained", str(pretrained), "--tasks",
            "short_wood", "--methods", "flat", "--seeds", "0", "--steps", "64", "--report-only"]
    assert load_bench().main(args) == 2
    assert "none of the 1 runs of this plan has finished" in capsys.readouterr().err


def test_bench_rejects_a_task_without_a_budget(tiny_run, tmp_path, capsys):
    config, pretrained, _ = tiny_run
    bench = load_bench()
    args = ["--config", str(config), "--out", str(tmp_path / "b"), "--pretrained", str(pretrained),
            "--tasks", "short_wood", "--seeds", "0"]
    assert bench.main(args) == 2
    assert "no budget for task 'short_wood'" in capsys.readouterr().err
    assert bench.main([*args[:4], "--pretrained", str(tmp_path), "--steps", "100"]) == 2
    assert "not a finished pre-training stage" in capsys.readouterr().err
    assert bench.budget("diamond", bench.parse_args(["--budget-scale", "0.1"])) == 100_000


def test_bench_notes_a_pretrained_folder_made_with_other_settings(tiny_run, tmp_path):
    config, pretrained, _ = tiny_run
    settings = yaml.safe_load(config.read_text())
    settings["prior"]["lr"] = 1e-3
    lines: list[str] = []
    args = ["--config", str(write_config(tmp_path, settings)), "--out", str(tmp_path / "b"), "--pretrained",
            str(pretrained), "--tasks", "short_wood", "--methods", "flat", "--seeds", "0", "--steps", "64", "--evals", "1"]
    assert load_bench().main(args, log=lines.append) == 0
    assert any(line.startswith("note:") and line.endswith("in: prior") for line in lines)


def subcommands() -> list[list[str]]:
    """Every command path of the `ptgm` parser, e.g. ['data', 'stats']."""
    import argparse

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    found.extend(walk(sub, [*prefix, name]))
        return found

    return walk(build_parser(), [])


def test_every_command_has_help():
    commands = subcommands()
    assert {"run", "collect", "codebook", "train-low", "train-prior", "train-high", "train-flat", "report"} <= {
        c[0] for c in commands}
    for command in [[], *commands]:
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([*command, "--help"])
        assert exit_.value.code == 0, command


def test_ptgm_help_from_the_installed_command():
    done = subprocess.run([sys.executable, "-m", "ptgm.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "run" in done.stdout


def test_collect_takes_env_as_another_name_for_world():
    from ptgm.cli import build_parser

    args = build_parser().parse_args(["collect", "--env", "crafter", "--out", "x"])
    assert args.world == "crafter"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["collect", "--env", "minecraft", "--out", "x"])


def test_skill_table_plays_each_agent_on_the_same_worlds(tiny_run):
    from ptgm.envs import score_from_rates
    from ptgm.evaluate.skills import AGENTS, Skills, play, summarise

    _, out, _ = tiny_run
    layout = Pretrained(out)
    skills = Skills.load(layout.data, layout.codebook, layout.low, layout.prior)
    assert skills.demonstrator_settings()["name"] == "random"  # the tiny run's data was recorded by a random player
    crafter = get_world("crafter")
    for agent in AGENTS:
        lives = play(agent, skills, worlds=[5, 6, 7], seed=0, max_steps=25)
        assert len(lives) == 3
        for life in lives:
            assert 1 <= life["length"] <= 25
            assert (life["cause"] == "timeout") == (life["length"] == 25)
        again = play(agent, skills, worlds=[5, 6, 7], seed=0, max_steps=25)
        assert [life["length"] for life in again] == [life["length"] for life in lives]
        row = summarise(lives, crafter)
        assert row["median_life"] == float(np.median([life["length"] for life in lives]))
        rates = np.mean([life["unlocked"] for life in lives], axis=0)
        assert row["score"] == pytest.approx(score_from_rates(100 * rates))
    with pytest.raises(ValueError, match="unknown agent"):
        play("oracle", skills, worlds=[5], seed=0)


def test_skill_table_follows_the_first_night(tiny_run):
    """Lives played past the first day: whoever outlives it has seen the dark and counts as surviving it, the
    sheltered steps are dark steps, and `summarise` aggregates exactly what the lives recorded."""
    from ptgm.evaluate.skills import Skills, play, summarise

    _, out, _ = tiny_run
    layout = Pretrained(out)
    skills = Skills.load(layout.data, layout.codebook, layout.low, layout.prior)
    lives = play("demonstrator", skills, worlds=[5, 6, 7, 8], seed=0, max_steps=320)
    for life in lives:
        night = life["first_night"]
        assert night["survived"] == (life["length"] > 300 or (life["length"] == 300 and life["cause"] == "timeout"))
        assert 0 <= night["sheltered_steps"] <= night["dark_steps"] <= 300
        assert (night["stone_at_dusk"] is None) == (night["dark_steps"] == 0)
        if night["survived"]:
            assert night["dark_steps"] > 0  # the first night falls before step 300
    row = summarise(lives, get_world("crafter"))
    assert row["first_night"] == pytest.approx(np.mean([life["first_night"]["survived"] for life in lives]))
    dusk = [life["first_night"] for life in lives if life["first_night"]["dark_steps"]]
    assert row["sheltered"] == pytest.approx(np.mean([n["sheltered_steps"] / n["dark_steps"] for n in dusk]))
    assert row["stone_at_dusk"] == pytest.approx(np.mean([n["stone_at_dusk"] >= 2 for n in dusk]))


def test_skill_quality_bench_prints_one_json_object(tiny_run):
    _, out, _ = tiny_run
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "skill_quality.py"), "--run", str(out), "--episodes", "2",
                           "--reach-episodes", "1", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for agent in ("demonstrator", "clone", "zero_shot"):
        assert {"score", "median_life", "dark_share", "wood_pickaxe", "stone_pickaxe", "first_night", "stone_at_dusk",
                "sheltered"} <= set(result[agent])
    for steps in ("10", "50"):
        saved = json.loads((out / "skill_quality" / f"eval_low_{steps}.json").read_text())
        assert saved["config"]["steps"] == int(steps)
        assert result["reach"][steps] == {"random": saved["summary"]["random"]["reached"],
                                          "unconditional": saved["summary"]["unconditional"]["reached"],
                                          "goal": saved["summary"]["goal s=0"]["reached"]}
    assert set(result["recall"]) <= {n for n in get_world("crafter").action_names if n.startswith(("make_", "place_"))}
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "skill_quality.py"), "--run", str(out / "low")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a pre-training folder" in bad.stderr


def test_skill_quality_table_shows_what_fits_the_world():
    """Crafter's table keeps its columns; a world summarised by count shows each achievement and its benchmark."""
    columns = load_bench("skill_quality").columns
    assert [c[0] for c in columns(get_world("crafter"))] == ["score %", "median life", "dark", "wood pickaxe",
                                                             "stone pickaxe", "night", "stone", "shelter"]
    kitchen = get_world("kitchen")
    assert [c[0] for c in columns(kitchen)] == ["unlocked", *kitchen.achievements, "benchmark", "median life"]


def test_run_without_methods_is_a_pre_training_only(tiny_run, tmp_path):
    config, out, _ = tiny_run
    settings = yaml.safe_load(config.read_text())
    settings["methods"] = []
    lines: list[str] = []
    assert run(load_run_config(write_config(tmp_path, settings)), log=lines.append) == out
    assert not [line for line in lines if "] running ->" in line]
    assert lines[-1].startswith("finished in") and "pre-trained models in" in lines[-1]


def test_a_killed_run_resumes_to_the_same_pre_training(tiny_run, tmp_path):
    """SIGKILL `ptgm run` as soon as its dataset has an episode on disk, start it again: it finishes every stage,
    with the same dataset and low-level weights as the uninterrupted run."""
    import signal
    import time

    config, done, _ = tiny_run
    settings = yaml.safe_load(config.read_text())
    settings["out"] = str(tmp_path / "run")
    settings["methods"] = []
    path = write_config(tmp_path, settings)
    command = [sys.executable, "-m", "ptgm.cli", "run", "--config", str(path)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    episodes = tmp_path / "run" / "data" / "episodes"
    deadline = time.monotonic() + 120
    while first.poll() is None and not (episodes.is_dir() and any(episodes.iterdir())):
        assert time.monotonic() < deadline, "the run wrote no episode in 120 s"
        time.sleep(0.01)
    killed = first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert killed, "the run finished before it could be killed"
    assert not (tmp_path / "run" / "low" / "weights.safetensors").exists()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    from safetensors.numpy import load_file

    resumed = tmp_path / "run"
    assert (json.loads((resumed / "data/manifest.json").read_text())["episodes"]
            == json.loads((done / "data/manifest.json").read_text())["episodes"])
    # The low-level policy depends only on the data. (The codebook's clustering is not bit-for-bit repeatable
    # across processes under load, so the codebook and the prior trained on it are only checked to be complete.)
    a, b = load_file(resumed / "low" / "weights.safetensors"), load_file(done / "low" / "weights.safetensors")
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    for stage in ("codebook", "prior", "eval_low"):
        assert (resumed / stage / "stage.json").is_file(), stage


def test_python_dash_m_ptgm_is_the_ptgm_command():
    import subprocess

    done = subprocess.run([sys.executable, "-m", "ptgm", "tasks", "--world", "crafter"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "stone_pickaxe" in done.stdout
