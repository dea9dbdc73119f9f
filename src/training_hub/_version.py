"""The version of the training-hub core distribution."""

__all__ = ["__version__"]

__version__ = "0.1.0"
