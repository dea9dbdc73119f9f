"""Checkpoints: atomic Hugging Face folders that also hold the full training state.

Layout of ``<ckpt_output_dir>/checkpoints/step-<N>/``::

    config.json, generation_config.json, model*.safetensors, tokenizer files
    training_state/  optimizer.pt scheduler.pt rng_state.pt [grad_scaler.pt]
                     trainer_state.json params.json
    checkpoint.json  completion marker, written last

A checkpoint is written into a temporary sibling folder, every file is
fsynced, and the folder is renamed into place, so a crash or a full disk
never leaves a half-written ``step-<N>``; :func:`list_checkpoints` only
reports folders with their completion marker.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._errors import ParameterError, TrainingError
from ..training_params import TrainingParams

__all__ = [
    "CHECKPOINTS_DIRNAME",
    "COMPLETE_MARKER",
    "CheckpointInfo",
    "TrainerState",
    "capture_rng_state",
    "check_output_dir",
    "find_latest_checkpoint",
    "find_latest_resumable_checkpoint",
    "has_full_state",
    "list_checkpoints",
    "load_model_weights",
    "load_training_state",
    "prune_checkpoints",
    "read_trainer_state",
    "resolve_resume_checkpoint",
    "restore_rng_state",
    "write_checkpoint_atomically",
]

CHECKPOINTS_DIRNAME = "checkpoints"
COMPLETE_MARKER = "checkpoint.json"
TRAINING_STATE_DIRNAME = "training_state"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_TEMP_PREFIX = ".tmp-"
#: Files and folders of a run in ckpt_output_dir (what overwrite=True replaces).
RUN_OUTPUTS = (CHECKPOINTS_DIRNAME, "metrics.jsonl", "tensorboard")


@dataclass
class TrainerState:
    """Where training stands; saved as ``training_state/trainer_state.json``."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epoch the next step belongs to
    step_in_epoch: int = 0  # steps of that epoch already done (data position)
    tokens_seen: int = 0
    loss_tokens_seen: int = 0
    epoch_end: bool = False  # this checkpoint was taken at the end of an epoch
    elapsed_s: float = 0.0
    last_loss: float | None = None
    adapter: str = "full"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    step: int
    epoch_end: bool


def checkpoints_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIRNAME


def list_checkpoints(output_dir: str | Path) -> list[CheckpointInfo]:
    """Complete checkpoints of a run, oldest first; torn or temporary folders are ignored."""
    root = checkpoints_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        match = _STEP_DIR.match(entry.name)
        marker = entry / COMPLETE_MARKER
        if not match or not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append(CheckpointInfo(entry, int(match.group(1)), bool(info.get("epoch_end"))))
    return sorted(found, key=lambda c: c.step)


def find_latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1].path if checkpoints else None


def has_full_state(folder: Path) -> bool:
    """Whether a checkpoint can be resumed from exactly (it holds the optimizer state)."""
    return (folder / TRAINING_STATE_DIRNAME / "optimizer.pt").is_file()


