"""Padding-free encoding: many texts packed into one row, bidirectional attention per text.

The texts of a batch are concatenated into one row, sorted by length, with
position ids restarting at each text. The attention function registered here
(``training_hub_packed_encoder``) receives the boundaries and attends only inside
each text, without a mask: texts of the same length form one contiguous block,
which is one batched SDPA call (``[texts, heads, length, head_dim]``), so a batch
costs one call per distinct length instead of one per text, and no padded token
is ever computed. With attention dropout on CPU (training), where SDPA falls back
to its unfused math path, a hand-written autograd function does the same for all
blocks at once: one gather into a block-major layout, one dropout mask, plain
``bmm`` per block and a backward written out. Pooling (mean or CLS) is a segment
reduction over the row.

Architectures whose layers do not route attention through transformers'
attention interface, or that mix tokens in other ways, cannot be packed:
:func:`check_packable` finds out by comparing packed and one-by-one embeddings
and the backend refuses such a model with a clear message.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from training_hub import ParameterError

__all__ = [
    "PACKED_ENCODER_ATTENTION",
    "PackedEncoder",
    "PackedTexts",
    "check_packable",
    "pack_texts",
    "packed_encoder_attention",
    "register_packed_encoder_attention",
]

PACKED_ENCODER_ATTENTION = "training_hub_packed_encoder"


@dataclass(frozen=True)
class PackedTexts:
    """One packed row: ``input_ids``/``position_ids`` ``[1, T]``, and for the texts in
    row order their ``blocks`` (length, count) and their index in the caller's list."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    #: Consecutive runs of texts of equal length: (length, number of texts).
    blocks: tuple[tuple[int, int], ...]
    #: ``order[j]``: the caller's index of the j-th text of the row.
    order: torch.Tensor
    #: Segment id (row position of its text) of each token, ``[T]``.
    segments: torch.Tensor
    lengths: torch.Tensor
    starts: torch.Tensor


def pack_texts(token_ids: Sequence[Sequence[int]], device: torch.device) -> PackedTexts:
    """Pack tokenized texts (each already with its special tokens) longest first."""
    order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
    lengths = [len(token_ids[i]) for i in order]
    flat = [token for i in order for token in token_ids[i]]
    positions = [p for length in lengths for p in range(length)]
    blocks = tuple((length, sum(1 for _ in run)) for length, run in itertools.groupby(lengths))
    length_tensor = torch.tensor(lengths)
    starts = torch.cumsum(length_tensor, 0) - length_tensor
    return PackedTexts(
        input_ids=torch.tensor([flat], device=device),
        position_ids=torch.tensor([positions], device=device),
        blocks=blocks,
        order=torch.tensor(order, device=device),
        segments=torch.repeat_interleave(torch.arange(len(lengths)), length_tensor).to(device),
        lengths=length_tensor.to(device),
        starts=starts.to(device),
    )


