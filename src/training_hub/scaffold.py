"""``th new-plugin``: write a working plugin distribution to start from.

:func:`create_plugin` lays out a distribution that defines one algorithm with
a parameter schema and a toy backend (plain-Python gradient descent on a line,
so it trains in milliseconds without torch), registered lazily through an
entry point, with a README and tests that run the contract suite and a smoke
training. It passes its own tests as generated; docs/plugin-guide.md walks
through each file.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

__all__ = ["create_plugin"]

_DIST_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_ALGORITHM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "$dist"
version = "0.1.0"
description = "The '$algorithm' algorithm for training-hub."
readme = "README.md"
requires-python = ">=3.10"
license = "Apache-2.0"
# The core of training-hub is the distribution training-hub-core (PyPI's "training-hub"
# is an unrelated project). Its minor version is the plugin API's compatibility range.
dependencies = ["training-hub-core>=0.1.0,<0.2"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point's name is the algorithm name: training-hub imports this module
# only when '$algorithm' is looked up (or for `th list`).
[project.entry-points."training_hub.algorithms"]
$algorithm = "$package.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]
"""

_INIT = '''\
"""$dist: the '$algorithm' algorithm for training-hub."""

__all__: list[str] = []
'''

_PLUGIN = '''\
"""Entry-point module of $dist: registers '$algorithm' and its 'toy' backend.

Keep this module light: it is imported by `th list`. Register import strings
("package.module:Class") so the algorithm and backend modules load only when used.
"""

from __future__ import annotations

from training_hub import hookimpl

__all__ = ["TRAINING_HUB_PLUGIN_API", "register_algorithms", "register_backends"]

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_algorithms(register):  # type: ignore[no-untyped-def]
    register(
        "$algorithm",
        "$package.algorithm:${Class}Algorithm",
        default_backend="toy",
        description="Fit a line by gradient descent (template algorithm).",
    )


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(
        "$algorithm",
        "toy",
        "$package.backend:Toy${Class}Backend",
        requires=[],  # PEP 508 requirements of the library this backend wraps
        description="Plain-Python gradient descent; no torch needed.",
    )
'''

_ALGORITHM = '''\
"""${Class}Algorithm and its parameter schema ${Class}Params.

The schema is the one place parameters are written down: the Python API, the
flags of `th train $algorithm`, config-file keys, `th info` and docs all come
from it. Every field needs a type and a description.
"""

from __future__ import annotations

from pydantic import Field

from training_hub import Algorithm
from training_hub._params import Params

__all__ = ["${Class}Algorithm", "${Class}Params"]


class ${Class}Params(Params):
    """Parameters of $algorithm."""

    ckpt_output_dir: str = Field(description="Folder for the result of the run.")
    learning_rate: float = Field(0.1, gt=0, description="Step size of gradient descent.")
    steps: int = Field(200, ge=1, description="Gradient descent steps.")
    seed: int = Field(0, description="Seed of the synthetic data.")


class ${Class}Algorithm(Algorithm):
    """Fits y = 3x + 1 to noisy synthetic points (a stand-in for real training)."""

    params_schema = ${Class}Params
    default_backend = "toy"
    description = "Fit a line by gradient descent (template algorithm)."
'''

