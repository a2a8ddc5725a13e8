"""`ptgm run`: the whole PTGM pipeline on one config, from nothing to a report.

    data -> split -> [goal encoder] -> codebook -> low-level policy -> prior -> eval-low
         -> high-level PPO (PTGM) -> flat PPO baseline (same task, same budget) -> report

The goal encoder (`ptgm train-encoder`) is trained only for a codebook with the learned goal
embedding; every later stage then reads its goals through it.

Every stage writes into its own folder under `out` and, once complete, a `stage.json` holding the
exact config it ran with. A stage whose `stage.json` matches the current config is skipped, so a
rerun after an interruption picks up where it stopped (and the stages themselves resume from their
checkpoints). A folder made with different settings is an error, never silently overwritten.

The two halves are functions of their own, which bench/sample_efficiency.py reuses: `pretrain`
(collect + split, codebook, train-low, train-prior, eval-low into one folder, `Pretrained`) and
`train_downstream` (one RL run, `rl_config` of a task x method x seed, as a stage with its marker).
A config file's stage settings are laid over the built-in ones (`load_run_config`).

The package's modules: `config` (RunConfig, the methods, each stage's config), `stages` (one stage's folder
and record; the folder layout), `runner` (the stages chained), `fanout` (the downstream runs one after
another, or each as a Ray task with `--ray`), `config_files` (the configs under configs/, commented YAML
listing every setting; `python -m ptgm.pipeline --format-configs configs/*.yaml` keeps their comments current)
and `commands` (`ptgm run`).

The built-in default (`configs/default.yaml` lists the same settings) is sized for a 2-core CPU
(its timings are in docs/results.md); `ptgm run --config FILE` runs any experiment config under `configs/`.
"""

from ptgm.pipeline.config import (METHODS, PIPELINE_SET, STAGE_FIELDS, RunConfig, load_run_config, stage_classes,
                                  stage_config)
from ptgm.pipeline.config_files import format_configs, render_config
from ptgm.pipeline.runner import (check_run, collect_record, goal_encoder, pretrain, pretrain_configs,
                                  pretrain_differences, rl_config, run, train_downstream)
from ptgm.pipeline.stages import STAGE_FILE, Pretrained, run_dir_name, run_stage, stage_status

__all__ = ["METHODS", "PIPELINE_SET", "STAGE_FIELDS", "STAGE_FILE", "Pretrained", "RunConfig",
           "check_run", "collect_record", "format_configs", "goal_encoder", "load_run_config", "pretrain",
           "pretrain_configs", "pretrain_differences", "render_config", "rl_config", "run", "run_dir_name",
           "run_stage", "stage_classes", "stage_config", "stage_status", "train_downstream"]
