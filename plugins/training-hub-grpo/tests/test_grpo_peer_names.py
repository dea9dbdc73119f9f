"""training_hub 0.11.2's grpo/lora_grpo parameters here: each one an alias, a real field
that takes effect, or one clear error before training (never ignored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from training_hub_grpo import trl_backend
from training_hub_grpo.params import GRPOParams, LoRAGRPOParams
from training_hub_grpo.testing import make_reverse_task

import training_hub
from training_hub._errors import ParameterError
from training_hub._params import validate_params

BASE = {"model_path": "m", "data_path": "p.jsonl", "ckpt_output_dir": "out",
        "reward_fn": "exact_match"}


@pytest.mark.parametrize(("schema", "given", "expected"), [
    (GRPOParams, {"data_config": "Qwen3"}, {"data_subset": "Qwen3"}),
    (LoRAGRPOParams, {"data_config": "Qwen3"}, {"data_subset": "Qwen3"}),
    (LoRAGRPOParams, {"concurrency": 16}, {"rollout_batch_size": 16}),
    (GRPOParams, {"n_gpus": 2, "prompt_batch_size": 4}, {"nproc_per_node": 2}),
    (LoRAGRPOParams, {"max_lora_rank": 64, "lora_r": 16}, {"max_lora_rank": 64}),
    (GRPOParams, {"tensor_parallel_size": 1, "enforce_eager": False},
     {"tensor_parallel_size": 1, "enforce_eager": False}),
])
def test_peer_names_mean_their_field(schema: type[GRPOParams], given: dict[str, Any],
                                     expected: dict[str, Any]) -> None:
    params = validate_params(schema, {**BASE, **given})
    assert {name: getattr(params, name) for name in expected} == expected


async def _art_rollout(model: Any, task: Any) -> Any:  # the peer's documented shape
    return None


@pytest.mark.parametrize(("function", "backend", "given", "message"), [
    ("grpo", "native", {"gpu_memory_utilization": 0.45},
     "gpu_memory_utilization=0.45: the share of GPU memory vLLM reserves"),
    ("grpo", "native", {"tensor_parallel_size": 2}, "tensor_parallel_size=2: splits vLLM"),
    ("lora_grpo", "native", {"enforce_eager": True}, "enforce_eager=True"),
    ("lora_grpo", "native", {"gpu_memory_utilization": 0.5, "tensor_parallel_size": 2},
     "gpu_memory_utilization=0.5.*; tensor_parallel_size=2"),
    ("lora_grpo", "trl", {"gpu_memory_utilization": 0.5},
     "gpu_memory_utilization=0.5.*transformers' generate"),
    ("grpo", "trl", {"tensor_parallel_size": 4}, "tensor_parallel_size=4"),
    ("lora_grpo", None, {"rollout_fn": _art_rollout}, "rollout_fn=.*art.Trajectory"),
    ("lora_grpo", None, {"max_lora_rank": 4, "lora_r": 8}, "max_lora_rank=4 is below lora_r=8"),
    ("grpo", None, {"tasks": [{"prompt": "x"}]}, "not both"),
    ("grpo", None, {"data_path": None}, "give the prompts as data_path"),
    ("lora_grpo", None, {"data_path": None, "tasks": []}, "tasks is empty"),
])
def test_what_cannot_apply_is_refused_before_training(
    function: str, backend: str | None, given: dict[str, Any], message: str, tmp_path: Path
) -> None:
    if backend == "trl":
        pytest.importorskip("training_hub_trl")
        if trl_backend.use_vllm(GRPOParams(**BASE)):
            pytest.skip("vLLM and a GPU are here: the trl backend honours these")
    out = tmp_path / "out"
    call = getattr(training_hub, function)
    with pytest.raises(ParameterError, match=message):
        call(**{**BASE, "ckpt_output_dir": str(out), "device": "cpu", "backend": backend,
                **given})
    assert not out.exists()


def test_trl_backend_passes_the_vllm_knobs_to_trl(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM on a GPU is impossible here: ``use_vllm`` is made to say it is there."""
    pytest.importorskip("training_hub_trl")
    monkeypatch.setattr(trl_backend, "use_vllm", lambda params: True)
    params = LoRAGRPOParams(**{**BASE, "gpu_memory_utilization": 0.6,
                               "tensor_parallel_size": 2, "group_size": 4,
                               "prompt_batch_size": 4})
    assert not [p for p in trl_backend.trl_grpo_problems(params) if "vLLM" in p]
    kwargs = trl_backend.grpo_config_kwargs(params, output_dir="o", longest_sample=32)
    assert kwargs["use_vllm"] and kwargs["vllm_mode"] == "colocate"
    assert (kwargs["vllm_gpu_memory_utilization"], kwargs["vllm_tensor_parallel_size"]) == \
        (0.6, 2)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_reverse_task(tmp_path_factory.mktemp("reverse-peer"), warmup_steps=4,
                             prompts=8, held_out=4)


def test_tasks_train_exactly_as_the_same_prompt_file(task: dict[str, Path],
                                                     tmp_path: Path) -> None:
    """The peer's ``tasks`` (the records in the call) is the same run as ``data_path``."""
    records = [json.loads(line) for line in task["train"].read_text().splitlines()]
    settings = dict(
        model_path=str(task["model"]), reward_fn="training_hub_grpo.testing:reverse_reward",
        group_size=2, prompt_batch_size=2, max_tokens=4, max_steps=2, temperature=1.0,
        learning_rate=1e-3, device="cpu", num_threads=1, quiet=True, n_val=2,
        concurrency=4)
    from_file = training_hub.grpo(data_path=str(task["train"]),
                                  ckpt_output_dir=str(tmp_path / "file"), **settings)
    from_tasks = training_hub.grpo(tasks=records, ckpt_output_dir=str(tmp_path / "tasks"),
                                   **settings)
    assert from_tasks.steps == from_file.steps == 2
    assert from_tasks.reward_history == from_file.reward_history
    assert from_tasks.eval_history == from_file.eval_history  # n_val holds out the same two
    assert len(from_tasks.eval_history) == 2
