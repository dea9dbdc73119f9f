"""Chat samples: render with the tokenizer's own chat template and find the assistant tokens.

The assistant mask does not rely on ``{% generation %}`` markers, which most
templates lack. For every assistant turn ``i`` the template renders
``messages[:i]`` with the generation prompt and ``messages[:i + 1]``; the first
text must be a prefix of the second and the second a prefix of the whole
conversation. The characters between the two are the assistant's turn. Tokens
are assigned to it by their character offsets in the tokenized conversation,
so a BPE merge across the boundary cannot shift the mask. Whatever the template
renders after the last special token of a turn (the newline after
``<|im_end|>``, say) is left out, while the end-of-turn token itself is learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._errors import DataError

__all__ = ["assistant_char_spans", "end_of_turn_ids", "tokenize_chats"]

Messages = list[dict[str, Any]]


class _Renderer:
    """Renders with ``tokenizer.apply_chat_template``, or faster with the compiled template.

    transformers' own call costs several times the jinja rendering itself, and
    chat data renders each conversation once per assistant turn. The compiled
    template is used only when it reproduces ``apply_chat_template`` exactly on a
    sample conversation (with and without the generation prompt).
    """

    def __init__(self, tokenizer: Any, sample: Messages | None) -> None:
        self.tokenizer = tokenizer
        self.compiled: Any = None
        template = getattr(tokenizer, "chat_template", None)
        if sample is None or not isinstance(template, str):
            return
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            self.compiled = _compile_jinja_template(template)
            for flag in (False, True):
                fast = self._fast(sample, flag)
                slow = tokenizer.apply_chat_template(
                    sample, tokenize=False, add_generation_prompt=flag
                )
                if fast != slow:
                    self.compiled = None
        except Exception:  # any doubt: the reference path below is always right
            self.compiled = None

    def _fast(self, messages: Messages, generation_prompt: bool) -> str:
        clean = [{k: v for k, v in m.items() if v is not None} for m in messages]
        return str(
            self.compiled.render(
                messages=clean,
                tools=None,
                documents=None,
                add_generation_prompt=generation_prompt,
                **self.tokenizer.special_tokens_map,
            )
        )

    def __call__(self, messages: Messages, location: str, *, generation_prompt: bool) -> str:
        try:
            if self.compiled is not None:
                return self._fast(messages, generation_prompt)
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        except Exception as exc:  # jinja's raise_exception and template bugs surface here
            raise DataError(
                f"{location}: the tokenizer's chat template cannot render this conversation: {exc}"
            ) from None
        if not isinstance(text, str):
            raise DataError(
                f"{location}: the chat template returned {type(text).__name__}, not text."
            )
        return text


def assistant_char_spans(
    tokenizer: Any, messages: Messages, location: str, renderer: _Renderer | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """Render ``messages`` and return the text and the character span of each assistant turn."""
    render = renderer or _Renderer(tokenizer, None)
    full = render(messages, location, generation_prompt=False)
    spans = []
    for turn, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:turn], location, generation_prompt=True) if turn else ""
        upto_turn = render(messages[: turn + 1], location, generation_prompt=False)
        if not upto_turn.startswith(prompt) or not full.startswith(upto_turn):
            raise DataError(
                f"{location}: cannot locate assistant turn messages[{turn}]: the tokenizer's chat "
                "template does not render the conversation incrementally (the prompt with "
                "add_generation_prompt=True is not a prefix of the rendered turn, or an earlier "
                "turn renders differently once later turns follow). Use a chat template that "
                "renders earlier turns unchanged, set unmask to train on every token, or give "
                "pre-tokenized records with input_ids and labels."
            )
        spans.append((len(prompt), len(upto_turn)))
    return full, spans


def end_of_turn_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of special tokens (end-of-turn, EOS, ...) other than the unknown token."""
    ids = {
        token_id
        for token_id, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
        if getattr(token, "special", False)
    }
    ids.update(tokenizer.all_special_ids)
    ids.discard(tokenizer.unk_token_id)
    return frozenset(ids)


def tokenize_chats(
    tokenizer: Any,
    conversations: Sequence[Messages],
    train_all: Sequence[bool],
    locations: Sequence[str],
) -> list[tuple[list[int], np.ndarray]]:
    """Tokenize conversations; return per conversation its token ids and a mask of trained tokens.

    ``train_all[i]`` trains every token of conversation ``i`` (unmask). The mask
    is not shifted: ``mask[t]`` says whether token ``t`` is a target.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(
            "Chat data needs a fast tokenizer (one with a tokenizer.json) to locate the "
            "assistant tokens; the loaded tokenizer is a slow one."
        )
    render = _Renderer(tokenizer, conversations[0] if conversations else None)
    texts: list[str] = []
    all_spans: list[list[tuple[int, int]]] = []
    for messages, everything, location in zip(conversations, train_all, locations, strict=True):
        if everything:
            texts.append(render(messages, location, generation_prompt=False))
            all_spans.append([])
        else:
            text, spans = assistant_char_spans(tokenizer, messages, location, render)
            texts.append(text)
            all_spans.append(spans)
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    special_ids = np.fromiter(end_of_turn_ids(tokenizer), dtype=np.int64)
    is_special = np.zeros(max(len(tokenizer), int(special_ids.max(initial=0)) + 1), dtype=bool)
    is_special[special_ids] = True
    results = []
    for ids, offsets, spans, everything in zip(
        encoded["input_ids"], encoded["offset_mapping"], all_spans, train_all, strict=True
    ):
        if everything:
            results.append((list(ids), np.ones(len(ids), dtype=bool)))
            continue
        token_ids = np.asarray(ids, dtype=np.int64)
        starts = np.asarray([start for start, _ in offsets], dtype=np.int64)
        mask = np.zeros(len(ids), dtype=bool)
        for span_start, span_end in spans:
            in_span = np.nonzero((starts >= span_start) & (starts < span_end))[0]
            if in_span.size == 0:
                continue
            specials = in_span[is_special[token_ids[in_span]]]
            last = specials[-1] if specials.size else in_span[-1]
            mask[in_span[0] : last + 1] = True
        results.append((list(ids), mask))
    return results
