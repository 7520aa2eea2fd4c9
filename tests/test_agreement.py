"""Judge agreement: kappa and alpha against hand-computed tables, and end to end with two scripted judges."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import unifybench_pp
from baselines.registry import create
from bench.openai_server import ScriptedServer
from evaluators.agreement import agreement, judgements, read_human_ratings, run_agreement
from evaluators.rundir import AGREEMENT_FILE, RunError, read_run
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig


def units(values: list[float]) -> dict[tuple[str, int], float]:
    return {(f"qa/c/{k:03d}", -1): v for k, v in enumerate(values)}


def test_binary_table_by_hand() -> None:
    # A = 1 0 1 1, B = 1 1 1 0. Observed agreement 1/2; chance (3/4)^2 + (1/4)^2 = 5/8: kappa = (1/2 - 5/8) / (3/8).
    # Krippendorff (nominal): coincidences o11 = 4, o01 = o10 = 2, n0 = 2, n1 = 6, n = 8;
    # D_o = 4/8, D_e = 2*2*6/(8*7) = 3/7: alpha = 1 - (1/2) / (3/7) = -1/6.
    found = agreement("dense_gen.gpt", units([1, 0, 1, 1]), units([1, 1, 1, 0]), "A", "B")
    assert found.kappa == pytest.approx(-1 / 3) and found.alpha == pytest.approx(-1 / 6)
    assert (found.units, found.exact, found.shift) == (4, 0.5, 0.0)


def test_three_level_table_by_hand() -> None:
    # A = 0 .5 1 1 .5 0, B = 0 1 1 .5 .5 0: agree on 4 of 6; each score has margin 1/3 for both: kappa = 0.5.
    # Ordinal alpha: n_c = 4 each (n = 12); delta^2 = 16 (adjacent), 64 (0 vs 1); the two disagreements give
    # o(.5,1) = o(1,.5) = 2: D_o = 64/12; D_e = 2*(16*16 + 16*16 + 16*64)/(12*11) = 3072/132.
    found = agreement("qa.gpt", units([0, 0.5, 1, 1, 0.5, 0]), units([0, 1, 1, 0.5, 0.5, 0]), "A", "B")
    assert found.kappa == pytest.approx(0.5)
    assert found.alpha == pytest.approx(1 - (64 / 12) / (3072 / 132))


def test_no_shared_units_or_no_variation() -> None:
    assert agreement("qa.gpt", units([1]), {}, "A", "B").units == 0
    same = agreement("qa.gpt", units([1, 1]), units([1, 1]), "A", "B")
    assert same.kappa is None and same.alpha is None and same.exact == 1.0


def judge_a(body: dict, n: int) -> tuple:
    """Judge A: every answer right, every clause shown."""
    return ("ok", "1")


def judge_b(body: dict, n: int) -> tuple:
    """Judge B: disagrees on questions whose text mentions an odd digit count, half credit elsewhere."""
    user = body["messages"][1]["content"]
    text = user if isinstance(user, str) else user[0]["text"]
    return ("ok", "0" if len(text) % 3 == 0 else "1" if len(text) % 3 == 1 else "0.5")


def test_cli_scores_again_with_a_second_judge_and_the_leaderboard_shows_it(
        mini_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli import app
    from leaderboard.page import build_site

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    with ScriptedServer(judge_a) as first, ScriptedServer(judge_b) as second:
        scoring = ScoringConfig(judge_base_url=first.base_url, judge_cache=tmp_path / "a.sqlite")
        run = run_evaluation(bench, create("text-echo"), EvalConfig("text-echo", runs_dir=tmp_path / "runs",
                                                                     tasks=["qa", "vqa"], scoring=scoring)).run_dir
        result = CliRunner().invoke(app, ["judge-agreement", str(run), "--benchmark", str(mini_build),
                                          "--judge-base-url", second.base_url, "--judge-model", "judge-b",
                                          "--judge-cache", str(tmp_path / "b.sqlite")])
        assert result.exit_code == 0, result.output
        asked = len(second.requests)
    assert asked == len(bench.tasks["qa"]) + len(bench.tasks["vqa"])
    stored = {e["metric"]: e for e in json.loads((run / AGREEMENT_FILE).read_text())}
    assert set(stored) == {"qa.gpt", "vqa.gpt"}
    loaded = read_run(run)
    for metric in ("qa.gpt", "vqa.gpt"):
        ours = judgements(loaded.results[metric])
        assert all(v == 1.0 for v in ours.values())
        assert stored[metric]["units"] == len(ours) and stored[metric]["judge_b"] == "judge-b"
        # A always says 1, so its agreement with B is exactly what chance gives: kappa 0.
        assert stored[metric]["shift"] < 0 and stored[metric]["kappa"] == pytest.approx(0.0)
    build_site([run], tmp_path / "site", include_reported=False)
    page = (tmp_path / "site" / "index.html").read_text()
    alpha = stored["qa.gpt"]["alpha"]
    assert (f"judge gpt-4o-2024-08-06; vs judge-b: kappa 0.00, alpha {alpha:.2f} "
            f"({stored['qa.gpt']['units']} judgements)") in page


def test_a_run_without_judged_columns_is_refused_before_a_judge_is_asked(
        mini_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli import app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    run = run_evaluation(bench, create("text-echo"), EvalConfig(
        "text-echo", runs_dir=tmp_path / "runs", tasks=["rec"],
        scoring=ScoringConfig(judge_cache=tmp_path / "a.sqlite"))).run_dir
    (tmp_path / "ratings.csv").write_text("metric,id,score\nqa.gpt,qa/ast/000,1\n")
    with ScriptedServer(judge_b) as second:
        by_judge = CliRunner().invoke(app, ["judge-agreement", str(run), "--benchmark", str(mini_build),
                                            "--judge-base-url", second.base_url,
                                            "--judge-cache", str(tmp_path / "b.sqlite")])
        assert second.requests == []
    by_people = CliRunner().invoke(app, ["judge-agreement", str(run), "--benchmark", str(mini_build),
                                         "--human", str(tmp_path / "ratings.csv")])
    for result in (by_judge, by_people):
        assert result.exit_code == 2, result.output
        assert "no judged column was computed in this run" in result.output
    assert not (run / AGREEMENT_FILE).exists()


def test_human_ratings_from_csv(mini_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bench = unifybench_pp.load(mini_build)
    with ScriptedServer(judge_b) as server:
        scoring = ScoringConfig(judge_base_url=server.base_url, judge_cache=tmp_path / "j.sqlite")
        run = read_run(run_evaluation(bench, create("text-echo"), EvalConfig(
            "text-echo", runs_dir=tmp_path / "runs", tasks=["qa"], scoring=scoring)).run_dir)
    judged = judgements(run.results["qa.gpt"])
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "id", "score"])
        for k, ((item, _), score) in enumerate(sorted(judged.items())):
            writer.writerow(["qa.gpt", item, score if k % 4 else 1.0 - score])  # people differ on every 4th
    [found] = run_agreement(run, read_human_ratings(path), "people")
    flipped = sum(1 for k, (_, s) in enumerate(sorted(judged.items())) if k % 4 == 0 and s != 0.5)
    assert found.units == len(judged) and found.exact == pytest.approx(1 - flipped / len(judged))
    bom = tmp_path / "spreadsheet.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as spreadsheets save UTF-8 CSV
    assert read_human_ratings(bom) == read_human_ratings(path)
    item = next(iter(judged))[0]
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("metric,id,score\nqa.gpt,qa/nobody/000,1\n")  # a unit the run has not judged
    assert run_agreement(run, read_human_ratings(elsewhere), "people") == []  # nothing measured, nothing stored
    from typer.testing import CliRunner

    from cli import app

    refused = CliRunner().invoke(app, ["judge-agreement", str(run.path), "--benchmark", str(mini_build),
                                       "--human", str(elsewhere)])
    assert refused.exit_code == 2 and "no rating matches a judgement in" in refused.output, refused.output
    for body, message in (("metric,id,score\nqa.bleu,qa/x/000,1\n", "line 2: 'qa.bleu' is not a judged metric"),
                          (f"metric,id,score\nqa.gpt,{item},7\n", "line 2: score '7' is outside the judges' scale"),
                          (f"metric,id,score\nqa.gpt,{item},1\nqa.gpt,{item},0\n",
                           f"line 3: qa.gpt {item} is rated again \\(first on line 2\\)"),
                          (f"qa.gpt,{item},1\n", "line 1: the header lacks metric, id, score")):
        (tmp_path / "bad.csv").write_text(body)
        with pytest.raises(RunError, match=message):
            read_human_ratings(tmp_path / "bad.csv")
