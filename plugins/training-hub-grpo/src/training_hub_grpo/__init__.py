"""The grpo plugin distribution of training-hub: GRPO and LoRA-GRPO with reward functions."""

__all__: list[str] = []
