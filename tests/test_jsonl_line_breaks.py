"""U+2028, U+2029 and U+0085 are line ends to str.splitlines and JavaScript: JSONL keeps every record on one line."""

from __future__ import annotations

import json
from pathlib import Path

from unifybench_pp.jsonio import jsonl_text, parse_jsonl

from .cli_runner import ubpp as run

BREAKS = "Yes\u2028it is.\u2029 Really\u0085 yes."


def test_records_with_unicode_line_breaks_round_trip_one_line_each() -> None:
    text = jsonl_text([{"output": BREAKS}, {"n": 1}])
    assert len(text.splitlines()) == 2 and "\u2028" not in text  # escaped, so every reader sees two lines
    assert [value for _, value in parse_jsonl(text)] == [{"output": BREAKS}, {"n": 1}]
    written_raw = json.dumps({"output": BREAKS}, ensure_ascii=False) + "\n" + '{"n": 1}\n'  # an older file
    assert [number for number, _ in parse_jsonl(written_raw)] == [1, 2]


def test_a_reply_with_a_line_separator_is_scored_and_published(tmp_path: Path) -> None:
    """The issue's case: a reply "Yes\\u2028it is." scored, then the leaderboard lists the run and compare reads it."""
    import unifybench_pp

    assert run("build-dataset", "--out", "b", "-q", cwd=tmp_path).returncode == 0
    bench = unifybench_pp.load(tmp_path / "b")
    for name in ("a", "b2"):
        with (tmp_path / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for item in bench.tasks["qa"]:
                handle.write(json.dumps({"task": "qa", "id": item.id, "output": BREAKS}, ensure_ascii=False) + "\n")
        scored = run("score", "b", f"{name}.jsonl", "--run-dir", f"runs/{name}", "--model", f"Breaks {name}",
                     cwd=tmp_path)
        assert scored.returncode == 0, scored.stderr
        assert len((tmp_path / "runs" / name / "scores.jsonl").read_text(encoding="utf-8").splitlines()) == len(
            bench.tasks["qa"])
    site = run("leaderboard", "runs", "--benchmark", "b", "--out", "site", cwd=tmp_path)
    assert site.returncode == 0 and "Breaks a" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    compared = run("compare", "runs/a", "runs/b2", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
