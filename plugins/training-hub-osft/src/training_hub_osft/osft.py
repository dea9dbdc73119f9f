"""OSFT on dense weights: keep each targeted matrix's top singular subspace fixed while training.

For a targeted weight ``W = U S V^T`` (SVD once, in fp32, when training starts)
the top ``k = floor((1 - unfreeze_rank_ratio) * min(out, in))`` singular
triplets ``(U_h, S_h, V_h)`` are frozen. Training may change only the rest:

    W = U_h S_h V_h^T + W_low,   with  U_h^T W_low = 0  and  W_low V_h = 0.

This is the same set of weights that the factorised form of the paper
(trainable ``U_low S_low V_low^T`` orthogonal to ``U_h``/``V_h``) can reach,
but the model keeps its ordinary dense ``nn.Linear`` weights, so:

* the forward pass costs exactly what sft costs (no reconstruction);
* a checkpoint *is* the merged model: a plain Hugging Face folder;
* under FSDP2 nothing about sharding changes (see below).

Two projections keep the constraint:

1. **Gradient, once per step** (after the micro-batches are accumulated and
   reduced, before clipping): ``G <- (I - U_h U_h^T) G (I - V_h V_h^T)``, so
   clipping and AdamW's moments see only the trainable part of the gradient.
   The projection is linear, so once per step equals once per micro-batch; it
   may use TF32 on GPUs, because step 2 removes any leak exactly.
2. **Weight, after each optimizer step** (fp32, exact): AdamW divides by its
   second moment element by element, which moves the update slightly out of
   the allowed set (and weight decay would shrink ``W_h``). We restore the
   exact constraint: ``W <- W_h + P(W)``, with ``W_h = U_h S_h V_h^T`` and
   ``P(X) = (I - U_h U_h^T) X (I - V_h V_h^T)`` the two-sided projection. This
   equals ``W_h + P(W - W_h)``, so only the update's leak is removed.

Both projections use, on the matrix's smaller side, the basis of the free
directions (the remaining ``d - k`` singular vectors of the same SVD, ``d =
min(out, in)``) instead of the frozen ones: ``I - U_h U_h^T = U_f U_f^T`` there.
With the default ratio (``k = 0.75 d``) that makes a projection about three times
cheaper than with ``U_h`` and ``V_h`` on both sides.

Distributed: the bases ``U_h, S_h, V_h`` and the free basis are non-persistent fp32 buffers,
replicated on every rank (FSDP2 shards parameters, not buffers; the CPU
process group broadcasts them from rank 0 with the parameters). Both
projections work on each rank's row shard of the FSDP2 ``DTensor`` (gradient
and weight) with one all-reduce per matrix per step (of ``U_f^T X``, or of
``U_h^T X V_f``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from training_hub._errors import ParameterError, TrainingError
from training_hub.engine.adapter import ModelAdapter

__all__ = [
    "OSFT_STATE_FILENAME",
    "OSFTAdapter",
    "OSFTLinear",
    "decompose",
    "decompose_with_free_basis",
    "find_target_linears",
    "frozen_rank",
    "frozen_subspace_drift",
    "install_osft",
    "project_gradient",
    "project_rows_",
    "restore_frozen_subspace_",
]

logger = logging.getLogger("training_hub.osft")

#: Written into every checkpoint: the OSFT settings and the frozen rank of each matrix.
OSFT_STATE_FILENAME = "osft.json"
#: A resumed checkpoint whose frozen part differs more than this (relative) was not
#: trained from this base model with these settings.
_RESUME_DRIFT_LIMIT = 1e-3


def frozen_rank(shape: tuple[int, int] | torch.Size, unfreeze_rank_ratio: float) -> int:
    """How many top singular directions of a matrix of ``shape`` stay frozen.

    ``floor((1 - r) * min(shape))``; since ``r > 0`` at least one direction trains.
    """
    full_rank = min(int(shape[0]), int(shape[1]))
    return min(full_rank - 1, math.floor((1.0 - unfreeze_rank_ratio) * full_rank + 1e-9))


def _svd_device() -> torch.device:
    """SVDs of large matrices are far faster on the GPU this rank will train on."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def decompose(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(U_h, S_h, V_h)``: the top ``rank`` singular triplets of ``weight`` in fp32.

    Shapes ``(out, rank)``, ``(rank,)``, ``(in, rank)``, on ``weight``'s device.
    """
    u, s, v, _, _ = decompose_with_free_basis(weight, rank)
    return u, s, v


def decompose_with_free_basis(
    weight: torch.Tensor, rank: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """:func:`decompose` plus the free basis of the smaller side and whether it is the
    rows' (``U_f``, ``(out, d - rank)``) or the columns' (``V_f``, ``(in, d - rank)``)."""
    matrix = weight.detach().to(device=_svd_device(), dtype=torch.float32)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    device = weight.device
    free_on_rows = matrix.shape[0] <= matrix.shape[1]  # then U (out x d) is square
    free = u[:, rank:] if free_on_rows else vh[rank:].T
    return (
        u[:, :rank].contiguous().to(device),
        s[:rank].contiguous().to(device),
        vh[:rank].T.contiguous().to(device),
        free.contiguous().to(device),
        free_on_rows,
    )


def project_gradient(grad: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(I - U U^T) G (I - V V^T)``, computed in ``grad``'s dtype."""
    u = u.to(grad.dtype)
    v = v.to(grad.dtype)
    left = grad - u @ (u.T @ grad)
    return left - (left @ v) @ v.T


