"""The fast discovery pieces answer exactly what the libraries they stand in for answer:
``_dists`` against importlib.metadata, the requirement check against packaging, the
plugin manager's hookimpl lookup against pluggy's."""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from importlib import metadata
from pathlib import Path

import pluggy
import pytest
from packaging.requirements import Requirement

from training_hub import _dists, _requirements, hookimpl
from training_hub._plugins import ENTRY_POINT_GROUP, _PluginManager, plugin_manager
from training_hub.hookspecs import PROJECT_NAME

from .conftest import PLUGIN_HEADER, AddDist


def _metadata_entry_points(group: str) -> list[_dists.EntryPointInfo]:
    return sorted(_dists._metadata_entry_points(group))


def test_entry_points_and_versions_match_importlib_metadata(plugin_site: AddDist) -> None:
    plugin_site("zeta-dist", "2.0", entry_points={"zeta": "zetaplug", "zeta2": "zetaplug:obj"},
                modules={"zetaplug.py": PLUGIN_HEADER})
    assert sorted(_dists.entry_points(ENTRY_POINT_GROUP)) == _metadata_entry_points(
        ENTRY_POINT_GROUP)
    assert sorted(_dists.entry_points("console_scripts")) == _metadata_entry_points(
        "console_scripts")
    names = {dist.metadata["Name"] for dist in metadata.distributions()}
    assert len(names) > 20
    for name in [*sorted(names), "Zeta_Dist", "zeta.dist", "surely-not-installed"]:
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = None
        assert _dists.version(name) == expected, name


