"""The stages chained: `pretrain` (collect + split, [goal encoder], codebook, train-low, train-prior, eval-low)
and `train_downstream` (one RL run), each a stage that is skipped when done, and `run`, the whole job."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from ptgm.config import ConfigError, changed_settings, save_yaml
from ptgm.io import folder_lock, load_json
from ptgm.pipeline.config import METHODS, RunConfig, stage_config, validated
from ptgm.pipeline.shipped import install_shipped
from ptgm.pipeline.fanout import check_ray, train_all
from ptgm.pipeline.stages import STAGE_FILE, WRITTEN_TO, Pretrained, run_dir_name, run_stage


def goal_encoder(cfg: RunConfig, at: Pretrained) -> str | None:
    """The goal encoder folder every goal-reading stage of `cfg` gets: `at.encoder` for the learned goal
    embedding, None for the state one. The low-level policy's goals must be the codebook's."""
    codebook = stage_config("codebook", cfg.codebook, data="", out="", seed=0, encoder=None)
    low = stage_config("low", cfg.low, data="", out="", seed=0, encoder=None)
    if low.embedding != codebook.embedding:
        raise ConfigError(f"low.embedding {low.embedding!r} differs from codebook.embedding {codebook.embedding!r}: "
                          f"the low-level policy is commanded the codebook's goals, so they must be embedded alike")
    return str(at.encoder) if codebook.embedding == "learned" else None


def pretrain_configs(cfg: RunConfig, at: Pretrained) -> dict[str, Any]:
    """The config of every pre-training stage of `cfg`, writing under `at`; "encoder" is None unless the
    codebook's goal embedding is learned."""
    seed, encoder = cfg.seed, goal_encoder(cfg, at)
    return {
        "collect": stage_config("collect", cfg.collect, out=str(at.data), seed=seed),
        "encoder": encoder and stage_config("encoder", cfg.encoder, data=str(at.data), out=encoder, seed=seed),
        "codebook": stage_config("codebook", cfg.codebook, data=str(at.data), out=str(at.codebook), seed=seed,
                                  encoder=encoder),
        "low": stage_config("low", cfg.low, data=str(at.data), out=str(at.low), seed=seed, encoder=encoder),
        "prior": stage_config("prior", cfg.prior, data=str(at.data), out=str(at.prior), codebook=str(at.codebook),
                               seed=seed, encoder=encoder),
        "eval_low": stage_config("eval_low", cfg.eval_low, low=str(at.low), codebook=str(at.codebook),
                                  data=str(at.data), out=str(at.eval_low / "eval_low.json"), seed=seed,
                                  encoder=encoder),
    }


def collect_record(collect_cfg: Any, val_frames: int) -> dict[str, Any]:
    """What the collect stage's `stage.json` records: collection and split are one stage."""
    return {"collect": collect_cfg, "val_frames": val_frames}


def pretrain_differences(cfg: RunConfig, at: Pretrained) -> list[str]:
    """The pre-training stages under `at` that were made with other settings than `cfg` gives them."""
    want = pretrain_configs(cfg, at)
    want["collect"] = collect_record(want["collect"], cfg.val_frames)
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
    from ptgm.pretrain.dagger import clone_driver
    from ptgm.pretrain.train_low import train_low
    from ptgm.pretrain.train_prior import train_prior

    c = pretrain_configs(cfg, at)
    run_stage("collect", at.data, collect_record(c["collect"], cfg.val_frames), lambda: (
        collect(c["collect"], make_driver=clone_driver), split_dataset(EpisodeStore(at.data), cfg.val_frames, -1, cfg.seed)), log)
    stats = dataset_stats(EpisodeStore(at.data))
    log(format_stats(stats))
    plot_stats(stats, at.data / "stats.png")  # where `ptgm data stats` puts it
    if c["encoder"] is not None:
        run_stage("train-encoder", at.encoder, c["encoder"],
               lambda: log(format_encoder_result(train_encoder(c["encoder"], progress=False))), log)
    run_stage("codebook", at.codebook, c["codebook"], lambda: build_codebook(c["codebook"], log=log), log)
    run_stage("train-low", at.low, c["low"], lambda: train_low(c["low"]), log)
    run_stage("train-prior", at.prior, c["prior"], lambda: train_prior(c["prior"]), log)
    run_stage("eval-low", at.eval_low, c["eval_low"], lambda: log(format_results(eval_low(c["eval_low"]))), log)
    return at


