"""``SentenceTransformersBackend``: embedding_sft over sentence-transformers'
``SentenceTransformerTrainer`` (an HF Trainer), with training-hub's callbacks bridged in.

The same data, losses, samplers, schedule and retrieval metrics as the native
backend; what sentence-transformers does differently is that it pads each batch
column and tokenizes in its collator every step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from .algorithm import EmbeddingSFTParams
from .result import EmbeddingResult
from .run import EmbeddingBackend, RunEvents, load_run_data, prefixed, with_local_model

__all__ = ["SentenceTransformersBackend"]

logger = logging.getLogger("training_hub.embedding")


class SentenceTransformersBackend(EmbeddingBackend):
    """Contrastive training with sentence-transformers (padded batches)."""

    requires: ClassVar[tuple[str, ...]] = ("sentence-transformers>=5.0",)
    backend_name = "sentence-transformers"

    def run(self, params: Any, callbacks: Sequence[Any] = ()) -> EmbeddingResult:
        import torch
        from datasets import Dataset
        from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
        from transformers import PrinterCallback

        from .evaluation import evaluate_retrieval

        params = with_local_model(params)  # a Hub id: its folder in the Hub cache
        data = load_run_data(params, lambda examples, sampler: -(-len(examples)
                                                                  // params.batch_size))
        on_gpu = torch.cuda.is_available()
        custom = data.loss.sentence_transformers_loss
        if custom is not None and not isinstance(custom, type):
            model = custom.model  # a loss instance carries the model it was built for
        else:
            model = SentenceTransformer(params.model_path, device="cuda" if on_gpu else "cpu")
        if params.max_seq_length is not None:
            model.max_seq_length = params.max_seq_length
        truncated = _count_truncated(model, data.train.rows)
        if truncated:
            logger.warning("embedding_sft: %d training texts are longer than %d tokens and are "
                           "truncated (max_seq_length).", truncated, model.max_seq_length)
        loss = _build_loss(model, data.loss, params)
        step_losses: list[float] = []
        loss.register_forward_hook(lambda module, inputs, output:
                                   step_losses.append(float(output.detach())))

        def encode(texts: Sequence[str]) -> Any:
            return model.encode(list(texts), convert_to_tensor=True, batch_size=256,
                                show_progress_bar=False)

        # metrics.jsonl and the other trackers log the on_log / on_evaluate records.
        output_dir = Path(params.ckpt_output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        events = RunEvents(callbacks, params, self.backend_name, data.total_steps)
        events.fire("on_train_begin", step=0, epoch=0)
        metrics_before: dict[str, float] = {}
        if data.evaluation is not None:
            metrics_before = evaluate_retrieval(encode, data.evaluation)
            events.fire("on_evaluate", step=0, metrics=prefixed(metrics_before))

        bridge = _bridge(events, step_losses, data, encode)
        trainer = SentenceTransformerTrainer(
            model=model,
            args=_training_arguments(params, data, on_gpu),
            train_dataset=Dataset.from_dict(_columns(data.train)),
            loss=loss,
            callbacks=[bridge],
        )
        trainer.remove_callback(PrinterCallback)  # metrics go to metrics.jsonl and on_log
        trainer.train()
        model.save_pretrained(str(output_dir))
        events.fire("on_save", checkpoint=str(output_dir))
        metrics_after: dict[str, float] = {}
        if data.evaluation is not None:
            metrics_after = evaluate_retrieval(encode, data.evaluation)
            events.fire("on_evaluate", step=trainer.state.global_step,
                        metrics=prefixed(metrics_after))
        seconds = bridge.train_seconds()
        result = EmbeddingResult(
            status="success", model_path=str(output_dir), num_samples=len(data.train),
            num_epochs=params.num_epochs, loss=data.loss.name, backend=self.backend_name,
            global_step=trainer.state.global_step,
            final_loss=step_losses[-1] if step_losses else None, losses=step_losses,
            metrics_before=metrics_before, metrics_after=metrics_after,
            examples_per_second=bridge.examples / seconds if seconds else 0.0,
            truncated_texts=truncated,
            stopped_early=trainer.state.global_step < data.total_steps,
        )
        events.fire("on_train_end", result=result)
        return result


def _columns(examples: Any) -> dict[str, list[Any]]:
    if examples.kind == "labels":
        return {"text": [row[0] for row in examples.rows], "label": examples.labels}
    names = ("anchor", "positive", "negative")[:len(examples.rows[0])]
    return {name: [row[i] for row in examples.rows] for i, name in enumerate(names)}


def _count_truncated(model: Any, rows: Sequence[tuple[str, ...]]) -> int:
    texts = list(dict.fromkeys(text for row in rows for text in row))
    lengths = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
    return sum(length > model.max_seq_length for length in lengths)


def _build_loss(model: Any, resolved: Any, params: EmbeddingSFTParams) -> Any:
    from sentence_transformers.sentence_transformer import losses

    name = resolved.name
    if resolved.sentence_transformers_loss is not None:
        loss = resolved.sentence_transformers_loss
        return loss(model) if isinstance(loss, type) else loss
    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, scale=params.mnrl_scale)
    if name == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=params.mnrl_scale, mini_batch_size=params.mini_batch_size)
    if name == "batch_all_triplet":
        return losses.BatchAllTripletLoss(model, margin=params.triplet_margin)
    if name == "batch_hard_triplet":
        return losses.BatchHardTripletLoss(model, margin=params.triplet_margin)
    return _EmbeddingFunctionLoss(model, resolved.fn)


def _embedding_function_loss_class() -> type:
    import torch

    class EmbeddingFunctionLoss(torch.nn.Module):
        """A training-hub embedding loss ``fn(embeddings, labels)`` as a sentence-transformers
        loss: one embedding tensor per input column."""

        def __init__(self, model: Any, fn: Any) -> None:
            super().__init__()
            self.model = model
            self.fn = fn

        def forward(self, sentence_features: Any, labels: Any) -> Any:
            embeddings = [self.model(f)["sentence_embedding"] for f in sentence_features]
            return self.fn(embeddings, labels)

    return EmbeddingFunctionLoss


def _EmbeddingFunctionLoss(model: Any, fn: Any) -> Any:
    return _embedding_function_loss_class()(model, fn)


def _training_arguments(params: EmbeddingSFTParams, data: Any, on_gpu: bool) -> Any:
    import torch
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    samplers = {"no_duplicates": BatchSamplers.NO_DUPLICATES,
                "group_by_label": BatchSamplers.GROUP_BY_LABEL,
                "default": BatchSamplers.BATCH_SAMPLER}
    return SentenceTransformerTrainingArguments(
        output_dir=params.ckpt_output_dir,
        num_train_epochs=params.num_epochs,
        max_steps=params.max_steps or -1,
        per_device_train_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        warmup_steps=params.warmup_ratio,  # a float < 1 is a ratio of the steps
        weight_decay=params.weight_decay,
        max_grad_norm=params.max_grad_norm,
        seed=params.seed,
        batch_sampler=samplers[data.sampler],
        logging_steps=params.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
    )


def _bridge(events: RunEvents, step_losses: list[float], data: Any, encode: Any) -> Any:
    """A TrainerCallback firing training-hub's events and honouring their control flags."""
    from transformers import TrainerCallback

    from .evaluation import evaluate_retrieval

    class Bridge(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.examples = 0
            self.started = 0.0
            self.ended = 0.0
            self.steering = 0.0

        def train_seconds(self) -> float:
            return self.ended - self.started - self.steering

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # training-hub's on_train_begin was fired before the first evaluation.
            self.started = time.perf_counter()

        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            events.fire("on_epoch_begin", epoch=int(state.epoch or 0))

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            events.fire("on_step_begin", step=state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.ended = time.perf_counter()
            self.examples += args.per_device_train_batch_size
            lr = kw["lr_scheduler"].get_last_lr()[0] if kw.get("lr_scheduler") else None
            events.fire("on_step_end", step=state.global_step, epoch=int(state.epoch or 0),
                        loss=step_losses[-1] if step_losses else None, learning_rate=lr)
            self._steer(state, control)

        def _steer(self, state: Any, control: Any) -> None:
            ours = events.control
            started = time.perf_counter()
            if ours.should_training_stop:
                control.should_training_stop = True
            if ours.should_save:
                ours.should_save = False
                control.should_save = True  # the Trainer writes checkpoint-N, then on_save
            if ours.should_evaluate:
                ours.should_evaluate = False
                metrics = evaluate_retrieval(encode, data.evaluation) if data.evaluation else {}
                events.fire("on_evaluate", metrics=prefixed(metrics))
            self.steering += time.perf_counter() - started

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kw: Any) -> None:
            if logs and "loss" in logs:
                record = {"loss": float(logs["loss"]),
                          "lr": float(logs.get("learning_rate", 0.0))}
                events.fire("on_log", step=state.global_step, epoch=int(state.epoch or 0),
                            metrics=record)

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            events.fire("on_save", checkpoint=str(folder))

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            events.fire("on_epoch_end", epoch=int(state.epoch or 1) - 1)

    return Bridge()
