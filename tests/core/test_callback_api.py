"""The public callback names: exported lazily from ``training_hub`` (no torch, no pydantic),
the ``"pkg.mod:Class"`` form, and the errors a wrong callback gets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training_hub import EarlyStopping, ParameterError, TrainingHubCallback, TrainingHubControl
from training_hub.callbacks import CallbackRunner, TrainingHubContext, resolve_callbacks


def test_exported_lazily_without_heavy_imports() -> None:
    code = (
        "import sys, training_hub as th\n"
        "names = [th.EarlyStopping, th.TrainingHubControl, th.TrainingHubCallback, "
        "th.TrainingHubContext]\n"
        "assert 'EarlyStopping' in th.__all__ and 'TrainingHubControl' in th.__all__\n"
        "print(sorted(m for m in ('torch', 'transformers', 'pydantic') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_callbacks_from_import_strings_classes_and_instances() -> None:
    stopper = EarlyStopping(patience=2)
    resolved = resolve_callbacks(
        ["training_hub.callbacks:EarlyStopping", TrainingHubCallback, stopper]
    )
    assert type(resolved[0]) is EarlyStopping and resolved[0].patience == 3  # the default
    assert type(resolved[1]) is TrainingHubCallback and resolved[2] is stopper
    with pytest.raises(ParameterError, match="'package.module:ClassName'"):
        resolve_callbacks("training_hub.callbacks.EarlyStopping")
    with pytest.raises(ParameterError, match="cannot be imported.*No module named"):
        resolve_callbacks("no_such_module_here:Thing")
    with pytest.raises(ParameterError, match="is not a callback"):
        resolve_callbacks([object()])
    with pytest.raises(ParameterError, match=r"^Callback 'json:dumps' \(function\) is not a "):
        resolve_callbacks("json:dumps")  # named as the user wrote it
    with pytest.raises(ParameterError, match="patience must be >= 1"):
        EarlyStopping(patience=0)


def test_early_stopping_counts_evaluations_without_improvement() -> None:
    stopper = EarlyStopping(metric="val_loss", patience=2, min_delta=0.1)
    runner = CallbackRunner([stopper])
    context = TrainingHubContext(control=TrainingHubControl())
    for step, value in enumerate([1.0, 0.95, 0.5, 0.45, 0.42], start=1):
        context.step, context.metrics = step, {"val_loss": value}
        runner.fire("on_evaluate", context)
        assert context.control.should_training_stop == (step == 5)
    assert stopper.best == 0.5 and stopper.stopped_at_step == 5
    assert runner.failures == []


def test_rank_filter_of_the_runner() -> None:
    class Everywhere(TrainingHubCallback):
        run_on_all_ranks = True

        def on_log(self, context: TrainingHubContext) -> None:
            pass

    main_only, everywhere = EarlyStopping(), Everywhere()
    assert CallbackRunner([main_only, everywhere], is_main_process=False).callbacks == [
        everywhere]
    assert CallbackRunner([main_only, everywhere]).callbacks == [main_only, everywhere]
