"""The lora plugin distribution of training-hub: LoRA/QLoRA adapters on the native engine."""

__all__: list[str] = []
