"""The native backend's training fast paths compute what they replace: the packed
attention with dropout (a hand-written backward) against the per-text formulation
and torch.autograd.gradcheck, and the cheaper dropout mask against its distribution."""

from __future__ import annotations

import pytest
import torch
from training_hub_embedding.dropout import FastDropout, keep_scale, use_fast_dropout
from training_hub_embedding.packing import _block_layout, packed_encoder_attention

HEADS, HEAD_DIM = 2, 3
#: (length, count): texts of lengths 4, 4, 3, 1, 1 packed longest first.
BLOCKS = ((4, 2), (3, 1), (1, 2))
TOKENS = sum(length * count for length, count in BLOCKS)


def _qkv(dtype: torch.dtype) -> list[torch.Tensor]:
    """Query, key, value as BERT passes them: [1, heads, T, d] views of [1, T, heads, d]."""
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(1, TOKENS, HEADS, HEAD_DIM, dtype=dtype, generator=generator)
            .transpose(1, 2).requires_grad_() for _ in range(3)]


def _packed(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float,
            seed: int = 5) -> torch.Tensor:
    torch.manual_seed(seed)  # the same dropout mask at every call
    return packed_encoder_attention(torch.nn.Module(), q, k, v, None, dropout=dropout,
                                    scaling=0.7, packed_blocks=BLOCKS)[0]


def _per_text(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float,
              seed: int = 5) -> torch.Tensor:
    """The reference: each text alone, softmax(q k^T * scale) * mask @ v, with autograd's
    own backward and the mask the packed function draws (block-major score order)."""
    torch.manual_seed(seed)
    layout = _block_layout(BLOCKS, HEADS, q.device)
    keep = keep_scale((layout.scores,), dropout, q.dtype, q.device)
    outputs, token, score = [], 0, 0
    for length, count in BLOCKS:
        for text in range(count):
            rows = slice(token + text * length, token + (text + 1) * length)
            mask = keep[score:score + HEADS * length * length].view(HEADS, length, length)
            score += HEADS * length * length
            weights = (q[0, :, rows] @ k[0, :, rows].transpose(-1, -2) * 0.7).softmax(-1)
            outputs.append((weights * mask @ v[0, :, rows]).transpose(0, 1))
        token += count * length
    return torch.cat(outputs).unsqueeze(0)


def test_packed_attention_with_dropout_equals_the_per_text_formulation() -> None:
    q, k, v = _qkv(torch.float64)
    packed, reference = _packed(q, k, v, 0.3), _per_text(q, k, v, 0.3)
    assert packed.shape == (1, TOKENS, HEADS, HEAD_DIM)
    assert (packed == 0).sum() < packed.numel()  # the mask did not drop everything
    torch.testing.assert_close(packed, reference, rtol=0, atol=1e-12)
    upstream = torch.randn_like(packed)
    ours = torch.autograd.grad(packed, (q, k, v), upstream)
    theirs = torch.autograd.grad(reference, (q, k, v), upstream)
    for mine, expected in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, expected, rtol=0, atol=1e-12)


def test_packed_attention_backward_passes_gradcheck() -> None:
    q, k, v = _qkv(torch.float64)
    assert torch.autograd.gradcheck(lambda q, k, v: _packed(q, k, v, 0.3), (q, k, v))


def test_packed_attention_without_dropping_matches_sdpa() -> None:
    q, k, v = _qkv(torch.float32)
    kept = _packed(q, k, v, 1e-9)  # the dropout path, rounding to no dropped element
    sdpa = _packed(q, k, v, 0.0)  # one SDPA call per block
    torch.testing.assert_close(kept, sdpa, rtol=1e-5, atol=1e-6)
    upstream = torch.randn_like(kept)
    for mine, expected in zip(torch.autograd.grad(kept, (q, k, v), upstream),
                              torch.autograd.grad(sdpa, (q, k, v), upstream), strict=True):
        torch.testing.assert_close(mine, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_scale_drops_p_of_the_elements_at_every_word_position(p: float) -> None:
    torch.manual_seed(0)
    scale = keep_scale((1000, 1001), p, torch.float32, torch.device("cpu"))
    assert scale.shape == (1000, 1001) and scale.dtype == torch.float32
    assert scale.unique().tolist() == pytest.approx([0.0, 1.0 / (1.0 - p)])
    dropped = (scale == 0).double()
    # 1e6 draws: the standard error of the fraction is below 5e-4.
    assert dropped.mean().item() == pytest.approx(p, abs=3e-3)
    # Each of the four 16-bit words drawn from one int64 drops p on its own.
    by_word = dropped.view(-1)[:1000 * 1000].view(-1, 4).mean(0)
    assert by_word.tolist() == pytest.approx([p] * 4, abs=6e-3)
    assert scale.double().mean().item() == pytest.approx(1.0, abs=6e-3)


def test_fast_dropout_replaces_nn_dropout_with_the_same_behaviour() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.25),
                                torch.nn.Sequential(torch.nn.Dropout(0.0)))
    assert use_fast_dropout(model) == 2
    first, inner = model[1], model[2][0]
    assert isinstance(first, FastDropout) and first.p == 0.25 and inner.p == 0.0
    x = torch.randn(64, 4)
    model.eval()
    assert torch.equal(first(x), x)
    model.train()
    torch.manual_seed(3)
    out = first(x)
    torch.manual_seed(3)
    assert torch.equal(first(x), out)  # seeded: the same mask (GradCache relies on it)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.75)
    assert 0 < (~kept).sum() < x.numel()
