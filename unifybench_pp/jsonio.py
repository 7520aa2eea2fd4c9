"""JSON reading with precise error locations, and byte-stable JSON writing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import SourceError


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


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no ASCII escaping, so equal data gives equal bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SourceError(path, f"line {number}", f"malformed JSON line: {exc.msg}", "rebuild the benchmark") from None
    return records
