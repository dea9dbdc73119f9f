"""Time estimate: the run's plan, the calibration run, the ETA, ``th estimate``; CPU memory."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from training_hub.engine.eta import RunClock, format_seconds

torch = pytest.importorskip("torch")

from tests.engine._engine_helpers import TinyAssets, build_assets, tiny_params  # noqa: E402


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("time-estimate"), samples=48)


def test_run_clock_predicts_from_the_steps_after_the_first() -> None:
    clock = RunClock([100, 200, 300, 100, 400, 400], calibration_steps=3)
    assert clock.step_done(5.0) is None  # the first step: start-up, not throughput
    assert clock.step_done(2.0) is None and clock.step_done(3.0) is None
    assert clock.remaining_s is None
    prediction = clock.step_done(1.0)  # steps 2-4: 600 tokens in 6 s -> 100 tokens/s
    assert prediction is not None
    assert prediction.tokens_per_second == pytest.approx(100.0)
    assert prediction.total_s == pytest.approx(5.0 + 1400 / 100)
    assert prediction.tokens == 1500 and prediction.steps == 6
    assert clock.remaining_s == pytest.approx(800 / 100)
    assert clock.step_done(8.0) is None  # predicted once; the ETA follows the measured rate
    assert clock.remaining_s == pytest.approx(400 / (1000 / 14))
    assert format_seconds(3725) == "1h02m05s" and format_seconds(65) == "1m05s"


def test_engine_plans_every_step_and_logs_the_eta(assets: TinyAssets, tmp_path: Path) -> None:
    from training_hub._time_estimate import planned_tokens
    from training_hub.engine import train

    params = tiny_params(assets, tmp_path / "run", max_steps=None, num_epochs=1,
                         logging_steps=1, save_final_checkpoint=False,
                         checkpoint_at_epoch=False)
    plan = planned_tokens(params)
    assert len(plan) == 6  # 48 samples, 8 per step
    train(params)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
               .splitlines()]
    steps = [r for r in records if "loss" in r]
    cumulative = [r["tokens"] for r in steps]
    assert [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)] == plan
    assert ["eta_s" in r for r in steps] == [False, False, False, True, True, True]
    assert steps[-1]["eta_s"] == 0
    assert steps[3]["eta_s"] > 0


def test_th_estimate_memory_and_calibrated_time(assets: TinyAssets, tmp_path: Path) -> None:
    from training_hub import estimate
    from training_hub._time_estimate import planned_tokens, run_plan
    from training_hub.cli import main

    flags = ["--model-path", str(assets.model_path), "--max-tokens-per-gpu", "512",
             "--max-seq-len", "128", "--device", "cpu", "--effective-batch-size", "8",
             "--num-threads", "1", "--data-cache-dir", str(assets.cache_dir)]
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["estimate", "sft", *flags, "--json"]) == 0
    memory_only = json.loads(out.getvalue())
    expected = estimate("sft", num_gpus=1, model_path=str(assets.model_path), batch_size=8,
                        max_seq_len=128, max_tokens_per_gpu=512, device="cpu", verbose=0)
    assert memory_only["memory"] == expected.to_dict()
    assert memory_only["time"] is None

    run_dir = tmp_path / "never-written"
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["estimate", "sft", *flags, "--json", "--data-path", str(assets.data_path),
                     "--ckpt-output-dir", str(run_dir), "--num-epochs", "2"]) == 0
    time = json.loads(out.getvalue())["time"]
    run = run_plan(tiny_params(assets, run_dir, max_steps=None, num_epochs=2))
    plan = run.step_tokens
    assert plan == planned_tokens(tiny_params(assets, run_dir, max_steps=None, num_epochs=2))
    assert time["steps"] == len(plan) == 12 and time["tokens"] == sum(plan)
    assert time["calibration_steps"] == 3 and time["tokens_per_second"] > 0
    # the run writes a checkpoint at each epoch's end (the last one is the final one): the
    # calibration run wrote one and timed it, and the prediction adds the two
    assert run.checkpoint_steps == [6, 12] and run.evaluation_steps == []
    assert time["checkpoints"] == 2 and time["checkpoint_s"] > 0
    assert time["evaluations"] == 0 and time["evaluation_s"] is None
    assert time["training_s"] == pytest.approx(
        time["first_step_s"] + (sum(plan) - plan[0]) / time["tokens_per_second"])
    assert time["total_s"] == pytest.approx(time["training_s"] + 2 * time["checkpoint_s"])
    assert not run_dir.exists()  # the calibration trains in a temporary folder


def test_th_estimate_refuses_what_it_cannot_estimate(assets: TinyAssets) -> None:
    from training_hub import ParameterError
    from training_hub.cli._estimate import memory_estimate_of

    params = tiny_params(assets, Path("unused"))
    with pytest.raises(ParameterError, match="not for 'dpo'"):
        memory_estimate_of("dpo", params, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_cpu_runs_fix_the_mmap_threshold_unless_the_user_did() -> None:
    code = ("from training_hub.engine.cpu_memory import fix_malloc_mmap_threshold as f; "
            "print(f())")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "True"
    done = subprocess.run([sys.executable, "-c", code],
                          env={**env, "MALLOC_MMAP_THRESHOLD_": "65536"}, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "False"


def test_run_clock_adds_planned_evaluations_and_checkpoints_at_their_measured_times() -> None:
    clock = RunClock([100] * 6, calibration_steps=2, evaluation_steps=[2, 4, 6],
                     checkpoint_steps=[3, 6])
    clock.step_done(50.0)  # step 1: start-up
    clock.step_done(1.0)
    clock.evaluation_done(7.0)  # after step 2
    prediction = clock.step_done(1.0)  # step 3: 200 tokens in 2 s
    assert prediction is not None and prediction.tokens_per_second == pytest.approx(100.0)
    assert (prediction.evaluations, prediction.checkpoints) == (3, 2)
    assert prediction.evaluation_s == 7.0 and prediction.checkpoint_s is None  # not timed yet
    assert prediction.total_s == pytest.approx(50 + 500 / 100 + 3 * 7.0)
    assert prediction.training_s == pytest.approx(55.0)
    assert "3 evaluations (7.0s each) and 2 checkpoints (not timed yet)" in prediction.describe()
    # after step 3, before its checkpoint: 300 tokens, the evaluations of steps 4 and 6
    assert clock.remaining_s == pytest.approx(3 + 2 * 7.0)
    clock.checkpoint_done(20.0)  # step 3's: only step 6's is left
    assert clock.remaining_s == pytest.approx(3 + 2 * 7.0 + 20.0)
    clock.step_done(1.0)
    clock.evaluation_done(9.0)  # step 4's: the mean is now 8 s
    assert clock.remaining_s == pytest.approx(200 / 100 + 8.0 + 20.0)


class _FakeTime:
    """The training loop's clock (``recipe.time``): real time plus seconds the test's
    callbacks add, so that a slow first step, evaluations and checkpoint writes take a
    known, large time without a test that sleeps."""

    def __init__(self) -> None:
        import time as real

        self.real, self.offset = real, 0.0

    def perf_counter(self) -> float:
        return self.real.perf_counter() + self.offset

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_eval_and_checkpoint_time_stay_out_of_step_time_and_into_the_prediction(
    assets: TinyAssets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_hub import TrainingHubCallback, TrainingHubContext, create_algorithm
    from training_hub.engine import recipe

    fake = _FakeTime()
    monkeypatch.setattr(recipe, "time", fake)
    clocks: list[RunClock] = []

    class SpyClock(RunClock):  # the engine's own clock, kept for the test to read
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            clocks.append(self)

    monkeypatch.setattr(recipe, "RunClock", SpyClock)

    class Clockwork(TrainingHubCallback):
        def on_step_begin(self, context: TrainingHubContext) -> None:
            if context.step == 0:
                fake.offset += 10_000  # a first step slowed by warm-up

        def on_evaluate(self, context: TrainingHubContext) -> None:
            fake.offset += 100  # an evaluation takes 100 s

        def on_save(self, context: TrainingHubContext) -> None:
            fake.offset += 1000  # a checkpoint write 1000 s

    out = tmp_path / "run"
    # 48 samples, 8 held out: 5 steps of 8; evaluations after steps 2, 4 and 5 (the last),
    # checkpoints after step 3 (save_every) and 5 (the epoch's end and the final one)
    create_algorithm("sft", "native").run(tiny_params(
        assets, out, max_steps=None, num_epochs=1, logging_steps=1, validation_split=8 / 48,
        validation_frequency=2, save_every=3, callbacks=[Clockwork()]))
    (clock,) = clocks
    assert clock.planned == {"evaluation": [2, 4, 5], "checkpoint": [3, 5]}
    assert len(clock.durations) == 5 and clock.durations[0] >= 10_000
    # a step's time holds none of the previous step's evaluation or checkpoint
    assert all(seconds < 100 for seconds in clock.durations[1:])
    assert len(clock.pauses["evaluation"]) == 3 and len(clock.pauses["checkpoint"]) == 2
    assert all(100 <= s < 1000 for s in clock.pauses["evaluation"])
    assert all(1000 <= s < 1100 for s in clock.pauses["checkpoint"])
    # the prediction (after step 4): tokens/s of steps 2-4 only (the slow first step left
    # out), then every planned evaluation and checkpoint at the times measured by then
    prediction = clock.prediction
    assert prediction is not None
    plan, durations = clock.step_tokens, clock.durations
    rate = sum(plan[1:4]) / sum(durations[1:4])
    assert prediction.tokens_per_second == pytest.approx(rate)
    assert prediction.first_step_s == durations[0]
    evaluation_s, checkpoint_s = clock.pauses["evaluation"][0], clock.pauses["checkpoint"][0]
    assert (prediction.evaluation_s, prediction.checkpoint_s) == (evaluation_s, checkpoint_s)
    assert prediction.total_s == pytest.approx(
        durations[0] + sum(plan[1:]) / rate + 3 * evaluation_s + 2 * checkpoint_s)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = {r["step"]: r for r in records if "loss" in r}
    # tokens/s of the records leave the pauses out as well
    assert all(steps[s]["tokens_per_second"] > plan[s - 1] / 100 for s in (3, 4, 5))
    # step 4's ETA (logged before its evaluation): step 5's tokens, the evaluations of
    # steps 4 and 5, the checkpoint of step 5
    assert steps[4]["eta_s"] == pytest.approx(
        plan[4] / rate + 2 * evaluation_s + checkpoint_s, abs=2e-3)
    mean_evaluation = sum(clock.pauses["evaluation"][:2]) / 2
    assert steps[5]["eta_s"] == pytest.approx(mean_evaluation + checkpoint_s, abs=2e-3)


def test_th_train_prints_the_plan_first_and_the_prediction_after_calibration(
    assets: TinyAssets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mechanics only (no timing): what ``th train`` prints, in which order, and that the
    numbers are the data set's tokens and the clock's own."""
    from transformers import AutoTokenizer

    from training_hub.cli import main
    from training_hub.engine import recipe
    from training_hub.engine.data import tokenize_dataset

    clocks: list[RunClock] = []

    class SpyClock(RunClock):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            clocks.append(self)

    monkeypatch.setattr(recipe, "RunClock", SpyClock)
    out = tmp_path / "run"
    # the console lines, in order: th prints through the training_hub logger (its handler
    # may hold an earlier test's stderr, so the test adds its own)
    lines: list[str] = []
    collect = logging.Handler(logging.INFO)
    collect.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    th_logger = logging.getLogger("training_hub")
    level = th_logger.level
    th_logger.addHandler(collect)
    flags = ["--model-path", str(assets.model_path), "--data-path", str(assets.data_path),
             "--ckpt-output-dir", str(out), "--data-cache-dir", str(assets.cache_dir),
             "--effective-batch-size", "8", "--max-tokens-per-gpu", "512", "--max-seq-len",
             "128", "--num-epochs", "1", "--logging-steps", "1", "--device", "cpu",
             "--num-threads", "1", "--quiet", "--no-tensorboard",
             "--no-save-final-checkpoint", "--no-checkpoint-at-epoch"]
    try:
        code = main(["train", "sft", *flags])
    finally:
        th_logger.removeHandler(collect)
        th_logger.setLevel(level)
    assert code == 0

    def line_of(text: str) -> int:
        found = [i for i, line in enumerate(lines) if text in line]
        assert found, f"{text!r} not printed:\n" + "\n".join(lines)
        return found[0]

    # the data set's token count, tokenized independently of the run
    tokenizer = AutoTokenizer.from_pretrained(assets.model_path)
    dataset = tokenize_dataset(assets.data_path, tokenizer, cache_dir=tmp_path / "cache")
    total = int(dataset.lengths.sum())
    (clock,) = clocks
    assert sum(clock.step_tokens) == total and len(clock.step_tokens) == 6
    plan_line = line_of(f"training plan: 6 steps, {total:,} tokens; the time estimate "
                        "follows step 4")
    prediction = clock.prediction
    assert prediction is not None
    predicted = line_of(prediction.describe())
    assert f"{total:,} tokens at {prediction.tokens_per_second:,.0f} tokens/s" in lines[predicted]
    assert plan_line < line_of("step 1/6") < line_of("step 3/6") < predicted
    assert predicted < line_of("step 4/6") < line_of("step 6/6")
    # every logged step from the calibration on shows the clock's ETA
    assert "ETA" not in lines[line_of("step 3/6")]
    assert all("ETA " in lines[line_of(f"step {s}/6")] for s in (4, 5, 6))


def test_the_progress_bar_shows_the_records_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_hub.engine.metrics import MetricsLogger

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal: the rich bar
    bar = MetricsLogger(tmp_path, total_steps=10, start_step=0, quiet=False)
    try:
        record = {"step": 3, "epoch": 0, "loss": 2.0, "lr": 1e-3, "tokens_per_second": 5.0}
        bar.log(record)
        task = bar._progress.tasks[0]
        assert task.fields["eta"] == "-" and task.completed == 3
        bar.log({**record, "step": 4, "eta_s": 125.0})
        assert task.fields["eta"] == format_seconds(125.0) == "2m05s"
    finally:
        bar.close()
