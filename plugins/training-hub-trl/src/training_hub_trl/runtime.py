"""What the sft and dpo TRL backends share around the trainer: output folder, model,
callbacks (checkpoint rules, metrics.jsonl, TensorBoard, non-finite check), resume and
the result.

Imported only when training (torch, transformers, trl).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, TrainerCallback
from transformers.integrations import TensorBoardCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from training_hub._errors import ConfigError, ParameterError, TrainingError
from training_hub.engine import checkpoint as engine_checkpoint
from training_hub.engine.metrics import METRICS_FILENAME, truncate_metrics
from training_hub.training_params import TrainingParams

from .evaluation import EvaluationRules, StorageMirror, has_validation
from .hub_callbacks import HubCallbacks
from .result import TRLTrainResult

__all__ = [
    "CheckpointRules",
    "MetricsFile",
    "NonFiniteGuard",
    "checkpoints_dir",
    "inference_config_on_save",
    "load_causal_lm",
    "prepare_output_dir",
    "run_trainer",
    "tensorboard_callback",
    "trainer_callback",
    "training_callbacks",
]


def checkpoints_dir(params: TrainingParams) -> Path:
    """``<ckpt_output_dir>/checkpoints``: TRL writes ``checkpoint-<N>`` folders there."""
    return engine_checkpoint.checkpoints_root(params.ckpt_output_dir)


def prepare_output_dir(params: TrainingParams) -> str | None:
    """Apply ``overwrite``/``resume`` like the native engine; the checkpoint to resume from."""
    engine_checkpoint.check_output_dir(params)
    output_dir = Path(params.ckpt_output_dir)
    if params.resume == "none":
        if params.overwrite:
            engine_checkpoint.clear_previous_run(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        return None
    output_dir.mkdir(parents=True, exist_ok=True)
    if params.resume == "latest":
        root = checkpoints_dir(params)
        return get_last_checkpoint(str(root)) if root.is_dir() else None
    path = Path(params.resume)
    if not (path / "trainer_state.json").is_file():
        raise ParameterError(
            f"resume='{params.resume}' is not a TRL checkpoint (no trainer_state.json inside). "
            "Use 'latest', 'none', or a checkpoint-<N> folder under "
            "<ckpt_output_dir>/checkpoints written by the trl backend."
        )
    return str(path)


def load_causal_lm(params: TrainingParams) -> Any:
    """The causal LM of ``model_path`` with fp32 master weights and the KV cache off.

    Padding-free batches hold several samples in one row; transformers keeps them
    apart (from the restarting position ids) only without a KV cache.
    """
    try:
        model = AutoModelForCausalLM.from_pretrained(
            params.model_path, dtype=torch.float32, trust_remote_code=params.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot load a causal language model from model_path '{params.model_path}': "
            f"{exc}. Point model_path to a Hugging Face model folder (config.json + weights)."
        ) from exc
    model.config.use_cache = False
    return model


def inference_config_on_save(trainer_class: type) -> type:
    """A subclass of ``trainer_class`` that saves config.json with ``use_cache=True`` and,
    when the trainer has a ``training_hub_card`` (model_card.card_writer), the model card."""

    class _Trainer(trainer_class):  # type: ignore[misc, valid-type]
        def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
            config = self.model.config
            previous = config.use_cache
            config.use_cache = True
            try:
                super().save_model(output_dir, _internal_call)
            finally:
                config.use_cache = previous
            card = getattr(self, "training_hub_card", None)
            if card is not None and output_dir is not None and self.is_world_process_zero():
                card(output_dir, self.state)

    _Trainer.__name__ = f"TrainingHub{trainer_class.__name__}"
    return _Trainer


class CheckpointRules(TrainerCallback):  # type: ignore[misc]
    """Save exactly when the native engine would: every save_every steps, at epoch ends
    (checkpoint_at_epoch) and after the last step (save_final_checkpoint)."""

    def __init__(self, params: TrainingParams) -> None:
        self.params = params
        self.saved_steps: list[int] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        every = self.params.save_every
        if every is not None and state.global_step % every == 0:
            control.should_save = True
        if state.global_step >= state.max_steps and self.params.save_final_checkpoint:
            control.should_save = True

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.params.checkpoint_at_epoch and state.global_step not in self.saved_steps:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.saved_steps.append(state.global_step)


class MetricsFile(TrainerCallback):  # type: ignore[misc]
    """The last logged record, for the result. metrics.jsonl itself is written by the JSONL
    tracker (``training_hub.trackers``), which gets each record through ``on_log``; a
    resumed run's stale lines are dropped here first."""

    def __init__(self, output_dir: Path, start_step: int) -> None:
        self.path = output_dir / METRICS_FILENAME
        truncate_metrics(self.path, start_step)
        self.last: dict[str, Any] = {}

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return  # the summary line at the end has train_loss, not loss
        from .hub_callbacks import log_record

        self.last = log_record(logs, state)


