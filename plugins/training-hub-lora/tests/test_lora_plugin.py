"""lora on the native engine, end to end on a tiny Llama: training, checkpoints, peft, merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from training_hub_lora.adapter import (
    MERGED_DIRNAME,
    LoRAModelAdapter,
    build_lora_config,
    save_merged_model,
)
from training_hub_lora.algorithm import DEFAULT_TARGET_MODULES, LoRAParams
from training_hub_lora.backend import NativeLoRABackend

from training_hub import ParameterError, create_algorithm
from training_hub.engine import train
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lora-assets")
    model_path = folder / "model"
    make_tiny_model(model_path, make_tiny_tokenizer(model_path))
    return {
        "model": model_path,
        "data": write_chat_jsonl(folder / "chat.jsonl", 32),
        "cache": folder / "cache",
    }


def lora_params(assets: dict[str, Path], output: Path, **overrides: Any) -> LoRAParams:
    values: dict[str, Any] = {
        "model_path": str(assets["model"]),
        "data_path": str(assets["data"]),
        "ckpt_output_dir": str(output),
        "data_cache_dir": str(assets["cache"]),
        "effective_batch_size": 8,
        "max_tokens_per_gpu": 512,
        "max_seq_len": 128,
        "learning_rate": 1e-2,
        "lr_scheduler": "constant",
        "max_steps": 12,
        "lora_r": 8,
        "lora_alpha": 16,
        "quiet": True,
        "tensorboard": False,
        "device": "cpu",
        "data_workers": 1,
        "checkpoint_at_epoch": False,
    }
    values.update(overrides)
    return LoRAParams(**values)


def logits(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=input_ids, use_cache=False).logits


@pytest.fixture(scope="module")
def trained(assets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    params = lora_params(assets, tmp_path_factory.mktemp("lora-run"), merge_adapter=True)
    adapter = LoRAModelAdapter(params)
    result = train(params, adapter=adapter)
    return {"params": params, "adapter": adapter, "result": result}


def test_loss_falls_and_only_adapter_weights_change(trained: dict[str, Any]) -> None:
    result = trained["result"]
    lines = Path(result.metrics_path).read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    assert result.steps == 12 and len(losses) == 12
    assert losses[-1] < losses[0] - 0.3, losses

    model = trained["adapter"].model
    original = load_file(str(Path(trained["params"].model_path) / "model.safetensors"))
    base_state = {
        k.replace(".base_layer.", "."): v
        for k, v in model.get_base_model().state_dict().items()
        if ".lora_" not in k
    }
    assert base_state.keys() == original.keys()
    for key, tensor in original.items():
        assert torch.equal(base_state[key], tensor), key  # bit-identical
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert len(lora_b) == 2 * len(DEFAULT_TARGET_MODULES)  # 2 layers
    assert all(float(p.abs().max()) > 0 for p in lora_b)  # peft initialises B to zero


def test_checkpoint_is_a_peft_adapter_that_reproduces_logits(trained: dict[str, Any]) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    checkpoint = Path(trained["result"].last_checkpoint)
    assert (checkpoint / "adapter_config.json").is_file()
    assert (checkpoint / "adapter_model.safetensors").is_file()
    assert not (checkpoint / "model.safetensors").exists()
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16
    assert set(config["target_modules"]) == set(DEFAULT_TARGET_MODULES)
    # The model card (engine/model_card.py) is peft's kind: the Hub shows a peft adapter.
    card = (checkpoint / "README.md").read_text()
    assert "\nlibrary_name: peft\n" in card.split("---")[1]
    assert "| training-hub |" in card and "AutoPeftModelForCausalLM" in card

    base = AutoModelForCausalLM.from_pretrained(trained["params"].model_path)
    loaded = PeftModel.from_pretrained(base, str(checkpoint))
    input_ids = torch.arange(5, 25).reshape(1, -1)
    expected = logits(trained["adapter"].model, input_ids)
    plain_base = AutoModelForCausalLM.from_pretrained(trained["params"].model_path)
    assert (logits(plain_base, input_ids) - expected).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(logits(loaded, input_ids), expected, rtol=0, atol=1e-5)


def test_merged_model_equals_base_plus_adapter(trained: dict[str, Any], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    checkpoint = Path(trained["result"].last_checkpoint)
    merged = AutoModelForCausalLM.from_pretrained(str(checkpoint / MERGED_DIRNAME))
    assert merged.config.use_cache is True
    input_ids = torch.arange(5, 25).reshape(1, -1)
    expected = logits(trained["adapter"].model, input_ids)
    torch.testing.assert_close(logits(merged, input_ids), expected, rtol=0, atol=1e-4)
    # merging later from the adapter-only checkpoint gives the same model
    later = save_merged_model(checkpoint, tmp_path / "merged-later")
    again = AutoModelForCausalLM.from_pretrained(str(later))
    torch.testing.assert_close(logits(again, input_ids), expected, rtol=0, atol=1e-4)
    assert (later / "tokenizer_config.json").is_file()


def test_resume_restores_the_adapter(assets: dict[str, Path], tmp_path: Path) -> None:
    straight = lora_params(assets, tmp_path / "a", max_steps=4, save_every=2)
    straight_result = train(straight, adapter=LoRAModelAdapter(straight))
    step2 = Path(straight_result.checkpoints[0])
    assert step2.name == "step-2"
    resumed = lora_params(assets, tmp_path / "b", max_steps=4, resume=str(step2))
    resumed_result = train(resumed, adapter=LoRAModelAdapter(resumed))
    a = load_file(str(Path(straight_result.last_checkpoint) / "adapter_model.safetensors"))
    b = load_file(str(Path(resumed_result.last_checkpoint) / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_lora_config_mapping_uses_our_values() -> None:
    from peft import LoraConfig, TaskType

    params = LoRAParams(
        model_path="m", data_path="d.jsonl", ckpt_output_dir="o",
        lora_r=8, lora_alpha=24, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
    )
    config = build_lora_config(params)
    assert isinstance(config, LoraConfig)
    assert config.r == 8 and config.lora_alpha == 24 and config.lora_dropout == 0.05
    assert config.target_modules == {"q_proj", "v_proj"}
    assert config.bias == "none" and config.task_type == TaskType.CAUSAL_LM
    defaults = build_lora_config(LoRAParams(model_path="m", data_path="d", ckpt_output_dir="o"))
    assert defaults.target_modules == set(DEFAULT_TARGET_MODULES) and defaults.r == 16


def test_unknown_target_module_is_a_parameter_error(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    params = lora_params(assets, tmp_path / "run", target_modules=["qkv_proj"])
    with pytest.raises(ParameterError, match="target_modules"):
        train(params, adapter=LoRAModelAdapter(params))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_qlora_on_cpu_is_a_clear_parameter_error(assets: dict[str, Path], tmp_path: Path) -> None:
    algorithm = create_algorithm("lora", "native")
    assert isinstance(algorithm.backend, NativeLoRABackend)
    with pytest.raises(ParameterError) as caught:
        algorithm.train(**lora_params(assets, tmp_path, load_in_4bit=True).to_dict())
    message = str(caught.value)
    assert "load_in_4bit=True (QLoRA) cannot run here" in message
    assert "load_in_4bit=False" in message
    assert not (tmp_path / "checkpoints").exists()  # refused before anything was written


def test_fsdp2_sharded_processes_match_one_process(
    assets: dict[str, Path], trained: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """lora on two CPU processes sharded with FSDP2 (the multi-GPU code path, over gloo)
    trains the adapter the single process trains."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TRAINING_HUB_SHARD_ON_CPU", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = lora_params(assets, tmp_path / "sharded", nproc_per_node=2, master_port=port)
    sharded = create_algorithm("lora").train(**params.to_dict())
    single = trained["result"]
    assert sharded.steps == single.steps == 12
    assert sharded.final_loss == pytest.approx(single.final_loss, rel=1e-4)
    a = load_file(str(Path(single.last_checkpoint) / "adapter_model.safetensors"))
    b = load_file(str(Path(sharded.last_checkpoint) / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
