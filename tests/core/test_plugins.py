"""Plugin discovery through real distributions with real entry points."""

from __future__ import annotations

import logging
import sys

import pytest

import training_hub
from training_hub import AlgorithmRegistry, create_algorithm
from training_hub._errors import AlgorithmNotFoundError, BackendUnavailableError, PluginError

from .conftest import PLUGIN_HEADER, AddDist

ALGO_PLUGIN = PLUGIN_HEADER + """
class ZAlgo(Algorithm):
    default_backend = "fast"
    def train(self, **kw): return self.backend.execute_training(kw)
    def get_required_params(self): return {}
    def get_optional_params(self): return {}

class Fast(Backend):
    def execute_training(self, p): return ("fast", p)

@hookimpl
def register_algorithms(register):
    register("zalgo", ZAlgo)

@hookimpl
def register_backends(register):
    register("zalgo", "fast", Fast)
    register("zalgo", "lazy", "zheavy:HeavyBackend")
"""

HEAVY = PLUGIN_HEADER + """
class HeavyBackend(Backend):
    def execute_training(self, p): return ("heavy", p)
"""


def _install_zalgo(add: AddDist) -> None:
    add("zalgo-dist", "2.3", entry_points={"zalgo": "zplug"},
        modules={"zplug.py": ALGO_PLUGIN, "zheavy.py": HEAVY})


def test_discovered_lazily_and_trains(plugin_site: AddDist) -> None:
    _install_zalgo(plugin_site)
    assert "zalgo" in AlgorithmRegistry.list_algorithms()
    assert "zplug" not in sys.modules, "listing algorithms must not import plugin modules"
    assert AlgorithmRegistry.list_backends("zalgo") == ["fast", "lazy"]
    assert "zplug" in sys.modules
    assert "zheavy" not in sys.modules, "import-string backends load only when used"
    assert create_algorithm("zalgo").train(x=1) == ("fast", {"x": 1})
    assert create_algorithm("zalgo", backend_name="lazy").train() == ("heavy", {})
    assert "zheavy" in sys.modules


def test_only_entry_points_of_the_looked_up_name_are_imported(plugin_site: AddDist) -> None:
    _install_zalgo(plugin_site)
    plugin_site("other-dist", entry_points={"other": "otherplug"},
                modules={"otherplug.py": "raise RuntimeError('must not be imported')"})
    AlgorithmRegistry.get_algorithm("zalgo")
    assert "otherplug" not in sys.modules