@torch.no_grad()
def project_rows_(
    rows: torch.Tensor,
    u_rows: torch.Tensor,
    v: torch.Tensor,
    free: torch.Tensor,
    free_on_rows: bool,
    group: Any = None,
) -> None:
    """``X <- (I - U_h U_h^T) X (I - V_h V_h^T)`` in place, in ``rows``' dtype.

    ``rows`` and ``u_rows`` may be a row shard of ``X`` and ``U_h`` (FSDP2), and then
    ``free`` too when it is the rows' basis ``U_f``; ``group`` is the shard group,
    over which the one partial product is summed.
    """
    dtype = rows.dtype
    v, free = v.to(dtype), free.to(dtype)
    if free_on_rows:  # I - U_h U_h^T = U_f U_f^T
        coefficients = free.T @ rows  # (d - k, in), this shard's part
        if group is not None:
            dist.all_reduce(coefficients, op=dist.ReduceOp.SUM, group=group)
        coefficients -= (coefficients @ v) @ v.T
        torch.mm(free, coefficients, out=rows)
    else:  # I - V_h V_h^T = V_f V_f^T
        u_rows = u_rows.to(dtype)
        columns = rows @ free  # (rows, d - k)
        overlap = u_rows.T @ columns  # (k, d - k), this shard's part
        if group is not None:
            dist.all_reduce(overlap, op=dist.ReduceOp.SUM, group=group)
        columns -= u_rows @ overlap
        torch.mm(columns, free.T, out=rows)


