"""``result["model"]``: training_hub 0.11.2's dictionary access to what a run returns.

The peer's ``lora_sft`` returned ``{"model", "tokenizer", "trainer"}`` and its
documentation reads ``result["model"]``. A native run returns a ``TrainResult``
whose ``result[key]`` gives ``"model"`` and ``"tokenizer"`` (loaded from the last
checkpoint on first use: a peft model for adapters) and every field by name
(``result["final_loss"]``). There is no trainer object to return.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

__all__ = ["PEER_RESULT_KEYS", "result_item"]

#: The keys of training_hub 0.11.2's lora_sft result this project gives.
PEER_RESULT_KEYS = ("model", "tokenizer")


def _checkpoint(result: Any, key: str) -> Path:
    if not result.last_checkpoint:
        raise KeyError(
            f"result[{key!r}]: this run saved no checkpoint to load the {key} from "
            "(save_final_checkpoint=False?)"
        )
    return Path(result.last_checkpoint)


def _load_model(folder: Path) -> Any:
    if (folder / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(folder)
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder)


def result_item(result: Any, key: str) -> Any:
    """``result[key]`` of a TrainResult (see the module docstring); cached per key."""
    names = {f.name for f in fields(result)}
    if key in names:
        return getattr(result, key)
    if key not in PEER_RESULT_KEYS:
        hint = (" The native engine has no trainer object: the run's state is in "
                "result.last_checkpoint." if key == "trainer" else "")
        raise KeyError(
            f"{key!r}: a training result has {', '.join(PEER_RESULT_KEYS)} and its fields "
            f"{', '.join(sorted(names))}.{hint}"
        )
    cache: dict[str, Any] = result.__dict__.setdefault("_loaded", {})
    if key not in cache:
        folder = _checkpoint(result, key)
        if key == "model":
            cache[key] = _load_model(folder)
        else:
            from transformers import AutoTokenizer

            cache[key] = AutoTokenizer.from_pretrained(folder)
    return cache[key]
