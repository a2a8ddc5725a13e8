"""The experiment configs under configs/, each the built-in default with a few settings changed, and the
commented YAML they are written out as (`python -m ptgm.pipeline --write-configs configs`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ptgm.config import ConfigError, field_help
from ptgm.io import atomic_write_bytes, to_jsonable
from ptgm.pipeline.config import (METHODS, PIPELINE_SET, PLACEHOLDERS, STAGE_FIELDS, RunConfig, over_built_in_stages,
                                  stage_classes, stage_config)


# Experiment configs under configs/: each is RunConfig's built-in default with these settings changed
# (stage settings laid over the stage's own, as `load_run_config` does).
ALL_METHODS = list(METHODS)
EXPERIMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("The built-in default of `ptgm run`: the main job. It starts from the pre-trained models shipped "
                "in the package (configs/pretrain.yaml made them); `ptgm run --from-scratch` pre-trains with the "
                "settings below instead (50k frames, sized for a 2-core CPU).", {}),
    "pretrain": ("The pre-training shipped in the package, which the default run starts from: 1M frames of a "
                 "player that acts only on what is on its screen (so its clone can learn what it does), no pixels, "
                 "the low-level loss weighting rare actions up, 20k validation frames. Copy a finished run into the "
                 "package with `python -m ptgm.pipeline --ship runs/pretrain`.",
                 {"out": "runs/pretrain", "methods": [], "pretrained": None, "val_frames": 20_000,
                  "collect": {"frames": 1_000_000, "pixels": False, "perception": "local"},
                  "low": {"epochs": 4, "action_balance": 0.5}}),
    "benchmark": ("The pre-training of bench/sample_efficiency.py: the full 1M-frame dataset (`ptgm collect "
                  "--preset full`), all four methods, 3 seeds. The bench sets each run's budget (steps) and "
                  "evaluation interval from its per-task budgets; `ptgm run` with this file uses the values here.",
                  # 3 low-level epochs over 1M frames are 6x the samples of the default's 10 over 45k frames. On 1M
                  # frames the relative goal input clones better and did as well on stone (docs/results.md).
                  {"pretrained": None, "out": "runs/benchmark", "collect": {"frames": 1_000_000},
                   "low": {"epochs": 3, "goal_input": "relative"},
                   "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
    "learned": ("The main job with the learned goal embedding: `ptgm train-encoder` (temporal contrast on the "
                "dataset's frames, the role MineCLIP plays in the paper) embeds the codes and every goal; the "
                "low-level policy and the prior still read the symbolic view. Training the encoder takes minutes of its "
                "own on 2 cores (docs/results.md), which is why the default does not use it.",
                {"pretrained": None, "out": "runs/learned", "codebook": {"embedding": "learned"}, "low": {"embedding": "learned"}}),
    "benchmark_learned": ("The benchmark's pre-training with the learned goal embedding (configs/learned.yaml "
                          "on the 1M-frame dataset): the encoder holds 100k frames in memory instead of 20k. Link "
                          "runs/benchmark/data into its --out to skip collecting the same data again.",
                          {"pretrained": None, "out": "runs/benchmark_learned", "collect": {"frames": 1_000_000},
                           "encoder": {"max_frames": 100_000}, "codebook": {"embedding": "learned"},
                           "low": {"epochs": 3, "goal_input": "relative", "embedding": "learned"},
                           "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
    "ablations": ("The paper's ablations on the default pre-training: PTGM, without the goal prior (kl_reward = 0), "
                  "with continuous goals, and flat PPO, over 3 seeds. Other ablations are flags of the high "
                  "stage (kl_reward, low_level_steps, initialize_with_prior) or of the codebook (n_codebook).",
                  {"pretrained": None, "out": "runs/ablations", "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
    "kitchen-quick": ("PTGM end to end on Franka Kitchen, sized to finish in minutes on 2 cores: 20k frames of the "
                      "scripted demonstrator, goals the 9 arm joint and 21 object positions sampled every 6th state "
                      "into N = 50 codes (PTGM-Kitchen's settings), hindsight goals up to 10 steps ahead read "
                      "relative to the present, every code commanded for 50 steps by eval-low, 10 env steps per "
                      "code, and a tiny high-level budget on the microwave subtask. It shows the pipeline runs, not "
                      "what PTGM reaches (the paper: 1.5M env steps).",
                      {"pretrained": None, "out": "runs/kitchen-quick", "task": "microwave", "methods": ["ptgm"],
                       "collect": {"world": "kitchen", "frames": 20_000, "pixels": False}, "val_frames": 2_000,
                       "codebook": {"n_codebook": 50, "sample_interval": 6, "episodes": -1},
                       "low": {"epochs": 10, "goal_input": "relative"}, "prior": {"epochs": 3},
                       "eval_low": {"episodes": 2, "steps": 50, "codes": 0, "cond_scale": [0.0]},
                       "high": {"world": "kitchen", "steps": 4_000, "n_envs": 2, "steps_per_iter": 40,
                                "batch_size": 20, "eval_every": 2_000, "eval_episodes": 4,
                                "checkpoint_every": 2_000, "low_level_steps": 10},
                       "flat": {"world": "kitchen"}}),
}
# The paper's values for settings whose own comment does not give them (PTGM.md).
PAPER_NOTES = {("collect", "player"): "paper: human play, the VPT contractor data",
               ("collect", "frames"): "paper: ~30M frames",
               ("high", "gamma"): "paper: 0.999"}


def experiment(name: str) -> RunConfig:
    """RunConfig of the experiment `name` of EXPERIMENTS."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return dataclasses.replace(RunConfig(), **over_built_in_stages(EXPERIMENTS[name][1]))


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(to_jsonable(value), default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


def render_config(cfg: RunConfig, about: str) -> str:
    """`cfg` as commented YAML listing every setting of every stage (what the pipeline sets excepted), each
    with its help and, where known, the paper's value."""
    import textwrap

    lines = [f"# {line}" for line in textwrap.wrap(about, 100)]
    lines += ["# Every setting of every stage, commented with its help and the paper's value where known.",
              "# Generated: python -m ptgm.pipeline --write-configs configs  (tests/test_pipeline.py checks that",
              "# this file still equals the built-in settings it was written from).", ""]
    helps, classes = field_help(RunConfig), stage_classes()
    for f in dataclasses.fields(RunConfig):
        value = getattr(cfg, f.name)
        if f.name not in STAGE_FIELDS:
            lines.append(f"{f.name}: {_yaml_value(value)}  # {helps[f.name]}")
            continue
        lines.append(f"{f.name}:  # {helps[f.name]}")
        stage_cfg = stage_config(f.name, value, **{k: PLACEHOLDERS[k] for k in PIPELINE_SET[f.name]})
        stage_help = field_help(classes[f.name])
        for sf in dataclasses.fields(stage_cfg):
            if sf.name in PIPELINE_SET[f.name]:
                continue
            note = PAPER_NOTES.get((f.name, sf.name))
            comment = stage_help.get(sf.name, "") + (f" ({note})" if note else "")
            lines.append(f"  {sf.name}: {_yaml_value(getattr(stage_cfg, sf.name))}  # {comment}")
    return "\n".join(lines) + "\n"


def write_configs(folder: str | Path) -> list[Path]:
    """Write configs/<experiment>.yaml for every experiment; returns the paths."""
    paths = []
    for name, (about, _) in EXPERIMENTS.items():
        path = Path(folder) / f"{name}.yaml"
        atomic_write_bytes(path, render_config(experiment(name), about).encode())
        paths.append(path)
    return paths
