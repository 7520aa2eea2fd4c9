"""Settings as users write them: a YAML (or TOML) file, then KEY=VALUE overrides, merged in that order.

The trainer's config (`--config FILE --set KEY=VALUE`) and the model adapters'
options (`--config FILE --option KEY=VALUE`) read the same forms; validation
and types belong to whoever consumes the merged mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib
import yaml

from .errors import SettingsError
from .paths import NotText, UnsafePath, read_regular_text


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last one silently, so a
    forgotten earlier `steps: 3` would win or lose unseen); the project's JSON readers refuse them too."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges a mapping: not a key of its own
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:  # a list or mapping as a key
                raise yaml.constructor.ConstructorError(None, None, f"unusable key {key!r}",
                                                        key_node.start_mark) from None
            if repeated:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_settings(path: Path) -> dict[str, Any]:
    """A mapping from a YAML file, or a TOML one by its suffix; anything else in it is an error."""
    try:
        text = read_regular_text(path)
    except (UnsafePath, NotText) as error:
        raise SettingsError(f"{path}: {error}") from None
    except OSError as error:  # missing, a folder, unreadable: the user's file, not a write of ours
        raise SettingsError(f"{path}: cannot read the settings file ({error.strerror or error})") from None
    try:
        loaded = tomllib.loads(text) if path.suffix == ".toml" else yaml.load(text, Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as error:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise SettingsError(f"{path}: not valid {kind} ({_one_line(error)})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: expected a mapping of settings")
    return loaded


def _one_line(error: Exception) -> str:
    """A parser's complaint on one line: YAML's problem and where (its message spans several lines)."""
    mark = getattr(error, "problem_mark", None)
    if getattr(error, "problem", None) and mark is not None:
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _override_key(text: str) -> str:
    """The dotted key of a KEY=VALUE override, dashes read as _."""
    return text.partition("=")[0].strip().replace("-", "_")


def parse_override(text: str) -> dict[str, Any]:
    """`dgs.enabled=false` -> {"dgs": {"enabled": False}}; values are YAML scalars or lists, dashes in keys read
    as _."""
    _, sep, raw = text.partition("=")
    key = _override_key(text)
    if not sep or not key:
        raise SettingsError(f"override {text!r} is not KEY=VALUE")
    try:
        value: Any = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as error:
        raise SettingsError(f"override {text!r}: the value is not valid YAML ({_one_line(error)}); quote it "
                            f"to mean a string") from None
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def merge(base: dict[str, Any], update: dict[str, Any], whole: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`update` over `base`, nested mappings merged key by key, except those named in `whole` (replaced)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in whole:
            merged[key] = merge(merged[key], value, whole)
        else:
            merged[key] = value
    return merged


def layered(base: dict[str, Any], path: Path | None = None, overrides: list[str] = (),
            whole: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`base`, then the file, then each override in order (see `merge` for `whole`). An override of one entry
    inside a `whole` mapping is refused: it would replace the whole mapping with that entry alone."""
    data = merge(base, read_settings(path), whole) if path is not None else dict(base)
    for text in overrides:
        parts = _override_key(text).split(".")
        into = next((k for k, part in enumerate(parts[:-1]) if part in whole), None)
        if into is not None:
            mapping = ".".join(parts[: into + 1])
            raise SettingsError(f"override {text!r}: {mapping} is set whole (it replaces, never merges), so one "
                                f"entry cannot be set alone; give all of it: {mapping}={{{parts[into + 1]}: ..., "
                                f"...}}")
        data = merge(data, parse_override(text), whole)
    return data
