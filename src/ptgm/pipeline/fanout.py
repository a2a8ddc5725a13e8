"""The downstream runs of a plan, one after another in this process, or each as a Ray task (`--ray`).

Pre-training is done before the fan-out, once; each (task, method, seed) run is then a stage of its own
(the runner's `train_downstream`, which it hands to `train_all`, so this module needs nothing of the runner),
so with Ray every run still writes into its folder under the one `--out`, and a finished run is skipped, an
interrupted one resumed, exactly as without Ray. On a cluster, `--out` must
be a path every node sees (a shared file system) and ptgm must be installed on every node.

Ray is an optional extra (`pip install 'ptgm[ray]'`); it is imported only when `--ray` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ptgm.config import ConfigError


@dataclass
class RayConfig:
    """Where and how the downstream runs go when they fan out over Ray."""

    address: str = ""  # a running cluster's address ("" : the local one `ray start` made, else a new local instance)
    cpus_per_run: float = 2.0  # CPUs Ray reserves for each run (its env workers and its learner)


def check_ray() -> None:
    """Fail at once, before any pre-training, when `--ray` is asked for and Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("--ray needs Ray, which is not installed: pip install 'ptgm[ray]'") from None


TrainOne = Callable[[str, Any, Callable[[str], None]], "float | None"]  # (method, config, log) -> seconds or None


def train_all(train: TrainOne, plan: list[tuple[str, Any]], log: Callable[[str], None] = print,
              ray: RayConfig | None = None) -> Iterator[tuple[int, float | None]]:
    """Train every (method, config) of `plan` with `train` (`ptgm.pipeline.runner.train_downstream`); yields
    (index in plan, seconds the run took or None when it was done already) as each run finishes: in plan order
    without Ray, in finishing order with it."""
    if ray is None:
        for i, (method, rl_cfg) in enumerate(plan):
            yield i, train(method, rl_cfg, log)
        return
    yield from _train_on_ray(train, plan, ray)


def _train_on_ray(train: TrainOne, plan: list[tuple[str, Any]], cfg: RayConfig) -> Iterator[tuple[int, float | None]]:
    check_ray()
    import ray

    if not ray.is_initialized():
        ray.init(address=cfg.address or None)
    remote = ray.remote(num_cpus=cfg.cpus_per_run)(_train_one)
    pending = {remote.remote(train, method, rl_cfg): i for i, (method, rl_cfg) in enumerate(plan)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        yield pending.pop(done[0]), ray.get(done[0])


def _train_one(train: TrainOne, method: str, rl_cfg: Any) -> float | None:
    """One run in a Ray worker; its log lines reach the driver through Ray's log forwarding."""
    return train(method, rl_cfg, lambda line: print(line, flush=True))