def test_first_distribution_on_sys_path_wins(
    plugin_site: AddDist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_site("twice-dist", "1.0", entry_points={"twice": "twiceplug"},
                modules={"twiceplug.py": PLUGIN_HEADER})
    later = tmp_path / "later"
    from training_hub.testing.dists import write_distribution

    write_distribution(later, "twice-dist", "9.0", entry_points={"twice": "twiceplug_late"},
                       modules={})
    egg_info = later / "eggy.egg-info"
    egg_info.mkdir()
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: Eggy\nVersion: 0.3\n")
    (egg_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\neggy = eggplug\n")
    sys.path.append(str(later))  # after the fixture's site: that one comes first
    try:
        importlib.invalidate_caches()
        ours = sorted(_dists.entry_points(ENTRY_POINT_GROUP))
        assert ours == _metadata_entry_points(ENTRY_POINT_GROUP)
        assert ("twice", "twiceplug", "twice-dist", "1.0") in ours
        assert ("eggy", "eggplug", "Eggy", "0.3") in ours
        assert _dists.version("twice_dist") == metadata.version("twice_dist") == "1.0"
        assert _dists.version("eggy") == metadata.version("eggy") == "0.3"
    finally:
        sys.path.remove(str(later))
        _dists.clear()


def test_a_new_distribution_is_seen_without_a_reset(plugin_site: AddDist) -> None:
    assert _dists.version("late-dist") is None
    plugin_site("late-dist", "4.2", entry_points={}, modules={})
    assert _dists.version("late-dist") == "4.2"


def test_zip_on_sys_path_falls_back_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_hub.testing.dists import build_wheel

    wheel = build_wheel(tmp_path, "zipped-dist", "1.5", entry_points={"zipped": "zipplug"},
                        modules={"zipplug.py": PLUGIN_HEADER})
    monkeypatch.syspath_prepend(str(wheel))
    _dists.clear()
    try:
        found = sorted(_dists.entry_points(ENTRY_POINT_GROUP))
        assert ("zipped", "zipplug", "zipped-dist", "1.5") in found
        assert found == _metadata_entry_points(ENTRY_POINT_GROUP)
        assert _dists.version("zipped-dist") == "1.5"
    finally:
        _dists.clear()


def test_malformed_entry_point_line_hides_nothing(plugin_site: AddDist) -> None:
    folder = plugin_site("good-dist", entry_points={"good": "goodplug"},
                         modules={"goodplug.py": PLUGIN_HEADER})
    text = (folder / "entry_points.txt").read_text()
    (folder / "entry_points.txt").write_text(text + "no equals sign here\n")
    assert ("good", "goodplug", "good-dist", "1.0") in _dists.entry_points(ENTRY_POINT_GROUP)


RELEASES = ["0", "1", "1.0", "1.0.0", "2", "2.4", "2.5", "2.5.0", "2.5.1", "2.13.0", "10.0"]
INSTALLED = [*RELEASES, "2.5+cpu", "2.5.0+cu121", "2.4.9+local.1", "2.5.1+x-y",
             "2.5rc1", "2.5.post1", "2.5.dev0", "1!2.5", "v2.5", "2.5.0a1+cpu", "banana"]
OPERATORS = [">=", "<=", ">", "<", "==", "!=", "~=", "==="]


def _packaging_missing(text: str, installed: str | None) -> bool:
    req = Requirement(text)
    return installed is None or bool(
        req.specifier and not req.specifier.contains(installed, prereleases=True))


@pytest.mark.parametrize("installed", [*INSTALLED, None])
def test_requirement_check_matches_packaging(
    installed: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_requirements, "_installed_version", lambda name: installed)
    texts = ["lib", " lib ", "Lib_Name.x>=1", "lib[extra]>=1", "lib>=2.5; python_version>'3'",
             "lib==2.5.*", "lib >= 2.5 , < 3", "lib>=2.5,<2.5.1,!=2.5.0", "lib>=2.5,"]
    texts += [f"lib{op}{version}" for op, version in itertools.product(OPERATORS, RELEASES)
              if not (op == "~=" and "." not in version)]
    texts += [f"lib>={a},<{b}" for a, b in itertools.product(RELEASES[:6], RELEASES[5:])]
    for text in texts:
        expected = _packaging_missing(text, installed)
        assert _requirements.missing_requirements([text]) == ([text] if expected else []), (
            text, installed)


def test_invalid_requirement_still_raises_as_packaging_does() -> None:
    for text in ("lib >= ", "lib>=2.5 <3", "=lib", "lib>=2.5,,<3"):
        with pytest.raises(ValueError):
            _requirements.missing_requirements([text])


def _sample_module() -> types.ModuleType:
    module = types.ModuleType("sample_plugin")
    source = '''
from training_hub import hookimpl
import functools
TRAINING_HUB_PLUGIN_API = 1
__annotations__ = {}

@hookimpl
def register_algorithms(register): pass

@hookimpl(tryfirst=True, specname="register_backends")
def first_backends(register): pass

def plain(register): pass

not_opts = lambda register: None
not_opts.training_hub_impl = "not a dict"

class Holder:
    @hookimpl
    def register_components(self, register): pass

bound = Holder().register_components
static = staticmethod(register_algorithms)
wrapped = functools.partial(plain)
'''
    exec(compile(source, "sample_plugin.py", "exec"), module.__dict__)
    return module


def test_hookimpl_lookup_matches_pluggy() -> None:
    ours, theirs = _PluginManager(PROJECT_NAME), pluggy.PluginManager(PROJECT_NAME)
    for plugin in (_sample_module(), importlib.import_module("training_hub_sft.plugin")):
        for name in dir(plugin):
            assert ours.parse_hookimpl_opts(plugin, name) == theirs.parse_hookimpl_opts(
                plugin, name), name


def test_own_hooks_in_pluggy_order_among_many_plugins() -> None:
    """Each plugin's registration hooks run once, when it is registered, in pluggy's order
    among its own implementations, whatever the markers of the plugins before it."""
    loader = plugin_manager()
    calls: list[tuple[int, str]] = []

    def make(index: int, **opts: bool) -> types.ModuleType:
        module = types.ModuleType(f"order_{index}")

        @hookimpl(**opts)  # type: ignore[misc]
        def register_algorithms(register):  # type: ignore[no-untyped-def]
            calls.append((index, "a"))

        @hookimpl(specname="register_algorithms", trylast=True)  # type: ignore[misc]
        def second(register):  # type: ignore[no-untyped-def]
            calls.append((index, "b"))

        module.register_algorithms = register_algorithms  # type: ignore[attr-defined]
        module.second = second  # type: ignore[attr-defined]
        return module

    modules = [make(0, tryfirst=True), make(1), make(2, trylast=True), make(3)]
    for index, module in enumerate(modules):
        calls.clear()
        loader.register_plugin(module, f"order-{index}")
        assert calls == [(index, "a"), (index, "b")]
    for module in modules:
        loader.pm.unregister(module)
