"""Several training processes with PyTorch DDP (gloo, CPU), as launched by `torchrun`.

`torchrun --nproc_per_node=2 -m ptgm.cli train-low ...` runs the unchanged command in two
processes; torchrun's RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT environment variables switch
DDP on. Each process reads its own shard of the training episodes and takes batch_size /
world_size samples per update; DDP averages the gradients so every process applies the same update.
Only rank 0 evaluates, writes files and shows progress.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence) -> list:
        """This process's share: every world_size-th item starting at its rank."""
        if len(items) < self.world_size:
            raise ValueError(f"{len(items)} training episodes cannot be shared among {self.world_size} processes; "
                             f"use fewer processes or more data")
        return list(items[self.rank :: self.world_size])

    def min(self, value: int) -> int:
        """The smallest `value` over all processes (each must call it)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of an integer array over all processes (each must call it)."""
        if not self.enabled:
            return np.asarray(values)
        t = torch.as_tensor(np.asarray(values, np.int64))
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.numpy()

    def in_sync(self, module: torch.nn.Module) -> bool:
        """Whether every process holds exactly the same parameters (each must call it)."""
        if not self.enabled:
            return True
        flat = torch.cat([p.detach().flatten() for p in module.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(self.world_size)]
        dist.all_gather(gathered, flat)
        return all(torch.equal(gathered[0], other) for other in gathered[1:])

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def launched_as_main() -> bool:
    """Whether this process is rank 0 (or alone), as torchrun's RANK says, before the process group is joined."""
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed() -> Distributed:
    """Join the process group torchrun set up, or a single process when there is none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def shutdown_distributed(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        # a rank that tears down while another still talks to it aborts gloo's threads (SIGABRT)
        dist.barrier()
        dist.destroy_process_group()
