"""Worker: train with TRL's SFTTrainer and print per-step figures.

Usage: ``python benchmarks/workers/trl_sft.py SPEC_JSON``. By default the
configuration is TRL's fastest on CPU for variable-length chat data (see
docs/benchmarks.md): ``padding_free=True`` without packing, ``max_length=None``;
``"padding_free": false`` in the spec gives plain padded batches. On CPU
``bf16=False``; on GPU (``"device": "cuda"``) bf16 with flash-attn when installed,
else SDPA. The data are pre-tokenized JSONL with ``input_ids`` and unshifted
``labels``. Real (non-padding) tokens of each step are counted in the data
collator; step times come from a callback. With ``"lora": {"r", "alpha",
"dropout", "target_modules"}`` the model trains peft LoRA adapters (TRL's
``peft_config``), as TRL's LoRA recipe does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit_worker_result

__all__ = ["main"]


def main() -> None:
    spec = json.loads(sys.argv[1])
    start = time.perf_counter()
    import torch

    torch.set_num_threads(spec["threads"])
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    records = [json.loads(line) for line in Path(spec["data_path"]).read_text().splitlines()]
    dataset = Dataset.from_list(records)
    tokenizer = AutoTokenizer.from_pretrained(spec["model_path"])
    on_gpu = spec.get("device", "cpu") == "cuda"
    model_kwargs: dict[str, Any] = {"dtype": torch.float32}
    if on_gpu:
        import importlib.util

        has_flash = importlib.util.find_spec("flash_attn") is not None
        model_kwargs["attn_implementation"] = "flash_attention_2" if has_flash else "sdpa"
    model = AutoModelForCausalLM.from_pretrained(spec["model_path"], **model_kwargs)
    config = SFTConfig(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=spec["batch_size"],
        gradient_accumulation_steps=spec.get("gradient_accumulation_steps", 1),
        num_train_epochs=1,
        learning_rate=spec["learning_rate"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        adam_beta1=0.9,
        adam_beta2=0.95,
        adam_epsilon=1e-8,
        max_grad_norm=1.0,
        seed=spec["seed"],
        bf16=on_gpu,
        padding_free=spec.get("padding_free", True),
        packing=False,
        max_length=None,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=not on_gpu,
        gradient_checkpointing=spec.get("gradient_checkpointing", False),
    )

    step_ends: list[float] = []
    batch_tokens: list[int] = []

    class StepClock(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step_ends.clear()
            self.begin = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if on_gpu:
                torch.cuda.synchronize()
            step_ends.append(time.perf_counter() - self.begin)

    peft_config = None
    if spec.get("lora"):
        from peft import LoraConfig

        lora = spec["lora"]
        peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"],
                                 lora_dropout=lora["dropout"],
                                 target_modules=lora["target_modules"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=[StepClock()],
                         peft_config=peft_config)
    collate = trainer.data_collator

    def counting_collator(examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = collate(examples)
        mask = batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
        batch_tokens.append(real)
        return batch

    trainer.data_collator = counting_collator
    train_start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    steps = len(step_ends)
    accumulation = config.gradient_accumulation_steps
    per_step = [sum(batch_tokens[i * accumulation:(i + 1) * accumulation]) for i in range(steps)]
    cumulative = [sum(per_step[: i + 1]) for i in range(steps)]
    emit_worker_result({
        "tokens": cumulative,
        "seconds": step_ends,
        "losses": losses,
        "extra": {"peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
                  "wall_s": total, "setup_s": train_start - start, "steps": steps,
                  "batches_collated": len(batch_tokens)},
    })


if __name__ == "__main__":
    main()
