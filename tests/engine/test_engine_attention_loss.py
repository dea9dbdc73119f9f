"""Packed attention keeps samples apart, and the packed loss equals the padded one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from training_hub.engine.attention import packed_attention_kwargs, register_packed_attention
from training_hub.engine.batch import IGNORE_INDEX, PackedBatch
from training_hub.engine.loss import PackedCausalLM, cross_entropy_sum, loss_targets

from ._engine_helpers import TinyAssets, build_assets


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=4)


def _samples() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    samples = []
    for length in (7, 13, 4, 10):
        ids = torch.randint(5, 80, (length,), generator=generator)
        labels = torch.full((length,), IGNORE_INDEX)
        labels[length // 2 : -1] = ids[length // 2 + 1 :]  # shifted targets on the second half
        samples.append((ids, labels))
    return samples


def _pack(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> PackedBatch:
    lengths = [len(ids) for ids, _ in samples]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    labels = torch.cat([lab for _, lab in samples])[None]
    return PackedBatch(
        input_ids=torch.cat([ids for ids, _ in samples])[None],
        labels=labels,
        position_ids=torch.cat([torch.arange(n) for n in lengths])[None],
        cu_seqlens=cu,
        max_seqlen=max(lengths),
        num_samples=len(samples),
        num_loss_tokens=int((labels != IGNORE_INDEX).sum()),
    )


def _load(path: Path, attn: str) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation=attn)
    return model.eval()


def test_packed_sample_logits_equal_the_sample_alone(assets: TinyAssets) -> None:
    packed_model = _load(assets.model_path, register_packed_attention())
    reference = _load(assets.model_path, "sdpa")
    samples = _samples()
    batch = _pack(samples)
    with torch.no_grad():
        packed = packed_model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            use_cache=False,
            **packed_attention_kwargs(batch, batch),
        ).logits[0]
        bounds = batch.cu_seqlens.tolist()
        for (ids, _), start, end in zip(samples, bounds[:-1], bounds[1:], strict=True):
            alone = reference(input_ids=ids[None], use_cache=False).logits[0]
            assert torch.allclose(packed[start:end], alone, atol=1e-5), (start, end)
    # Sanity: the same row run as ONE sequence (attention crossing samples) differs.
    with torch.no_grad():
        leaking = reference(input_ids=batch.input_ids, use_cache=False).logits[0]
    assert (leaking[bounds[1] :] - packed[bounds[1] :]).abs().max() > 1e-3


def test_packed_loss_equals_padded_batch_loss(assets: TinyAssets) -> None:
    samples = _samples()
    batch = _pack(samples)
    lm = PackedCausalLM(_load(assets.model_path, register_packed_attention()))
    positions, targets = loss_targets(batch)
    kwargs = packed_attention_kwargs(batch, batch)
    loss_sum = lm(batch.input_ids, batch.position_ids, positions, targets, **kwargs)
    packed_loss = loss_sum / batch.num_loss_tokens

    # The reference: a right-padded batch with an attention mask, full logits, mean CE.
    reference = _load(assets.model_path, "sdpa")
    width = max(len(ids) for ids, _ in samples)
    input_ids = torch.zeros((len(samples), width), dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE_INDEX)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, (ids, lab) in enumerate(samples):
        input_ids[row, : len(ids)], labels[row, : len(ids)], mask[row, : len(ids)] = ids, lab, 1
    logits = reference(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
    padded_loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    assert abs(packed_loss.item() - padded_loss.item()) < 1e-5
    assert packed_loss.item() > 1.0  # an untrained model: the comparison is not trivial


def test_chunked_cross_entropy_matches_unchunked() -> None:
    generator = torch.Generator().manual_seed(1)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden_full = torch.randn(37, 16, generator=generator, requires_grad=True)
    targets = torch.randint(0, 50, (37,), generator=generator)

    whole = cross_entropy_sum(hidden_full, head, targets)
    whole.backward()
    grads_whole = (hidden_full.grad.clone(), head.weight.grad.clone())
    hidden_full.grad, head.weight.grad = None, None

    chunked = cross_entropy_sum(hidden_full, head, targets, chunk_size=8)
    chunked.backward()
    assert torch.allclose(whole, chunked, atol=1e-4)
    assert torch.allclose(grads_whole[0], hidden_full.grad, atol=1e-6)
    assert torch.allclose(grads_whole[1], head.weight.grad, atol=1e-6)
    expected = torch.nn.functional.cross_entropy(head(hidden_full), targets, reduction="sum")
    assert torch.allclose(whole, expected, atol=1e-4)