def rl_config(cfg: RunConfig, method: str, task: str, seed: int, out: str | Path, at: Pretrained,
              **overrides: Any) -> Any:
    """The HighConfig (PTGM and its ablations) or FlatConfig of one downstream run; `overrides` (e.g. the
    budget) are laid over the config's `high` / `flat` settings."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    ablation = METHODS[method]
    if ablation is None:
        return stage_config("flat", {**cfg.flat, **overrides}, task=task, out=str(out), seed=seed)
    return stage_config("high", {**cfg.high, **overrides, **ablation}, task=task, out=str(out), seed=seed,
                         low=str(at.low), codebook=str(at.codebook), prior=str(at.prior), encoder=goal_encoder(cfg, at))


def train_downstream(method: str, rl_cfg: Any, log: Callable[[str], None] = print) -> float | None:
    """One downstream RL run as a pipeline stage (its folder is `rl_cfg.out`); the seconds it ran, or None
    when it was finished already. An interrupted run resumes from its checkpoint."""
    from ptgm.rl.train_flat import train_flat
    from ptgm.rl.train_high import train_high

    train = train_flat if METHODS[method] is None else train_high
    return run_stage(method, Path(rl_cfg.out), rl_cfg, lambda: train(rl_cfg), log)


def check_run(cfg: RunConfig, at: Pretrained) -> list[tuple[str, Any]]:
    """Every setting of every stage, the task, the methods and the seeds checked, before any stage runs: a typo in
    `flat` should not wait for pre-training. Returns the downstream runs to make, (method, its config)."""
    from ptgm.envs import TaskError, get_task, get_world

    cfg.validate()
    configs = pretrain_configs(cfg, at)
    for name, stage_cfg in configs.items():
        if stage_cfg is not None:
            validated(name, stage_cfg)
    if cfg.val_frames >= configs["collect"].frames:
        raise ConfigError(f"val_frames {cfg.val_frames} leaves none of the collect.frames {configs['collect'].frames} "
                          f"for training; lower val_frames")
    plan = []
    for method in cfg.methods:
        for seed in cfg.seeds:
            rl_cfg = rl_config(cfg, method, cfg.task, seed, at.root / "rl" / run_dir_name(method, cfg.task, seed), at)
            plan.append((method, validated(f"{'flat' if METHODS[method] is None else 'high'} ({method})", rl_cfg)))
    for rl_cfg in {(c.world, c.tasks_file): c for _, c in plan}.values():
        try:
            get_task(rl_cfg.task, get_world(rl_cfg.world), rl_cfg.tasks_file)
        except TaskError as e:
            raise ConfigError(f"task: {e}") from e
    return plan


def run(cfg: RunConfig, log: Callable[[str], None] = print, ray: Any = None) -> Path:
    """Every stage, each skipped when done; returns the report folder (`cfg.out` itself with no methods).
    `ray` (a `ptgm.pipeline.fanout.RayConfig`): the downstream runs fan out as Ray tasks."""
    if ray is not None:
        check_ray()
    out = Path(cfg.out)
    at = Pretrained(out)
    plan = check_run(cfg, at)
    with folder_lock(out):
        return _run(cfg, at, plan, log, ray)


def _run(cfg: RunConfig, at: Pretrained, plan: list[tuple[str, Any]], log: Callable[[str], None],
         ray: Any = None) -> Path:
    from ptgm.evaluate.report import report

    out = at.root
    save_yaml(out / "config.yaml", cfg)
    start = time.perf_counter()
    if cfg.pretrained == "shipped":
        install_shipped(at, log)
    else:
        pretrain(cfg, at, log)
    for _ in train_all(train_downstream, plan, log, ray):
        pass
    if not plan:  # `methods: []`: a pre-training only, for other runs (or bench/) to build on
        log(f"finished in {(time.perf_counter() - start) / 60:.1f} min; pre-trained models in {out}")
        return out

    report_dir = out / "report"
    report([rl_cfg.out for _, rl_cfg in plan], report_dir)
    if (at.data / "stats.png").exists():  # not with the shipped models, which come without their dataset
        shutil.copy2(at.data / "stats.png", report_dir / "data_stats.png")
    for name in ("overview.png", "scatter.png"):  # overview.html stays beside the clips it shows
        if (at.codebook / name).exists():
            shutil.copy2(at.codebook / name, report_dir / f"codebook_{name}")
    shutil.copy2(out / "config.yaml", report_dir / "config.yaml")
    log((report_dir / "report.md").read_text())
    log(f"finished in {(time.perf_counter() - start) / 60:.1f} min; report: {report_dir}")
    return report_dir
