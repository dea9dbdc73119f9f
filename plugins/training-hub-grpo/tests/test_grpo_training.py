"""grpo and lora_grpo train a real tiny model on CPU through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_hub_grpo.testing import make_reverse_task

from training_hub import create_algorithm
from training_hub.engine.run_lock import LOCK_FILENAME, OutputDirInUseError
from training_hub.testing.locks import held_run_lock


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_reverse_task(tmp_path_factory.mktemp("reverse"), warmup_steps=10, prompts=16,
                             held_out=8)


def _run(algorithm: str, task: dict[str, Path], out: Path, **extra):
    settings = dict(
        model_path=str(task["model"]), data_path=str(task["train"]),
        eval_data_path=str(task["eval"]), ckpt_output_dir=str(out),
        reward_fn="training_hub_grpo.testing:reverse_reward", group_size=4,
        prompt_batch_size=4, max_tokens=6, temperature=1.0, max_steps=2, device="cpu",
        quiet=True, num_threads=1)
    return create_algorithm(algorithm).train(**{**settings, **extra})


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


def test_a_live_run_holds_the_output_dir(task: dict[str, Path], tmp_path: Path) -> None:
    """A second run into the ckpt_output_dir of a live one is refused with sft's message;
    the lock of a run that died does not block, and a finished run leaves none."""
    output = tmp_path / "out"
    with held_run_lock(output) as holder:  # killed at the end: its lock file stays behind
        with pytest.raises(OutputDirInUseError, match=f"pid {holder.pid}") as refused:
            _run("grpo", task, output, max_steps=1)
        message = str(refused.value)
        assert str(output) in message and "choose another ckpt_output_dir" in message
        assert not (output / "checkpoints").exists() and not (output / "metrics.jsonl").exists()
    assert (output / LOCK_FILENAME).is_file()
    result = _run("grpo", task, output, max_steps=1)
    assert result.steps == 1 and len(result.reward_history) == 1
    assert not (output / LOCK_FILENAME).exists()
