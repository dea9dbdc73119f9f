"""training-hub-grpo passes the plugin contract, with a smoke training of grpo and lora_grpo
on `native` (the trl backends are checked without training: tests/test_grpo_trl.py trains
them)."""

from __future__ import annotations

from pathlib import Path

import torch
from training_hub_grpo.testing import make_reverse_task

from training_hub.testing.contract import check_distribution


def test_training_hub_grpo_contract_with_native_smoke_training(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    task = make_reverse_task(tmp_path / "task", warmup_steps=2, prompts=8, held_out=4)
    smoke = {
        "model_path": str(task["model"]), "data_path": str(task["train"]),
        "ckpt_output_dir": str(tmp_path / "out"), "overwrite": True,
        "reward_fn": "training_hub_grpo.testing:reverse_reward", "group_size": 2,
        "prompt_batch_size": 2, "max_tokens": 4, "max_steps": 2, "device": "cpu",
        "num_threads": 1, "quiet": True, "tensorboard": False,
    }
    report = check_distribution("training-hub-grpo", smoke_params=smoke,
                                smoke_backends=lambda algorithm, backend: backend == "native")
    assert report.problems == []
    assert "smoke training of grpo/native returned GRPOResult" in report.notes
    assert "smoke training of lora_grpo/native returned GRPOResult" in report.notes
