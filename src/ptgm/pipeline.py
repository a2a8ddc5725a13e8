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

The built-in default (`configs/default.yaml` is the same settings written out) finishes in about
9 minutes on 2 CPU cores (docs/results.md); `ptgm run --config FILE` runs any experiment config under `configs/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ptgm.config import (ConfigError, add_arguments, changed_settings, check_at_least, check_paths_given, field_help,
                         from_dict, load_yaml, save_yaml)
from ptgm.io import ArtifactError, atomic_write_bytes, folder_lock, load_json, provenance, save_json, to_jsonable

STAGE_FILE = "stage.json"
# Where a stage wrote is not a setting: a folder moved or linked elsewhere (e.g. a dataset shared by two
# experiments) holds the same stage. (`collect.out`: the collect stage records {collect: ..., val_frames}.)
WRITTEN_TO = frozenset({"out", "collect.out"})


@dataclass
class RunConfig:
    out: str = "runs/default"  # folder for every stage's output and the report
    seed: int = 0  # seeds every stage
    task: str = "stone"  # downstream task of the high-level policy and the flat baseline
    methods: list[str] = field(default_factory=lambda: ["ptgm", "flat"])  # downstream runs: ptgm | ptgm-no-prior | ptgm-continuous | flat
    seeds: list[int] = field(default_factory=lambda: [0])  # seeds of the downstream runs
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


# RunConfig fields that hold one stage's settings, in pipeline order.
STAGE_FIELDS = ("collect", "encoder", "codebook", "low", "prior", "eval_low", "high", "flat")
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


def load_run_config(path: str | Path | None, **overrides: Any) -> RunConfig:
    """A RunConfig from YAML; a stage's settings there are laid over that stage's built-in ones, so a file
    may list only what it changes (`collect: {frames: 1000000}` keeps the scripted player)."""
    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(RunConfig, _over_built_in_stages(data), str(path or "run config"))


def _over_built_in_stages(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with each stage's settings laid over that stage's built-in ones (other keys as they are)."""
    defaults = RunConfig()
    return {k: {**getattr(defaults, k), **v} if k in STAGE_FIELDS and isinstance(v, dict) else v
            for k, v in changes.items()}


def _stage_config(name: str, values: dict[str, Any], **fixed: Any):
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


def _validated(name: str, stage_cfg: Any) -> Any:
    """`stage_cfg` after its stage's own checks (ranges, choices), their message naming the stage."""
    try:
        stage_cfg.validate()
    except ValueError as e:  # ConfigError, and the ValueErrors of the checks the stages share (a player's settings)
        raise ConfigError(f"{name}: {e}") from e
    return stage_cfg


def _stage(name: str, folder: Path, cfg: Any, fn: Callable[[], Any], log: Callable[[str], None]) -> float | None:
    """Run `fn` unless `folder` already holds this stage, complete, with exactly `cfg`; returns the seconds it
    ran, or None when it was done already. The folder stays locked from the check to the stage's record."""
    with folder_lock(folder):
        status = stage_status(name, folder, cfg)
        if status == "done":
            log(f"[{name}] done already: {folder}")
            return None
        if status == "other settings":
            raise ConfigError(f"{folder} holds a finished {name} stage made with other settings; "
                              f"use another --out or delete {folder}")
        log(f"[{name}] running -> {folder}")
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        save_json(folder / STAGE_FILE, {"config": to_jsonable(cfg), "seconds": round(seconds, 1),
                                        "provenance": provenance(f"ptgm run ({name})")})
        return seconds


def stage_status(name: str, folder: Path, cfg: Any) -> str:
    """Where stage `name` with `cfg` stands in `folder`: "done", "other settings" (finished with another
    config; `changed_settings`), "started" (the folder exists, e.g. an interrupted run that will resume) or "not run"."""
    marker = folder / STAGE_FILE
    if marker.exists():
        done = load_json(marker, f"{name} stage record")
        # Where it wrote is not a setting (WRITTEN_TO); what it read from still has to match.
        changed = set(changed_settings(done.get("config") or {}, cfg)) - WRITTEN_TO
        return "other settings" if changed else "done"
    return "started" if folder.exists() else "not run"


@dataclass(frozen=True)
class Pretrained:
    """The folders of the pre-trained artefacts every downstream run builds on."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def encoder(self) -> Path:
        return self.root / "encoder"

    @property
    def codebook(self) -> Path:
        return self.root / "codebook"

    @property
    def low(self) -> Path:
        return self.root / "low"

    @property
    def prior(self) -> Path:
        return self.root / "prior"

    @property
    def eval_low(self) -> Path:
        return self.root / "eval_low"

    def check(self) -> "Pretrained":
        """Fail unless every pre-training stage here finished (its `stage.json` exists), the goal encoder
        included when the codebook's embedding is learned."""
        folders = [self.data, self.codebook, self.low, self.prior]
        if (self.codebook / STAGE_FILE).is_file() and self.learned_goals():
            folders.insert(1, self.encoder)
        for folder in folders:
            if not (folder / STAGE_FILE).is_file():
                raise ArtifactError(f"{folder} is not a finished pre-training stage (no {STAGE_FILE}); give the "
                                    f"--out folder of a `ptgm run` that got past train-prior")
        return self

    def learned_goals(self) -> bool:
        """Whether the finished codebook here uses the learned goal embedding (so every stage needs the encoder)."""
        record = load_json(self.codebook / STAGE_FILE, "codebook stage record")
        return (record.get("config") or {}).get("embedding") == "learned"


def goal_encoder(cfg: RunConfig, at: Pretrained) -> str | None:
    """The goal encoder folder every goal-reading stage of `cfg` gets: `at.encoder` for the learned goal
    embedding, None for the state one. The low-level policy's goals must be the codebook's."""
    codebook = _stage_config("codebook", cfg.codebook, data="", out="", seed=0, encoder=None)
    low = _stage_config("low", cfg.low, data="", out="", seed=0, encoder=None)
    if low.embedding != codebook.embedding:
        raise ConfigError(f"low.embedding {low.embedding!r} differs from codebook.embedding {codebook.embedding!r}: "
                          f"the low-level policy is commanded the codebook's goals, so they must be embedded alike")
    return str(at.encoder) if codebook.embedding == "learned" else None


def pretrain_configs(cfg: RunConfig, at: Pretrained) -> dict[str, Any]:
    """The config of every pre-training stage of `cfg`, writing under `at`; "encoder" is None unless the
    codebook's goal embedding is learned."""
    seed, encoder = cfg.seed, goal_encoder(cfg, at)
    return {
        "collect": _stage_config("collect", cfg.collect, out=str(at.data), seed=seed),
        "encoder": encoder and _stage_config("encoder", cfg.encoder, data=str(at.data), out=encoder, seed=seed),
        "codebook": _stage_config("codebook", cfg.codebook, data=str(at.data), out=str(at.codebook), seed=seed,
                                  encoder=encoder),
        "low": _stage_config("low", cfg.low, data=str(at.data), out=str(at.low), seed=seed, encoder=encoder),
        "prior": _stage_config("prior", cfg.prior, data=str(at.data), out=str(at.prior), codebook=str(at.codebook),
                               seed=seed, encoder=encoder),
        "eval_low": _stage_config("eval_low", cfg.eval_low, low=str(at.low), codebook=str(at.codebook),
                                  data=str(at.data), out=str(at.eval_low / "eval_low.json"), seed=seed,
                                  encoder=encoder),
    }


def _collect_record(collect_cfg: Any, val_frames: int) -> dict[str, Any]:
    """What the collect stage's `stage.json` records: collection and split are one stage."""
    return {"collect": collect_cfg, "val_frames": val_frames}


def pretrain_differences(cfg: RunConfig, at: Pretrained) -> list[str]:
    """The pre-training stages under `at` that were made with other settings than `cfg` gives them."""
    want = pretrain_configs(cfg, at)
    want["collect"] = _collect_record(want["collect"], cfg.val_frames)
    folders = {"collect": at.data, "codebook": at.codebook, "low": at.low, "prior": at.prior}
    if want["encoder"] is not None:
        folders["encoder"] = at.encoder
    # Besides where each stage wrote, where a reused pre-training's stages read is not a setting either:
    # they read each other, wherever the folder now is.
    places = WRITTEN_TO | {"data", "codebook", "encoder"}
    return [name for name, folder in folders.items()
            if set(changed_settings(load_json(folder / STAGE_FILE, f"{name} stage record").get("config") or {},
                                    want[name])) - places]


def pretrain(cfg: RunConfig, at: Pretrained, log: Callable[[str], None] = print) -> Pretrained:
    """Collect + split, codebook, train-low, train-prior, eval-low into `at`, each skipped when done."""
    from ptgm.data.collect import collect
    from ptgm.data.split import split_dataset
    from ptgm.data.stats import dataset_stats, format_stats, plot_stats
    from ptgm.data.store import EpisodeStore
    from ptgm.evaluate.eval_low import eval_low, format_results
    from ptgm.goals.build import build_codebook
    from ptgm.goals.learned import format_encoder_result, train_encoder
    from ptgm.pretrain.train_low import train_low
    from ptgm.pretrain.train_prior import train_prior

    c = pretrain_configs(cfg, at)
    _stage("collect", at.data, _collect_record(c["collect"], cfg.val_frames), lambda: (
        collect(c["collect"]), split_dataset(EpisodeStore(at.data), cfg.val_frames, -1, cfg.seed)), log)
    stats = dataset_stats(EpisodeStore(at.data))
    log(format_stats(stats))
    plot_stats(stats, at.data / "stats.png")  # where `ptgm data stats` puts it
    if c["encoder"] is not None:
        _stage("train-encoder", at.encoder, c["encoder"],
               lambda: log(format_encoder_result(train_encoder(c["encoder"], progress=False))), log)
    _stage("codebook", at.codebook, c["codebook"], lambda: build_codebook(c["codebook"], log=log), log)
    _stage("train-low", at.low, c["low"], lambda: train_low(c["low"]), log)
    _stage("train-prior", at.prior, c["prior"], lambda: train_prior(c["prior"]), log)
    _stage("eval-low", at.eval_low, c["eval_low"], lambda: log(format_results(eval_low(c["eval_low"]))), log)
    return at


def rl_config(cfg: RunConfig, method: str, task: str, seed: int, out: str | Path, at: Pretrained,
              **overrides: Any) -> Any:
    """The HighConfig (PTGM and its ablations) or FlatConfig of one downstream run; `overrides` (e.g. the
    budget) are laid over the config's `high` / `flat` settings."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    ablation = METHODS[method]
    if ablation is None:
        return _stage_config("flat", {**cfg.flat, **overrides}, task=task, out=str(out), seed=seed)
    return _stage_config("high", {**cfg.high, **overrides, **ablation}, task=task, out=str(out), seed=seed,
                         low=str(at.low), codebook=str(at.codebook), prior=str(at.prior), encoder=goal_encoder(cfg, at))


def run_dir_name(method: str, task: str, seed: int) -> str:
    return f"{method}-{task}-s{seed}"


def train_downstream(method: str, rl_cfg: Any, log: Callable[[str], None] = print) -> float | None:
    """One downstream RL run as a pipeline stage (its folder is `rl_cfg.out`); the seconds it ran, or None
    when it was finished already. An interrupted run resumes from its checkpoint."""
    from ptgm.rl.train_flat import train_flat
    from ptgm.rl.train_high import train_high

    train = train_flat if METHODS[method] is None else train_high
    return _stage(method, Path(rl_cfg.out), rl_cfg, lambda: train(rl_cfg), log)


def check_run(cfg: RunConfig, at: Pretrained) -> list[tuple[str, Any]]:
    """Every setting of every stage, the task, the methods and the seeds checked, before any stage runs: a typo in
    `flat` should not wait for pre-training. Returns the downstream runs to make, (method, its config)."""
    from ptgm.envs import TaskError, get_task, get_world

    cfg.validate()
    configs = pretrain_configs(cfg, at)
    for name, stage_cfg in configs.items():
        if stage_cfg is not None:
            _validated(name, stage_cfg)
    if cfg.val_frames >= configs["collect"].frames:
        raise ConfigError(f"val_frames {cfg.val_frames} leaves none of the collect.frames {configs['collect'].frames} "
                          f"for training; lower val_frames")
    plan = []
    for method in cfg.methods:
        for seed in cfg.seeds:
            rl_cfg = rl_config(cfg, method, cfg.task, seed, at.root / "rl" / run_dir_name(method, cfg.task, seed), at)
            plan.append((method, _validated(f"{'flat' if METHODS[method] is None else 'high'} ({method})", rl_cfg)))
    for rl_cfg in {(c.world, c.tasks_file): c for _, c in plan}.values():
        try:
            get_task(rl_cfg.task, get_world(rl_cfg.world), rl_cfg.tasks_file)
        except TaskError as e:
            raise ConfigError(f"task: {e}") from e
    return plan


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> Path:
    """Every stage, each skipped when done; returns the report folder (`cfg.out` itself with no methods)."""
    out = Path(cfg.out)
    at = Pretrained(out)
    plan = check_run(cfg, at)
    with folder_lock(out):
        return _run(cfg, at, plan, log)


def _run(cfg: RunConfig, at: Pretrained, plan: list[tuple[str, Any]], log: Callable[[str], None]) -> Path:
    from ptgm.evaluate.report import report

    out = at.root
    save_yaml(out / "config.yaml", cfg)
    start = time.perf_counter()
    pretrain(cfg, at, log)
    for method, rl_cfg in plan:
        train_downstream(method, rl_cfg, log)
    if not plan:  # `methods: []`: a pre-training only, for other runs (or bench/) to build on
        log(f"finished in {(time.perf_counter() - start) / 60:.1f} min; pre-trained models in {out}")
        return out

    report_dir = out / "report"
    report([rl_cfg.out for _, rl_cfg in plan], report_dir)
    shutil.copy2(at.data / "stats.png", report_dir / "data_stats.png")
    for name in ("overview.png", "scatter.png"):  # overview.html stays beside the clips it shows
        if (at.codebook / name).exists():
            shutil.copy2(at.codebook / name, report_dir / f"codebook_{name}")
    shutil.copy2(out / "config.yaml", report_dir / "config.yaml")
    log((report_dir / "report.md").read_text())
    log(f"finished in {(time.perf_counter() - start) / 60:.1f} min; report: {report_dir}")
    return report_dir


# Experiment configs under configs/: each is RunConfig's built-in default with these settings changed
# (stage settings laid over the stage's own, as `load_run_config` does).
ALL_METHODS = list(METHODS)
EXPERIMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("The built-in default of `ptgm run`: the main job.", {}),
    "benchmark": ("The pre-training of bench/sample_efficiency.py: the full 1M-frame dataset (`ptgm collect "
                  "--preset full`), all four methods, 3 seeds. The bench sets each run's budget (steps) and "
                  "evaluation interval from its per-task budgets; `ptgm run` with this file uses the values here.",
                  # 3 low-level epochs over 1M frames are 6x the samples of the default's 10 over 45k frames; ~8 min at
                  # bench/train_throughput.py's 6.4k samples/s. On 1M frames the relative goal input clones better
                  # (val accuracy 0.815 vs 0.779 absolute) and did as well on stone (docs/results.md), so the benchmark uses it.
                  {"out": "runs/benchmark", "collect": {"frames": 1_000_000},
                   "low": {"epochs": 3, "goal_input": "relative"},
                   "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
    "learned": ("The main job with the learned goal embedding: `ptgm train-encoder` (temporal contrast on the "
                "dataset's frames, the role MineCLIP plays in the paper) embeds the codes and every goal; the "
                "low-level policy and the prior still read the symbolic view. The encoder's 2,000 steps took 8.8 min "
                "on 2 shared cores (docs/results.md), so this run does not fit the default's 15 minutes.",
                {"out": "runs/learned", "codebook": {"embedding": "learned"}, "low": {"embedding": "learned"}}),
    "benchmark_learned": ("The benchmark's pre-training with the learned goal embedding (configs/learned.yaml "
                          "on the 1M-frame dataset): the encoder holds 100k frames in memory instead of 20k. Link "
                          "runs/benchmark/data into its --out to skip collecting the same data again.",
                          {"out": "runs/benchmark_learned", "collect": {"frames": 1_000_000},
                           "encoder": {"max_frames": 100_000}, "codebook": {"embedding": "learned"},
                           "low": {"epochs": 3, "goal_input": "relative", "embedding": "learned"},
                           "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
    "ablations": ("The paper's ablations on the default pre-training: PTGM, without the goal prior (kl_reward = 0), "
                  "with continuous goals, and flat PPO, over 3 seeds. Other ablations are flags of the high "
                  "stage (kl_reward, low_level_steps, initialize_with_prior) or of the codebook (n_codebook).",
                  {"out": "runs/ablations", "methods": ALL_METHODS, "seeds": [0, 1, 2]}),
}
# The paper's values for settings whose own comment does not give them (PTGM.md).
PAPER_NOTES = {("collect", "player"): "paper: human play, the VPT contractor data",
               ("collect", "frames"): "paper: ~30M frames",
               ("high", "gamma"): "paper: 0.999"}
_PLACEHOLDERS = {"out": "", "seed": 0, "data": "", "codebook": "", "low": "", "prior": "", "task": "", "encoder": None}


def experiment(name: str) -> RunConfig:
    """RunConfig of the experiment `name` of EXPERIMENTS."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    return dataclasses.replace(RunConfig(), **_over_built_in_stages(EXPERIMENTS[name][1]))


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
        stage_cfg = _stage_config(f.name, value, **{k: _PLACEHOLDERS[k] for k in PIPELINE_SET[f.name]})
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on the built-in default (or --config)")
    p.add_argument("--config", help="experiment YAML (see configs/); flags below override it")
    add_arguments(p, RunConfig, skip=("methods", "seeds", *STAGE_FIELDS))
    for name in ("out", "seed", "task", "val_frames"):
        p.set_defaults(**{name: None})
    p.set_defaults(fn=lambda args: run(load_run_config(
        args.config, out=args.out, seed=args.seed, task=args.task, val_frames=args.val_frames)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="maintenance: regenerate the experiment configs")
    parser.add_argument("--write-configs", metavar="DIR", default="configs",
                        help="folder to write default.yaml, benchmark.yaml and ablations.yaml into")
    for written in write_configs(parser.parse_args().write_configs):
        print(f"wrote {written}")
