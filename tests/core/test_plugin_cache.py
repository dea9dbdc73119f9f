"""``th list`` replays unchanged plugins' registrations from its cache instead of importing
them, and notices every change that could alter them.

Each test runs ``th list`` in real subprocesses against real distributions (modules plus
``*.dist-info`` with entry points) in a folder on PYTHONPATH, with a cache folder of its
own. Every plugin module appends a line to a log file when it is imported, so a test sees
which runs imported it. Files the tests write are dated back past the cache's racy window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from training_hub._plugin_cache import (
    ENV_PLUGIN_CACHE,
    MAX_CACHE_FILES,
    OPT_OUT_ATTRIBUTE,
    RACY_SECONDS,
)
from training_hub.testing.dists import write_distribution

PLUGIN = '''
import os
from training_hub import hookimpl
TRAINING_HUB_PLUGIN_API = 1
with open(os.environ["IMPORT_LOG"], "a") as log:
    log.write(__name__ + "\\n")

@hookimpl
def register_algorithms(register):
    register("{algo}", "{module}_impl:Algo", default_backend="native",
             description="{description}")

@hookimpl
def register_backends(register):
    register("{algo}", "native", "{module}_impl:Back", requires=["torch>=2.0"],
             requires_cuda={cuda}, description="backend of {algo}")
'''


#: The date of every file the tests write: long before the cache's racy window.
INSTALLED_AT = time.time() - 3600


def _age(*paths: Path) -> None:
    """Date what was written since the last call back to INSTALLED_AT (as if installed a
    while ago); dates set on purpose (older than the racy window) stay."""
    recent = time.time() - 10 * RACY_SECONDS
    for path in paths:
        for item in [path, *path.rglob("*")]:
            if item.stat().st_mtime > recent:
                os.utime(item, (INSTALLED_AT, INSTALLED_AT))


class Env:
    """A site folder on PYTHONPATH, a cache folder, an import log; runs ``th list``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.site = root / "site"
        self.cache = root / "cache"
        self.log = root / "imports.log"
        self.cwd = root / "cwd"
        for folder in (self.site, self.cwd):
            folder.mkdir()

    def add(self, dist: str, algo: str, *, description: str = "first", cuda: bool = False,
            extra: str = "") -> Path:
        module = dist.replace("-", "_")
        source = PLUGIN.format(algo=algo, module=module, description=description,
                               cuda=cuda) + extra
        write_distribution(self.site, dist, entry_points={algo: module},
                           modules={f"{module}.py": source})
        return self.site / f"{module}.py"

    def th_list(self, *args: str, age: bool = True,
                extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        if age:
            _age(self.site, self.cwd)
        done = subprocess.run(
            [sys.executable, "-m", "training_hub.cli", "list", "--json", *args],
            capture_output=True, text=True, timeout=120, cwd=self.cwd,
            env={**os.environ, "PYTHONPATH": str(self.site), "XDG_CACHE_HOME": str(self.cache),
                 "IMPORT_LOG": str(self.log), **(extra_env or {})},
        )
        assert done.returncode == 0, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        data["stderr"] = done.stderr
        return data

    def imports(self) -> list[str]:
        """Plugin modules imported since the last call."""
        lines = self.log.read_text().split() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return sorted(lines)

    def cache_files(self) -> list[Path]:
        return sorted((self.cache / "training-hub" / "plugins").glob("*.json"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    for var in ("TRAINING_HUB_PLUGINS", "TRAINING_HUB_BLOCK_PLUGINS",
                "TRAINING_HUB_DISABLE_PLUGIN_AUTOLOAD", ENV_PLUGIN_CACHE):
        monkeypatch.delenv(var, raising=False)
    return Env(tmp_path)


def _algorithm(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in data["algorithms"] if a["name"] == name)


def test_second_listing_imports_no_plugin_and_prints_the_same(env: Env) -> None:
    env.add("alpha-dist", "alpha", cuda=True)
    env.add("beta-dist", "beta")
    first = env.th_list()
    assert env.imports() == ["alpha_dist", "beta_dist"]
    assert len(env.cache_files()) == 1
    second = env.th_list()
    assert env.imports() == []
    assert second == first
    backend = _algorithm(second, "alpha")["backends"][0]
    assert backend["requires_cuda"] is True and backend["requires"] == ["torch>=2.0"]
    uncached = env.th_list(extra_env={ENV_PLUGIN_CACHE: "0"})
    assert env.imports() == ["alpha_dist", "beta_dist"]
    assert uncached == first


def test_editing_a_plugin_module_is_noticed(env: Env) -> None:
    module = env.add("alpha-dist", "alpha", description="first")
    env.add("beta-dist", "beta")
    env.th_list()
    env.imports()
    module.write_text(module.read_text().replace('"first"', '"second one"'))
    changed = env.th_list()
    assert env.imports() == ["alpha_dist"]  # only the edited plugin is imported again
    assert _algorithm(changed, "alpha")["description"] == "second one"
    assert env.th_list() == changed and env.imports() == []
    # The same size, another modification time: noticed too.
    module.write_text(module.read_text().replace('"second one"', '"second two"'))
    os.utime(module, (INSTALLED_AT + 60, INSTALLED_AT + 60))
    assert _algorithm(env.th_list(), "alpha")["description"] == "second two"
    assert env.imports() == ["alpha_dist"]


def test_installing_or_removing_a_distribution_forgets_everything(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    env.th_list()
    env.imports()
    env.add("beta-dist", "beta")
    os.utime(env.site, (INSTALLED_AT + 60, INSTALLED_AT + 60))  # what the install did to it
    data = env.th_list()
    assert env.imports() == ["alpha_dist", "beta_dist"]
    assert {a["name"] for a in data["algorithms"]} >= {"alpha", "beta"}
    for item in env.site.glob("beta_dist*"):
        if item.is_dir():
            for child in item.iterdir():
                child.unlink()
            item.rmdir()
        else:
            item.unlink()
    os.utime(env.site, (INSTALLED_AT + 120, INSTALLED_AT + 120))
    data = env.th_list()
    assert env.imports() == ["alpha_dist"]
    assert "beta" not in {a["name"] for a in data["algorithms"]}


def test_entry_points_edited_in_place_are_read_again(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    env.th_list()
    env.imports()
    entry_points = next(env.site.glob("alpha_dist-*.dist-info")) / "entry_points.txt"
    entry_points.write_text(entry_points.read_text().replace("alpha =", "renamed ="))
    data = env.th_list()
    names = {a["name"] for a in data["algorithms"]}
    assert "renamed" in names and "alpha" in names  # advertised as renamed, registers alpha


@pytest.mark.parametrize(
    ("why", "extra"),
    [
        ("an event hook", "\n@hookimpl\ndef on_train_start(algorithm, backend, params):\n"
                          "    pass\n"),
        ("an opt-out", f"\n{OPT_OUT_ATTRIBUTE} = False\n"),
        ("a class target", "\nfrom training_hub import Algorithm\n"
                           "class Other(Algorithm):\n    pass\n\n@hookimpl\n"
                           "def register_algorithms(register):\n"
                           "    register('other', Other)\n"),
    ],
)
def test_plugins_whose_registrations_cannot_be_replayed_are_always_imported(
    env: Env, why: str, extra: str
) -> None:
    env.add("plain-dist", "plain")
    env.add("special-dist", "special", extra=extra)
    first = env.th_list()
    assert env.imports() == ["plain_dist", "special_dist"]
    assert env.th_list() == first
    assert env.imports() == ["special_dist"], why


def test_broken_plugin_is_reported_on_every_listing(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    write_distribution(env.site, "bad-dist", entry_points={"bad": "bad_plugin"},
                       modules={"bad_plugin.py": "raise ImportError('boom')"})
    for _ in range(2):
        data = env.th_list()
        assert [b["distribution"] for b in data["broken"]] == ["bad-dist"]
        assert "boom" in str(data["stderr"])


def test_files_changed_just_now_are_not_cached(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    env.th_list()
    env.imports()
    module = env.site / "alpha_dist.py"
    module.write_text(module.read_text() + "\n# touched\n")  # dated now, not aged
    env.th_list(age=False)
    assert env.imports() == ["alpha_dist"]
    saved = json.loads(env.cache_files()[0].read_text())
    assert not any(key.startswith("alpha-dist") for key in saved["plugins"])


def test_unreadable_cache_is_ignored_and_replaced(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    first = env.th_list()
    env.imports()
    (cache_file,) = env.cache_files()
    cache_file.write_text("{not json")
    assert env.th_list() == first
    assert env.imports() == ["alpha_dist"]
    assert json.loads(cache_file.read_text())["plugins"]
    assert env.th_list() == first and env.imports() == []


def test_cache_turned_off_writes_nothing(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    env.th_list(extra_env={ENV_PLUGIN_CACHE: "0"})
    env.th_list(extra_env={ENV_PLUGIN_CACHE: "0"})
    assert env.imports() == ["alpha_dist", "alpha_dist"]
    assert env.cache_files() == []


def test_a_cache_folder_that_cannot_be_written_does_not_fail(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    env.cache.write_text("a file where the cache folder should be")
    first = env.th_list()
    assert env.imports() == ["alpha_dist"]
    assert _algorithm(first, "alpha")["status"] == "ok"
    assert env.th_list() == first


def test_only_the_most_recently_written_cache_files_are_kept(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    folder = env.cache / "training-hub" / "plugins"
    folder.mkdir(parents=True)
    others = [folder / f"plugins-{index:08x}.json" for index in range(MAX_CACHE_FILES + 5)]
    for index, path in enumerate(others):
        path.write_text("{}")
        os.utime(path, (INSTALLED_AT + index, INSTALLED_AT + index))
    unrelated = folder / "notes.txt"
    unrelated.write_text("not a cache file")
    env.th_list()
    kept = env.cache_files()
    assert len(kept) == MAX_CACHE_FILES
    assert set(others[-(MAX_CACHE_FILES - 1):]) < set(kept)  # the oldest went, ours was added
    assert unrelated.exists()


def test_plugin_in_a_namespace_package_is_cached_and_edits_are_noticed(env: Env) -> None:
    source = PLUGIN.format(algo="spaced", module="nsroot.inner", description="first",
                           cuda=False)
    write_distribution(env.site, "spaced-dist", entry_points={"spaced": "nsroot.inner.plugin"},
                       modules={"nsroot/inner/__init__.py": "",
                                "nsroot/inner/plugin.py": source})
    first = env.th_list()
    assert env.imports() == ["nsroot.inner.plugin"]
    assert env.th_list() == first and env.imports() == []
    package = env.site / "nsroot" / "inner" / "__init__.py"
    package.write_text("# edited\n")
    assert env.th_list() == first
    assert env.imports() == ["nsroot.inner.plugin"]


def test_editing_a_module_the_plugin_imports_from_its_package_is_noticed(env: Env) -> None:
    source = PLUGIN.format(algo="texted", module="textpkg", description="DESCRIPTION",
                           cuda=False).replace('"DESCRIPTION"', "DESCRIPTION")
    source = "from textpkg.texts import DESCRIPTION\n" + source
    write_distribution(env.site, "texted-dist", entry_points={"texted": "textpkg.plugin"},
                       modules={"textpkg/__init__.py": "", "textpkg/plugin.py": source,
                                "textpkg/texts.py": "DESCRIPTION = 'first'\n"})
    assert _algorithm(env.th_list(), "texted")["description"] == "first"
    assert env.imports() == ["textpkg.plugin"]
    env.th_list()
    assert env.imports() == []
    (env.site / "textpkg" / "texts.py").write_text("DESCRIPTION = 'second'\n")
    assert _algorithm(env.th_list(), "texted")["description"] == "second"
    assert env.imports() == ["textpkg.plugin"]


def test_damaged_cache_entries_are_ignored(env: Env) -> None:
    env.add("alpha-dist", "alpha")
    first = env.th_list()
    env.imports()
    (cache_file,) = env.cache_files()
    data = json.loads(cache_file.read_text())
    for entry in data["plugins"].values():
        entry["registrations"] = [["algorithm", ["alpha"], {}], ["backend", 1, 2]]
    for folder in data["entry_points"]:
        data["entry_points"][folder][2] = [["too", "short"]]
    cache_file.write_text(json.dumps(data))
    assert env.th_list() == first
    assert env.imports() == ["alpha_dist"]
    assert env.th_list() == first and env.imports() == []  # rewritten whole
