"""The osft plugin distribution of training-hub: OSFTAlgorithm and its native backend."""

__all__: list[str] = []
