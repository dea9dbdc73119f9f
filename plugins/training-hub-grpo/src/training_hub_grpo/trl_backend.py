"""The ``trl`` backends of grpo and lora_grpo: the same parameters over TRL's ``GRPOTrainer``.

What training-hub does around the trainer is the native backend's own code: the
prompts are read, rendered and checked by :mod:`.data` (``max_prompt_length``,
``n_train``/``n_val``, ``eval_data_path``), the reward functions are resolved and
checked by :mod:`.scoring` (one error naming the function and the sample), and
held-out prompts are evaluated as on the native engine (one greedy completion
each, :func:`.rollout.sample_groups`). TRL samples (vLLM colocated when vLLM is
installed and the run is on a GPU, else ``generate``), computes advantages and
the loss, and saves checkpoints: a Hugging Face model folder, or the peft adapter
for ``lora_grpo``. Events reach training-hub callbacks through the trl plugin's
bridge (:class:`training_hub_trl.hub_callbacks.HubCallbacks`), and metrics.jsonl,
TensorBoard, MLflow and W&B come from the built-in trackers through it.

:func:`trl_grpo_problems` lists what TRL cannot honour (one ParameterError);
:func:`grpo_config_kwargs` is the one place where our names become TRL's. This
module is light at import: trl, torch and transformers are imported in the
functions that train.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from training_hub import Backend
from training_hub._errors import ParameterError
from training_hub.callbacks import EVENTS

from .params import GRPOParams, LoRAGRPOParams, vllm_problems

__all__ = [
    "TRLGRPOBackend",
    "TRLLoRAGRPOBackend",
    "grpo_config_kwargs",
    "train_grpo_trl",
    "trl_grpo_problems",
]

_REQUIRES = ("trl>=1.0", "training-hub-trl>=0.1.0", "transformers>=4.50", "datasets>=3.0",
             "torch>=2.5")
#: Our schedules -> transformers' ``lr_scheduler_type``.
_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}
#: Launch settings of the native engine: TRL runs in the processes it is started in.
_LAUNCH_DEFAULTS: dict[str, Any] = {
    "nnodes": 1, "node_rank": 0, "rdzv_endpoint": None, "master_addr": "127.0.0.1",
    "master_port": 29500,
}


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _on_cuda(params: GRPOParams) -> bool:
    return params.device != "cpu" and _cuda_available()


def use_vllm(params: GRPOParams) -> bool:
    """vLLM (colocated with training) when it is installed and the run is on a GPU."""
    return importlib.util.find_spec("vllm") is not None and _on_cuda(params)


def trl_grpo_problems(params: GRPOParams) -> list[str]:
    """Every parameter set to a value the trl backend cannot honour, each with the fix."""
    problems: list[str] = []
    if params.nproc_per_node > 1:
        problems.append(
            f"nproc_per_node={params.nproc_per_node}: the trl backend does not launch "
            "processes; start your script with `accelerate launch` or `torchrun "
            "--nproc-per-node N` and keep nproc_per_node=1 (prompt_batch_size counts all "
            "processes)"
        )
    for name, default in _LAUNCH_DEFAULTS.items():
        if getattr(params, name) != default:
            problems.append(
                f"{name}={getattr(params, name)!r}: multi-node launch settings are for the "
                "native backend; pass them to `accelerate launch`/torchrun instead"
            )
    if params.device == "cuda" and not _cuda_available():
        problems.append("device='cuda' was requested but torch sees no CUDA GPU")
    if params.optimizer != "adamw":
        problems.append(
            f"optimizer={params.optimizer!r}: the trl backend supports adamw only; optimizers "
            "of training-hub plugins run on the native backend"
        )
    if params.lr_scheduler not in _SCHEDULERS:
        problems.append(
            f"lr_scheduler={params.lr_scheduler!r}: the trl backend supports "
            f"{', '.join(_SCHEDULERS)} only; schedulers of training-hub plugins run on the "
            "native backend"
        )
    default_chunk = GRPOParams.model_fields["rollout_batch_size"].default
    if params.rollout_batch_size != default_chunk:
        problems.append(
            f"rollout_batch_size={params.rollout_batch_size} (training_hub 0.11.2: "
            "concurrency): TRL samples each process's whole generation batch in one call; the "
            "knob is the native backend's, leave it unset"
        )
    if isinstance(params, LoRAGRPOParams) and (params.load_in_4bit or params.load_in_8bit):
        name = "load_in_4bit" if params.load_in_4bit else "load_in_8bit"
        problems.append(
            f"{name}=True: quantized bases are not wired to TRL's GRPOTrainer here; use the "
            "native backend of lora_grpo or a full-precision base"
        )
    problems += vllm_problems(params, vllm=use_vllm(params), backend="trl")
    return problems


def check_trl_grpo_params(params: GRPOParams, *, algorithm: str) -> None:
    """One ParameterError listing every parameter the trl backend cannot honour."""
    problems = trl_grpo_problems(params)
    if params.world_size > 1 and params.iteration_callback is not None:
        problems.append("iteration_callback cannot reach other processes; use callbacks=[...]")
    if problems:
        raise ParameterError(
            f"The trl backend of {algorithm} cannot honour: " + "; ".join(problems) + ". "
            "See docs/grpo.md, section 'TRL backend'."
        )


def batch_shape(params: GRPOParams, longest_sample: int, world_size: int) -> dict[str, int]:
    """``per_device_train_batch_size``, ``gradient_accumulation_steps`` and TRL's
    ``steps_per_generation`` (micro-batches per generation batch) for our batch.

    A generation batch is ``prompt_batch_size * group_size`` completions split into
    ``steps_per_generation`` optimizer steps; TRL batches by completion count, so
    ``max_tokens_per_gpu`` is honoured as an upper bound: the largest micro-batch whose
    worst case (every row ``longest_sample`` tokens) fits and divides each step's share.
    """
    completions = params.prompt_batch_size * params.group_size
    per_step = completions // params.steps_per_generation
    if per_step % world_size:
        raise ParameterError(
            f"The {per_step} completions of each optimizer step (prompt_batch_size * group_size "
            f"/ steps_per_generation) do not split over {world_size} processes: choose sizes "
            f"whose step holds a multiple of {world_size} completions."
        )
    per_process = per_step // world_size
    cap = max(1, params.max_tokens_per_gpu // max(longest_sample, 1))
    per_device = max(d for d in range(1, min(cap, per_process) + 1) if per_process % d == 0)
    accumulation = per_process // per_device
    return {"per_device_train_batch_size": per_device,
            "gradient_accumulation_steps": accumulation,
            "steps_per_generation": params.steps_per_generation * accumulation}


def _precision(params: GRPOParams, on_cuda: bool) -> dict[str, bool]:
    if params.dtype == "auto":
        import torch

        return {"bf16": on_cuda and torch.cuda.is_bf16_supported(), "fp16": False}
    return {"bf16": params.dtype == "bf16", "fp16": params.dtype == "fp16"}


def grpo_config_kwargs(params: GRPOParams, *, output_dir: str, longest_sample: int,
                       world_size: int = 1) -> dict[str, Any]:
    """``GRPOConfig`` fields for ``params``: the whole mapping, in one place."""
    on_cuda = _on_cuda(params)
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        # how long
        "num_train_epochs": params.num_iterations,
        "max_steps": params.max_steps if params.max_steps is not None else -1,
        # the GRPO batch
        "num_generations": params.group_size,
        **batch_shape(params, longest_sample, world_size),
        "num_iterations": params.iterations_per_batch,
        "shuffle_dataset": True,
        # sampling
        "max_completion_length": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "mask_truncated_completions": params.mask_truncated_completions,
        # the loss
        "loss_type": params.loss_type,
        "scale_rewards": params.scale_rewards,
        "beta": params.beta,
        "epsilon": params.epsilon,
        "epsilon_high": params.clip_high,
        "reward_weights": list(params.reward_weights) if params.reward_weights else None,
        # optimizer and schedule
        "optim": "adamw_torch",
        "learning_rate": params.learning_rate,
        "lr_scheduler_type": _SCHEDULERS[params.lr_scheduler],
        "warmup_steps": params.warmup_steps,
        "weight_decay": params.weight_decay,
        "adam_beta1": params.adam_beta1,
        "adam_beta2": params.adam_beta2,
        "adam_epsilon": params.adam_eps,
        "max_grad_norm": params.max_grad_norm if params.max_grad_norm is not None else 0.0,
        # numerics
        "seed": params.seed,
        "data_seed": params.seed,
        **_precision(params, on_cuda),
        "gradient_checkpointing": params.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "use_cpu": not on_cuda,
        "trust_remote_code": params.trust_remote_code,
        # checkpoints are decided by training-hub's rules (save_every, final)
        "save_strategy": "no",
        "save_total_limit": params.keep_last_n,
        "logging_strategy": "steps",
        "logging_steps": params.logging_steps,
        "logging_first_step": True,
        "report_to": "none",  # trackers are training-hub's, through the bridge
        "disable_tqdm": params.quiet,
        "log_completions": False,
        "dataloader_num_workers": 0,
        "use_vllm": use_vllm(params),
    }
    if kwargs["use_vllm"]:
        kwargs["vllm_mode"] = "colocate"
        for ours, theirs in (("gpu_memory_utilization", "vllm_gpu_memory_utilization"),
                             ("tensor_parallel_size", "vllm_tensor_parallel_size")):
            value = getattr(params, ours, None)  # peer fields, where the schema has them
            if value is not None:
                kwargs[theirs] = value
    return kwargs


class TRLGRPOBackend(Backend):
    """grpo over Hugging Face TRL's GRPOTrainer, with training-hub's prompts and rewards."""

    requires: ClassVar[tuple[str, ...]] = _REQUIRES
    callback_events: ClassVar[frozenset[str]] = frozenset(EVENTS)
    params_schema: ClassVar[type[GRPOParams]] = GRPOParams
    algorithm_name = "grpo"
    backend_name = "trl"

    def check_params(self, params: Any) -> None:
        check_trl_grpo_params(params, algorithm=self.algorithm_name)

    def run(self, params: Any, callbacks: Sequence[Any]) -> Any:
        self.check_params(params)
        return train_grpo_trl(params, callbacks, algorithm=self.algorithm_name,
                              backend=self.backend_name)


class TRLLoRAGRPOBackend(TRLGRPOBackend):
    """lora_grpo over TRL's GRPOTrainer with a peft ``LoraConfig``; checkpoints hold the
    adapter (and ``merged/`` with ``merge_adapter``)."""

    requires: ClassVar[tuple[str, ...]] = (*_REQUIRES, "peft>=0.13")
    params_schema: ClassVar[type[GRPOParams]] = LoRAGRPOParams
    algorithm_name = "lora_grpo"


# --- training (heavy imports from here on, inside the functions) ---------------------------


#: The one column of TRL's data set besides the prompt: each prompt's place in the prompt
#: list, through which the reward functions get its columns exactly as read.
PROMPT_INDEX = "_training_hub_prompt"


def _reward_for_trl(reward: Any, prompts_read: Sequence[Any]) -> Callable[..., list[float | None]]:
    """``reward`` called exactly as on the native backend (prompts, completions and the data
    columns, checked by :func:`.scoring.score`), under its metric name for TRL's logs."""
    from .scoring import RewardFunction, score

    unweighted = RewardFunction(reward.name, reward.function, 1.0)  # TRL applies the weights

    def call(prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        rows = [prompts_read[i].columns for i in columns[PROMPT_INDEX]]
        names = sorted({name for row in rows for name in row})
        data = {name: [row.get(name) for row in rows] for name in names}
        row = score([unweighted], prompts, completions, data)[0]
        return [None if math.isnan(value) else value for value in row]

    call.__name__ = call.__qualname__ = reward.name
    return call


def _trainer_class() -> type:
    """GRPOTrainer, plus: prompts tokenized as the native backend does, sampling and
    generation-phase time and per-batch rewards recorded, held-out evaluation (greedy,
    as native) in place of TRL's sampled one, config.json saved with the KV cache on."""
    from training_hub_trl.runtime import inference_config_on_save
    from trl import GRPOTrainer

    base: Any = inference_config_on_save(GRPOTrainer)

    class TrainingHubGRPOTrainer(base):  # type: ignore[misc, valid-type]
        generation_s = 0.0  # sampling only
        generate_and_score_s = 0.0  # sampling, rewards, advantages, old/reference log-probs
        evaluation_s = 0.0  # held-out evaluation
        completions = 0
        batch_rewards: list[float]
        held_out_evaluation: Callable[[], dict[str, float]] | None = None

        def _tokenize_prompts(self, prompts: list[Any]) -> Any:
            if prompts and all(isinstance(p, str) for p in prompts):
                # The native backend's tokens: the rendered prompt, no special tokens added.
                ids = self.processing_class(text=prompts, add_special_tokens=False)["input_ids"]
                return ids, None, {}
            return super()._tokenize_prompts(prompts)

        def _generate(self, prompts: list[Any]) -> Any:
            start = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                if self.model.training:
                    self.generation_s += time.perf_counter() - start

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            start = time.perf_counter()
            output = super()._generate_and_score_completions(inputs)
            if self.model.training:
                self.generate_and_score_s += time.perf_counter() - start
                self.completions += int(output["completion_ids"].shape[0])
                rewards = self._metrics["train"].get("reward") or [math.nan]
                self.batch_rewards.append(float(rewards[-1]))
            return output

        def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
            if self.held_out_evaluation is None:
                return {}
            self.control.should_evaluate = False  # as transformers' own on_evaluate does
            start = time.perf_counter()
            try:
                return self.held_out_evaluation()
            finally:
                self.evaluation_s += time.perf_counter() - start

    return TrainingHubGRPOTrainer


def _held_out_evaluator(trainer: Any, params: GRPOParams, prompts: list[Any], rewards: list[Any],
                        tokenizer: Any, hub: Any, output_dir: Path,
                        history: list[tuple[int, float]]) -> Callable[[], dict[str, float]]:
    """Mean reward of one greedy completion per held-out prompt, as the native backend
    computes it, written to eval.jsonl and sent to ``on_evaluate`` (its metric names)."""
    import json

    import torch

    from .recipe import EVAL_FILENAME
    from .rollout import SamplingSettings, sample_groups
    from .scoring import score

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos

    def evaluate() -> dict[str, float]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()  # peft injects its layers: the adapters are active
        completions = sample_groups(
            model, [p.ids for p in prompts], group_size=1,
            settings=SamplingSettings(max_tokens=params.max_tokens, greedy=True),
            eos_token_ids=[eos], pad_token_id=pad, generators=None,
            batch_size=params.rollout_batch_size)
        texts = tokenizer.batch_decode([c.ids for c in completions], skip_special_tokens=True)
        names = sorted({k for p in prompts for k in p.columns})
        columns = {k: [p.columns.get(k) for p in prompts] for k in names}
        table = torch.tensor(score(rewards, [p.text for p in prompts], texts, columns),
                             dtype=torch.float64)
        weights = torch.tensor([r.weight for r in rewards], dtype=torch.float64)
        n = max(len(prompts), 1)
        metrics = {"eval_reward": float((table * weights[:, None]).nansum()) / n,
                   **{f"eval_rewards/{r.name}": float(torch.nansum(table[i])) / n
                      for i, r in enumerate(rewards)}}
        step = int(trainer.state.global_step)
        history.append((step, metrics["eval_reward"]))
        if trainer.accelerator.is_main_process:
            with (output_dir / EVAL_FILENAME).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": step, **metrics}) + "\n")
        context = hub.context
        context.step, context.metrics = step, metrics
        hub.runner.fire("on_evaluate", context)
        return metrics

    return evaluate


def _run_callbacks(params: GRPOParams, trainer_ref: list[Any], reward_history: list[float],
                   has_held_out: bool) -> Any:
    """Checkpoint rules (save_every, final), the evaluation schedule, merged adapters and
    ``iteration_callback``: what the native recipe does between steps."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    class GRPORunRules(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.saved_steps: list[int] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if has_held_out and state.global_step == 0:
                trainer_ref[0].evaluate()  # the starting point of the reward curve

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            trainer = trainer_ref[0]
            reward_history.append(trainer.batch_rewards[-1] if trainer.batch_rewards
                                  else math.nan)
            step, last = state.global_step, state.global_step >= state.max_steps
            every = params.save_every
            if (every is not None and step % every == 0) or (last and
                                                             params.save_final_checkpoint):
                control.should_save = True
            frequency = params.validation_frequency
            if has_held_out and (last or (frequency and step % frequency == 0)):
                control.should_evaluate = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            callback = params.iteration_callback
            if callback is not None and logs and "loss" in logs and state.is_world_process_zero:
                record = {"step": state.global_step, "epoch": state.epoch, **logs}
                callback(state.global_step, record)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.saved_steps.append(state.global_step)
            if getattr(params, "merge_adapter", False) and state.is_world_process_zero:
                from training_hub_lora.adapter import MERGED_DIRNAME, save_merged_model

                folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
                save_merged_model(folder, folder / MERGED_DIRNAME,
                                  base_model_path=params.model_path)

    return GRPORunRules()


def _trl_dataset(prompts: list[Any]) -> Any:
    """The prompts as TRL reads them: the rendered ``prompt`` text and its index. The columns
    stay out of the Arrow table, which would give nested values of different shapes (tool
    arguments, tool lists) the same keys, filling the missing ones with None."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": p.text, PROMPT_INDEX: i} for i, p in enumerate(prompts)])


