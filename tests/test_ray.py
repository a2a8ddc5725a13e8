"""`--ray`: the downstream runs of a plan as Ray tasks on a local instance give the sequential runner's report;
without Ray installed, `--ray` is one clear error."""

from __future__ import annotations

import sys

import pytest

from ptgm.pipeline import load_run_config, run
from test_pipeline import load_bench, tiny_config, write_config


@pytest.fixture
def local_ray():
    """A local Ray instance of 2 CPUs on the loopback interface, without its dashboard."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow  # a few minutes on 2 busy cores: Ray's start and 8 tiny runs
def test_a_plan_on_ray_reports_what_the_sequential_runner_reports(tmp_path, local_ray):
    root = tmp_path / "pre"
    root.mkdir()
    config = write_config(root, {**tiny_config(root), "methods": []})  # the pre-training only
    run(load_run_config(config), log=lambda line: None)
    bench = load_bench()
    plan = ["--config", str(config), "--pretrained", str(root / "run"), "--tasks", "short_wood",
            "--methods", "ptgm-no-prior", "flat", "--seeds", "0", "1", "--steps", "200", "--evals", "2"]
    tables = {}
    for name, extra in (("sequential", []), ("ray", ["--ray", "--ray-cpus", "1"])):
        lines: list[str] = []
        assert bench.main([*plan, "--out", str(tmp_path / name), *extra], log=lines.append) == 0
        assert sum(line.startswith("[") and "/4]" in line for line in lines) == 4
        tables[name] = (tmp_path / name / "report" / "report.csv").read_text()
    assert "ptgm-no-prior" in tables["sequential"] and "flat" in tables["sequential"]
    assert tables["ray"] == tables["sequential"]
    # Resume as without Ray: every run of the plan is finished, so none runs again.
    again: list[str] = []
    assert bench.main([*plan, "--out", str(tmp_path / "ray"), "--ray"], log=again.append) == 0
    assert sum("done already" in line for line in again if "/4]" in line) == 4


def test_ray_missing_is_one_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    bench = load_bench()
    assert bench.main(["--out", str(tmp_path / "b"), "--ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sample_efficiency: error: --ray needs Ray, which is not installed: pip install 'ptgm[ray]'"
    assert not (tmp_path / "b").exists()
