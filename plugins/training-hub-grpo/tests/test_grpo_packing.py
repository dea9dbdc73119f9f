"""Shared-prompt packing of the update equals one row per completion, alone, unpacked."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch
from training_hub_grpo.packing import pack_groups
from training_hub_grpo.recipe import PackedPolicy

from training_hub.engine.attention import register_packed_attention

TEMPERATURE = 0.7


@dataclass
class _Row:
    ids: list[int]
    prompt_length: int
    loss_tokens: int
    group: int


def _rows(seed: int = 0) -> list[_Row]:
    """Four groups of four: prompts of 1 to 7 tokens, completions of 1 to 6 tokens, one
    completion without loss tokens (a masked truncated one)."""
    rng = random.Random(seed)
    rows = []
    for group, prompt_length in enumerate([5, 1, 7, 3]):
        prompt = [rng.randrange(3, 40) for _ in range(prompt_length)]
        for k in range(4):
            completion = [rng.randrange(3, 40) for _ in range(rng.choice([1, 2, 4, 6]))]
            masked = group == 2 and k == 1
            rows.append(_Row(prompt + completion, prompt_length,
                             0 if masked else len(completion), group))
    return rows


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))
    model.config._attn_implementation = register_packed_attention()
    return model.float()


def _unpacked(model: torch.nn.Module, rows: list[_Row]) -> list[torch.Tensor]:
    """Each row alone through the model's own forward: log p of its loss tokens."""
    out = []
    for row in rows:
        if row.loss_tokens == 0:
            continue
        ids = torch.tensor([row.ids])
        logits = model(input_ids=ids, use_cache=False).logits[0].float() / TEMPERATURE
        start = row.prompt_length - 1
        logps = logits[start:start + row.loss_tokens].log_softmax(-1)
        targets = ids[0, start + 1:start + 1 + row.loss_tokens]
        out.append(logps.gather(1, targets[:, None])[:, 0])
    return out


def _packed(model: torch.nn.Module, rows: list[_Row], budget: int, share: bool
            ) -> tuple[dict[int, torch.Tensor], int]:
    """log p of each row's loss tokens through shared-prompt packing; micro-batch count."""
    policy = PackedPolicy(model, TEMPERATURE)
    index = {id(row): i for i, row in enumerate(rows)}
    by_row: dict[int, torch.Tensor] = {}
    batches = pack_groups(rows, [0.0] * len(rows), budget, share_prompts=share)
    for host, members, _ in batches:
        logps = policy(host.input_ids, host.position_ids, host.head_positions, host.head_rows,
                       host.targets, **host.attention_kwargs(host))
        for row, part in zip(members, logps.split([r.loss_tokens for r in members]),
                             strict=True):
            by_row[index[id(row)]] = part
    return by_row, len(batches)


def _gradients(model: torch.nn.Module, logps: list[torch.Tensor]) -> list[torch.Tensor]:
    weights = [torch.linspace(-1.0, 1.0, len(p)) * (i + 1) for i, p in enumerate(logps)]
    loss = sum((p * w).sum() for p, w in zip(logps, weights, strict=True))
    return list(torch.autograd.grad(loss, list(model.parameters())))


@pytest.mark.parametrize(("budget", "share"), [(4096, True), (12, True), (4096, False)])
def test_shared_prompt_packing_equals_one_row_per_completion(
        model: torch.nn.Module, budget: int, share: bool) -> None:
    rows = _rows()
    expected = _unpacked(model, rows)
    packed, batches = _packed(model, rows, budget, share)
    kept = [i for i, r in enumerate(rows) if r.loss_tokens > 0]
    assert sorted(packed) == kept  # the row without loss tokens is left out
    got = [packed[i] for i in kept]
    for e, g in zip(expected, got, strict=True):
        assert torch.allclose(g, e, atol=1e-5, rtol=0), (g, e)
    for e, g in zip(_gradients(model, expected), _gradients(model, got), strict=True):
        assert torch.allclose(g, e, atol=1e-5, rtol=1e-5), (g - e).abs().max()
    if budget == 12:  # groups larger than the budget are split over micro-batches
        assert batches > 4


def test_a_group_computes_its_prompt_once() -> None:
    rows = _rows()
    [(batch, members, _)] = pack_groups(rows, [0.0] * len(rows), 4096)
    prompts = sum(length for length in [5, 1, 7, 3])
    completion_inputs = sum(r.loss_tokens - 1 for r in members)
    assert batch.num_tokens == prompts + completion_inputs
    assert batch.num_loss_tokens == sum(r.loss_tokens for r in rows)
    assert batch.row_tokens == sum(len(r.ids) for r in members)
    assert batch.num_tokens < batch.row_tokens / 2
    # the four samples: one per group, the first completion's positions continue the prompt
    assert batch.cu_seqlens.numel() == 5
    assert batch.position_ids[0, 5:5 + rows[0].loss_tokens - 1].tolist() == \
        list(range(5, 5 + rows[0].loss_tokens - 1))


def test_budget_splits_groups_and_caps_micro_batches() -> None:
    rows = _rows()
    budget = 12
    index = {id(row): i for i, row in enumerate(rows)}
    batches = pack_groups(rows, list(range(len(rows))), budget)
    seen = [r for _, members, _ in batches for r in members]
    assert sorted(map(id, seen)) == sorted(id(r) for r in rows if r.loss_tokens > 0)
    for batch, members, weights in batches:
        assert weights == [index[id(r)] for r in members]  # weights travel with their rows
        assert batch.num_tokens <= budget or batch.cu_seqlens.numel() == 2
        assert batch.num_loss_tokens == sum(r.loss_tokens for r in members)
