"""training_hub 0.11.2's documented calls run unchanged on the native engine (tiny models, CPU).

sft as the peer's example scripts call it, osft with unmask_messages, lora_sft with alpaca
records and ``result["model"]``, continual pre-training in fixed blocks, the engine
behaviour behind the peer names (save_samples, accelerate_full_state_at_epoch,
micro_batch_size, lr_scheduler_kwargs, enable_jit_checkpoint), and the peer's guides:
a callback that requests a stop (its callbacks docstring), validation_split (its
validation-loss guide), checkpoint_storage (its JIT-checkpointing guide), ``estimate``
(its examples README) and ``plot_loss`` (its plot_loss notebook) on the runs' own files.
"""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training_hub import (
    AlgorithmRegistry,
    TrainingHubCallback,
    TrainingHubContext,
    create_algorithm,
    estimate,
    lora_sft,
    osft,
    plot_loss,
    sft,
)
from training_hub.engine import checkpoint as ckpt
from training_hub.engine.data import load_training_data, tokenize_dataset
from training_hub.engine.signals import StopRequest
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl
from training_hub.training_params import TrainingParams

WORDS = "the cat is red . the dog is blue . one plus two equals three .".split()


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    AlgorithmRegistry.reset()
    folder = tmp_path_factory.mktemp("peer")
    tokenizer = make_tiny_tokenizer(folder / "model")
    make_tiny_model(folder / "model", tokenizer)
    return {"folder": folder, "model": folder / "model",
            "chat": write_chat_jsonl(folder / "chat.jsonl", 24)}


def _quiet(**extra: Any) -> dict[str, Any]:
    # not peer names: keep the runs short and quiet on a shared 2-core machine
    return {"quiet": True, "tensorboard": False, "device": "cpu", "num_threads": 1,
            "data_workers": 1, **extra}


def _metrics(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss" in r and "step" in r]


def test_sft_as_the_peer_example_scripts_call_it(assets: dict[str, Path], tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "processed"
    result = sft(
        model_path=str(assets["model"]), data_path=str(assets["chat"]),
        ckpt_output_dir=str(out),
        num_epochs=2, effective_batch_size=8, learning_rate=1e-3, max_seq_len=128,
        max_tokens_per_gpu=512,
        data_output_dir=str(cache), warmup_steps=0, save_samples=0,
        checkpoint_at_epoch=True, accelerate_full_state_at_epoch=False,
        nproc_per_node=1, nnodes=1, node_rank=0, rdzv_id=101,
        rdzv_endpoint="127.0.0.1:42067",
        beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0,
        lr_scheduler="cosine", lr_scheduler_kwargs={"min_lr_rate": 0.1},
        **_quiet(),
    )
    records = _metrics(out)
    assert result.steps == 6 and records[-1]["loss"] < records[0]["loss"]
    assert any(cache.iterdir()), "data_output_dir holds the processed data"
    # the epoch-1 checkpoint is model-only (accelerate_full_state_at_epoch=False); the final
    # one keeps the full state, and resume='latest' takes it
    steps = {c.step: ckpt.has_full_state(c.path) for c in ckpt.list_checkpoints(out)}
    assert steps == {3: False, 6: True}
    assert (out / "checkpoints/step-3/config.json").is_file()
    assert ckpt.find_latest_resumable_checkpoint(out) == out / "checkpoints/step-6"
    # min_lr_rate: cosine decay from 1e-3 to 1e-4 over the 6 steps (lr logged at step start)
    expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 6))
    assert records[-1]["lr"] == pytest.approx(1e-3 * expected, rel=1e-6)


