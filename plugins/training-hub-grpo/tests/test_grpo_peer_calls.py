"""training_hub 0.11.2's documented grpo/lora_grpo calls run here unchanged on CPU.

Its README and docs train on tool-call records with no ``reward_fn`` and name the
backends ``art`` and ``verl``. Here those records are a data format (the prompt is
``[system_prompt, question, *context_messages]`` rendered by the chat template with
the ``tools``; a multi-turn trace is split into one sample per tool call), their
default reward is ``tool_call`` (1.0 right name and arguments, 0.5 right name, 0.0
otherwise) and ``art``/``verl`` are names of the native backend. Each call below is
the peer's, with a tiny model in ``model_path`` and, where said, a few size settings
that keep it seconds long on CPU.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
from training_hub_grpo.data import load_prompts
from training_hub_grpo.params import GRPOParams, LoRAGRPOParams
from training_hub_grpo.scoring import run_rewards, score

import training_hub
from training_hub import TrainingHubCallback
from training_hub._errors import DataError, ParameterError
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer

#: A ChatML template that renders tools and assistant tool calls (as Qwen's does).
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n{% endif %}"
    "# Tools\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% elif messages[0].role == 'system' %}<|im_start|>system\n"
    "{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{% for message in messages %}{% if message.role == 'system' %}"
    "{% elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{% for call in message.tool_calls %}<tool_call>"
    "{{ {'name': call.function.name, 'arguments': call.function.arguments} | tojson }}"
    "</tool_call>{% endfor %}<|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

ALERTS = {"type": "function", "function": {
    "name": "get_alerts", "description": "weather alerts of a state",
    "parameters": {"type": "object", "properties": {"state": {"type": "string"}}}}}
FORECAST = {"type": "function", "function": {
    "name": "get_forecast", "description": "forecast of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "days": {"type": "integer"}}}}}


def _single_turn(i: int) -> dict[str, Any]:
    """The peer's pre-processed single-turn sample (docs/algorithms/lora_grpo.md)."""
    if i % 2:
        return {"question": f"what is the forecast for city {i}", "tools": [ALERTS, FORECAST],
                "target_tool_name": "get_forecast",
                "target_arguments": {"city": f"c{i}", "days": 3},
                "system_prompt": "you are a helpful assistant"}
    return {"question": f"check weather alerts for state {i}", "tools": [ALERTS],
            "target_tool_name": "get_alerts", "target_arguments": {"state": f"s{i}"},
            "system_prompt": "you are a helpful assistant"}


def _multi_turn(i: int) -> dict[str, Any]:
    """The peer's recommended multi-turn trace: two tool calls, split into two samples."""
    return {"question": f"alerts and forecast {i}", "tools": [ALERTS, FORECAST], "messages": [
        {"role": "system", "content": "you are a helpful assistant"},
        {"role": "user", "content": f"alerts and forecast {i}"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {
                "name": "get_alerts", "arguments": json.dumps({"state": "CA"})}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_alerts", "content": "no alerts"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_2", "type": "function", "function": {
                "name": "get_forecast", "arguments": {"city": "sf", "days": 2}}}]},
        {"role": "tool", "tool_call_id": "call_2", "name": "get_forecast", "content": "sunny"},
        {"role": "assistant", "content": "no alerts , and sunny"},
    ]}


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model whose template renders tools, one whose template does not, and a trace
    file: 12 single-turn samples and 2 multi-turn traces (4 samples), 16 prompts."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("traces")
    tokenizer = make_tiny_tokenizer(folder / "tools-model")
    tokenizer.chat_template = TOOLS_TEMPLATE
    make_tiny_model(folder / "tools-model", tokenizer)
    plain = make_tiny_tokenizer(folder / "plain-model")  # ChatML without tools
    make_tiny_model(folder / "plain-model", plain)
    data = folder / "tool_call_traces.jsonl"
    records = [_single_turn(i) for i in range(12)] + [_multi_turn(i) for i in range(2)]
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return {"model": folder / "tools-model", "plain": folder / "plain-model", "data": data}


def _prompts(model: Path, data: Path, schema: type[GRPOParams] = GRPOParams, **extra: Any):
    from transformers import AutoTokenizer

    params = schema(model_path=str(model), data_path=str(data), ckpt_output_dir="unused",
                    **extra)
    return params, load_prompts(params, AutoTokenizer.from_pretrained(str(model)))


