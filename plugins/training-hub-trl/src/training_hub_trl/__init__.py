"""The trl plugin distribution of training-hub: sft and dpo on Hugging Face TRL."""

__all__: list[str] = []
