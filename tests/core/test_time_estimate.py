"""Time estimate: the run's plan, the calibration run, the ETA, ``th estimate``; CPU memory."""

from __future__ import annotations

import io
import json
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
    from training_hub._time_estimate import planned_tokens
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
    plan = planned_tokens(tiny_params(assets, run_dir, max_steps=None, num_epochs=2))
    assert time["steps"] == len(plan) == 12 and time["tokens"] == sum(plan)
    assert time["calibration_steps"] == 3 and time["tokens_per_second"] > 0
    assert time["total_s"] == pytest.approx(
        time["first_step_s"] + (sum(plan) - plan[0]) / time["tokens_per_second"])
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
