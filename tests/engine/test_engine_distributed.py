"""Two gloo processes train exactly like one process with the same global batch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from training_hub.engine import train
from training_hub.engine.distributed import DIST_TIMEOUT_ENV, SHARD_ON_CPU_ENV
from training_hub.engine.launch import build_torchrun_command, launch, needs_launcher

from ._engine_helpers import (
    TinyAssets,
    build_assets,
    checkpoint_weights,
    free_port,
    max_weight_difference,
    subprocess_env,
    tiny_params,
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    return build_assets(tmp_path_factory.mktemp("tiny"), samples=32)


def test_torchrun_command_line(assets: TinyAssets, tmp_path: Path) -> None:
    params = tiny_params(
        assets,
        tmp_path,
        nproc_per_node=4,
        nnodes=2,
        node_rank=1,
        master_addr="10.0.0.1",
        master_port=29999,
    )
    assert needs_launcher(params)
    command = build_torchrun_command(params, "p.json", python="python")
    assert command == [
        "python",
        "-m",
        "training_hub.engine.torchrun",
        "--nproc_per_node=4",
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=10.0.0.1",
        "--master_port=29999",
        "-m",
        "training_hub.engine.worker",
        "p.json",
    ]
    rdzv = tiny_params(assets, tmp_path, nproc_per_node=2, rdzv_endpoint="head:1234")
    assert "--rdzv_endpoint=head:1234" in build_torchrun_command(rdzv, "p.json")
    assert not needs_launcher(tiny_params(assets, tmp_path))


def test_two_processes_match_one(assets: TinyAssets, tmp_path: Path) -> None:
    settings = {"max_steps": 2, "effective_batch_size": 8, "adam_eps": 1e-6}
    single = train(tiny_params(assets, tmp_path / "one", **settings))
    params = tiny_params(
        assets, tmp_path / "two", nproc_per_node=2, master_port=free_port(), **settings
    )
    assert launch(params, env=subprocess_env()) == 0
    two = tmp_path / "two" / "checkpoints" / "step-2"
    difference = max_weight_difference(
        checkpoint_weights(single.last_checkpoint), checkpoint_weights(two)
    )
    assert difference < 1e-5
    rows = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # only rank 0 logs


def test_fsdp2_sharded_processes_match_one_and_resume(assets: TinyAssets, tmp_path: Path) -> None:
    """The multi-GPU code path (FSDP2 sharding, sharded clipping, full-state checkpoints,
    sharded optimizer state on resume), run on two CPU processes over gloo."""
    settings = {"max_steps": 4, "effective_batch_size": 8, "adam_eps": 1e-6, "save_every": 2}
    single = train(tiny_params(assets, tmp_path / "one", **settings))
    env = {**subprocess_env(), SHARD_ON_CPU_ENV: "1"}
    straight = tiny_params(assets, tmp_path / "two", nproc_per_node=2,
                           master_port=free_port(), **settings)
    assert launch(straight, env=env) == 0
    two = tmp_path / "two" / "checkpoints" / "step-4"
    reference = checkpoint_weights(single.last_checkpoint)
    assert max_weight_difference(reference, checkpoint_weights(two)) < 1e-5

    split = {**settings, "max_steps": 2}
    first = tiny_params(assets, tmp_path / "split", nproc_per_node=2,
                        master_port=free_port(), **split)
    assert launch(first, env=env) == 0
    resumed = tiny_params(assets, tmp_path / "split", nproc_per_node=2,
                          master_port=free_port(), resume="latest", **settings)
    assert launch(resumed, env=env) == 0
    after_resume = tmp_path / "split" / "checkpoints" / "step-4"
    assert max_weight_difference(reference, checkpoint_weights(after_resume)) < 1e-5


@pytest.mark.slow  # ~16 s: torchrun notices the dead worker and stops the others
def test_a_dying_rank_fails_the_run_quickly(
    assets: TinyAssets, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    params = tiny_params(
        assets, tmp_path / "run", nproc_per_node=2, master_port=free_port(), max_steps=4
    )
    env = {**subprocess_env(), DIST_TIMEOUT_ENV: "20"}
    start = time.monotonic()
    code = launch(params, adapter="tests.engine._engine_helpers:dying_adapter", env=env)
    assert code != 0
    assert time.monotonic() - start < 60
    err = capfd.readouterr().err  # the launcher: torchrun's failure table, not its traceback
    assert "Root Cause" in err and "exitcode  : 3" in err and "ChildFailedError" not in err


def test_a_user_error_on_several_processes_is_its_message_alone(
    assets: TinyAssets, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(assets.data_path.read_text().splitlines()[0] + '\n{"nope": 1}\n')
    params = tiny_params(assets, tmp_path / "run", data_path=str(data), nproc_per_node=2,
                         master_port=free_port())
    assert launch(params, env=subprocess_env()) == 2
    err = capfd.readouterr().err
    assert f"{data}:2: missing field 'messages'" in err
    # no launcher traceback, failure table or exit-code log line after the message
    assert "Traceback" not in err and "Root Cause" not in err and "exitcode" not in err
