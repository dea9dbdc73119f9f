"""``LoRAModelAdapter``: the engine's model adapter that trains peft LoRA layers.

The recipe calls it like every adapter (see ``training_hub.engine.adapter``):
``prepare`` wraps the loaded model with ``peft.get_peft_model`` (after reloading
it in 4-bit for QLoRA), only the adapter matrices are trainable, each checkpoint
holds the adapter in peft format (``adapter_config.json`` +
``adapter_model.safetensors``), ``merged/`` adds the merged full model when
asked, and ``load_checkpoint`` restores the adapter for resuming.

peft and torch are imported here; this module is only imported when training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from peft.utils import load_peft_weights

from training_hub._errors import ParameterError, TrainingError
from training_hub.engine.adapter import ModelAdapter

if TYPE_CHECKING:
    from .algorithm import LoRAParams

__all__ = [
    "ADAPTER_NAME",
    "MERGED_DIRNAME",
    "LoRAModelAdapter",
    "build_lora_config",
    "merged_state_dict",
    "save_merged_model",
]

ADAPTER_NAME = "default"
#: Sub-folder of a checkpoint holding the merged full model (``merge_adapter=True``).
MERGED_DIRNAME = "merged"


def build_lora_config(params: LoRAParams) -> LoraConfig:
    """peft's ``LoraConfig`` for a causal LM from our parameters (no bias training)."""
    return LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def merged_state_dict(peft_model: Any) -> dict[str, torch.Tensor]:
    """The base model's state dict (original key names, on CPU) with every LoRA update added.

    Built without copying the model: base weights are read, ``W + scale * B @ A``
    is computed layer by layer. The result loads into the plain base architecture.
    """
    base = peft_model.get_base_model()
    state: dict[str, torch.Tensor] = {}
    for key, tensor in base.state_dict().items():
        if ".lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = tensor.detach().to("cpu", copy=True)
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and ADAPTER_NAME in module.lora_A:
            key = f"{name}.weight"
            delta = module.get_delta_weight(ADAPTER_NAME).detach().to("cpu", state[key].dtype)
            state[key] = state[key] + delta
    return state


def _save_merged(peft_model: Any, folder: Path, tokenizer_source: Path | None) -> Path:
    base = peft_model.get_base_model()
    config = base.config
    previous_use_cache = getattr(config, "use_cache", None)
    config.use_cache = True  # a merged model is for inference
    try:
        base.save_pretrained(folder, state_dict=merged_state_dict(peft_model))
    finally:
        config.use_cache = previous_use_cache
    if tokenizer_source is not None:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)
    return folder


def save_merged_model(
    adapter_dir: str | Path,
    output_dir: str | Path,
    *,
    base_model_path: str | Path | None = None,
) -> Path:
    """Merge a saved adapter (a lora checkpoint) into its base model and save a full HF model.

    The base model is read in fp32 from ``base_model_path`` (default: the
    ``base_model_name_or_path`` recorded in ``adapter_config.json``). Use it for
    QLoRA or multi-GPU runs, whose checkpoints hold the adapter only.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir = Path(adapter_dir)
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise ParameterError(
            f"'{adapter_dir}' holds no adapter_config.json: pass a lora checkpoint folder "
            "(<ckpt_output_dir>/checkpoints/step-<N>)."
        )
    base_path = base_model_path or json.loads(config_file.read_text())["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(adapter_dir))
    output = Path(output_dir)
    _save_merged(peft_model, output, tokenizer_source=None)
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    tokenizer_source = adapter_dir if has_tokenizer else base_path
    AutoTokenizer.from_pretrained(str(tokenizer_source)).save_pretrained(output)
    return output


class LoRAModelAdapter(ModelAdapter):
    """Wraps the model with LoRA layers; only they train; checkpoints hold the adapter."""

    name = "lora"

    def __init__(self, params: LoRAParams) -> None:
        self.params = params
        #: The peft model after ``prepare`` (kept so callers can inspect the trained model).
        self.model: Any = None

    def prepare(self, model: Any) -> Any:
        if self.params.load_in_4bit or self.params.load_in_8bit:
            model = self._reload_in_4bit(model)
        try:
            peft_model = get_peft_model(model, build_lora_config(self.params))
        except ValueError as exc:
            raise ParameterError(
                f"Cannot add LoRA layers to '{self.params.model_path}' with target_modules="
                f"{self.params.target_modules}: {exc}. Name linear layers of this model "
                "(e.g. q_proj, v_proj; see print(model))."
            ) from exc
        self.model = peft_model
        return peft_model

    def trainable_parameters(self, model: Any) -> Iterable[torch.nn.Parameter]:
        return [p for name, p in model.named_parameters() if ".lora_" in name]

    def export_model(self, model: Any) -> Any:
        """The peft model: its ``save_pretrained`` writes the adapter in peft format."""
        return model

    def save_extra(self, model: Any, folder: Path) -> None:
        if self.params.merge_adapter:
            _save_merged(model, folder / MERGED_DIRNAME, tokenizer_source=folder)

    def load_checkpoint(self, model: Any, folder: Path) -> None:
        if not (folder / "adapter_model.safetensors").is_file():
            raise TrainingError(
                f"Checkpoint '{folder}' holds no adapter_model.safetensors: it was not written "
                "by the lora algorithm. Resume from a lora checkpoint or start fresh."
            )
        weights = load_peft_weights(str(folder), device="cpu")
        result = set_peft_model_state_dict(model, weights, adapter_name=ADAPTER_NAME)
        expected = {n for n, _ in model.named_parameters() if ".lora_" in n}
        if result.unexpected_keys or len(weights) != len(expected):
            raise TrainingError(
                f"The adapter of checkpoint '{folder}' does not match this model's LoRA layers "
                f"({len(weights)} tensors saved, {len(expected)} expected; unexpected "
                f"{list(result.unexpected_keys)[:5]}). Resume with the same model_path, "
                "lora_r and target_modules."
            )

    def _reload_in_4bit(self, model: Any) -> Any:
        """QLoRA: the frozen base in 4-bit (bnb_4bit_* settings; default NF4, bf16 compute) or
        8-bit (load_in_8bit) on this process's GPU."""
        import os

        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        p = self.params
        quantization = (
            BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=p.bnb_4bit_quant_type,
                bnb_4bit_use_double_quant=p.bnb_4bit_use_double_quant,
                bnb_4bit_compute_dtype=getattr(torch, p.bnb_4bit_compute_dtype),
            )
            if p.load_in_4bit
            else BitsAndBytesConfig(load_in_8bit=True)
        )
        quantized = AutoModelForCausalLM.from_pretrained(
            self.params.model_path,
            quantization_config=quantization,
            device_map={"": local_rank},
            attn_implementation=model.config._attn_implementation,
            trust_remote_code=self.params.trust_remote_code,
        )
        quantized.config.use_cache = False
        del model
        return prepare_model_for_kbit_training(
            quantized,
            use_gradient_checkpointing=self.params.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
