"""``plot_loss``: loss curves of one or more runs in one PNG (training_hub 0.11.2's signature).

It reads each run's ``metrics.jsonl`` (native engine), another JSONL file the
run wrote, or the ``trainer_state.json`` of a Hugging Face Trainer checkpoint
(TRL backends), and draws the loss against the optimizer step, with an optional
exponential moving average and the validation loss where the run logged one.
``th plot`` is this function. matplotlib is imported only when plotting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import DataError, UserError

__all__ = ["DEFAULT_METRIC_KEYS", "RunCurves", "plot_loss", "read_run_curves"]

#: Keys tried in order for a record's training loss (those of the peer, ``loss`` ours).
DEFAULT_METRIC_KEYS = ("avg_loss", "loss", "avg_loss_backwards", "train_loss")
_VALIDATION_KEYS = ("val_loss", "eval_loss")
_JSONL_NAMES = ("metrics.jsonl", "training_log.jsonl", "training_metrics.jsonl")
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
           "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


@dataclass
class RunCurves:
    """What one run logged: training loss (and learning rate) and validation loss per step."""

    source: Path
    key: str
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    val_steps: list[float] = field(default_factory=list)
    val_values: list[float] = field(default_factory=list)


def _metrics_source(run_dir: Path, metrics_file: str | None) -> Path:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a folder: give the ckpt_output_dir of a run.")
    if metrics_file is not None:
        path = run_dir / metrics_file
        if not path.is_file():
            raise UserError(f"{path} does not exist (metrics_file={metrics_file!r}).")
        return path
    for name in _JSONL_NAMES:
        if (run_dir / name).is_file():
            return run_dir / name
    states = sorted(
        run_dir.glob("**/checkpoint-*/trainer_state.json"),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
    )
    if states:
        return states[-1]
    raise UserError(
        f"{run_dir / 'metrics.jsonl'} does not exist, nor any of {', '.join(_JSONL_NAMES[1:])} "
        "or checkpoint-*/trainer_state.json: give the ckpt_output_dir of a run, or name the "
        "file with metrics_file."
    )


def _records(path: Path) -> list[dict[str, object]]:
    if path.name == "trainer_state.json":
        try:
            history = json.loads(path.read_text(encoding="utf-8")).get("log_history", [])
        except (ValueError, AttributeError) as exc:
            raise DataError(f"{path}: not a trainer_state.json ({exc}).") from None
        return [r for r in history if isinstance(r, dict)]
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}, line {number}: not a metrics record ({exc}).") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}, line {number}: not a metrics record (not an object).")
        records.append(record)
    return records


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_run_curves(
    run_dir: str | Path,
    *,
    metrics_file: str | None = None,
    metric_keys: Sequence[str] | None = None,
) -> RunCurves:
    """The curves of one run; one :class:`~training_hub.UserError` when there are none."""
    source = _metrics_source(Path(run_dir), metrics_file)
    keys = tuple(metric_keys) if metric_keys else DEFAULT_METRIC_KEYS
    curves: RunCurves | None = None
    records = _records(source)
    for index, record in enumerate(records, start=1):
        step = _number(record.get("step", index))
        step = float(index) if step is None else step
        for val_key in _VALIDATION_KEYS:
            val = _number(record.get(val_key))
            if val is not None and val_key not in keys:
                if curves is None:
                    curves = RunCurves(source, "")
                curves.val_steps.append(step)
                curves.val_values.append(val)
                break
        key = next((k for k in keys if _number(record.get(k)) is not None), None)
        if key is None:
            continue
        if curves is None:
            curves = RunCurves(source, key)
        curves.key = curves.key or key
        curves.steps.append(step)
        curves.values.append(float(record[key]))  # type: ignore[arg-type]
        lr = _number(record.get("lr", record.get("learning_rate")))
        curves.learning_rates.append(math.nan if lr is None else lr)
    if curves is None or not curves.values:
        raise UserError(
            f"{source} holds no training loss: no record has any of the keys "
            f"{', '.join(keys)}. Name the key with metric_keys (th plot --metric-key)."
        )
    return curves


def _ema(values: Sequence[float], span: int) -> list[float]:
    """Exponential moving average with alpha = 2 / (span + 1), as pandas' ewm(adjust=False)."""
    alpha = 2.0 / (span + 1)
    smoothed: list[float] = []
    for value in values:
        smoothed.append(value if not smoothed else alpha * value + (1 - alpha) * smoothed[-1])
    return smoothed


