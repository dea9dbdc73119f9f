"""``plot_loss`` (training_hub 0.11.2's signature) and ``th plot``: what they read and draw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub import UserError
from training_hub._plot_loss import _ema, plot_loss, read_run_curves
from training_hub.cli import main

pytest.importorskip("matplotlib")


def _run(folder: Path, records: list[dict[str, object]], name: str = "metrics.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _png(path: str | Path) -> bytes:
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000
    return data


def test_reads_loss_lr_and_val_loss_by_step(tmp_path: Path) -> None:
    run = _run(tmp_path / "a", [
        {"step": 1, "loss": 3.0, "lr": 1e-3},
        {"step": 2, "loss": 2.5, "lr": 9e-4},
        {"step": 2, "epoch": 0, "val_loss": 2.7},
        {"step": 4, "loss": 2.0, "lr": 8e-4},
    ])
    curves = read_run_curves(run)
    assert curves.key == "loss"
    assert curves.steps == [1, 2, 4] and curves.values == [3.0, 2.5, 2.0]
    assert curves.learning_rates == [1e-3, 9e-4, 8e-4]
    assert curves.val_steps == [2] and curves.val_values == [2.7]


def test_ema_matches_the_recurrence() -> None:
    values = [4.0, 2.0, 3.0]
    alpha = 2 / (3 + 1)
    first = 4.0
    second = alpha * 2.0 + (1 - alpha) * first
    third = alpha * 3.0 + (1 - alpha) * second
    assert _ema(values, 3) == pytest.approx([first, second, third])


def test_overlays_several_runs_with_labels_and_ema(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", [{"step": s, "loss": 5 / s} for s in range(1, 40)])
    b = _run(tmp_path / "b", [{"step": s, "avg_loss": 4 / s} for s in range(1, 40)],
             name="training_log.jsonl")
    out = tmp_path / "plots" / "both.png"
    path = plot_loss([str(a), b], labels=["sft", "osft"], ema=True, ema_span=5,
                     output_path=out)
    assert path == str(out)
    _png(out)
    assert read_run_curves(b).key == "avg_loss"


def test_trainer_state_of_a_trl_run_and_the_default_output(tmp_path: Path) -> None:
    run = tmp_path / "trl"
    for step in (2, 10):
        folder = run / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        history = [{"step": s, "loss": 1.0 / s, "learning_rate": 1e-4} for s in range(1, step)]
        (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    curves = read_run_curves(run)
    assert curves.source.parent.name == "checkpoint-10" and len(curves.values) == 9
    _png(plot_loss(str(run)))
    assert (run / "loss_plot.png").is_file()


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="metrics.jsonl does not exist"):
        plot_loss(tmp_path)
    _run(tmp_path, [{"step": 1, "accuracy": 0.5}])
    with pytest.raises(UserError, match="no training loss.*metric_keys"):
        plot_loss(tmp_path)
    assert read_run_curves(tmp_path, metric_keys=["accuracy"]).values == [0.5]
    with pytest.raises(UserError, match="2 labels for 1 runs"):
        plot_loss(tmp_path, labels=["a", "b"], metric_keys=["accuracy"])
    with pytest.raises(UserError, match=r"metrics_file='other.jsonl'"):
        plot_loss(tmp_path, metrics_file="other.jsonl")


def test_th_plot_is_plot_loss(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", [{"step": s, "loss": 5 / s, "lr": 1e-3} for s in range(1, 11)])
    b = _run(tmp_path / "b", [{"step": s, "loss": 4 / s} for s in range(1, 11)])
    out = tmp_path / "cmp.png"
    assert main(["plot", str(a), str(b), "--label", "one", "--label", "two", "--ema",
                 "--ema-span", "3", "-o", str(out)]) == 0
    _png(out)
    assert main(["plot", str(a), "--label", "x", "--label", "y"]) == 2
