"""The trl backends' parameter mapping, checked on the real installed TRL config classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_hub_trl.algorithm import DPOParams
from training_hub_trl.mapping import batch_layout, build_dpo_config, build_sft_config
from training_hub_trl.preference_data import read_preference_records

from training_hub import DataError, ParameterError, create_algorithm
from training_hub.training_params import TrainingParams

REQUIRED = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out"}


def test_sft_config_carries_our_values() -> None:
    params = TrainingParams(
        **REQUIRED, num_epochs=3, max_steps=50, effective_batch_size=32,
        max_tokens_per_gpu=2048, max_seq_len=512, learning_rate=3e-4, lr_scheduler="linear",
        warmup_steps=7, weight_decay=0.01, adam_beta1=0.8, adam_beta2=0.99, adam_eps=1e-6,
        max_grad_norm=0.5, seed=123, dtype="fp32", gradient_checkpointing=True,
        keep_last_n=2, logging_steps=5, quiet=True, tensorboard=False, device="cpu",
    )
    config = build_sft_config(params, output_dir="out/checkpoints")
    assert type(config).__name__ == "SFTConfig"
    assert config.output_dir == "out/checkpoints"
    assert (config.num_train_epochs, config.max_steps) == (3, 50)
    # 2048 // 512 = 4 samples per micro-batch at most -> 4 x 8 accumulation = 32
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (4, 8)
    assert config.learning_rate == 3e-4 and config.lr_scheduler_type == "linear"
    assert config.warmup_steps == 7 and config.weight_decay == 0.01
    assert (config.adam_beta1, config.adam_beta2, config.adam_epsilon) == (0.8, 0.99, 1e-6)
    assert config.max_grad_norm == 0.5
    assert config.seed == 123 and config.data_seed == 123
    assert config.bf16 is False and config.fp16 is False
    assert config.gradient_checkpointing is True
    assert config.save_strategy == "no" and config.save_total_limit == 2
    assert config.logging_steps == 5 and config.disable_tqdm is True
    assert config.use_cpu is True and config.report_to == []
    assert config.padding_free is True and config.packing is False and config.max_length is None
    assert config.assistant_only_loss is False


def test_sft_config_defaults_and_other_choices() -> None:
    params = TrainingParams(**REQUIRED, lr_scheduler="constant", max_grad_norm=None, dtype="bf16")
    config = build_sft_config(params, output_dir="o")
    assert config.max_steps == -1 and config.num_train_epochs == 1
    assert config.lr_scheduler_type == "constant_with_warmup"
    assert config.max_grad_norm == 0.0  # clipping off
    assert config.bf16 is True and config.fp16 is False
    assert config.gradient_checkpointing is False  # TRL's own default would be True
    # defaults: 4096 // 2048 = 2 per micro-batch, 8 samples per step
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (2, 4)


def test_dpo_config_carries_our_values() -> None:
    params = DPOParams(
        **REQUIRED, beta=0.3, loss_type="ipo", label_smoothing=0.1, effective_batch_size=6,
        max_seq_len=256, max_tokens_per_gpu=1024, learning_rate=5e-7, dtype="fp32",
    )
    config = build_dpo_config(params, output_dir="o")
    assert type(config).__name__ == "DPOConfig"
    assert config.beta == 0.3 and config.loss_type == ["ipo"] and config.label_smoothing == 0.1
    # a pair is 2 x 256 tokens -> 2 pairs per micro-batch -> 2 x 3 = 6
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (2, 3)
    assert config.learning_rate == 5e-7 and config.max_length is None
    assert config.bf16 is False and config.gradient_checkpointing is False


@pytest.mark.parametrize(
    ("batch", "budget", "per_sample", "world", "expected"),
    [(8, 4096, 2048, 1, (2, 4)), (6, 4096, 1024, 1, (3, 2)), (7, 4096, 512, 1, (7, 1)),
     (8, 512, 512, 2, (1, 4)), (12, 2048, 256, 2, (6, 1))],
)
def test_batch_layout(
    batch: int, budget: int, per_sample: int, world: int, expected: tuple[int, int]
) -> None:
    assert batch_layout(batch, budget, per_sample, world) == expected


def test_batch_layout_refuses_an_uneven_split() -> None:
    with pytest.raises(ParameterError, match="not divisible by the 4 training processes"):
        batch_layout(6, 4096, 512, 4)


def test_unmappable_sft_parameters_are_refused_together() -> None:
    algorithm = create_algorithm("sft", "trl")
    with pytest.raises(ParameterError) as caught:
        algorithm.train(**REQUIRED, nproc_per_node=2, on_nonfinite="skip", master_port=1234)
    message = str(caught.value)
    assert "nproc_per_node=2" in message and "accelerate launch" in message
    assert "on_nonfinite='skip'" in message and "master_port=1234" in message
    assert "docs/trl.md" in message


def test_unmappable_dpo_parameters_are_refused() -> None:
    algorithm = create_algorithm("dpo")
    assert type(algorithm.backend).__name__ == "TRLDPOBackend"  # trl is dpo's default
    with pytest.raises(ParameterError) as caught:
        algorithm.train(**REQUIRED, unmask=True, data_format="chat", max_seq_len=4096)
    message = str(caught.value)
    assert "unmask=True" in message and "data_format='chat'" in message
    assert "cannot hold one preference pair" in message


def test_preference_records_are_validated_with_locations(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    lines = [
        {"prompt": "hi", "chosen": "hello .", "rejected": "no ."},
        {"prompt": "hi", "chosen": "hello ."},
        {"prompt": "hi", "chosen": 3, "rejected": "no ."},
        {"chosen": [{"role": "user", "content": "hi"}], "rejected": "x"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DataError) as caught:
        read_preference_records(str(path))
    message = str(caught.value)
    assert "3 invalid preference record(s)" in message
    assert f"{path}:2: missing field(s) 'rejected'" in message
    assert f"{path}:3: field 'chosen' must be a string, got int" in message
    assert f"{path}:4: mixed formats" in message


def test_chat_preference_records_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    user = {"role": "user", "content": "hi"}
    record = {
        "chosen": [user, {"role": "assistant", "content": "hello ."}],
        "rejected": [user, {"role": "assistant", "content": "no ."}],
        "id": 7,
    }
    path.write_text(json.dumps(record) + "\n")
    rows, locations = read_preference_records(str(path))
    assert rows == [{"chosen": record["chosen"], "rejected": record["rejected"]}]
    assert locations == [f"{path}:1"]
