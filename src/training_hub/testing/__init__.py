"""Testing helpers for training-hub and for plugin authors.

- :mod:`training_hub.testing.dists`: write real plugin distributions (dist-info
  metadata with entry points) into a folder, or build and install them as wheels.
- :mod:`training_hub.testing.tiny`: tiny tokenizers, models and data sets built
  from config, for training tests that run in seconds on a CPU.
- :mod:`training_hub.testing.locks`: another process holding a run's output-folder lock.
- :mod:`training_hub.testing.contract`: the contract suite a plugin distribution
  runs against itself (``pytest -p training_hub.testing.contract``).
"""

__all__: list[str] = []
