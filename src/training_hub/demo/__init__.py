"""The embedded demo: a tiny chat dataset, a tokenizer and a model config, all offline.

The assets live next to this file (``chat.jsonl``, ``tokenizer.json``,
``tokenizer_config.json``, ``config.json``, ``stats.json``) and are rebuilt by
``python -m training_hub.demo._build_assets``. No weights are shipped:
:func:`materialize_demo_model` builds them from the config with a fixed seed and
caches the result. Importing this module never imports torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DEMO_EFFECTIVE_BATCH_SIZE",
    "DEMO_PROMPT",
    "DEMO_TARGET_SECONDS",
    "DEMO_TOKENS_PER_SECOND",
    "demo_data_path",
    "demo_dir",
    "demo_params",
    "demo_stats",
    "generate_sample",
    "materialize_demo_model",
]

# Plain-loop throughput of the demo model on 2 CPU cores with per-sample attention
# (measured, see the engine facts); used to size the demo to about a minute.
DEMO_TOKENS_PER_SECOND = 3000
DEMO_TARGET_SECONDS = 60
DEMO_EFFECTIVE_BATCH_SIZE = 16

DEMO_PROMPT = "What is the capital of France?"

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_MODEL_DONE_MARKER = "model.safetensors"


def demo_dir() -> Path:
    """The package folder that holds the demo assets."""
    return Path(__file__).resolve().parent


def demo_data_path() -> Path:
    """The demo chat dataset (JSONL, one ``{"messages": [...]}`` record per line)."""
    return demo_dir() / "chat.jsonl"


def demo_stats() -> dict[str, int]:
    """Token statistics of the demo dataset under the demo tokenizer and chat template."""
    stats: dict[str, int] = json.loads((demo_dir() / "stats.json").read_text())
    return stats


def _assets_digest(seed: int) -> str:
    digest = hashlib.sha256(f"seed={seed}\n".encode())
    for name in ("config.json", *_TOKENIZER_FILES):
        digest.update(name.encode() + b"\0" + (demo_dir() / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _default_cache_root() -> Path:
    return Path.home() / ".cache" / "training-hub"


def materialize_demo_model(target_dir: Path | None = None, seed: int = 0) -> Path:
    """Build the demo model from the shipped config and save it with the tokenizer.

    The folder defaults to ``~/.cache/training-hub/demo-model-<digest>``, where the
    digest covers the config, the tokenizer files and ``seed``. An existing, complete
    folder is reused as is; a new one is written to a temporary sibling first and
    renamed into place, so a crash or a concurrent call never leaves half a model.
    """
    if target_dir is None:
        target_dir = _default_cache_root() / f"demo-model-{_assets_digest(seed)}"
    target_dir = Path(target_dir).expanduser()
    if (target_dir / _MODEL_DONE_MARKER).is_file():
        return target_dir

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.tmp-", dir=target_dir.parent))
    try:
        config = AutoConfig.from_pretrained(demo_dir())
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call,unused-ignore]
        model.save_pretrained(tmp_dir)
        for name in _TOKENIZER_FILES:
            shutil.copyfile(demo_dir() / name, tmp_dir / name)
        try:
            os.rename(tmp_dir, target_dir)
        except OSError:
            # Another process finished first (or a partial folder is in the way).
            if not (target_dir / _MODEL_DONE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target_dir


def demo_params(output_dir: str, model_path: str | None = None) -> dict[str, Any]:
    """Training parameters (TrainingParams field names) for a ~1 minute CPU demo run.

    ``model_path`` defaults to :func:`materialize_demo_model` (which imports torch);
    pass a folder to keep this call light.
    """
    if model_path is None:
        model_path = str(materialize_demo_model())
    stats = demo_stats()
    tokens_per_step = stats["mean_tokens"] * DEMO_EFFECTIVE_BATCH_SIZE
    max_steps = round(DEMO_TARGET_SECONDS * DEMO_TOKENS_PER_SECOND / tokens_per_step)
    steps_per_epoch = -(-stats["num_samples"] // DEMO_EFFECTIVE_BATCH_SIZE)
    return {
        "model_path": model_path,
        "data_path": str(demo_data_path()),
        "ckpt_output_dir": output_dir,
        "num_epochs": -(-max_steps // steps_per_epoch),
        "max_steps": max_steps,
        "effective_batch_size": DEMO_EFFECTIVE_BATCH_SIZE,
        "max_tokens_per_gpu": 4096,
        "max_seq_len": 512,
        "learning_rate": 1e-3,
        "warmup_steps": 10,
        "lr_scheduler": "cosine",
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "num_threads": 2,
        "logging_steps": 5,
    }


def generate_sample(
    checkpoint: Path, prompt: str = DEMO_PROMPT, max_new_tokens: int = 40
) -> tuple[str, str]:
    """Ask a (trained) demo checkpoint ``prompt`` with greedy decoding; return (prompt, answer).

    The tokenizer is read from the checkpoint, or from the demo assets when the
    checkpoint folder holds none. Decoding stops at the end-of-turn token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = Path(checkpoint)
    has_tokenizer = (checkpoint / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint if has_tokenizer else demo_dir())
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    input_ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.no_grad():
        output = model.generate(
            input_ids,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    answer = tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
    return prompt, str(answer).strip()
