"""``python -m training_hub.cli``: the ``th`` command, for environments without its script."""

from training_hub.cli import main

main()