def plot_loss(
    ckpt_output_dirs: str | Path | Sequence[str | Path],
    *,
    metrics_file: str | None = None,
    output_path: str | Path | None = None,
    labels: Sequence[str] | None = None,
    ema: bool = False,
    ema_span: int = 30,
    metric_keys: Sequence[str] | None = None,
    show: bool = False,
) -> str:
    """Plot the training loss of one or more runs against the optimizer step; returns the PNG.

    ``ckpt_output_dirs``: a run folder or a list of them, overlaid in one plot.
    ``metrics_file``: the file to read in each folder (default: ``metrics.jsonl``, else the
    peer's JSONL names, else the newest ``checkpoint-*/trainer_state.json``).
    ``output_path``: where to write (default ``loss_plot.png`` in the first folder).
    ``labels``: legend labels (default: folder names). ``ema``/``ema_span``: overlay an
    exponential moving average. ``metric_keys``: keys tried in order for the loss. The
    validation loss (``val_loss``) is drawn as markers when the run logged it; a single
    run also shows its learning rate. ``show`` opens a window as well.
    """
    dirs = [ckpt_output_dirs] if isinstance(ckpt_output_dirs, (str, Path)) else \
        list(ckpt_output_dirs)
    if not dirs:
        raise UserError("plot_loss: give at least one run folder (ckpt_output_dirs).")
    if labels is not None and len(labels) != len(dirs):
        raise UserError(
            f"plot_loss: {len(labels)} labels for {len(dirs)} runs; give one label per run."
        )
    if ema_span < 1:
        raise UserError(f"plot_loss: ema_span must be at least 1, got {ema_span}.")
    runs = [read_run_curves(d, metrics_file=metrics_file, metric_keys=metric_keys)
            for d in dirs]
    names = list(labels) if labels is not None else [Path(d).name or str(d) for d in dirs]
    try:
        import matplotlib

        if not show:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "plot_loss needs matplotlib: pip install matplotlib (or the 'plot' extra)."
        ) from None
    fig, axis = plt.subplots(figsize=(10, 6))
    for index, (run, name) in enumerate(zip(runs, names, strict=True)):
        color = _COLORS[index % len(_COLORS)]
        axis.plot(run.steps, run.values, color=color, alpha=0.45 if ema else 1.0,
                  label=f"{name} ({run.key})")
        if ema:
            axis.plot(run.steps, _ema(run.values, ema_span), color=color, linestyle="--",
                      label=f"{name} (EMA {ema_span})")
        if run.val_values:
            axis.plot(run.val_steps, run.val_values, color=color, marker="o", linestyle=":",
                      label=f"{name} (val_loss)")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss")
    if len(runs) == 1 and any(not math.isnan(lr) for lr in runs[0].learning_rates):
        lr_axis = axis.twinx()
        lr_axis.plot(runs[0].steps, runs[0].learning_rates, color="tab:gray", alpha=0.5,
                     label="learning rate")
        lr_axis.set_ylabel("learning rate", color="tab:gray")
    axis.legend(loc="upper right")
    axis.set_title("loss over training steps" if len(runs) > 1 else f"{names[0]}: loss")
    fig.tight_layout()
    output = Path(output_path) if output_path is not None else Path(dirs[0]) / "loss_plot.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)
    if show:
        plt.show()
    plt.close(fig)
    return str(output)
