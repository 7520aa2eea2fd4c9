"""JSON and JSONL for every file the project reads or writes: precise error locations, byte-stable output."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import SourceError
from .files import atomic_write
from .paths import NotText, utf8_text


def read_json(path: Path, display: str | None = None) -> Any:
    """Parse a JSON file strictly (see `loads`); any problem becomes a SourceError with its place."""
    name = display or str(path)
    try:
        text = utf8_text(path.read_bytes())
    except FileNotFoundError:
        raise SourceError(name, "", "file not found", "add the file or point --source at the right folder") from None
    except NotText as exc:
        raise SourceError(name, f"byte {exc.offset}", exc.reason, "save the file as UTF-8 text") from None
    except OSError as exc:
        raise SourceError(name, "", f"cannot be read: {exc.strerror or exc}", "make the file readable") from None
    try:
        return loads(text)
    except BadJSON as exc:
        raise SourceError(name, exc.where, f"malformed JSON: {exc.reason}", "correct the JSON there") from None


class BadJSON(ValueError):
    """Text that is not strict JSON: where (line and column when the parser knows) and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where, self.reason = where, reason


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of duplicate keys silently; a duplicate id is an input error."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise _Refused(f"{name} is not a JSON number (write a number or null)")


def loads(text: str) -> Any:
    """JSON as the standard defines it, which Python's parser does not enforce: no NaN or Infinity, no duplicate
    keys, and nesting only as deep as the parser can go (a 100000-deep file is a refusal, not a crash)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"line {exc.lineno} column {exc.colno}", exc.msg) from None
    except _Refused as exc:
        raise BadJSON("", exc.reason) from None
    except RecursionError:
        raise BadJSON("", "nested too deeply") from None


LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}
"""Characters that JSON leaves raw but other readers (str.splitlines, JavaScript, editors) take for line ends:
written escaped, so a JSONL line stays one line for every reader."""


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no ASCII escaping except the line-break characters, so equal data gives equal
    bytes and every record is one line."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text


def json_text(obj: Any) -> str:
    """A JSON document for people to read too: sorted keys, indented, newline-terminated."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


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
    """(line number, value) for each non-blank line, each parsed by `loads`; BadLine at the first that fails.
    Lines end at "\n" only: a raw U+2028 inside a string (files written before it was escaped) is part of its
    line."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                yield number, loads(line)
            except BadJSON as error:
                raise BadLine(number, error.reason) from None


def read_jsonl(path: Path) -> list[Any]:
    """A benchmark table: a line that is not JSON is a SourceError naming it."""
    try:
        return [value for _, value in parse_jsonl(utf8_text(path.read_bytes()))]
    except NotText as error:
        raise SourceError(path, f"byte {error.offset}", error.reason, "rebuild the benchmark") from None
    except BadLine as error:
        raise SourceError(path, f"line {error.number}", f"malformed JSON line: {error.reason}",
                          "rebuild the benchmark") from None
