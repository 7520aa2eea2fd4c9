"""Splitting a dense prompt into the clauses the judge checks one by one."""

from __future__ import annotations

import re

# A clause ends at , or ; anywhere except between digits (1,000), and at . ! ? when followed by
# whitespace or the end, except after common abbreviations (Mr. Dr. St. e.g. i.e. vs. etc.) and
# inside numbers (3.5). "and" is never split here: annotations mark such clauses with `segments`.
_ABBREVIATIONS = r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bvs)(?<!\betc)(?<!\be\.g)(?<!\bi\.e)"
_BOUNDARY = re.compile(rf"(?<!\d)[,;]|[,;](?!\d)|{_ABBREVIATIONS}[.!?](?=\s|$)")


def split_segments(prompt: str) -> list[str]:
    """Clauses of a dense prompt, in order, stripped, without empty pieces."""
    return [part.strip() for part in _BOUNDARY.split(prompt) if part.strip()]
