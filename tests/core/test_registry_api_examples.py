"""Every example of the registry API spec (docs: registry-api), run against this package."""

from __future__ import annotations

from typing import Any

import pytest

from training_hub import Algorithm, AlgorithmRegistry, Backend, create_algorithm

from .conftest import AddDist


class MyTrainingBackend(Backend):
    def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
        print(f"Training with custom backend: {algorithm_params}")
        return {"status": "success"}


class MyFineTuningAlgorithm(Algorithm):
    def __init__(self, backend: Backend, **kwargs: Any) -> None:
        self.backend = backend
        self.kwargs = kwargs

    def train(self, **kwargs: Any) -> Any:
        params = {**self.kwargs, **kwargs}
        return self.backend.execute_training(params)

    def get_required_params(self) -> dict[str, type]:
        return {"model_path": str, "data_path": str, "output_dir": str}

    def get_optional_params(self) -> dict[str, type]:
        return {"num_epochs": int, "batch_size": int}


@pytest.fixture
def registry(plugin_site: AddDist) -> None:
    """A registry that sees the first-party plugins installed in this environment."""


def test_register_custom_algorithm_and_backend(
    registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    AlgorithmRegistry.register_algorithm("myft", MyFineTuningAlgorithm)
    AlgorithmRegistry.register_backend("myft", "my_backend", MyTrainingBackend)
    assert AlgorithmRegistry.list_algorithms()[-1] == "myft"
    assert AlgorithmRegistry.list_backends("myft") == ["my_backend"]
    algo = create_algorithm("myft", backend_name="my_backend")
    result = algo.train(model_path="./model", data_path="./data.jsonl", output_dir="./output")
    assert result == {"status": "success"}
    assert "Training with custom backend: {'model_path': './model'" in capsys.readouterr().out


def test_register_backend_for_unknown_algorithm_raises_value_error(registry: None) -> None:
    with pytest.raises(ValueError, match="not registered"):
        AlgorithmRegistry.register_backend("nope", "b", MyTrainingBackend)


def test_register_backend_overwrites(registry: None) -> None:
    class Other(MyTrainingBackend):
        def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
            return "other"

    AlgorithmRegistry.register_algorithm("myft", MyFineTuningAlgorithm)
    AlgorithmRegistry.register_backend("myft", "my_backend", MyTrainingBackend)
    AlgorithmRegistry.register_backend("myft", "my_backend", Other)
    assert AlgorithmRegistry.get_backend("myft", "my_backend") is Other


def test_get_algorithm_and_backend_errors_are_value_errors(registry: None) -> None:
    with pytest.raises(ValueError, match="Unknown algorithm 'nope'"):
        AlgorithmRegistry.get_algorithm("nope")
    AlgorithmRegistry.register_algorithm("myft", MyFineTuningAlgorithm)
    with pytest.raises(ValueError, match=r"no backend 'x'.*Installed backends: \[\]"):
        AlgorithmRegistry.get_backend("myft", "x")


def test_get_sft_from_installed_plugin(registry: None) -> None:
    sft_class = AlgorithmRegistry.get_algorithm("sft")
    assert str(sft_class) == "<class 'training_hub_sft.algorithm.SFTAlgorithm'>"
    assert "native" in AlgorithmRegistry.list_backends("sft")


def test_discovering_available_algorithms(
    registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    print("Available algorithms:")
    for algo_name in AlgorithmRegistry.list_algorithms():
        backends = AlgorithmRegistry.list_backends(algo_name)
        print(f"  {algo_name}: backends={backends}")
    out = capsys.readouterr().out
    assert "  sft: backends=['native'" in out


def test_dynamic_algorithm_selection(registry: None) -> None:
    AlgorithmRegistry.register_algorithm("myft", MyFineTuningAlgorithm)
    AlgorithmRegistry.register_backend("myft", "my_backend", MyTrainingBackend)

    def train_with_algorithm(algo_name: str, **kwargs: Any) -> Any:
        available = AlgorithmRegistry.list_algorithms()
        if algo_name not in available:
            raise ValueError(f"Unknown algorithm: {algo_name}. Available: {available}")
        algorithm = create_algorithm(algo_name)
        return algorithm.train(**kwargs)

    assert train_with_algorithm("myft", model_path="./m") == {"status": "success"}
    with pytest.raises(ValueError, match="Unknown algorithm: zzz"):
        train_with_algorithm("zzz")


def test_generic_training_framework(registry: None, capsys: pytest.CaptureFixture[str]) -> None:
    class GenericTrainingFramework:
        def __init__(self) -> None:
            self.supported_algorithms = AlgorithmRegistry.list_algorithms()

        def get_algorithm_info(self, algo_name: str) -> dict[str, Any]:
            if algo_name not in self.supported_algorithms:
                raise ValueError(f"Unsupported algorithm: {algo_name}")
            algo_class = AlgorithmRegistry.get_algorithm(algo_name)
            backends = AlgorithmRegistry.list_backends(algo_name)
            temp_algo = create_algorithm(algo_name)
            return {
                "name": algo_name,
                "class": algo_class.__name__,
                "backends": backends,
                "required_params": temp_algo.get_required_params(),
                "optional_params": temp_algo.get_optional_params(),
            }

        def list_capabilities(self) -> None:
            print("Training Framework Capabilities:")
            print(f"Supported algorithms: {self.supported_algorithms}")
            for algo_name in self.supported_algorithms:
                info = self.get_algorithm_info(algo_name)
                print(f"\n{algo_name}:")
                print(f"  Backends: {info['backends']}")
                print(f"  Required params: {list(info['required_params'].keys())}")

    framework = GenericTrainingFramework()
    framework.list_capabilities()
    out = capsys.readouterr().out
    assert "sft:\n  Backends: ['native'" in out
    assert "Required params: ['model_path', 'data_path', 'ckpt_output_dir']" in out
    info = framework.get_algorithm_info("sft")
    assert info["class"] == "SFTAlgorithm"
    assert info["optional_params"]["learning_rate"] is float


def test_checking_availability(registry: None) -> None:
    def is_algorithm_available(algo_name: str) -> bool:
        return algo_name in AlgorithmRegistry.list_algorithms()

    def is_backend_available(algo_name: str, backend_name: str) -> bool:
        try:
            return backend_name in AlgorithmRegistry.list_backends(algo_name)
        except ValueError:
            return False

    assert is_algorithm_available("sft")
    assert is_backend_available("sft", "native")
    assert not is_backend_available("sft", "nope")
    assert not is_backend_available("no-such-algorithm", "native")
