"""grpo and lora_grpo train a real tiny model on CPU through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_hub_grpo.testing import make_reverse_task

from training_hub import create_algorithm


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_reverse_task(tmp_path_factory.mktemp("reverse"), warmup_steps=10, prompts=16,
                             held_out=8)


def _run(algorithm: str, task: dict[str, Path], out: Path, **extra):
    return create_algorithm(algorithm).train(
        model_path=str(task["model"]), data_path=str(task["train"]),
        eval_data_path=str(task["eval"]), ckpt_output_dir=str(out),
        reward_fn="training_hub_grpo.testing:reverse_reward", group_size=4,
        prompt_batch_size=4, max_tokens=6, temperature=1.0, max_steps=2, device="cpu",
        quiet=True, num_threads=1, **extra)


def test_grpo_trains_and_saves_an_hf_checkpoint(task: dict[str, Path], tmp_path: Path) -> None:
    seen = []
    result = _run("grpo", task, tmp_path / "out", learning_rate=1e-3,
                  iteration_callback=lambda step, metrics: seen.append(metrics))
    assert result.steps == 2 and len(result.reward_history) == 2
    assert [m["step"] for m in seen] == [1, 2]
    assert 0.0 <= seen[0]["reward"] <= 1.0 and "rewards/reverse_reward/mean" in seen[0]
    assert seen[0]["importance_ratio_mean"] == 1.0  # one update per generation batch
    assert [step for step, _ in result.eval_history] == [0, 2]
    checkpoint = Path(result.last_checkpoint)
    assert (checkpoint / "config.json").is_file() and any(checkpoint.glob("*.safetensors"))
    assert (checkpoint / "training_state").is_dir()  # optimizer, schedule, position, RNGs
    assert result["checkpoint_path"] == str(checkpoint)


def test_same_seed_same_rollouts(task: dict[str, Path], tmp_path: Path) -> None:
    first = _run("grpo", task, tmp_path / "a", iterations_per_batch=2)
    second = _run("grpo", task, tmp_path / "b", iterations_per_batch=2)
    assert first.reward_history == second.reward_history


def test_lora_grpo_saves_a_peft_adapter(task: dict[str, Path], tmp_path: Path) -> None:
    result = _run("lora_grpo", task, tmp_path / "out", lora_r=4, target_modules="q_proj,v_proj",
                  beta=0.05)
    checkpoint = Path(result.last_checkpoint)
    assert (checkpoint / "adapter_config.json").is_file()
    assert (checkpoint / "adapter_model.safetensors").is_file()