def test_save_samples_checkpoints_every_n_samples(assets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    sft(model_path=str(assets["model"]), data_path=str(assets["chat"]),
        ckpt_output_dir=str(out), effective_batch_size=8, max_seq_len=128,
        max_tokens_per_gpu=512, learning_rate=1e-3, save_samples=16,
        checkpoint_at_epoch=False, save_final_checkpoint=False, **_quiet())
    # 24 samples in steps of 8: the 16th sample is seen at step 2 (and no 32nd)
    assert [c.step for c in ckpt.list_checkpoints(out)] == [2]


def test_osft_with_unmask_messages_trains_every_token(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    osft(model_path=str(assets["model"]), data_path=str(assets["chat"]),
         ckpt_output_dir=str(out), unfreeze_rank_ratio=0.25, effective_batch_size=8,
         max_tokens_per_gpu=512, max_seq_len=128, learning_rate=1e-3,
         unmask_messages=True, use_processed_dataset=False, target_patterns=None,
         data_output_dir=str(tmp_path / "cache"), max_steps=1, **_quiet())
    first = _metrics(out)[0]
    # every token but the last of each of the 8 samples (which has no next token) has loss
    assert first["num_loss_tokens"] == first["tokens"] - 8


def _write_alpaca(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ALPACA = [
    {"question": "what color is the cat ?", "context": "", "answer": "the cat is red ."},
    {"question": "what is one plus two ?", "context": "count them", "answer": "three ."},
] * 8


def test_alpaca_records_are_the_chat_they_stand_for(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets["model"])
    alpaca = _write_alpaca(tmp_path / "alpaca.jsonl", ALPACA[:2])
    chats = tmp_path / "chat.jsonl"
    chats.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": r["question"] + (f"\n\n{r['context']}" if r["context"]
                                                      else "")},
        {"role": "assistant", "content": r["answer"]}]}) + "\n" for r in ALPACA[:2]))
    names = {"question": "instruction", "context": "input", "answer": "output"}
    from_alpaca = tokenize_dataset(alpaca, tokenizer, data_format="alpaca",
                                   cache_dir=tmp_path / "c", field_names=names)
    from_chat = tokenize_dataset(chats, tokenizer, cache_dir=tmp_path / "c")
    assert np.array_equal(from_alpaca.input_ids, from_chat.input_ids)
    assert np.array_equal(from_alpaca.labels, from_chat.labels)


