"""Shared fixtures: the bundled mini benchmark built once, a writable copy of its source, a release fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

import unifybench_pp
from bench.release_fixture import write_release
from unifybench_pp import MINI_SOURCE, SplitConfig

settings.register_profile("fixed", derandomize=True, max_examples=60)
"""The default: the same generated cases on every run, so CI fails only on what a change broke."""
settings.register_profile("explore", derandomize=False, max_examples=600)
"""`pytest tests/test_fuzz_readers.py --hypothesis-profile explore`: fresh cases, ten times as many, to look for
new bugs (a failure prints the case to pin with `@example`)."""
settings.load_profile("fixed")


@pytest.fixture(scope="session")
def mini_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "bench"
    unifybench_pp.build(MINI_SOURCE, out, SplitConfig(), quiet=True)
    return out


@pytest.fixture(scope="session")
def bench(mini_build: Path) -> unifybench_pp.Benchmark:
    """The mini build, loaded (read only; modules that need another build define their own `bench`)."""
    return unifybench_pp.load(mini_build)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP saved in transformers' layout, shared by the scorer and scoring tests."""
    from .tiny_models import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture()
def source_copy(tmp_path: Path) -> Path:
    """A writable copy of the mini source, for tests that corrupt it."""
    source = tmp_path / "source"
    shutil.copytree(MINI_SOURCE, source)
    return source


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    """The three-concept release fixture (person, pet, object), writable."""
    return write_release(tmp_path / "release")


@pytest.fixture(autouse=True)
def no_real_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a real API: a developer's OPENAI_API_KEY must not leak into them."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