def find_latest_resumable_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint with the full training state (model-only epoch
    checkpoints of ``accelerate_full_state_at_epoch=False`` are skipped)."""
    resumable = [c for c in list_checkpoints(output_dir) if has_full_state(c.path)]
    return resumable[-1].path if resumable else None


def _holds_previous_run(output_dir: Path) -> bool:
    root = output_dir / CHECKPOINTS_DIRNAME
    has_checkpoints = root.is_dir() and any(root.iterdir())
    return has_checkpoints or (output_dir / "metrics.jsonl").exists()


def check_output_dir(params: TrainingParams) -> None:
    """Refuse to start fresh over a previous run unless ``overwrite`` (before writing anything)."""
    output_dir = Path(params.ckpt_output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ParameterError(
            f"ckpt_output_dir '{output_dir}' is a file, not a folder. Choose a folder path."
        )
    if params.resume == "none" and not params.overwrite and _holds_previous_run(output_dir):
        raise ParameterError(
            f"ckpt_output_dir '{output_dir}' holds a previous run (checkpoints/ or "
            "metrics.jsonl). Set resume='latest' (--resume latest) to continue it, "
            "overwrite=True (--overwrite) to replace it, or choose another ckpt_output_dir."
        )


def clear_previous_run(output_dir: str | Path) -> None:
    """Remove the outputs of an earlier run (overwrite=True, resume='none')."""
    for name in RUN_OUTPUTS:
        target = Path(output_dir) / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def resolve_resume_checkpoint(params: TrainingParams, *, fetch: bool = False) -> Path | None:
    """The checkpoint to resume from: ``latest`` (None if there is none yet), a path, or None.

    With ``fetch`` and ``checkpoint_storage``, ``latest`` is the newest complete
    checkpoint locally or in the storage; a newer remote one is downloaded into
    ``<ckpt_output_dir>/checkpoints`` first (rank 0 fetches, see engine/storage.py).
    """
    if params.resume == "none":
        return None
    if params.resume == "latest":
        local = find_latest_resumable_checkpoint(params.ckpt_output_dir)
        if fetch and params.checkpoint_storage is not None:
            from .storage import fetch_if_newer

            return fetch_if_newer(params.checkpoint_storage, params.ckpt_output_dir, local)
        return local
    path = Path(params.resume)
    if not (path / COMPLETE_MARKER).is_file() or not (path / TRAINING_STATE_DIRNAME).is_dir():
        raise ParameterError(
            f"resume='{params.resume}' is not a complete training checkpoint (no "
            f"{COMPLETE_MARKER} or {TRAINING_STATE_DIRNAME}/ inside). Use 'latest', 'none', "
            "or a step-<N> folder under <ckpt_output_dir>/checkpoints."
        )
    if not has_full_state(path):
        raise ParameterError(
            f"resume='{params.resume}' is a model-only checkpoint (written at an epoch end with "
            "accelerate_full_state_at_epoch=False): it has no optimizer state to resume from. "
            "Resume from another checkpoint, or train from it as a new model_path."
        )
    return path


# --- random number generators ----------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Every RNG state, in types that ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    version, keys, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(keys), gauss_next],
        "numpy": [
            str(np_state[0]),
            torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss_next = state["python"]
    random.setstate((version, tuple(keys), gauss_next))
    name, keys_np, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys_np.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- writing -----------------------------------------------------------------------


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        _fsync_path(path)
    _fsync_path(folder)


def _fsync_path(path: Path) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # directories cannot be opened on some platforms
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint_atomically(
    output_dir: str | Path,
    step: int,
    write_contents: Callable[[Path], None],
    *,
    epoch_end: bool,
) -> Path:
    """Create ``checkpoints/step-<step>`` from ``write_contents(temp_folder)`` atomically.

    An ``OSError`` (e.g. a full disk) becomes a :class:`TrainingError`; the
    temporary folder is removed and earlier checkpoints are untouched.
    """
    root = checkpoints_root(output_dir)
    final = root / f"step-{step}"
    temp = root / f"{_TEMP_PREFIX}step-{step}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{_TEMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        temp.mkdir()
        write_contents(temp)
        marker = {"step": step, "epoch_end": epoch_end, "format": 1}
        (temp / COMPLETE_MARKER).write_text(json.dumps(marker), encoding="utf-8")
        _fsync_tree(temp)
        if final.exists():  # the same step saved again (e.g. after overwrite): replace it
            shutil.rmtree(final)
        os.rename(temp, final)
        _fsync_path(root)
    except Exception as exc:  # safetensors and torch.save report a full disk as their own errors
        shutil.rmtree(temp, ignore_errors=True)
        earlier = [str(c.path) for c in list_checkpoints(output_dir)]
        raise TrainingError(
            f"Could not write the checkpoint of step {step} to '{final}': {exc}. Earlier "
            f"checkpoints are intact ({', '.join(earlier) if earlier else 'none yet'}). "
            "Free disk space (or fix permissions) and resume with --resume latest."
        ) from exc
    return final


def write_training_state(
    folder: Path,
    *,
    state: TrainerState,
    params: TrainingParams,
    optimizer_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    scaler_state: dict[str, Any] | None,
    full_state: bool = True,
) -> None:
    """``training_state/``: the optimizer, schedule, RNG (and scaler) state for exact resume,
    and the trainer state and parameters. ``full_state=False`` (an epoch-end checkpoint with
    ``accelerate_full_state_at_epoch=False``) writes only the last two: resume skips it."""
    target = folder / TRAINING_STATE_DIRNAME
    target.mkdir()
    if full_state:
        torch.save(optimizer_state, target / "optimizer.pt")
        torch.save(scheduler_state, target / "scheduler.pt")
        torch.save(capture_rng_state(), target / "rng_state.pt")
        if scaler_state is not None:
            torch.save(scaler_state, target / "grad_scaler.pt")
    (target / "trainer_state.json").write_text(
        json.dumps(asdict(state), indent=2), encoding="utf-8"
    )
    (target / "params.json").write_text(params.model_dump_json(indent=2), encoding="utf-8")


def prune_checkpoints(output_dir: str | Path, keep_last_n: int | None) -> list[Path]:
    """Delete all but the newest ``keep_last_n`` complete checkpoints; returns the removed."""
    if keep_last_n is None:
        return []
    removed = []
    for info in list_checkpoints(output_dir)[:-keep_last_n]:
        shutil.rmtree(info.path, ignore_errors=True)
        removed.append(info.path)
    return removed


# --- reading -----------------------------------------------------------------------


@dataclass
class LoadedTrainingState:
    state: TrainerState
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    scaler: dict[str, Any] | None


def read_trainer_state(folder: Path) -> TrainerState:
    """The :class:`TrainerState` of a checkpoint (no tensors are loaded)."""
    path = folder / TRAINING_STATE_DIRNAME / "trainer_state.json"
    return TrainerState(**json.loads(path.read_text(encoding="utf-8")))


def load_training_state(folder: Path) -> LoadedTrainingState:
    source = folder / TRAINING_STATE_DIRNAME
    try:
        scaler_path = source / "grad_scaler.pt"
        return LoadedTrainingState(
            state=read_trainer_state(folder),
            optimizer=torch.load(source / "optimizer.pt", weights_only=True),
            scheduler=torch.load(source / "scheduler.pt", weights_only=True),
            rng=torch.load(source / "rng_state.pt", weights_only=True),
            scaler=torch.load(scaler_path, weights_only=True) if scaler_path.exists() else None,
        )
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise TrainingError(
            f"Cannot read the training state of checkpoint '{folder}': {exc}. Resume from "
            "another checkpoint (resume=<path>) or start fresh (resume='none', overwrite=True)."
        ) from exc


def load_model_weights(model: torch.nn.Module, folder: Path) -> None:
    """Load the ``*.safetensors`` weights of a checkpoint folder into ``model`` (strict).

    Keys missing from the file are accepted only for tied parameters (the LM
    head that shares the embedding matrix).
    """
    from safetensors.torch import load_file

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise TrainingError(f"Checkpoint '{folder}' holds no *.safetensors weights.")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        weights.update(load_file(str(file)))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    named = dict(model.named_parameters(remove_duplicate=False))
    loaded_ptrs = {named[k].data_ptr() for k in weights if k in named}
    untied_missing = [
        k for k in missing if k not in named or named[k].data_ptr() not in loaded_ptrs
    ]
    if untied_missing or unexpected:
        raise TrainingError(
            f"The weights of checkpoint '{folder}' do not match the model: missing "
            f"{untied_missing[:5]}, unexpected {list(unexpected)[:5]}. Resume with the same "
            "model_path and algorithm that wrote the checkpoint."
        )