class NonFiniteGuard(TrainerCallback):  # type: ignore[misc]
    """on_nonfinite='error': stop before an optimizer step whose gradients are not finite.

    fp16 runs are exempt: the loss scaler skips such steps by design.
    """

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir

    def on_pre_optimizer_step(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if args.fp16 or model is None:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            last = get_last_checkpoint(str(self.output_dir)) if self.output_dir.is_dir() else None
            raise TrainingError(
                f"Step {state.global_step + 1}: the loss or gradients are not finite. The last "
                f"good checkpoint ({last or 'none'}) was kept. Lower learning_rate, set "
                "max_grad_norm, or use dtype='bf16'/'fp32'."
            )


def run_trainer(
    trainer: Any, params: TrainingParams, resume_from: str | None, metrics: MetricsFile
) -> TRLTrainResult:
    """Train (resuming when asked) and report like the native engine; the run ends when
    its checkpoint uploads are done (``checkpoint_storage``, a bounded wait)."""
    start = time.perf_counter()
    storage = next((c for c in trainer.callback_handler.callbacks
                    if isinstance(c, StorageMirror)), None)
    try:
        trainer.train(resume_from_checkpoint=resume_from)
    finally:
        if storage is not None:
            storage.close()
    elapsed = time.perf_counter() - start
    state = trainer.state
    root = checkpoints_dir(params)
    written = [
        str(root / f"{PREFIX_CHECKPOINT_DIR}-{step}")
        for step in sorted(set(trainer_callback(trainer, CheckpointRules).saved_steps))
    ]
    written = [path for path in written if Path(path).is_dir()]  # save_total_limit prunes
    final_loss = metrics.last.get("loss")
    tokens = int(state.num_input_tokens_seen)
    hub = next((c for c in trainer.callback_handler.callbacks if isinstance(c, HubCallbacks)),
               None)
    result = TRLTrainResult(
        final_loss=float(final_loss) if final_loss is not None else None,
        steps=state.global_step,
        epochs=math.floor(state.epoch or 0),
        tokens=tokens,
        elapsed_s=elapsed,
        tokens_per_second=tokens / elapsed if elapsed > 0 else 0.0,
        checkpoints=written,
        last_checkpoint=written[-1] if written else (get_last_checkpoint(str(root))
                                                     if root.is_dir() else None),
        output_dir=params.ckpt_output_dir,
        metrics_path=str(metrics.path),
        last_metrics=dict(metrics.last),
        stopped_early=hub.stopped_early if hub is not None else False,
        best_checkpoint=_best_checkpoint(params),
        last_evaluation=_last_evaluation(state.log_history),
    )
    if hub is not None:
        hub.finish(result)
    return result


def _best_checkpoint(params: TrainingParams) -> str | None:
    folder = checkpoints_dir(params) / "best"
    return str(folder) if (folder / "best.json").is_file() else None


def _last_evaluation(log_history: list[dict[str, Any]]) -> dict[str, Any] | None:
    from .hub_callbacks import hub_metrics

    for record in reversed(log_history or []):
        if "eval_loss" in record:
            return hub_metrics(record)
    return None


def trainer_callback(trainer: Any, kind: type) -> Any:
    return next(c for c in trainer.callback_handler.callbacks if isinstance(c, kind))


def tensorboard_callback(output_dir: Path, start_step: int) -> Any:
    """TensorBoard logs in ``<ckpt_output_dir>/tensorboard``, where the native engine writes
    them; a resumed run hides its first attempt's events after the checkpoint, as the
    metrics file drops those lines. Only the main process writes."""
    if int(os.environ.get("RANK", "0")) != 0:
        return TensorBoardCallback()  # transformers' callback writes on rank 0 only
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"),
                           purge_step=start_step + 1 if start_step else None)
    return TensorBoardCallback(tb_writer=writer)


def training_callbacks(
    params: TrainingParams,
    resume_from: str | None,
    hub_callbacks: Sequence[Any] = (),
    names: tuple[str, str] = ("", ""),
    mirror: Any = None,
) -> list[Any]:
    """Checkpoint rules, (with validation data) evaluation rules, metrics file,
    (on_nonfinite='error') the non-finite check, (``mirror``: checkpoint_storage) the
    upload of each saved checkpoint, and the bridge that fires training-hub's events on
    ``hub_callbacks`` (``names``: algorithm and backend)."""
    start_step = 0
    if resume_from is not None:
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        start_step = int(state.get("global_step", 0))
    output_dir = Path(params.ckpt_output_dir)
    # metrics.jsonl and TensorBoard: the built-in trackers, through the bridge's on_log.
    callbacks: list[Any] = [CheckpointRules(params), MetricsFile(output_dir, start_step)]
    if has_validation(params):
        callbacks.append(EvaluationRules())
    if params.on_nonfinite == "error":
        callbacks.append(NonFiniteGuard(checkpoints_dir(params)))
    if mirror is not None:
        callbacks.append(StorageMirror(mirror, params))
    # Last: it sees the trainer's control after the rules above set their flags.
    callbacks.append(HubCallbacks(hub_callbacks, params, algorithm=names[0], backend=names[1],
                                  can_evaluate=has_validation(params)))
    return callbacks

