"""What `ptgm run` is told: `RunConfig` (the pipeline's own settings and each stage's), the downstream
methods, and each stage's config built from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptgm.config import ConfigError, check_at_least, check_paths_given, from_dict, load_yaml


@dataclass
class RunConfig:
    out: str = "runs/default"  # folder for every stage's output and the report
    seed: int = 0  # seeds every stage
    task: str = "stone"  # downstream task of the high-level policy and the flat baseline
    methods: list[str] = field(default_factory=lambda: ["ptgm", "flat"])  # downstream runs: ptgm | ptgm-no-prior | ptgm-continuous | flat
    seeds: list[int] = field(default_factory=lambda: [0])  # seeds of the downstream runs
    pretrained: str | None = "shipped"  # start from the Crafter models shipped in the package (configs/pretrain.yaml made them); null: pre-train with the settings below
    collect: dict[str, Any] = field(default_factory=lambda: {  # `ptgm collect` settings (CollectConfig)
        "player": "scripted", "frames": 50_000, "workers": 2, "pixels": True})
    val_frames: int = 5_000  # validation frames of the split (paper: 10,000)
    encoder: dict[str, Any] = field(default_factory=dict)  # `ptgm train-encoder` settings (learned goal embedding only)
    codebook: dict[str, Any] = field(default_factory=dict)  # `ptgm codebook` settings (CodebookConfig)
    low: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-low` settings (LowLevelConfig)
        "min_btwn_goals": 1, "max_btwn_goals": 10, "epochs": 10})
    prior: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-prior` settings (PriorConfig)
        "min_btwn_goals": 1, "max_btwn_goals": 10, "epochs": 3})
    eval_low: dict[str, Any] = field(default_factory=lambda: {  # `ptgm eval-low` settings (EvalLowConfig)
        "episodes": 2, "steps": 50})
    high: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-high` settings (HighConfig)
        "steps": 50_000, "eval_every": 10_000, "eval_episodes": 50, "initialize_with_prior": True})
    flat: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-flat` settings (FlatConfig)
        "steps": 50_000, "eval_every": 10_000, "eval_episodes": 50})

    def validate(self) -> None:
        """The pipeline's own settings (each stage's are checked by `check_run`)."""
        check_paths_given(self, "out")
        check_at_least(self, 0, "seed", "val_frames")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"methods: unknown method {unknown[0]!r}; valid: {', '.join(METHODS)}")
        for name, values in (("methods", self.methods), ("seeds", self.seeds)):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ConfigError(f"{name}: {repeated} given more than once (each run has one folder)")
        negative = [s for s in self.seeds if s < 0]
        if negative:
            raise ConfigError(f"seeds must be >= 0, got {negative}")
        if self.methods and not self.seeds:
            raise ConfigError("seeds: give at least one seed for the methods' runs")
        if self.pretrained not in (None, "shipped"):
            raise ConfigError(f"pretrained must be 'shipped' or null (pre-train from scratch), got {self.pretrained!r}")
        if self.pretrained is not None:
            built_in = RunConfig()
            changed = [name for name in PRETRAIN_FIELDS if settings_of(self, name) != settings_of(built_in, name)]
            if changed:
                raise ConfigError(f"{', '.join(changed)}: pre-training settings, but pretrained: shipped starts from "
                                  f"the shipped models; set pretrained: null (or pass --from-scratch) to pre-train")


# RunConfig fields that hold one stage's settings, in pipeline order.
STAGE_FIELDS = ("collect", "encoder", "codebook", "low", "prior", "eval_low", "high", "flat")
# RunConfig fields only a pre-training reads (ignored when starting from the shipped models).
PRETRAIN_FIELDS = ("collect", "val_frames", "encoder", "codebook", "low", "prior", "eval_low")
# Settings the pipeline fills in itself (the folders it chains, the task, the seed): never in a stage's dict.
# `encoder` is the goal encoder's folder when the codebook's embedding is 'learned', else None.
PIPELINE_SET = {"collect": ("out", "seed"), "encoder": ("data", "out", "seed"),
                "codebook": ("data", "out", "seed", "encoder"), "low": ("data", "out", "seed", "encoder"),
                "prior": ("data", "out", "codebook", "seed", "encoder"),
                "eval_low": ("low", "codebook", "data", "out", "seed", "encoder"),
                "high": ("task", "out", "seed", "low", "codebook", "prior", "encoder"), "flat": ("task", "out", "seed")}
# Downstream methods: PTGM's HighConfig settings that make each ablation, or None for flat PPO.
# The ablations use the prior nowhere, so they also start from a fresh network.
METHODS: dict[str, dict[str, Any] | None] = {
    "ptgm": {}, "ptgm-no-prior": {"goal_prior": False, "initialize_with_prior": False},
    "ptgm-continuous": {"continuous": True, "initialize_with_prior": False}, "flat": None}


def stage_classes() -> dict[str, type]:
    """Each stage field's config dataclass (imported here: `ptgm --help` should not load torch)."""
    from ptgm.data.collect import CollectConfig
    from ptgm.evaluate.eval_low import EvalLowConfig
    from ptgm.goals.build import CodebookConfig
    from ptgm.goals.learned import EncoderConfig
    from ptgm.pretrain.train_low import LowLevelConfig
    from ptgm.pretrain.train_prior import PriorConfig
    from ptgm.rl.train_flat import FlatConfig
    from ptgm.rl.train_high import HighConfig

    return {"collect": CollectConfig, "encoder": EncoderConfig, "codebook": CodebookConfig, "low": LowLevelConfig,
            "prior": PriorConfig, "eval_low": EvalLowConfig, "high": HighConfig, "flat": FlatConfig}


