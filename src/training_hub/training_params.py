"""The parameter schema shared by every algorithm that runs on the native engine.

``sft`` uses it as is; ``osft`` and ``lora`` subclass it and add their own
fields. It imports pydantic only (never torch), so ``th info`` stays light.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._params import Params
from ._peer_params import PEER_ALIASES, peer_problems, resolve_peer_values

__all__ = ["TrainingParams"]


class TrainingParams(Params):
    """Supervised fine-tuning of a causal language model on the native engine."""

    # --- what to train, on what, and where to write -------------------------------
    model_path: str = Field(
        description="Hugging Face model folder (config.json, tokenizer, safetensors weights), "
        "or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see revision)."
    )
    data_path: str = Field(
        description="Training data: .jsonl, .json or .parquet with chat `messages`, "
        "`document` or pre-tokenized `input_ids`/`labels` records; or a data set: a folder "
        "written by datasets' save_to_disk, or a Hub data set id (see data_split)."
    )
    ckpt_output_dir: str = Field(
        description="Folder for checkpoints, metrics.jsonl and logs of this run."
    )

    # --- how long ----------------------------------------------------------------
    num_epochs: int = Field(1, ge=1, description="Passes over the training data.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides num_epochs)."
    )

    # --- batching ----------------------------------------------------------------
    effective_batch_size: int = Field(
        8, ge=1, description="Samples per optimizer step, summed over all processes."
    )
    max_tokens_per_gpu: int = Field(
        4096,
        ge=16,
        description="Token budget of one micro-batch on one device; gradient accumulation "
        "is derived from it.",
    )
    max_seq_len: int = Field(
        2048, ge=2, description="Longest sample in tokens; longer samples are an error "
        "unless `truncate` is set."
    )
    truncate: bool = Field(
        False, description="Cut samples longer than max_seq_len instead of failing (reported)."
    )

    # --- optimizer and schedule -----------------------------------------------------
    # optimizer, lr_scheduler, loss and data_format name entries of the component
    # registries (training_hub.components): built-in ones or a plugin's.
    optimizer: str = Field(
        "adamw", description="Optimizer by name: 'adamw' or one a plugin registers "
        "(`th info` lists the installed ones).", json_schema_extra={"registry": "optimizers"},
    )
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate of AdamW.")
    lr_scheduler: str = Field(
        "cosine", description="Learning-rate schedule after warmup: 'constant', 'linear', "
        "'cosine' or one a plugin registers.", json_schema_extra={"registry": "schedulers"},
    )
    warmup_steps: int = Field(0, ge=0, description="Steps of linear warmup from 0.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    adam_beta1: float = Field(0.9, ge=0, lt=1, description="AdamW beta1.")
    adam_beta2: float = Field(0.95, ge=0, lt=1, description="AdamW beta2.")
    adam_eps: float = Field(1e-8, gt=0, description="AdamW epsilon.")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the global gradient norm to this value; None disables."
    )

    # --- numerics and speed -----------------------------------------------------------
    seed: int = Field(42, description="Seed for model init, data order and dropout.")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="Training precision. auto: bf16 on GPUs that support it, else fp32."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass to save memory."
    )
    torch_compile: bool = Field(False, description="Compile the model with torch.compile.")
    use_liger: bool | None = Field(
        None, description="Use Liger kernels (GPU only); None: use them when installed on GPU."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Device to train on; auto picks CUDA when available."
    )
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for torch (CPU training); None keeps torch's default."
    )
    on_nonfinite: Literal["error", "skip"] = Field(
        "error", description="What to do on a NaN/inf loss or gradient: stop with an error, "
        "or skip that optimizer step."
    )

    # --- data ---------------------------------------------------------------------
    data_format: str = Field(
        "auto", description="Record format of data_path: 'chat', 'document', 'tokenized' or "
        "one a plugin registers; 'auto' detects it from the first record.",
        json_schema_extra={"registry": "data_formats"},
    )
    loss: str = Field(
        "cross_entropy", description="Training loss by name: 'cross_entropy' or one a plugin "
        "registers.", json_schema_extra={"registry": "losses"},
    )
    unmask: bool = Field(
        False, description="Train on every token of chat samples, not only assistant turns."
    )
    tokenizer_path: str | None = Field(
        None, description="Tokenizer folder (or Hub id) if it differs from model_path."
    )
    data_cache_dir: str | None = Field(
        None, description="Where tokenized data is cached; default: ~/.cache/training-hub."
    )
    data_workers: int | None = Field(
        None, ge=1, description="Processes that tokenize in parallel; default: CPU count, max 8."
    )
    trust_remote_code: bool = Field(
        False, description="Allow the model folder to run its own Python code. Off by default."
    )

    # --- the Hugging Face Hub: ids in model_path, tokenizer_path, data_path (hub.py; ---
    # docs/user-guide.md, "Models and data from the Hub"). HF_TOKEN, HF_HUB_OFFLINE... apply.
    revision: str | None = Field(
        None, description="Branch, tag or commit hash of model_path/tokenizer_path when they "
        "are Hub ids; default: main."
    )
    data_revision: str | None = Field(
        None, description="Branch, tag or commit hash of data_path when it is a Hub data set "
        "id; default: main."
    )
    data_subset: str | None = Field(
        None, description="Subset (config name) of the data set in data_path (a Hub id or a "
        "data set folder)."
    )
    data_split: str | None = Field(
        None, description="Split of the data set in data_path to train on; default: train."
    )

    # --- checkpoints, resume, logging -----------------------------------------------
    save_every: int | None = Field(
        None, ge=1, description="Save a checkpoint every N optimizer steps."
    )
    checkpoint_at_epoch: bool = Field(True, description="Save a checkpoint at each epoch end.")
    save_final_checkpoint: bool = Field(True, description="Save a checkpoint when training ends.")
    keep_last_n: int | None = Field(
        None, ge=1, description="Keep only the newest N checkpoints; None keeps all."
    )
    resume: str = Field(
        "none", description="'latest' resumes from the newest checkpoint in ckpt_output_dir "
        "(or in checkpoint_storage), a path resumes from that checkpoint, 'none' starts fresh."
    )
    # --- remote checkpoint storage (engine/storage.py; docs/user-guide.md) -------------------
    checkpoint_storage: str | None = Field(
        None, description="Mirror every checkpoint to this fsspec URI (s3://bucket/prefix, "
        "gs://..., file://..., memory://...) in the background; resume='latest' also looks "
        "there. s3 needs s3fs, gs needs gcsfs. 'pvc' (the peer's name): local only."
    )
    checkpoint_upload_timeout: float = Field(
        1800.0, gt=0, description="Seconds the run waits at its end for checkpoint uploads "
        "to finish; what is not uploaded by then is reported."
    )
    overwrite: bool = Field(
        False, description="Allow writing into a ckpt_output_dir that holds a previous run."
    )
    logging_steps: int = Field(1, ge=1, description="Write metrics every N optimizer steps.")
    tensorboard: bool = Field(True, description="Also log to TensorBoard when it is installed.")
    quiet: bool = Field(False, description="No progress bar; one log line per logging step.")

    # --- evaluation during training (see docs/user-guide.md, "Evaluation during training") ---
    validation_split: float = Field(
        0.0, ge=0, lt=1, description="Fraction of the training samples held out (chosen from "
        "`seed`, never trained on) to compute val_loss on; 0 disables. Not with eval_data_path."
    )
    eval_data_path: str | None = Field(
        None, description="Separate validation data (any format data_path accepts) to compute "
        "val_loss on. Not with validation_split."
    )
    validation_frequency: int | None = Field(
        None, ge=1, description="Also evaluate every N optimizer steps; with validation data, "
        "evaluation always runs at each epoch end and after the last step."
    )
    save_best_metric: Literal["val_loss"] | None = Field(
        None, description="Keep the checkpoint with the lowest val_loss in "
        "checkpoints/best (never pruned by keep_last_n; best.json says its step and value)."
    )

    # --- experiment trackers (see docs/user-guide.md, "Experiment trackers") ---------------
    tensorboard_log_dir: str | None = Field(
        None, description="TensorBoard folder; default <ckpt_output_dir>/tensorboard. Needs "
        "tensorboard installed and tensorboard=True."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="Log to MLflow at this tracking URI (a server or a file: store); "
        "needs the mlflow extra."
    )
    mlflow_experiment_name: str | None = Field(
        None, description="MLflow experiment to log into (logs to MLflow; needs the mlflow extra)."
    )
    mlflow_run_name: str | None = Field(
        None, description="MLflow run name (logs to MLflow; needs the mlflow extra)."
    )
    wandb_project: str | None = Field(
        None, description="Log to this Weights & Biases project; needs the wandb extra."
    )
    wandb_entity: str | None = Field(
        None, description="W&B team or user owning the project (logs to W&B)."
    )
    wandb_run_name: str | None = Field(
        None, description="W&B run name (logs to W&B; needs the wandb extra)."
    )

    # --- distributed ----------------------------------------------------------------
    nproc_per_node: int = Field(
        1, ge=1, description="Processes per node; above 1, `th train` launches torchrun."
    )
    nnodes: int = Field(1, ge=1, description="Number of nodes.")
    node_rank: int = Field(0, ge=0, description="Rank of this node.")
    rdzv_endpoint: str | None = Field(
        None, description="host:port of the rendezvous (multi-node); default master_addr:port."
    )
    master_addr: str = Field("127.0.0.1", description="Address of the rank-0 node.")
    master_port: int = Field(29500, ge=1, le=65535, description="Port of the rank-0 node.")
    rdzv_id: str | int | None = Field(
        None, description="Id of the torchrun rendezvous (--rdzv-id): the same on every node "
        "of one job, with rdzv_endpoint. Default: 'training-hub'."
    )

    # --- training_hub 0.11.2 names with a meaning of their own (_peer_params.py and
    # docs/migrating-from-training-hub.md; its names of native fields are param_aliases) ---
    lr_scheduler_kwargs: dict[str, float] = Field(
        default_factory=dict, description="Options of the built-in schedules, with Hugging "
        "Face's names: min_lr_rate (decay floor, a fraction of learning_rate) or min_lr (the "
        "floor itself) for linear and cosine; num_cycles for cosine (0.5: one half cosine)."
    )
    save_samples: int | None = Field(
        None, ge=0, description="Also save a checkpoint each time another N training samples "
        "have been trained on; 0 or None: off."
    )
    accelerate_full_state_at_epoch: bool = Field(
        True, description="Epoch-end checkpoints hold the full training state (optimizer, "
        "schedule, data position, RNG) for exact resume; False writes them as model-only "
        "folders, which resume skips."
    )
    enable_jit_checkpoint: bool = Field(
        True, description="On SIGTERM/SIGINT finish the step, save a checkpoint and exit with "
        "code 75 (resume='latest' goes on); False leaves the signals their default action."
    )
    is_pretraining: bool = Field(
        False, description="Continual pre-training: the documents are tokenized without a chat "
        "template, joined (each ends with EOS) and cut into blocks of block_size tokens; every "
        "token is trained and max_seq_len does not apply to the documents."
    )
    block_size: int | None = Field(
        None, ge=2, description="Tokens per block with is_pretraining (required then); at most "
        "max_tokens_per_gpu. The last block of the data may be shorter."
    )
    document_column_name: str = Field(
        "document", min_length=1, description="Field of each record that holds the document "
        "text (document data, is_pretraining)."
    )
    use_processed_dataset: bool | None = Field(
        None, description="True: data_path holds pre-tokenized input_ids/labels records (as "
        "data_format='tokenized'); False: it holds text records."
    )
    dataset_type: Literal["chat_template", "alpaca", "passthrough"] | None = Field(
        None, description="Record format by its training_hub 0.11.2 name: chat_template "
        "(data_format='chat'), alpaca (instruction/input/output records, trained as a user "
        "turn and the assistant's answer), passthrough (data_format as given, or detected)."
    )
    field_messages: str = Field(
        "messages", min_length=1, description="Field of each chat record that holds the "
        "messages."
    )
    field_instruction: str = Field(
        "instruction", min_length=1, description="Field of each alpaca record that holds the "
        "instruction."
    )
    field_input: str = Field(
        "input", min_length=1, description="Field of each alpaca record that holds the "
        "optional input (appended to the instruction)."
    )
    field_output: str = Field(
        "output", min_length=1, description="Field of each alpaca record that holds the answer."
    )
    micro_batch_size: int | None = Field(
        None, ge=1, description="At most this many samples in one micro-batch on one device "
        "(max_tokens_per_gpu still caps its tokens); see gradient_accumulation_steps."
    )
    gradient_accumulation_steps: int | None = Field(
        None, ge=1, description="Micro-batches per optimizer step on one device: "
        "effective_batch_size = micro_batch_size x gradient_accumulation_steps x processes "
        "(give two of the three; a contradiction is an error)."
    )
    per_device_eval_batch_size: int | None = Field(
        None, ge=1, description="At most this many validation samples in one evaluation "
        "micro-batch on one device (max_tokens_per_gpu still caps its tokens); val_loss does "
        "not depend on it."
    )
    sample_packing: bool = Field(
        True, description="Pack several samples into one micro-batch (padding-free; a sample "
        "attends only to itself, so the loss is the same); False: one sample per micro-batch."
    )
    bf16: bool | None = Field(
        None, description="True: train in bfloat16 (dtype='bf16'); False: not (fp32 unless fp16)."
    )
    fp16: bool | None = Field(
        None, description="True: train in float16 with loss scaling (dtype='fp16')."
    )
    tf32: bool | None = Field(
        None, description="TensorFloat-32 matmuls on NVIDIA GPUs (True/False); None keeps "
        "torch's setting. An error without a GPU."
    )
    flash_attention: bool | None = Field(
        None, description="True: require FlashAttention (a GPU with torch's varlen flash "
        "kernel or flash-attn); None: used whenever available."
    )

    advanced: ClassVar[frozenset[str]] = frozenset(
        {
            "adam_beta1", "adam_beta2", "adam_eps", "torch_compile", "use_liger", "num_threads",
            "data_cache_dir", "data_workers", "rdzv_endpoint", "master_addr", "master_port",
            "node_rank", "on_nonfinite", "tokenizer_path", "data_revision",
        }
    ) | frozenset(
        {
            "rdzv_id", "lr_scheduler_kwargs", "save_samples", "accelerate_full_state_at_epoch",
            "enable_jit_checkpoint", "use_processed_dataset", "dataset_type", "field_messages",
            "field_instruction", "field_input", "field_output", "micro_batch_size",
            "gradient_accumulation_steps", "sample_packing", "per_device_eval_batch_size",
            "bf16", "fp16", "tf32", "flash_attention", "document_column_name",
        }
    )
    #: training_hub 0.11.2's names of native fields (same meaning): _peer_params.PEER_ALIASES.
    param_aliases: ClassVar[dict[str, str]] = PEER_ALIASES

    def torchrun_options(self) -> dict[str, Any]:
        """The process and rendezvous options of torchrun for this run, as backends that
        start torchrun through another library pass them (``rdzv_endpoint`` when given,
        else ``master_addr``/``master_port``)."""
        options: dict[str, Any] = {
            "nproc_per_node": self.nproc_per_node,
            "nnodes": self.nnodes,
            "node_rank": self.node_rank,
        }
        if self.rdzv_endpoint is not None:
            options["rdzv_endpoint"] = self.rdzv_endpoint
            if self.rdzv_id is not None:
                options["rdzv_id"] = str(self.rdzv_id)
        else:
            options["master_addr"] = self.master_addr
            options["master_port"] = self.master_port
        return options

    @field_validator("optimizer", "lr_scheduler", "loss", "data_format")
    @classmethod
    def _registered_component(cls, value: str, info: ValidationInfo) -> str:
        from .components import check_component

        return check_component(info.field_name or "", value)

    @field_validator("checkpoint_storage")
    @classmethod
    def _storage_protocol_installed(cls, value: str | None) -> str | None:
        from .engine.storage import check_storage_uri

        # training_hub 0.11.2's "pvc" (and "") mean: the local file system only.
        return None if value in (None, "", "pvc") else check_storage_uri(value)

    @model_validator(mode="before")
    @classmethod
    def _resolve_peer_values(cls, data: Any) -> Any:
        return resolve_peer_values(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _check_peer_values(self) -> TrainingParams:
        problems = peer_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _check_combinations(self) -> TrainingParams:
        if self.max_seq_len > self.max_tokens_per_gpu:
            raise ValueError(
                f"max_seq_len ({self.max_seq_len}) is larger than max_tokens_per_gpu "
                f"({self.max_tokens_per_gpu}): the longest sample must fit in one micro-batch"
            )
        return self

    @model_validator(mode="after")
    def _check_evaluation_and_trackers(self) -> TrainingParams:
        from .trackers import unusable_tracker_params

        has_validation = self.validation_split > 0 or self.eval_data_path is not None
        problems = []
        if self.validation_split > 0 and self.eval_data_path is not None:
            problems.append(
                f"validation_split={self.validation_split} and eval_data_path="
                f"'{self.eval_data_path}' both choose validation data: keep one (validation_split "
                "holds out part of data_path, eval_data_path is a separate file)"
            )
        for name in ("validation_frequency", "save_best_metric"):
            if getattr(self, name) is not None and not has_validation:
                problems.append(
                    f"{name}={getattr(self, name)!r} needs validation data: set "
                    "validation_split (e.g. 0.05) or eval_data_path"
                )
        problems.extend(unusable_tracker_params(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self
