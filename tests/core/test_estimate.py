"""``estimate``: the peer's signature and tuple, and figures that equal what they count."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training_hub import ParameterError, estimate  # noqa: E402
from training_hub._estimate import _meta_model, _saved_bytes  # noqa: E402
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-model")
    make_tiny_model(folder, make_tiny_tokenizer(folder))
    return folder


def test_signature_is_the_peers() -> None:
    peer = ["training_method", "num_gpus", "gpu_memory", "model_path", "batch_size",
            "max_seq_len", "max_tokens_per_gpu", "use_liger", "verbose", "trust_remote_code",
            "unfreeze_rank_ratio", "lora_r"]
    assert list(inspect.signature(estimate).parameters)[:len(peer)] == peer


def test_parameters_and_states_count_the_real_model(tiny: Path) -> None:
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained(tiny)
    n = sum(p.numel() for p in real.parameters())
    result = estimate("sft", num_gpus=1, model_path=str(tiny), max_tokens_per_gpu=64,
                      device="cpu", verbose=0)
    assert result.parameters == result.trainable_parameters == n
    assert result.gradients == 4 * n and result.optimizer_states == 8 * n
    low, expected, high = result  # training_hub 0.11.2 returned this tuple
    assert low <= expected <= high
    sharded = estimate("sft", num_gpus=4, model_path=str(tiny), max_tokens_per_gpu=64,
                       verbose=0)
    assert sharded.gradients == 4 * n // 4 and sharded.optimizer_states == 8 * n // 4
    json.dumps(result.to_dict())


def test_meta_activations_equal_a_real_cpu_forward(tiny: Path) -> None:
    """The bytes counted on the meta device are those a real forward saves for backward."""
    from transformers import AutoModelForCausalLM

    from training_hub.engine.attention import select_attention

    tokens = 96
    meta = _meta_model(str(tiny), torch.float32, False)
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    on_meta = _saved_bytes(lambda: meta.get_decoder()(input_ids=ids).last_hidden_state,
                           list(meta.parameters()))
    real = AutoModelForCausalLM.from_pretrained(
        tiny, attn_implementation=select_attention(torch.device("cpu")))
    real.train()
    real_ids = torch.randint(0, real.config.vocab_size, (1, tokens))
    on_cpu = _saved_bytes(lambda: real.get_decoder()(input_ids=real_ids).last_hidden_state,
                          list(real.parameters()))
    assert on_meta == pytest.approx(on_cpu, rel=0.05)


def test_lora_and_osft_and_checkpointing(tiny: Path) -> None:
    pytest.importorskip("training_hub_lora")
    pytest.importorskip("training_hub_osft")
    full = estimate("sft", num_gpus=1, model_path=str(tiny), max_tokens_per_gpu=128,
                    device="cpu", verbose=0)
    lora = estimate("lora_sft", num_gpus=1, model_path=str(tiny), max_tokens_per_gpu=128,
                    device="cpu", verbose=0, lora_r=4)
    assert 0 < lora.trainable_parameters < full.parameters / 4
    osft = estimate("osft", num_gpus=1, model_path=str(tiny), max_tokens_per_gpu=128,
                    device="cpu", verbose=0)
    assert osft.adapter_buffers > 0
    assert full.activations_with_checkpointing < full.activations_without_checkpointing
    ckpt = estimate("sft", num_gpus=1, model_path=str(tiny), max_tokens_per_gpu=128,
                    device="cpu", verbose=0, gradient_checkpointing=True)
    assert ckpt.activations == full.activations_with_checkpointing


def test_clear_errors(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="training_method='dpo'"):
        estimate("dpo", model_path=str(tiny), max_tokens_per_gpu=64, verbose=0)
    with pytest.raises(ParameterError, match="max_tokens_per_gpu, or batch_size"):
        estimate("sft", model_path=str(tiny), verbose=0)
    from training_hub import ConfigError

    with pytest.raises(ConfigError, match="cannot read the config"):
        estimate("sft", model_path=str(tmp_path), max_tokens_per_gpu=64, verbose=0)