def test_plugin_failing_at_import_is_reported_once_and_isolated(
    plugin_site: AddDist, caplog: pytest.LogCaptureFixture
) -> None:
    _install_zalgo(plugin_site)
    plugin_site("broken-dist", "0.9", entry_points={"zalgo": "brokenplug", "brk": "brokenplug"},
                modules={"brokenplug.py": "import does_not_exist_anywhere\n"})
    with caplog.at_level(logging.WARNING, logger="training_hub"):
        assert AlgorithmRegistry.list_backends("zalgo") == ["fast", "lazy"]
        with pytest.raises(PluginError, match=r"broken-dist 0.9.*does_not_exist_anywhere"):
            AlgorithmRegistry.get_algorithm("brk")
    lines = [r.getMessage() for r in caplog.records if "broken-dist" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "ModuleNotFoundError" in lines[0] and "0.9" in lines[0]


def test_plugin_whose_hook_raises_registers_nothing(plugin_site: AddDist) -> None:
    source = PLUGIN_HEADER + """
class A(Algorithm):
    def train(self, **kw): return 1
    def get_required_params(self): return {}
    def get_optional_params(self): return {}

@hookimpl
def register_algorithms(register):
    register("halfway", A)
    raise ValueError("hook exploded")
"""
    plugin_site("hook-dist", entry_points={"halfway": "hookplug"},
                modules={"hookplug.py": source})
    with pytest.raises(PluginError, match="hook exploded"):
        AlgorithmRegistry.get_algorithm("halfway")


def test_conflicting_backends_are_deterministic_and_visible(plugin_site: AddDist) -> None:
    _install_zalgo(plugin_site)
    for dist in ("b-rival", "a-rival"):
        mod = dist.replace("-", "_")
        plugin_site(dist, entry_points={"zalgo": mod}, modules={f"{mod}.py": PLUGIN_HEADER + f"""
class B(Backend):
    def execute_training(self, p): return "{dist}"

@hookimpl
def register_backends(register):
    register("zalgo", "fast", B)
    register("zalgo", "shared", B)
"""})
    # The distribution that defines the algorithm wins its own backend name...
    assert create_algorithm("zalgo", backend_name="fast").train() == ("fast", {})
    # ...otherwise the alphabetically first distribution wins, whatever the install order.
    assert create_algorithm("zalgo", backend_name="shared").train() == "a-rival"
    lines = [c.line for c in AlgorithmRegistry.conflicts()]
    assert "backend 'zalgo/fast': zalgo-dist 2.3 wins over a-rival 1.0, b-rival 1.0" in lines
    assert "backend 'zalgo/shared': a-rival 1.0 wins over b-rival 1.0" in lines


def test_code_registration_overrides_plugins(plugin_site: AddDist) -> None:
    _install_zalgo(plugin_site)

    class Mine(training_hub.Backend):
        def execute_training(self, p: dict) -> str:  # type: ignore[type-arg]
            return "mine"

    AlgorithmRegistry.register_backend("zalgo", "fast", Mine)
    assert create_algorithm("zalgo", backend_name="fast").train() == "mine"


def test_block_list_allow_list_and_disabled_autoload(
    plugin_site: AddDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_zalgo(plugin_site)
    monkeypatch.setenv("TRAINING_HUB_BLOCK_PLUGINS", "Zalgo_Dist")
    AlgorithmRegistry.reset()
    assert "zalgo" not in AlgorithmRegistry.list_algorithms()
    with pytest.raises(AlgorithmNotFoundError):
        AlgorithmRegistry.get_algorithm("zalgo")

    monkeypatch.delenv("TRAINING_HUB_BLOCK_PLUGINS")
    monkeypatch.setenv("TRAINING_HUB_PLUGINS", "zalgo-dist:zalgo")
    AlgorithmRegistry.reset()
    assert AlgorithmRegistry.list_algorithms() == ["zalgo"]

    monkeypatch.delenv("TRAINING_HUB_PLUGINS")
    monkeypatch.setenv("TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD", "1")
    AlgorithmRegistry.reset()
    assert AlgorithmRegistry.list_algorithms() == []
    training_hub.register_plugin(sys.modules.get("zplug") or _import_zplug(), "by-hand")
    assert AlgorithmRegistry.list_backends("zalgo") == ["fast", "lazy"]


def _import_zplug() -> object:
    import importlib

    return importlib.import_module("zplug")


def test_incompatible_api_version_is_refused(plugin_site: AddDist) -> None:
    # (a missing declaration loads as API 1 with a notice: test_plugin_api_version.py)
    plugin_site("future-dist", "5.0", entry_points={"fut": "futplug"},
                modules={"futplug.py": "TRAINING_HUB_PLUGIN_API = 99\n"})
    with pytest.raises(PluginError, match=r"future-dist 5.0.*plugin API 99"):
        AlgorithmRegistry.get_algorithm("fut")


def test_backend_with_missing_library_is_listed_but_unavailable(plugin_site: AddDist) -> None:
    source = PLUGIN_HEADER + """
@hookimpl
def register_backends(register):
    register("zalgo", "needs-lib", "nowhere:Nothing", requires=["surely-not-installed>=1"])
"""
    _install_zalgo(plugin_site)
    plugin_site("needy", entry_points={"zalgo": "needyplug"}, modules={"needyplug.py": source})
    assert "needs-lib" in AlgorithmRegistry.list_backends("zalgo")
    problem = AlgorithmRegistry.backend_entry("zalgo", "needs-lib").problem()
    assert problem and "pip install 'surely-not-installed>=1'" in problem
    with pytest.raises(BackendUnavailableError, match="pip install"):
        AlgorithmRegistry.get_backend("zalgo", "needs-lib")


def test_backend_only_distribution_without_defining_one(plugin_site: AddDist) -> None:
    source = PLUGIN_HEADER + """
class B(Backend):
    def execute_training(self, p): return 0

@hookimpl
def register_backends(register):
    register("orphan", "x", B)
"""
    plugin_site("orphan-backend", entry_points={"orphan": "orphplug"},
                modules={"orphplug.py": source})
    assert "orphan" in AlgorithmRegistry.list_algorithms()
    with pytest.raises(AlgorithmNotFoundError, match="only add backends"):
        AlgorithmRegistry.get_algorithm("orphan")


def test_components_registered_by_plugins(plugin_site: AddDist) -> None:
    source = PLUGIN_HEADER + """
class Focal:
    def __init__(self, gamma=2.0): self.gamma = gamma

@hookimpl
def register_components(register):
    register("losses", "focal_test", Focal)
"""
    plugin_site("loss-dist", entry_points={"lossy": "lossplug"}, modules={"lossplug.py": source})
    from training_hub.registry import LOSSES

    assert LOSSES.build("focal_test", gamma=3.0).gamma == 3.0
    LOSSES.unregister("focal_test")
