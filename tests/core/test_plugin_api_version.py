"""A plugin that declares no TRAINING_HUB_PLUGIN_API is loaded as API 1 with a notice (in
``th doctor``, in ``th list --json``, also when ``th list`` replays it from its cache);
one that declares an unsupported version is refused. Real distributions throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub import AlgorithmRegistry, PluginError
from training_hub.testing.dists import write_distribution

from .conftest import AddDist
from .test_plugin_cache import PLUGIN, Env

UNDECLARED = """
from training_hub import hookimpl, Algorithm, Backend

class Quiet(Algorithm):
    def train(self, **kw): return self.backend.execute_training(kw)
    def get_required_params(self): return {}
    def get_optional_params(self): return {}

class Plain(Backend):
    def execute_training(self, p): return ("plain", p)

@hookimpl
def register_algorithms(register):
    register("quiet", Quiet, default_backend="plain")

@hookimpl
def register_backends(register):
    register("quiet", "plain", Plain)
"""


def _plugin_entry(data: dict[str, object], distribution: str) -> dict[str, object]:
    plugins = data["plugins"]
    assert isinstance(plugins, list)
    return next(p for p in plugins if p["distribution"] == distribution)


def test_undeclared_api_loads_as_api_1_and_unsupported_is_refused(
    plugin_site: AddDist, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_site("quiet-dist", "0.3", entry_points={"quiet": "quietplug"},
                modules={"quietplug.py": UNDECLARED})
    plugin_site("future-dist", "5.0", entry_points={"fut": "futplug"},
                modules={"futplug.py": "TRAINING_HUB_PLUGIN_API = 99\n"})
    from training_hub import create_algorithm

    assert create_algorithm("quiet").train(x=1) == ("plain", {"x": 1})
    with pytest.raises(PluginError, match=r"future-dist 5.0.*plugin API 99"):
        AlgorithmRegistry.get_algorithm("fut")

    from training_hub._inventory import inventory

    data = inventory(remember=False)
    quiet = _plugin_entry(data, "quiet-dist")
    assert quiet["api_declared"] is False
    assert "quietplug does not declare TRAINING_HUB_PLUGIN_API" in str(quiet["notice"])
    assert "loaded as plugin API 1" in str(quiet["notice"])
    assert _plugin_entry(data, "future-dist")["api_declared"] is None  # refused: broken
    assert [b["distribution"] for b in data["broken"]] == ["future-dist"]  # type: ignore[index, union-attr]
    sft = _plugin_entry(data, "training-hub-sft")
    assert sft["api_declared"] is True and sft["notice"] is None

    from training_hub.cli._doctor import run_doctor

    run_doctor()
    out = capsys.readouterr().out
    notes = out[out.index("notes:"):]
    assert "quiet-dist 0.3: quietplug does not declare TRAINING_HUB_PLUGIN_API" in " ".join(
        notes.split())


def test_the_notice_survives_the_listing_cache(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_HUB_PLUGIN_CACHE", raising=False)
    env = Env(tmp_path)
    source = PLUGIN.format(algo="hush", module="hush_dist", description="d", cuda=False)
    source = source.replace("TRAINING_HUB_PLUGIN_API = 1\n", "")
    write_distribution(env.site, "hush-dist", entry_points={"hush": "hush_dist"},
                       modules={"hush_dist.py": source})
    first = env.th_list()
    assert env.imports() == ["hush_dist"]
    second = env.th_list()
    assert env.imports() == []  # replayed from the cache, not imported
    for data in (first, second):
        entry = _plugin_entry(data, "hush-dist")
        assert entry["api_declared"] is False
        assert "does not declare TRAINING_HUB_PLUGIN_API" in str(entry["notice"])
        assert any(a["name"] == "hush" for a in data["algorithms"])  # type: ignore[union-attr]
