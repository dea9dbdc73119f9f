"""``GEPABackend``: a GEPA search with the gepa library, read top to bottom in :meth:`run`.

Setup (examples, language models, Python objects named by import strings),
then ``gepa.optimize`` with a bridge to training-hub's callbacks and a stopper
for their stop requests, then the result: returned, and written to
``output_dir``. A failure keeps what was found (``complete: false``).
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from typing import Any

from training_hub import Backend, ParameterError
from training_hub.callbacks import EVENTS, CallbackRunner, TrainingHubContext

from ._imports import is_import_string, resolve_object
from .data import load_examples
from .lm import LanguageModelError, _Failures, resolve_lm
from .params import GEPAParams
from .progress import ControlStopper, ProgressBridge
from .result import GEPARunResult, summarize

__all__ = ["GEPABackend"]

#: Schema fields passed to gepa.optimize() under the same name, as they are.
_PASSED_AS_IS = (
    "frontier_type", "skip_perfect_score", "perfect_score", "reflection_minibatch_size", "seed",
    "reflection_prompt_template", "use_merge", "run_dir", "use_wandb", "wandb_api_key",
    "wandb_init_kwargs", "use_mlflow", "mlflow_tracking_uri", "mlflow_experiment_name",
    "display_progress_bar", "cache_evaluation", "raise_on_exception", "max_metric_calls",
)
#: Fields that may name a Python object with an import string.
_OBJECT_FIELDS = ("evaluator", "adapter", "custom_candidate_proposer",
                  "candidate_selection_strategy", "module_selector", "batch_sampler")
_TASK_DEFAULTS = {"max_tokens": 512}
_REFLECTION_DEFAULTS = {"max_tokens": 1024}


def _resolve(value: Any, parameter: str) -> Any:
    return resolve_object(value, parameter) if is_import_string(value) else value


def _resolve_list(value: Any, parameter: str) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [_resolve(item, parameter) for item in items]


class GEPABackend(Backend):
    """Prompt optimisation with ``gepa.optimize`` (the library's own search, unchanged)."""

    requires = ("gepa>=0.1.4",)
    params_schema = GEPAParams
    #: GEPA has no epochs: every other event is fired (see training_hub_gepa.progress).
    callback_events = frozenset(EVENTS) - {"on_epoch_begin", "on_epoch_end"}

    def check_params(self, params: Any) -> None:
        """Refuse, before anything runs, what gepa or the machine cannot honour."""
        import gepa

        for flag, module in (("use_wandb", "wandb"), ("use_mlflow", "mlflow"),
                             ("display_progress_bar", "tqdm")):
            if getattr(params, flag) and importlib.util.find_spec(module) is None:
                raise ParameterError(f"{flag}=True needs the {module} package: pip install "
                                     f"{module} (or turn {flag} off).")
        accepted = set(inspect.signature(gepa.optimize).parameters)
        ours = set(GEPAParams.model_fields)
        for key in params.gepa_kwargs or {}:
            if key in ours:
                raise ParameterError(f"gepa_kwargs['{key}']: '{key}' is a parameter of its own; "
                                     f"set {key}=... directly.")
            if key not in accepted or key in ("trainset", "valset", "task_lm", "logger"):
                raise ParameterError(
                    f"gepa_kwargs['{key}'] is not a keyword of gepa.optimize() that can be set "
                    f"here. Its other keywords: {', '.join(sorted(accepted - ours - {'logger'}))}."
                )
        for name in _OBJECT_FIELDS:
            _resolve(getattr(params, name), name)

    def run(self, params: Any, callbacks: Sequence[Any]) -> GEPARunResult:
        """Search with the validated ``params``, firing events on ``callbacks``."""
        import gepa

        self.check_params(params)

        # --- examples --------------------------------------------------------------------
        default_adapter = params.adapter is None
        trainset = load_examples(params.trainset if params.trainset is not None
                                 else str(params.data_path), "trainset" if params.trainset
                                 is not None else "data_path", default_adapter=default_adapter)
        valset = trainset if params.valset is None else load_examples(
            params.valset, "valset", default_adapter=default_adapter)

        # --- language models: one loaded model is shared by task and reflection ------------
        failures = _Failures()
        loaded: dict[str, Any] = {}

        def language_model(spec: Any, role: str, options: dict[str, Any] | None,
                           defaults: dict[str, Any]) -> Any:
            return resolve_lm(spec, role=role, api_base=params.api_base,
                              options={**defaults, **(options or {})},
                              timeout=params.request_timeout, device=params.device,
                              seed=params.seed, loaded=loaded, failures=failures)

        task_lm = None if params.task_lm is None else language_model(
            params.task_lm, "task LM", params.task_lm_kwargs, _TASK_DEFAULTS)
        reflection_spec = params.reflection_lm if params.reflection_lm is not None \
            else params.task_lm
        proposer = _resolve(params.custom_candidate_proposer, "custom_candidate_proposer")
        adapter = _resolve(params.adapter, "adapter")
        needs_reflection = proposer is None and getattr(adapter, "propose_new_texts", None) is None
        if needs_reflection and reflection_spec is None:
            raise ParameterError("reflection_lm is missing: GEPA needs a model that proposes new "
                                 "prompts (or a custom_candidate_proposer, or an adapter with "
                                 "propose_new_texts).")
        reflection_lm = language_model(reflection_spec, "reflection LM",
                                       params.reflection_lm_kwargs, _REFLECTION_DEFAULTS) \
            if needs_reflection else None
        if task_lm is not None:
            adapter = _default_adapter(task_lm, _resolve(params.evaluator, "evaluator"))

        # --- progress: training-hub callbacks, stop requests, results so far ---------------
        runner = CallbackRunner(list(callbacks), is_main_process=True)
        context = TrainingHubContext(
            output_dir=params.output_dir or "", algorithm=self.algorithm_name or "gepa",
            backend=self.backend_name or "gepa",
            params=_params_for_context(params, len(trainset), len(valset)),
        )
        bridge = ProgressBridge(runner, context, valset=valset, output_dir=params.output_dir)
        stoppers = [ControlStopper(context, failures),
                    *_resolve_list(params.stop_callbacks, "stop_callbacks")]

        # --- the search ------------------------------------------------------------------
        options: dict[str, Any] = {name: getattr(params, name) for name in _PASSED_AS_IS}
        options.update(params.gepa_kwargs or {})
        runner.fire("on_train_begin", context)
        try:
            gepa_result = gepa.optimize(
                seed_candidate=dict(params.seed_candidate),
                trainset=trainset,
                valset=valset,
                adapter=adapter,
                reflection_lm=reflection_lm,
                candidate_selection_strategy=_resolve(params.candidate_selection_strategy,
                                                      "candidate_selection_strategy"),
                module_selector=_resolve(params.module_selector, "module_selector"),
                batch_sampler=_resolve(params.batch_sampler, "batch_sampler"),
                custom_candidate_proposer=proposer,
                stop_callbacks=stoppers,
                callbacks=[bridge, *_resolve_list(params.gepa_callbacks, "gepa_callbacks")],
                **options,
            )
        except Exception as exc:
            raise _keep_what_was_found(bridge, exc, failures) from None
        if failures.error is not None:
            # gepa logs some model failures and goes on; the stopper ended the search.
            raise _keep_what_was_found(bridge, failures.error, failures) from None

        # --- the result ------------------------------------------------------------------
        result = summarize(
            gepa_result.candidates, gepa_result.parents, gepa_result.val_subscores,
            total_metric_calls=int(gepa_result.total_metric_calls or bridge.metric_calls),
            discovered_at=gepa_result.discovery_eval_counts, valset=valset, complete=True,
            output_dir=params.output_dir, history=bridge.history,
        )
        result._gepa_result = gepa_result
        bridge.save(result, gepa_result)
        context.result = result
        context.metrics = {"best_val_score": result.best_score, "seed_val_score":
                           result.seed_score, "metric_calls": result.total_metric_calls,
                           "num_candidates": len(result.candidates)}
        runner.fire("on_train_end", context)
        return result


class _Evaluator:
    """A user evaluator whose answer may be gepa's EvaluationResult, a plain
    ``(score, feedback[, objective_scores])`` tuple or a bare score."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, data: Any, response: str) -> Any:
        from gepa.adapters.default_adapter.default_adapter import EvaluationResult

        answer = self.fn(data, response)
        if isinstance(answer, EvaluationResult):
            return answer
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            return EvaluationResult(score=float(answer), feedback="")
        if isinstance(answer, tuple) and 2 <= len(answer) <= 3:
            return EvaluationResult(float(answer[0]), str(answer[1]),
                                    answer[2] if len(answer) == 3 else None)
        raise ParameterError(
            f"The evaluator {getattr(self.fn, '__qualname__', self.fn)!r} returned "
            f"{answer!r}: return (score, feedback), (score, feedback, objective_scores) or "
            "a score."
        )


def _default_adapter(task_lm: Any, evaluator: Any) -> Any:
    """gepa's DefaultAdapter over our model; batched requests when the model can batch."""
    from gepa.adapters.default_adapter.default_adapter import DefaultAdapter

    adapter = DefaultAdapter(model=task_lm,
                             evaluator=None if evaluator is None else _Evaluator(evaluator))
    if hasattr(task_lm, "batch_complete"):
        adapter._lm = task_lm  # DefaultAdapter calls _lm.batch_complete for a batch
    return adapter


#: Handled by the gepa library's own tracker (as in training_hub 0.11.2); kept from the
#: context so that training-hub's MLflow/W&B tracker plugins do not open a second run.
_GEPA_TRACKER_FIELDS = ("use_wandb", "wandb_api_key", "wandb_init_kwargs", "use_mlflow",
                        "mlflow_tracking_uri", "mlflow_experiment_name")


def _params_for_context(params: Any, n_train: int, n_val: int) -> dict[str, Any]:
    """The parameters as trackers see them: plain values, data sets as their sizes."""
    values: dict[str, Any] = {}
    for name, value in params.to_dict().items():
        if name in _GEPA_TRACKER_FIELDS:
            continue
        if name in ("trainset", "valset") and isinstance(value, list):
            value = f"{len(value)} examples"
        elif not (value is None or isinstance(value, str | int | float | bool | dict)):
            value = repr(value)
        values[name] = value
    values["num_train_examples"], values["num_val_examples"] = n_train, n_val
    return values


def _keep_what_was_found(bridge: ProgressBridge, exc: BaseException,
                         failures: _Failures) -> BaseException:
    """Write the results so far, and say in the error where they are."""
    error = failures.error if isinstance(failures.error, LanguageModelError) else exc
    partial = bridge.snapshot(error=str(error))
    if partial is None:
        kept = " No candidate had been scored yet, so nothing was written."
    else:
        where = ""
        if bridge.output_dir is not None:
            bridge.save(partial)
            where = (f", saved in {bridge.output_dir}/result.json (complete: false), the best "
                     f"candidate in {bridge.output_dir}/best_candidate.json")
        kept = (f" What was found is kept: {len(partial.candidates)} candidate(s), best "
                f"validation score {partial.best_score:.4g} (seed {partial.seed_score:.4g})"
                f"{where}; the error's partial_result holds it.")
    if isinstance(error, LanguageModelError):
        raised: BaseException = LanguageModelError(str(error) + kept)
    else:
        raised = exc
        if hasattr(exc, "add_note"):
            exc.add_note("training-hub gepa:" + kept)
    raised.partial_result = partial  # type: ignore[attr-defined]
    return raised
