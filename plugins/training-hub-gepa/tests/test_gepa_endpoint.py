"""gepa against a local OpenAI-compatible server: it finds the better instruction, reports
progress through callbacks, and keeps what it found when the endpoint dies or talks nonsense.

The server (tests/gepa_toy.py) runs on 127.0.0.1 in this process and serves
deterministic toy models; no network, no API key.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import gepa_toy
import pytest
from training_hub_gepa import lm as gepa_lm

import training_hub
from training_hub import TrainingHubCallback

BUDGET = 60


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client's back-off between retries (0.5 s, 2 s) shortened: the retries still happen.
    monkeypatch.setattr(gepa_lm, "RETRY_DELAYS", (0.01, 0.01))


class Recorder(TrainingHubCallback):
    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.stop_after_steps = stop_after_steps

    def _keep(self, name: str, context: Any) -> None:
        self.events.append((name, context.step, dict(context.metrics)))

    def on_train_begin(self, context: Any) -> None:
        self._keep("on_train_begin", context)

    def on_step_end(self, context: Any) -> None:
        self._keep("on_step_end", context)
        if self.stop_after_steps is not None and context.step >= self.stop_after_steps:
            context.control.should_training_stop = True

    def on_evaluate(self, context: Any) -> None:
        self._keep("on_evaluate", context)

    def on_log(self, context: Any) -> None:
        self._keep("on_log", context)

    def on_save(self, context: Any) -> None:
        self._keep("on_save", context)

    def on_train_end(self, context: Any) -> None:
        self._keep("on_train_end", context)
        self.result = context.result

    def names(self) -> list[str]:
        return [name for name, _, _ in self.events]


def _run(server_url: str, output_dir: Path | None, **extra: Any) -> Any:
    examples = gepa_toy.toy_examples()
    params: dict[str, Any] = {
        "seed_candidate": {"system_prompt": gepa_toy.SEED_INSTRUCTION},
        # litellm's spelling of a served model, as training_hub 0.11.2 users write it
        "task_lm": "openai/toy-task",
        "reflection_lm": "toy-reflect",
        "api_base": server_url,
        "trainset": examples,
        "valset": examples,
        "max_metric_calls": BUDGET,
        "reflection_minibatch_size": 3,
        "output_dir": None if output_dir is None else str(output_dir),
        "tensorboard": False,  # its writer imports torch: seconds this test does not need
    }
    return training_hub.train("gepa", **{**params, **extra})


def test_best_candidate_beats_the_seed_and_everything_is_written(tmp_path: Path) -> None:
    recorder = Recorder()
    with gepa_toy.ToyEndpoint() as server:
        result = _run(server.url, tmp_path / "out", callbacks=[recorder])

    assert result.seed_score == pytest.approx(1 / 8)
    assert result.best_score == pytest.approx(1.0) and result.best_score > result.seed_score
    best = result.best_candidate["system_prompt"]
    assert "compute the sum" in best and "compute the product" in best
    assert result.complete and result.total_metric_calls <= BUDGET + 8
    # Per-example validation scores of every candidate, and the Pareto front over them.
    assert len(result.val_ids) == 8
    assert result.candidates[0]["val_scores"] == [0, 1, 0, 0, 0, 0, 0, 0]
    assert result.candidates[result.best_index]["val_scores"] == [1.0] * 8
    for entry in result.pareto_front:
        column = [c["val_scores"][entry["val_id"]] for c in result.candidates]
        assert entry["best_score"] == max(column)
        assert entry["candidates"] == [i for i, s in enumerate(column) if s == max(column)]
    assert result.best_index in result.pareto_front_candidates
    # An intermediate candidate knows one operation only: it is on the front for it alone.
    assert len(result.candidates) >= 3

    on_disk = json.loads((tmp_path / "out" / "result.json").read_text())
    assert on_disk["complete"] is True
    assert on_disk["best_candidate"] == result.best_candidate
    assert on_disk["pareto_front"] == result.pareto_front
    assert json.loads((tmp_path / "out" / "best_candidate.json").read_text()) == \
        result.best_candidate
    from gepa import GEPAResult

    reloaded = GEPAResult.from_dict(json.loads((tmp_path / "out" / "gepa_result.json")
                                               .read_text()))
    assert reloaded.best_candidate == result.best_candidate
    # The peer returned gepa's GEPAResult: its attributes still read.
    assert result.val_aggregate_scores[result.best_index] == pytest.approx(1.0)

    # training-hub's JSONL tracker (an installed plugin of the event hooks) saw the run too.
    records = [json.loads(line) for line in
               (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_score"] for r in records if "val_score" in r] == \
        [m["val_score"] for name, _, m in recorder.events if name == "on_evaluate"]
    assert [r["step"] for r in records if "proposal_accepted" in r] == \
        [step for name, step, _ in recorder.events if name == "on_step_end"]

    names = recorder.names()
    assert names[0] == "on_train_begin" and names[-1] == "on_train_end"
    evaluations = [m for name, _, m in recorder.events if name == "on_evaluate"]
    assert evaluations[0]["val_score"] == pytest.approx(1 / 8)
    assert max(m["val_score"] for m in evaluations) == pytest.approx(1.0)
    assert names.count("on_evaluate") == len(result.candidates)
    steps = [step for name, step, _ in recorder.events if name == "on_step_end"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 2
    logs = [m for name, _, m in recorder.events if name == "on_log"]
    assert len(logs) == len(steps) and all("best_val_score" in m for m in logs)
    assert "on_save" in names and recorder.result is result


def test_a_stop_request_ends_the_search_at_the_next_iteration(tmp_path: Path) -> None:
    recorder = Recorder(stop_after_steps=1)
    with gepa_toy.ToyEndpoint() as server:
        result = _run(server.url, tmp_path / "out", callbacks=[recorder])
    steps = [step for name, step, _ in recorder.events if name == "on_step_end"]
    assert steps == [1]
    assert result.complete and result.total_metric_calls < BUDGET
    assert len(result.candidates) == 2 and result.best_score == pytest.approx(0.5)


def test_endpoint_dying_mid_run_is_one_clear_error_and_keeps_what_was_found(
    tmp_path: Path,
) -> None:
    # 8 seed evaluations + one iteration (3 + 1 reflection + 3 + 8) = 23 requests: the
    # server stops during the second iteration.
    with gepa_toy.ToyEndpoint(max_requests=30) as server, \
            pytest.raises(gepa_lm.LanguageModelError) as caught:
        _run(server.url, tmp_path / "out")
    message = str(caught.value)
    assert "cannot be reached" in message and server.url in message
    assert "Start the server, or fix api_base" in message
    assert f"{tmp_path / 'out'}/result.json (complete: false)" in message

    partial = json.loads((tmp_path / "out" / "result.json").read_text())
    assert partial["complete"] is False and "cannot be reached" in partial["error"]
    assert len(partial["candidates"]) >= 2
    assert partial["best_score"] == pytest.approx(0.5)
    assert partial["best_score"] > partial["seed_score"]
    assert "compute the" in partial["best_candidate"]["system_prompt"]
    assert caught.value.partial_result.best_candidate == partial["best_candidate"]
    assert f"best candidate in {tmp_path / 'out'}/best_candidate.json" in message
    assert json.loads((tmp_path / "out" / "best_candidate.json").read_text()) == \
        partial["best_candidate"]


def test_th_train_exits_2_with_one_message_when_the_endpoint_dies_mid_run(
    tmp_path: Path,
) -> None:
    # The CLI in a subprocess against the server of this process, which stops answering
    # during the second iteration (see above); the client retries twice (0.5 s, 2 s).
    examples = gepa_toy.toy_examples()
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    th = Path(sys.executable).parent / "th"
    with gepa_toy.ToyEndpoint(max_requests=30) as server:
        done = subprocess.run(
            [str(th), "train", "gepa", "--seed-candidate", gepa_toy.SEED_INSTRUCTION,
             "--task-lm", "toy-task", "--reflection-lm", "toy-reflect",
             "--api-base", server.url, "--data-path", "train.jsonl", "--valset",
             "train.jsonl", "--max-metric-calls", str(BUDGET),
             "--reflection-minibatch-size", "3", "--output-dir", "out",
             "--tensorboard", "false"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "cannot be reached" in line]
    assert len(errors) == 1 and server.url in errors[0]
    assert "out/best_candidate.json" in errors[0] and "out/result.json" in errors[0]
    best = json.loads((tmp_path / "out" / "best_candidate.json").read_text())
    assert "compute the" in best["system_prompt"]
    records = [json.loads(line) for line in
               (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_score"] for r in records if "val_score" in r][:2] == [0.125, 0.5]


def test_garbage_answers_are_a_clear_error_and_nothing_is_invented(tmp_path: Path) -> None:
    with gepa_toy.ToyEndpoint(garbage=True) as server, \
            pytest.raises(gepa_lm.LanguageModelError) as caught:
        _run(server.url, tmp_path / "out")
    message = str(caught.value)
    assert "not JSON" in message and "upstream proxy error" in message
    assert "No candidate had been scored yet" in message
    assert not (tmp_path / "out" / "result.json").exists()


def test_no_server_listening_and_unknown_model_name_the_fix() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(gepa_lm.LanguageModelError, match="cannot be reached.*after 3 attempts"):
        _run(f"http://127.0.0.1:{port}/v1", None)
    not_served = "HTTP 404.*serves a model named 'nope'"
    with gepa_toy.ToyEndpoint() as server, \
            pytest.raises(gepa_lm.LanguageModelError, match=not_served):
        _run(server.url, None, task_lm="nope")


def test_a_failing_reflection_model_stops_the_run_although_gepa_would_go_on(
    tmp_path: Path,
) -> None:
    # gepa catches reflection errors and tries the next iteration; the run stops instead.
    with gepa_toy.ToyEndpoint() as server, \
            pytest.raises(gepa_lm.LanguageModelError) as caught:
        _run(server.url, tmp_path / "out", reflection_lm="gone")
    assert "The reflection LM 'gone'" in str(caught.value) and "HTTP 404" in str(caught.value)
    assert server.served < 20  # seed evaluation, one minibatch, one reflection attempt
    partial = json.loads((tmp_path / "out" / "result.json").read_text())
    assert partial["complete"] is False and partial["best_score"] == pytest.approx(1 / 8)
