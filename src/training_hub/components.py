"""The components a run chooses by name, what the engine calls them with, and the built-in ones.

Four registries of ``training_hub.registry`` feed the native engine; the
parameter of the same meaning selects one entry by name (Python keyword, CLI
flag, config-file key; ``th info ALGORITHM`` lists the installed names):

=================  ==================  ======================================
registry           parameter           built in
=================  ==================  ======================================
``optimizers``     ``optimizer``       ``adamw``
``schedulers``     ``lr_scheduler``    ``constant``, ``linear``, ``cosine``
``losses``         ``loss``            ``cross_entropy``
``data_formats``   ``data_format``     ``chat``, ``document``, ``tokenized``
=================  ==================  ======================================

A plugin adds one with ``register("optimizers", "sgd", component)`` in its
``register_components`` hook. ``component`` is an object, a class, or (best: it
imports nothing until a run uses it) an import path ``"pkg.module:attr"``. The
engine calls ``registry.build(name)`` once per run: a function or instance is
used as it is, a class is instantiated with no arguments. The result must follow
the protocol below. Components read their settings from ``params``, the run's
validated parameter schema (a :class:`~training_hub.training_params.TrainingParams`).

This module is itself the built-in plugin: the core registers its own
components through the same ``register_components`` hook. It imports nothing
heavy; the implementations live in the engine and are imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .hookspecs import RegisterComponent, hookimpl

if TYPE_CHECKING:
    import torch

    from .training_params import TrainingParams

__all__ = [
    "AUTO_DATA_FORMAT",
    "COMPONENT_PARAMETERS",
    "DataFormat",
    "LMHead",
    "LossFunction",
    "OptimizerFactory",
    "SchedulerFactory",
    "check_component",
    "component_choices",
    "register_components",
]

TRAINING_HUB_PLUGIN_API = 1

#: Parameter name -> the registry its value is looked up in.
COMPONENT_PARAMETERS = {
    "optimizer": "optimizers",
    "lr_scheduler": "schedulers",
    "loss": "losses",
    "data_format": "data_formats",
}
#: ``data_format`` value that picks the format of the first record (see DataFormat.detect_field).
AUTO_DATA_FORMAT = "auto"


class OptimizerFactory(Protocol):
    """``optimizers``: builds the run's optimizer.

    ``parameters`` are the trainable parameters (``requires_grad``), already on the
    training device (sharded DTensors under FSDP2). Use ``params.learning_rate``
    as the peak learning rate: the scheduler scales it. The optimizer's state is
    saved in checkpoints and restored on resume (``state_dict``/``load_state_dict``).
    """

    def __call__(
        self, parameters: list[torch.nn.Parameter], params: TrainingParams
    ) -> torch.optim.Optimizer: ...


class SchedulerFactory(Protocol):
    """``schedulers``: builds the learning-rate scheduler of ``optimizer``.

    The engine calls ``scheduler.step()`` once after every optimizer step and logs
    ``scheduler.get_last_lr()[0]`` as ``lr`` in metrics.jsonl (the rate that step
    used). ``total_steps`` is the number of optimizer steps of the whole run;
    ``params.warmup_steps`` is the warmup the user asked for. Its state is saved
    in checkpoints (``state_dict``/``load_state_dict``).
    """

    def __call__(
        self, optimizer: torch.optim.Optimizer, params: TrainingParams, total_steps: int
    ) -> torch.optim.lr_scheduler.LRScheduler: ...


class LMHead(Protocol):
    """What a loss receives of the model's output layer (``training_hub.engine.loss.LMHead``)."""

    module: torch.nn.Module  # the LM head (hidden size -> vocabulary)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 logits ``[rows, vocab]`` of ``hidden`` ``[rows, hidden_size]``, with the
        model's logit scale and soft-capping applied."""
        ...