def load_run_config(path: str | Path | None, from_scratch: bool = False, **overrides: Any) -> RunConfig:
    """A RunConfig from YAML; a stage's settings there are laid over that stage's built-in ones, so a file
    may list only what it changes (`collect: {frames: 1000000}` keeps the scripted player). `from_scratch`
    pre-trains instead of starting from the shipped models."""
    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if from_scratch:
        data["pretrained"] = None
    return from_dict(RunConfig, over_built_in_stages(data), str(path or "run config"))


def over_built_in_stages(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with each stage's settings laid over that stage's built-in ones (other keys as they are)."""
    defaults = RunConfig()
    return {k: {**getattr(defaults, k), **v} if k in STAGE_FIELDS and isinstance(v, dict) else v
            for k, v in changes.items()}


def stage_config(name: str, values: dict[str, Any], **fixed: Any):
    """Build stage `name`'s config from its settings and what the pipeline sets; unknown or pipeline-set
    settings are a ConfigError naming the valid ones."""
    cls = stage_classes()[name]
    valid = sorted({f.name for f in dataclasses.fields(cls)} - set(PIPELINE_SET[name]))
    unknown = set(values) - set(valid)
    if unknown & set(PIPELINE_SET[name]):
        raise ConfigError(f"{name}: {sorted(unknown & set(PIPELINE_SET[name]))} are set by the pipeline "
                          f"(folders under --out, the task, the seed); remove them")
    if unknown:
        raise ConfigError(f"{name}: unknown setting(s) {sorted(unknown)}; valid: {valid}")
    try:
        return from_dict(cls, {**values, **fixed}, name)
    except TypeError as e:  # a required setting missing
        raise ConfigError(f"{name}: {e}") from e


# Stand-ins for what the pipeline sets (folders, task, seed), to build a stage's config from its settings alone.
PLACEHOLDERS = {"out": "", "seed": 0, "data": "", "codebook": "", "low": "", "prior": "", "task": "", "encoder": None}


def settings_of(cfg: "RunConfig", name: str) -> Any:
    """Field `name` of `cfg` as what it sets: a stage's settings as its config dataclass, defaults filled in (so a
    config.yaml listing every setting and one giving a few overrides compare equal when they set the same), any
    other field as it is."""
    value = getattr(cfg, name)
    if name not in STAGE_FIELDS or not isinstance(value, dict):
        return value
    return stage_config(name, value, **{k: PLACEHOLDERS[k] for k in PIPELINE_SET[name]})


def validated(name: str, stage_cfg: Any) -> Any:
    """`stage_cfg` after its stage's own checks (ranges, choices), their message naming the stage."""
    try:
        stage_cfg.validate()
    except ValueError as e:  # ConfigError, and the ValueErrors of the checks the stages share (a player's settings)
        raise ConfigError(f"{name}: {e}") from e
    return stage_cfg
