"""The language models GEPA calls: endpoints, local Hugging Face models, Python callables.

Each is a callable ``lm(prompt) -> str`` where ``prompt`` is a text or a list of
chat messages, which is what the gepa library hands its task and reflection
models. :func:`resolve_lm` turns a ``task_lm`` / ``reflection_lm`` value into one:

1. a callable is used as it is ('pkg.mod:func' strings are imported first);
2. an existing folder is a Hugging Face model, run in-process with transformers;
3. with ``api_base``, a name is a model of that OpenAI-compatible server
   (an ``openai/`` or ``hosted_vllm/`` prefix, litellm's spelling, is dropped);
4. ``openai/NAME`` without ``api_base`` goes to OpenAI (``OPENAI_BASE_URL`` or
   ``OPENAI_API_BASE`` override the address; ``OPENAI_API_KEY`` is the key);
5. another litellm provider prefix (``anthropic/...``) goes through litellm, when installed;
6. anything else is a Hugging Face hub id, loaded with transformers.

The endpoint client is the standard library's ``urllib`` (no openai/litellm
dependency). A failure after retries is a :class:`LanguageModelError` naming the
model, the address and the fix; the backend stops the search on it and keeps
what was found.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from training_hub import ParameterError, UserError

from ._imports import is_import_string, resolve_object

__all__ = [
    "CallableLM",
    "EndpointLM",
    "LanguageModelError",
    "LocalHFLM",
    "resolve_lm",
]

OPENAI_DEFAULT_BASE: Final = "https://api.openai.com/v1"
#: Prefixes that litellm users put before a model served by an OpenAI-compatible server.
_OPENAI_COMPATIBLE_PREFIXES: Final = ("openai/", "hosted_vllm/")
#: litellm provider prefixes that are not OpenAI-compatible servers (routed to litellm).
_LITELLM_PROVIDERS: Final = frozenset(
    "anthropic azure azure_ai bedrock cohere deepseek fireworks_ai gemini groq mistral "
    "ollama ollama_chat openrouter perplexity together_ai vertex_ai watsonx xai".split()
)
#: Seconds to wait before each retry of a failed request (connection errors, 429, 5xx).
RETRY_DELAYS: tuple[float, ...] = (0.5, 2.0)


class LanguageModelError(UserError):
    """A language model could not be reached or did not answer with text.

    ``partial_result`` holds what the search had found before (a
    :class:`~training_hub_gepa.result.GEPARunResult` with ``complete=False``),
    also written to ``output_dir`` when one was given.
    """

    partial_result: Any = None


Messages = list[dict[str, Any]]
Prompt = str | Sequence[dict[str, Any]]


def _as_messages(prompt: Prompt) -> Messages:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(message) for message in prompt]


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class _Failures:
    """The first language-model failure of a run, shared by its models (the stop signal)."""

    def __init__(self) -> None:
        self.error: LanguageModelError | None = None
        self._lock = threading.Lock()

    def record(self, error: LanguageModelError) -> LanguageModelError:
        with self._lock:
            if self.error is None:
                self.error = error
        return error


class EndpointLM:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(self, model: str, api_base: str, *, role: str, options: dict[str, Any],
                 timeout: float, api_key: str | None, failures: _Failures) -> None:
        self.model = model
        self.url = api_base.rstrip("/") + "/chat/completions"
        self.role = role
        self.options = {"temperature": 0.0, **options}
        self.timeout = timeout
        self.api_key = api_key
        self.failures = failures

    def __repr__(self) -> str:
        return f"EndpointLM({self.model!r} at {self.url})"

    def __call__(self, prompt: Prompt) -> str:
        body = {"model": self.model, "messages": _as_messages(prompt), **self.options}
        payload = self._post(body)
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise self._fail(
                f"answered with something that is not an OpenAI chat completion "
                f"(no choices[0].message.content text): {_snippet(json.dumps(payload))}",
                "Check that api_base points at an OpenAI-compatible server (its URL usually "
                "ends in /v1).",
            )
        return content

    def batch_complete(self, requests: list[Prompt], max_workers: int = 8,
                       **_: Any) -> list[str]:
        """Answers to several prompts, ``max_workers`` requests at a time (gepa's batch call)."""
        if self.failures.error is not None:
            raise self.failures.error
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(requests)))) as pool:
            return list(pool.map(self, requests))

    def _post(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode("utf-8")
        attempt = 0
        while True:
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read().decode("utf-8", errors="replace")
                break
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", errors="replace")
                retryable = exc.code == 429 or exc.code >= 500
                problem = f"answered HTTP {exc.code} ({exc.reason}): {_snippet(detail)}"
                fix = {
                    401: "Set OPENAI_API_KEY to a valid key for this server.",
                    404: f"Check api_base and that the server serves a model named "
                         f"'{self.model}'.",
                }.get(exc.code, "Check the server's log.")
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                retryable = True
                problem = f"cannot be reached ({reason})"
                fix = "Start the server, or fix api_base."
            if not retryable or attempt >= len(RETRY_DELAYS):
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise self._fail(problem + tries, fix)
            time.sleep(RETRY_DELAYS[attempt])
            attempt += 1
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise self._fail(
                f"answered with something that is not JSON: {_snippet(raw)!r}",
                "Check that api_base points at an OpenAI-compatible server (its URL usually "
                "ends in /v1).",
            ) from None

    def _fail(self, problem: str, fix: str) -> LanguageModelError:
        return self.failures.record(LanguageModelError(
            f"The {self.role} '{self.model}' at {self.url} {problem}. {fix}"
        ))


class LocalHFLM:
    """A Hugging Face causal LM run in this process with ``generate()`` (loaded on first use)."""

    #: Prompts generated together by :meth:`batch_complete` (gepa's evaluation batches).
    BATCH_SIZE = 8

    def __init__(self, name_or_path: str, *, role: str, options: dict[str, Any], device: str,
                 seed: int, loaded: dict[str, Any], failures: _Failures) -> None:
        self.name = name_or_path
        self.role = role
        options = dict(options)
        self.max_new_tokens = int(options.pop("max_tokens", options.pop("max_new_tokens", 512)))
        self.temperature = float(options.pop("temperature", 0.0))
        self.generate_options = options
        self.device = device
        self.seed = seed
        self._loaded = loaded  # shared by the run's models, so one folder is loaded once
        self.failures = failures

    def __repr__(self) -> str:
        return f"LocalHFLM({self.name!r})"

    def _model(self) -> tuple[Any, Any]:
        key = f"{self.name}@{self.device}"
        if key not in self._loaded:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.name)
                model = AutoModelForCausalLM.from_pretrained(
                    self.name, dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32
                )
            except (OSError, ValueError) as exc:
                raise self.failures.record(LanguageModelError(
                    f"The {self.role} '{self.name}' is not a model folder that transformers "
                    f"can load, nor a reachable Hugging Face hub id ({_snippet(str(exc), 300)}). "
                    "Give a folder with config.json, tokenizer and weights, or use api_base "
                    "for a served model."
                )) from None
            model.to(device).eval()
            torch.manual_seed(self.seed)
            self._loaded[key] = (model, tokenizer)
        model, tokenizer = self._loaded[key]
        return model, tokenizer

    def __call__(self, prompt: Prompt) -> str:
        return self._generate([prompt])[0]

    def batch_complete(self, requests: list[Prompt], max_workers: int = 8,
                       **_: Any) -> list[str]:
        """Answers to several prompts, generated in left-padded batches of ``BATCH_SIZE``."""
        answers: list[str] = []
        for start in range(0, len(requests), self.BATCH_SIZE):
            answers.extend(self._generate(requests[start:start + self.BATCH_SIZE]))
        return answers

    def _render(self, tokenizer: Any, prompt: Prompt) -> str:
        messages = _as_messages(prompt)
        if getattr(tokenizer, "chat_template", None):
            return str(tokenizer.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=True))
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def _generate(self, prompts: list[Prompt]) -> list[str]:
        import torch

        model, tokenizer = self._model()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # generation continues every row at its end
        texts = [self._render(tokenizer, prompt) for prompt in prompts]
        ids = tokenizer(texts, return_tensors="pt", padding=True,
                        add_special_tokens=False).to(model.device)
        length = int(ids["input_ids"].shape[1])
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit is not None and length + self.max_new_tokens > limit:
            raise self.failures.record(LanguageModelError(
                f"The {self.role} '{self.name}' takes {limit} positions, but the prompt is "
                f"{length} tokens plus max_tokens={self.max_new_tokens}. Use a model with a "
                "longer context, a shorter prompt, or lower max_tokens in the *_lm_kwargs."
            ))
        sampling = {"do_sample": True, "temperature": self.temperature} \
            if self.temperature > 0 else {"do_sample": False}
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=self.max_new_tokens,
                                 pad_token_id=tokenizer.pad_token_id, **sampling,
                                 **self.generate_options)
        return [str(tokenizer.decode(row[length:], skip_special_tokens=True)) for row in out]