def test_lora_sft_with_alpaca_fields_and_result_model(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    data = _write_alpaca(tmp_path / "alpaca.jsonl", ALPACA)
    out = tmp_path / "out"
    call: dict[str, Any] = dict(
        model_path=str(assets["model"]), data_path=str(data), ckpt_output_dir=str(out),
        lora_r=8, lora_alpha=16, lora_dropout=0.0, num_epochs=2, learning_rate=5e-3,
        micro_batch_size=1, gradient_accumulation_steps=4, max_seq_len=128,
        dataset_type="alpaca", field_messages="messages", field_instruction="question",
        field_input="context", field_output="answer",
        load_in_4bit=False, load_in_8bit=False, bf16=True, sample_packing=True,
        logging_steps=1, save_steps=4, save_total_limit=3,
    )
    # micro_batch_size x gradient_accumulation_steps: 4 samples per step, 1 per micro-batch
    algorithm = create_algorithm("lora", "native")
    plan = algorithm.backend.dry_run(algorithm.validate_params({**call, **_quiet()}))
    assert plan["micro_batches_per_step"] == 4 and plan["steps_per_epoch"] == 4
    assert plan["dtype"] == "bf16"
    result = lora_sft(**call, **_quiet())
    records = _metrics(out)
    assert result.steps == 8 and records[-1]["loss"] < records[0]["loss"]
    assert len(ckpt.list_checkpoints(out)) <= 3  # save_total_limit
    model, tokenizer = result["model"], result["tokenizer"]
    assert type(model).__name__.startswith("Peft")
    assert tokenizer("the cat")["input_ids"]
    with pytest.raises(KeyError, match="no trainer object"):
        result["trainer"]


def _write_documents(path: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    rows = [{"text": " ".join(rng.choice(WORDS, size=int(rng.integers(5, 40))))}
            for _ in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pretraining_cuts_documents_into_fixed_blocks(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets["model"])
    data = _write_documents(tmp_path / "docs.jsonl", 12)
    common = dict(model_path=str(assets["model"]), data_path=str(data),
                  ckpt_output_dir=str(tmp_path / "o"), data_cache_dir=str(tmp_path / "c"),
                  document_column_name="text", max_seq_len=16)
    # the same documents as samples of their own (no blocks)
    whole = load_training_data(
        TrainingParams(**{**common, "max_seq_len": 4096}, max_tokens_per_gpu=4096), tokenizer
    )
    blocks = load_training_data(
        TrainingParams(**common, is_pretraining=True, block_size=16, max_tokens_per_gpu=64),
        tokenizer,
    )
    total = len(whole.input_ids)
    assert np.array_equal(blocks.input_ids, whole.input_ids)  # documents joined in order
    assert list(blocks.lengths) == [16] * (total // 16) + ([total % 16] if total % 16 else [])
    ends = np.cumsum(blocks.lengths) - 1
    assert (blocks.labels[ends] == -100).all()  # the next token lies in the next block
    inside = np.setdiff1d(np.arange(total), ends)
    assert np.array_equal(blocks.labels[inside], whole.labels[inside])
    result = sft(**{**common, "ckpt_output_dir": str(tmp_path / "out")}, is_pretraining=True,
                 block_size=16, max_tokens_per_gpu=64, effective_batch_size=4,
                 learning_rate=1e-3, max_steps=3, **_quiet())
    assert result.steps == 3 and math.isfinite(result.final_loss)


def test_enable_jit_checkpoint_false_leaves_signals_alone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest(enabled=False):
        assert signal.getsignal(signal.SIGTERM) is before
    with StopRequest():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_rdzv_id_reaches_torchrun(assets: dict[str, Path], tmp_path: Path) -> None:
    from training_hub.engine.launch import build_torchrun_command

    common = dict(model_path=str(assets["model"]), data_path=str(assets["chat"]),
                  ckpt_output_dir=str(tmp_path), nproc_per_node=2, nnodes=2,
                  rdzv_endpoint="head:1234")
    command = build_torchrun_command(TrainingParams(**common, rdzv_id=101), "p.json")
    assert "--rdzv_id=101" in command and "--rdzv_endpoint=head:1234" in command
    default = build_torchrun_command(TrainingParams(**common), "p.json")
    assert "--rdzv_id=training-hub" in default
    assert TrainingParams(**common, rdzv_id="job-7").torchrun_options()["rdzv_id"] == "job-7"


# --- the peer's guides: callbacks, validation loss, checkpoint storage, estimate, plot_loss


class StopAfterStep(TrainingHubCallback):
    """How the peer's callbacks ask for a stop: the control flag of the context."""

    stop_after = 3

    def on_step_end(self, context: TrainingHubContext) -> None:
        if context.step >= self.stop_after and context.control is not None:
            context.control.should_training_stop = True


class MetricsLogger(TrainingHubCallback):
    """The peer's callbacks docstring example, keeping what it would print."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, float | None, float | None]] = []
        self.evaluated: list[tuple[int, dict[str, Any]]] = []

    def on_log(self, context: TrainingHubContext) -> None:
        self.logged.append((context.step, context.loss, context.learning_rate))

    def on_evaluate(self, context: TrainingHubContext) -> None:
        self.evaluated.append((context.step, dict(context.metrics)))


def _validation_records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "val_loss" in r]


@pytest.fixture(scope="module")
def stopped_run(assets: dict[str, Path]) -> tuple[Path, Any, MetricsLogger]:
    out, logger = assets["folder"] / "stopped", MetricsLogger()
    result = sft(model_path=str(assets["model"]), data_path=str(assets["chat"]),
                 ckpt_output_dir=str(out), num_epochs=2, effective_batch_size=8,
                 learning_rate=1e-3, max_seq_len=128, max_tokens_per_gpu=512,
                 callbacks=[StopAfterStep(), logger], **_quiet())
    return out, result, logger


@pytest.fixture(scope="module")
def validated_run(assets: dict[str, Path]) -> tuple[Path, Any, MetricsLogger]:
    out, logger = assets["folder"] / "validated", MetricsLogger()
    result = sft(model_path=str(assets["model"]), data_path=str(assets["chat"]),
                 ckpt_output_dir=str(out), num_epochs=1, effective_batch_size=4,
                 learning_rate=1e-3, max_seq_len=128, max_tokens_per_gpu=512,
                 validation_split=0.25, validation_frequency=2, callbacks=[logger],
                 **_quiet())
    return out, result, logger


def test_a_callback_stops_the_run_at_the_step_it_asks(
    stopped_run: tuple[Path, Any, MetricsLogger]
) -> None:
    out, result, logger = stopped_run
    # 24 samples in steps of 8 over 2 epochs would be 6 steps: stopped after step 3
    assert result.steps == 3 and result.stopped_early
    records = _metrics(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert logger.logged == [(r["step"], r["loss"], r["lr"]) for r in records]
    # the stop saves the full state there: the run can go on with resume='latest'
    assert ckpt.find_latest_resumable_checkpoint(out) == out / "checkpoints/step-3"


def test_validation_split_holds_out_samples_and_logs_val_loss(
    validated_run: tuple[Path, Any, MetricsLogger]
) -> None:
    out, result, logger = validated_run
    # 25% of 24 samples held out: 18 train in steps of 4 (5 steps), 6 are evaluated after
    # steps 2 and 4 (validation_frequency) and after the last one
    assert result.steps == 5
    records = _validation_records(out)
    assert [r["step"] for r in records] == [2, 4, 5]
    assert all(r["val_num_samples"] == 6 and r["val_num_tokens"] > 0 for r in records)
    assert all(math.isfinite(r["val_loss"]) for r in records)
    assert [(step, m["val_loss"]) for step, m in logger.evaluated] == [
        (r["step"], r["val_loss"]) for r in records]
    assert records[-1]["val_loss"] < records[0]["val_loss"]


def test_osft_with_validation_split(assets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    osft(model_path=str(assets["model"]), data_path=str(assets["chat"]),
         ckpt_output_dir=str(out), unfreeze_rank_ratio=0.25, effective_batch_size=4,
         max_tokens_per_gpu=512, max_seq_len=128, learning_rate=1e-3, num_epochs=1,
         validation_split=0.25, validation_frequency=2, max_steps=2, **_quiet())
    (record,) = _validation_records(out)
    assert record["step"] == 2 and record["val_num_samples"] == 6
    assert math.isfinite(record["val_loss"])


def test_checkpoint_storage_mirrors_checkpoints_and_a_restart_resumes_from_it(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    from training_hub.engine.storage import RemoteCheckpoints

    bucket = f"file://{tmp_path}/bucket/run1"
    call: dict[str, Any] = dict(
        model_path=str(assets["model"]), data_path=str(assets["chat"]),
        effective_batch_size=8, learning_rate=1e-3, max_seq_len=128, max_tokens_per_gpu=512,
        enable_jit_checkpoint=True, checkpoint_storage=bucket, **_quiet())
    first = sft(ckpt_output_dir=str(tmp_path / "pod-a"), num_epochs=1, **call)
    assert first.steps == 3
    assert RemoteCheckpoints(bucket).complete_steps() == [3]
    stored = tmp_path / "bucket/run1"
    files = {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()}
    assert any(name.endswith("config.json") for name in files)
    assert any(name.endswith(".safetensors") for name in files)
    # a replacement pod with a blank volume runs the same call (two epochs now): the
    # checkpoint comes from the storage and steps 1-3 are not trained again
    fresh = tmp_path / "pod-b"
    again = sft(ckpt_output_dir=str(fresh), num_epochs=2, **call)
    assert again.steps == 6
    assert [r["step"] for r in _metrics(fresh)] == [4, 5, 6]
    assert RemoteCheckpoints(bucket).complete_steps() == [3, 6]
    # 'pvc' (the peer's name for the file system): local checkpoints only
    local = sft(ckpt_output_dir=str(tmp_path / "pvc"), num_epochs=1,
                **{**call, "checkpoint_storage": "pvc"})
    assert local.steps == 3 and ckpt.list_checkpoints(tmp_path / "pvc")


def test_estimate_as_the_peer_examples_call_it(
    assets: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    result = estimate(training_method="osft", num_gpus=2, model_path=str(assets["model"]),
                      max_tokens_per_gpu=8192, use_liger=True, verbose=2,
                      unfreeze_rank_ratio=0.25)
    low, expected, high = result  # the peer's return value
    assert 0 < low <= expected <= high
    printed = capsys.readouterr().out
    assert "GiB" in printed  # verbose=2 prints the breakdown
    figures = result.to_dict()
    assert figures["training_method"] == "osft" and figures["num_gpus"] == 2
    assert figures["tokens_per_gpu"] == 8192
    parts = ("weights", "gradients", "optimizer_states", "adapter_buffers", "activations",
             "lm_head")
    assert all(figures[name] >= 0 for name in parts) and figures["weights"] > 0
    assert figures["fits"] is (expected <= figures["gpu_memory"])
    # FSDP2 across num_gpus: on 2 GPUs each holds half the gradients and optimizer states
    one = estimate(training_method="osft", num_gpus=1, model_path=str(assets["model"]),
                   max_tokens_per_gpu=8192, verbose=0, unfreeze_rank_ratio=0.25)
    assert (2 * result.gradients, 2 * result.optimizer_states) == (
        one.gradients, one.optimizer_states)
    assert result.weights < one.weights and result.activations == one.activations
    lora = estimate(training_method="lora", num_gpus=1, model_path=str(assets["model"]),
                    max_tokens_per_gpu=1024, verbose=0, lora_r=8)
    assert 0 < lora.trainable_parameters < lora.parameters


def _figure_lines(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, tuple[list[float], ...]]]:
    """Each saved figure's lines on its first Axes, {label: (x, y)}, read as it is saved."""
    from matplotlib.figure import Figure

    saved: list[dict[str, tuple[list[float], ...]]] = []
    save = Figure.savefig

    def record(self: Figure, *args: Any, **kwargs: Any) -> Any:
        saved.append({line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                      for line in self.axes[0].get_lines()})
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def test_plot_loss_as_the_peer_notebook_calls_it(
    stopped_run: tuple[Path, Any, MetricsLogger],
    validated_run: tuple[Path, Any, MetricsLogger],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("matplotlib")
    figures = _figure_lines(monkeypatch)
    validated, stopped = validated_run[0], stopped_run[0]
    path = plot_loss(str(validated))  # loss_plot.png in the run folder
    assert path == str(validated / "loss_plot.png") and Path(path).is_file()
    records, val = _metrics(validated), _validation_records(validated)
    assert figures[0] == {
        "validated (loss)": ([r["step"] for r in records], [r["loss"] for r in records]),
        "validated (val_loss)": ([r["step"] for r in val], [r["val_loss"] for r in val]),
    }
    out = tmp_path / "comparison.png"
    plot_loss([str(validated), str(stopped)], labels=["with validation", "stopped"],
              ema=True, output_path=str(out))
    assert out.is_file()
    lines = figures[1]
    assert list(lines) == ["with validation (loss)", "with validation (EMA 30)",
                           "with validation (val_loss)", "stopped (loss)", "stopped (EMA 30)"]
    assert lines["stopped (loss)"][1] == [r["loss"] for r in _metrics(stopped)]