class LossFunction(Protocol):
    """``losses``: the training loss of one micro-batch, as a SUM over its loss tokens.

    ``hidden`` ``[N, hidden_size]`` are the decoder's last hidden states at the N
    positions that carry a label, ``targets`` ``[N]`` (int64) the token each of them
    must predict, ``head`` the LM head (``head.logits(hidden)`` gives ``[N, vocab]``).
    Return a scalar: the sum over the N rows. The engine divides by the number of
    loss tokens of the whole optimizer step (all micro-batches and ranks), so the
    logged ``loss`` is the token mean of whatever the function sums.
    """

    def __call__(
        self, hidden: torch.Tensor, targets: torch.Tensor, head: LMHead
    ) -> torch.Tensor: ...


class DataFormat(Protocol):
    """``data_formats``: turns the records of a training file into token samples.

    Records are the JSON objects of a .jsonl/.json file or the rows of a .parquet
    file. First every record is checked with :meth:`problem` (all problems are
    reported together, with file and line), then :meth:`to_samples` tokenizes them
    in batches. The instance must be picklable: with many records, spawned worker
    processes tokenize. The tokens are cached on disk by file content, tokenizer and
    options; change ``version`` when a change of the format changes its tokens.
    """

    #: A field only this format's records have: data_format='auto' picks the format
    #: whose field the first record has (None: chosen by name only).
    detect_field: str | None
    #: Part of the cache key of tokenized data.
    version: str

    def problem(self, record: dict[str, Any], *, vocab_size: int | None) -> str | None:
        """What is wrong with ``record`` in one sentence (None when it is fine)."""
        ...

    def to_samples(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        *,
        unmask: bool,
        locations: Sequence[str],
    ) -> list[tuple[Sequence[int], Sequence[int]]]:
        """One ``(input_ids, labels)`` pair per record, in order.

        ``labels`` has the length of ``input_ids`` and follows the Hugging Face
        convention: ``labels[t]`` is token ``t`` itself when it is trained on, -100
        when it carries no loss; the engine shifts them. ``unmask`` is the run's
        parameter (train on every token); ``locations[i]`` names record ``i`` for
        error messages (``train.jsonl:12``). Samples longer than ``max_seq_len`` are
        refused or cut by the engine afterwards.
        """
        ...


def component_choices(registry_name: str) -> list[str]:
    """The names a parameter backed by ``registry_name`` accepts (loads the plugins)."""
    from .registry import component_registries

    names = component_registries()[registry_name].list()
    return [AUTO_DATA_FORMAT, *names] if registry_name == "data_formats" else names


def check_component(parameter: str, value: str) -> str:
    """``value`` when the registry of ``parameter`` has it; else a ValueError listing the
    installed names (the schema's validators call this; nothing heavy is imported)."""
    from .registry import component_registries

    registry_name = COMPONENT_PARAMETERS[parameter]
    if parameter == "data_format" and value == AUTO_DATA_FORMAT:
        return value
    if component_registries()[registry_name].has(value):
        return value
    raise ValueError(
        f"{parameter}={value!r} is not installed; the installed {registry_name} are "
        f"{', '.join(repr(n) for n in component_choices(registry_name))}. A plugin adds one "
        "with register_components (docs/plugin-system.md)"
    )


_SCHEDULES = ("constant", "linear", "cosine")


@hookimpl
def register_components(register: RegisterComponent) -> None:
    """The core's components (import paths: nothing heavy is imported to list them)."""
    register("optimizers", "adamw", "training_hub.engine.optim:adamw")
    for schedule in _SCHEDULES:
        register("schedulers", schedule, f"training_hub.engine.optim:{schedule}_schedule")
    register("losses", "cross_entropy", "training_hub.engine.loss:cross_entropy")
    for data_format in ("chat", "document", "tokenized"):
        register(
            "data_formats", data_format, f"training_hub.engine.data.formats:{data_format.upper()}"
        )
    # training_hub 0.11.2's lora_sft records (dataset_type='alpaca'); engine/data/peer.py
    register("data_formats", "alpaca", "training_hub.engine.data.peer:ALPACA")
