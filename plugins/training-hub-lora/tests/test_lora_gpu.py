"""lora on a CUDA GPU in bf16: the adapter learns, the base stays bit-identical, the
checkpoint loads with peft. Skipped without a CUDA device (CI has none); see docs/gpu.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_lora_plugin import lora_params
from training_hub_lora.adapter import LoRAModelAdapter

from training_hub.engine import train
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_lora_in_bf16_on_gpu(tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_path = tmp_path / "model"
    make_tiny_model(model_path, make_tiny_tokenizer(model_path), hidden_size=64)
    assets = {"model": model_path, "data": write_chat_jsonl(tmp_path / "chat.jsonl", 32),
              "cache": tmp_path / "cache"}
    params = lora_params(assets, tmp_path / "run", device="cuda", dtype="bf16")
    adapter = LoRAModelAdapter(params)
    result = train(params, adapter=adapter)
    lines = Path(result.metrics_path).read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    assert losses[-1] < losses[0] - 0.3, losses

    original = load_file(str(model_path / "model.safetensors"))
    base_state = {
        k.replace(".base_layer.", "."): v.cpu()
        for k, v in adapter.model.get_base_model().state_dict().items()
        if ".lora_" not in k
    }
    for key, tensor in original.items():
        assert torch.equal(base_state[key], tensor), key

    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_path),
                                       result.last_checkpoint)
    with torch.no_grad():
        logits = loaded(input_ids=torch.arange(5, 25).reshape(1, -1)).logits
    assert torch.isfinite(logits).all()
