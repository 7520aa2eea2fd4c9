"""Shared fixtures: the bundled mini benchmark built once, and a writable copy of its source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import unifybench_pp
from unifybench_pp import MINI_ANNOTATIONS, MINI_SOURCE, SplitConfig


@pytest.fixture(scope="session")
def mini_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "bench"
    unifybench_pp.build(MINI_SOURCE, MINI_ANNOTATIONS, out, SplitConfig(seed=0), quiet=True)
    return out


@pytest.fixture()
def source_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A writable copy of the mini source and annotation file, for tests that corrupt them."""
    source = tmp_path / "source"
    shutil.copytree(MINI_SOURCE, source)
    annotations = tmp_path / "annotations.json"
    shutil.copyfile(MINI_ANNOTATIONS, annotations)
    return source, annotations


@pytest.fixture(autouse=True)
def no_real_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a real API: a developer's OPENAI_API_KEY must not leak into them."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
