"""Every behaviour of the component-registry spec (generic Registry[T])."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from training_hub import Registry
from training_hub.registry import LOSSES, OPTIMIZERS, SCHEDULERS, component_registries


class BaseTrainer:
    def __init__(self, config: Any) -> None:
        self.config = config


def test_register_get_build_list() -> None:
    algorithms: Registry[BaseTrainer] = Registry("algorithms")

    @algorithms.register("dpo")
    class DPOTrainer(BaseTrainer):
        pass

    assert algorithms.get("dpo") is DPOTrainer
    assert algorithms.list() == ["dpo"]
    trainer = algorithms.build("dpo", config={"beta": 0.1})
    assert isinstance(trainer, DPOTrainer) and trainer.config == {"beta": 0.1}


def test_duplicate_registration_is_an_error() -> None:
    registry: Registry[object] = Registry("losses")
    registry.register("focal")(type("A", (), {}))
    with pytest.raises(ValueError, match="focal already registered in losses"):
        registry.register("focal")(type("B", (), {}))


def test_unknown_name_lists_available_with_hint() -> None:
    registry: Registry[object] = Registry("models")
    registry.register("llama")(type("Llama", (), {}))
    with pytest.raises(KeyError) as info:
        registry.get("gpt")
    assert "Unknown models: 'gpt'. Available: ['llama']. Did you forget to import the module?" \
        in str(info.value)


def test_config_validation_with_pydantic() -> None:
    algorithms: Registry[BaseTrainer] = Registry("algorithms")

    class DPOConfig(BaseModel):
        beta: float = 0.1
        label_smoothing: float = 0.0
        loss_type: str = "sigmoid"

    @algorithms.register("dpo", config_cls=DPOConfig)
    class DPOTrainer(BaseTrainer):
        def __init__(self, config: DPOConfig) -> None:
            self.beta = config.beta

    assert algorithms.build("dpo", config={"beta": 0.3}).beta == 0.3  # type: ignore[attr-defined]
    assert algorithms.build("dpo", beta=0.5).beta == 0.5  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        algorithms.build("dpo", config={"beta": "not a number"})


def test_class_and_instance_registration() -> None:
    registry: Registry[Any] = Registry("optimizers")
    shared = object()
    registry.register("singleton")(shared)
    registry.register("cls")(dict)
    assert registry.build("singleton") is shared
    assert registry.build("cls", a=1) == {"a": 1}


def test_nested_registries_built_from_yaml_config() -> None:
    losses: Registry[Any] = Registry("losses")
    trainers: Registry[Any] = Registry("algorithms")

    @losses.register("dpo")
    class DPOLoss:
        def __init__(self, name: str, beta: float, label_smoothing: float) -> None:
            self.beta = beta

    @trainers.register("dpo")
    class DPOTrainer:
        def __init__(self, config: dict[str, Any]) -> None:
            self.loss_fn = losses.build(config["loss"]["name"], **config["loss"])

    config = yaml.safe_load("""
algorithm:
  name: dpo
loss:
  name: dpo
  beta: 0.1
  label_smoothing: 0.0
""")
    trainer = trainers.build(config["algorithm"]["name"], config=config)
    assert isinstance(trainer.loss_fn, DPOLoss) and trainer.loss_fn.beta == 0.1


def test_one_registry_per_component_type() -> None:
    assert {"losses", "optimizers", "schedulers", "data_formats"} <= set(component_registries())
    assert len({id(LOSSES), id(OPTIMIZERS), id(SCHEDULERS)}) == 3
