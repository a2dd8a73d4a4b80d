"""The README stays a first screen, and the docs site stays whole, navigable and offline."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.unit.test_deployment import readme_commands

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README_MAX_LINES = 250
# Markdown links, with their target: [text](target)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _nav_pages(entries: list[Any]) -> list[str]:
    pages: list[str] = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _mkdocs() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    return config


def test_readme_is_a_first_screen_with_the_two_commands() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines: keep it a first screen and move the rest to docs/")
    assert readme_commands() == ["scripts/up", "scripts/test"]


def test_readme_links_into_docs_point_at_real_pages() -> None:
    targets = [t for t in LINK.findall((REPO / "README.md").read_text())
               if not t.startswith(("http://", "https://", "#"))]
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (REPO / t.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = _nav_pages(_mkdocs()["nav"])
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not pages - set(nav), f"pages missing from mkdocs.yml's nav: {sorted(pages - set(nav))}"
    assert not set(nav) - pages, f"nav entries without a page: {sorted(set(nav) - pages)}"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_the_settings_page_keeps_the_place_for_its_generated_tables() -> None:
    hook_path = REPO / _mkdocs()["hooks"][0]
    spec = importlib.util.spec_from_file_location("settings_reference_hook", hook_path)
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert hook.MARKER in (DOCS / hook.PAGE).read_text()


def test_the_site_builds_strictly_and_fetches_nothing_from_elsewhere(tmp_path: Path) -> None:
    config = _mkdocs()
    assert config["theme"]["font"] is False, "web fonts would be fetched from a CDN"
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    outside = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']https?://"""
                         r"""|url\(["']?https?://|@import\s+["']?(?:url\()?["']?https?://""")
    fetched = [(p.name, m.group(0)) for p in site.rglob("*") if p.suffix in (".html", ".css")
               for m in outside.finditer(p.read_text(errors="replace"))]
    assert not fetched, f"the site loads resources from elsewhere: {fetched[:5]}"
    settings_page = (site / "settings" / "index.html").read_text()
    assert "<code>VIGIL_NAMESPACE</code>" in settings_page
