"""Agreement and report text made safe for the markdown it is written into. Pure.

Two readers, two rules:
- `message_text`: messages (WeCom, DingTalk and Feishu markdown, the e-mail HTML part, webhooks, the local inbox).
  The robots speak dialects without backslash escapes, so the characters that open a link, an image, an HTML tag
  (`<font>`, `<at id=all>`), a mention (`@all`) or a code span become their full-width forms, which read the same
  in Chinese text and mean nothing to any of the dialects. Line breaks become spaces (no injected headings or lists).
- `markdown_text`: Prefect artifacts (CommonMark/GFM): the characters that open a link, an image, raw HTML, an
  autolink, an entity, a code span or emphasis, and table pipes, are backslash-escaped, so the text shows exactly
  as written, even in a renderer that lets raw HTML through. URLs and tokens keep their `:/=_-` untouched, so
  `redact()` still recognises a secret in an escaped error text.
"""

from __future__ import annotations

import re

_FULL_WIDTH = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "@": "＠",
        "`": "｀",
        "*": "＊",
        "\\": "＼",
        "#": "＃",
    }
)
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|&])")


# Any character the two steps below change; most values (names, dates, numbers) have none and are returned as they
# are: a digest renders every `{{ … }}` through here, a million times a day at province scale (profiled in bench/).
_CHANGED = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85\[\]<>@`*\\#]")


def message_text(value: object) -> str:
    """Author text for a message: shown as written, never a link, image, tag, mention or new line."""
    text = str(value)
    if _CHANGED.search(text) is None:
        return text
    return _LINE_BREAKS.sub(" ", text).translate(_FULL_WIDTH)


def markdown_text(value: object) -> str:
    """Author text for CommonMark (artifacts, table cells included): backslash-escaped, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))
