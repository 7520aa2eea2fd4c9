"""The API key is never written: not by a server that echoes it in an error, not in any file, page or output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.openai_server import ScriptedServer
from unifybench_pp.openai_transport import REDACTED, redact

from .cli_runner import UBPP

KEY = "sk-proj-Zq8TESTKEYmustNEVERbeWRITTEN0123456789"
LOCAL_KEY = "hunter2-local-server"


@pytest.mark.parametrize("key", [KEY, LOCAL_KEY])
def test_a_judge_that_echoes_the_key_never_gets_it_written(tmp_path: Path, key: str, mini_build: Path) -> None:
    """A 401 whose message echoes the key (as OpenAI's "Incorrect API key provided" does) through `ubpp score`,
    then `ubpp leaderboard`: every file written (run folder, judge cache, site) and every line printed is free
    of the key, while the failure itself is still reported."""
    import unifybench_pp

    env = {**os.environ, "OPENAI_API_KEY": key, "COLUMNS": "160"}
    shutil.copytree(mini_build, tmp_path / "b")  # a build never sees the key; the commands that use it run below
    bench = unifybench_pp.load(tmp_path / "b")
    with (tmp_path / "preds.jsonl").open("w") as handle:
        for item in bench.tasks["qa"]:
            handle.write(json.dumps({"task": "qa", "id": item.id, "output": item.answer}) + "\n")
    echo = f"Incorrect API key provided: Bearer {key}. Authorization: Bearer {key}; api_key={key}"
    with ScriptedServer(lambda body, n: ("error", 401, echo)) as server:
        scored = subprocess.run([str(UBPP), "score", "b", "preds.jsonl", "--judge-base-url", server.base_url,
                                 "--judge-cache", "judge.sqlite", "--run-dir", "runs/echo", "--model", "Echo"],
                                capture_output=True, text=True, cwd=tmp_path, env=env)
        assert server.requests and all(r["auth"] == f"Bearer {key}" for r in server.requests)  # it was sent
    site = subprocess.run([str(UBPP), "leaderboard", "runs", "--benchmark", "b", "--out", "site"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert site.returncode == 0, site.stderr
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.name != "preds.jsonl"]
    assert any(path.suffix == ".html" for path in written) and any(path.name == "scores.jsonl" for path in written)
    for path in written:
        assert key.encode() not in path.read_bytes(), path
    for output in (scored.stdout, scored.stderr, site.stdout, site.stderr):
        assert key not in output
    scores = (tmp_path / "runs" / "echo" / "scores.jsonl").read_text()
    assert "AuthenticationError" in scores and REDACTED in scores  # the failure is kept, without the key


def test_redaction_of_credential_shapes() -> None:
    text = ("Error 401: Incorrect API key provided: sk-abc123DEF456ghi. headers {'Authorization': 'Bearer tok.en-9'}"
            " x-api-key: k3y api_key=whatever secret-value-here")
    clean = redact(text, ["secret-value-here"])
    for secret in ("sk-abc123DEF456ghi", "tok.en-9", "k3y", "whatever", "secret-value-here"):
        assert secret not in clean, secret
    assert clean.startswith("Error 401: Incorrect API key provided: ") and clean.count(REDACTED) == 5
    assert redact("no secrets in 401 Unauthorized") == "no secrets in 401 Unauthorized"
