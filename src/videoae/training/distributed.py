"""Process-group state, detected once from the environment that ``torchrun`` sets.

One code path serves any world size: with ``WORLD_SIZE`` unset or 1 every helper here is a cheap
no-op, so the trainer never branches on "distributed or not" beyond :func:`setup`.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from videoae.validation import resolve_device

PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class DistState:
    """Where this process stands: rank, world size and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_name: str = "auto") -> DistState:
    """Read RANK / WORLD_SIZE / LOCAL_RANK, join the process group (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=PROCESS_GROUP_TIMEOUT)
    return DistState(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(state: DistState) -> None:
    """Leave the process group, if this process joined one."""
    if state.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(state: DistState, tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (in place); identity for one process."""
    if state.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_process(state: DistState, flag: bool) -> bool:
    """True on every process if ``flag`` is true on any: for stop decisions all must agree on."""
    if not state.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=state.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(state: DistState) -> None:
    """Wait for every process; no-op for one process."""
    if state.enabled:
        dist.barrier()
