"""The sft plugin distribution of training-hub: SFTAlgorithm and its native backend."""

__all__: list[str] = []
