"""Text from someone else's files inside Markdown we write (dataset cards, leaderboard exports).

A name from a release or a run is data, not markup: rendered by GitHub or the
Hugging Face hub it must not become HTML, a link, or extra table cells.
"""

from __future__ import annotations

import re

_LINE_ENDS = re.compile(r"[\r\n\u0085\u2028\u2029]+")


def markdown_text(value: object) -> str:
    """`value` as literal text in a Markdown table cell, one line: no HTML, no code span, link or image, no
    emphasis by `*`, no extra cell. (`_` stays: it is in most of our names and emphasizes nothing inside words.)"""
    text = _LINE_ENDS.sub(" ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text)


def code_span(value: object) -> str:
    """`value` as an inline code span that no backtick inside can close early; `|` escaped for table cells."""
    text = _LINE_ENDS.sub(" ", str(value)).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"
