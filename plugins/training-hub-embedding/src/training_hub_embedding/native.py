"""``NativeEmbeddingBackend``: embedding_sft on training-hub's own loop, padding-free.

Reads top to bottom: read and check the data, load the encoder (its dropout
layers drawing cheaper masks on CPU, see dropout.py) and check it can be packed,
tokenize every text once, then per step pack the batch's texts into one row,
embed, pool, compute the loss (in GradCache chunks for cached_mnrl), AdamW step
with sentence-transformers' schedule (linear warmup and decay, gradient clipping
at 1.0). The model is saved in sentence-transformers format.
Retrieval metrics on eval_data_path before and after; callback events throughout.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from training_hub import ParameterError

from .algorithm import EmbeddingSFTParams
from .result import EmbeddingResult
from .run import (
    EmbeddingBackend,
    RunEvents,
    load_run_data,
    prefixed,
    warmup_steps,
    with_local_model,
)

__all__ = ["NativeEmbeddingBackend"]

logger = logging.getLogger("training_hub.embedding")


class NativeEmbeddingBackend(EmbeddingBackend):
    """Packed, padding-free contrastive training of Hugging Face encoders."""

    requires: ClassVar[tuple[str, ...]] = ("torch>=2.5", "transformers>=4.50")
    backend_name = "native"

    def check_params(self, params: Any) -> None:
        super().check_params(params)
        from .losses import resolve_loss

        loss = resolve_loss(params)
        if loss.fn is None:
            raise ParameterError(
                f"Loss '{loss.name}' is a sentence-transformers loss (it is built from the "
                "SentenceTransformer model), which the native backend cannot run. Use "
                "backend='sentence-transformers', or register a function "
                "fn(embeddings, labels) -> tensor instead."
            )

    def run(self, params: Any, callbacks: Sequence[Any] = ()) -> EmbeddingResult:
        import torch

        from .evaluation import evaluate_retrieval
        from .packing import check_packable, pack_texts
        from .sampling import epoch_batches

        params = with_local_model(params)  # a Hub id: its folder in the Hub cache
        random.seed(params.seed)
        torch.manual_seed(params.seed)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

        # --- the data (read and checked before the model is loaded) ---------------------
        data = load_run_data(params, lambda examples, sampler: math.ceil(
            len(epoch_batches(examples, params.batch_size, sampler, random.Random(0)))))

        # --- the model, and the data tokenized once ----------------------------------------
        encoder, tokenizer, layout, max_length = _load_encoder(params, device)
        check_packable(encoder, tokenizer, device)
        token_ids, truncated = _tokenize(tokenizer, data.train.rows, max_length)
        if truncated:
            logger.warning("embedding_sft: %d training texts are longer than %d tokens and "
                           "were truncated (max_seq_length).", truncated, max_length)

        def encode(texts: Sequence[str]) -> Any:
            encoder.eval()
            ids, _ = _tokenize(tokenizer, [(t,) for t in texts], max_length)
            chunks = [encoder(pack_texts(list(ids.values())[i:i + 256], device))
                      for i in range(0, len(ids), 256)]
            encoder.train()
            by_text = dict(zip(ids, torch.cat(chunks), strict=True))
            return torch.stack([by_text[t] for t in texts])

        # --- optimizer and schedule (as sentence-transformers / transformers do) -------
        optimizer = torch.optim.AdamW(
            encoder.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay,
            fused=device.type in ("cuda", "cpu") or None,
        )
        warmup = warmup_steps(params, data.total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: _linear_schedule(step, warmup, data.total_steps))

        # metrics.jsonl and the other trackers log the on_log / on_evaluate records.
        output_dir = Path(params.ckpt_output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        events = RunEvents(callbacks, params, self.backend_name, data.total_steps)
        events.fire("on_train_begin", step=0, epoch=0)
        metrics_before: dict[str, float] = {}
        if data.evaluation is not None:
            metrics_before = evaluate_retrieval(encode, data.evaluation)
            events.fire("on_evaluate", step=0, metrics=prefixed(metrics_before))

        # --- the loop ------------------------------------------------------------------
        encoder.train()
        rng = random.Random(params.seed)
        losses: list[float] = []
        step, examples_seen, train_seconds = 0, 0, 0.0
        epoch = 0
        while step < data.total_steps and not events.control.should_training_stop:
            events.fire("on_epoch_begin", epoch=epoch)
            for batch in epoch_batches(data.train, params.batch_size, data.sampler, rng):
                if step >= data.total_steps or events.control.should_training_stop:
                    break
                events.fire("on_step_begin", step=step)
                started = time.perf_counter()
                loss = _train_step(encoder, data, params, batch, token_ids, device)
                torch.nn.utils.clip_grad_norm_(encoder.parameters(), params.max_grad_norm)
                learning_rate = scheduler.get_last_lr()[0]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                value = float(loss)
                train_seconds += time.perf_counter() - started
                examples_seen += len(batch)
                step += 1
                losses.append(value)
                events.fire("on_step_end", step=step, epoch=epoch, loss=value,
                            learning_rate=learning_rate)
                if step % params.logging_steps == 0 or step == data.total_steps:
                    record = {"loss": value, "lr": learning_rate,
                              "examples_per_second": examples_seen / train_seconds}
                    events.fire("on_log", metrics=record)
                self._steer(events, encoder, tokenizer, layout, max_length, data, encode, step)
            events.fire("on_epoch_end", epoch=epoch)
            epoch += 1

        # --- save and evaluate ---------------------------------------------------------
        _save(encoder, tokenizer, layout, max_length, output_dir)
        events.fire("on_save", checkpoint=str(output_dir))
        metrics_after: dict[str, float] = {}
        if data.evaluation is not None:
            metrics_after = evaluate_retrieval(encode, data.evaluation)
            events.fire("on_evaluate", step=step, metrics=prefixed(metrics_after))
        result = EmbeddingResult(
            status="success", model_path=str(output_dir), num_samples=len(data.train),
            num_epochs=params.num_epochs, loss=data.loss.name, backend=self.backend_name,
            global_step=step, final_loss=losses[-1] if losses else None, losses=losses,
            metrics_before=metrics_before, metrics_after=metrics_after,
            examples_per_second=examples_seen / train_seconds if train_seconds else 0.0,
            truncated_texts=truncated, stopped_early=step < data.total_steps,
        )
        events.fire("on_train_end", result=result)
        return result

    def _steer(self, events: RunEvents, encoder: Any, tokenizer: Any, layout: Any,
               max_length: int, data: Any, encode: Any, step: int) -> None:
        """Act on the callbacks' save / evaluate requests at this step boundary."""
        from .evaluation import evaluate_retrieval

        control = events.control
        if control.should_save:
            control.should_save = False
            folder = Path(events.context.output_dir) / "checkpoints" / f"step-{step}"
            folder.mkdir(parents=True, exist_ok=True)
            _save(encoder, tokenizer, layout, max_length, folder)
            events.fire("on_save", checkpoint=str(folder))
        if control.should_evaluate:
            control.should_evaluate = False
            metrics = evaluate_retrieval(encode, data.evaluation) if data.evaluation else {}
            events.fire("on_evaluate", metrics=prefixed(metrics))


