"""The table of docs/migrating-from-training-hub.md: every training_hub 0.11.2 parameter and
what it is here, generated from tests/data/peer and the installed schemas.

``python -m tests.core._migration_table`` rewrites the table between the markers of the
page; ``test_peer_compat.py`` fails when the page and this disagree.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "NOTES", "migration_table", "rewrite_page"]

ROOT = Path(__file__).resolve().parents[2]
PEER_FILE = ROOT / "tests/data/peer/training_hub-0.11.2-signatures.json"
PAGE = ROOT / "docs/migrating-from-training-hub.md"
BEGIN = "<!-- migration-table:begin (generated: python -m tests.core._migration_table) -->"
END = "<!-- migration-table:end -->"

#: What a user should know beyond the name: (function or "*", parameter) -> note.
NOTES: dict[tuple[str, str], str] = {
    ("*", "data_output_dir"): "default ~/.cache/training-hub (the peer: <ckpt_output_dir>/data)",
    ("*", "save_samples"): "a checkpoint each time another N samples were trained on; 0: off",
    ("*", "accelerate_full_state_at_epoch"): "False: epoch-end checkpoints are model-only "
                                             "and resume skips them",
    ("*", "is_pretraining"): "documents joined and cut into blocks of block_size tokens",
    ("*", "block_size"): "required with is_pretraining",
    ("*", "document_column_name"): "the field of the document text (default document)",
    ("*", "rdzv_id"): "torchrun --rdzv-id, with rdzv_endpoint",
    ("*", "enable_jit_checkpoint"): "default True here: SIGTERM saves a checkpoint; given "
                                    "True, also resume='latest' (the same call run again "
                                    "goes on); False: signals keep their default action",
    ("*", "unmask_messages"): "train on every token of chat samples",
    ("*", "use_processed_dataset"): "True: data_format='tokenized'",
    ("*", "lr_scheduler"): "constant, linear, cosine (or a plugin's)",
    ("*", "lr_scheduler_kwargs"): "min_lr_rate / min_lr, num_cycles (cosine)",
    ("*", "nproc_per_node"): "a number ('auto'/'gpu' are not accepted)",
    ("*", "callbacks"): "also classes and 'pkg.mod:Class' strings",
    ("*", "checkpoint_storage"): "any fsspec URI (the peer: s3 only)",
    ("lora_sft", "micro_batch_size"): "samples per micro-batch per device; with "
                                      "gradient_accumulation_steps it sets effective_batch_size",
    ("lora_sft", "gradient_accumulation_steps"): "micro-batches per step per device",
    ("lora_sft", "dataset_type"): "chat_template, alpaca, passthrough; loss on the answer "
                                  "only (the peer trained the prompt too: add unmask=True)",
    ("lora_sft", "load_in_4bit"): "QLoRA; CUDA + bitsandbytes, an error on CPU",
    ("lora_sft", "load_in_8bit"): "CUDA + bitsandbytes, an error on CPU",
    ("lora_sft", "bnb_4bit_quant_type"): "with load_in_4bit only",
    ("lora_sft", "bnb_4bit_compute_dtype"): "with load_in_4bit only",
    ("lora_sft", "bnb_4bit_use_double_quant"): "with load_in_4bit only",
    ("lora_sft", "flash_attention"): "True needs a GPU; None: used when available",
    ("lora_sft", "sample_packing"): "padding-free packing; False: one sample per micro-batch",
    ("lora_sft", "bf16"): "dtype='bf16'",
    ("lora_sft", "fp16"): "dtype='fp16'",
    ("lora_sft", "tf32"): "GPU only (an error on CPU)",
    ("lora_sft", "enable_model_splitting"): "True is an error: use nproc_per_node (FSDP2)",
    ("lora_sft", "finetune_vision_layers"): "True is an error: causal LMs only",
    ("lora_sft", "finetune_language_layers"): "False is an error",
    ("lora_sft", "per_device_eval_batch_size"): "samples per evaluation micro-batch",
    ("lora_sft", "target_modules"): "default: attention and MLP projections",
    # grpo / lora_grpo (docs/grpo.md, "Moving from training_hub 0.11.2")
    ("*", "data_config"): "the Hub data set's config name (default None; the peer: 'Qwen3')",
    ("*", "num_iterations"): "passes over the prompts (verl's epochs); max_steps caps steps",
    ("*", "use_dr_grpo"): "default None: loss_type='dapo' (the peer: True, Dr. GRPO)",
    ("*", "gpu_memory_utilization"): "backend trl with vLLM; an error on native",
    ("*", "tensor_parallel_size"): "backend trl with vLLM; above 1 an error on native",
    ("lora_grpo", "rollout_fn"): "an error: ART agent rollouts; use tasks + reward_fn",
    ("lora_grpo", "tasks"): "the prompt records as a list, instead of data_path",
    ("lora_grpo", "backend"): "`art` and `verl` are names of the native backend, so 0.11.2's "
                              "calls run",
    ("lora_grpo", "concurrency"): "completions sampled in one batch (native backend)",
    ("lora_grpo", "max_lora_rank"): "checked against lora_r; no engine limits it here",
    ("lora_grpo", "enforce_eager"): "True is an error (no vLLM started with it)",
}


def _peer() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PEER_FILE.read_text(encoding="utf-8"))
    return data


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _mapping(function: str, name: str) -> str:
    """What the peer parameter ``name`` of ``function`` is here."""
    import training_hub
    from training_hub._public import ALGORITHM_FUNCTIONS, _schema_of

    spec = ALGORITHM_FUNCTIONS.get(function)
    if spec is not None:
        schema = _schema_of(spec.algorithm)
        if schema is None:
            return f"needs {spec.distribution}"
        aliases = schema.all_aliases() if hasattr(schema, "all_aliases") else {}
        if name in aliases:
            return f"alias of `{aliases[name]}`"
    parameters = inspect.signature(getattr(training_hub, function)).parameters
    if name in parameters:
        return f"`{name}`"
    return "**missing**"


def _backend_note(function: str) -> str:
    """The default backend of the algorithm ``function`` trains, as registered."""
    from training_hub import AlgorithmRegistry
    from training_hub._public import ALGORITHM_FUNCTIONS

    spec = ALGORITHM_FUNCTIONS.get(function)
    if spec is None:
        return ""
    default = AlgorithmRegistry.algorithm_entry(spec.algorithm).default_backend
    return f"default `{default}` (`th list` shows the others)"


def migration_table() -> str:
    """The markdown table, one row per peer function parameter."""
    rows = ["| function | training_hub 0.11.2 parameter | here | note |", "|---|---|---|---|"]
    for function, params in _peer().items():
        if not params or not isinstance(params[0], dict):
            continue
        for param in params:
            if param["kind"] == "VAR_KEYWORD":
                continue
            name = param["name"]
            note = NOTES.get((function, name)) or NOTES.get(("*", name), "")
            if name == "backend":
                note = "; ".join(filter(None, (_backend_note(function), note)))
            rows.append(f"| `{function}` | `{name}` | {_mapping(function, name)} | "
                        f"{_cell(note)} |")
    return "\n".join(rows) + "\n"


def rewrite_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{BEGIN}\n{migration_table()}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    from training_hub._public import require_every_plugin

    require_every_plugin("docs/migrating-from-training-hub.md")
    rewrite_page()
