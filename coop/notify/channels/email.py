"""E-mail (`mailto://`, `mailtos://`, apprise's plugin): the markdown digest becomes the HTML part here.

Apprise converts markdown with Python-Markdown, which passes raw HTML through, so an agreement text like
`<script>…` would reach mail clients as live markup. We render the HTML ourselves with markdown-it
(CommonMark, raw HTML off: every `<` in the text arrives as `&lt;`, `javascript:` links are refused)
and hand apprise finished HTML; apprise derives the plain-text part from it.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt

SCHEMAS = frozenset({"mailto", "mailtos"})


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def email_html(markdown: str) -> str:
    """A markdown body as HTML in which any text, however hostile, stays text."""
    return str(_renderer().render(markdown))