class CallableLM:
    """A Python callable as a language model; its answer must be text."""

    def __init__(self, fn: Callable[..., Any], *, role: str, failures: _Failures) -> None:
        self.fn = fn
        self.role = role
        self.failures = failures

    def __repr__(self) -> str:
        return f"CallableLM({getattr(self.fn, '__qualname__', self.fn)!r})"

    def __call__(self, prompt: Prompt) -> str:
        answer = self.fn(prompt)
        if not isinstance(answer, str):
            raise self.failures.record(LanguageModelError(
                f"The {self.role} {self!r} returned {type(answer).__name__} "
                f"{_snippet(repr(answer))}, not text. Make it return the model's answer as a str."
            ))
        return answer


class _LiteLLM:
    """A model of another litellm provider, through gepa's litellm wrapper."""

    def __init__(self, model: str, options: dict[str, Any]) -> None:
        from gepa.lm import LM

        self._lm = LM(model, **options)

    def __call__(self, prompt: Prompt) -> str:
        return str(self._lm(prompt))

    def batch_complete(self, requests: list[Prompt], max_workers: int = 8,
                       **kwargs: Any) -> list[str]:
        return list(self._lm.batch_complete(requests, max_workers=max_workers, **kwargs))


def resolve_lm(spec: Any, *, role: str, api_base: str | None, options: dict[str, Any],
               timeout: float, device: str, seed: int, loaded: dict[str, Any],
               failures: _Failures) -> Callable[[Prompt], str]:
    """The language model ``spec`` names (see the module docstring for the order)."""
    parameter = "task_lm" if role == "task LM" else "reflection_lm"
    if is_import_string(spec):
        spec = resolve_object(spec, parameter)
    if callable(spec):
        return CallableLM(spec, role=role, failures=failures)
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError(f"{parameter}={spec!r} is neither a model name nor a callable.")
    name = spec.strip()
    if Path(name).expanduser().is_dir():
        return LocalHFLM(str(Path(name).expanduser()), role=role, options=options,
                         device=device, seed=seed, loaded=loaded, failures=failures)
    key = os.environ.get("OPENAI_API_KEY")
    if api_base is not None:
        for prefix in _OPENAI_COMPATIBLE_PREFIXES:
            name = name.removeprefix(prefix)
        return EndpointLM(name, api_base, role=role, options=options, timeout=timeout,
                          api_key=key, failures=failures)
    if name.startswith("openai/"):
        base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
        if base is None and not key:
            raise ParameterError(
                f"{parameter}={spec!r} is an OpenAI model, but OPENAI_API_KEY is not set. Set "
                "it, or point api_base at a local OpenAI-compatible server, or use a local "
                "model folder."
            )
        return EndpointLM(name.removeprefix("openai/"), base or OPENAI_DEFAULT_BASE, role=role,
                          options=options, timeout=timeout, api_key=key, failures=failures)
    provider = name.split("/", 1)[0]
    if "/" in name and provider in _LITELLM_PROVIDERS:
        import importlib.util

        if importlib.util.find_spec("litellm") is None:
            raise ParameterError(
                f"{parameter}={spec!r} names a '{provider}' model, which goes through litellm: "
                "pip install litellm, or serve the model behind an OpenAI-compatible api_base."
            )
        return _LiteLLM(name, options)
    return LocalHFLM(name, role=role, options=options, device=device, seed=seed,
                     loaded=loaded, failures=failures)
