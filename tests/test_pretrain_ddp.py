"""Both trainers as 2 DDP processes (gloo, CPU): each reads its own shard, the weights stay identical."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from ptgm.data.collect import CollectConfig, collect
from ptgm.data.split import split_dataset
from ptgm.data.store import EpisodeStore
from ptgm.envs import get_world
from ptgm.goals.codebook import Codebook
from ptgm.goals.embedders import embed_episode, make_embedder
from ptgm.pretrain.distributed import Distributed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp_data")
    collect(CollectConfig(out=str(root), frames=1500, pixels=False, player="random", seed=5), progress=False)
    split_dataset(EpisodeStore(root), val_frames=200)
    store = EpisodeStore(root)
    embedder = make_embedder("state", get_world("crafter"))
    goals = embed_episode(embedder, store.load(store.split_ids("train")[0], ["obs_symbolic"]))
    book = Codebook(goals[::20][:6], embedder.settings(), [{"episode": "x", "step": 20 * i} for i in range(6)])
    book.save(root / "codebook")
    return root


def _worker(rank: int, world_size: int, port: int, root: str, out: str) -> None:
    from ptgm.pretrain.train_low import LowLevelConfig, train_low
    from ptgm.pretrain.train_prior import PriorConfig, train_prior

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world_size)
    dist = Distributed(rank, world_size)
    common = dict(data=root, hidden=32, batch_size=32, max_updates=6, eval_every=3, checkpoint_every=3,
                  progress=False)
    seen: list[int] = []
    low, _ = train_low(LowLevelConfig(out=f"{out}/low", **common), on_update=seen.append, dist=dist)
    prior, _ = train_prior(PriorConfig(out=f"{out}/prior", codebook=f"{root}/codebook", **common), dist=dist)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    save_file({f"low.{k}": v for k, v in low.state_dict().items()} | {f"prior.{k}": v for k, v in
                                                                      prior.state_dict().items()},
              f"{out}/rank{rank}.safetensors")
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"updates": seen}, f)


def test_two_processes_keep_identical_weights(dataset, tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(dataset), str(tmp_path)), nprocs=2, join=True)
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in range(2)]
    assert ranks[0].keys() == ranks[1].keys()
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    # they trained: the weights moved away from the shared initialisation
    torch.manual_seed(0)
    from ptgm.models.low_level import LowLevelPolicy

    embedder = make_embedder("state", get_world("crafter"))
    init = LowLevelPolicy(get_world("crafter"), "symbolic", embedder.dim, embedder.settings(), 32).state_dict()
    assert not torch.equal(init["head.weight"], ranks[0]["low.head.weight"])
    for r in range(2):
        assert json.loads((tmp_path / f"rank{r}.json").read_text())["updates"] == [1, 2, 3, 4, 5, 6]
    metrics = json.loads((tmp_path / "low" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["updates"] == 6
    assert json.loads((tmp_path / "prior" / "metrics.json").read_text())["world_size"] == 2


def test_each_process_reads_its_own_shard():
    ids = [f"ep-{i}" for i in range(7)]
    shards = [Distributed(r, 3).shard(ids) for r in range(3)]
    assert sorted(sum(shards, [])) == ids and not set(shards[0]) & set(shards[1])
    with pytest.raises(ValueError, match="fewer processes"):
        Distributed(0, 8).shard(ids)


@pytest.mark.slow  # ~20 s: two fresh interpreters under torchrun; the spawn test above covers DDP itself
def test_torchrun_runs_the_unchanged_command(dataset, tmp_path):
    out = tmp_path / "low"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "ptgm.cli", "train-low", "--data", str(dataset), "--out", str(out),
           "--hidden", "32", "--batch-size", "32", "--max-updates", "4", "--no-progress", "--seed", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("low-level policy:") == 1  # only rank 0 reports
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["updates"] == 4
    assert np.isfinite(metrics["best"]["val_loss"])
