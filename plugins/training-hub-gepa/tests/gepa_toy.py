"""A toy task where a better instruction exists, its deterministic models, and a local server.

The task: "Add 2 and 3." / "Multiply 4 and 0.". The task model answers right only
when its instruction says "compute the sum" (for additions) or "compute the
product" (for multiplications); otherwise it repeats the first number, which is
right for a few multiplications by one. The reflection model reads gepa's
reflection prompt and appends the phrase that the failing examples need. So
the seed instruction scores 1/8 and the search can reach 8/8.

:class:`ToyEndpoint` serves both models as an OpenAI-compatible
``/v1/chat/completions`` endpoint on 127.0.0.1, with a bounded request loop:
it stops by itself after ``max_requests`` requests or ``lifetime_s`` seconds.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

OPERATIONS = {
    "Add": ("compute the sum", lambda a, b: a + b),
    "Multiply": ("compute the product", lambda a, b: a * b),
}
PAIRS = [(2, 3), (4, 1), (5, 6), (7, 2), (3, 3), (6, 0), (2, 9), (8, 3)]
SEED_INSTRUCTION = "Answer the question."


def toy_examples() -> list[dict[str, str]]:
    """Eight examples, additions and multiplications in turn."""
    examples = []
    for index, (a, b) in enumerate(PAIRS):
        word = "Add" if index % 2 == 0 else "Multiply"
        examples.append({"input": f"{word} {a} and {b}.", "answer": str(OPERATIONS[word][1](a, b))})
    return examples


def task_model(messages: list[dict[str, Any]]) -> str:
    """Right only when the system instruction names the operation of the question."""
    instruction = str(messages[0]["content"]).lower()
    match = re.search(r"(Add|Multiply) (\d+) and (\d+)", str(messages[-1]["content"]))
    if match is None:
        return "I do not understand."
    word, a, b = match.group(1), int(match.group(2)), int(match.group(3))
    phrase, operation = OPERATIONS[word]
    return f"The answer is {operation(a, b) if phrase in instruction else a}."


def reflection_model(prompt: Any) -> str:
    """Adds to the current instruction the phrase that the shown failures call for."""
    text = prompt if isinstance(prompt, str) else str(prompt[-1]["content"])
    blocks = text.split("```")
    current, shown = blocks[1].strip(), blocks[3]
    for word, (phrase, _) in OPERATIONS.items():
        if f"{word} " in shown and phrase not in current.lower():
            return f"```\n{current} To answer, {phrase} of the two numbers.\n```"
    return f"```\n{current}\n```"


class _Server(HTTPServer):
    request_queue_size = 64  # gepa sends a batch of requests at once


class ToyEndpoint:
    """OpenAI-compatible server of the toy models: 'toy-task' and 'toy-reflect'.

    ``garbage=True`` answers every request with HTML instead of JSON.
    """

    def __init__(self, *, max_requests: int = 10_000, lifetime_s: float = 120.0,
                 garbage: bool = False) -> None:
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self.garbage = garbage
        self.served = 0
        self._stop = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                endpoint.served += 1
                if endpoint.garbage:
                    self._send(200, b"<html>upstream proxy error</html>", "text/html")
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "no such route"}')
                    return
                model, messages = body.get("model"), body["messages"]
                if model == "toy-task":
                    answer = task_model(messages)
                elif model == "toy-reflect":
                    answer = reflection_model(messages[-1]["content"])
                else:
                    self._send(404, json.dumps({"error": f"model {model!r} not found"}).encode())
                    return
                reply = {"choices": [{"index": 0, "message": {"role": "assistant",
                                                               "content": answer}}]}
                self._send(200, json.dumps(reply).encode())

            def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.timeout = 0.05
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        deadline = time.monotonic() + self.lifetime_s
        try:
            while (self.served < self.max_requests and time.monotonic() < deadline
                   and not self._stop.is_set()):
                self._server.handle_request()
        finally:
            self._server.server_close()  # from here on, connections are refused

    def __enter__(self) -> ToyEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
