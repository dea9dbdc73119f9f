"""The docs site (docs/_mkdocs/mkdocs.yml, ``nox -s docs`` and ``nox -s screenshots``).

The fast tests keep the site whole while pages are added: every page of docs/ is in
the navigation, and every image a page shows exists. The slow one builds the site
strict (a warning or a dead link fails) and runs the screenshot check in headless
Chromium, then breaks a copy of the site (theme stylesheet and one figure removed) and
checks that the screenshot check fails on exactly that.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG = DOCS / "_mkdocs" / "mkdocs.yml"
SCREENSHOTS = DOCS / "_mkdocs" / "screenshots.py"


def _pages() -> set[str]:
    return {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
            if "_mkdocs" not in p.parts}


def _nav_pages(nav: object) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(value) for value in nav.values()))
    return set()


def test_every_docs_page_is_in_the_site_nav() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    nav = _nav_pages(config["nav"])
    assert nav - _pages() == set(), "the nav of docs/_mkdocs/mkdocs.yml names missing pages"
    missing = _pages() - nav
    assert missing == set(), (
        f"pages not in the docs site's navigation: {sorted(missing)}; add them to the nav "
        "of docs/_mkdocs/mkdocs.yml"
    )


_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def test_every_image_a_page_shows_exists() -> None:
    shown = 0
    for page in sorted(DOCS.rglob("*.md")):
        for target in _IMAGE.findall(page.read_text()):
            if "://" in target:
                continue
            shown += 1
            assert (page.parent / target).is_file(), (
                f"{page.relative_to(ROOT)} shows {target}, which is not there. Benchmark "
                "figures: `python benchmarks/plots.py` draws them, then `git add "
                "docs/images/benchmarks/`"
            )
    assert shown >= 2  # the OSFT retention figure and the benchmark figures at least


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # ~40 s: a strict mkdocs build and two Chromium page loads, twice
def test_site_builds_strict_and_its_screenshots_show_the_theme_and_plots(
        tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "PIL"):
        pytest.importorskip(module, reason="the docs extra: pip install -e '.[docs]'")
    if _chromium() is None:
        pytest.skip("no Chromium: apt-get install -y chromium")
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d",
         str(site)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    for page in ("index.html", "benchmarks.html", "api/training-functions.html",
                 "plugin-guide.html", "migrating-from-training-hub.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "training-functions.html").read_text()
    assert 'id="training_hub.sft"' in api and "model_path" in api  # mkdocstrings rendered

    good = subprocess.run([sys.executable, str(SCREENSHOTS), str(site), str(tmp_path / "ok")],
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "home:" in good.stdout and "benchmarks:" in good.stdout
    assert (tmp_path / "ok" / "home.png").stat().st_size > 10_000

    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    for stylesheet in (broken / "assets" / "stylesheets").glob("main.*.css"):
        stylesheet.unlink()
    figure = next(iter(sorted((broken / "images" / "benchmarks").glob("*.png"))))
    figure.unlink()
    bad = subprocess.run([sys.executable, str(SCREENSHOTS), str(broken), str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "the Material theme's stylesheet did not load" in bad.stdout
    assert f"images that did not load: ['images/benchmarks/{figure.name}']" in bad.stdout
