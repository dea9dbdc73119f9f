"""``plot_loss`` (training_hub 0.11.2's signature) and ``th plot``: what they read and draw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training_hub import UserError
from training_hub._plot_loss import _ema, plot_loss, read_run_curves
from training_hub.cli import main

pytest.importorskip("matplotlib")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each saved figure shows, read off its matplotlib Axes as it is saved: per axis
    its lines (label, x, y, style), its legend's labels and its axis labels."""
    from matplotlib.figure import Figure

    figures: list[dict[str, Any]] = []
    save = Figure.savefig

    def record(self: Figure, *args: Any, **kwargs: Any) -> Any:
        axes = []
        for axis in self.axes:
            legend = axis.get_legend()
            axes.append({
                "lines": [{"label": line.get_label(), "x": list(line.get_xdata()),
                           "y": list(line.get_ydata()), "linestyle": line.get_linestyle(),
                           "marker": line.get_marker(), "color": line.get_color()}
                          for line in axis.get_lines()],
                "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                "xlabel": axis.get_xlabel(), "ylabel": axis.get_ylabel(),
                "title": axis.get_title(),
            })
        figures.append({"axes": axes})
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


def _ema_closed_form(values: list[float], span: int) -> list[float]:
    """EMA_t = (1-a)^t x_0 + sum_{i=1..t} a (1-a)^(t-i) x_i, a = 2/(span+1): the sum, not
    the recurrence the code uses."""
    a = 2 / (span + 1)
    return [(1 - a) ** t * values[0]
            + sum(a * (1 - a) ** (t - i) * values[i] for i in range(1, t + 1))
            for t in range(len(values))]


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


def test_the_figure_overlays_each_run_with_its_ema_and_val_loss(
    tmp_path: Path, drawn: list[dict[str, Any]]
) -> None:
    steps = list(range(1, 21))
    a_loss = [5.0 / s + (0.3 if s % 3 == 0 else 0.0) for s in steps]
    b_loss = [4.0 / s + (0.2 if s % 2 == 0 else 0.0) for s in steps]
    a = _run(tmp_path / "a",
             [{"step": s, "loss": v, "lr": 1e-3} for s, v in zip(steps, a_loss, strict=True)]
             + [{"step": 10, "epoch": 0, "val_loss": 1.5},
                {"step": 20, "epoch": 0, "val_loss": 1.1}])
    b = _run(tmp_path / "b",
             [{"step": s, "avg_loss": v} for s, v in zip(steps, b_loss, strict=True)],
             name="training_log.jsonl")
    plot_loss([a, b], labels=["sft", "osft"], ema=True, ema_span=4,
              output_path=tmp_path / "both.png")
    (figure,) = drawn
    (axis,) = figure["axes"]  # several runs: no learning-rate axis
    lines = {line["label"]: line for line in axis["lines"]}
    assert list(lines) == ["sft (loss)", "sft (EMA 4)", "sft (val_loss)",
                           "osft (avg_loss)", "osft (EMA 4)"]
    assert axis["legend"] == list(lines)
    assert lines["sft (loss)"]["x"] == steps and lines["sft (loss)"]["y"] == a_loss
    assert lines["osft (avg_loss)"]["y"] == b_loss
    for name, raw in (("sft", a_loss), ("osft", b_loss)):
        ema = lines[f"{name} (EMA 4)"]
        assert ema["x"] == steps and ema["y"] == pytest.approx(_ema_closed_form(raw, 4))
        assert ema["color"] == lines[f"{name} ({'loss' if name == 'sft' else 'avg_loss'})"][
            "color"]
    val = lines["sft (val_loss)"]
    assert (val["x"], val["y"], val["marker"]) == ([10, 20], [1.5, 1.1], "o")
    assert lines["sft (loss)"]["color"] != lines["osft (avg_loss)"]["color"]
    assert (axis["xlabel"], axis["ylabel"]) == ("optimizer step", "loss")


def test_one_run_without_ema_draws_its_loss_and_learning_rate(
    tmp_path: Path, drawn: list[dict[str, Any]]
) -> None:
    records = [{"step": s, "loss": 3.0 - 0.1 * s, "lr": 1e-3 * (1 - s / 10)}
               for s in range(1, 9)]
    run = _run(tmp_path / "only", records)
    plot_loss(run)
    (figure,) = drawn
    loss_axis, lr_axis = figure["axes"]
    (loss,) = loss_axis["lines"]  # no EMA, no val_loss logged
    assert loss["label"] == "only (loss)" and loss["y"] == [r["loss"] for r in records]
    assert loss_axis["title"] == "only: loss"
    (lr,) = lr_axis["lines"]
    assert lr["x"] == [r["step"] for r in records] and lr["y"] == [r["lr"] for r in records]
    assert lr_axis["ylabel"] == "learning rate"


def test_th_plot_draws_what_plot_loss_draws(tmp_path: Path,
                                            drawn: list[dict[str, Any]]) -> None:
    a = _run(tmp_path / "a", [{"step": s, "loss": 5 / s, "lr": 1e-3} for s in range(1, 11)]
             + [{"step": 5, "val_loss": 1.2}])
    b = _run(tmp_path / "b", [{"step": s, "loss": 4 / s} for s in range(1, 11)])
    plot_loss([a, b], labels=["one", "two"], ema=True, ema_span=3,
              output_path=tmp_path / "api.png")
    assert main(["plot", str(a), str(b), "--label", "one", "--label", "two", "--ema",
                 "--ema-span", "3", "-o", str(tmp_path / "cli.png")]) == 0
    api, cli = drawn
    assert cli == api and len(api["axes"][0]["lines"]) == 5
    plot_loss(a, metric_keys=["loss"], output_path=tmp_path / "api1.png")
    assert main(["plot", str(a), "--metric-key", "loss", "-o", str(tmp_path / "cli1.png")]) == 0
    assert drawn[2] == drawn[3] and len(drawn[2]["axes"]) == 2  # loss and lr axes
