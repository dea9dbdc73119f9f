"""Process-group setup and the collectives the recipe needs.

torchrun (or the launcher of :mod:`.launch`) sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; Kubeflow's ``PET_*`` variables are accepted too. The group uses
gloo on CPU and nccl on GPU, with a bounded timeout so that a dead rank makes
the others fail instead of hanging. On GPU the model is sharded with FSDP2's
``fully_shard``; on CPU every rank keeps a full copy and gradients are summed
with one flat all-reduce per step, unless ``TRAINING_HUB_SHARD_ON_CPU=1`` asks
for FSDP2 over gloo there too (slower; it runs the multi-GPU code path on
machines without GPUs, which is what the tests use it for).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = [
    "DIST_TIMEOUT_ENV",
    "SHARD_ON_CPU_ENV",
    "SLOW_TIMEOUT_ENV",
    "DistributedContext",
    "all_reduce_gradients",
    "all_reduce_sum",
    "broadcast_parameters",
    "destroy_distributed",
    "init_distributed",
    "rank_zero_first",
    "read_rank_env",
    "shard_model",
    "wait_for_all",
]

#: Environment variable that overrides the process-group timeout (seconds).
DIST_TIMEOUT_ENV = "TRAINING_HUB_DIST_TIMEOUT_S"
_DEFAULT_TIMEOUT_S = {"cpu": 300.0, "cuda": 600.0}
#: Set to 1 to shard with FSDP2 on CPU processes too (see the module docstring).
SHARD_ON_CPU_ENV = "TRAINING_HUB_SHARD_ON_CPU"
#: Timeout (seconds) of waits on one rank's long work: tokenizing the data, writing a checkpoint.
SLOW_TIMEOUT_ENV = "TRAINING_HUB_SLOW_TIMEOUT_S"
_DEFAULT_SLOW_TIMEOUT_S = 3 * 3600.0


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    sharded: bool = False  # FSDP2 holds the weights (GPU); else full copies on every rank
    #: gloo group with a long timeout, for waiting while rank 0 tokenizes or saves.
    slow_group: Any = None

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def read_rank_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's (or Kubeflow's ``PET_*``) variables."""
    rank = _env_int("RANK", "PET_RANK", default=0)
    world_size = _env_int("WORLD_SIZE", "PET_WORLD_SIZE", default=1)
    local_rank = _env_int("LOCAL_RANK", "PET_LOCAL_RANK", default=0)
    return rank, world_size, local_rank


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group when launched with several processes."""
    rank, world_size, local_rank = read_rank_env()
    if world_size <= 1:
        return DistributedContext()
    if "MASTER_ADDR" not in os.environ and "PET_MASTER_ADDR" in os.environ:
        os.environ["MASTER_ADDR"] = os.environ["PET_MASTER_ADDR"]
        os.environ["MASTER_PORT"] = os.environ.get("PET_MASTER_PORT", "29500")
    timeout_s = float(os.environ.get(DIST_TIMEOUT_ENV, _DEFAULT_TIMEOUT_S[device.type]))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_s),
        )
    slow_timeout_s = float(os.environ.get(SLOW_TIMEOUT_ENV, _DEFAULT_SLOW_TIMEOUT_S))
    slow_group = dist.new_group(backend="gloo", timeout=timedelta(seconds=slow_timeout_s))
    return DistributedContext(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        sharded=device.type == "cuda" or os.environ.get(SHARD_ON_CPU_ENV) == "1",
        slow_group=slow_group,
    )


def destroy_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (no-op on one process)."""
    if context.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def wait_for_all(flag: float, context: DistributedContext) -> float:
    """Sum a host value over ranks on the long-timeout group (a barrier that reports)."""
    if not context.is_distributed:
        return flag
    tensor = torch.tensor([flag], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=context.slow_group)
    return float(tensor.item())


_Result = TypeVar("_Result")


#: Seconds a rank waits, after rank 0 failed, before failing itself (bounded: rank 0 may hang).
_WAIT_FOR_RANK_ZERO_EXIT_S = 30.0


def rank_zero_first(action: Callable[[], _Result], context: DistributedContext,
                    failure: str) -> _Result | None:
    """``action()`` on rank 0 while the other ranks wait (None there). When it raises, rank 0
    releases the others and raises its error; they raise ``failure`` (say where to look)."""
    from .._errors import TrainingError

    result = None
    if context.is_main:
        try:
            result = action()
        except Exception:
            wait_for_all(1.0, context)  # release the other ranks, then fail
            raise
    if wait_for_all(0.0, context) > 0:
        # Give rank 0 time to exit with its own code (2 after a user error) first: the
        # launcher then stops this rank and reports rank 0's failure, not this one's.
        time.sleep(_WAIT_FOR_RANK_ZERO_EXIT_S)
        raise TrainingError(failure)
    return result


def broadcast_parameters(model: torch.nn.Module, context: DistributedContext) -> None:
    """Make every rank start from rank 0's weights (unsharded training only)."""
    if not context.is_distributed:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(parameters: list[torch.nn.Parameter], context: DistributedContext) -> None:
    """Sum (not average) the gradients of unsharded training over ranks, one flat buffer."""
    if not context.is_distributed:
        return
    grads = []
    for param in parameters:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        grads.append(param.grad)
    flat = torch.cat([grad.reshape(-1) for grad in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for grad in grads:
        count = grad.numel()
        grad.copy_(flat[offset : offset + count].view_as(grad))
        offset += count


def shard_model(
    wrapper: torch.nn.Module,
    layers: list[torch.nn.Module],
    compute_dtype: torch.dtype,
) -> Any:
    """FSDP2: shard each decoder layer, then the wrapper (embeddings, norm, LM head).

    Gradients are summed over ranks (see the recipe's loss normalisation).

    Parameters stay fp32 (the optimizer's master copy); forward/backward run in
    ``compute_dtype`` and gradients are reduced in fp32.
    """
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
    for layer in layers:
        fully_shard(layer, mp_policy=policy)
    sharded = fully_shard(wrapper, mp_policy=policy)
    for module in sharded.modules():
        if isinstance(module, FSDPModule):
            # Each rank's loss is already divided by the global token count: sum, don't average.
            module.set_gradient_divide_factor(1.0)
            if hasattr(module, "set_force_sum_reduction_for_comms"):  # torch >= 2.8
                # A plain SUM collective (gloo has no PREMUL_SUM; the factor is 1 anyway).
                module.set_force_sum_reduction_for_comms(True)
    return sharded
