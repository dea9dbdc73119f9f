# ruff: noqa
"""Signatures of training_hub's training functions, for type checkers and IDEs.

Generated from the algorithms' schemas by ``python -m training_hub._public >
src/training_hub/_signatures.pyi``; a test checks it is up to date. At run time the
functions come from ``training_hub._public`` with the same signatures.
"""

from typing import Any, Literal


def dpo(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    num_epochs: int = 1,
    max_steps: int | None = None,
    effective_batch_size: int = 8,
    max_tokens_per_gpu: int = 4096,
    max_seq_len: int = 2048,
    truncate: bool = False,
    optimizer: str = 'adamw',
    learning_rate: float = 2e-05,
    lr_scheduler: str = 'cosine',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.95,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    use_liger: bool | None = None,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    on_nonfinite: Literal['error', 'skip'] = 'error',
    data_format: str = 'auto',
    loss: str = 'cross_entropy',
    unmask: bool = False,
    tokenizer_path: str | None = None,
    data_cache_dir: str | None = None,
    data_workers: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    save_every: int | None = None,
    checkpoint_at_epoch: bool = True,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    checkpoint_storage: str | None = None,
    checkpoint_upload_timeout: float = 1800.0,
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    validation_split: float = 0.0,
    eval_data_path: str | None = None,
    validation_frequency: int | None = None,
    save_best_metric: Literal['val_loss'] | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    rdzv_id: str | int | None = None,
    lr_scheduler_kwargs: dict[str, float] = ...,
    save_samples: int | None = None,
    accelerate_full_state_at_epoch: bool = True,
    enable_jit_checkpoint: bool = True,
    is_pretraining: bool = False,
    block_size: int | None = None,
    document_column_name: str = 'document',
    use_processed_dataset: bool | None = None,
    dataset_type: Literal['chat_template', 'alpaca', 'passthrough'] | None = None,
    field_messages: str = 'messages',
    field_instruction: str = 'instruction',
    field_input: str = 'input',
    field_output: str = 'output',
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    sample_packing: bool = True,
    bf16: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    flash_attention: bool | None = None,
    beta: float = 0.1,
    loss_type: Literal['sigmoid', 'hinge', 'ipo', 'robust', 'bco_pair', 'sppo_hard', 'nca_pair'] = 'sigmoid',
    label_smoothing: float = 0.0,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """Direct preference optimisation. Trains the 'dpo' algorithm (distribution training-hub-trl).

    Direct preference optimisation on ``{"prompt", "chosen", "rejected"}`` records.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train dpo` flags and config-file keys; `th info dpo` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        data_path (str, required): Training data: .jsonl, .json or .parquet with chat
            `messages`, `document` or pre-tokenized `input_ids`/`labels` records; or a data
            set: a folder written by datasets' save_to_disk, or a Hub data set id (see
            data_split).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        num_epochs (int, default 1): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        effective_batch_size (int, default 8): Samples per optimizer step, summed over all
            processes.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        max_seq_len (int, default 2048): Longest sample in tokens; longer samples are an
            error unless `truncate` is set.
        truncate (bool, default False): Cut samples longer than max_seq_len instead of
            failing (reported).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 2e-05): Peak learning rate of AdamW.
        lr_scheduler (str, default 'cosine'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1.
        adam_beta2 (float, default 0.95): AdamW beta2. Also accepted as: beta2.
        adam_eps (float, default 1e-08): AdamW epsilon. Also accepted as: eps.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed for model init, data order and dropout.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        torch_compile (bool, default False): Compile the model with torch.compile.
        use_liger (bool | None, default None): Use Liger kernels (GPU only); None: use them
            when installed on GPU.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        on_nonfinite ('error' | 'skip', default 'error'): What to do on a NaN/inf loss or
            gradient: stop with an error, or skip that optimizer step.
        data_format (str, default 'auto'): Record format of data_path: 'chat', 'document',
            'tokenized' or one a plugin registers; 'auto' detects it from the first record.
        loss (str, default 'cross_entropy'): Training loss by name: 'cross_entropy' or one a
            plugin registers.
        unmask (bool, default False): Train on every token of chat samples, not only
            assistant turns. Also accepted as: unmask_messages.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        data_cache_dir (str | None, default None): Where tokenized data is cached; default:
            ~/.cache/training-hub. Also accepted as: data_output_dir.
        data_workers (int | None, default None): Processes that tokenize in parallel;
            default: CPU count, max 8.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
            Also accepted as: save_steps.
        checkpoint_at_epoch (bool, default True): Save a checkpoint at each epoch end.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all. Also accepted as: save_total_limit.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        checkpoint_storage (str | None, default None): Mirror every checkpoint to this
            fsspec URI (s3://bucket/prefix, gs://..., file://..., memory://...) in the
            background; resume='latest' also looks there. s3 needs s3fs, gs needs gcsfs.
            'pvc' (the peer's name): local only.
        checkpoint_upload_timeout (float, default 1800.0): Seconds the run waits at its end
            for checkpoint uploads to finish; what is not uploaded by then is reported.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        validation_split (float, default 0.0): Fraction of the training samples held out
            (chosen from `seed`, never trained on) to compute val_loss on; 0 disables. Not
            with eval_data_path.
        eval_data_path (str | None, default None): Separate validation data (any format
            data_path accepts) to compute val_loss on. Not with validation_split.
        validation_frequency (int | None, default None): Also evaluate every N optimizer
            steps; with validation data, evaluation always runs at each epoch end and after
            the last step. Also accepted as: eval_steps.
        save_best_metric ('val_loss' | None, default None): Keep the checkpoint with the
            lowest val_loss in checkpoints/best (never pruned by keep_last_n; best.json says
            its step and value).
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        rdzv_id (str | int | None, default None): Id of the torchrun rendezvous (--rdzv-id):
            the same on every node of one job, with rdzv_endpoint. Default: 'training-hub'.
        lr_scheduler_kwargs (dict[str, float], default {}): Options of the built-in
            schedules, with Hugging Face's names: min_lr_rate (decay floor, a fraction of
            learning_rate) or min_lr (the floor itself) for linear and cosine; num_cycles
            for cosine (0.5: one half cosine).
        save_samples (int | None, default None): Also save a checkpoint each time another N
            training samples have been trained on; 0 or None: off.
        accelerate_full_state_at_epoch (bool, default True): Epoch-end checkpoints hold the
            full training state (optimizer, schedule, data position, RNG) for exact resume;
            False writes them as model-only folders, which resume skips.
        enable_jit_checkpoint (bool, default True): On SIGTERM/SIGINT finish the step, save
            a checkpoint and exit with code 75 (resume='latest' goes on); False leaves the
            signals their default action.
        is_pretraining (bool, default False): Continual pre-training: the documents are
            tokenized without a chat template, joined (each ends with EOS) and cut into
            blocks of block_size tokens; every token is trained and max_seq_len does not
            apply to the documents.
        block_size (int | None, default None): Tokens per block with is_pretraining
            (required then); at most max_tokens_per_gpu. The last block of the data may be
            shorter.
        document_column_name (str, default 'document'): Field of each record that holds the
            document text (document data, is_pretraining).
        use_processed_dataset (bool | None, default None): True: data_path holds
            pre-tokenized input_ids/labels records (as data_format='tokenized'); False: it
            holds text records.
        dataset_type ('chat_template' | 'alpaca' | 'passthrough' | None, default None):
            Record format by its training_hub 0.11.2 name: chat_template
            (data_format='chat'), alpaca (instruction/input/output records, trained as a
            user turn and the assistant's answer), passthrough (data_format as given, or
            detected).
        field_messages (str, default 'messages'): Field of each chat record that holds the
            messages.
        field_instruction (str, default 'instruction'): Field of each alpaca record that
            holds the instruction.
        field_input (str, default 'input'): Field of each alpaca record that holds the
            optional input (appended to the instruction).
        field_output (str, default 'output'): Field of each alpaca record that holds the
            answer.
        micro_batch_size (int | None, default None): At most this many samples in one
            micro-batch on one device (max_tokens_per_gpu still caps its tokens); see
            gradient_accumulation_steps.
        gradient_accumulation_steps (int | None, default None): Micro-batches per optimizer
            step on one device: effective_batch_size = micro_batch_size x
            gradient_accumulation_steps x processes (give two of the three; a contradiction
            is an error).
        per_device_eval_batch_size (int | None, default None): At most this many validation
            samples in one evaluation micro-batch on one device (max_tokens_per_gpu still
            caps its tokens); val_loss does not depend on it.
        sample_packing (bool, default True): Pack several samples into one micro-batch
            (padding-free; a sample attends only to itself, so the loss is the same); False:
            one sample per micro-batch.
        bf16 (bool | None, default None): True: train in bfloat16 (dtype='bf16'); False: not
            (fp32 unless fp16).
        fp16 (bool | None, default None): True: train in float16 with loss scaling
            (dtype='fp16').
        tf32 (bool | None, default None): TensorFloat-32 matmuls on NVIDIA GPUs
            (True/False); None keeps torch's setting. An error without a GPU.
        flash_attention (bool | None, default None): True: require FlashAttention (a GPU
            with torch's varlen flash kernel or flash-attn); None: used whenever available.
        beta (float, default 0.1): Strength of the pull towards the reference model (KL
            weight).
        loss_type ('sigmoid' | 'hinge' | 'ipo' | 'robust' | 'bco_pair' | 'sppo_hard' | 'nca_pair', default 'sigmoid'):
            Preference loss (TRL's loss_type).
        label_smoothing (float, default 0.0): Assumed probability that a preference label is
            flipped (robust/cDPO losses).
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def embedding_sft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    loss_type: str = 'batch_all_triplet',
    loss_fn: Any = None,
    num_epochs: int = 20,
    max_steps: int | None = None,
    batch_size: int = 32,
    learning_rate: float = 2e-05,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    batch_sampler: Literal['no_duplicates', 'group_by_label', 'default'] | None = None,
    eval_data_path: str | None = None,
    text_column: str = 'text',
    label_column: str = 'label',
    columns: list[str] | None = None,
    max_pairs_per_label: int = 10000,
    max_seq_length: int | None = None,
    pooling: Literal['mean', 'cls'] | None = None,
    mnrl_scale: float = 20.0,
    triplet_margin: float = 5.0,
    mini_batch_size: int = 32,
    logging_steps: int = 10,
    seed: int = 42,
    callbacks: list[Any] = ...,
) -> Any:
    """Contrastive fine-tuning of embedding models. Trains the 'embedding_sft' algorithm (distribution training-hub-embedding).

    Contrastive fine-tuning of a sentence-embedding model (embedding_sft).

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train embedding_sft` flags and config-file keys; `th info embedding_sft` lists them.

    Parameters:
        model_path (str, required): Embedding model: a sentence-transformers folder
            (modules.json), a Hugging Face encoder folder (config.json, tokenizer, weights),
            or the Hub id of either (fetched into the Hub cache; HF_HUB_OFFLINE=1 uses the
            cache only).
        data_path (str, required): Training data: .jsonl, .json, .parquet or a `datasets`
            save_to_disk folder of {text, label} rows, (anchor, positive) pairs or (anchor,
            positive, negative) triplets.
        ckpt_output_dir (str, required): Folder the fine-tuned model (sentence-transformers
            format) and metrics.jsonl are written to.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        loss_type (str, default 'batch_all_triplet'): Loss: 'mnrl' (in-batch negatives),
            'cached_mnrl' (GradCache: large batches in constant memory),
            'batch_all_triplet', 'batch_hard_triplet', or the name of a loss in the `losses`
            component registry.
        loss_fn (Any, default None): A loss object that overrides loss_type: a callable
            fn(embeddings, labels) -> loss tensor, a sentence-transformers loss instance
            (sentence-transformers backend), or a 'pkg.module:name' import string.
        num_epochs (int, default 20): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        batch_size (int, default 32): Examples (pairs, triplets or labeled texts) per
            optimizer step.
        learning_rate (float, default 2e-05): Peak learning rate of AdamW.
        warmup_ratio (float, default 0.1): Fraction of the steps with a linear warmup; then
            linear decay to zero (as sentence-transformers does).
        weight_decay (float, default 0.0): AdamW's decoupled weight decay.
        max_grad_norm (float, default 1.0): Gradient clipping norm.
        batch_sampler ('no_duplicates' | 'group_by_label' | 'default' | None, default None):
            How batches are drawn: 'no_duplicates' (no text twice in a batch, so no false
            in-batch negatives), 'group_by_label' (several texts per label, for triplet
            losses) or 'default' (shuffled). None picks no_duplicates for pair losses and
            group_by_label for label losses.
        eval_data_path (str | None, default None): Held-out data in one of the training
            formats: retrieval metrics (recall@1/5/10, MRR@10, NDCG@10) are computed on it
            before and after training.
        text_column (str, default 'text'): Column of the text in {text, label} rows.
        label_column (str, default 'label'): Column of the label in {text, label} rows.
        columns (list[str] | None, default None): Columns of pair/triplet data in the order
            anchor, positive[, negative] (on the command line: --columns query,doc). None:
            columns named anchor/positive/negative, else the text columns in file order.
        max_pairs_per_label (int, default 10000): Pair losses on {text, label} rows: at most
            this many (anchor, positive) pairs are built per label.
        max_seq_length (int | None, default None): Token limit per text; longer texts are
            truncated and counted in the result. None: the model's own limit.
        pooling ('mean' | 'cls' | None, default None): Pooling of token embeddings. None:
            the model's sentence-transformers pooling config, else mean.
        mnrl_scale (float, default 20.0): Scale (1/temperature) of the cosine similarities
            in mnrl and cached_mnrl.
        triplet_margin (float, default 5.0): Margin of the batch triplet losses (Euclidean
            distance).
        mini_batch_size (int, default 32): cached_mnrl: texts embedded per chunk (memory
            bound).
        logging_steps (int, default 10): Log the loss every this many steps.
        seed (int, default 42): Random seed (data order, dropout).
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def gepa(
    *,
    seed_candidate: dict[str, str],
    backend: str | None = None,
    task_lm: str | Any | None = None,
    data_path: str | None = None,
    trainset: list[Any] | None = None,
    valset: list[Any] | str | None = None,
    output_dir: str | None = None,
    evaluator: Any | str | None = None,
    reflection_lm: str | Any | None = None,
    api_base: str | None = None,
    task_lm_kwargs: dict[str, Any] | None = None,
    reflection_lm_kwargs: dict[str, Any] | None = None,
    request_timeout: float = 120.0,
    device: str = 'auto',
    max_metric_calls: int | None = None,
    candidate_selection_strategy: Literal['pareto', 'current_best', 'epsilon_greedy', 'top_k_pareto'] | Any = 'pareto',
    frontier_type: Literal['instance', 'objective', 'hybrid', 'cartesian'] = 'instance',
    skip_perfect_score: bool = True,
    perfect_score: float = 1.0,
    reflection_minibatch_size: int | None = None,
    seed: int = 0,
    use_merge: bool = False,
    module_selector: Literal['round_robin', 'all'] | Any = 'round_robin',
    batch_sampler: Literal['epoch_shuffled'] | Any = 'epoch_shuffled',
    reflection_prompt_template: str | dict[str, str] | None = None,
    custom_candidate_proposer: Any | str | None = None,
    adapter: Any | None = None,
    stop_callbacks: Any | list[Any] | None = None,
    cache_evaluation: bool = False,
    raise_on_exception: bool = True,
    gepa_kwargs: dict[str, Any] | None = None,
    gepa_callbacks: list[Any] | None = None,
    display_progress_bar: bool = False,
    run_dir: str | None = None,
    tensorboard: bool = True,
    tensorboard_log_dir: str | None = None,
    use_wandb: bool = False,
    wandb_api_key: str | None = None,
    wandb_init_kwargs: dict[str, Any] | None = None,
    use_mlflow: bool = False,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    predict_fn: Any | None = None,
    prompt_uris: list[str] | None = None,
    scorers: list[Any] | None = None,
    aggregation: Any | None = None,
    enable_tracking: bool | None = None,
    callbacks: list[Any] = ...,
) -> Any:
    """Prompt optimisation by reflective evolution (GEPA). Trains the 'gepa' algorithm (distribution training-hub-gepa).

    Optimise the text of a prompt (a dict of named components) with GEPA.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train gepa` flags and config-file keys; `th info gepa` lists them.

    Parameters:
        seed_candidate (dict[str, str], required): The prompt to start from: component name
            -> text, e.g. {"system_prompt": "Answer the question."}. On the CLI: JSON, a
            .json file, or plain text (which becomes the one component 'system_prompt').
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        task_lm (str | Callable | None, default None): The model whose prompt is optimised:
            a local Hugging Face model folder or hub id (run in-process with transformers),
            a model name served by the OpenAI-compatible endpoint at `api_base`
            ('openai/NAME' works too), or a Python callable (messages or prompt -> text;
            'pkg.mod:func' on the CLI). Required unless `adapter` runs the task itself.
        data_path (str | None, default None): Training examples, .jsonl or .json: records
            with 'input' and 'answer' (and optionally 'additional_context'). Alternative to
            `trainset`.
        trainset (list[Any] | None, default None): Training examples as a list
            (Python/YAML). Alternative to `data_path`.
        valset (list[Any] | str | None, default None): Validation examples (a list, or a
            .jsonl/.json file) on which candidates are scored and the Pareto front is kept.
            Default: the training examples.
        output_dir (str | None, default None): Folder for result.json (best candidate,
            Pareto front, per-example validation scores), best_candidate.json and
            gepa_result.json; rewritten after every validation evaluation, so an interrupted
            run keeps what it found.
        evaluator (Callable | str | None, default None): Scores one answer: (example,
            response) -> (score, feedback[, objective scores]). Default: gepa's
            ContainsAnswerEvaluator (1 if 'answer' is in the response).
        reflection_lm (str | Callable | None, default None): The model that reads the
            failures and proposes better prompts: a local Hugging Face model folder or hub
            id (run in-process with transformers), a model name served by the
            OpenAI-compatible endpoint at `api_base` ('openai/NAME' works too), or a Python
            callable (messages or prompt -> text; 'pkg.mod:func' on the CLI). Default: the
            task_lm.
        api_base (str | None, default None): Base URL of an OpenAI-compatible server (vLLM,
            llama.cpp, TGI, Ollama...), e.g. http://localhost:8000/v1, for string
            task_lm/reflection_lm names. The key, if any, is read from OPENAI_API_KEY.
        task_lm_kwargs (dict[str, Any] | None, default None): Generation options of the task
            LM: temperature (default 0: greedy), max_tokens (default 512), top_p; any other
            key goes to the endpoint request or to transformers' generate().
        reflection_lm_kwargs (dict[str, Any] | None, default None): Generation options of
            the reflection LM, as task_lm_kwargs (default max_tokens 1024).
        request_timeout (float, default 120.0): Seconds to wait for one endpoint answer
            before retrying.
        device (str, default 'auto'): Where a local Hugging Face model runs: auto (cuda when
            available), cpu, cuda, cuda:1...
        max_metric_calls (int | None, default None): Budget: task LM calls (one per example
            evaluated) before the search stops. GEPA typically needs 100-500. Required
            unless stop_callbacks are given.
        candidate_selection_strategy ('pareto' | 'current_best' | 'epsilon_greedy' | 'top_k_pareto' | object, default 'pareto'):
            Which candidate to improve next: pareto (sampled from the Pareto front),
            current_best, epsilon_greedy, top_k_pareto, or a gepa CandidateSelector object.
        frontier_type ('instance' | 'objective' | 'hybrid' | 'cartesian', default 'instance'):
            What the Pareto front is kept over: validation examples (instance), objective
            scores, both (hybrid) or each (example, objective) pair (cartesian).
        skip_perfect_score (bool, default True): Do not try to improve a candidate that is
            perfect on the minibatch.
        perfect_score (float, default 1.0): The score of a perfect answer.
        reflection_minibatch_size (int | None, default None): Training examples shown to the
            reflection LM per step (gepa: 3).
        seed (int, default 0): Seed of the search (minibatches, candidate sampling).
        use_merge (bool, default False): Also propose candidates that merge two Pareto-front
            candidates.
        module_selector ('round_robin' | 'all' | object, default 'round_robin'): Which
            components a step rewrites: round_robin (one at a time), all, or a gepa
            ReflectionComponentSelector.
        batch_sampler ('epoch_shuffled' | object, default 'epoch_shuffled'): How training
            minibatches are drawn, or a gepa BatchSampler.
        reflection_prompt_template (str | dict[str, str] | None, default None): The
            reflection prompt (with <curr_param> and <side_info>), or one per component.
            Default: gepa's.
        custom_candidate_proposer (Callable | str | None, default None): (candidate,
            reflective_dataset, components) -> new texts, instead of the reflection LM.
        adapter (object | None, default None): A gepa GEPAAdapter that runs and scores the
            task itself (then no task_lm or evaluator).
        stop_callbacks (object | list[object] | None, default None): gepa stoppers (e.g.
            gepa.TimeoutStopCondition(600)) that end the search.
        cache_evaluation (bool, default False): Reuse the score of a (candidate, example)
            pair already evaluated.
        raise_on_exception (bool, default True): Stop at the first exception of the
            evaluator or proposer; False logs it and goes on (language-model endpoint
            failures always stop the run).
        gepa_kwargs (dict[str, Any] | None, default None): Further keyword arguments of
            gepa.optimize() (e.g. max_merge_invocations, acceptance_criterion).
        gepa_callbacks (list[Any] | None, default None): gepa library callbacks
            ('pkg.mod:obj' on the CLI); those given in `callbacks` are moved here by their
            event names (on_iteration_end...).
        display_progress_bar (bool, default False): Show a tqdm progress bar over metric
            calls (needs tqdm).
        run_dir (str | None, default None): gepa's own run folder: its state (a rerun
            resumes from it), run_log.txt, and a gepa.stop file there stops the search.
        tensorboard (bool, default True): TensorBoard event files of the search's metrics
            when tensorboard is installed (training-hub's tracker; needs output_dir).
            metrics.jsonl is always written to output_dir.
        tensorboard_log_dir (str | None, default None): Folder of the TensorBoard files
            (default: <output_dir>/tensorboard).
        use_wandb (bool, default False): Log the search to Weights & Biases (needs wandb).
        wandb_api_key (str | None, default None): W&B API key (with use_wandb).
        wandb_init_kwargs (dict[str, Any] | None, default None): Keyword arguments of
            wandb.init() (with use_wandb).
        use_mlflow (bool, default False): Log the search to MLflow (needs mlflow).
        mlflow_tracking_uri (str | None, default None): MLflow tracking URI (with
            use_mlflow).
        mlflow_experiment_name (str | None, default None): MLflow experiment name (with
            use_mlflow).
        predict_fn (object | None, default None): training_hub 0.11.2's mlflow backend only;
            not available here.
        prompt_uris (list[str] | None, default None): training_hub 0.11.2's mlflow backend
            only; not available here.
        scorers (list[Any] | None, default None): training_hub 0.11.2's mlflow backend only;
            not available here.
        aggregation (object | None, default None): training_hub 0.11.2's mlflow backend
            only; not available here.
        enable_tracking (bool | None, default None): training_hub 0.11.2's mlflow backend
            only; not available here.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def grpo(
    *,
    model_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    data_path: str | None = None,
    tasks: list[dict[str, Any]] | None = None,
    reward_fn: list[Any] | None = None,
    reward_weights: list[float] | None = None,
    n_train: int | None = None,
    n_val: int = 0,
    eval_data_path: str | None = None,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    num_iterations: int = 1,
    max_steps: int | None = None,
    group_size: int = 8,
    prompt_batch_size: int = 16,
    generation_batch_size: int | None = None,
    steps_per_generation: int = 1,
    iterations_per_batch: int = 1,
    max_tokens_per_gpu: int = 4096,
    temperature: float = 0.7,
    top_p: float = 1.0,
    top_k: int = 0,
    max_tokens: int = 512,
    max_prompt_length: int = 16384,
    rollout_batch_size: int = 64,
    mask_truncated_completions: bool = False,
    gpu_memory_utilization: float | None = None,
    tensor_parallel_size: int = 1,
    enforce_eager: bool = False,
    loss_type: Literal['grpo', 'dr_grpo', 'dapo', 'bnpo'] = 'dapo',
    use_dr_grpo: bool | None = None,
    scale_rewards: Literal['group', 'batch', 'none'] = 'group',
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    optimizer: str = 'adamw',
    learning_rate: float = 1e-05,
    lr_scheduler: str = 'constant',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.99,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    tokenizer_path: str | None = None,
    trust_remote_code: bool = False,
    validation_frequency: int | None = None,
    save_every: int | None = None,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    iteration_callback: Any = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """Group relative policy optimisation (reinforcement learning). Trains the 'grpo' algorithm (distribution training-hub-grpo).

    GRPO: reinforcement learning from reward functions on sampled completions.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train grpo` flags and config-file keys; `th info grpo` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        data_path (str | None, default None): Prompts: .jsonl, .json or .parquet records (or
            a Hub data set id) with a `prompt` (text, or chat messages rendered with the
            chat template and a generation prompt) and any other columns, which reach the
            reward functions as keyword lists. Give data_path or tasks.
        tasks (list[dict[str, Any]] | None, default None): training_hub 0.11.2's task list:
            the prompt records themselves (dicts shaped like the lines of data_path),
            instead of data_path. CLI: JSON.
        reward_fn (list[Any] | None, default None): Reward function(s): callables with TRL's
            signature f(prompts, completions, **columns) -> list[float | None],
            'pkg.module:function' import strings, or names of the rewards registry
            (exact_match, regex, think_format, tool_call, math). Several are summed with
            reward_weights. CLI: comma-separated. None: tool_call for training_hub 0.11.2's
            tool-call records (target_tool_name, target_arguments); other prompts need one.
        reward_weights (list[float] | None, default None): Weight of each reward function
            (same order); default 1.0 each.
        n_train (int | None, default None): Use the first N prompts of data_path for
            training; None: all prompts that are not held out.
        n_val (int, default 0): Hold out N prompts of data_path (those after the n_train
            training prompts; the last N when n_train is None) to evaluate mean reward on.
        eval_data_path (str | None, default None): Separate prompt file to evaluate mean
            reward on (instead of n_val).
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        num_iterations (int, default 1): Passes over the training prompts.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        group_size (int, default 8): Completions sampled per prompt; advantages are relative
            to the group. Also accepted as: num_generations.
        prompt_batch_size (int, default 16): Prompts per generation batch, summed over all
            processes (prompt_batch_size * group_size completions).
        generation_batch_size (int | None, default None): TRL's name: completions per
            generation batch; must be a multiple of group_size, and sets prompt_batch_size =
            generation_batch_size / group_size.
        steps_per_generation (int, default 1): Optimizer steps each generation batch is
            split into.
        iterations_per_batch (int, default 1): Passes of policy updates over each generation
            batch (TRL's num_iterations, the mu of the GRPO paper); above 1 the importance
            ratio and clipping act.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        temperature (float, default 0.7): Sampling temperature of the rollouts.
        top_p (float, default 1.0): Nucleus sampling: keep the smallest set of tokens with
            this total probability; 1.0 keeps all.
        top_k (int, default 0): Sample among the K most likely tokens; 0 keeps all.
        max_tokens (int, default 512): Longest completion in tokens. Also accepted as:
            max_completion_length.
        max_prompt_length (int, default 16384): Longest prompt in tokens; a longer prompt is
            an error.
        rollout_batch_size (int, default 64): Completions sampled together in one batched
            generation (whole groups; rounded down to a multiple of group_size, at least one
            group). Also accepted as: concurrency.
        mask_truncated_completions (bool, default False): Completions cut at max_tokens (no
            end-of-sequence) carry no loss.
        gpu_memory_utilization (float | None, default None): Fraction of GPU memory vLLM
            reserves for rollouts (backend trl with vLLM installed, on a GPU; None: TRL's
            default). The native backend samples on the training model and refuses it.
        tensor_parallel_size (int, default 1): GPUs vLLM splits each rollout engine over
            (backend trl with vLLM). The native backend samples on the training model and
            refuses more than 1.
        enforce_eager (bool, default False): training_hub 0.11.2's vLLM switch (no CUDA
            graphs). Neither backend starts vLLM with it (TRL's colocated vLLM has no such
            option): True is refused.
        loss_type ('grpo' | 'dr_grpo' | 'dapo' | 'bnpo', default 'dapo'): How token losses
            are aggregated (TRL's definitions): grpo per sequence mean, dr_grpo sum /
            (sequences * max_tokens), dapo sum / tokens of the generation batch per step,
            bnpo sum / tokens of the step. See docs/grpo.md.
        use_dr_grpo (bool | None, default None): training_hub 0.11.2's switch: True is
            loss_type='dr_grpo' with scale_rewards='none' (Dr. GRPO); None follows loss_type
            and scale_rewards.
        scale_rewards ('group' | 'batch' | 'none', default 'group'): Divide advantages by
            the reward std of the group, of the whole batch, or not at all (Dr. GRPO).
            True/False mean group/none.
        beta (float, default 0.0): Weight of the KL penalty to the frozen starting model; 0
            loads no reference model.
        epsilon (float, default 0.2): Clipping of the importance ratio: lower bound 1 -
            epsilon.
        epsilon_high (float | None, default None): Upper clipping bound 1 + epsilon_high;
            default epsilon (DAPO uses 0.28).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 1e-05): Peak learning rate of AdamW.
        lr_scheduler (str, default 'constant'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1.
        adam_beta2 (float, default 0.99): AdamW beta2.
        adam_eps (float, default 1e-08): AdamW epsilon.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed of model init, prompt order and sampling.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        validation_frequency (int | None, default None): Evaluate mean reward on the
            held-out prompts every N steps (greedy, one completion each); with held-out
            prompts it also runs after the last step.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        iteration_callback (Any, default None): training_hub 0.11.2's hook: called as
            f(step, metrics) after every step (Python API only).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun. Also accepted as: n_gpus.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def lora(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    num_epochs: int = 1,
    max_steps: int | None = None,
    effective_batch_size: int = 8,
    max_tokens_per_gpu: int = 4096,
    max_seq_len: int = 2048,
    truncate: bool = False,
    optimizer: str = 'adamw',
    learning_rate: float = 0.0002,
    lr_scheduler: str = 'cosine',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.95,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    use_liger: bool | None = None,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    on_nonfinite: Literal['error', 'skip'] = 'error',
    data_format: str = 'auto',
    loss: str = 'cross_entropy',
    unmask: bool = False,
    tokenizer_path: str | None = None,
    data_cache_dir: str | None = None,
    data_workers: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    save_every: int | None = None,
    checkpoint_at_epoch: bool = True,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    checkpoint_storage: str | None = None,
    checkpoint_upload_timeout: float = 1800.0,
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    validation_split: float = 0.0,
    eval_data_path: str | None = None,
    validation_frequency: int | None = None,
    save_best_metric: Literal['val_loss'] | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    rdzv_id: str | int | None = None,
    lr_scheduler_kwargs: dict[str, float] = ...,
    save_samples: int | None = None,
    accelerate_full_state_at_epoch: bool = True,
    enable_jit_checkpoint: bool = True,
    is_pretraining: bool = False,
    block_size: int | None = None,
    document_column_name: str = 'document',
    use_processed_dataset: bool | None = None,
    dataset_type: Literal['chat_template', 'alpaca', 'passthrough'] | None = None,
    field_messages: str = 'messages',
    field_instruction: str = 'instruction',
    field_input: str = 'input',
    field_output: str = 'output',
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    sample_packing: bool = True,
    bf16: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    flash_attention: bool | None = None,
    lora_r: int = 16,
    lora_alpha: float = 32.0,
    lora_dropout: float = 0.0,
    target_modules: list[str] = ...,
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    bnb_4bit_quant_type: Literal['nf4', 'fp4'] = 'nf4',
    bnb_4bit_compute_dtype: Literal['bfloat16', 'float16', 'float32'] = 'bfloat16',
    bnb_4bit_use_double_quant: bool = True,
    enable_model_splitting: bool = False,
    finetune_vision_layers: bool = False,
    finetune_language_layers: bool = True,
    merge_adapter: bool = False,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """LoRA / QLoRA adapters. Trains the 'lora' algorithm (distribution training-hub-lora).

    Train low-rank adapters on a frozen model (LoRA); QLoRA with ``load_in_4bit``.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train lora` flags and config-file keys; `th info lora` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        data_path (str, required): Training data: .jsonl, .json or .parquet with chat
            `messages`, `document` or pre-tokenized `input_ids`/`labels` records; or a data
            set: a folder written by datasets' save_to_disk, or a Hub data set id (see
            data_split).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        num_epochs (int, default 1): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        effective_batch_size (int, default 8): Samples per optimizer step, summed over all
            processes.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        max_seq_len (int, default 2048): Longest sample in tokens; longer samples are an
            error unless `truncate` is set.
        truncate (bool, default False): Cut samples longer than max_seq_len instead of
            failing (reported).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 0.0002): Peak learning rate of AdamW.
        lr_scheduler (str, default 'cosine'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1.
        adam_beta2 (float, default 0.95): AdamW beta2. Also accepted as: beta2.
        adam_eps (float, default 1e-08): AdamW epsilon. Also accepted as: eps.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed for model init, data order and dropout.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        torch_compile (bool, default False): Compile the model with torch.compile.
        use_liger (bool | None, default None): Use Liger kernels (GPU only); None: use them
            when installed on GPU.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        on_nonfinite ('error' | 'skip', default 'error'): What to do on a NaN/inf loss or
            gradient: stop with an error, or skip that optimizer step.
        data_format (str, default 'auto'): Record format of data_path: 'chat', 'document',
            'tokenized' or one a plugin registers; 'auto' detects it from the first record.
        loss (str, default 'cross_entropy'): Training loss by name: 'cross_entropy' or one a
            plugin registers.
        unmask (bool, default False): Train on every token of chat samples, not only
            assistant turns. Also accepted as: unmask_messages.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        data_cache_dir (str | None, default None): Where tokenized data is cached; default:
            ~/.cache/training-hub. Also accepted as: data_output_dir.
        data_workers (int | None, default None): Processes that tokenize in parallel;
            default: CPU count, max 8.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
            Also accepted as: save_steps.
        checkpoint_at_epoch (bool, default True): Save a checkpoint at each epoch end.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all. Also accepted as: save_total_limit.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        checkpoint_storage (str | None, default None): Mirror every checkpoint to this
            fsspec URI (s3://bucket/prefix, gs://..., file://..., memory://...) in the
            background; resume='latest' also looks there. s3 needs s3fs, gs needs gcsfs.
            'pvc' (the peer's name): local only.
        checkpoint_upload_timeout (float, default 1800.0): Seconds the run waits at its end
            for checkpoint uploads to finish; what is not uploaded by then is reported.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        validation_split (float, default 0.0): Fraction of the training samples held out
            (chosen from `seed`, never trained on) to compute val_loss on; 0 disables. Not
            with eval_data_path.
        eval_data_path (str | None, default None): Separate validation data (any format
            data_path accepts) to compute val_loss on. Not with validation_split.
        validation_frequency (int | None, default None): Also evaluate every N optimizer
            steps; with validation data, evaluation always runs at each epoch end and after
            the last step. Also accepted as: eval_steps.
        save_best_metric ('val_loss' | None, default None): Keep the checkpoint with the
            lowest val_loss in checkpoints/best (never pruned by keep_last_n; best.json says
            its step and value).
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        rdzv_id (str | int | None, default None): Id of the torchrun rendezvous (--rdzv-id):
            the same on every node of one job, with rdzv_endpoint. Default: 'training-hub'.
        lr_scheduler_kwargs (dict[str, float], default {}): Options of the built-in
            schedules, with Hugging Face's names: min_lr_rate (decay floor, a fraction of
            learning_rate) or min_lr (the floor itself) for linear and cosine; num_cycles
            for cosine (0.5: one half cosine).
        save_samples (int | None, default None): Also save a checkpoint each time another N
            training samples have been trained on; 0 or None: off.
        accelerate_full_state_at_epoch (bool, default True): Epoch-end checkpoints hold the
            full training state (optimizer, schedule, data position, RNG) for exact resume;
            False writes them as model-only folders, which resume skips.
        enable_jit_checkpoint (bool, default True): On SIGTERM/SIGINT finish the step, save
            a checkpoint and exit with code 75 (resume='latest' goes on); False leaves the
            signals their default action.
        is_pretraining (bool, default False): Continual pre-training: the documents are
            tokenized without a chat template, joined (each ends with EOS) and cut into
            blocks of block_size tokens; every token is trained and max_seq_len does not
            apply to the documents.
        block_size (int | None, default None): Tokens per block with is_pretraining
            (required then); at most max_tokens_per_gpu. The last block of the data may be
            shorter.
        document_column_name (str, default 'document'): Field of each record that holds the
            document text (document data, is_pretraining).
        use_processed_dataset (bool | None, default None): True: data_path holds
            pre-tokenized input_ids/labels records (as data_format='tokenized'); False: it
            holds text records.
        dataset_type ('chat_template' | 'alpaca' | 'passthrough' | None, default None):
            Record format by its training_hub 0.11.2 name: chat_template
            (data_format='chat'), alpaca (instruction/input/output records, trained as a
            user turn and the assistant's answer), passthrough (data_format as given, or
            detected).
        field_messages (str, default 'messages'): Field of each chat record that holds the
            messages.
        field_instruction (str, default 'instruction'): Field of each alpaca record that
            holds the instruction.
        field_input (str, default 'input'): Field of each alpaca record that holds the
            optional input (appended to the instruction).
        field_output (str, default 'output'): Field of each alpaca record that holds the
            answer.
        micro_batch_size (int | None, default None): At most this many samples in one
            micro-batch on one device (max_tokens_per_gpu still caps its tokens); see
            gradient_accumulation_steps.
        gradient_accumulation_steps (int | None, default None): Micro-batches per optimizer
            step on one device: effective_batch_size = micro_batch_size x
            gradient_accumulation_steps x processes (give two of the three; a contradiction
            is an error).
        per_device_eval_batch_size (int | None, default None): At most this many validation
            samples in one evaluation micro-batch on one device (max_tokens_per_gpu still
            caps its tokens); val_loss does not depend on it.
        sample_packing (bool, default True): Pack several samples into one micro-batch
            (padding-free; a sample attends only to itself, so the loss is the same); False:
            one sample per micro-batch.
        bf16 (bool | None, default None): True: train in bfloat16 (dtype='bf16'); False: not
            (fp32 unless fp16).
        fp16 (bool | None, default None): True: train in float16 with loss scaling
            (dtype='fp16').
        tf32 (bool | None, default None): TensorFloat-32 matmuls on NVIDIA GPUs
            (True/False); None keeps torch's setting. An error without a GPU.
        flash_attention (bool | None, default None): True: require FlashAttention (a GPU
            with torch's varlen flash kernel or flash-attn); None: used whenever available.
        lora_r (int, default 16): Rank of the LoRA update matrices.
        lora_alpha (float, default 32.0): LoRA scaling numerator: the update is scaled by
            alpha / r.
        lora_dropout (float, default 0.0): Dropout on the input of the LoRA branch.
        target_modules (list[str], default ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']):
            Names (suffixes) of the linear layers that get adapters; default: attention and
            MLP projections.
        load_in_4bit (bool, default False): QLoRA: load the frozen base model in 4-bit NF4
            (needs a CUDA GPU and bitsandbytes).
        load_in_8bit (bool, default False): Load the frozen base model in 8-bit
            (bitsandbytes LLM.int8; needs a CUDA GPU and bitsandbytes). Not with
            load_in_4bit.
        bnb_4bit_quant_type ('nf4' | 'fp4', default 'nf4'): 4-bit data type of the base
            weights with load_in_4bit.
        bnb_4bit_compute_dtype ('bfloat16' | 'float16' | 'float32', default 'bfloat16'):
            Compute dtype of the 4-bit layers with load_in_4bit.
        bnb_4bit_use_double_quant (bool, default True): Also quantize the 4-bit quantization
            constants (load_in_4bit).
        enable_model_splitting (bool, default False): training_hub 0.11.2's
            device_map='balanced' (one process over several GPUs). The native engine shards
            instead: True is an error that says to use nproc_per_node (FSDP2).
        finetune_vision_layers (bool, default False): Vision-language models: also adapt the
            vision encoder. The native engine trains causal language models, so True is an
            error.
        finetune_language_layers (bool, default True): Adapt the language model's layers
            (the only ones the native engine trains; False is an error).
        merge_adapter (bool, default False): Also write the merged full model (base +
            adapter) into merged/ of each checkpoint.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def lora_grpo(
    *,
    model_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    data_path: str | None = None,
    tasks: list[dict[str, Any]] | None = None,
    reward_fn: list[Any] | None = None,
    reward_weights: list[float] | None = None,
    n_train: int | None = None,
    n_val: int = 0,
    eval_data_path: str | None = None,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    num_iterations: int = 1,
    max_steps: int | None = None,
    group_size: int = 8,
    prompt_batch_size: int = 16,
    generation_batch_size: int | None = None,
    steps_per_generation: int = 1,
    iterations_per_batch: int = 1,
    max_tokens_per_gpu: int = 4096,
    temperature: float = 0.7,
    top_p: float = 1.0,
    top_k: int = 0,
    max_tokens: int = 512,
    max_prompt_length: int = 16384,
    rollout_batch_size: int = 64,
    mask_truncated_completions: bool = False,
    gpu_memory_utilization: float | None = None,
    tensor_parallel_size: int = 1,
    enforce_eager: bool = False,
    loss_type: Literal['grpo', 'dr_grpo', 'dapo', 'bnpo'] = 'dapo',
    use_dr_grpo: bool | None = None,
    scale_rewards: Literal['group', 'batch', 'none'] = 'group',
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    optimizer: str = 'adamw',
    learning_rate: float = 1e-05,
    lr_scheduler: str = 'constant',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.99,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    tokenizer_path: str | None = None,
    trust_remote_code: bool = False,
    validation_frequency: int | None = None,
    save_every: int | None = None,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    iteration_callback: Any = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    lora_r: int = 16,
    lora_alpha: float = 32.0,
    lora_dropout: float = 0.0,
    target_modules: list[str] = ...,
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    merge_adapter: bool = False,
    max_lora_rank: int | None = None,
    rollout_fn: Any = None,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """GRPO training LoRA adapters. Trains the 'lora_grpo' algorithm (distribution training-hub-grpo).

    GRPO on LoRA adapters of a frozen model (the lora plugin's adapter and fields).

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train lora_grpo` flags and config-file keys; `th info lora_grpo` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        data_path (str | None, default None): Prompts: .jsonl, .json or .parquet records (or
            a Hub data set id) with a `prompt` (text, or chat messages rendered with the
            chat template and a generation prompt) and any other columns, which reach the
            reward functions as keyword lists. Give data_path or tasks.
        tasks (list[dict[str, Any]] | None, default None): training_hub 0.11.2's task list:
            the prompt records themselves (dicts shaped like the lines of data_path),
            instead of data_path. CLI: JSON.
        reward_fn (list[Any] | None, default None): Reward function(s): callables with TRL's
            signature f(prompts, completions, **columns) -> list[float | None],
            'pkg.module:function' import strings, or names of the rewards registry
            (exact_match, regex, think_format, tool_call, math). Several are summed with
            reward_weights. CLI: comma-separated. None: tool_call for training_hub 0.11.2's
            tool-call records (target_tool_name, target_arguments); other prompts need one.
        reward_weights (list[float] | None, default None): Weight of each reward function
            (same order); default 1.0 each.
        n_train (int | None, default None): Use the first N prompts of data_path for
            training; None: all prompts that are not held out.
        n_val (int, default 0): Hold out N prompts of data_path (those after the n_train
            training prompts; the last N when n_train is None) to evaluate mean reward on.
        eval_data_path (str | None, default None): Separate prompt file to evaluate mean
            reward on (instead of n_val).
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        num_iterations (int, default 1): Passes over the training prompts.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        group_size (int, default 8): Completions sampled per prompt; advantages are relative
            to the group. Also accepted as: num_generations.
        prompt_batch_size (int, default 16): Prompts per generation batch, summed over all
            processes (prompt_batch_size * group_size completions).
        generation_batch_size (int | None, default None): TRL's name: completions per
            generation batch; must be a multiple of group_size, and sets prompt_batch_size =
            generation_batch_size / group_size.
        steps_per_generation (int, default 1): Optimizer steps each generation batch is
            split into.
        iterations_per_batch (int, default 1): Passes of policy updates over each generation
            batch (TRL's num_iterations, the mu of the GRPO paper); above 1 the importance
            ratio and clipping act.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        temperature (float, default 0.7): Sampling temperature of the rollouts.
        top_p (float, default 1.0): Nucleus sampling: keep the smallest set of tokens with
            this total probability; 1.0 keeps all.
        top_k (int, default 0): Sample among the K most likely tokens; 0 keeps all.
        max_tokens (int, default 512): Longest completion in tokens. Also accepted as:
            max_completion_length.
        max_prompt_length (int, default 16384): Longest prompt in tokens; a longer prompt is
            an error.
        rollout_batch_size (int, default 64): Completions sampled together in one batched
            generation (whole groups; rounded down to a multiple of group_size, at least one
            group). Also accepted as: concurrency.
        mask_truncated_completions (bool, default False): Completions cut at max_tokens (no
            end-of-sequence) carry no loss.
        gpu_memory_utilization (float | None, default None): Fraction of GPU memory vLLM
            reserves for rollouts (backend trl with vLLM installed, on a GPU; None: TRL's
            default). The native backend samples on the training model and refuses it.
        tensor_parallel_size (int, default 1): GPUs vLLM splits each rollout engine over
            (backend trl with vLLM). The native backend samples on the training model and
            refuses more than 1.
        enforce_eager (bool, default False): training_hub 0.11.2's vLLM switch (no CUDA
            graphs). Neither backend starts vLLM with it (TRL's colocated vLLM has no such
            option): True is refused.
        loss_type ('grpo' | 'dr_grpo' | 'dapo' | 'bnpo', default 'dapo'): How token losses
            are aggregated (TRL's definitions): grpo per sequence mean, dr_grpo sum /
            (sequences * max_tokens), dapo sum / tokens of the generation batch per step,
            bnpo sum / tokens of the step. See docs/grpo.md.
        use_dr_grpo (bool | None, default None): training_hub 0.11.2's switch: True is
            loss_type='dr_grpo' with scale_rewards='none' (Dr. GRPO); None follows loss_type
            and scale_rewards.
        scale_rewards ('group' | 'batch' | 'none', default 'group'): Divide advantages by
            the reward std of the group, of the whole batch, or not at all (Dr. GRPO).
            True/False mean group/none.
        beta (float, default 0.0): Weight of the KL penalty to the frozen starting model; 0
            loads no reference model.
        epsilon (float, default 0.2): Clipping of the importance ratio: lower bound 1 -
            epsilon.
        epsilon_high (float | None, default None): Upper clipping bound 1 + epsilon_high;
            default epsilon (DAPO uses 0.28).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 1e-05): Peak learning rate of AdamW.
        lr_scheduler (str, default 'constant'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1.
        adam_beta2 (float, default 0.99): AdamW beta2.
        adam_eps (float, default 1e-08): AdamW epsilon.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed of model init, prompt order and sampling.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        validation_frequency (int | None, default None): Evaluate mean reward on the
            held-out prompts every N steps (greedy, one completion each); with held-out
            prompts it also runs after the last step.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        iteration_callback (Any, default None): training_hub 0.11.2's hook: called as
            f(step, metrics) after every step (Python API only).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun. Also accepted as: n_gpus.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        lora_r (int, default 16): Rank of the LoRA update matrices.
        lora_alpha (float, default 32.0): LoRA scaling numerator: the update is scaled by
            alpha / r.
        lora_dropout (float, default 0.0): Dropout on the input of the LoRA branch.
        target_modules (list[str], default ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']):
            Names (suffixes) of the linear layers that get adapters; default: attention and
            MLP projections.
        load_in_4bit (bool, default False): QLoRA: load the frozen base model in 4-bit NF4
            (needs a CUDA GPU and bitsandbytes).
        load_in_8bit (bool, default False): Load the frozen base model in 8-bit
            (bitsandbytes LLM.int8; needs a CUDA GPU and bitsandbytes). Not with
            load_in_4bit.
        merge_adapter (bool, default False): Also write the merged full model (base +
            adapter) into merged/ of each checkpoint.
        max_lora_rank (int | None, default None): training_hub 0.11.2's limit of vLLM on
            served adapter ranks. No engine here limits them (TRL merges adapters into
            vLLM's weights), so the limit holds when it is at least lora_r; below lora_r it
            is an error.
        rollout_fn (Any, default None): training_hub 0.11.2's ART rollout, async f(model,
            task) -> art.Trajectory. Not available here (rollouts are single-turn
            completions scored by reward_fn): a function is refused with how to move it
            (docs/grpo.md).
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def lora_sft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    num_epochs: int = 1,
    max_steps: int | None = None,
    effective_batch_size: int = 8,
    max_tokens_per_gpu: int = 4096,
    max_seq_len: int = 2048,
    truncate: bool = False,
    optimizer: str = 'adamw',
    learning_rate: float = 0.0002,
    lr_scheduler: str = 'cosine',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.95,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    use_liger: bool | None = None,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    on_nonfinite: Literal['error', 'skip'] = 'error',
    data_format: str = 'auto',
    loss: str = 'cross_entropy',
    unmask: bool = False,
    tokenizer_path: str | None = None,
    data_cache_dir: str | None = None,
    data_workers: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    save_every: int | None = None,
    checkpoint_at_epoch: bool = True,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    checkpoint_storage: str | None = None,
    checkpoint_upload_timeout: float = 1800.0,
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    validation_split: float = 0.0,
    eval_data_path: str | None = None,
    validation_frequency: int | None = None,
    save_best_metric: Literal['val_loss'] | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    rdzv_id: str | int | None = None,
    lr_scheduler_kwargs: dict[str, float] = ...,
    save_samples: int | None = None,
    accelerate_full_state_at_epoch: bool = True,
    enable_jit_checkpoint: bool = True,
    is_pretraining: bool = False,
    block_size: int | None = None,
    document_column_name: str = 'document',
    use_processed_dataset: bool | None = None,
    dataset_type: Literal['chat_template', 'alpaca', 'passthrough'] | None = None,
    field_messages: str = 'messages',
    field_instruction: str = 'instruction',
    field_input: str = 'input',
    field_output: str = 'output',
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    sample_packing: bool = True,
    bf16: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    flash_attention: bool | None = None,
    lora_r: int = 16,
    lora_alpha: float = 32.0,
    lora_dropout: float = 0.0,
    target_modules: list[str] = ...,
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    bnb_4bit_quant_type: Literal['nf4', 'fp4'] = 'nf4',
    bnb_4bit_compute_dtype: Literal['bfloat16', 'float16', 'float32'] = 'bfloat16',
    bnb_4bit_use_double_quant: bool = True,
    enable_model_splitting: bool = False,
    finetune_vision_layers: bool = False,
    finetune_language_layers: bool = True,
    merge_adapter: bool = False,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """LoRA / QLoRA adapters (training_hub 0.11.2's name of lora). Trains the 'lora' algorithm (distribution training-hub-lora).

    Train low-rank adapters on a frozen model (LoRA); QLoRA with ``load_in_4bit``.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train lora` flags and config-file keys; `th info lora` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        data_path (str, required): Training data: .jsonl, .json or .parquet with chat
            `messages`, `document` or pre-tokenized `input_ids`/`labels` records; or a data
            set: a folder written by datasets' save_to_disk, or a Hub data set id (see
            data_split).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        num_epochs (int, default 1): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        effective_batch_size (int, default 8): Samples per optimizer step, summed over all
            processes.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        max_seq_len (int, default 2048): Longest sample in tokens; longer samples are an
            error unless `truncate` is set.
        truncate (bool, default False): Cut samples longer than max_seq_len instead of
            failing (reported).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 0.0002): Peak learning rate of AdamW.
        lr_scheduler (str, default 'cosine'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1.
        adam_beta2 (float, default 0.95): AdamW beta2. Also accepted as: beta2.
        adam_eps (float, default 1e-08): AdamW epsilon. Also accepted as: eps.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed for model init, data order and dropout.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        torch_compile (bool, default False): Compile the model with torch.compile.
        use_liger (bool | None, default None): Use Liger kernels (GPU only); None: use them
            when installed on GPU.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        on_nonfinite ('error' | 'skip', default 'error'): What to do on a NaN/inf loss or
            gradient: stop with an error, or skip that optimizer step.
        data_format (str, default 'auto'): Record format of data_path: 'chat', 'document',
            'tokenized' or one a plugin registers; 'auto' detects it from the first record.
        loss (str, default 'cross_entropy'): Training loss by name: 'cross_entropy' or one a
            plugin registers.
        unmask (bool, default False): Train on every token of chat samples, not only
            assistant turns. Also accepted as: unmask_messages.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        data_cache_dir (str | None, default None): Where tokenized data is cached; default:
            ~/.cache/training-hub. Also accepted as: data_output_dir.
        data_workers (int | None, default None): Processes that tokenize in parallel;
            default: CPU count, max 8.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
            Also accepted as: save_steps.
        checkpoint_at_epoch (bool, default True): Save a checkpoint at each epoch end.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all. Also accepted as: save_total_limit.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        checkpoint_storage (str | None, default None): Mirror every checkpoint to this
            fsspec URI (s3://bucket/prefix, gs://..., file://..., memory://...) in the
            background; resume='latest' also looks there. s3 needs s3fs, gs needs gcsfs.
            'pvc' (the peer's name): local only.
        checkpoint_upload_timeout (float, default 1800.0): Seconds the run waits at its end
            for checkpoint uploads to finish; what is not uploaded by then is reported.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        validation_split (float, default 0.0): Fraction of the training samples held out
            (chosen from `seed`, never trained on) to compute val_loss on; 0 disables. Not
            with eval_data_path.
        eval_data_path (str | None, default None): Separate validation data (any format
            data_path accepts) to compute val_loss on. Not with validation_split.
        validation_frequency (int | None, default None): Also evaluate every N optimizer
            steps; with validation data, evaluation always runs at each epoch end and after
            the last step. Also accepted as: eval_steps.
        save_best_metric ('val_loss' | None, default None): Keep the checkpoint with the
            lowest val_loss in checkpoints/best (never pruned by keep_last_n; best.json says
            its step and value).
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        rdzv_id (str | int | None, default None): Id of the torchrun rendezvous (--rdzv-id):
            the same on every node of one job, with rdzv_endpoint. Default: 'training-hub'.
        lr_scheduler_kwargs (dict[str, float], default {}): Options of the built-in
            schedules, with Hugging Face's names: min_lr_rate (decay floor, a fraction of
            learning_rate) or min_lr (the floor itself) for linear and cosine; num_cycles
            for cosine (0.5: one half cosine).
        save_samples (int | None, default None): Also save a checkpoint each time another N
            training samples have been trained on; 0 or None: off.
        accelerate_full_state_at_epoch (bool, default True): Epoch-end checkpoints hold the
            full training state (optimizer, schedule, data position, RNG) for exact resume;
            False writes them as model-only folders, which resume skips.
        enable_jit_checkpoint (bool, default True): On SIGTERM/SIGINT finish the step, save
            a checkpoint and exit with code 75 (resume='latest' goes on); False leaves the
            signals their default action.
        is_pretraining (bool, default False): Continual pre-training: the documents are
            tokenized without a chat template, joined (each ends with EOS) and cut into
            blocks of block_size tokens; every token is trained and max_seq_len does not
            apply to the documents.
        block_size (int | None, default None): Tokens per block with is_pretraining
            (required then); at most max_tokens_per_gpu. The last block of the data may be
            shorter.
        document_column_name (str, default 'document'): Field of each record that holds the
            document text (document data, is_pretraining).
        use_processed_dataset (bool | None, default None): True: data_path holds
            pre-tokenized input_ids/labels records (as data_format='tokenized'); False: it
            holds text records.
        dataset_type ('chat_template' | 'alpaca' | 'passthrough' | None, default None):
            Record format by its training_hub 0.11.2 name: chat_template
            (data_format='chat'), alpaca (instruction/input/output records, trained as a
            user turn and the assistant's answer), passthrough (data_format as given, or
            detected).
        field_messages (str, default 'messages'): Field of each chat record that holds the
            messages.
        field_instruction (str, default 'instruction'): Field of each alpaca record that
            holds the instruction.
        field_input (str, default 'input'): Field of each alpaca record that holds the
            optional input (appended to the instruction).
        field_output (str, default 'output'): Field of each alpaca record that holds the
            answer.
        micro_batch_size (int | None, default None): At most this many samples in one
            micro-batch on one device (max_tokens_per_gpu still caps its tokens); see
            gradient_accumulation_steps.
        gradient_accumulation_steps (int | None, default None): Micro-batches per optimizer
            step on one device: effective_batch_size = micro_batch_size x
            gradient_accumulation_steps x processes (give two of the three; a contradiction
            is an error).
        per_device_eval_batch_size (int | None, default None): At most this many validation
            samples in one evaluation micro-batch on one device (max_tokens_per_gpu still
            caps its tokens); val_loss does not depend on it.
        sample_packing (bool, default True): Pack several samples into one micro-batch
            (padding-free; a sample attends only to itself, so the loss is the same); False:
            one sample per micro-batch.
        bf16 (bool | None, default None): True: train in bfloat16 (dtype='bf16'); False: not
            (fp32 unless fp16).
        fp16 (bool | None, default None): True: train in float16 with loss scaling
            (dtype='fp16').
        tf32 (bool | None, default None): TensorFloat-32 matmuls on NVIDIA GPUs
            (True/False); None keeps torch's setting. An error without a GPU.
        flash_attention (bool | None, default None): True: require FlashAttention (a GPU
            with torch's varlen flash kernel or flash-attn); None: used whenever available.
        lora_r (int, default 16): Rank of the LoRA update matrices.
        lora_alpha (float, default 32.0): LoRA scaling numerator: the update is scaled by
            alpha / r.
        lora_dropout (float, default 0.0): Dropout on the input of the LoRA branch.
        target_modules (list[str], default ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']):
            Names (suffixes) of the linear layers that get adapters; default: attention and
            MLP projections.
        load_in_4bit (bool, default False): QLoRA: load the frozen base model in 4-bit NF4
            (needs a CUDA GPU and bitsandbytes).
        load_in_8bit (bool, default False): Load the frozen base model in 8-bit
            (bitsandbytes LLM.int8; needs a CUDA GPU and bitsandbytes). Not with
            load_in_4bit.
        bnb_4bit_quant_type ('nf4' | 'fp4', default 'nf4'): 4-bit data type of the base
            weights with load_in_4bit.
        bnb_4bit_compute_dtype ('bfloat16' | 'float16' | 'float32', default 'bfloat16'):
            Compute dtype of the 4-bit layers with load_in_4bit.
        bnb_4bit_use_double_quant (bool, default True): Also quantize the 4-bit quantization
            constants (load_in_4bit).
        enable_model_splitting (bool, default False): training_hub 0.11.2's
            device_map='balanced' (one process over several GPUs). The native engine shards
            instead: True is an error that says to use nproc_per_node (FSDP2).
        finetune_vision_layers (bool, default False): Vision-language models: also adapt the
            vision encoder. The native engine trains causal language models, so True is an
            error.
        finetune_language_layers (bool, default True): Adapt the language model's layers
            (the only ones the native engine trains; False is an error).
        merge_adapter (bool, default False): Also write the merged full model (base +
            adapter) into merged/ of each checkpoint.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def osft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    unfreeze_rank_ratio: float,
    backend: str | None = None,
    num_epochs: int = 1,
    max_steps: int | None = None,
    effective_batch_size: int = 8,
    max_tokens_per_gpu: int = 4096,
    max_seq_len: int = 2048,
    truncate: bool = False,
    optimizer: str = 'adamw',
    learning_rate: float = 2e-05,
    lr_scheduler: str = 'cosine',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.95,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    use_liger: bool | None = None,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    on_nonfinite: Literal['error', 'skip'] = 'error',
    data_format: str = 'auto',
    loss: str = 'cross_entropy',
    unmask: bool = False,
    tokenizer_path: str | None = None,
    data_cache_dir: str | None = None,
    data_workers: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    save_every: int | None = None,
    checkpoint_at_epoch: bool = True,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    checkpoint_storage: str | None = None,
    checkpoint_upload_timeout: float = 1800.0,
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    validation_split: float = 0.0,
    eval_data_path: str | None = None,
    validation_frequency: int | None = None,
    save_best_metric: Literal['val_loss'] | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    rdzv_id: str | int | None = None,
    lr_scheduler_kwargs: dict[str, float] = ...,
    save_samples: int | None = None,
    accelerate_full_state_at_epoch: bool = True,
    enable_jit_checkpoint: bool = True,
    is_pretraining: bool = False,
    block_size: int | None = None,
    document_column_name: str = 'document',
    use_processed_dataset: bool | None = None,
    dataset_type: Literal['chat_template', 'alpaca', 'passthrough'] | None = None,
    field_messages: str = 'messages',
    field_instruction: str = 'instruction',
    field_input: str = 'input',
    field_output: str = 'output',
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    sample_packing: bool = True,
    bf16: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    flash_attention: bool | None = None,
    target_patterns: list[str] = ...,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """Orthogonal subspace fine-tuning (continual learning). Trains the 'osft' algorithm (distribution training-hub-osft).

    Orthogonal subspace fine-tuning: every sft parameter plus the subspace settings.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train osft` flags and config-file keys; `th info osft` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        data_path (str, required): Training data: .jsonl, .json or .parquet with chat
            `messages`, `document` or pre-tokenized `input_ids`/`labels` records; or a data
            set: a folder written by datasets' save_to_disk, or a Hub data set id (see
            data_split).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        unfreeze_rank_ratio (float, required): Share of each targeted matrix's singular
            directions that may change, taken from the smallest singular values (0 < r <=
            1). The rest (the top 1 - r share) stays exactly as in the base model. 1.0 is
            full fine-tuning; 0.1-0.5 is typical for continual learning.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        num_epochs (int, default 1): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        effective_batch_size (int, default 8): Samples per optimizer step, summed over all
            processes.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        max_seq_len (int, default 2048): Longest sample in tokens; longer samples are an
            error unless `truncate` is set.
        truncate (bool, default False): Cut samples longer than max_seq_len instead of
            failing (reported).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 2e-05): Peak learning rate of AdamW.
        lr_scheduler (str, default 'cosine'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1.
        adam_beta2 (float, default 0.95): AdamW beta2. Also accepted as: beta2.
        adam_eps (float, default 1e-08): AdamW epsilon. Also accepted as: eps.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed for model init, data order and dropout.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        torch_compile (bool, default False): Compile the model with torch.compile.
        use_liger (bool | None, default None): Use Liger kernels (GPU only); None: use them
            when installed on GPU.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        on_nonfinite ('error' | 'skip', default 'error'): What to do on a NaN/inf loss or
            gradient: stop with an error, or skip that optimizer step.
        data_format (str, default 'auto'): Record format of data_path: 'chat', 'document',
            'tokenized' or one a plugin registers; 'auto' detects it from the first record.
        loss (str, default 'cross_entropy'): Training loss by name: 'cross_entropy' or one a
            plugin registers.
        unmask (bool, default False): Train on every token of chat samples, not only
            assistant turns. Also accepted as: unmask_messages.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        data_cache_dir (str | None, default None): Where tokenized data is cached; default:
            ~/.cache/training-hub. Also accepted as: data_output_dir.
        data_workers (int | None, default None): Processes that tokenize in parallel;
            default: CPU count, max 8.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
            Also accepted as: save_steps.
        checkpoint_at_epoch (bool, default True): Save a checkpoint at each epoch end.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all. Also accepted as: save_total_limit.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        checkpoint_storage (str | None, default None): Mirror every checkpoint to this
            fsspec URI (s3://bucket/prefix, gs://..., file://..., memory://...) in the
            background; resume='latest' also looks there. s3 needs s3fs, gs needs gcsfs.
            'pvc' (the peer's name): local only.
        checkpoint_upload_timeout (float, default 1800.0): Seconds the run waits at its end
            for checkpoint uploads to finish; what is not uploaded by then is reported.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        validation_split (float, default 0.0): Fraction of the training samples held out
            (chosen from `seed`, never trained on) to compute val_loss on; 0 disables. Not
            with eval_data_path.
        eval_data_path (str | None, default None): Separate validation data (any format
            data_path accepts) to compute val_loss on. Not with validation_split.
        validation_frequency (int | None, default None): Also evaluate every N optimizer
            steps; with validation data, evaluation always runs at each epoch end and after
            the last step. Also accepted as: eval_steps.
        save_best_metric ('val_loss' | None, default None): Keep the checkpoint with the
            lowest val_loss in checkpoints/best (never pruned by keep_last_n; best.json says
            its step and value).
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        rdzv_id (str | int | None, default None): Id of the torchrun rendezvous (--rdzv-id):
            the same on every node of one job, with rdzv_endpoint. Default: 'training-hub'.
        lr_scheduler_kwargs (dict[str, float], default {}): Options of the built-in
            schedules, with Hugging Face's names: min_lr_rate (decay floor, a fraction of
            learning_rate) or min_lr (the floor itself) for linear and cosine; num_cycles
            for cosine (0.5: one half cosine).
        save_samples (int | None, default None): Also save a checkpoint each time another N
            training samples have been trained on; 0 or None: off.
        accelerate_full_state_at_epoch (bool, default True): Epoch-end checkpoints hold the
            full training state (optimizer, schedule, data position, RNG) for exact resume;
            False writes them as model-only folders, which resume skips.
        enable_jit_checkpoint (bool, default True): On SIGTERM/SIGINT finish the step, save
            a checkpoint and exit with code 75 (resume='latest' goes on); False leaves the
            signals their default action.
        is_pretraining (bool, default False): Continual pre-training: the documents are
            tokenized without a chat template, joined (each ends with EOS) and cut into
            blocks of block_size tokens; every token is trained and max_seq_len does not
            apply to the documents.
        block_size (int | None, default None): Tokens per block with is_pretraining
            (required then); at most max_tokens_per_gpu. The last block of the data may be
            shorter.
        document_column_name (str, default 'document'): Field of each record that holds the
            document text (document data, is_pretraining).
        use_processed_dataset (bool | None, default None): True: data_path holds
            pre-tokenized input_ids/labels records (as data_format='tokenized'); False: it
            holds text records.
        dataset_type ('chat_template' | 'alpaca' | 'passthrough' | None, default None):
            Record format by its training_hub 0.11.2 name: chat_template
            (data_format='chat'), alpaca (instruction/input/output records, trained as a
            user turn and the assistant's answer), passthrough (data_format as given, or
            detected).
        field_messages (str, default 'messages'): Field of each chat record that holds the
            messages.
        field_instruction (str, default 'instruction'): Field of each alpaca record that
            holds the instruction.
        field_input (str, default 'input'): Field of each alpaca record that holds the
            optional input (appended to the instruction).
        field_output (str, default 'output'): Field of each alpaca record that holds the
            answer.
        micro_batch_size (int | None, default None): At most this many samples in one
            micro-batch on one device (max_tokens_per_gpu still caps its tokens); see
            gradient_accumulation_steps.
        gradient_accumulation_steps (int | None, default None): Micro-batches per optimizer
            step on one device: effective_batch_size = micro_batch_size x
            gradient_accumulation_steps x processes (give two of the three; a contradiction
            is an error).
        per_device_eval_batch_size (int | None, default None): At most this many validation
            samples in one evaluation micro-batch on one device (max_tokens_per_gpu still
            caps its tokens); val_loss does not depend on it.
        sample_packing (bool, default True): Pack several samples into one micro-batch
            (padding-free; a sample attends only to itself, so the loss is the same); False:
            one sample per micro-batch.
        bf16 (bool | None, default None): True: train in bfloat16 (dtype='bf16'); False: not
            (fp32 unless fp16).
        fp16 (bool | None, default None): True: train in float16 with loss scaling
            (dtype='fp16').
        tf32 (bool | None, default None): TensorFloat-32 matmuls on NVIDIA GPUs
            (True/False); None keeps torch's setting. An error without a GPU.
        flash_attention (bool | None, default None): True: require FlashAttention (a GPU
            with torch's varlen flash kernel or flash-attn); None: used whenever available.
        target_patterns (list[str], default ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']):
            Linear modules to constrain, by substring of their name (e.g.
            'self_attn.q_proj'). Default: the attention and MLP projections (q/k/v/o_proj,
            gate/up/down_proj). Embeddings, norms and the LM head are never constrained;
            parameters outside the targets train as in sft.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...


def sft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    backend: str | None = None,
    num_epochs: int = 1,
    max_steps: int | None = None,
    effective_batch_size: int = 8,
    max_tokens_per_gpu: int = 4096,
    max_seq_len: int = 2048,
    truncate: bool = False,
    optimizer: str = 'adamw',
    learning_rate: float = 2e-05,
    lr_scheduler: str = 'cosine',
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.95,
    adam_eps: float = 1e-08,
    max_grad_norm: float | None = 1.0,
    seed: int = 42,
    dtype: Literal['auto', 'bf16', 'fp16', 'fp32'] = 'auto',
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    use_liger: bool | None = None,
    device: Literal['auto', 'cpu', 'cuda'] = 'auto',
    num_threads: int | None = None,
    on_nonfinite: Literal['error', 'skip'] = 'error',
    data_format: str = 'auto',
    loss: str = 'cross_entropy',
    unmask: bool = False,
    tokenizer_path: str | None = None,
    data_cache_dir: str | None = None,
    data_workers: int | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    data_revision: str | None = None,
    data_subset: str | None = None,
    data_split: str | None = None,
    save_every: int | None = None,
    checkpoint_at_epoch: bool = True,
    save_final_checkpoint: bool = True,
    keep_last_n: int | None = None,
    resume: str = 'none',
    checkpoint_storage: str | None = None,
    checkpoint_upload_timeout: float = 1800.0,
    overwrite: bool = False,
    logging_steps: int = 1,
    tensorboard: bool = True,
    quiet: bool = False,
    validation_split: float = 0.0,
    eval_data_path: str | None = None,
    validation_frequency: int | None = None,
    save_best_metric: Literal['val_loss'] | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    master_addr: str = '127.0.0.1',
    master_port: int = 29500,
    rdzv_id: str | int | None = None,
    lr_scheduler_kwargs: dict[str, float] = ...,
    save_samples: int | None = None,
    accelerate_full_state_at_epoch: bool = True,
    enable_jit_checkpoint: bool = True,
    is_pretraining: bool = False,
    block_size: int | None = None,
    document_column_name: str = 'document',
    use_processed_dataset: bool | None = None,
    dataset_type: Literal['chat_template', 'alpaca', 'passthrough'] | None = None,
    field_messages: str = 'messages',
    field_instruction: str = 'instruction',
    field_input: str = 'input',
    field_output: str = 'output',
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    sample_packing: bool = True,
    bf16: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    flash_attention: bool | None = None,
    callbacks: list[Any] = ...,
    **aliases: Any,
) -> Any:
    """Supervised fine-tuning. Trains the 'sft' algorithm (distribution training-hub-sft).

    Parameters of sft: exactly those of the native engine.

    Every parameter is a keyword. A parameter left out takes its default; None for one whose type does not allow None means the same (as in training_hub 0.11.2). The same parameters are `th train sft` flags and config-file keys; `th info sft` lists them.

    Parameters:
        model_path (str, required): Hugging Face model folder (config.json, tokenizer,
            safetensors weights), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (see
            revision).
        data_path (str, required): Training data: .jsonl, .json or .parquet with chat
            `messages`, `document` or pre-tokenized `input_ids`/`labels` records; or a data
            set: a folder written by datasets' save_to_disk, or a Hub data set id (see
            data_split).
        ckpt_output_dir (str, required): Folder for checkpoints, metrics.jsonl and logs of
            this run.
        backend (str | None, default None): Backend to train with (`th list` shows them);
            None: the algorithm's default backend when it can run here, else the first one
            that can.
        num_epochs (int, default 1): Passes over the training data.
        max_steps (int | None, default None): Stop after this many optimizer steps
            (overrides num_epochs).
        effective_batch_size (int, default 8): Samples per optimizer step, summed over all
            processes.
        max_tokens_per_gpu (int, default 4096): Token budget of one micro-batch on one
            device; gradient accumulation is derived from it.
        max_seq_len (int, default 2048): Longest sample in tokens; longer samples are an
            error unless `truncate` is set.
        truncate (bool, default False): Cut samples longer than max_seq_len instead of
            failing (reported).
        optimizer (str, default 'adamw'): Optimizer by name: 'adamw' or one a plugin
            registers (`th info` lists the installed ones).
        learning_rate (float, default 2e-05): Peak learning rate of AdamW.
        lr_scheduler (str, default 'cosine'): Learning-rate schedule after warmup:
            'constant', 'linear', 'cosine' or one a plugin registers.
        warmup_steps (int, default 0): Steps of linear warmup from 0.
        weight_decay (float, default 0.0): AdamW decoupled weight decay.
        adam_beta1 (float, default 0.9): AdamW beta1. Also accepted as: beta1.
        adam_beta2 (float, default 0.95): AdamW beta2. Also accepted as: beta2.
        adam_eps (float, default 1e-08): AdamW epsilon. Also accepted as: eps.
        max_grad_norm (float | None, default 1.0): Clip the global gradient norm to this
            value; None disables.
        seed (int, default 42): Seed for model init, data order and dropout.
        dtype ('auto' | 'bf16' | 'fp16' | 'fp32', default 'auto'): Training precision. auto:
            bf16 on GPUs that support it, else fp32.
        gradient_checkpointing (bool, default False): Recompute activations in the backward
            pass to save memory.
        torch_compile (bool, default False): Compile the model with torch.compile.
        use_liger (bool | None, default None): Use Liger kernels (GPU only); None: use them
            when installed on GPU.
        device ('auto' | 'cpu' | 'cuda', default 'auto'): Device to train on; auto picks
            CUDA when available.
        num_threads (int | None, default None): CPU threads for torch (CPU training); None
            keeps torch's default.
        on_nonfinite ('error' | 'skip', default 'error'): What to do on a NaN/inf loss or
            gradient: stop with an error, or skip that optimizer step.
        data_format (str, default 'auto'): Record format of data_path: 'chat', 'document',
            'tokenized' or one a plugin registers; 'auto' detects it from the first record.
        loss (str, default 'cross_entropy'): Training loss by name: 'cross_entropy' or one a
            plugin registers.
        unmask (bool, default False): Train on every token of chat samples, not only
            assistant turns. Also accepted as: unmask_messages.
        tokenizer_path (str | None, default None): Tokenizer folder (or Hub id) if it
            differs from model_path.
        data_cache_dir (str | None, default None): Where tokenized data is cached; default:
            ~/.cache/training-hub. Also accepted as: data_output_dir.
        data_workers (int | None, default None): Processes that tokenize in parallel;
            default: CPU count, max 8.
        trust_remote_code (bool, default False): Allow the model folder to run its own
            Python code. Off by default.
        revision (str | None, default None): Branch, tag or commit hash of
            model_path/tokenizer_path when they are Hub ids; default: main.
        data_revision (str | None, default None): Branch, tag or commit hash of data_path
            when it is a Hub data set id; default: main.
        data_subset (str | None, default None): Subset (config name) of the data set in
            data_path (a Hub id or a data set folder). Also accepted as: data_config.
        data_split (str | None, default None): Split of the data set in data_path to train
            on; default: train.
        save_every (int | None, default None): Save a checkpoint every N optimizer steps.
            Also accepted as: save_steps.
        checkpoint_at_epoch (bool, default True): Save a checkpoint at each epoch end.
        save_final_checkpoint (bool, default True): Save a checkpoint when training ends.
        keep_last_n (int | None, default None): Keep only the newest N checkpoints; None
            keeps all. Also accepted as: save_total_limit.
        resume (str, default 'none'): 'latest' resumes from the newest checkpoint in
            ckpt_output_dir (or in checkpoint_storage), a path resumes from that checkpoint,
            'none' starts fresh.
        checkpoint_storage (str | None, default None): Mirror every checkpoint to this
            fsspec URI (s3://bucket/prefix, gs://..., file://..., memory://...) in the
            background; resume='latest' also looks there. s3 needs s3fs, gs needs gcsfs.
            'pvc' (the peer's name): local only.
        checkpoint_upload_timeout (float, default 1800.0): Seconds the run waits at its end
            for checkpoint uploads to finish; what is not uploaded by then is reported.
        overwrite (bool, default False): Allow writing into a ckpt_output_dir that holds a
            previous run.
        logging_steps (int, default 1): Write metrics every N optimizer steps.
        tensorboard (bool, default True): Also log to TensorBoard when it is installed.
        quiet (bool, default False): No progress bar; one log line per logging step.
        validation_split (float, default 0.0): Fraction of the training samples held out
            (chosen from `seed`, never trained on) to compute val_loss on; 0 disables. Not
            with eval_data_path.
        eval_data_path (str | None, default None): Separate validation data (any format
            data_path accepts) to compute val_loss on. Not with validation_split.
        validation_frequency (int | None, default None): Also evaluate every N optimizer
            steps; with validation data, evaluation always runs at each epoch end and after
            the last step. Also accepted as: eval_steps.
        save_best_metric ('val_loss' | None, default None): Keep the checkpoint with the
            lowest val_loss in checkpoints/best (never pruned by keep_last_n; best.json says
            its step and value).
        tensorboard_log_dir (str | None, default None): TensorBoard folder; default
            <ckpt_output_dir>/tensorboard. Needs tensorboard installed and tensorboard=True.
        mlflow_tracking_uri (str | None, default None): Log to MLflow at this tracking URI
            (a server or a file: store); needs the mlflow extra.
        mlflow_experiment_name (str | None, default None): MLflow experiment to log into
            (logs to MLflow; needs the mlflow extra).
        mlflow_run_name (str | None, default None): MLflow run name (logs to MLflow; needs
            the mlflow extra).
        wandb_project (str | None, default None): Log to this Weights & Biases project;
            needs the wandb extra.
        wandb_entity (str | None, default None): W&B team or user owning the project (logs
            to W&B).
        wandb_run_name (str | None, default None): W&B run name (logs to W&B; needs the
            wandb extra).
        nproc_per_node (int, default 1): Processes per node; above 1, `th train` launches
            torchrun.
        nnodes (int, default 1): Number of nodes.
        node_rank (int, default 0): Rank of this node.
        rdzv_endpoint (str | None, default None): host:port of the rendezvous (multi-node);
            default master_addr:port.
        master_addr (str, default '127.0.0.1'): Address of the rank-0 node.
        master_port (int, default 29500): Port of the rank-0 node.
        rdzv_id (str | int | None, default None): Id of the torchrun rendezvous (--rdzv-id):
            the same on every node of one job, with rdzv_endpoint. Default: 'training-hub'.
        lr_scheduler_kwargs (dict[str, float], default {}): Options of the built-in
            schedules, with Hugging Face's names: min_lr_rate (decay floor, a fraction of
            learning_rate) or min_lr (the floor itself) for linear and cosine; num_cycles
            for cosine (0.5: one half cosine).
        save_samples (int | None, default None): Also save a checkpoint each time another N
            training samples have been trained on; 0 or None: off.
        accelerate_full_state_at_epoch (bool, default True): Epoch-end checkpoints hold the
            full training state (optimizer, schedule, data position, RNG) for exact resume;
            False writes them as model-only folders, which resume skips.
        enable_jit_checkpoint (bool, default True): On SIGTERM/SIGINT finish the step, save
            a checkpoint and exit with code 75 (resume='latest' goes on); False leaves the
            signals their default action.
        is_pretraining (bool, default False): Continual pre-training: the documents are
            tokenized without a chat template, joined (each ends with EOS) and cut into
            blocks of block_size tokens; every token is trained and max_seq_len does not
            apply to the documents.
        block_size (int | None, default None): Tokens per block with is_pretraining
            (required then); at most max_tokens_per_gpu. The last block of the data may be
            shorter.
        document_column_name (str, default 'document'): Field of each record that holds the
            document text (document data, is_pretraining).
        use_processed_dataset (bool | None, default None): True: data_path holds
            pre-tokenized input_ids/labels records (as data_format='tokenized'); False: it
            holds text records.
        dataset_type ('chat_template' | 'alpaca' | 'passthrough' | None, default None):
            Record format by its training_hub 0.11.2 name: chat_template
            (data_format='chat'), alpaca (instruction/input/output records, trained as a
            user turn and the assistant's answer), passthrough (data_format as given, or
            detected).
        field_messages (str, default 'messages'): Field of each chat record that holds the
            messages.
        field_instruction (str, default 'instruction'): Field of each alpaca record that
            holds the instruction.
        field_input (str, default 'input'): Field of each alpaca record that holds the
            optional input (appended to the instruction).
        field_output (str, default 'output'): Field of each alpaca record that holds the
            answer.
        micro_batch_size (int | None, default None): At most this many samples in one
            micro-batch on one device (max_tokens_per_gpu still caps its tokens); see
            gradient_accumulation_steps.
        gradient_accumulation_steps (int | None, default None): Micro-batches per optimizer
            step on one device: effective_batch_size = micro_batch_size x
            gradient_accumulation_steps x processes (give two of the three; a contradiction
            is an error).
        per_device_eval_batch_size (int | None, default None): At most this many validation
            samples in one evaluation micro-batch on one device (max_tokens_per_gpu still
            caps its tokens); val_loss does not depend on it.
        sample_packing (bool, default True): Pack several samples into one micro-batch
            (padding-free; a sample attends only to itself, so the loss is the same); False:
            one sample per micro-batch.
        bf16 (bool | None, default None): True: train in bfloat16 (dtype='bf16'); False: not
            (fp32 unless fp16).
        fp16 (bool | None, default None): True: train in float16 with loss scaling
            (dtype='fp16').
        tf32 (bool | None, default None): TensorFloat-32 matmuls on NVIDIA GPUs
            (True/False); None keeps torch's setting. An error without a GPU.
        flash_attention (bool | None, default None): True: require FlashAttention (a GPU
            with torch's varlen flash kernel or flash-attn); None: used whenever available.
        callbacks (list[Any], default []): Callbacks that observe and steer the run:
            TrainingHubCallback instances, classes or 'pkg.module:Class' import strings
            (CLI: --callback, repeatable). See the Callbacks section of the user guide.

    Returns:
        The backend's result; the native engine's TrainResult (final_loss, steps, last_checkpoint, ...; result['model'] and result['tokenizer'] load the trained model as training_hub 0.11.2's lora_sft returned them).
    """
    ...
