"""`ptgm run`: the whole PTGM pipeline on one config, from nothing to a report.

    data -> split -> codebook -> low-level policy -> prior -> eval-low -> high-level PPO (PTGM)
         -> flat PPO baseline (same task, same budget) -> report

Every stage writes into its own folder under `out` and, once complete, a `stage.json` holding the
exact config it ran with. A stage whose `stage.json` matches the current config is skipped, so a
rerun after an interruption picks up where it stopped (and the stages themselves resume from their
checkpoints). A folder made with different settings is an error, never silently overwritten.

The built-in default (`configs/default.yaml` is the same settings written out) finishes in about
15 minutes on 2 CPU cores; `ptgm run --config FILE` runs any experiment config under `configs/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ptgm.config import ConfigError, add_arguments, from_dict, load_yaml, save_yaml
from ptgm.io import load_json, provenance, save_json, to_jsonable

STAGE_FILE = "stage.json"


@dataclass
class RunConfig:
    out: str = "runs/default"  # folder for every stage's output and the report
    seed: int = 0  # seeds every stage
    task: str = "wood"  # downstream task of the high-level policy and the flat baseline
    methods: list[str] = field(default_factory=lambda: ["ptgm", "flat"])  # downstream runs: ptgm | ptgm-no-prior | ptgm-continuous | flat
    seeds: list[int] = field(default_factory=lambda: [0])  # seeds of the downstream runs
    collect: dict[str, Any] = field(default_factory=lambda: {  # `ptgm collect` settings (CollectConfig)
        "player": "scripted", "frames": 50_000, "workers": 2, "pixels": True})
    val_frames: int = 5_000  # validation frames of the split
    codebook: dict[str, Any] = field(default_factory=dict)  # `ptgm codebook` settings (CodebookConfig)
    low: dict[str, Any] = field(default_factory=lambda: {"epochs": 3})  # `ptgm train-low` settings (LowLevelConfig)
    prior: dict[str, Any] = field(default_factory=lambda: {"epochs": 3})  # `ptgm train-prior` settings (PriorConfig)
    eval_low: dict[str, Any] = field(default_factory=lambda: {  # `ptgm eval-low` settings (EvalLowConfig)
        "episodes": 4, "steps": 50})
    high: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-high` settings (HighConfig)
        "steps": 100_000, "eval_every": 20_000, "eval_episodes": 50})
    flat: dict[str, Any] = field(default_factory=lambda: {  # `ptgm train-flat` settings (FlatConfig)
        "steps": 100_000, "eval_every": 20_000, "eval_episodes": 50})


def load_run_config(path: str | Path | None, **overrides: Any) -> RunConfig:
    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(RunConfig, data, str(path or "run config"))


def _stage_config(cls: type, where: str, **values: Any):
    """Build a stage's config dataclass; an unknown setting is a ConfigError naming the valid ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; valid: {sorted(names)}")
    return cls(**values)


def _stage(name: str, folder: Path, cfg: Any, fn: Callable[[], Any], log: Callable[[str], None]) -> None:
    """Run `fn` unless `folder` already holds this stage, complete, with exactly `cfg`."""
    marker = folder / STAGE_FILE
    want = to_jsonable(cfg)
    if marker.exists():
        done = load_json(marker, f"{name} stage record")
        if done.get("config") == want:
            log(f"[{name}] done already: {folder}")
            return
        raise ConfigError(f"{folder} holds a finished {name} stage made with other settings; "
                          f"use another --out or delete {folder}")
    log(f"[{name}] running -> {folder}")
    start = time.perf_counter()
    fn()
    save_json(marker, {"config": want, "seconds": round(time.perf_counter() - start, 1),
                       "provenance": provenance(f"ptgm run ({name})")})


