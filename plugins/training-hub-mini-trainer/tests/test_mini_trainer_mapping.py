"""osft parameters -> mini-trainer's real TrainingArgs/TorchrunArgs, refusals, data check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub import BackendUnavailableError, DataError, ParameterError
from training_hub._params import validate_params

pytest.importorskip(
    "mini_trainer.training_types",
    reason="mini-trainer is not installed: pip install 'rhai-innovation-mini-trainer>=0.7.2'",
)
osft_algorithm = pytest.importorskip(
    "training_hub_osft.algorithm", reason="training-hub-osft (defines osft) is not installed"
)

from training_hub_mini_trainer.backend import MiniTrainerOSFTBackend  # noqa: E402
from training_hub_mini_trainer.data_check import check_tokenized_file  # noqa: E402
from training_hub_mini_trainer.mapping import RDZV_ID, to_mini_trainer_args  # noqa: E402


def _params(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": str(tmp_path / "o"),
            "unfreeze_rank_ratio": 0.25}
    return validate_params(osft_algorithm.OSFTParams, {**base, **values})


def test_every_mapped_field_lands_in_the_library_config(tmp_path: Path) -> None:
    params = _params(
        tmp_path, num_epochs=3, effective_batch_size=16, max_tokens_per_gpu=8192,
        learning_rate=3e-5, warmup_steps=7, lr_scheduler="constant", weight_decay=0.01,
        adam_beta1=0.8, adam_beta2=0.99, adam_eps=1e-6, seed=5, save_every=10,
        use_liger=False, trust_remote_code=True, dtype="fp32", checkpoint_at_epoch=False,
        target_patterns=["q_proj", "v_proj"], nproc_per_node=8, nnodes=2, node_rank=1,
        rdzv_endpoint="head:29400",
    )
    torchrun, train = to_mini_trainer_args(params, bf16_supported=True)
    assert type(train).__module__ == "mini_trainer.training_types"
    assert (torchrun.nproc_per_node, torchrun.nnodes, torchrun.node_rank) == (8, 2, 1)
    assert torchrun.rdzv_endpoint == "head:29400" and torchrun.master_addr is None
    assert torchrun.rdzv_id == RDZV_ID
    assert (train.model_name_or_path, train.data_path) == ("m", "d.jsonl")
    assert train.output_dir == str(tmp_path / "o")
    assert train.osft is True and train.osft_unfreeze_rank_ratio == 0.25
    assert train.osft_target_patterns == ["q_proj", "v_proj"]
    assert (train.batch_size, train.max_tokens_per_gpu) == (16, 8192)
    assert train.training_mode.value == "epoch" and train.max_epochs == 3
    assert train.learning_rate == 3e-5 and train.num_warmup_steps == 7
    assert train.lr_scheduler == "constant_with_warmup"
    assert (train.beta1, train.beta2, train.eps) == (0.8, 0.99, 1e-6)
    assert train.weight_decay == 0.01 and train.seed == 5
    assert train.min_samples_per_checkpoint == 160  # 10 steps x 16 samples
    assert train.use_liger_kernels is False and train.trust_remote_code is True
    assert train.train_dtype == "float32"
    assert train.checkpoint_at_epoch is False and train.save_final_checkpoint is True
    assert train.resume_from_full_state_checkpoint is None


def test_defaults_steps_and_auto_dtype(tmp_path: Path) -> None:
    params = _params(tmp_path, max_steps=40)
    torchrun, train = to_mini_trainer_args(params, bf16_supported=False)
    assert (torchrun.master_addr, torchrun.master_port) == ("127.0.0.1", 29500)
    assert train.training_mode.value == "step" and train.max_steps == 40
    assert train.train_dtype == "float32"  # auto without bf16 support
    assert to_mini_trainer_args(params, bf16_supported=True)[1].train_dtype == "bfloat16"
    assert train.lr_scheduler == "cosine"
    assert train.min_samples_per_checkpoint is None
    assert train.osft_target_patterns == list(osft_algorithm.DEFAULT_TARGET_PATTERNS)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"max_grad_norm": 0.5}, "max_grad_norm=0.5"),
        ({"gradient_checkpointing": False}, "gradient_checkpointing=False"),
        ({"device": "cpu"}, "device='cpu'"),
        ({"data_format": "chat"}, "data_format='chat'"),
        ({"resume": "latest"}, "resume='latest'"),
        ({"tensorboard": True}, "tensorboard=True"),
        ({"truncate": True}, "truncate=True"),
    ],
)
def test_unhonoured_values_are_refused(tmp_path: Path, values: dict, named: str) -> None:
    with pytest.raises(ParameterError, match="cannot honour") as info:
        MiniTrainerOSFTBackend().check_params(_params(tmp_path, **values))
    assert named in str(info.value)


def test_cpu_only_machine_gets_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU-only refusal does not apply")
    with pytest.raises(BackendUnavailableError, match="needs a CUDA GPU.*--backend native"):
        MiniTrainerOSFTBackend().check_params(_params(tmp_path))


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_tokenized_data_check_counts_and_names_the_bad_line(tmp_path: Path) -> None:
    good = {"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}
    assert check_tokenized_file(str(_write(tmp_path / "ok.jsonl", [good, good])), 3) == 2
    long = _write(tmp_path / "long.jsonl", [good, {"input_ids": [1] * 5, "labels": [1] * 5}])
    with pytest.raises(DataError, match=r"long.jsonl:2: sample of 5 tokens .* max_seq_len=4"):
        check_tokenized_file(str(long), 4)
    chat = _write(tmp_path / "chat.jsonl", [{"messages": []}])
    with pytest.raises(DataError, match=r"chat.jsonl:1: .*pre-tokenized"):
        check_tokenized_file(str(chat), 4)
    uneven = _write(tmp_path / "uneven.jsonl", [{"input_ids": [1, 2], "labels": [1]}])
    with pytest.raises(DataError, match=r"uneven.jsonl:1: `labels` has 1"):
        check_tokenized_file(str(uneven), 4)
    with pytest.raises(DataError, match=r"\.jsonl or \.json"):
        check_tokenized_file(str(tmp_path / "d.parquet"), 4)