def train_grpo_trl(params: GRPOParams, callbacks: Sequence[Any] = (), *,
                   algorithm: str = "grpo", backend: str = "trl") -> Any:
    """Train ``params.model_path`` with TRL's GRPOTrainer on the prompts of ``data_path``;
    returns the native backend's :class:`~training_hub_grpo.recipe.GRPOResult`."""
    import torch
    from training_hub_trl.hub_callbacks import HubCallbacks
    from training_hub_trl.runtime import (
        MetricsFile,
        checkpoints_dir,
        load_causal_lm,
        prepare_output_dir,
    )
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
    from trl import GRPOConfig

    from training_hub.engine.model import load_tokenizer
    from training_hub.hub import resolve_inputs

    from .data import load_prompts
    from .recipe import EVAL_FILENAME, GRPOResult
    from .scoring import run_rewards

    params = resolve_inputs(params)  # Hub ids and data sets: local paths (the Hub cache)
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)
    resume_from = prepare_output_dir(params)  # type: ignore[arg-type]
    output_dir = Path(params.ckpt_output_dir)
    if resume_from is None:
        (output_dir / EVAL_FILENAME).unlink(missing_ok=True)
    tokenizer = load_tokenizer(params)  # type: ignore[arg-type]
    if tokenizer.eos_token_id is None:
        raise ParameterError(
            f"The tokenizer of {params.tokenizer_path or params.model_path} has no eos_token: "
            "completions could never end. Use a tokenizer with one."
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompt_set = load_prompts(params, tokenizer)
    if len(prompt_set.train) < params.prompt_batch_size:
        raise ParameterError(
            f"prompt_batch_size={params.prompt_batch_size} is larger than the "
            f"{len(prompt_set.train)} training prompts of {params.prompt_source}. Lower "
            "prompt_batch_size or add prompts."
        )
    rewards = run_rewards(params, [*prompt_set.train, *prompt_set.held_out])
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    longest = max(len(p.ids) for p in prompt_set.train) + params.max_tokens
    config = GRPOConfig(**grpo_config_kwargs(
        params, output_dir=str(checkpoints_dir(params)),  # type: ignore[arg-type]
        longest_sample=longest, world_size=world_size))

    start_step = 0
    if resume_from is not None:
        import json

        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        start_step = int(state.get("global_step", 0))
    reward_history: list[float] = []
    eval_history: list[tuple[int, float]] = []
    trainer_ref: list[Any] = []
    has_held_out = bool(prompt_set.held_out)
    rules = _run_callbacks(params, trainer_ref, reward_history, has_held_out)
    metrics = MetricsFile(output_dir, start_step)
    hub = HubCallbacks(callbacks, params, algorithm=algorithm, backend=backend,
                       can_evaluate=has_held_out)
    peft_config = None
    if isinstance(params, LoRAGRPOParams):
        from training_hub_lora.adapter import build_lora_config

        peft_config = build_lora_config(params)  # type: ignore[arg-type]
    trainer = _trainer_class()(
        model=load_causal_lm(params),  # type: ignore[arg-type]
        reward_funcs=[_reward_for_trl(r, prompt_set.train) for r in rewards],
        args=config,
        train_dataset=_trl_dataset(prompt_set.train),
        processing_class=tokenizer,
        callbacks=[rules, metrics, hub],  # the bridge last: it sees the flags set before it
        peft_config=peft_config,
    )
    trainer.batch_rewards = []
    if params.quiet:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # disable_tqdm prints every log line else
    trainer_ref.append(trainer)
    if has_held_out:
        trainer.held_out_evaluation = _held_out_evaluator(
            trainer, params, prompt_set.held_out, rewards, tokenizer, hub, output_dir,
            eval_history)

    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    elapsed = time.perf_counter() - start
    root = checkpoints_dir(params)  # type: ignore[arg-type]
    written = [str(root / f"{PREFIX_CHECKPOINT_DIR}-{step}") for step in rules.saved_steps]
    written = [path for path in written if Path(path).is_dir()]  # save_total_limit prunes
    # update: the training loop less the generation phase and the held-out evaluations
    update_s = max(elapsed - trainer.generate_and_score_s - trainer.evaluation_s, 0.0)
    result = GRPOResult(
        steps=trainer.state.global_step, epochs=math.floor(trainer.state.epoch or 0),
        elapsed_s=elapsed,
        final_reward=reward_history[-1] if reward_history else None,
        reward_history=reward_history, eval_history=eval_history,
        completions=trainer.completions,
        completions_per_second=trainer.completions / max(elapsed, 1e-9),
        generation_s=trainer.generation_s, update_s=update_s,
        checkpoints=written, last_checkpoint=written[-1] if written else None,
        output_dir=str(output_dir), metrics_path=str(metrics.path),
    )
    hub.finish(result)
    return result
