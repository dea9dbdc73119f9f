"""The fast decode loop (training_hub_grpo.decoding) computes what transformers' forward
computes: the same logits (float rounding apart) and so the same sampled tokens, on tiny
Llama, Mistral, Qwen2 and Qwen3 models built from config; other models, and models it
cannot run exactly, take the generic path."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from training_hub_grpo.decoding import LlamaFamilyDecoder, TransformersDecoder, fast_model
from training_hub_grpo.rollout import SamplingSettings, group_generator, sample_groups

VOCAB = 48
EOS = [3, 7, 11]  # several end tokens, so that rows finish at different steps
#: prompts of different lengths (left padding in one batch)
PROMPTS = [[5, 9, 13, 2, 8, 21, 30], [4, 4, 17], [40, 1, 6, 12, 19], [25]]


def _tiny(family: str, **extra: Any) -> Any:
    import transformers

    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  pad_token_id=0, eos_token_id=EOS[0], tie_word_embeddings=False)
    config_class, model_class = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    }[family]
    if family == "qwen3":
        common["head_dim"] = 8
    torch.manual_seed(0)
    model = model_class(config_class(**{**common, **extra})).eval()
    with torch.no_grad():  # norms away from 1 and biases away from 0, so that they count
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith(".bias"):
                parameter.add_(torch.randn_like(parameter) * 0.3)
            elif "q_proj" in name or "k_proj" in name or "v_proj" in name or "o_proj" in name:
                parameter.mul_(4.0)  # attention (positions, padding) that counts
        model.lm_head.weight.mul_(8.0)  # peaked distributions: a wrong logit changes tokens
    return model


def _left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(map(len, prompts))
    ids = torch.zeros((len(prompts), longest), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt):] = torch.tensor(prompt)
        mask[row, longest - len(prompt):] = 1
    return ids, mask


def _logits_along(decoder: Any, steps: int) -> list[torch.Tensor]:
    """Logits of a fixed walk: prefill, two completions per prompt, two steps, drop some
    rows (compaction), more steps; the tokens fed are fixed, not sampled."""
    ids, mask = _left_padded(PROMPTS)
    seen = [decoder.prefill(ids, mask)]
    decoder.repeat(2)
    rows = ids.shape[0] * 2
    tokens = torch.arange(rows) % VOCAB
    for step in range(steps):
        if step == 2:
            keep = torch.tensor([0, 3, 4, 7])
            decoder.keep(keep)
            tokens = tokens[keep]
        seen.append(decoder.step(tokens))
        tokens = (tokens * 7 + step + 1) % VOCAB
    return seen


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3"])
@torch.no_grad()
def test_fast_logits_equal_the_model_forward(family: str) -> None:
    model = _tiny(family)
    from training_hub_grpo.rollout import generation_attention

    prepared = fast_model(model)
    assert prepared is not None  # this family runs on the fast path
    with generation_attention(model):
        expected = _logits_along(TransformersDecoder(model), steps=5)
    decoder = prepared.decoder(capacity=max(map(len, PROMPTS)) + 5)
    assert isinstance(decoder, LlamaFamilyDecoder)
    got = _logits_along(decoder, steps=5)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert float((g - e).abs().max()) <= 2e-5 * max(1.0, float(e.abs().max()))


def _sample(model: Any, settings: SamplingSettings, fast: bool, batch_size: int = 64
            ) -> list[tuple[list[int], bool]]:
    generators = None if settings.greedy else \
        [group_generator(3, 0, i) for i in range(len(PROMPTS))]
    completions = sample_groups(model, PROMPTS, group_size=3, settings=settings,
                                eos_token_ids=EOS, pad_token_id=0, generators=generators,
                                batch_size=batch_size, fast=fast)
    return [(c.ids, c.truncated) for c in completions]


@pytest.mark.parametrize("family", ["llama", "qwen2"])
@pytest.mark.parametrize("settings", [
    SamplingSettings(max_tokens=10, greedy=True),
    SamplingSettings(max_tokens=10, temperature=0.7, top_k=12, top_p=0.9),
    SamplingSettings(max_tokens=10, temperature=1.3),
], ids=["greedy", "top_k_top_p", "hot"])
def test_fast_sampling_equals_the_generic_path(family: str, settings: SamplingSettings) -> None:
    model = _tiny(family)
    fast = _sample(model, settings, fast=True)
    assert fast == _sample(model, settings, fast=False)
    assert fast == _sample(model, settings, fast=True, batch_size=3)  # a group at a time
    assert len(fast) == 3 * len(PROMPTS)
    lengths = {len(ids) for ids, _ in fast}
    assert min(lengths) < max(lengths)  # rows finished at different steps: compaction ran


def test_fast_path_with_lora_layers_equals_the_generic_path() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_tiny("llama"), LoraConfig(r=4, lora_alpha=8,
                                                      target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # LoRA B starts at zero: make the adapters change the outputs
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    assert fast_model(model) is not None
    settings = SamplingSettings(max_tokens=8, temperature=1.0)
    with_adapters = _sample(model, settings, fast=True)
    assert with_adapters == _sample(model, settings, fast=False)
    with model.disable_adapter():
        assert _sample(model, settings, fast=True) != with_adapters  # the adapters counted


def test_bf16_model_close_to_the_model_forward() -> None:
    model = _tiny("llama").to(torch.bfloat16)
    from training_hub_grpo.rollout import generation_attention

    with torch.no_grad(), generation_attention(model):
        expected = _logits_along(TransformersDecoder(model), steps=4)
        got = _logits_along(fast_model(model).decoder(capacity=16), steps=4)  # type: ignore
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype == torch.bfloat16
        assert float((g.float() - e.float()).abs().max()) <= 0.05 * float(e.abs().max())


def test_other_models_take_the_generic_path() -> None:
    """A GPT-2 (not a Llama-family model), a Llama with a forward hook on a decoder layer
    (the fast path would skip it) and a Mistral whose sliding window is shorter than the
    sequence are sampled by the model's forward."""
    from transformers import GPT2Config, GPT2LMHeadModel

    settings = SamplingSettings(max_tokens=6, temperature=1.0)
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4,
                                      n_positions=64, eos_token_id=EOS[0])).eval()
    assert fast_model(gpt2) is None
    sampled = _sample(gpt2, settings, fast=True)
    assert sampled == _sample(gpt2, settings, fast=False) and len(sampled) == 3 * len(PROMPTS)

    hooked = _tiny("llama")
    plain = _sample(hooked, settings, fast=True)
    hooked.model.layers[0].register_forward_hook(lambda module, args, out: out * 1.5)
    assert fast_model(hooked) is None
    with_hook = _sample(hooked, settings, fast=True)
    assert with_hook == _sample(hooked, settings, fast=False) and with_hook != plain

    windowed = _tiny("mistral", sliding_window=4)
    prepared = fast_model(windowed)
    assert prepared is not None and prepared.decoder(capacity=4) is not None
    assert prepared.decoder(capacity=max(map(len, PROMPTS)) + 6) is None
    cut = _sample(windowed, settings, fast=True)
    assert cut == _sample(windowed, settings, fast=False)
    assert cut != _sample(_tiny("mistral", sliding_window=None), settings, fast=True)