@contextlib.contextmanager
def _fp32_matmul(tf32: bool) -> Iterator[None]:
    """Set whether CUDA fp32 matmuls may use TF32, for the duration of the block."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


@torch.no_grad()
def restore_frozen_subspace_(
    weight_rows: torch.Tensor,
    u_rows: torch.Tensor,
    s: torch.Tensor,
    v: torch.Tensor,
    free: torch.Tensor,
    free_on_rows: bool,
    group: Any = None,
) -> None:
    """``W <- W_h + P(W)`` in place: ``U_h^T W = S_h V_h^T`` and ``W V_h = U_h S_h`` hold
    exactly again, and the trainable part of ``W`` is kept.

    Arguments as for :func:`project_rows_` (``weight_rows`` is fp32).
    """
    project_rows_(weight_rows, u_rows, v, free, free_on_rows, group)
    weight_rows.addmm_(u_rows * s, v.T)


def frozen_subspace_drift(
    weight: torch.Tensor, u: torch.Tensor, s: torch.Tensor, v: torch.Tensor
) -> float:
    """How far ``weight``'s frozen part moved, relative to ``||S_h||`` (0 when intact).

    ``max(||U_h^T W - S_h V_h^T||, ||W V_h - U_h S_h||) / ||S_h||`` in the Frobenius norm.
    """
    if s.numel() == 0:
        return 0.0
    w = weight.detach().to(u.dtype)
    rows = torch.linalg.matrix_norm(u.T @ w - s[:, None] * v.T)
    columns = torch.linalg.matrix_norm(w @ v - u * s)
    return float(torch.maximum(rows, columns) / torch.linalg.vector_norm(s))


class OSFTLinear(nn.Linear):
    """An ``nn.Linear`` whose weight trains only outside its frozen top singular subspace.

    Made by switching the class of an existing ``nn.Linear`` (see
    :func:`install_osft`): parameters and their names are unchanged and the
    bases are non-persistent buffers, so ``state_dict`` stays that of the
    original model.
    """

    osft_u: torch.Tensor  # (out, k)
    osft_s: torch.Tensor  # (k,)
    osft_v: torch.Tensor  # (in, k)
    osft_free: torch.Tensor  # (out, d - k) when osft_free_on_rows, else (in, d - k)
    osft_free_on_rows: bool

    @property
    def frozen_rank(self) -> int:
        return int(self.osft_s.numel())

    def _rows(self, tensor: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
        """This rank's rows of ``tensor`` (the weight or its gradient), of ``U_h`` and of
        the free basis (when it is the rows'), and the shard group (``None`` when the
        weight is not sharded)."""
        if not hasattr(tensor, "to_local"):
            return tensor, self.osft_u, self.osft_free, None
        from torch.distributed.tensor import Shard  # FSDP2 DTensor: rows sharded over the mesh

        if tuple(tensor.placements) != (Shard(0),):
            raise TrainingError(
                f"OSFT expects weights sharded by rows (Shard(0)), got "
                f"{tensor.placements}; use the engine's FSDP2 setup."
            )
        group = tensor.device_mesh.get_group()
        local = tensor.to_local()
        chunk = -(-tensor.shape[0] // dist.get_world_size(group))
        start = min(dist.get_rank(group) * chunk, tensor.shape[0])
        rows = slice(start, start + local.shape[0])
        free = self.osft_free[rows] if self.osft_free_on_rows else self.osft_free
        return local, self.osft_u[rows], free, group

    def project_gradient_(self) -> None:
        """Remove the frozen directions from the weight's (possibly sharded) gradient."""
        grad = self.weight.grad
        if not self.frozen_rank or grad is None:
            return
        grad_rows, u_rows, free, group = self._rows(grad)
        project_rows_(grad_rows, u_rows, self.osft_v, free, self.osft_free_on_rows, group)

    def restore_frozen_subspace_(self) -> None:
        """Re-impose the exact constraint on the (possibly FSDP2-sharded) weight."""
        if not self.frozen_rank:
            return
        weight: Any = self.weight
        weight_rows, u_rows, free, group = self._rows(
            weight if hasattr(weight, "to_local") else weight.data
        )
        restore_frozen_subspace_(weight_rows, u_rows, self.osft_s, self.osft_v, free,
                                 self.osft_free_on_rows, group)

    def drift(self) -> float:
        """:func:`frozen_subspace_drift` of this (unsharded) layer."""
        return frozen_subspace_drift(self.weight, self.osft_u, self.osft_s, self.osft_v)