def run(cfg: RunConfig, log: Callable[[str], None] = print) -> Path:
    from ptgm.data.collect import CollectConfig, collect
    from ptgm.data.split import split_dataset
    from ptgm.data.stats import dataset_stats, format_stats, plot_stats
    from ptgm.data.store import EpisodeStore
    from ptgm.evaluate.eval_low import EvalLowConfig, eval_low, format_results
    from ptgm.evaluate.report import report
    from ptgm.goals.build import CodebookConfig, build_codebook
    from ptgm.pretrain.train_low import LowLevelConfig, train_low
    from ptgm.pretrain.train_prior import PriorConfig, train_prior
    from ptgm.rl.train_flat import FlatConfig, train_flat
    from ptgm.rl.train_high import HighConfig, train_high

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(out / "config.yaml", cfg)
    start = time.perf_counter()
    data, codebook, low, prior = out / "data", out / "codebook", out / "low", out / "prior"

    collect_cfg = _stage_config(CollectConfig, "collect", out=str(data), seed=cfg.seed, **cfg.collect)
    _stage("collect", data, {"collect": collect_cfg, "val_frames": cfg.val_frames}, lambda: (
        collect(collect_cfg), split_dataset(EpisodeStore(data), cfg.val_frames, -1, cfg.seed)), log)
    stats = dataset_stats(EpisodeStore(data))
    log(format_stats(stats))

    codebook_cfg = _stage_config(CodebookConfig, "codebook", data=str(data), out=str(codebook), seed=cfg.seed,
                                 **cfg.codebook)
    _stage("codebook", codebook, codebook_cfg, lambda: build_codebook(codebook_cfg, log=log), log)

    low_cfg = _stage_config(LowLevelConfig, "low", data=str(data), out=str(low), seed=cfg.seed, **cfg.low)
    _stage("train-low", low, low_cfg, lambda: train_low(low_cfg), log)

    prior_cfg = _stage_config(PriorConfig, "prior", data=str(data), out=str(prior), codebook=str(codebook),
                              seed=cfg.seed, **cfg.prior)
    _stage("train-prior", prior, prior_cfg, lambda: train_prior(prior_cfg), log)

    eval_dir = out / "eval_low"
    eval_cfg = _stage_config(EvalLowConfig, "eval_low", low=str(low), codebook=str(codebook), data=str(data),
                             out=str(eval_dir / "eval_low.json"), seed=cfg.seed, **cfg.eval_low)
    _stage("eval-low", eval_dir, eval_cfg, lambda: log(format_results(eval_low(eval_cfg))), log)

    runs = []
    for method in cfg.methods:
        for seed in cfg.seeds:
            run_dir = out / "rl" / f"{method}-{cfg.task}-s{seed}"
            if method == "flat":
                rl_cfg = _stage_config(FlatConfig, "flat", task=cfg.task, out=str(run_dir), seed=seed, **cfg.flat)
                fn = lambda c=rl_cfg: train_flat(c)  # noqa: E731
            else:
                ablation = {"ptgm": {}, "ptgm-no-prior": {"goal_prior": False},
                            "ptgm-continuous": {"continuous": True}}
                if method not in ablation:
                    raise ConfigError(f"unknown method {method!r}; valid: ptgm, ptgm-no-prior, ptgm-continuous, flat")
                rl_cfg = _stage_config(HighConfig, "high", task=cfg.task, out=str(run_dir), seed=seed, low=str(low),
                                       codebook=str(codebook), prior=str(prior), **{**cfg.high, **ablation[method]})
                fn = lambda c=rl_cfg: train_high(c)  # noqa: E731
            _stage(method, run_dir, rl_cfg, fn, log)
            runs.append(run_dir)

    report_dir = out / "report"
    rows, _ = report(runs, report_dir)
    plot_stats(stats, report_dir / "data_stats.png")
    for name in ("overview.png", "scatter.png"):  # overview.html stays beside the clips it shows
        if (codebook / name).exists():
            shutil.copy2(codebook / name, report_dir / f"codebook_{name}")
    shutil.copy2(out / "config.yaml", report_dir / "config.yaml")
    log((report_dir / "report.md").read_text())
    log(f"finished in {(time.perf_counter() - start) / 60:.1f} min; report: {report_dir}")
    return report_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the whole pipeline on the built-in default (or --config)")
    p.add_argument("--config", help="experiment YAML (see configs/); flags below override it")
    add_arguments(p, RunConfig, skip=("methods", "seeds", "collect", "codebook", "low", "prior", "eval_low", "high",
                                      "flat"))
    for name in ("out", "seed", "task", "val_frames"):
        p.set_defaults(**{name: None})
    p.set_defaults(fn=lambda args: run(load_run_config(
        args.config, out=args.out, seed=args.seed, task=args.task, val_frames=args.val_frames)))
