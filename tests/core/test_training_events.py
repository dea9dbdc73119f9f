"""Training-event hooks reach plugins during a real (tiny) native training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import training_hub
from training_hub import AlgorithmRegistry, hookimpl
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def on_train_start(self, algorithm: str, backend: str, params: dict[str, Any]) -> None:
        self.events.append(("start", (algorithm, backend, params["max_steps"])))

    @hookimpl
    def on_log(self, step: int, metrics: dict[str, Any]) -> None:
        self.events.append(("log", (step, round(metrics["loss"], 6))))

    @hookimpl
    def on_checkpoint(self, step: int, path: str) -> None:
        self.events.append(("checkpoint", (step, Path(path).name)))

    @hookimpl
    def on_train_end(self, algorithm: str, backend: str, result: Any) -> None:
        self.events.append(("end", result.steps))


class Exploding:
    @hookimpl
    def on_log(self, step: int, metrics: dict[str, Any]) -> None:
        raise RuntimeError("observer bug")


def test_event_hooks_see_the_run_and_cannot_break_it(tmp_path: Path) -> None:
    AlgorithmRegistry.reset()
    recorder = Recorder()
    training_hub.register_plugin(recorder, "recorder")
    training_hub.register_plugin(Exploding(), "exploding")
    tokenizer = make_tiny_tokenizer(tmp_path / "model")
    make_tiny_model(tmp_path / "model", tokenizer)
    write_chat_jsonl(tmp_path / "chat.jsonl", 16)
    result = training_hub.sft(
        model_path=str(tmp_path / "model"), data_path=str(tmp_path / "chat.jsonl"),
        ckpt_output_dir=str(tmp_path / "out"), max_steps=2, effective_batch_size=4,
        max_tokens_per_gpu=512, max_seq_len=128, save_every=1, quiet=True, tensorboard=False,
        num_threads=1, data_cache_dir=str(tmp_path / "cache"),
    )
    AlgorithmRegistry.reset()
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["start", "log", "checkpoint", "log", "checkpoint", "end"]
    assert recorder.events[0] == ("start", ("sft", "native", 2))
    assert recorder.events[-1] == ("end", 2)
    assert recorder.events[2] == ("checkpoint", (1, "step-1"))
    assert recorder.events[3][1][1] == round(result.final_loss, 6)
