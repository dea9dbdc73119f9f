"""The parameter schema of ``gepa``: training_hub 0.11.2's names, one schema for every entry.

Python, ``th train gepa`` flags, YAML/JSON config files and ``th info gepa`` all
come from :class:`GEPAParams`. Callables and strategy objects are accepted as
they are from Python and as ``'pkg.mod:name'`` import strings from the CLI and
config files (they are imported when the run starts). Dict parameters also take
a JSON string, so they can be given as flags. This module imports pydantic only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from training_hub._params import Params

__all__ = [
    "CANDIDATE_SELECTION_STRATEGIES",
    "FRONTIER_TYPES",
    "MLFLOW_BACKEND_ONLY",
    "GEPAParams",
]

CANDIDATE_SELECTION_STRATEGIES = ("pareto", "current_best", "epsilon_greedy", "top_k_pareto")
FRONTIER_TYPES = ("instance", "objective", "hybrid", "cartesian")
MODULE_SELECTORS = ("round_robin", "all")

#: Parameters of training_hub 0.11.2's ``mlflow`` backend of gepa (mlflow.genai.optimize_prompts).
MLFLOW_BACKEND_ONLY = ("predict_fn", "prompt_uris", "scorers", "aggregation", "enable_tracking")

#: The events of the gepa library's own callback protocol (gepa.core.callbacks.GEPACallback).
GEPA_CALLBACK_EVENTS = (
    "on_optimization_start", "on_optimization_end", "on_iteration_start", "on_iteration_end",
    "on_candidate_selected", "on_minibatch_sampled", "on_evaluation_start", "on_evaluation_end",
    "on_evaluation_skipped", "on_valset_evaluated", "on_reflective_dataset_built",
    "on_proposal_start", "on_proposal_end", "on_candidate_accepted", "on_candidate_rejected",
    "on_merge_attempted", "on_merge_accepted", "on_merge_rejected", "on_pareto_front_updated",
    "on_state_saved", "on_budget_updated", "on_error",
)
_TRAINING_HUB_EVENTS = (
    "on_train_begin", "on_epoch_begin", "on_step_begin", "on_step_end", "on_log",
    "on_evaluate", "on_save", "on_epoch_end", "on_train_end",
)

_LM_HELP = (
    "a local Hugging Face model folder or hub id (run in-process with transformers), a model "
    "name served by the OpenAI-compatible endpoint at `api_base` ('openai/NAME' works too), or "
    "a Python callable (messages or prompt -> text; 'pkg.mod:func' on the CLI)"
)


def _json_if_string(value: Any, parameter: str) -> Any:
    """A dict or list parameter given as a JSON string (a CLI flag) becomes the value."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"'{parameter}' given as text must be JSON, e.g. '{{\"temperature\": 0}}' or "
            f"'[\"a\", \"b\"]' (the JSON is invalid: {exc.msg}, column {exc.colno})"
        ) from None


