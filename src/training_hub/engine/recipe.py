"""THE training recipe of the native engine, top to bottom: setup, data, model, loop, checkpoint.

Loss normalisation: the loss of an optimizer step is the mean cross-entropy
over all its loss tokens, on all ranks and micro-batches together. Each
micro-batch contributes ``sum_CE / step.num_loss_tokens`` (the data pipeline
gives that global count) and gradients are *summed* over ranks, so a step
gives the same update whether it is one micro-batch or many, packed or not,
on one process or several.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .._errors import ConfigError, ParameterError, TrainingError, UserError
from .._peer_params import max_samples_per_micro_batch, samples_checkpoint_due
from ..callbacks import CallbackRunner, TrainingHubContext, context_for_run
from ..training_params import TrainingParams
from . import checkpoint as ckpt
from .adapter import ModelAdapter
from .attention import packed_attention_kwargs
from .data import StepBatcher
from .distributed import (
    DistributedContext,
    all_reduce_gradients,
    all_reduce_sum,
    broadcast_parameters,
    init_distributed,
    rank_zero_first,
    read_rank_env,
    shard_model,
    wait_for_all,
)
from .eta import RunClock, planned_pauses, planned_step_tokens
from .evaluation import (
    BestCheckpoint,
    Evaluator,
    evaluation_due,
    load_run_data,
    read_best,
    write_best_checkpoint,
)
from .loss import PackedCausalLM, build_loss, liger_available, loss_targets
from .metrics import MetricsLogger
from .model import Precision, load_model, load_tokenizer, resolve_device, resolve_precision
from .model_card import CardFacts, DataFacts, data_facts, write_model_card
from .optim import build_optimizer, build_scheduler
from .run_lock import RunLock
from .signals import StopRequest, TrainingInterrupted
from .storage import CheckpointMirror, open_mirror

__all__ = ["TrainResult", "dry_run", "result_of_finished_run", "run_lock", "step_batcher", "train"]

logger = logging.getLogger("training_hub.engine")
_LOSS_CHUNK_TOKENS_GPU = 4096


@dataclass
class TrainResult:
    """What a finished run reports."""

    final_loss: float | None
    steps: int
    epochs: int  # epochs completed
    tokens: int  # tokens trained on, all ranks, this run and the resumed ones
    elapsed_s: float
    tokens_per_second: float
    checkpoints: list[str] = field(default_factory=list)  # written by this run
    last_checkpoint: str | None = None
    output_dir: str = ""
    metrics_path: str = ""
    best_checkpoint: str | None = None  # checkpoints/best (save_best_metric), when written

    def __getitem__(self, key: str) -> Any:
        """training_hub 0.11.2's access: ``result["model"]``, ``result["tokenizer"]`` (loaded
        from the last checkpoint) and the fields by name (``training_hub._peer_result``)."""
        from .._peer_result import result_item

        return result_item(self, key)
    #: True when a callback stopped the run (control.should_training_stop) before the end.
    stopped_early: bool = False


@dataclass
class _Requests:
    """What the callbacks asked for at a step boundary, agreed by every rank."""

    stop: bool = False
    save: bool = False
    evaluate: bool = False


def result_of_finished_run(output_dir: str | Path, checkpoints_before: set[str]) -> TrainResult:
    """The :class:`TrainResult` of a run whose processes have ended (torchrun workers),
    read from what rank 0 wrote: the last record of ``metrics.jsonl`` and the checkpoints
    (those not in ``checkpoints_before`` were written by this run)."""
    output = Path(output_dir)
    metrics_path = output / "metrics.jsonl"
    last: dict[str, Any] = {}
    if metrics_path.is_file():
        for line in metrics_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "loss" in record and "step" in record:
                last = record
    checkpoints = [str(c.path) for c in ckpt.list_checkpoints(output)]
    latest = checkpoints[-1] if checkpoints else None
    steps = int(last.get("step", 0))
    epochs = int(last.get("epoch", 0))
    if latest is not None:
        saved = ckpt.read_trainer_state(Path(latest))
        if saved.step == steps:
            epochs = saved.epoch
    tokens = int(last.get("tokens", 0))
    elapsed = float(last.get("elapsed_s", 0.0))
    return TrainResult(
        final_loss=last.get("loss"),
        steps=steps,
        epochs=epochs,
        tokens=tokens,
        elapsed_s=elapsed,
        tokens_per_second=tokens / elapsed if elapsed > 0 else 0.0,
        checkpoints=[c for c in checkpoints if c not in checkpoints_before],
        last_checkpoint=latest,
        output_dir=str(output),
        metrics_path=str(metrics_path),
        best_checkpoint=_best_checkpoint_of(output),
    )


def _best_checkpoint_of(output_dir: Path) -> str | None:
    folder = ckpt.checkpoints_root(output_dir) / "best"
    return str(folder) if (folder / "best.json").is_file() else None


def train(
    params: TrainingParams,
    adapter: ModelAdapter | None = None,
    callbacks: Sequence[Any] | None = None,
    *,
    algorithm: str = "",
    backend: str = "",
) -> TrainResult:
    """Train ``params.model_path`` on ``params.data_path``; see :class:`TrainingParams`.

    ``callbacks`` receive the run's events (see :mod:`training_hub.callbacks`; the
    backend passes the user's callbacks and the plugin bridge, whose built-in trackers
    write metrics.jsonl; None: the built-in trackers alone); ``algorithm`` and
    ``backend`` are the names their context reports. Runs on one process, or on
    each rank of a torchrun job (``RANK``/``WORLD_SIZE``). Raises
    :class:`~training_hub._errors.UserError` subclasses for fixable input
    problems, :class:`TrainingError` when training fails, and
    :class:`TrainingInterrupted` (exit code 75) after a signal-triggered checkpoint.
    """
    adapter = adapter or ModelAdapter()
    if callbacks is None:  # no bridge given: the built-in trackers (metrics.jsonl...) observe
        from ..trackers import default_trackers

        callbacks = default_trackers()
    _configure_console_logging()
    ckpt.check_output_dir(params)  # before anything is written
    owns_group = not (dist.is_available() and dist.is_initialized())
    device = resolve_device(params, local_rank=read_rank_env()[2])
    if device.type == "cpu":  # freed activations go back to the OS (engine/cpu_memory.py)
        from .cpu_memory import fix_malloc_mmap_threshold

        fix_malloc_mmap_threshold()
    if params.tf32 is not None and device.type == "cuda":  # training_hub 0.11.2's tf32
        torch.backends.cuda.matmul.allow_tf32 = params.tf32
        torch.backends.cudnn.allow_tf32 = params.tf32
    context = init_distributed(device)
    try:
        with run_lock(params, context):
            run = _Run(params, adapter, context, device, callbacks, (algorithm, backend))
            return run.run()
    finally:
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def run_lock(params: TrainingParams, context: DistributedContext) -> Iterator[None]:
    """Rank 0 holds the run lock of ``ckpt_output_dir`` (see :mod:`.run_lock`); every rank
    learns whether it got it."""
    with contextlib.ExitStack() as stack:
        refused: UserError | None = None
        if context.is_main:
            try:
                stack.enter_context(RunLock.acquire(params.ckpt_output_dir))
            except UserError as exc:
                refused = exc
        if wait_for_all(float(refused is not None), context) > 0:
            raise refused or UserError(
                "rank 0 could not take the run lock of ckpt_output_dir; see its message"
            )
        yield


class _Run:
    """One training run; the methods below are the recipe's phases, in order."""

    def __init__(
        self,
        params: TrainingParams,
        adapter: ModelAdapter,
        context: DistributedContext,
        device: torch.device,
        callbacks: Sequence[Any] = (),
        names: tuple[str, str] = ("", ""),
    ) -> None:
        self.params = params
        self.adapter = adapter
        self.context = context
        self.device = device
        self.callbacks = CallbackRunner(callbacks, is_main_process=context.is_main)
        self.names = names
        self.stopped_early = False
        self.precision: Precision = resolve_precision(params, device)
        self.output_dir = Path(params.ckpt_output_dir)
        self.checkpoints_written: list[str] = []
        self.last_checkpoint: str | None = None
        self.best_checkpoint: str | None = None
        self.last_evaluation: dict[str, Any] | None = None

    # --- the recipe -----------------------------------------------------------------

    def run(self) -> TrainResult:
        self.setup_numerics()
        self.setup_output_dir()
        self.fetch_hub_inputs()
        self.setup_data()
        self.setup_model()
        self.setup_optimizer()
        self.resume_state()
        self.metrics = (
            MetricsLogger(
                self.output_dir,
                total_steps=self.total_steps,
                start_step=self.state.step,
                quiet=self.params.quiet,
            )
            if self.context.is_main
            else None
        )
        self.setup_callback_context()
        try:
            self.fire("on_train_begin")
            with StopRequest(enabled=self.params.enable_jit_checkpoint) as stop:
                self.train_loop(stop)
            self.honour_last_requests()
        finally:
            if self.metrics is not None:
                self.metrics.close()
            if self.mirror is not None:  # the run ends when its uploads are done (bounded)
                self.mirror.close(self.params.checkpoint_upload_timeout)
        result = self.result()
        self.event.result = result
        self.fire("on_train_end")
        return result

    def setup_numerics(self) -> None:
        """Threads and seeds: every RNG from ``seed`` (all ranks alike)."""
        if self.params.num_threads is not None:
            torch.set_num_threads(self.params.num_threads)
        random.seed(self.params.seed)
        np.random.seed(self.params.seed % 2**32)
        torch.manual_seed(self.params.seed)

    def setup_output_dir(self) -> None:
        """Resolve the checkpoint to resume from; clear an old run only when asked to."""
        self.resume_from = self.setup_storage_and_resume()
        self.last_checkpoint = str(self.resume_from) if self.resume_from else None
        if self.context.is_main:
            if self.params.resume == "none" and self.params.overwrite:
                ckpt.clear_previous_run(self.output_dir)
            self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.resume_from is not None and self.context.is_main:
            logger.info("Resuming from %s", self.resume_from)

    def setup_storage_and_resume(self) -> Path | None:
        """Rank 0's checkpoint mirror (``checkpoint_storage``) and the checkpoint to resume
        from: rank 0 fetches it from the storage when that holds a newer one."""
        self.mirror: CheckpointMirror | None = None
        if self.params.checkpoint_storage is None:
            return ckpt.resolve_resume_checkpoint(self.params)

        def open_and_fetch() -> Path | None:
            self.mirror = open_mirror(self.params)
            return ckpt.resolve_resume_checkpoint(self.params, fetch=True)

        resume_from = rank_zero_first(
            open_and_fetch, self.context,
            "Rank 0 could not use the checkpoint_storage; see its error.")
        if not self.context.is_main:
            resume_from = ckpt.resolve_resume_checkpoint(self.params)
        return resume_from

    def fetch_hub_inputs(self) -> None:
        """Hub ids (and data set folders) in model_path, tokenizer_path and data_path become
        local paths (training_hub.hub): rank 0 fetches them first, then the other ranks find
        them in the cache (or fetch them, on a node whose cache rank 0 did not fill)."""
        from ..hub import resolve_inputs

        self.inputs = self.params  # as given: the model card names these
        fetched = rank_zero_first(lambda: resolve_inputs(self.params), self.context,
                                  "Rank 0 could not fetch the model or the data; see its error.")
        if fetched is not None:
            self.params = fetched
        if not self.context.is_main:
            try:
                self.params = resolve_inputs(self.params, local_files_only=True)
            except UserError:  # another node, another cache
                self.params = resolve_inputs(self.params)

    def setup_data(self) -> None:
        """Tokenize (rank 0 first, the others then read its cache) and plan the steps."""
        self.tokenizer = load_tokenizer(self.params)
        loaded = rank_zero_first(lambda: load_run_data(self.params, self.tokenizer),
                                 self.context,
                                 "Rank 0 could not prepare the training data; see its error.")
        if loaded is None:  # another rank: rank 0's cache is there now
            loaded = load_run_data(self.params, self.tokenizer)
        self.dataset, self.validation = loaded
        pad_id = self.tokenizer.pad_token_id
        self.batcher = step_batcher(self.params, self.dataset, world_size=self.context.world_size,
                                    rank=self.context.rank,
                                    pad_token_id=pad_id if pad_id is not None else 0)
        if self.params.max_steps is not None:  # max_steps overrides num_epochs
            per_epoch = self.batcher.steps_per_epoch
            self.batcher.num_epochs = math.ceil(self.params.max_steps / per_epoch)
            self.total_steps = self.params.max_steps
        else:
            self.total_steps = self.batcher.total_steps
        self.evaluator = (
            Evaluator(
                self.validation,
                max_tokens_per_gpu=self.params.max_tokens_per_gpu,
                world_size=self.context.world_size,
                rank=self.context.rank,
                pad_token_id=pad_id if pad_id is not None else 0,
                # training_hub 0.11.2's per_device_eval_batch_size (None: tokens only)
                max_samples_per_micro_batch=self.params.per_device_eval_batch_size,
            )
            if self.validation is not None
            else None
        )
        metric = self.params.save_best_metric
        self.best: BestCheckpoint | None = None
        if metric is not None:  # a resumed run goes on from the best so far
            resumed = self.resume_from is not None
            self.best = read_best(self.output_dir, metric) if resumed else BestCheckpoint(metric)

    def setup_model(self) -> None:
        """Load, adapt, freeze, (resume weights), then shard (GPU) or replicate (CPU)."""
        model = load_model(self.params, self.device)
        self.check_vocabulary(model)
        model = self.adapter.prepare(model)
        if self.resume_from is not None:
            self.adapter.load_checkpoint(model, self.resume_from)
        trainable_ids = {id(p) for p in self.adapter.trainable_parameters(model)}
        if not trainable_ids:
            raise TrainingError(
                f"The adapter '{self.adapter.name}' left no parameter to train; check its "
                "trainable_parameters()."
            )
        for parameter in model.parameters():
            parameter.requires_grad_(id(parameter) in trainable_ids)
        self.model = model
        self.lm = PackedCausalLM(
            model,
            chunk_size=_LOSS_CHUNK_TOKENS_GPU if self.device.type == "cuda" else None,
            use_liger=self._use_liger(),
            loss=build_loss(self.params),
        )
        layers = list(getattr(model.get_decoder(), "layers", []))
        if self.params.torch_compile:
            for layer in layers:
                layer.compile(dynamic=True)
        if self.context.sharded:
            shard_model(self.lm, layers, self.precision.compute_dtype)
        else:
            self.lm.to(self.device)
            broadcast_parameters(self.lm, self.context)
        self.lm.train()
        self.trainable = [p for p in self.lm.parameters() if p.requires_grad]

    def check_vocabulary(self, model: Any) -> None:
        """Every token id of the data must have an embedding row (else step 1 would crash)."""
        rows = model.get_input_embeddings().num_embeddings
        largest = int(self.dataset.input_ids.max()) if self.dataset.input_ids.size else -1
        if largest >= rows or len(self.tokenizer) > rows:
            raise ConfigError(
                f"The model in '{self.params.model_path}' has {rows} token embeddings "
                f"(vocab_size), but the tokenizer has {len(self.tokenizer)} tokens and the data "
                f"uses id {largest}. "
                "Use the tokenizer the model was trained with (tokenizer_path), or resize the "
                "model's embeddings (model.resize_token_embeddings) and save it again."
            )

    def setup_optimizer(self) -> None:
        self.optimizer = build_optimizer(self.trainable, self.params, self.device)
        self.scheduler = build_scheduler(self.optimizer, self.params, self.total_steps)
        self.scaler = (
            torch.amp.GradScaler(self.device.type) if self.precision.use_grad_scaler else None
        )

    def resume_state(self) -> None:
        """Optimizer, schedule, data position and RNGs exactly as they were saved."""
        self.state = ckpt.TrainerState(adapter=self.adapter.name)
        if self.resume_from is None:
            return
        loaded = ckpt.load_training_state(self.resume_from)
        self.state = loaded.state
        if self.context.sharded:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_optimizer_state_dict,
            )

            set_optimizer_state_dict(
                self.lm,
                self.optimizer,
                loaded.optimizer,
                options=StateDictOptions(full_state_dict=True),
            )
        else:
            self.optimizer.load_state_dict(loaded.optimizer)
        self.scheduler.load_state_dict(loaded.scheduler)
        if self.scaler is not None and loaded.scaler is not None:
            self.scaler.load_state_dict(loaded.scaler)
        self.batcher.load_state_dict(self.state.extra["data"])
        ckpt.restore_rng_state(loaded.rng)

    def setup_callback_context(self) -> None:
        """The one context every event of this run sees, and the flags callbacks set."""
        algorithm, backend = self.names
        self.event: TrainingHubContext = context_for_run(
            self.params, algorithm=algorithm, backend=backend, rank=self.context.rank,
            world_size=self.context.world_size, total_steps=self.total_steps,
        )
        self.event.step, self.event.epoch = self.state.step, self.state.epoch
        self.control = self.event.control

    def train_loop(self, stop: StopRequest) -> None:
        params, state, control = self.params, self.state, self.control
        run_start = time.perf_counter()
        elapsed_before = state.elapsed_s
        window_start, window_tokens = run_start, 0
        # tokens/s of the first steps times the planned tokens, plus the planned evaluations
        # and checkpoints at their measured times: the run's time and ETA (eta.py)
        evaluation_steps, checkpoint_steps = planned_pauses(
            params, self.batcher, state.step, self.total_steps,
            evaluates=self.evaluator is not None,
            samples_before=int(state.extra.get("samples_seen", 0)),
        )
        clock = RunClock(planned_step_tokens(self.batcher, state.step, self.total_steps),
                         evaluation_steps=evaluation_steps, checkpoint_steps=checkpoint_steps,
                         start_step=state.step)
        self.clock, last_step_end = clock, run_start
        calibrated_after = clock.calibration_steps + 1
        self._note(f"training plan: {len(clock.step_tokens)} steps, "
                   f"{sum(clock.step_tokens):,} tokens" + (
                       f"; the time estimate follows step {state.step + calibrated_after}"
                       if len(clock.step_tokens) > calibrated_after else ""))

        def log_step(record: dict[str, Any]) -> None:
            """Rank 0: a step's record with the throughput since the last one logged, to the
            console, then ``on_log`` (the trackers write metrics.jsonl)."""
            nonlocal window_start, window_tokens
            assert self.metrics is not None
            now = time.perf_counter()
            record["tokens_per_second"] = window_tokens / max(now - window_start, 1e-9)
            record["elapsed_s"] = round(state.elapsed_s, 3)
            if clock.remaining_s is not None:
                record["eta_s"] = round(clock.remaining_s, 3)
            self.metrics.log(record)
            self.fire_log(record)
            window_start, window_tokens = now, 0

        for step in self.batcher:
            if state.step >= self.total_steps:
                break
            lr = self.scheduler.get_last_lr()[0]
            if self.callbacks:
                self.event.epoch = step.epoch
                if state.step_in_epoch == 0:
                    self.fire("on_epoch_begin")
                self.fire("on_step_begin")
            loss_sum = self.forward_backward(step.micro_batches, step.num_loss_tokens)
            if not self.context.sharded:
                all_reduce_gradients(self.trainable, self.context)
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            self.adapter.before_optimizer_step(self.model)
            grad_norm = self.clip_gradients()
            # The step's collective and host sync: global loss, the signal votes, the grad
            # norm (the callbacks' requests are agreed after this step's events, below).
            shared = torch.cat([
                loss_sum.reshape(1),
                torch.tensor([float(stop.requested)], dtype=torch.float32, device=self.device),
            ])
            all_reduce_sum(shared, self.context)
            total_loss, signal_votes, norm = torch.cat([shared, grad_norm.reshape(1)]).tolist()
            loss = total_loss / max(1, step.num_loss_tokens)
            step_number = state.step + 1
            finite = math.isfinite(loss) and (math.isfinite(norm) or self.scaler is not None)
            if finite:
                self.optimizer_step()
            elif params.on_nonfinite == "error":
                raise TrainingError(
                    f"Step {step_number}: the loss ({loss}) or gradient norm ({norm}) is not "
                    f"finite. The last good checkpoint ({self.last_checkpoint or 'none'}) was "
                    "kept. Lower learning_rate, set max_grad_norm, use dtype='bf16'/'fp32', or "
                    "set on_nonfinite='skip' to skip such steps."
                )
            else:
                self.optimizer.zero_grad(set_to_none=True)
                self._note(f"step {step_number}: non-finite loss/gradient, step skipped")
            self.scheduler.step()

            state.step = step_number
            state.epoch, state.step_in_epoch = self.batcher.position
            state.tokens_seen += step.num_tokens
            samples_before = int(state.extra.get("samples_seen", 0))
            state.extra["samples_seen"] = samples_before + step.num_samples
            state.loss_tokens_seen += step.num_loss_tokens
            state.last_loss = loss if finite else state.last_loss
            state.elapsed_s = elapsed_before + time.perf_counter() - run_start
            state.extra["data"] = self.batcher.state_dict()
            window_tokens += step.num_tokens
            now = time.perf_counter()
            prediction = clock.step_done(now - last_step_end)
            last_step_end = now
            if prediction is not None:
                self._note(prediction.describe())
            if self.callbacks:
                self.fire_step_end(step_number, loss, lr, norm, step.num_loss_tokens, finite)

            # the step's numbers; logged at logging steps, and at the step a run ends on
            record: dict[str, Any] = {
                "step": step_number, "epoch": step.epoch, "loss": loss, "lr": lr,
                "grad_norm": norm, "num_loss_tokens": step.num_loss_tokens,
                "tokens": state.tokens_seen, "skipped": not finite,
            }
            logged = step_number % params.logging_steps == 0 or step_number == self.total_steps
            if self.metrics is not None:
                if logged:
                    log_step(record)
                else:
                    self.metrics.advance(step_number)

            epoch_end = state.step_in_epoch == 0
            finished = state.step >= self.total_steps
            if self.callbacks and epoch_end:
                self.fire("on_epoch_end")
            interrupted = signal_votes > 0
            requests = self.agreed_requests()
            if (interrupted or requests.stop) and not logged and self.metrics is not None:
                log_step(record)  # the run ends here: its last step is logged, whatever
                # logging_steps says
            new_best = False
            if self.evaluator is not None and not interrupted and evaluation_due(
                state.step,
                frequency=params.validation_frequency,
                epoch_end=epoch_end,
                finished=finished,
                requested=requests.evaluate,
            ):
                eval_start = time.perf_counter()
                new_best = self.evaluate(epoch=step.epoch)
                eval_s = time.perf_counter() - eval_start
                window_start += eval_s  # not training throughput
                last_step_end += eval_s  # nor the next step's time: timed apart (eta.py)
                clock.evaluation_done(eval_s)
                requests = self.agreed_requests()  # and what on_evaluate asked
            elif requests.evaluate:
                self._note(f"step {state.step}: a callback asked for an evaluation, but this "
                           "run has no validation data (validation_split, eval_data_path)")
            control.should_evaluate = False
            stopping = interrupted or requests.stop
            # every save but one due only to an epoch end holds the full training state
            # (accelerate_full_state_at_epoch=False makes those model-only)
            full_state_due = (
                (params.save_every is not None and state.step % params.save_every == 0)
                or samples_checkpoint_due(samples_before, step.num_samples, params.save_samples)
                or (finished and params.save_final_checkpoint)
                or stopping
                or requests.save
            )
            if full_state_due or (epoch_end and params.checkpoint_at_epoch):
                save_start = time.perf_counter()
                self.save_checkpoint(
                    epoch_end=epoch_end,
                    full_state=full_state_due or params.accelerate_full_state_at_epoch,
                )
                save_s = time.perf_counter() - save_start
                window_start += save_s  # not training throughput
                last_step_end += save_s
                clock.checkpoint_done(save_s)
            if new_best:
                save_start = time.perf_counter()
                self.save_best_checkpoint(epoch=step.epoch)
                best_s = time.perf_counter() - save_start
                window_start += best_s
                last_step_end += best_s
            if interrupted and not finished:
                raise TrainingInterrupted(
                    f"Training stopped on {stop.signal_name or 'a signal'} after step "
                    f"{state.step}; checkpoint {self.last_checkpoint}. Continue with "
                    "resume='latest' (--resume latest).",
                    checkpoint=self.last_checkpoint,
                )
            if requests.stop and not finished:
                self.stopped_early = True
                self._note(f"training stopped early by a callback after step {state.step}; "
                           f"checkpoint {self.last_checkpoint}")
                break
            if finished:
                break

    # --- callbacks: events and control flags ----------------------------------------

    def fire(self, event: str) -> None:
        """Fire ``event`` on this rank's callbacks with the run's one context."""
        if self.callbacks.wants(event):
            self.callbacks.fire(event, self.event)

    def fire_step_end(self, step: int, loss: float, lr: float, grad_norm: float,
                      loss_tokens: int, finite: bool) -> None:
        self.event.step, self.event.loss, self.event.learning_rate = step, loss, lr
        if self.callbacks.wants("on_step_end"):
            self.event.metrics = {"loss": loss, "lr": lr, "grad_norm": grad_norm,
                                  "num_loss_tokens": loss_tokens, "skipped": not finite}
            self.callbacks.fire("on_step_end", self.event)

    def fire_log(self, record: dict[str, Any]) -> None:
        """``on_log`` with the record just written to metrics.jsonl (rank 0)."""
        if self.callbacks.wants("on_log"):
            self.event.step, self.event.epoch = record["step"], record["epoch"]
            self.event.loss, self.event.learning_rate = record["loss"], record["lr"]
            self.event.metrics = record
            self.callbacks.fire("on_log", self.event)

    def fire_evaluate(self, record: dict[str, Any]) -> None:
        """``on_evaluate`` with the evaluation's record (``val_loss``...), on every rank."""
        if self.callbacks.wants("on_evaluate"):
            self.event.step, self.event.epoch = self.state.step, record.get("epoch", 0)
            self.event.metrics = dict(record)
            self.callbacks.fire("on_evaluate", self.event)

    def agreed_requests(self) -> _Requests:
        """The callbacks' stop/save/evaluate requests, the same on every rank.

        On one process: the flags as they are now. On several: the flags of every
        rank summed (one small collective after the step's events), so a flag set on
        any rank in ``on_step_end``, ``on_log`` or ``on_evaluate`` takes effect at the
        end of this very step on every rank, as it does on one process.
        """
        control = self.control
        flags = (control.should_training_stop, control.should_save, control.should_evaluate)
        if not self.context.is_distributed:
            return _Requests(*flags)
        votes = torch.tensor(flags, dtype=torch.float32, device=self.device)
        all_reduce_sum(votes, self.context)
        stop, save, evaluate = (vote > 0 for vote in votes.tolist())
        return _Requests(stop, save, evaluate)

    def honour_last_requests(self) -> None:
        """A save request of the last step, which no later step can carry (several
        processes: one collective more, once per run)."""
        if self.context.is_distributed and wait_for_all(
            float(self.control.should_save), self.context
        ) > 0:
            self.save_checkpoint(epoch_end=self.state.step_in_epoch == 0)

    # --- one step -----------------------------------------------------------------

    def forward_backward(self, micro_batches: list[Any], step_loss_tokens: int) -> torch.Tensor:
        """Accumulate the gradients of one step; returns this rank's summed loss."""
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float32)
        normaliser = max(1, step_loss_tokens)
        for index, host_batch in enumerate(micro_batches):
            if self.context.sharded:  # reduce-scatter once, after the last micro-batch
                self.lm.set_requires_gradient_sync(index == len(micro_batches) - 1)
            batch = host_batch.to(self.device)
            positions, targets = loss_targets(host_batch)
            with self._autocast():
                micro_loss = self.lm(
                    batch.input_ids,
                    batch.position_ids,
                    positions.to(self.device, non_blocking=True),
                    targets.to(self.device, non_blocking=True),
                    **packed_attention_kwargs(
                        host_batch, batch, python_bounds=not self.params.torch_compile
                    ),
                )
            scaled = micro_loss / normaliser
            if self.scaler is not None:
                scaled = self.scaler.scale(scaled)
            scaled.backward()
            loss_sum += micro_loss.detach().float()
        return loss_sum

    def clip_gradients(self) -> torch.Tensor:
        """Clip to ``max_grad_norm`` (when set); returns the global norm before clipping."""
        max_norm = self.params.max_grad_norm or math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
        if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
            norm = norm.full_tensor()
        return norm.detach().float()

    def optimizer_step(self) -> None:
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.adapter.after_optimizer_step(self.model)

    # --- evaluation (engine/evaluation.py) ----------------------------------------------

    def evaluate(self, *, epoch: int) -> bool:
        """val_loss of the model as it is after this step (every rank takes part); rank 0
        logs it. True when it improves ``save_best_metric``."""
        assert self.evaluator is not None
        metrics = self.evaluator.evaluate(
            self.lm,
            device=self.device,
            context=self.context,
            autocast=self._autocast,
            python_bounds=not self.params.torch_compile,
        )
        record = {"step": self.state.step, "epoch": epoch, **metrics}
        if self.metrics is not None:
            self.metrics.log_evaluation(record)
        self.last_evaluation = record
        self.fire_evaluate(record)
        if self.best is None or not self.best.improves(metrics[self.best.metric]):
            return False
        self.best.value, self.best.step = float(metrics[self.best.metric]), self.state.step
        return True

    def save_best_checkpoint(self, *, epoch: int) -> None:
        """``checkpoints/best`` from this step: hard links to ``step-<N>`` when this step was
        just saved, else written like a checkpoint. Never pruned by keep_last_n."""
        assert self.best is not None
        saved = self.last_checkpoint
        source = None
        if saved and Path(saved).name == f"step-{self.state.step}":  # saved at this step
            source = Path(saved)
        model_state, optimizer_state = (None, {}) if source else self._gather_states()
        error: TrainingError | None = None
        if self.context.is_main:
            try:
                path = write_best_checkpoint(
                    self.output_dir,
                    self.best,
                    epoch=epoch,
                    source=source,
                    write_contents=lambda folder: self._write_checkpoint(
                        folder, model_state, optimizer_state
                    ),
                )
                self.best_checkpoint = str(path)
                if self.mirror is not None:  # checkpoint_storage gets the best one too
                    self.mirror.submit_best(path, self.state.step)
                self._note(
                    f"best checkpoint ({self.best.metric} {self.best.value:.4f}, step "
                    f"{self.best.step}): {path}"
                )
            except TrainingError as exc:
                error = exc
        failed = wait_for_all(float(error is not None), self.context)
        if error is not None:
            raise error
        if failed > 0:
            raise TrainingError("Rank 0 could not write the best checkpoint; see its log.")

    # --- checkpoints ----------------------------------------------------------------

    def save_checkpoint(self, *, epoch_end: bool, full_state: bool = True) -> None:
        """Rank 0 writes ``checkpoints/step-<N>`` atomically; every rank learns the outcome."""
        if self.last_checkpoint and Path(self.last_checkpoint).name == f"step-{self.state.step}":
            return  # this step is saved already
        model_state, optimizer_state = self._gather_states()
        error: TrainingError | None = None
        if self.context.is_main:
            try:
                path = ckpt.write_checkpoint_atomically(
                    self.output_dir,
                    self.state.step,
                    lambda folder: self._write_checkpoint(
                        folder, model_state, optimizer_state, full_state=full_state
                    ),
                    epoch_end=epoch_end,
                )
                for removed in ckpt.prune_checkpoints(self.output_dir, self.params.keep_last_n):
                    if str(removed) in self.checkpoints_written:
                        self.checkpoints_written.remove(str(removed))
                self.checkpoints_written.append(str(path))
                self.last_checkpoint = str(path)
                if self.mirror is not None:  # uploads in the background
                    self.mirror.submit(path, self.state.step)
                self._note(f"checkpoint saved: {path}")
            except TrainingError as exc:
                error = exc
        failed = wait_for_all(float(error is not None), self.context)
        if error is not None:
            raise error
        if failed > 0:
            raise TrainingError(
                f"Rank 0 could not write the checkpoint of step {self.state.step}; see its log."
            )
        if not self.context.is_main:
            self.last_checkpoint = str(
                ckpt.checkpoints_root(self.output_dir) / f"step-{self.state.step}"
            )
        self.control.should_save = False
        self.event.step, self.event.checkpoint = self.state.step, self.last_checkpoint
        self.fire("on_save")

    def _gather_states(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Full (unsharded, CPU) model and optimizer state under FSDP2; local ones otherwise."""
        if not self.context.sharded:
            return None, self.optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full = get_model_state_dict(self.lm, options=options)
        prefix = "causal_lm."
        model_state = {k.removeprefix(prefix): v for k, v in full.items()}
        return model_state, get_optimizer_state_dict(self.lm, self.optimizer, options=options)

    def _write_checkpoint(
        self,
        folder: Path,
        model_state: dict[str, Any] | None,
        optimizer_state: dict[str, Any],
        *,
        full_state: bool = True,
    ) -> None:
        with _use_cache_enabled(self.model):
            if model_state is not None:
                exported = self.adapter.export_state_dict(self.model, model_state)
                self.model.save_pretrained(folder, state_dict=exported)
            else:
                self.adapter.export_model(self.model).save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        self.adapter.save_extra(self.model, folder)
        write_model_card(folder, self.card_facts())
        ckpt.write_training_state(
            folder,
            state=self.state,
            params=self.params,
            optimizer_state=optimizer_state,
            scheduler_state=self.scheduler.state_dict(),
            scaler_state=self.scaler.state_dict() if self.scaler is not None else None,
            full_state=full_state,
        )

    # --- helpers --------------------------------------------------------------------

    def card_facts(self) -> CardFacts:
        """What the model card of a checkpoint says (engine/model_card.py)."""
        from .. import __version__
        from ..hub import is_hub_id

        if getattr(self, "_data_facts", None) is None:  # hashed once per run
            given = self.inputs
            hub_data = given.data_path if is_hub_id(given.data_path, data=True) else None
            self._data_facts: DataFacts | None = data_facts(
                given.data_path, self.params.data_path, len(self.dataset), hub_id=hub_data,
                subset=given.data_subset, split=given.data_split, revision=given.data_revision,
            )
        evaluation = self.last_evaluation or {}
        return CardFacts(
            base_model=self.inputs.model_path,
            base_model_is_hub_id=is_hub_id(self.inputs.model_path),
            algorithm=self.names[0] or "sft",
            backend=self.names[1] or "native",
            version=__version__,
            step=self.state.step,
            epoch=self.state.epoch,
            data=self._data_facts,
            final_loss=self.state.last_loss,
            val_loss=evaluation.get("val_loss"),
            params=self.inputs.to_dict(),
        )

    def result(self) -> TrainResult:
        elapsed = self.state.elapsed_s
        return TrainResult(
            final_loss=self.state.last_loss,
            steps=self.state.step,
            epochs=self.state.epoch,
            tokens=self.state.tokens_seen,
            elapsed_s=elapsed,
            tokens_per_second=self.state.tokens_seen / elapsed if elapsed > 0 else 0.0,
            checkpoints=list(self.checkpoints_written),
            last_checkpoint=self.last_checkpoint,
            output_dir=str(self.output_dir),
            metrics_path=str(self.output_dir / "metrics.jsonl"),
            best_checkpoint=self.best_checkpoint,
            stopped_early=self.stopped_early,
        )

    def _use_liger(self) -> bool:
        wanted = self.params.use_liger
        available = self.device.type == "cuda" and liger_available()
        if wanted and not available:
            raise ParameterError(
                "use_liger=True needs a CUDA GPU and the liger-kernel package. Install "
                "liger-kernel, or set use_liger=None (auto) or False."
            )
        return available if wanted is None else wanted

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = self.precision.compute_dtype
        if self.context.sharded or dtype == torch.float32:
            return contextlib.nullcontext()  # FSDP2's mixed-precision policy casts instead
        return torch.autocast(self.device.type, dtype=dtype)

    def _note(self, message: str) -> None:
        if self.metrics is not None:
            self.metrics.note(message)
        elif self.context.is_main:
            logger.info(message)


@contextlib.contextmanager
def _use_cache_enabled(model: Any) -> Any:
    """Checkpoints are for inference: save them with the KV cache enabled in config.json."""
    config = model.config
    previous = getattr(config, "use_cache", None)
    config.use_cache = True
    try:
        yield
    finally:
        config.use_cache = previous


def _configure_console_logging() -> None:
    """Show the engine's INFO lines when the application configured no logging."""
    engine_logger = logging.getLogger("training_hub")
    if not engine_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        engine_logger.addHandler(handler)
        engine_logger.setLevel(logging.INFO)


def step_batcher(params: TrainingParams, dataset: Any, *, world_size: int, rank: int,
                 pad_token_id: int = 0) -> StepBatcher:
    """The steps of a run of ``params`` over ``dataset``, as the training loop plans them
    (also what ``--dry-run`` and the time estimate count)."""
    return StepBatcher(
        dataset,
        effective_batch_size=params.effective_batch_size,
        max_tokens_per_gpu=params.max_tokens_per_gpu,
        num_epochs=params.num_epochs,
        seed=params.seed,
        world_size=world_size,
        rank=rank,
        pad_token_id=pad_token_id,
        max_samples_per_micro_batch=max_samples_per_micro_batch(params),
    )


def dry_run(params: TrainingParams) -> dict[str, Any]:
    """Dataset statistics and the resolved run configuration, without loading the model."""
    from ..hub import resolve_inputs

    params = resolve_inputs(params)  # Hub ids and data sets: local paths
    tokenizer = load_tokenizer(params)
    dataset, validation = load_run_data(params, tokenizer)
    world_size = params.nproc_per_node * params.nnodes
    batcher = step_batcher(params, dataset, world_size=world_size, rank=0)
    total_steps = params.max_steps or batcher.total_steps
    first_plan = batcher.plan_step(0, 0)
    device = resolve_device(params)
    return {
        "dataset": dataset.stats.to_dict(),
        "validation": validation.stats.to_dict() if validation is not None else None,
        "world_size": world_size,
        "steps_per_epoch": batcher.steps_per_epoch,
        "total_steps": total_steps,
        "micro_batches_per_step": len(first_plan[0]),
        "device": device.type,
        "dtype": resolve_precision(params, device).name,
        "resume_from": str(ckpt.resolve_resume_checkpoint(params) or "") or None,
        "params": params.to_dict(),
    }
