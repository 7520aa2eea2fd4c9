"""JSON and JSONL for every file the project reads or writes: precise error locations, byte-stable output."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import SourceError
from .files import atomic_write


def read_json(path: Path, display: str | None = None) -> Any:
    """Parse a JSON file; malformed JSON becomes a SourceError with its line and column."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(name, "", "file not found", "add the file or point --source at the right folder") from None
    except UnicodeDecodeError as exc:
        raise SourceError(name, f"byte {exc.start}", "not UTF-8 text", "save the file as UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise SourceError(
            name, f"line {exc.lineno} column {exc.colno}", f"malformed JSON: {exc.msg}", "correct the JSON syntax there"
        ) from None
    except _DuplicateKey as exc:
        raise SourceError(name, f"key {exc.key!r}", f"duplicate id {exc.key!r}", "keep one entry per id") from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of duplicate keys silently; a duplicate id is an input error."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}
"""Characters that JSON leaves raw but other readers (str.splitlines, JavaScript, editors) take for line ends:
written escaped, so a JSONL line stays one line for every reader."""


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no ASCII escaping except the line-break characters, so equal data gives equal
    bytes and every record is one line."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text


def json_text(obj: Any) -> str:
    """A JSON document for people to read too: sorted keys, indented, newline-terminated."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def jsonl_text(records: Iterable[Any]) -> str:
    """One canonical JSON line per record."""
    return "".join(dumps(record) + "\n" for record in records)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json_text(obj))


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    atomic_write(path, jsonl_text(records))


class BadLine(ValueError):
    """A JSONL line that is not JSON: its 1-based number and the parser's reason."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number, self.reason = number, reason


def parse_jsonl(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line; BadLine at the first that is not JSON. Lines end at "\n" only:
    a raw U+2028 inside a string (files written before it was escaped) is part of its line."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except (json.JSONDecodeError, RecursionError) as error:
                raise BadLine(number, getattr(error, "msg", "nested too deeply")) from None


def read_jsonl(path: Path) -> list[Any]:
    """A benchmark table: a line that is not JSON is a SourceError naming it."""
    try:
        return [value for _, value in parse_jsonl(path.read_text(encoding="utf-8"))]
    except BadLine as error:
        raise SourceError(path, f"line {error.number}", f"malformed JSON line: {error.reason}",
                          "rebuild the benchmark") from None