_BACKEND = '''\
"""Toy${Class}Backend: trains $algorithm with plain-Python gradient descent.

A real backend imports its training library inside run (never at module import)
and raises training_hub.ParameterError from check_params for a parameter value it
cannot honour. run receives the validated parameters and the run's callbacks
(the user's and the installed plugins' bridge): it fires their events and
honours their control flags at the next step boundary.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from training_hub import Backend, ParameterError
from training_hub._params import Params
from training_hub.callbacks import EVENTS, CallbackRunner, context_for_run

from .algorithm import ${Class}Params

__all__ = ["Toy${Class}Backend"]


def _points(seed: int, n: int = 32) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    return [(x, 3.0 * x + 1.0 + rng.gauss(0.0, 0.01)) for x in xs]


def _loss(points: list[tuple[float, float]], weight: float, bias: float) -> float:
    return sum((weight * x + bias - y) ** 2 for x, y in points) / len(points)


class Toy${Class}Backend(Backend):
    """Gradient descent on the mean squared error of a line."""

    params_schema: ClassVar[type[Params] | None] = ${Class}Params
    # Every event but on_evaluate (there is no validation data) and on_save.
    callback_events: ClassVar[frozenset[str]] = frozenset(EVENTS) - {"on_evaluate", "on_save"}

    def check_params(self, params: Params) -> None:
        learning_rate = getattr(params, "learning_rate", 0.0)
        if learning_rate > 1.0:
            raise ParameterError(
                f"learning_rate={learning_rate} diverges on this problem: "
                "use a value of at most 1.0."
            )

    def run(self, params: Params, callbacks: Sequence[Any]) -> dict[str, Any]:
        assert isinstance(params, ${Class}Params)
        events = CallbackRunner(callbacks)
        context = context_for_run(params, algorithm=self.algorithm_name,
                                  backend=self.backend_name, total_steps=params.steps)
        points = _points(params.seed)
        weight = bias = 0.0
        initial_loss = _loss(points, weight, bias)
        events.fire("on_train_begin", context)
        events.fire("on_epoch_begin", context)
        for step in range(1, params.steps + 1):
            events.fire("on_step_begin", context)
            grad_w = sum(2 * (weight * x + bias - y) * x for x, y in points) / len(points)
            grad_b = sum(2 * (weight * x + bias - y) for x, y in points) / len(points)
            weight -= params.learning_rate * grad_w
            bias -= params.learning_rate * grad_b
            context.step, context.loss = step, _loss(points, weight, bias)
            context.learning_rate = params.learning_rate
            events.fire("on_step_end", context)
            context.metrics = {"step": step, "loss": context.loss, "lr": params.learning_rate}
            events.fire("on_log", context)
            if context.control.should_training_stop:
                break
        events.fire("on_epoch_end", context)
        result = {
            "initial_loss": initial_loss,
            "final_loss": _loss(points, weight, bias),
            "weight": weight,
            "bias": bias,
            "steps": context.step,
        }
        output = Path(params.ckpt_output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "result.json").write_text(json.dumps(result, indent=2))
        context.result = result
        events.fire("on_train_end", context)
        return result
'''

_TEST_CONTRACT = '''\
"""$dist passes training-hub's plugin contract, including a smoke training."""

from __future__ import annotations

from pathlib import Path

from training_hub.testing.contract import check_distribution


def test_${package}_contract(tmp_path: Path) -> None:
    report = check_distribution(
        "$dist", smoke_params={"ckpt_output_dir": str(tmp_path), "steps": 5}
    )
    assert report.problems == []
    assert "smoke training of $algorithm/toy returned dict" in report.notes
'''

