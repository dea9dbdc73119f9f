"""The mini-trainer backend for training-hub's ``osft`` algorithm."""

__all__: list[str] = []