class GEPAParams(Params):
    """Optimise the text of a prompt (a dict of named components) with GEPA."""

    advanced: ClassVar[frozenset[str]] = frozenset(
        "frontier_type skip_perfect_score perfect_score reflection_minibatch_size adapter "
        "batch_sampler reflection_prompt_template custom_candidate_proposer module_selector "
        "stop_callbacks cache_evaluation raise_on_exception gepa_kwargs task_lm_kwargs "
        "reflection_lm_kwargs request_timeout device display_progress_bar run_dir "
        "tensorboard_log_dir "
        "wandb_api_key wandb_init_kwargs mlflow_tracking_uri mlflow_experiment_name "
        f"{' '.join(MLFLOW_BACKEND_ONLY)}".split()
    )

    # --- what to optimise, on what data, and where to write -------------------------
    seed_candidate: dict[str, str] = Field(
        description="The prompt to start from: component name -> text, e.g. "
        "{\"system_prompt\": \"Answer the question.\"}. On the CLI: JSON, a .json file, or "
        "plain text (which becomes the one component 'system_prompt')."
    )
    task_lm: str | Callable[..., Any] | None = Field(
        None,
        description=f"The model whose prompt is optimised: {_LM_HELP}. Required unless "
        "`adapter` runs the task itself.",
    )
    data_path: str | None = Field(
        None,
        description="Training examples, .jsonl or .json: records with 'input' and 'answer' "
        "(and optionally 'additional_context'). Alternative to `trainset`.",
    )
    trainset: list[Any] | None = Field(
        None, description="Training examples as a list (Python/YAML). Alternative to `data_path`."
    )
    valset: list[Any] | str | None = Field(
        None,
        description="Validation examples (a list, or a .jsonl/.json file) on which candidates "
        "are scored and the Pareto front is kept. Default: the training examples.",
    )
    output_dir: str | None = Field(
        None,
        description="Folder for result.json (best candidate, Pareto front, per-example "
        "validation scores), best_candidate.json and gepa_result.json; rewritten after every "
        "validation evaluation, so an interrupted run keeps what it found.",
    )

    # --- models ---------------------------------------------------------------------
    evaluator: Callable[..., Any] | str | None = Field(
        None,
        description="Scores one answer: (example, response) -> (score, feedback[, objective "
        "scores]). Default: gepa's ContainsAnswerEvaluator (1 if 'answer' is in the response).",
    )
    reflection_lm: str | Callable[..., Any] | None = Field(
        None,
        description=f"The model that reads the failures and proposes better prompts: {_LM_HELP}. "
        "Default: the task_lm.",
    )
    api_base: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, TGI, Ollama...), "
        "e.g. http://localhost:8000/v1, for string task_lm/reflection_lm names. The key, if "
        "any, is read from OPENAI_API_KEY.",
    )
    task_lm_kwargs: dict[str, Any] | None = Field(
        None,
        description="Generation options of the task LM: temperature (default 0: greedy), "
        "max_tokens (default 512), top_p; any other key goes to the endpoint request or to "
        "transformers' generate().",
    )
    reflection_lm_kwargs: dict[str, Any] | None = Field(
        None,
        description="Generation options of the reflection LM, as task_lm_kwargs "
        "(default max_tokens 1024).",
    )
    request_timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for one endpoint answer before retrying."
    )
    device: str = Field(
        "auto",
        description="Where a local Hugging Face model runs: auto (cuda when available), cpu, "
        "cuda, cuda:1...",
    )

    # --- the search -----------------------------------------------------------------
    max_metric_calls: int | None = Field(
        None,
        ge=1,
        description="Budget: task LM calls (one per example evaluated) before the search stops. "
        "GEPA typically needs 100-500. Required unless stop_callbacks are given.",
    )
    candidate_selection_strategy: (
        Literal["pareto", "current_best", "epsilon_greedy", "top_k_pareto"] | object
    ) = Field(
        "pareto",
        description="Which candidate to improve next: pareto (sampled from the Pareto front), "
        "current_best, epsilon_greedy, top_k_pareto, or a gepa CandidateSelector object.",
    )
    frontier_type: Literal["instance", "objective", "hybrid", "cartesian"] = Field(
        "instance",
        description="What the Pareto front is kept over: validation examples (instance), "
        "objective scores, both (hybrid) or each (example, objective) pair (cartesian).",
    )
    skip_perfect_score: bool = Field(
        True, description="Do not try to improve a candidate that is perfect on the minibatch."
    )
    perfect_score: float = Field(1.0, description="The score of a perfect answer.")
    reflection_minibatch_size: int | None = Field(
        None, ge=1, description="Training examples shown to the reflection LM per step (gepa: 3)."
    )
    seed: int = Field(0, description="Seed of the search (minibatches, candidate sampling).")
    use_merge: bool = Field(
        False, description="Also propose candidates that merge two Pareto-front candidates."
    )
    module_selector: Literal["round_robin", "all"] | object = Field(
        "round_robin",
        description="Which components a step rewrites: round_robin (one at a time), all, or a "
        "gepa ReflectionComponentSelector.",
    )
    batch_sampler: Literal["epoch_shuffled"] | object = Field(
        "epoch_shuffled", description="How training minibatches are drawn, or a gepa BatchSampler."
    )
    reflection_prompt_template: str | dict[str, str] | None = Field(
        None,
        description="The reflection prompt (with <curr_param> and <side_info>), or one per "
        "component. Default: gepa's.",
    )
    custom_candidate_proposer: Callable[..., Any] | str | None = Field(
        None,
        description="(candidate, reflective_dataset, components) -> new texts, instead of the "
        "reflection LM.",
    )
    adapter: object | None = Field(
        None,
        description="A gepa GEPAAdapter that runs and scores the task itself (then no task_lm "
        "or evaluator).",
    )
    stop_callbacks: object | list[object] | None = Field(
        None,
        description="gepa stoppers (e.g. gepa.TimeoutStopCondition(600)) that end the search.",
    )
    cache_evaluation: bool = Field(
        False, description="Reuse the score of a (candidate, example) pair already evaluated."
    )
    raise_on_exception: bool = Field(
        True,
        description="Stop at the first exception of the evaluator or proposer; False logs it "
        "and goes on (language-model endpoint failures always stop the run).",
    )
    gepa_kwargs: dict[str, Any] | None = Field(
        None,
        description="Further keyword arguments of gepa.optimize() (e.g. max_merge_invocations, "
        "acceptance_criterion).",
    )

    # --- progress, callbacks and trackers ---------------------------------------------
    # `callbacks` (training-hub callbacks) comes from the Params base class.
    gepa_callbacks: list[Any] | None = Field(
        None,
        exclude=True,
        description="gepa library callbacks ('pkg.mod:obj' on the CLI); those given in "
        "`callbacks` are moved here by their event names (on_iteration_end...).",
    )
    display_progress_bar: bool = Field(
        False, description="Show a tqdm progress bar over metric calls (needs tqdm)."
    )
    run_dir: str | None = Field(
        None,
        description="gepa's own run folder: its state (a rerun resumes from it), run_log.txt, "
        "and a gepa.stop file there stops the search.",
    )
    tensorboard: bool = Field(
        True,
        description="TensorBoard event files of the search's metrics when tensorboard is "
        "installed (training-hub's tracker; needs output_dir). metrics.jsonl is always written "
        "to output_dir.",
    )
    tensorboard_log_dir: str | None = Field(
        None, description="Folder of the TensorBoard files (default: <output_dir>/tensorboard)."
    )
    use_wandb: bool = Field(False, description="Log the search to Weights & Biases (needs wandb).")
    wandb_api_key: str | None = Field(None, description="W&B API key (with use_wandb).")
    wandb_init_kwargs: dict[str, Any] | None = Field(
        None, description="Keyword arguments of wandb.init() (with use_wandb)."
    )
    use_mlflow: bool = Field(False, description="Log the search to MLflow (needs mlflow).")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI (with use_mlflow)."
    )
    mlflow_experiment_name: str | None = Field(
        None, description="MLflow experiment name (with use_mlflow)."
    )

    # --- training_hub 0.11.2's mlflow backend (not provided here) ---------------------
    predict_fn: object | None = Field(
        None, description="training_hub 0.11.2's mlflow backend only; not available here."
    )
    prompt_uris: list[str] | None = Field(
        None, description="training_hub 0.11.2's mlflow backend only; not available here."
    )
    scorers: list[Any] | None = Field(
        None, description="training_hub 0.11.2's mlflow backend only; not available here."
    )
    aggregation: object | None = Field(
        None, description="training_hub 0.11.2's mlflow backend only; not available here."
    )
    enable_tracking: bool | None = Field(
        None, description="training_hub 0.11.2's mlflow backend only; not available here."
    )

    # --- conversions of CLI/YAML values --------------------------------------------------
    @field_validator("seed_candidate", mode="before")
    @classmethod
    def _seed_candidate_from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("{"):
            return _json_if_string(text, "seed_candidate")
        if text.endswith((".json", ".yaml", ".yml")):
            path = Path(text)
            if not path.is_file():
                raise ValueError(f"seed_candidate file {text} does not exist")
            if path.suffix == ".json":
                return json.loads(path.read_text(encoding="utf-8"))
            import yaml

            return yaml.safe_load(path.read_text(encoding="utf-8"))
        return {"system_prompt": value}

    @field_validator("task_lm_kwargs", "reflection_lm_kwargs", "gepa_kwargs",
                     "wandb_init_kwargs", mode="before")
    @classmethod
    def _dict_from_json(cls, value: Any, info: Any) -> Any:
        return _json_if_string(value, info.field_name)

    @field_validator("trainset", "prompt_uris", "scorers", "stop_callbacks", "gepa_callbacks",
                     mode="before")
    @classmethod
    def _list_from_json(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str) and value.strip().startswith("["):
            return _json_if_string(value, info.field_name)
        return value

    @field_validator("reflection_prompt_template", mode="before")
    @classmethod
    def _template_from_json(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().startswith("{"):
            return _json_if_string(value, "reflection_prompt_template")
        return value

    # --- checks across parameters ----------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _split_callbacks(cls, values: Any) -> Any:
        """gepa library callbacks (the peer's meaning of ``callbacks``) are kept apart from
        training-hub callbacks; an object with both kinds of events gets both."""
        if not isinstance(values, dict) or not values.get("callbacks"):
            return values
        callbacks = values["callbacks"]
        if not isinstance(callbacks, list | tuple):
            callbacks = [callbacks]
        # training_hub 0.11.2 passed gepa library callbacks as `callbacks`.
        ours = [c for c in callbacks if isinstance(c, str) or isinstance(c, type)
                or any(hasattr(c, e) for e in _TRAINING_HUB_EVENTS)
                or not any(hasattr(c, e) for e in GEPA_CALLBACK_EVENTS)]
        theirs = [c for c in callbacks if not isinstance(c, str | type)
                  and any(hasattr(c, e) for e in GEPA_CALLBACK_EVENTS)]
        already = list(values.get("gepa_callbacks") or [])
        return {**values, "callbacks": ours, "gepa_callbacks": already + theirs or None}

    @model_validator(mode="after")
    def _check_combinations(self) -> GEPAParams:
        problems = []
        for name in MLFLOW_BACKEND_ONLY:
            if getattr(self, name) is not None:
                problems.append(
                    f"'{name}' belongs to training_hub 0.11.2's 'mlflow' backend of gepa "
                    "(mlflow.genai.optimize_prompts with MLflow-registered prompts), which this "
                    "plugin does not provide; optimise the prompt text itself with seed_candidate, "
                    "task_lm and evaluator (docs/gepa.md shows how)"
                )
        if not self.seed_candidate:
            problems.append("seed_candidate is empty: give at least one component, e.g. "
                            "{\"system_prompt\": \"Answer the question.\"}")
        if self.data_path is None and self.trainset is None:
            problems.append("no training examples: give data_path (a .jsonl file) or trainset")
        if self.data_path is not None and self.trainset is not None:
            problems.append("both data_path and trainset are given: keep one")
        if self.adapter is not None:
            for name in ("task_lm", "evaluator"):
                if getattr(self, name) is not None:
                    problems.append(f"'{name}' is given with 'adapter': the adapter runs and "
                                    f"scores the task itself, so drop {name}")
        elif self.task_lm is None:
            problems.append("task_lm is missing: name the model whose prompt is optimised (a "
                            "local model folder, an endpoint model with api_base, or a callable)")
        if self.max_metric_calls is None and self.stop_callbacks is None:
            problems.append("no budget: set max_metric_calls (e.g. 200) or stop_callbacks, or "
                            "the search would never end")
        if self.reflection_minibatch_size is not None and self.batch_sampler != "epoch_shuffled":
            problems.append("reflection_minibatch_size applies only to batch_sampler "
                            "'epoch_shuffled'; set the size on your sampler instead")
        for flag, names in (("use_wandb", ("wandb_api_key", "wandb_init_kwargs")),
                            ("use_mlflow", ("mlflow_tracking_uri", "mlflow_experiment_name"))):
            for name in names:
                if getattr(self, name) is not None and not getattr(self, flag):
                    problems.append(f"'{name}' is set but {flag} is not: set {flag}=True "
                                    "(or drop it)")
        if self.tensorboard_log_dir is not None and not self.tensorboard:
            problems.append("tensorboard_log_dir is set but tensorboard=False: remove one of them")
        if self.tensorboard_log_dir is not None and self.output_dir is None:
            problems.append("tensorboard_log_dir needs output_dir (training-hub's trackers log "
                            "runs that have an output folder)")
        for name, choices in (("candidate_selection_strategy", CANDIDATE_SELECTION_STRATEGIES),
                              ("module_selector", MODULE_SELECTORS)):
            value = getattr(self, name)
            if isinstance(value, str) and value not in choices and ":" not in value:
                problems.append(f"{name}={value!r} is not one of {', '.join(choices)} (or a "
                                "'pkg.mod:object' import string)")
        if isinstance(self.batch_sampler, str) and self.batch_sampler != "epoch_shuffled" \
                and ":" not in self.batch_sampler:
            problems.append(f"batch_sampler={self.batch_sampler!r}: use 'epoch_shuffled' or a "
                            "'pkg.mod:object' import string")
        templates = self.reflection_prompt_template
        for key, template in (templates.items() if isinstance(templates, dict)
                              else [("", templates)] if templates else []):
            missing = [p for p in ("<curr_param>", "<side_info>") if p not in template]
            if missing:
                where = f" for component '{key}'" if key else ""
                problems.append(f"reflection_prompt_template{where} lacks {' and '.join(missing)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