def test_tool_call_records_are_rendered_with_the_chat_template_and_tools(
        traces: dict[str, Path]) -> None:
    _, prompts = _prompts(traces["model"], traces["data"])
    train = prompts.train
    assert len(train) == 12 + 2 * 2 and all(p.is_tool_call for p in train)
    first = train[0]
    assert first.text == (
        "<|im_start|>system\nyou are a helpful assistant\n# Tools\n"
        + json.dumps(ALERTS, separators=(", ", ": ")) + "\n<|im_end|>\n"
        "<|im_start|>user\ncheck weather alerts for state 0<|im_end|>\n<|im_start|>assistant\n")
    # the record's fields are the columns the reward functions get
    assert first.columns["target_tool_name"] == "get_alerts"
    assert first.columns["target_arguments"] == {"state": "s0"}
    # a multi-turn trace: one sample per tool call, the conversation before it as context
    call_1, call_2 = train[12], train[13]
    assert "tool call 1" in call_1.location and "tool call 2" in call_2.location
    assert (call_1.columns["target_tool_name"], call_1.columns["target_arguments"]) == \
        ("get_alerts", {"state": "CA"})  # the JSON-text arguments parsed
    assert (call_2.columns["target_tool_name"], call_2.columns["target_arguments"]) == \
        ("get_forecast", {"city": "sf", "days": 2})
    assert call_1.columns["context_messages"] == []
    assert call_1.text.endswith("alerts and forecast 0<|im_end|>\n<|im_start|>assistant\n")
    assert call_2.text.endswith(
        '<|im_start|>assistant\n<tool_call>{"name": "get_alerts", "arguments": {"state": "CA"}}'
        "</tool_call><|im_end|>\n<|im_start|>tool\nno alerts<|im_end|>\n"
        "<|im_start|>assistant\n")


def test_a_template_without_tools_gets_them_in_the_system_message(
        traces: dict[str, Path], tmp_path: Path) -> None:
    single = tmp_path / "single.jsonl"
    single.write_text(json.dumps(_single_turn(0)) + "\n", encoding="utf-8")
    _, prompts = _prompts(traces["plain"], single)
    assert prompts.train[0].text == (
        "<|im_start|>system\nyou are a helpful assistant\n\nYou have access to the following "
        'tools. To call a tool, respond with a JSON object in this format: {"name": '
        '"tool_name", "arguments": {"arg1": "value1"}}\n\nTools:\n'
        + json.dumps([ALERTS], indent=2) + "<|im_end|>\n<|im_start|>user\ncheck weather "
        "alerts for state 0<|im_end|>\n<|im_start|>assistant\n")
    # ground-truth tool calls in the context cannot be rendered by that template: an error
    with pytest.raises(DataError, match=r"jsonl:13 \(tool call 2\): .*does not render"):
        _prompts(traces["plain"], traces["data"])


def test_the_default_reward_of_tool_call_records_is_tool_call(traces: dict[str, Path],
                                                              tmp_path: Path) -> None:
    params, prompts = _prompts(traces["model"], traces["data"])
    rewards = run_rewards(params, prompts.train)
    assert [r.name for r in rewards] == ["tool_call"]
    chosen = [prompts.train[0], prompts.train[1], prompts.train[13]]
    columns = {k: [p.columns.get(k) for p in chosen] for k in sorted(chosen[0].columns)}
    completions = [
        '<tool_call>{"name": "get_alerts", "arguments": {"state": "s0"}}</tool_call>',
        '{"name": "get_forecast", "arguments": {"city": "c1", "days": 4}}',  # wrong days
        '<tool_call>{"name": "get_alerts", "arguments": {"state": "CA"}}</tool_call>',
    ]
    assert score(rewards, [p.text for p in chosen], completions, columns) == [[1.0, 0.5, 0.0]]
    # prompts that are no tool-call records need a reward_fn, named in the error
    other = tmp_path / "questions.jsonl"
    other.write_text(json.dumps({"question": "say hello", "ground_truth": "hello"}) + "\n")
    params, questions = _prompts(traces["model"], other)
    assert questions.train[0].text.startswith("<|im_start|>user\nsay hello")
    with pytest.raises(ParameterError, match=r"reward_fn is not given, and .*jsonl:1 is not a "
                                             "tool-call record"):
        run_rewards(params, questions.train)


