"""The parameter schemas of ``grpo`` and ``lora_grpo``: one each, for every backend.

Names are training_hub 0.11.2's where it has them (``reward_fn``,
``num_iterations``, ``group_size``, ``max_tokens``...) and TRL's ``GRPOConfig``
names for what it lacks (``loss_type``, ``beta``, ``epsilon``...). Where both
name the same thing the other name is an alias (``num_generations`` for
``group_size``, ``max_completion_length`` for ``max_tokens``). Fields that mean
the same as in sft are taken from :class:`TrainingParams` (and the LoRA fields
from the lora plugin's schema), never written down again. pydantic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_serializer, field_validator, model_validator
from pydantic.fields import FieldInfo
from training_hub_lora.algorithm import LoRAParams

from training_hub._params import Params
from training_hub.training_params import TrainingParams

__all__ = ["LOSS_TYPES", "GRPOParams", "LoRAGRPOParams", "reward_name", "vllm_problems"]

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")


def _shared(schema: type[Params], name: str, default: Any = ...) -> Any:
    """Field ``name`` of ``schema`` (constraints and description), optionally another default."""
    field = schema.model_fields[name]
    if default is not ...:
        field = FieldInfo.merge_field_infos(field, default=default)
    return field


def reward_name(fn: Any, *, import_path: bool = False) -> str:
    """How metrics and messages name a reward function: its registry name, the function
    name of an import string or callable (``module:qualname`` with ``import_path``)."""
    if isinstance(fn, str):
        return fn.rpartition(":")[2] if not import_path else fn
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        name = type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}:{name}" if import_path else str(name)


def _as_list(value: Any) -> Any:
    """A single value, a comma-separated string (CLI) or a list: always a list."""
    if value is None:
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class GRPOParams(Params):
    """GRPO: reinforcement learning from reward functions on sampled completions."""

    #: The same parameter under TRL's (and training_hub 0.11.2's) other names.
    param_aliases: ClassVar[Mapping[str, str]] = {
        "num_generations": "group_size",
        "max_completion_length": "max_tokens",
        "n_gpus": "nproc_per_node",
        # training_hub 0.11.2: the Hub data set's config name, and the most rollouts in
        # flight at once (ART's semaphore; here: completions sampled in one batch)
        "data_config": "data_subset",
        "concurrency": "rollout_batch_size",
    }

    # --- what to train, on what, and where to write -------------------------------
    model_path: str = _shared(TrainingParams, "model_path")
    data_path: str | None = Field(
        None, description="Prompts: .jsonl, .json or .parquet records (or a Hub data set id) "
        "with a `prompt` (text, or chat messages rendered with the chat template and a "
        "generation prompt) and any other columns, which reach the reward functions as "
        "keyword lists. Give data_path or tasks."
    )
    tasks: list[dict[str, Any]] | None = Field(
        None, description="training_hub 0.11.2's task list: the prompt records themselves "
        "(dicts shaped like the lines of data_path), instead of data_path. CLI: JSON."
    )
    ckpt_output_dir: str = _shared(TrainingParams, "ckpt_output_dir")
    reward_fn: list[Any] | None = Field(
        None, description="Reward function(s): callables with TRL's signature f(prompts, "
        "completions, **columns) -> list[float | None], 'pkg.module:function' import strings, "
        "or names of the rewards registry (exact_match, regex, think_format, tool_call, math). "
        "Several are summed with reward_weights. CLI: comma-separated. None: tool_call for "
        "training_hub 0.11.2's tool-call records (target_tool_name, target_arguments); other "
        "prompts need one."
    )
    reward_weights: list[float] | None = Field(
        None, description="Weight of each reward function (same order); default 1.0 each."
    )
    n_train: int | None = Field(
        None, ge=1, description="Use the first N prompts of data_path for training; None: all "
        "prompts that are not held out."
    )
    n_val: int = Field(
        0, ge=0, description="Hold out N prompts of data_path (those after the n_train training "
        "prompts; the last N when n_train is None) to evaluate mean reward on."
    )
    eval_data_path: str | None = Field(
        None, description="Separate prompt file to evaluate mean reward on (instead of n_val)."
    )
    # Hub ids in model_path/tokenizer_path/data_path (training_hub.hub), as for sft
    revision: str | None = _shared(TrainingParams, "revision")
    data_revision: str | None = _shared(TrainingParams, "data_revision")
    data_subset: str | None = _shared(TrainingParams, "data_subset")
    data_split: str | None = _shared(TrainingParams, "data_split")

    # --- how long ----------------------------------------------------------------
    num_iterations: int = Field(1, ge=1, description="Passes over the training prompts.")
    max_steps: int | None = _shared(TrainingParams, "max_steps")

    # --- the GRPO batch -----------------------------------------------------------------
    group_size: int = Field(
        8, ge=2, description="Completions sampled per prompt; advantages are relative to the "
        "group."
    )
    prompt_batch_size: int = Field(
        16, ge=1, description="Prompts per generation batch, summed over all processes "
        "(prompt_batch_size * group_size completions)."
    )
    generation_batch_size: int | None = Field(
        None, ge=1, description="TRL's name: completions per generation batch; must be a "
        "multiple of group_size, and sets prompt_batch_size = generation_batch_size / group_size."
    )
    steps_per_generation: int = Field(
        1, ge=1, description="Optimizer steps each generation batch is split into."
    )
    iterations_per_batch: int = Field(
        1, ge=1, description="Passes of policy updates over each generation batch (TRL's "
        "num_iterations, the mu of the GRPO paper); above 1 the importance ratio and clipping act."
    )
    max_tokens_per_gpu: int = _shared(TrainingParams, "max_tokens_per_gpu")

    # --- sampling -----------------------------------------------------------------------
    temperature: float = Field(0.7, gt=0, description="Sampling temperature of the rollouts.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep the smallest set "
                         "of tokens with this total probability; 1.0 keeps all.")
    top_k: int = Field(0, ge=0, description="Sample among the K most likely tokens; 0 keeps all.")
    max_tokens: int = Field(
        512, ge=1, description="Longest completion in tokens.",
    )
    max_prompt_length: int = Field(
        16384, ge=1, description="Longest prompt in tokens; a longer prompt is an error."
    )
    rollout_batch_size: int = Field(
        64, ge=1, description="Completions sampled together in one batched generation (whole "
        "groups; rounded down to a multiple of group_size, at least one group)."
    )
    mask_truncated_completions: bool = Field(
        False, description="Completions cut at max_tokens (no end-of-sequence) carry no loss."
    )

    # --- vLLM (training_hub 0.11.2's names): only where rollouts run on vLLM --------------
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="Fraction of GPU memory vLLM reserves for rollouts "
        "(backend trl with vLLM installed, on a GPU; None: TRL's default). The native "
        "backend samples on the training model and refuses it."
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs vLLM splits each rollout engine over (backend trl with "
        "vLLM). The native backend samples on the training model and refuses more than 1."
    )
    enforce_eager: bool = Field(
        False, description="training_hub 0.11.2's vLLM switch (no CUDA graphs). Neither "
        "backend starts vLLM with it (TRL's colocated vLLM has no such option): True is "
        "refused."
    )

    # --- the loss -------------------------------------------------------------------------
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        "dapo", description="How token losses are aggregated (TRL's definitions): grpo per "
        "sequence mean, dr_grpo sum / (sequences * max_tokens), dapo sum / tokens of the "
        "generation batch per step, bnpo sum / tokens of the step. See docs/grpo.md."
    )
    use_dr_grpo: bool | None = Field(
        None, description="training_hub 0.11.2's switch: True is loss_type='dr_grpo' with "
        "scale_rewards='none' (Dr. GRPO); None follows loss_type and scale_rewards."
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Divide advantages by the reward std of the group, of the whole "
        "batch, or not at all (Dr. GRPO). True/False mean group/none."
    )
    beta: float = Field(
        0.0, ge=0, description="Weight of the KL penalty to the frozen starting model; 0 loads "
        "no reference model."
    )
    epsilon: float = Field(0.2, gt=0, lt=1, description="Clipping of the importance ratio: "
                           "lower bound 1 - epsilon.")
    epsilon_high: float | None = Field(
        None, gt=0, description="Upper clipping bound 1 + epsilon_high; default epsilon (DAPO "
        "uses 0.28)."
    )

    # --- optimizer and schedule -----------------------------------------------------
    optimizer: str = _shared(TrainingParams, "optimizer")
    learning_rate: float = _shared(TrainingParams, "learning_rate", 1e-5)
    lr_scheduler: str = _shared(TrainingParams, "lr_scheduler", "constant")
    warmup_steps: int = _shared(TrainingParams, "warmup_steps")
    weight_decay: float = _shared(TrainingParams, "weight_decay")
    adam_beta1: float = _shared(TrainingParams, "adam_beta1")
    adam_beta2: float = _shared(TrainingParams, "adam_beta2", 0.99)
    adam_eps: float = _shared(TrainingParams, "adam_eps")
    max_grad_norm: float | None = _shared(TrainingParams, "max_grad_norm")

    # --- numerics and speed -----------------------------------------------------------
    seed: int = Field(42, description="Seed of model init, prompt order and sampling.")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = _shared(TrainingParams, "dtype")
    gradient_checkpointing: bool = _shared(TrainingParams, "gradient_checkpointing")
    device: Literal["auto", "cpu", "cuda"] = _shared(TrainingParams, "device")
    num_threads: int | None = _shared(TrainingParams, "num_threads")
    tokenizer_path: str | None = _shared(TrainingParams, "tokenizer_path")
    trust_remote_code: bool = _shared(TrainingParams, "trust_remote_code")

    # --- evaluation, checkpoints, resume, logging ---------------------------------------
    validation_frequency: int | None = Field(
        None, ge=1, description="Evaluate mean reward on the held-out prompts every N steps "
        "(greedy, one completion each); with held-out prompts it also runs after the last step."
    )
    save_every: int | None = _shared(TrainingParams, "save_every")
    save_final_checkpoint: bool = _shared(TrainingParams, "save_final_checkpoint")
    keep_last_n: int | None = _shared(TrainingParams, "keep_last_n")
    resume: str = _shared(TrainingParams, "resume")
    overwrite: bool = _shared(TrainingParams, "overwrite")
    logging_steps: int = _shared(TrainingParams, "logging_steps")
    tensorboard: bool = _shared(TrainingParams, "tensorboard")
    quiet: bool = _shared(TrainingParams, "quiet")
    tensorboard_log_dir: str | None = _shared(TrainingParams, "tensorboard_log_dir")
    mlflow_tracking_uri: str | None = _shared(TrainingParams, "mlflow_tracking_uri")
    mlflow_experiment_name: str | None = _shared(TrainingParams, "mlflow_experiment_name")
    mlflow_run_name: str | None = _shared(TrainingParams, "mlflow_run_name")
    wandb_project: str | None = _shared(TrainingParams, "wandb_project")
    wandb_entity: str | None = _shared(TrainingParams, "wandb_entity")
    wandb_run_name: str | None = _shared(TrainingParams, "wandb_run_name")
    iteration_callback: Any = Field(
        None, exclude=True, description="training_hub 0.11.2's hook: called as "
        "f(step, metrics) after every step (Python API only)."
    )

    # --- distributed ----------------------------------------------------------------
    nproc_per_node: int = _shared(TrainingParams, "nproc_per_node")
    nnodes: int = _shared(TrainingParams, "nnodes")
    node_rank: int = _shared(TrainingParams, "node_rank")
    rdzv_endpoint: str | None = _shared(TrainingParams, "rdzv_endpoint")
    master_addr: str = _shared(TrainingParams, "master_addr")
    master_port: int = _shared(TrainingParams, "master_port")

    advanced: ClassVar[frozenset[str]] = TrainingParams.advanced | {
        "rollout_batch_size", "generation_batch_size", "iterations_per_batch",
        "steps_per_generation", "mask_truncated_completions", "epsilon_high",
        "gpu_memory_utilization", "tensor_parallel_size", "enforce_eager", "revision",
        "data_revision", "data_subset", "data_split",
    }

    # --- checks ---------------------------------------------------------------------------

    @field_validator("reward_fn", mode="before")
    @classmethod
    def _reward_list(cls, value: Any) -> Any:
        if value is None:
            return None
        value = _as_list(value)
        if not value:
            raise ValueError("reward_fn needs at least one reward function")
        for fn in value:
            if not callable(fn) and not isinstance(fn, str):
                raise ValueError(
                    f"reward_fn entries are callables, import strings or registry names; got "
                    f"{fn!r}"
                )
        return value

    @field_serializer("reward_fn")
    def _reward_names(self, value: list[Any] | None) -> list[str] | None:
        """Callables are written as their import path (params.json of checkpoints)."""
        if value is None:
            return None
        return [fn if isinstance(fn, str) else reward_name(fn, import_path=True) for fn in value]

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks_from_json(cls, value: Any) -> Any:
        """The CLI (and an environment) gives tasks as JSON text."""
        if isinstance(value, str):
            import json

            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"tasks is not JSON ({exc}): give a list of records") from None
        return value

    @field_validator("reward_weights", mode="before")
    @classmethod
    def _weight_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("scale_rewards", mode="before")
    @classmethod
    def _scale_booleans(cls, value: Any) -> Any:
        if value is True or str(value).lower() == "true":
            return "group"
        if value is False or str(value).lower() == "false":
            return "none"
        return value

    @field_validator("iteration_callback")
    @classmethod
    def _callable_or_none(cls, value: Any) -> Any:
        if value is not None and not callable(value):
            raise ValueError(f"iteration_callback must be callable, got {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _dr_grpo_switch(cls, values: Any) -> Any:
        """``use_dr_grpo=True`` sets the Dr. GRPO loss and advantages, unless they contradict."""
        if not isinstance(values, dict) or values.get("use_dr_grpo") is not True:
            return values
        conflicts = [
            f"{name}={values[name]!r}" for name, wanted in (
                ("loss_type", "dr_grpo"), ("scale_rewards", "none"))
            if values.get(name) not in (None, wanted) and
            not (name == "scale_rewards" and values[name] is False)
        ]
        if conflicts:
            raise ValueError(
                f"use_dr_grpo=True means loss_type='dr_grpo' and scale_rewards='none', but "
                f"{' and '.join(conflicts)} was given: drop use_dr_grpo or those parameters"
            )
        return {**values, "loss_type": "dr_grpo", "scale_rewards": "none"}

    @model_validator(mode="after")
    def _check_batch(self) -> GRPOParams:
        if self.generation_batch_size is not None:
            if self.generation_batch_size % self.group_size:
                raise ValueError(
                    f"generation_batch_size ({self.generation_batch_size}) is not a multiple of "
                    f"group_size ({self.group_size}): every prompt needs a whole group of "
                    f"completions; use a multiple such as "
                    f"{max(1, self.generation_batch_size // self.group_size) * self.group_size}"
                )
            prompts = self.generation_batch_size // self.group_size
            if "prompt_batch_size" in self.model_fields_set and prompts != self.prompt_batch_size:
                raise ValueError(
                    f"generation_batch_size={self.generation_batch_size} means "
                    f"{prompts} prompts per batch, but prompt_batch_size={self.prompt_batch_size} "
                    "was given too: give one of them"
                )
            object.__setattr__(self, "prompt_batch_size", prompts)
        completions = self.prompt_batch_size * self.group_size
        if completions % self.steps_per_generation:
            raise ValueError(
                f"steps_per_generation ({self.steps_per_generation}) does not divide the "
                f"{completions} completions of a generation batch (prompt_batch_size "
                f"{self.prompt_batch_size} * group_size {self.group_size})"
            )
        import os

        world = max(self.nproc_per_node * self.nnodes, int(os.environ.get("WORLD_SIZE", "1")))
        if self.prompt_batch_size % world:
            raise ValueError(
                f"prompt_batch_size ({self.prompt_batch_size}) is not a multiple of the "
                f"{world} processes: each process samples the groups of an equal share of "
                "the prompts"
            )
        if self.reward_weights is not None and self.reward_fn is None:
            raise ValueError(
                "reward_weights was given without reward_fn: name the reward functions they "
                "weigh (reward_fn), or drop reward_weights"
            )
        if self.reward_weights is not None and len(self.reward_weights) != len(
                self.reward_fn or ()):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} entries but reward_fn has "
                f"{len(self.reward_fn or ())} functions: give one weight per function"
            )
        if self.eval_data_path is not None and self.n_val:
            raise ValueError("give either n_val (held out from data_path) or eval_data_path")
        if (self.data_path is None) == (self.tasks is None):
            raise ValueError(
                "give the prompts as data_path (a file or Hub data set) or as tasks (a list of "
                "records)" + (", not both" if self.tasks is not None else "")
            )
        if self.tasks is not None and not self.tasks:
            raise ValueError("tasks is empty: give at least one prompt record")
        return self

    @property
    def prompt_source(self) -> str:
        """How messages name where the prompts come from."""
        return self.data_path if self.data_path is not None else f"tasks ({len(self.tasks or [])})"

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def clip_high(self) -> float:
        return self.epsilon if self.epsilon_high is None else self.epsilon_high

    def torchrun_options(self) -> dict[str, Any]:
        return TrainingParams.torchrun_options(self)  # type: ignore[arg-type]


def vllm_problems(params: GRPOParams, *, vllm: bool, backend: str) -> list[str]:
    """training_hub 0.11.2's vLLM settings that ``backend`` cannot honour, each with the fix.

    ``vllm``: whether this run's rollouts run on vLLM (TRL's colocated engine). They are
    the peer's knobs of its rollout server; a backend that samples without vLLM has
    nothing they could set, so a value other than the default is an error, never ignored.
    """
    problems: list[str] = []
    where = ("the native backend samples on the training model (batched, with a KV cache), "
             "without vLLM" if backend == "native" else
             "this run samples with transformers' generate: vLLM is not installed or there "
             "is no GPU")
    fix = ("use backend='trl' with vLLM installed, on a GPU" if backend == "native" else
           "install vLLM (on a GPU)")
    if params.gpu_memory_utilization is not None and not vllm:
        problems.append(
            f"gpu_memory_utilization={params.gpu_memory_utilization}: the share of GPU memory "
            f"vLLM reserves, but {where}; drop it, or {fix}"
        )
    if params.tensor_parallel_size != 1 and not vllm:
        problems.append(
            f"tensor_parallel_size={params.tensor_parallel_size}: splits vLLM's rollout engine "
            f"over GPUs, but {where} (processes split the prompts instead: nproc_per_node); "
            f"drop it, or {fix}"
        )
    if params.enforce_eager:
        problems.append(
            "enforce_eager=True: turns off CUDA graphs of the peer's vLLM engine; neither "
            "backend here starts vLLM with that switch (TRL's colocated vLLM has none): drop it"
        )
    return problems


class LoRAGRPOParams(GRPOParams):
    """GRPO on LoRA adapters of a frozen model (the lora plugin's adapter and fields)."""

    learning_rate: float = _shared(GRPOParams, "learning_rate", 1e-5)
    lora_r: int = _shared(LoRAParams, "lora_r")
    lora_alpha: float = _shared(LoRAParams, "lora_alpha")
    lora_dropout: float = _shared(LoRAParams, "lora_dropout")
    target_modules: list[str] = _shared(LoRAParams, "target_modules")
    load_in_4bit: bool = _shared(LoRAParams, "load_in_4bit")
    load_in_8bit: bool = _shared(LoRAParams, "load_in_8bit")
    merge_adapter: bool = _shared(LoRAParams, "merge_adapter")
    max_lora_rank: int | None = Field(
        None, ge=1, description="training_hub 0.11.2's limit of vLLM on served adapter "
        "ranks. No engine here limits them (TRL merges adapters into vLLM's weights), so "
        "the limit holds when it is at least lora_r; below lora_r it is an error."
    )
    rollout_fn: Any = Field(
        None, exclude=True, description="training_hub 0.11.2's ART rollout, async f(model, "
        "task) -> art.Trajectory. Not available here (rollouts are single-turn completions "
        "scored by reward_fn): a function is refused with how to move it (docs/grpo.md)."
    )

    advanced: ClassVar[frozenset[str]] = GRPOParams.advanced | {"lora_dropout", "max_lora_rank"}

    @field_validator("rollout_fn")
    @classmethod
    def _no_agent_rollouts(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError(
                f"rollout_fn={reward_name(value, import_path=True) if callable(value) else value!r}"
                ": training_hub 0.11.2's ART rollouts (an async function of an ART model and a "
                "task, talking to vLLM through an OpenAI client and returning an "
                "art.Trajectory) have no counterpart here: both backends sample the "
                "completions of each prompt themselves. Give the tasks as prompt records "
                "(tasks=[{'prompt': ..., 'answer': ...}] or data_path) and move the scoring "
                "into reward_fn(prompts, completions, **columns); see docs/grpo.md"
            )
        return value

    @model_validator(mode="after")
    def _adapter_fits_rank_limit(self) -> LoRAGRPOParams:
        if self.max_lora_rank is not None and self.max_lora_rank < self.lora_r:
            raise ValueError(
                f"max_lora_rank={self.max_lora_rank} is below lora_r={self.lora_r}: the adapter "
                "would not fit the limit; raise max_lora_rank or lower lora_r"
            )
        return self

    @field_validator("target_modules", mode="before")
    @classmethod
    def _target_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("target_modules")
    @classmethod
    def _non_empty_targets(cls, value: list[str]) -> list[str]:
        """The lora plugin's rule, called rather than copied."""
        rule = LoRAParams.__pydantic_decorators__.field_validators["_non_empty_targets"].func
        return rule(value)  # type: ignore[no-any-return]