_TEST_TRAIN = '''\
"""Training $algorithm through training-hub's API, as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub import (
    AlgorithmRegistry,
    ParameterError,
    TrainingHubCallback,
    TrainingHubContext,
    create_algorithm,
)


class StopAtStep(TrainingHubCallback):
    def __init__(self, step: int) -> None:
        self.step = step
        self.losses: list[float] = []

    def on_step_end(self, context: TrainingHubContext) -> None:
        assert context.loss is not None
        self.losses.append(context.loss)
        if context.step == self.step:
            context.control.should_training_stop = True


def test_${package}_toy_backend_fits_the_line(tmp_path: Path) -> None:
    AlgorithmRegistry.reset()
    assert "toy" in AlgorithmRegistry.list_backends("$algorithm")
    result = create_algorithm("$algorithm", "toy").train(
        ckpt_output_dir=str(tmp_path), steps=300, learning_rate=0.2
    )
    assert result["final_loss"] < result["initial_loss"] / 1000
    assert result["weight"] == pytest.approx(3.0, abs=0.05)
    assert result["bias"] == pytest.approx(1.0, abs=0.05)
    assert json.loads((tmp_path / "result.json").read_text()) == result


def test_${package}_callbacks_see_and_stop_the_run(tmp_path: Path) -> None:
    stopper = StopAtStep(7)
    result = create_algorithm("$algorithm", "toy").train(
        ckpt_output_dir=str(tmp_path), steps=300, callbacks=[stopper]
    )
    assert result["steps"] == 7
    assert len(stopper.losses) == 7
    assert stopper.losses[-1] == pytest.approx(result["final_loss"])


def test_${package}_refuses_what_it_cannot_honour(tmp_path: Path) -> None:
    algorithm = create_algorithm("$algorithm", "toy")
    with pytest.raises(ParameterError, match="learning_rate=5.0 diverges"):
        algorithm.train(ckpt_output_dir=str(tmp_path), learning_rate=5.0)
    with pytest.raises(ParameterError, match="unknown parameter 'stpes'"):
        algorithm.train(ckpt_output_dir=str(tmp_path), stpes=3)
'''

_README = '''\
# $dist

The `$algorithm` algorithm for training-hub, with a `toy` backend.
Made with `th new-plugin`; replace the toy backend with your training code.

## Develop

```bash
pip install -e ".[test]"          # pulls the core, training-hub-core, from the index
th list                           # shows '$algorithm' with backend 'toy', from $dist
th info $algorithm                # parameters, from ${Class}Params
th train $algorithm --ckpt-output-dir out --steps 100
pytest tests                      # contract suite + a smoke training
```

## Publish

```bash
python -m build                   # dist/*.whl and dist/*.tar.gz
twine upload dist/*
```

Users then `pip install $dist`, which brings the core (`training-hub-core`) with it; no
code change in training-hub is needed: the `training_hub.algorithms` entry point makes it
discoverable.
'''

_FILES = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "src/$package/__init__.py": _INIT,
    "src/$package/plugin.py": _PLUGIN,
    "src/$package/algorithm.py": _ALGORITHM,
    "src/$package/backend.py": _BACKEND,
    "tests/test_${package}_contract.py": _TEST_CONTRACT,
    "tests/test_${package}_train.py": _TEST_TRAIN,
}


def _default_algorithm(name: str) -> str:
    return name.removeprefix("training-hub-").replace("-", "_")


def create_plugin(name: str, target_dir: Path, algorithm: str | None = None) -> Path:
    """Write distribution ``name`` into ``target_dir / name``; return that folder.

    ``name`` is the distribution name (lowercase, words joined by '-', e.g.
    ``training-hub-myalgo``); the package is its '_' form. ``algorithm`` is the
    name of the algorithm it defines (default: ``name`` without a
    ``training-hub-`` prefix, '-' as '_'). Raises ``ValueError`` for an invalid
    name and ``FileExistsError`` if the folder exists.
    """
    if not _DIST_NAME.match(name):
        raise ValueError(
            f"invalid plugin name {name!r}: use lowercase letters and digits, words joined "
            "by '-', starting with a letter (e.g. 'training-hub-myalgo')"
        )
    algorithm = algorithm or _default_algorithm(name)
    if not _ALGORITHM_NAME.match(algorithm):
        raise ValueError(
            f"invalid algorithm name {algorithm!r}: use lowercase letters, digits and '_', "
            "starting with a letter (e.g. 'myalgo')"
        )
    root = Path(target_dir) / name
    if root.exists():
        raise FileExistsError(f"{root} already exists: choose another name or folder")
    values = {
        "dist": name,
        "package": name.replace("-", "_"),
        "algorithm": algorithm,
        "Class": "".join(part.capitalize() for part in algorithm.split("_")),
    }
    for relative, template in _FILES.items():
        path = root / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
    return root