@torch.compiler.disable
def packed_encoder_attention(
    module: torch.nn.Module,
    query: torch.Tensor,  # [1, heads, T, head_dim]
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    packed_blocks: tuple[tuple[int, int], ...] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Bidirectional attention inside each packed text; returns ``[1, T, heads, head_dim]``.

    With attention dropout on CPU this is :class:`_BlockAttention` (one gather, one
    mask, a backward written out); otherwise one SDPA call per block of equal-length
    texts, which picks the fused kernels that dropout rules out on CPU.
    """
    if attention_mask is not None:
        raise ValueError(f"{PACKED_ENCODER_ATTENTION} attention takes packed texts without an "
                         "attention mask (pass packed_blocks)")
    heads, total, head_dim = query.shape[1], query.shape[2], query.shape[3]
    if packed_blocks is None:
        packed_blocks = ((total, 1),)
    gqa = query.shape[1] != key.shape[1]
    sizes = [length * count for length, count in packed_blocks]
    if sum(sizes) != total:
        raise ValueError(f"packed_blocks cover {sum(sizes)} tokens but the row has {total}")
    scale = scaling if scaling is not None else head_dim ** -0.5
    if dropout > 0.0 and query.device.type == "cpu" and not gqa:
        layout = _block_layout(packed_blocks, heads, query.device)
        return _BlockAttention.apply(query, key, value, layout, dropout, scale), None
    # split (not slicing): its backward concatenates the gradients once, where each
    # slice's backward would fill a zero tensor of the whole row.
    outputs = []
    for (length, count), q, k, v in zip(
        packed_blocks, query[0].split(sizes, dim=1), key[0].split(sizes, dim=1),
        value[0].split(sizes, dim=1), strict=True,
    ):
        def block(tensor: torch.Tensor, n: int = count, size: int = length) -> torch.Tensor:
            return tensor.unflatten(1, (n, size)).transpose(0, 1)  # [texts, heads, len, d]

        out = F.scaled_dot_product_attention(
            block(q), block(k), block(v), dropout_p=dropout, scale=scaling, enable_gqa=gqa
        )
        outputs.append(out.transpose(1, 2).reshape(count * length, heads, head_dim))
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=0)
    return output.unsqueeze(0), None


@dataclass(frozen=True)
class _BlockLayout:
    """Where each (token, head) row goes in the block-major layout of one packed row.

    Block-major: for each block of equal-length texts, ``[texts * heads, length, d]``
    contiguous, so every block's matrix products are plain ``bmm`` calls on views.
    """

    #: ``gather[r]``: the token-major row (``token * heads + head``) of block-major row r.
    gather: torch.Tensor
    #: ``scatter[t]``: the block-major row of token-major row t (the inverse permutation).
    scatter: torch.Tensor
    #: Per block: (first block-major row, texts * heads, length, first score).
    blocks: tuple[tuple[int, int, int, int], ...]
    #: Number of attention scores of all blocks together.
    scores: int
    #: Length of each block-major row's text (its number of scores), ``[T * heads]``.
    row_lengths: torch.Tensor


_LAYOUTS: dict[tuple[Any, ...], _BlockLayout] = {}


def _block_layout(packed_blocks: tuple[tuple[int, int], ...], heads: int,
                  device: torch.device) -> _BlockLayout:
    """The layout of ``packed_blocks`` (built once per batch: every layer reuses it)."""
    cache_key = (packed_blocks, heads, device)
    layout = _LAYOUTS.get(cache_key)
    if layout is not None:
        return layout
    gathers, blocks, lengths = [], [], []
    token, row, score = 0, 0, 0
    head_index = torch.arange(heads).view(1, heads, 1)
    for length, count in packed_blocks:
        tokens = token + torch.arange(count * length).view(count, 1, length)
        gathers.append((tokens * heads + head_index).reshape(-1))  # [texts, heads, length]
        blocks.append((row, count * heads, length, score))
        lengths.append(torch.full((count * heads * length,), length))
        token += count * length
        row += count * heads * length
        score += count * heads * length * length
    gather = torch.cat(gathers)
    scatter = torch.empty_like(gather)
    scatter[gather] = torch.arange(len(gather))
    layout = _BlockLayout(gather.to(device), scatter.to(device), tuple(blocks), score,
                          torch.cat(lengths).to(device))
    _LAYOUTS.clear()  # one batch's layout at a time
    _LAYOUTS[cache_key] = layout
    return layout


class _BlockAttention(torch.autograd.Function):
    """Per-text attention with dropout over all blocks of a packed row at once.

    Forward: one gather of q, k and v into the block-major layout, per block
    ``softmax(q k^T * scale)`` into one score buffer, one dropout mask for all of
    it, per block ``P v``, one scatter back. Backward by hand, with
    ``rowsum(dP * P) = dO . O`` (which holds with the dropout mask too).
    """

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                layout: _BlockLayout, dropout: float, scale: float) -> torch.Tensor:
        from .dropout import keep_scale

        heads, total, head_dim = query.shape[1], query.shape[2], query.shape[3]

        def block_major(tensor: torch.Tensor) -> torch.Tensor:
            rows = tensor[0].transpose(0, 1).reshape(total * heads, head_dim)
            return rows.index_select(0, layout.gather)

        q = block_major(query).mul_(scale)
        k, v = block_major(key), block_major(value)
        probs = q.new_empty(layout.scores)
        out = q.new_empty(total * heads, head_dim)
        for row, batch, length, score in layout.blocks:
            rows, scores = slice(row, row + batch * length), slice(score, score + batch *
                                                                    length * length)
            block_scores = probs[scores].view(batch, length, length)
            torch.bmm(q[rows].view(batch, length, head_dim),
                      k[rows].view(batch, length, head_dim).transpose(1, 2), out=block_scores)
            torch.softmax(block_scores, -1, out=block_scores)
        keep = keep_scale(probs.shape, dropout, probs.dtype, probs.device)
        dropped = probs * keep
        for row, batch, length, score in layout.blocks:
            rows, scores = slice(row, row + batch * length), slice(score, score + batch *
                                                                    length * length)
            torch.bmm(dropped[scores].view(batch, length, length),
                      v[rows].view(batch, length, head_dim),
                      out=out[rows].view(batch, length, head_dim))
        ctx.save_for_backward(q, k, v, probs, keep, dropped, out)
        ctx.layout, ctx.scale = layout, scale
        return out.index_select(0, layout.scatter).view(1, total, heads, head_dim)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Any:
        q, k, v, probs, keep, dropped, out = ctx.saved_tensors
        layout: _BlockLayout = ctx.layout
        total, heads, head_dim = grad_output.shape[1], grad_output.shape[2], grad_output.shape[3]
        grad_out = grad_output.reshape(total * heads, head_dim).index_select(0, layout.gather)
        grad_dropped = probs.new_empty(layout.scores)
        grads = q.new_empty(3, total * heads, head_dim)  # q, k, v; block-major
        for row, batch, length, score in layout.blocks:
            rows, scores = slice(row, row + batch * length), slice(score, score + batch *
                                                                    length * length)
            grad_block = grad_out[rows].view(batch, length, head_dim)
            torch.bmm(grad_block, v[rows].view(batch, length, head_dim).transpose(1, 2),
                      out=grad_dropped[scores].view(batch, length, length))
            torch.bmm(dropped[scores].view(batch, length, length).transpose(1, 2), grad_block,
                      out=grads[2, rows].view(batch, length, head_dim))
        # d softmax: P * (dP - rowsum(dP * P)), rowsum(dP * P) = dO . O per row.
        row_sums = (grad_out * out).sum(-1).repeat_interleave(layout.row_lengths)
        grad_scores = grad_dropped.mul_(keep).sub_(row_sums).mul_(probs)
        for row, batch, length, score in layout.blocks:
            rows, scores = slice(row, row + batch * length), slice(score, score + batch *
                                                                    length * length)
            block_grad = grad_scores[scores].view(batch, length, length)
            torch.bmm(block_grad, k[rows].view(batch, length, head_dim),
                      out=grads[0, rows].view(batch, length, head_dim))
            torch.bmm(block_grad.transpose(1, 2), q[rows].view(batch, length, head_dim),
                      out=grads[1, rows].view(batch, length, head_dim))
        grads[0].mul_(ctx.scale)  # q was scaled before its product with k
        token_major = grads.index_select(1, layout.scatter).view(3, total, heads, head_dim)
        grad_q, grad_k, grad_v = (g.transpose(0, 1).unsqueeze(0) for g in token_major)
        return grad_q, grad_k, grad_v, None, None, None


def register_packed_encoder_attention() -> str:
    """Register :func:`packed_encoder_attention` with transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ENCODER_ATTENTION, packed_encoder_attention)
    return PACKED_ENCODER_ATTENTION


