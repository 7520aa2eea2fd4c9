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


def read_settings(path: Path) -> dict[str, Any]:
    """A mapping from a YAML file, or a TOML one by its suffix; anything else in it is an error."""
    try:
        text = read_regular_text(path)
    except (UnsafePath, NotText) as error:
        raise SettingsError(f"{path}: {error}") from None
    loaded = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: expected a mapping of settings")
    return loaded


def parse_override(text: str) -> dict[str, Any]:
    """`dgs.enabled=false` -> {"dgs": {"enabled": False}}; values are YAML scalars or lists, dashes in keys read
    as _."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise SettingsError(f"override {text!r} is not KEY=VALUE")
    value: Any = yaml.safe_load(raw) if raw else ""
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
    """`base`, then the file, then each override in order (see `merge` for `whole`)."""
    data = merge(base, read_settings(path), whole) if path is not None else dict(base)
    for text in overrides:
        data = merge(data, parse_override(text), whole)
    return data
