"""The model card (README.md) of the checkpoints the TRL backends save, as the native
engine writes it (training_hub.engine.model_card): base model, algorithm and backend,
parameters, hash and size of the training data, final and validation losses, version.

:func:`card_writer` is attached to the trainer (``training_hub_card``); the trainer's
``save_model`` (runtime.inference_config_on_save) calls it on every folder it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from training_hub.engine.model_card import CardFacts, data_facts, write_model_card
from training_hub.hub import is_hub_id
from training_hub.training_params import TrainingParams

__all__ = ["card_writer"]


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    values = [entry[key] for entry in history if isinstance(entry.get(key), (int, float))]
    return float(values[-1]) if values else None


def card_writer(
    given: TrainingParams, used: TrainingParams, names: tuple[str, str], samples: int,
) -> Callable[[str | Path, Any], Path]:
    """A function ``(folder, trainer_state) -> README path`` for this run.

    ``given`` is the schema as the user gave it (Hub ids), ``used`` the one with local
    paths (training_hub.hub.resolve_inputs), ``samples`` the number of training samples.
    """
    hub_data = given.data_path if is_hub_id(given.data_path, data=True) else None
    data = data_facts(given.data_path, used.data_path, samples, hub_id=hub_data,
                      subset=given.data_subset, split=given.data_split,
                      revision=given.data_revision)
    from training_hub import __version__

    def write(folder: str | Path, state: Any) -> Path:
        history = list(getattr(state, "log_history", []) or [])
        facts = CardFacts(
            base_model=given.model_path, base_model_is_hub_id=is_hub_id(given.model_path),
            algorithm=names[0], backend=names[1], version=__version__,
            step=int(state.global_step), epoch=int(state.epoch or 0), data=data,
            final_loss=_last(history, "loss"), val_loss=_last(history, "eval_loss"),
            params=given.to_dict(),
        )
        return write_model_card(folder, facts)

    return write