class PackedEncoder(torch.nn.Module):
    """A Hugging Face encoder run on packed texts, pooled to one embedding per text."""

    def __init__(self, model: Any, pooling: Literal["mean", "cls"], normalize: bool) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.normalize = normalize

    def forward(self, packed: PackedTexts) -> torch.Tensor:
        """Embeddings ``[texts, dim]`` in the caller's order."""
        hidden = self.model(
            input_ids=packed.input_ids,
            position_ids=packed.position_ids,
            packed_blocks=packed.blocks,
        ).last_hidden_state[0]
        if self.pooling == "cls":
            pooled = hidden[packed.starts]
        else:
            sums = hidden.new_zeros(len(packed.lengths), hidden.shape[-1])
            sums = sums.index_add(0, packed.segments, hidden)
            pooled = sums / packed.lengths.unsqueeze(1).to(hidden.dtype)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        # Row order back to the caller's order.
        embeddings = torch.empty_like(pooled)
        embeddings[packed.order] = pooled
        return embeddings


def _padded_embeddings(encoder: PackedEncoder, token_ids: list[list[int]],
                       device: torch.device) -> torch.Tensor:
    """Reference embeddings: each text alone through the model's own attention path."""
    outputs = []
    for ids in token_ids:
        packed = pack_texts([ids], device)
        outputs.append(encoder(packed))
    return torch.cat(outputs)


def check_packable(encoder: PackedEncoder, tokenizer: Any, device: torch.device) -> None:
    """Refuse a model whose packed embeddings differ from those of texts encoded alone."""
    model = encoder.model
    config = model.config
    name = type(model).__name__
    advice = ("Train it with backend='sentence-transformers', which pads instead of "
              "packing.")
    if getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False):
        raise ParameterError(f"The native embedding backend packs bidirectional encoders; "
                             f"{name} is a decoder or encoder-decoder. {advice}")
    if not getattr(model, "_supports_attention_backend", False):
        raise ParameterError(f"{name} does not route its attention through transformers' "
                             "attention interface, so its texts cannot be packed with "
                             f"per-text attention. {advice}")
    probes = ["a short one", "a somewhat longer probe text with more words in it", "two"]
    token_ids = [tokenizer(text)["input_ids"] for text in probes]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            packed = encoder(pack_texts(token_ids, device))
            alone = _padded_embeddings(encoder, token_ids, device)
            # Packed texts must not see each other: compare each against a 2-text pack.
            pair = encoder(pack_texts(token_ids[:2], device))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ParameterError(f"{name} cannot run on packed texts ({type(exc).__name__}: "
                             f"{exc}). {advice}") from None
    finally:
        model.train(was_training)
    error = max((packed - alone).abs().max().item(), (pair - alone[:2]).abs().max().item())
    if not error < 1e-4 * max(1.0, alone.abs().max().item()):
        raise ParameterError(
            f"{name} gives other embeddings for packed texts than for texts alone (max "
            f"difference {error:.2e}): its layers mix tokens across texts or ignore position "
            f"ids. {advice}"
        )
