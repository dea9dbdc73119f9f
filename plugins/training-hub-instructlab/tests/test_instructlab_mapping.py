"""sft parameters -> instructlab-training's real TrainingArgs/TorchrunArgs, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub import AlgorithmRegistry, BackendUnavailableError, ParameterError
from training_hub._params import validate_params
from training_hub.training_params import TrainingParams

pytest.importorskip(
    "instructlab.training.config",
    reason="instructlab-training is not installed: pip install 'instructlab-training>=0.15.2'",
)

from training_hub_instructlab.backend import InstructLabTrainingSFTBackend
from training_hub_instructlab.mapping import RDZV_ID, to_instructlab_args


def _params(tmp_path: Path, **values: object) -> TrainingParams:
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": str(tmp_path / "o")}
    params = validate_params(TrainingParams, {**base, **values})
    assert isinstance(params, TrainingParams)
    return params


def test_every_mapped_field_lands_in_the_library_config(tmp_path: Path) -> None:
    params = _params(
        tmp_path, num_epochs=3, effective_batch_size=16, max_tokens_per_gpu=8192,
        max_seq_len=1024, learning_rate=3e-5, warmup_steps=7, weight_decay=0.01,
        adam_beta1=0.8, adam_beta2=0.99, adam_eps=1e-6, seed=5, save_every=10, keep_last_n=1,
        use_liger=False, data_workers=3, trust_remote_code=True, tensorboard=False,
        data_cache_dir=str(tmp_path / "cache"), nproc_per_node=4, nnodes=2, node_rank=1,
        master_addr="10.0.0.1", master_port=29600,
    )
    torchrun, train = to_instructlab_args(params)
    assert type(train).__module__ == "instructlab.training.config"
    assert (torchrun.nproc_per_node, torchrun.nnodes, torchrun.node_rank) == (4, 2, 1)
    assert (torchrun.master_addr, torchrun.master_port) == ("10.0.0.1", 29600)
    assert torchrun.rdzv_endpoint is None and torchrun.rdzv_id == RDZV_ID
    assert train.model_path == "m" and train.data_path == "d.jsonl"
    assert train.ckpt_output_dir == str(tmp_path / "o")
    assert train.data_output_dir == str(tmp_path / "cache")
    assert (train.num_epochs, train.effective_batch_size) == (3, 16)
    assert (train.max_batch_len, train.max_seq_len) == (8192, 1024)
    assert train.learning_rate == 3e-5 and train.warmup_steps == 7
    assert train.adamw_weight_decay == 0.01
    assert train.adamw_betas == (0.8, 0.99) and train.adamw_eps == 1e-6
    assert train.random_seed == 5
    assert train.save_samples == 160  # 10 steps x 16 samples
    assert train.keep_last_checkpoint_only is True
    assert train.use_liger is False and train.trust_remote_code is True
    assert train.data_process_num_cpu_procs == 3
    assert train.tensorboard_log_dir is None
    assert train.checkpoint_at_epoch is True and train.accelerate_full_state_at_epoch is True
    assert train.lora is None


def test_defaults_and_rendezvous_endpoint(tmp_path: Path) -> None:
    torchrun, train = to_instructlab_args(_params(tmp_path, rdzv_endpoint="head:29400"))
    assert torchrun.rdzv_endpoint == "head:29400"
    assert torchrun.master_addr is None and torchrun.master_port is None
    assert train.save_samples == 0  # saving by samples disabled: save_every unset
    assert train.keep_last_checkpoint_only is False
    assert train.data_output_dir == str(tmp_path / "o" / "instructlab-data")
    assert 1 <= train.data_process_num_cpu_procs <= 8


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"lr_scheduler": "linear"}, "lr_scheduler='linear'"),
        ({"max_steps": 5}, "max_steps=5"),
        ({"gradient_checkpointing": False}, "gradient_checkpointing=False"),
        ({"device": "cpu"}, "device='cpu'"),
        ({"dtype": "fp32"}, "dtype='fp32'"),
        ({"keep_last_n": 3}, "keep_last_n=3"),
        ({"truncate": True}, "truncate=True"),
        ({"checkpoint_at_epoch": False}, "save_final_checkpoint=True with checkpoint_at_epoch"),
    ],
)
def test_unhonoured_values_are_refused(tmp_path: Path, values: dict, named: str) -> None:
    with pytest.raises(ParameterError, match="cannot honour") as info:
        InstructLabTrainingSFTBackend().check_params(_params(tmp_path, **values))
    assert named in str(info.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    params = _params(tmp_path, lr_scheduler="constant", max_grad_norm=0.5, quiet=True)
    with pytest.raises(ParameterError) as info:
        InstructLabTrainingSFTBackend().check_params(params)
    message = str(info.value)
    assert "lr_scheduler='constant'" in message
    assert "max_grad_norm=0.5" in message
    assert "quiet=True" in message


def test_saved_full_state_with_resume_none_is_refused(tmp_path: Path) -> None:
    (tmp_path / "o" / "full_state" / "samples_64").mkdir(parents=True)
    with pytest.raises(ParameterError, match="always resumes from"):
        InstructLabTrainingSFTBackend().check_params(_params(tmp_path, overwrite=True))


def test_cpu_only_machine_gets_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU-only refusal does not apply")
    with pytest.raises(BackendUnavailableError, match="needs a CUDA GPU.*--backend native"):
        InstructLabTrainingSFTBackend().check_params(_params(tmp_path))


def test_through_the_registry_default_parameters_reach_the_cuda_check(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU-only refusal does not apply")
    from training_hub import create_algorithm

    AlgorithmRegistry.reset()
    algorithm = create_algorithm("sft", "instructlab-training")
    with pytest.raises(BackendUnavailableError, match="needs a CUDA GPU"):
        algorithm.train(model_path="m", data_path="d.jsonl",
                        ckpt_output_dir=str(tmp_path / "o"))