class _Names(TrainingHubCallback):
    def __init__(self) -> None:
        self.backends: list[str] = []

    def on_train_begin(self, context: Any) -> None:
        self.backends.append(context.backend)


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


#: What keeps a peer call seconds long here (its other arguments are the peer's).
TINY = {"max_tokens": 4, "prompt_batch_size": 8, "device": "cpu", "num_threads": 1,
        "quiet": True}


def test_peer_lora_grpo_art_call(traces: dict[str, Path], tmp_path: Path) -> None:
    """README: lora_grpo(model_path, data_path, ckpt_output_dir, backend="art", lora_r=32,
    lora_alpha=64, num_iterations=15); 2 batches of 8 prompts a pass, 15 passes."""
    names = _Names()
    out = tmp_path / "grpo_output"
    result = training_hub.lora_grpo(
        model_path=str(traces["model"]), data_path=str(traces["data"]),
        ckpt_output_dir=str(out), backend="art", lora_r=32, lora_alpha=64,
        num_iterations=15, callbacks=[names], **TINY)
    assert (result.steps, result.epochs) == (30, 15) and len(result.reward_history) == 30
    assert all(0.0 <= r <= 1.0 for r in result.reward_history)
    assert names.backends == ["native"]  # art is a name of the native backend
    assert "rewards/tool_call/mean" in _metrics(out)[0]  # the default reward
    adapter = json.loads((Path(result["checkpoint_path"]) / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (32, 64)


def test_peer_grpo_call(traces: dict[str, Path], tmp_path: Path) -> None:
    """README: grpo(model_path, data_path, ckpt_output_dir, n_gpus=8, num_iterations=8),
    here on one process (the slow test below runs the several-process call)."""
    out = tmp_path / "grpo_full_output"
    result = training_hub.grpo(model_path=str(traces["model"]), data_path=str(traces["data"]),
                               ckpt_output_dir=str(out), num_iterations=8,
                               **{**TINY, "max_steps": 4})
    assert result.steps == 4 and result.final_reward is not None
    checkpoint = Path(result["checkpoint_path"])
    assert (checkpoint / "config.json").is_file() and any(checkpoint.glob("*.safetensors"))
    assert "rewards/tool_call/mean" in _metrics(out)[0]


def test_peer_backend_names_need_a_reward_for_other_prompts(traces: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """backend='verl' on grpo and lora_grpo is the native backend; without tool-call records
    and without reward_fn the run stops before training, naming the fix."""
    data = tmp_path / "questions.jsonl"
    data.write_text("".join(json.dumps({"question": f"say hello {i}", "answer": "hello"}) + "\n"
                            for i in range(8)))
    out = tmp_path / "out"
    with pytest.raises(ParameterError, match="give reward_fn"):
        training_hub.grpo(model_path=str(traces["model"]), data_path=str(data),
                          ckpt_output_dir=str(out), backend="verl", **TINY)
    assert not (out / "checkpoints").exists()
    result = training_hub.lora_grpo(
        model_path=str(traces["model"]), data_path=str(data), ckpt_output_dir=str(out),
        backend="verl", reward_fn="exact_match", max_steps=1, **TINY)
    assert result.steps == 1 and "rewards/exact_match/mean" in _metrics(out)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # torchrun starts four CPU workers
def test_peer_lora_grpo_verl_call_on_four_processes(traces: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """docs: lora_grpo(..., backend="verl", n_gpus=4, num_iterations=3, group_size=4,
    lora_r=32, lora_alpha=64, learning_rate=1e-5): four gloo processes here."""
    monkeypatch.setenv("TRAINING_HUB_DIST_TIMEOUT_S", "120")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "output"
    result = training_hub.lora_grpo(
        model_path=str(traces["model"]), data_path=str(traces["data"]),
        ckpt_output_dir=str(out), backend="verl", n_gpus=4, num_iterations=3, group_size=4,
        lora_r=32, lora_alpha=64, learning_rate=1e-5, master_port=_free_port(), **TINY)
    assert (result.steps, result.epochs) == (6, 3)
    assert result.completions == 6 * 8 * 4
    assert "rewards/tool_call/mean" in _metrics(out)[0]
    assert (Path(result["checkpoint_path"]) / "adapter_config.json").is_file()


def test_lora_grpo_reads_the_peer_schema(traces: dict[str, Path]) -> None:
    """The same records through lora_grpo's schema (no reward_fn is valid there too)."""
    params, prompts = _prompts(traces["model"], traces["data"], LoRAGRPOParams, lora_r=32)
    assert params.reward_fn is None and len(prompts.train) == 16


SEEN_ARGUMENTS: list[Any] = []


def _arguments_seen(prompts: list[str], completions: list[str], target_arguments: list[Any],
                    **columns: Any) -> list[float | None]:
    SEEN_ARGUMENTS.extend(target_arguments)
    return [0.0] * len(completions)


def test_trl_backend_gets_the_tool_call_columns_exactly(traces: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """On TRL the columns reach the reward functions as read: the arguments of different
    tools keep their own keys (an Arrow table of them would add the others as None)."""
    pytest.importorskip("training_hub_trl")
    SEEN_ARGUMENTS.clear()
    result = training_hub.lora_grpo(
        model_path=str(traces["model"]), data_path=str(traces["data"]),
        ckpt_output_dir=str(tmp_path / "out"), backend="trl",
        reward_fn=["tool_call", _arguments_seen], max_steps=1, group_size=2,
        **{**TINY, "prompt_batch_size": 16})
    assert result.steps == 1 and result.completions == 32
    expected = [r["target_arguments"] for r in map(json.loads, traces["data"].read_text()
                                                    .splitlines()) if "target_arguments" in r]
    expected += [{"state": "CA"}, {"city": "sf", "days": 2}] * 2
    key = json.dumps
    assert sorted(map(key, SEEN_ARGUMENTS)) == sorted(key(a) for a in expected for _ in "ab")


def _verl_reward(data_source, solution_str, ground_truth, **kwargs):  # the peer's grpo docs
    return float(solution_str.strip() == ground_truth)


def _art_reward(response, expected_name, expected_args):  # the peer's lora_grpo docs
    return 1.0


@pytest.mark.parametrize("function", [_verl_reward, _art_reward, "training_hub.rewards:"
                                      "tool_call_reward"], ids=["verl", "art", "helper"])
def test_a_reward_function_with_the_peer_signature_is_refused_with_its_wrapper(
        function: Any) -> None:
    from training_hub_grpo.scoring import resolve_rewards

    with pytest.raises(ParameterError, match=r"training_hub 0.11.2's signature .*Wrap it: "
                                             r"reward_fn=lambda prompts, completions, "):
        resolve_rewards([function], None)


def test_the_wrapper_of_the_message_scores_as_the_peer_function() -> None:
    from training_hub_grpo.scoring import resolve_rewards

    with pytest.raises(ParameterError) as refused:
        resolve_rewards([_verl_reward], None)
    source = str(refused.value).split("reward_fn=", 1)[1].rsplit(" (see docs", 1)[0]
    wrapped = eval(source, {"fn": _verl_reward})  # the wrapper exactly as the message gives it
    [reward] = resolve_rewards([wrapped], None)
    assert score([reward], ["p", "p"], ["4", "5"], {"ground_truth": ["4", "4"]}) == [[1.0, 0.0]]


def test_a_malformed_trace_is_one_data_error(traces: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    for record, message in (
        ({"messages": "not json"}, "'messages' is a string but not JSON"),
        ({"messages": [{"role": "system", "content": "x"}]}, "has no user message"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant",
                                                          "content": "hi"}]},
         "has no assistant tool call"),
        ({"messages": [{"role": "user", "content": "x"},
                       {"role": "assistant", "tool_calls": ["get_alerts"]}]},
         "tool_calls of a message in 'messages' must be a list"),
        ({"question": "x", "tools": "get_alerts"}, "'tools' must be a list"),
    ):
        bad.write_text(json.dumps(record) + "\n")
        with pytest.raises(DataError, match=message):
            _prompts(traces["model"], bad)
