"""MkDocs hook: fills the settings reference page from the settings models at build time.

docs/settings.md holds the marker below where the tables go; nothing generated is committed.
"""

from __future__ import annotations

from typing import Any

from mkdocs.exceptions import PluginError

from vigil.apps.settings_reference import settings_markdown

MARKER = "<!-- settings-reference -->"
PAGE = "settings.md"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace the marker of the settings page with the generated tables."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its {MARKER} marker: the settings tables have no place")
    return markdown.replace(MARKER, settings_markdown())
