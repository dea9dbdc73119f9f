"""``th plot RUN_DIR``: a PNG of loss and learning rate against steps from metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from .._errors import UserError

__all__ = ["plot_run"]


def plot_run(run_dir: Path, output: Path | None = None) -> Path:
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise UserError(f"{metrics_path} does not exist: give the ckpt_output_dir of a run.")
    steps, losses, lrs = [], [], []
    for number, line in enumerate(metrics_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            steps.append(int(record["step"]))
            losses.append(float(record["loss"]))
            lrs.append(float(record.get("lr", float("nan"))))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{metrics_path}, line {number}: not a metrics record ({exc}).") \
                from None
    if not steps:
        raise UserError(f"{metrics_path} holds no metrics yet.")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("th plot needs matplotlib: pip install matplotlib") from None
    fig, loss_axis = plt.subplots(figsize=(8, 4.5))
    loss_axis.plot(steps, losses, color="tab:blue", label="loss")
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("loss", color="tab:blue")
    lr_axis = loss_axis.twinx()
    lr_axis.plot(steps, lrs, color="tab:orange", alpha=0.7, label="learning rate")
    lr_axis.set_ylabel("learning rate", color="tab:orange")
    loss_axis.set_title(f"{run_dir.name}: loss and learning rate")
    fig.tight_layout()
    output = output or run_dir / "loss.png"
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
