"""Faults of the output folder: torn checkpoints, unwritable or full disks, a previous run.

Promises: a checkpoint folder without its completion marker (or a leftover
temporary folder) is never resumed from; a failed write ends with a clear
error and leaves earlier checkpoints intact; a folder that holds a previous
run is not touched unless ``--overwrite`` or ``--resume`` says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training_hub._errors import ParameterError
from training_hub.engine import train
from training_hub.engine.checkpoint import (
    COMPLETE_MARKER,
    find_latest_checkpoint,
    list_checkpoints,
)

from ._reliability_helpers import (
    ReliabilityAssets,
    cli_args,
    folder_digest,
    metrics_rows,
    run_params,
    run_settings,
    subprocess_env,
    th_in_process,
)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


# --- torn checkpoints ------------------------------------------------------------------


def test_torn_and_temporary_checkpoint_folders_are_never_latest(
    assets: ReliabilityAssets, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    train(run_params(assets, output, max_steps=2, save_every=1))
    root = output / "checkpoints"
    complete = root / "step-2"

    # A crash while copying: a step folder with weights but without the completion marker.
    torn = root / "step-7"
    shutil.copytree(complete, torn)
    (torn / COMPLETE_MARKER).unlink()
    # A marker that was cut short (unreadable JSON).
    cut = root / "step-8"
    shutil.copytree(complete, cut)
    (cut / COMPLETE_MARKER).write_text('{"step": 8, "epo')
    # The temporary folder of a write that never reached its rename, marker and all.
    leftover = root / ".tmp-step-9-4242"
    shutil.copytree(complete, leftover)
    (leftover / COMPLETE_MARKER).write_text(json.dumps({"step": 9, "epoch_end": False}))

    assert find_latest_checkpoint(output) == complete
    assert [c.step for c in list_checkpoints(output)] == [1, 2]

    resumed = train(run_params(assets, output, max_steps=3, save_every=1, resume="latest"))
    assert [Path(p).name for p in resumed.checkpoints] == ["step-3"]  # continued after step 2
    assert [row["step"] for row in metrics_rows(output)] == [1, 2, 3]
    assert not leftover.exists()  # the next checkpoint write clears stale temporary folders

    with pytest.raises(ParameterError, match="not a complete training checkpoint"):
        train(run_params(assets, output, max_steps=9, resume=str(torn)))


# --- unwritable output -------------------------------------------------------------------


def test_output_dir_that_is_a_file_is_refused_before_anything_runs(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    output.write_text("not a folder")
    args = cli_args(run_settings(assets, output, max_steps=1))
    code, err = th_in_process(capsys, "train", "sft", *args)
    assert code == 2
    assert f"ckpt_output_dir '{output}' is a file, not a folder. Choose a folder path." in err
    assert output.read_text() == "not a folder"


def test_checkpoint_folder_that_cannot_be_created_fails_with_a_clear_error(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Running as root, chmod cannot make a folder unwritable: a file where the
    # checkpoints/ folder must go makes every checkpoint write fail instead.
    output = tmp_path / "run"
    output.mkdir()
    (output / "checkpoints").write_text("in the way")
    args = cli_args(run_settings(assets, output, max_steps=1))
    code, err = th_in_process(capsys, "train", "sft", *args)
    assert code == 1
    assert "th: training failed: Could not write the checkpoint of step 1" in err
    assert "none yet" in err and "resume with --resume latest" in err
    assert "Traceback" not in err
    assert (output / "checkpoints").read_text() == "in the way"


_FULL_DISK_CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write fails with EFBIG instead
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from training_hub.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def full_disk_run(
    assets: ReliabilityAssets, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Two good checkpoints, then a resumed run in a process that cannot write big files.

    RLIMIT_FSIZE stands in for a full disk: every write past the limit fails
    (EFBIG, like ENOSPC) while the small files of a run (metrics) still work.
    """
    output = tmp_path_factory.mktemp("full-disk") / "run"
    train(run_params(assets, output, max_steps=2, save_every=1))
    before = {c.path.name: folder_digest(c.path) for c in list_checkpoints(output)}
    weights_size = (output / "checkpoints" / "step-2" / "model.safetensors").stat().st_size
    settings = run_settings(assets, output, max_steps=4, save_every=1, resume="latest")
    child = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHILD, str(weights_size // 2), "train", "sft",
         *cli_args(settings)],
        capture_output=True, text=True, env=subprocess_env(), timeout=300, check=False,
    )
    return {"output": output, "before": before, "child": child}


def test_full_disk_leaves_earlier_checkpoints_intact(full_disk_run: dict[str, Any]) -> None:
    output: Path = full_disk_run["output"]
    child = full_disk_run["child"]
    assert child.returncode != 0
    assert [c.step for c in list_checkpoints(output)] == [1, 2]
    assert find_latest_checkpoint(output) == output / "checkpoints" / "step-2"
    after = {c.path.name: folder_digest(c.path) for c in list_checkpoints(output)}
    assert after == full_disk_run["before"]  # byte for byte
    assert not (output / "checkpoints" / "step-3").exists()


def test_full_disk_gives_a_clear_error_and_no_temporary_folder(
    full_disk_run: dict[str, Any],
) -> None:
    output: Path = full_disk_run["output"]
    err = full_disk_run["child"].stderr
    assert full_disk_run["child"].returncode == 1
    assert "th: training failed: Could not write the checkpoint of step 3" in err, err
    assert "Earlier checkpoints are intact" in err and "step-2" in err
    assert "unexpected error" not in err
    assert not list((output / "checkpoints").glob(".tmp-*"))


# --- a previous run in the output folder -------------------------------------------------------


def test_previous_run_is_not_overwritten_without_overwrite_or_resume(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run"
    train(run_params(assets, output, max_steps=1))
    before = _snapshot(output)
    args = cli_args(run_settings(assets, output, max_steps=2))

    code, err = th_in_process(capsys, "train", "sft", *args)
    assert code == 2
    assert f"ckpt_output_dir '{output}' holds a previous run" in err
    assert "resume='latest'" in err and "overwrite=True" in err
    assert "Traceback" not in err
    # Several processes: refused before torchrun starts.
    code, err = th_in_process(capsys, "train", "sft", *args, "--nproc-per-node", "2")
    assert code == 2 and "holds a previous run" in err
    assert _snapshot(output) == before  # nothing written, nothing touched

    code, _ = th_in_process(capsys, "train", "sft", *args, "--resume", "latest")
    assert code == 0
    assert [row["step"] for row in metrics_rows(output)] == [1, 2]


def test_metrics_alone_mark_a_previous_run(
    assets: ReliabilityAssets, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run"
    output.mkdir()
    (output / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    args = cli_args(run_settings(assets, output, max_steps=1))
    code, err = th_in_process(capsys, "train", "sft", *args)
    assert code == 2 and "holds a previous run" in err
    assert sorted(p.name for p in output.iterdir()) == ["metrics.jsonl"]
