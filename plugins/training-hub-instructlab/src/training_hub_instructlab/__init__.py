"""The instructlab-training backend for training-hub's ``sft`` algorithm."""

__all__: list[str] = []
