"""gepa's one schema: training_hub 0.11.2's names, clear errors, the CLI and YAML, data checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import gepa_toy
import pytest
import yaml

import training_hub
from training_hub import DataError, ParameterError

TESTS = Path(__file__).parent

#: Every parameter of training_hub 0.11.2's gepa() but `backend` (train()'s own argument).
PEER_NAMES = (
    "seed_candidate task_lm data_path trainset valset output_dir evaluator reflection_lm "
    "api_base max_metric_calls candidate_selection_strategy frontier_type skip_perfect_score "
    "perfect_score reflection_minibatch_size seed adapter run_dir use_wandb wandb_api_key "
    "wandb_init_kwargs use_mlflow mlflow_tracking_uri mlflow_experiment_name batch_sampler "
    "reflection_prompt_template custom_candidate_proposer module_selector use_merge "
    "stop_callbacks callbacks display_progress_bar cache_evaluation raise_on_exception "
    "predict_fn prompt_uris scorers aggregation enable_tracking gepa_kwargs"
).split()


def _toy(**extra: Any) -> dict[str, Any]:
    return {"seed_candidate": {"system_prompt": gepa_toy.SEED_INSTRUCTION},
            "task_lm": gepa_toy.task_model, "reflection_lm": gepa_toy.reflection_model,
            "trainset": gepa_toy.toy_examples(), "max_metric_calls": 40, **extra}


def test_every_peer_parameter_name_is_in_the_schema() -> None:
    from training_hub_gepa.params import GEPAParams

    assert [n for n in PEER_NAMES if n not in GEPAParams.model_fields] == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"predict_fn": "m:f"}, "'predict_fn' belongs to training_hub 0.11.2's 'mlflow' backend"),
    ({"prompt_uris": ["prompts:/qa/1"]}, "'prompt_uris' belongs to"),
    ({"max_metric_calls": None}, "no budget: set max_metric_calls"),
    ({"trainset": None}, "no training examples"),
    ({"data_path": "x.jsonl"}, "both data_path and trainset"),
    ({"task_lm": None}, "task_lm is missing"),
    ({"adapter": object()}, "'task_lm' is given with 'adapter'"),
    ({"wandb_api_key": "k"}, "'wandb_api_key' is set but use_wandb is not"),
    ({"mlflow_tracking_uri": "file:./mlruns"}, "set use_mlflow=True"),
    ({"candidate_selection_strategy": "best"}, "is not one of pareto, current_best"),
    ({"reflection_prompt_template": "Improve <curr_param>"}, "lacks <side_info>"),
    ({"seed_candidate": {}}, "seed_candidate is empty"),
    ({"reflection_lm_kwarg": {}}, "Did you mean 'reflection_lm_kwargs'"),
])
def test_parameter_mistakes_are_one_clear_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        training_hub.train("gepa", **_toy(**extra))


@pytest.mark.parametrize(("extra", "message"), [
    ({"gepa_kwargs": {"max_merge_invocation": 3}}, "not a keyword of gepa.optimize"),
    ({"gepa_kwargs": {"seed": 3}}, "'seed' is a parameter of its own"),
    ({"evaluator": "gepa_toy:no_such_function"}, "cannot be imported"),
])
def test_backend_refuses_what_gepa_cannot_take(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        training_hub.train("gepa", **_toy(**extra))


@pytest.mark.parametrize("package", ["wandb", "mlflow", "tqdm"])
def test_a_tracker_that_is_not_installed_is_an_error(package: str) -> None:
    if find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    flag = {"wandb": "use_wandb", "mlflow": "use_mlflow", "tqdm": "display_progress_bar"}[package]
    with pytest.raises(ParameterError, match=f"{flag}=True needs the {package} package"):
        training_hub.train("gepa", **_toy(**{flag: True}))


def test_use_mlflow_logs_the_search_with_gepas_tracker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a local file store, no server
    uri = (tmp_path / "mlruns").as_uri()
    training_hub.train("gepa", **_toy(use_mlflow=True, mlflow_tracking_uri=uri,
                                      mlflow_experiment_name="toy"))
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "best_score_on_valset")
    assert [m.value for m in history] == [0.125, 0.5, 1.0]


def test_gepa_library_callbacks_given_as_callbacks_reach_gepa() -> None:
    class IterationCounter:  # the gepa library's callback protocol, as the peer passed it
        iterations = 0

        def on_iteration_end(self, event: dict[str, Any]) -> None:
            self.iterations += 1

    counter = IterationCounter()
    result = training_hub.train("gepa", **_toy(callbacks=[counter]))
    assert counter.iterations >= 2 and result.best_score == pytest.approx(1.0)


def test_gepa_stoppers_end_the_search_and_epoch_callbacks_are_refused() -> None:
    import gepa

    result = training_hub.train("gepa", **_toy(
        max_metric_calls=None, stop_callbacks=[gepa.NoImprovementStopper(3)]))
    assert result.best_score == pytest.approx(1.0)
    assert result.total_metric_calls < 60  # 36 to reach 8/8, then 3 idle iterations

    class PerEpoch(training_hub.TrainingHubCallback):
        def on_epoch_end(self, context: Any) -> None:
            pass

    with pytest.raises(ParameterError, match="implements on_epoch_end"):
        training_hub.train("gepa", **_toy(callbacks=[PerEpoch()]))


def test_an_evaluator_may_return_a_plain_tuple_or_a_score() -> None:
    seen: list[str] = []

    def exact(example: dict[str, Any], response: str) -> tuple[float, str]:
        seen.append(response)
        right = response.rstrip(".").endswith(" " + example["answer"])
        return (1.0 if right else 0.0), f"The answer is {example['answer']}."

    result = training_hub.train("gepa", **_toy(evaluator=exact))
    assert result.best_score == pytest.approx(1.0) and len(seen) >= 8
    with pytest.raises(ParameterError, match="returned 'yes': return \\(score, feedback\\)"):
        training_hub.train("gepa", **_toy(evaluator=lambda example, response: "yes"))


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_bad_data_files_name_the_file_and_the_example(tmp_path: Path) -> None:
    params = _toy(trainset=None)
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"input": "Add 1 and 2.", "answer": "3"},
                                                 {"input": "Add 1 and 1.", "label": "2"}])
    with pytest.raises(DataError, match=r"bad.jsonl, example 2 lacks 'answer'"):
        training_hub.train("gepa", **params, data_path=str(bad))
    (tmp_path / "broken.jsonl").write_text('{"input": "a", "answer": "b"}\n{"input": \n')
    with pytest.raises(DataError, match=r"broken.jsonl, line 2: invalid JSON"):
        training_hub.train("gepa", **params, data_path=str(tmp_path / "broken.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="holds no examples"):
        training_hub.train("gepa", **params, data_path=str(tmp_path / "empty.jsonl"))
    with pytest.raises(DataError, match="does not exist"):
        training_hub.train("gepa", **params, data_path=str(tmp_path / "missing.jsonl"))


def _th(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    th = Path(sys.executable).parent / "th"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get(
        "PYTHONPATH", "")])}
    return subprocess.run([str(th), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env, check=False)


def test_th_train_gepa_from_yaml_and_flags_with_import_strings(tmp_path: Path) -> None:
    examples = gepa_toy.toy_examples()
    _write_jsonl(tmp_path / "train.jsonl", examples[:6])
    _write_jsonl(tmp_path / "val.jsonl", examples)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({
        "algorithm": "gepa",
        "task_lm": "gepa_toy:task_model",
        "reflection_lm": "gepa_toy:reflection_model",
        "data_path": "train.jsonl",
        "valset": "val.jsonl",
        "max_metric_calls": 50,
        "reflection_lm_kwargs": {"max_tokens": 300},
        "tensorboard": False,
    }))
    done = _th("train", "--config", "run.yaml", "--seed-candidate", gepa_toy.SEED_INSTRUCTION,
               "--output-dir", "out", "--reflection-minibatch-size", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["complete"] and result["best_score"] == 1.0 and result["seed_score"] == 0.125
    assert "compute the sum" in result["best_candidate"]["system_prompt"]

    refused = _th("train", "gepa", "--seed-candidate", "x", "--task-lm", "m",
                  "--data-path", "train.jsonl", "--max-metric-calls", "5",
                  "--scorers", '["Correctness"]', cwd=tmp_path)
    assert refused.returncode == 2
    assert "'scorers' belongs to training_hub 0.11.2's 'mlflow' backend" in refused.stderr
    assert "Traceback" not in refused.stderr