def _linear_schedule(step: int, warmup: int, total: int) -> float:
    """transformers' get_linear_schedule_with_warmup."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _load_encoder(params: EmbeddingSFTParams, device: Any) -> tuple[Any, Any, Any, int]:
    from transformers import AutoModel, AutoTokenizer

    from .dropout import use_fast_dropout
    from .packing import PackedEncoder, register_packed_encoder_attention
    from .st_format import read_layout

    layout = read_layout(params.model_path, params.pooling)
    tokenizer = AutoTokenizer.from_pretrained(str(layout.transformer_dir))
    if not getattr(tokenizer, "is_fast", False):
        raise ParameterError(f"{params.model_path}: the native backend needs a fast "
                             "(tokenizers) tokenizer; this one is a slow Python tokenizer.")
    try:
        model = AutoModel.from_pretrained(
            str(layout.transformer_dir), attn_implementation=register_packed_encoder_attention()
        )
    except ValueError as exc:
        raise ParameterError(
            f"{params.model_path}: this architecture cannot use the packed attention of the "
            f"native backend ({exc}). Train it with backend='sentence-transformers'."
        ) from None
    model.to(device)
    use_fast_dropout(model)  # the same dropout, with a cheaper mask on CPU
    limits = [n for n in (params.max_seq_length, layout.max_seq_length,
                          getattr(model.config, "max_position_embeddings", None)) if n]
    max_length = params.max_seq_length or min(limits)
    return PackedEncoder(model, layout.pooling, layout.normalize), tokenizer, layout, max_length


def _tokenize(tokenizer: Any, rows: Sequence[tuple[str, ...]],
              max_length: int) -> tuple[dict[str, list[int]], int]:
    """Token ids of every distinct text (with special tokens), truncated to ``max_length``,
    and how many were truncated."""
    texts = list(dict.fromkeys(text for row in rows for text in row))
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    truncated = sum(len(ids) > max_length for ids in encoded)
    if truncated:
        encoded = tokenizer(texts, add_special_tokens=True, truncation=True,
                            max_length=max_length)["input_ids"]
    return dict(zip(texts, encoded, strict=True)), truncated


def _train_step(encoder: Any, data: Any, params: EmbeddingSFTParams, batch: list[int],
                token_ids: dict[str, list[int]], device: Any) -> Any:
    """Forward and backward of one batch; returns the loss (gradients are accumulated)."""
    import torch

    from .packing import pack_texts

    rows = [data.train.rows[i] for i in batch]
    columns = len(rows[0])
    # Column-major: all anchors, then all positives (, negatives).
    texts = [row[c] for c in range(columns) for row in rows]
    ids = [token_ids[text] for text in texts]
    labels = None
    if data.train.labels is not None:
        labels = torch.tensor([data.train.labels[i] for i in batch], device=device)
    if not data.loss.cached:
        embeddings = encoder(pack_texts(ids, device))
        loss = data.loss.fn(list(embeddings.split(len(rows))), labels)
        loss.backward()
        return loss.detach()
    # GradCache: embed in chunks without a graph, take the loss's gradient with respect to
    # the embeddings, then re-embed each chunk (same dropout) and backpropagate that part.
    chunk = params.mini_batch_size
    states, parts = [], []
    with torch.no_grad():
        for start in range(0, len(ids), chunk):
            states.append(_rng_state(device))
            parts.append(encoder(pack_texts(ids[start:start + chunk], device)))
    cached = torch.cat(parts).requires_grad_()
    loss = data.loss.fn(list(cached.split(len(rows))), labels)
    loss.backward()
    assert cached.grad is not None
    after = _rng_state(device)
    for index, start in enumerate(range(0, len(ids), chunk)):
        _set_rng_state(device, states[index])
        part = encoder(pack_texts(ids[start:start + chunk], device))
        part.backward(cached.grad[start:start + chunk])
    _set_rng_state(device, after)
    return loss.detach()


def _rng_state(device: Any) -> tuple[Any, Any]:
    """The random state dropout draws from: the CPU generator's, and the GPU's on CUDA."""
    import torch

    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: Any, state: tuple[Any, Any]) -> None:
    import torch

    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _save(encoder: Any, tokenizer: Any, layout: Any, max_length: int, folder: Path) -> None:
    """The encoder, its tokenizer and the sentence-transformers files in ``folder``."""
    from .st_format import write_layout

    folder.mkdir(parents=True, exist_ok=True)
    model = encoder.model
    # Saved for transformers' default attention, so every loader can use it.
    implementation = model.config._attn_implementation
    model.config._attn_implementation = "sdpa"
    try:
        model.save_pretrained(str(folder))
    finally:
        model.config._attn_implementation = implementation
    tokenizer.save_pretrained(str(folder))
    write_layout(folder, dimension=model.config.hidden_size, pooling=encoder.pooling,
                 normalize=encoder.normalize, max_seq_length=max_length)