def find_target_linears(model: Any, target_patterns: list[str]) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` modules whose weight name contains one of ``target_patterns``.

    Embeddings and the LM head are never targets. Raises :class:`ParameterError`
    when a pattern matches nothing (or, for the default patterns, when none matches).
    """
    from .algorithm import DEFAULT_TARGET_PATTERNS

    excluded = {id(model.get_input_embeddings())}
    output_embeddings = model.get_output_embeddings()
    if output_embeddings is not None:
        excluded.add(id(output_embeddings))
    linears = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and id(module) not in excluded
    }
    targets: dict[str, nn.Linear] = {}
    unmatched = []
    for pattern in target_patterns:
        hits = {n: m for n, m in linears.items() if pattern in f"{n}.weight"}
        if not hits:
            unmatched.append(pattern)
        targets.update(hits)
    is_default = tuple(target_patterns) == DEFAULT_TARGET_PATTERNS
    if (unmatched and not is_default) or not targets:
        examples = ", ".join(list(linears)[:6]) or "none"
        raise ParameterError(
            f"target_patterns {unmatched or target_patterns} match no linear layer of this "
            f"model (field target_patterns). Its linear layers are named like: {examples}. "
            "Give substrings of those names, e.g. ['self_attn.q_proj', 'mlp.down_proj']."
        )
    for pattern in unmatched:
        logger.info("osft: default target pattern '%s' matches no layer of this model", pattern)
    return dict(sorted(targets.items()))


def install_osft(
    model: Any, unfreeze_rank_ratio: float, target_patterns: list[str]
) -> dict[str, OSFTLinear]:
    """Decompose every targeted linear layer of ``model`` in place; returns them by name."""
    if not 0.0 < unfreeze_rank_ratio <= 1.0:
        raise ParameterError(
            f"unfreeze_rank_ratio={unfreeze_rank_ratio} is outside (0, 1]. Use e.g. 0.25."
        )
    installed: dict[str, OSFTLinear] = {}
    start = time.perf_counter()
    for name, module in find_target_linears(model, target_patterns).items():
        if type(module) is not nn.Linear:
            raise ParameterError(
                f"target_patterns selects '{name}', a {type(module).__name__}; OSFT needs a "
                "plain torch.nn.Linear (quantised or custom layers are not supported). "
                "Narrow target_patterns."
            )
        rank = frozen_rank(module.weight.shape, unfreeze_rank_ratio)
        u, s, v, free, free_on_rows = decompose_with_free_basis(module.weight, rank)
        module.__class__ = OSFTLinear
        module.register_buffer("osft_u", u, persistent=False)
        module.register_buffer("osft_s", s, persistent=False)
        module.register_buffer("osft_v", v, persistent=False)
        module.register_buffer("osft_free", free, persistent=False)
        module.osft_free_on_rows = free_on_rows
        installed[name] = module  # type: ignore[assignment]
    logger.info(
        "osft: %d matrices decomposed in %.1f s (unfreeze_rank_ratio=%s)",
        len(installed),
        time.perf_counter() - start,
        unfreeze_rank_ratio,
    )
    return installed


class OSFTAdapter(ModelAdapter):
    """The engine adapter of osft: decompose, project, and save plain dense checkpoints."""

    name = "osft"

    def __init__(self, unfreeze_rank_ratio: float, target_patterns: list[str]) -> None:
        self.unfreeze_rank_ratio = unfreeze_rank_ratio
        self.target_patterns = list(target_patterns)
        self.layers: dict[str, OSFTLinear] = {}

    def prepare(self, model: Any) -> Any:
        self.layers = install_osft(model, self.unfreeze_rank_ratio, self.target_patterns)
        return model

    def before_optimizer_step(self, model: Any) -> None:
        with _fp32_matmul(tf32=True):
            for layer in self.layers.values():
                layer.project_gradient_()

    def after_optimizer_step(self, model: Any) -> None:
        with _fp32_matmul(tf32=False):
            for layer in self.layers.values():
                layer.restore_frozen_subspace_()

    def save_extra(self, model: Any, folder: Path) -> None:
        state = {
            "method": "osft",
            "unfreeze_rank_ratio": self.unfreeze_rank_ratio,
            "target_patterns": self.target_patterns,
            "frozen_rank": {name: layer.frozen_rank for name, layer in self.layers.items()},
        }
        (Path(folder) / OSFT_STATE_FILENAME).write_text(
            json.dumps(state, indent=2), encoding="utf-8"
        )

    def load_checkpoint(self, model: Any, folder: Path) -> None:
        """Load the trained dense weights; check they keep this run's frozen subspaces.

        The bases come from the SVD of ``model_path`` (the same base model as the
        run that wrote the checkpoint), so a resumed run keeps the same frozen part.
        """
        self._check_settings(Path(folder))
        super().load_checkpoint(model, folder)
        for name, layer in self.layers.items():
            drift = layer.drift()
            if drift > _RESUME_DRIFT_LIMIT:
                raise TrainingError(
                    f"Checkpoint '{folder}': layer {name} differs from the base model in its "
                    f"frozen subspace (relative drift {drift:.2e}). Resume with the same "
                    "model_path, unfreeze_rank_ratio and target_patterns as the run that "
                    "wrote it, or start fresh (resume='none')."
                )
            layer.restore_frozen_subspace_()

    def _check_settings(self, folder: Path) -> None:
        path = folder / OSFT_STATE_FILENAME
        if not path.is_file():
            raise TrainingError(
                f"Checkpoint '{folder}' has no {OSFT_STATE_FILENAME}: it was not written by "
                "osft. Resume it with the algorithm that wrote it, or start fresh."
            )
        saved = json.loads(path.read_text(encoding="utf-8"))
        ours = {
            "unfreeze_rank_ratio": self.unfreeze_rank_ratio,
            "target_patterns": self.target_patterns,
        }
        for key, value in ours.items():
            if saved.get(key) != value:
                raise TrainingError(
                    f"Checkpoint '{folder}' was trained with {key}={saved.get(key)!r}, this run "
                    f"asks for {value!r}. Resume with the same setting, or start fresh."
                )
