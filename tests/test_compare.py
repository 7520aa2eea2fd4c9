"""Paired comparisons against closed-form statistics, hand-counted permutations and real run directories."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import unifybench_pp
from baselines.registry import create
from evaluators.compare import (
    PairedDifference,
    chance_rate,
    compare_runs,
    paired_difference,
    sign_flip_p_value,
    with_q_values,
)
from evaluators.metrics import METRICS, MetricResult
from evaluators.rundir import RunError, read_run
from evaluators.runner import EvalConfig, run_evaluation
from evaluators.scoring_config import ScoringConfig

from .cli_runner import ubpp


def result(name: str, per_item: dict[str, float], details: dict | None = None, protocol: str = "syncr1"
           ) -> MetricResult:
    return MetricResult(name, name.split(".")[0], protocol, "rule", value=float(np.mean(list(per_item.values()))),
                        per_item=per_item, item_details=details or {})


def one_item_per_concept(values: np.ndarray) -> dict[str, float]:
    return {f"qa/c{k:03d}/000": float(v) for k, v in enumerate(values)}


def test_paired_difference_matches_the_t_interval_on_normal_data() -> None:
    rng = np.random.default_rng(7)
    n = 400
    base = rng.normal(0.5, 0.2, n)
    diff = rng.normal(0.03, 0.1, n)  # known mean difference 0.03, sd 0.1
    d = paired_difference(result("qa.bleu", one_item_per_concept(base + diff)),
                          result("qa.bleu", one_item_per_concept(base)), "qa.bleu")
    se = diff.std(ddof=1) / np.sqrt(n)
    assert d.difference == pytest.approx(diff.mean(), abs=1e-12)
    assert d.ci95[0] == pytest.approx(diff.mean() - 1.96 * se, abs=0.002)
    assert d.ci95[1] == pytest.approx(diff.mean() + 1.96 * se, abs=0.002)
    assert d.p_ttest == pytest.approx(stats.ttest_1samp(diff, 0).pvalue, rel=1e-9)
    assert d.concepts == n and d.significant()


@pytest.mark.parametrize("effect", [0.0, 0.05, 0.09])
def test_permutation_p_value_agrees_with_the_t_test_on_normal_differences(effect: float) -> None:
    diffs = np.random.default_rng(3).normal(effect, 0.2, 40)
    t_p = stats.ttest_1samp(diffs, 0).pvalue
    assert sign_flip_p_value(diffs) == pytest.approx(t_p, abs=0.03)


def test_exact_sign_flip_p_value_by_hand() -> None:
    # 8 sign patterns of (1, 2, 3): |mean| >= 2 only for +++ and ---.
    assert sign_flip_p_value(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    # (1, 1, 1, -1): |mean| >= 0.5 for the 2 patterns with all equal signs (|1|) and 8 with one differing sign (0.5).
    assert sign_flip_p_value(np.array([1.0, 1.0, 1.0, -1.0])) == pytest.approx(10 / 16)


def benjamini_hochberg(p: list[float]) -> list[float]:
    """q_(i) = min over j >= i of p_(j) m / j, with the p sorted ascending (Benjamini & Hochberg 1995)."""
    order = sorted(range(len(p)), key=p.__getitem__)
    q, running = [0.0] * len(p), 1.0
    for rank in reversed(range(len(p))):
        running = min(running, p[order[rank]] * len(p) / (rank + 1))
        q[order[rank]] = running
    return q


def test_q_values_are_benjamini_hochberg_over_the_tested_columns_by_hand() -> None:
    def tested(metric: str, p: float | None) -> PairedDifference:
        return PairedDifference(metric, 0.5, 0.4, 0.1, None, p, None, 6, 6)

    q = [d.q_value for d in with_q_values([tested("a", 0.01), tested("b", 0.04), tested("c", None),
                                           tested("d", 0.03), tested("e", 0.5)])]
    # sorted 0.01, 0.03, 0.04, 0.5 over m = 4 (the untested column does not count): 0.04, 0.16/3, 0.16/3, 0.5
    assert q == pytest.approx([0.04, 0.16 / 3, None, 0.16 / 3, 0.5])
    assert q[:2] + q[3:] == pytest.approx(benjamini_hochberg([0.01, 0.04, 0.03, 0.5]))


@pytest.mark.parametrize("concepts", [3, 5, 6, 8])
def test_the_chance_rate_is_how_often_the_test_itself_passes_over_every_sign_pattern(concepts: int) -> None:
    """Under the null every sign pattern of the differences is equally likely: run the test on each and count."""
    differences = np.random.default_rng(concepts).normal(0.0, 0.1, concepts)
    patterns = [np.array(signs) * differences for signs in itertools.product((1.0, -1.0), repeat=concepts)]
    passed = np.mean([sign_flip_p_value(pattern) < 0.05 for pattern in patterns])
    assert chance_rate(differences, 0.05) == pytest.approx(passed)
    assert chance_rate(differences, 0.05) == {3: 0.0, 5: 0.0, 6: 2 / 64, 8: pytest.approx(passed)}[concepts]
    assert chance_rate(np.random.default_rng(0).normal(0, 1, 20), 0.05) == 0.05  # Monte Carlo beyond 16


def test_differences_are_concept_means_over_shared_items_and_rec_weights_per_concept() -> None:
    a = result("qa.gpt", {"qa/x/000": 1.0, "qa/x/001": 0.0, "qa/y/000": 1.0, "qa/z/000": 0.5})
    b = result("qa.gpt", {"qa/x/000": 0.5, "qa/x/001": 0.5, "qa/y/000": 0.0})  # z missing in B
    d = paired_difference(a, b, "qa.gpt")
    assert (d.concepts, d.items) == (2, 3)
    assert d.difference == pytest.approx(np.mean([0.5 - 0.5, 1.0 - 0.0]))
    polarity = {i: {"polarity": p} for i, p in [("rec/x/000", "positive"), ("rec/x/001", "negative"),
                                                   ("rec/y/000", "positive"), ("rec/y/001", "negative")]}
    yes = result("rec.weight", {"rec/x/000": 1.0, "rec/x/001": 0.0, "rec/y/000": 1.0, "rec/y/001": 0.0}, polarity)
    right = result("rec.weight", {"rec/x/000": 1.0, "rec/x/001": 1.0, "rec/y/000": 0.0, "rec/y/001": 1.0}, polarity)
    d = paired_difference(right, yes, "rec.weight")
    assert (d.a, d.b) == (pytest.approx(0.75), pytest.approx(0.5))  # (1 + 0.5) / 2 vs always-yes's 0.5


def test_missing_columns_say_why() -> None:
    d = paired_difference(result("qa.gpt", {"qa/x/000": 1.0}), None, "qa.gpt")
    assert d.difference is None and d.reason == "not computed in run B"


@pytest.fixture(scope="module")
def two_runs(mini_build: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    bench = unifybench_pp.load(mini_build)
    root = tmp_path_factory.mktemp("runs")
    scoring = ScoringConfig(judge_cache=root / "j.sqlite")
    yes = run_evaluation(bench, create("always-yes"), EvalConfig("always-yes", runs_dir=root, scoring=scoring,
                                                                  tasks=["rec", "qa", "vqa"]))
    echo = run_evaluation(bench, create("text-echo"), EvalConfig("text-echo", runs_dir=root, scoring=scoring,
                                                                  tasks=["rec", "qa", "vqa"]))
    strict = run_evaluation(bench, create("text-echo"), EvalConfig(
        "text-echo", runs_dir=root, tasks=["rec"], scoring=ScoringConfig(protocol="strict",
                                                                         judge_cache=root / "j.sqlite")))
    return yes.run_dir, echo.run_dir, strict.run_dir


def test_compare_real_runs_and_refuse_different_protocols(two_runs: tuple[Path, Path, Path]) -> None:
    yes, echo, strict = (read_run(p) for p in two_runs)
    by_name = {d.metric: d for d in compare_runs(echo, yes)}
    rec = by_name["rec.weight"]
    assert rec.b == pytest.approx(0.5) and rec.concepts == 6
    assert rec.difference == pytest.approx(echo.results["rec.weight"].value - 0.5)
    assert by_name["qa.bleu"].p_value is not None and by_name["qa.gpt"].reason == "not computed in run A and B"
    with pytest.raises(RunError, match="different protocols \\(syncr1 vs strict\\)"):
        compare_runs(yes, strict)


def test_compare_cli_writes_markdown_and_refuses_with_exit_2(two_runs: tuple[Path, Path, Path],
                                                             tmp_path: Path) -> None:
    yes, echo, strict = two_runs
    command = [sys.executable, "-m", "cli", "compare", str(echo), str(yes), "--out", str(tmp_path / "c.md")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parents[1],
                          env={"COLUMNS": "200", "PATH": ""})
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "c.md").read_text()
    assert table.startswith("| metric") and re.search(r"\| rec\.weight +\|", table) and "text-echo" in table
    assert "q_value" in table
    differences = compare_runs(read_run(echo), read_run(yes))
    tested = [d for d in differences if d.p_value is not None]
    low = sum(d.p_value < 0.05 for d in tested)
    chance = sum(chance_rate(np.array(d.concept_differences), 0.05) for d in tested)
    assert 0 < chance <= 0.05 * len(tested)
    assert (f"columns with p < 0.05: {low} of {len(tested)}, where chance alone gives {chance:.2f}; "
            f"with q < 0.05") in " ".join(done.stdout.split())
    refused = subprocess.run([sys.executable, "-m", "cli", "compare", str(yes), str(strict)], capture_output=True,
                             text=True, cwd=Path(__file__).parents[1])
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "different protocols" in refused.stderr


def test_compare_takes_a_folder_above_one_run_and_lists_several(two_runs: tuple[Path, Path, Path],
                                                                 tmp_path: Path) -> None:
    yes, echo, strict = two_runs
    model_folder = yes.parent.parent  # runs/always-yes: one run below it
    named = ubpp("compare", str(echo), str(yes), "--out", "named.csv", cwd=tmp_path)
    above = ubpp("compare", str(echo), str(model_folder), "--out", "above.csv", cwd=tmp_path)
    assert named.returncode == above.returncode == 0, above.stderr
    assert (tmp_path / "named.csv").read_text() == (tmp_path / "above.csv").read_text()
    both = ubpp("compare", str(echo.parent.parent), str(yes), cwd=tmp_path)  # text-echo: two runs (two protocols)
    assert both.returncode == 2 and len(both.stderr.strip().splitlines()) == 1
    assert "holds 2 runs; name one" in both.stderr and str(echo) in both.stderr and str(strict) in both.stderr
    assert "nothing is there" in ubpp("compare", str(tmp_path / "gone"), str(yes), cwd=tmp_path).stderr
    (tmp_path / "empty").mkdir()
    assert "no run here or below" in ubpp("compare", str(tmp_path / "empty"), str(yes), cwd=tmp_path).stderr


def test_leaderboard_marks_each_column_against_the_compared_row(two_runs: tuple[Path, Path, Path],
                                                                tmp_path: Path) -> None:
    from leaderboard.page import build_site

    yes, echo, _ = two_runs
    site = build_site([yes, echo], tmp_path / "site", include_reported=False, baseline="always-yes")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    rows = {r.method: r for r in table.rows}
    assert rows["text-echo"].compared_with == "always-yes" and rows["always-yes"].compared_with == ""
    expected = {d.metric: d for d in compare_runs(read_run(echo), read_run(yes))}
    for key, cell in rows["text-echo"].cells.items():
        if cell.versus is not None and cell.versus.difference is not None:
            assert cell.versus.difference == pytest.approx(expected[key].difference)
            assert cell.change == ("" if expected[key].p_value >= 0.05 else
                                   "up" if expected[key].difference > 0 else "down")
    rec = rows["text-echo"].cells["rec.weight"]
    page = (tmp_path / "site" / "index.html").read_text()
    assert f"vs always-yes: {rec.versus.difference:+.3f}" in page
    # q over the row's tested cells in this table (its own family: the page shows these together)
    tested = [c.versus for c in rows["text-echo"].cells.values() if c.versus and c.versus.p_value is not None]
    assert len(tested) > 2
    assert [d.q_value for d in tested] == pytest.approx(benjamini_hochberg([d.p_value for d in tested]))
    assert f"(q={rec.versus.q_value:.3f} over the row's columns)" in page



def test_runs_sharing_a_name_are_compared_only_with_an_unambiguous_row(two_runs: tuple[Path, Path, Path],
                                                                     tmp_path: Path) -> None:
    """Two runs named text-echo are labelled by folder and each compared with always-yes; with two always-yes
    runs, which one is the baseline is ambiguous: no arrow, a note instead."""
    from leaderboard.page import build_site

    yes, echo, _ = two_runs
    echo_again = tmp_path / "again" / "echo-2"
    shutil.copytree(echo, echo_again)
    site = build_site([yes, echo, echo_again], tmp_path / "site", include_reported=False, baseline="always-yes")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    rows = {r.method: r for r in table.rows}
    assert sorted(rows) == ["always-yes", f"text-echo (run {echo.name})", "text-echo (run echo-2)"]
    expected = {d.metric: d for d in compare_runs(read_run(echo), read_run(yes))}["rec.weight"].difference
    for name in (f"text-echo (run {echo.name})", "text-echo (run echo-2)"):
        assert rows[name].compared_with == "always-yes"
        assert rows[name].cells["rec.weight"].versus.difference == pytest.approx(expected)

    yes_again = tmp_path / "again" / "yes-2"
    shutil.copytree(yes, yes_again)
    site = build_site([yes, yes_again, echo], tmp_path / "site2", include_reported=False, baseline="always-yes")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    [echo_row] = [r for r in table.rows if r.method == "text-echo"]
    assert echo_row.compared_with == "" and all(cell.versus is None for cell in echo_row.cells.values())
    assert "not compared: 2 runs in this table are named always-yes" in echo_row.note

def test_sanity_rows_are_tagged_never_ranked_and_compared_with_only_by_name(two_runs: tuple[Path, Path, Path],
                                                                          tmp_path: Path) -> None:
    """text-echo scores Rec. 1.000 under syncr1 (the question it echoes holds "yes" and "no"): the adapters say they
    are sanity baselines, run.json records it, and the leaderboard tags their rows and ranks the rest. The same
    scores from a run that is no sanity baseline are ranked best; its recorded start being a sanity run gives no
    arrows unless --baseline names it."""
    from leaderboard.page import build_site

    yes, echo, _ = two_runs
    assert read_run(yes).info.sanity and read_run(echo).info.sanity
    model = tmp_path / "runs" / "model"
    shutil.copytree(echo, model)
    info = json.loads((model / "run.json").read_text())
    (model / "run.json").write_text(json.dumps({**info, "model": "Mine", "sanity": False,
                                                "compared_with": "always-yes"}))
    site = build_site([yes, echo], tmp_path / "site")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    rows = {r.method: r for r in table.rows}
    rec = rows["text-echo"].cells["rec.weight"]
    assert rec.value == 1.0 > max(r.cells["rec.weight"].value or 0 for r in table.rows if r.source == "reported")
    assert rec.rank == {} and rows["always-yes"].cells["rec.weight"].rank == {}
    best = [r.method for r in table.rows if r.cells["rec.weight"].rank.get("all") == 1]
    assert best and all(rows[m].source == "reported" for m in best)  # the paper's best row, not a sanity one
    page = (tmp_path / "site" / "index.html").read_text()
    assert page.count('<span class="badge sanity" title="sanity baseline: a trivial answer') == 3  # 2 rows + legend
    markdown = (tmp_path / "site" / "table1-syncr1.md").read_text()
    assert "text-echo (sanity)" in markdown and "**1.000**" not in markdown

    site = build_site([yes, echo, model], tmp_path / "site2")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    rows = {r.method: r for r in table.rows}
    assert rows["Mine"].cells["rec.weight"].rank == {"all": 1, "measured": 1} and not rows["Mine"].sanity
    assert rows["Mine"].compared_with == "" and "not compared: always-yes is a sanity baseline" in rows["Mine"].note
    site = build_site([yes, echo, model], tmp_path / "site3", baseline="always-yes")
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    assert {r.method: r for r in table.rows}["Mine"].compared_with == "always-yes"


def test_compare_lists_only_the_metrics_of_the_runs_benchmark(two_runs: tuple[Path, Path, Path]) -> None:
    """A UnifyBench++ comparison has no Table 5 rows (those metrics belong to other builds)."""
    a, b = (read_run(p) for p in two_runs[:2])
    names = [d.metric for d in compare_runs(a, b)]
    assert names and all(METRICS[n].benchmark == "unifybench" for n in names)
    assert set(names) == set(a.results) | set(b.results)


def test_compare_out_format_follows_the_extension(two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    yes, echo, _ = two_runs
    expected = {d.metric: d for d in compare_runs(read_run(echo), read_run(yes))}
    done = ubpp("compare", str(echo), str(yes), "--out", "c.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "c.csv")
    assert list(frame.columns[:4]) == ["metric", "reason", "text-echo", "always-yes"]
    rows = frame.set_index("metric")
    assert rows.loc["rec.weight", "difference"] == pytest.approx(expected["rec.weight"].difference)
    # a metric without a difference is a row with its reason, as the terminal shows it
    assert {m: rows.loc[m, "reason"] for m, d in expected.items() if d.difference is None} == \
        {m: d.reason for m, d in expected.items() if d.difference is None} != {}
    assert ubpp("compare", str(echo), str(yes), "--out", "c.tex", cwd=tmp_path).returncode == 0
    latex = (tmp_path / "c.tex").read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and "rec.weight" in latex
    assert ubpp("compare", str(echo), str(yes), "--out", "c.md", cwd=tmp_path).returncode == 0
    assert (tmp_path / "c.md").read_text().startswith("| metric")
    for name in ("x.txt", "noextension"):
        refused = ubpp("compare", str(echo), str(yes), "--out", name, cwd=tmp_path)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "unknown table format" in refused.stderr and not (tmp_path / name).exists()
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "file").write_text("x")
    for name, says in (("folder.md", "is a folder"), ("file/c.md", "is a file, not a folder")):
        refused = ubpp("compare", str(echo), str(yes), "--out", name, cwd=tmp_path)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
    # Two runs of one model: A and B stay two columns (not one name, the second overwriting the first).
    assert ubpp("compare", str(yes), str(yes), "--out", "same.csv", cwd=tmp_path).returncode == 0
    assert list(pd.read_csv(tmp_path / "same.csv").columns[2:4]) == ["always-yes (A)", "always-yes (B)"]


def test_compare_out_replaces_only_its_own_table_and_never_writes_in_a_build(
        two_runs: tuple[Path, Path, Path], mini_build: Path, tmp_path: Path) -> None:
    """A user's README.md (or .csv, .tex) is refused before any work, as is any path inside a benchmark build (its
    card, or a new file the build would then hold); the command's own earlier table is rewritten."""
    yes, echo, _ = two_runs
    build = tmp_path / "build"
    shutil.copytree(mini_build, build)  # sealed by build-dataset, as the user's build is
    (build / "tables").mkdir()
    card = (build / "README.md").read_bytes()
    for name in ("README.md", "notes.csv", "paper.tex"):
        (tmp_path / name).write_text("years of work\n")
    for name, says in (("README.md", "exists and is not a table ubpp wrote; it is left as it is"),
                       ("notes.csv", "exists and is not a table ubpp wrote"),
                       ("paper.tex", "exists and is not a table ubpp wrote"),
                       ("build/README.md", f"lies inside the benchmark build {build.resolve()}"),
                       ("build/new.md", "lies inside the benchmark build"),
                       ("build/tables/new.csv", "lies inside the benchmark build")):
        refused = ubpp("compare", str(echo), str(yes), "--out", name, cwd=tmp_path)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert says in refused.stderr and "--out" in refused.stderr
        assert refused.stdout == ""  # refused before the runs were read: no table printed
    assert all((tmp_path / name).read_text() == "years of work\n" for name in ("README.md", "notes.csv", "paper.tex"))
    assert (build / "README.md").read_bytes() == card
    assert not (build / "new.md").exists() and not (build / "tables" / "new.csv").exists()
    from leaderboard.page import build_site

    build_site([yes], tmp_path / "site", include_reported=False)  # a sealed leaderboard site
    site = tmp_path / "site"
    refused = ubpp("compare", str(echo), str(yes), "--out", "site/compare.md", cwd=tmp_path)
    assert refused.returncode == 2 and "a leaderboard site ubpp wrote" in refused.stderr, refused.stderr
    assert not (site / "compare.md").exists()
    for name in ("mine.md", "mine.csv", "mine.tex"):  # its own table: a re-run replaces it, B vs A too
        assert ubpp("compare", str(echo), str(yes), "--out", name, cwd=tmp_path).returncode == 0
        again = ubpp("compare", str(yes), str(echo), "--out", name, cwd=tmp_path)
        assert again.returncode == 0, again.stderr


def test_compare_files_show_the_terminals_digits_and_whole_counts(two_runs: tuple[Path, Path, Path],
                                                                  tmp_path: Path) -> None:
    """.md and .tex print every number as the terminal does (means, differences, bounds: 4 decimals; p and q: 3), no
    1.7e-07 or 0.0775396; counts are whole numbers in every format, and CSV keeps the numbers' full precision."""
    yes, echo, _ = two_runs
    done = ubpp("compare", str(echo), str(yes), cwd=tmp_path, env={"COLUMNS": "250"})
    [line] = [line for line in done.stdout.splitlines() if " rec.weight " in line]
    a, b, difference, low, high, p, q = re.findall(r"[+-]?\d+\.\d+", line)[:7]
    concepts, items = re.search(r"(\d+) \((\d+)\)", line).groups()
    expected = {"text-echo": a, "always-yes": b, "difference": difference, "ci95_low": low, "ci95_high": high,
                "p_value": p, "q_value": q, "concepts": concepts, "items": items}
    for name in ("c.md", "c.tex", "c.csv"):
        assert ubpp("compare", str(echo), str(yes), "--out", name, cwd=tmp_path).returncode == 0
    markdown = (tmp_path / "c.md").read_text().splitlines()
    latex = (tmp_path / "c.tex").read_text().splitlines()
    header_row = latex.index(r"\toprule") + 1
    for cells in ([c.strip() for c in line.strip().strip("|").split("|")] for line in (markdown[0], markdown[2])), \
            ([c.strip().replace(r"\_", "_") for c in line.removesuffix(r"\\").split("&")]
             for line in (latex[header_row], latex[header_row + 2])):
        header, rec = cells
        row = dict(zip(header, rec))
        assert row["metric"] == "rec.weight" and {k: row[k] for k in expected} == expected
        assert re.fullmatch(r"\d\.\d{3}", row["p_ttest"])
    for text in ("\n".join(markdown), "\n".join(latex)):
        assert "e-0" not in text and not re.search(r"\d\.\d{5}", text)  # no raw floats
    import csv
    rows = {r["metric"]: r for r in csv.DictReader((tmp_path / "c.csv").open())}
    assert (rows["rec.weight"]["concepts"], rows["rec.weight"]["items"]) == (concepts, items)
    assert all(re.fullmatch(r"\d*", r[k]) for r in rows.values() for k in ("concepts", "items"))
    exact = {d.metric: d for d in compare_runs(read_run(echo), read_run(yes))}["rec.weight"]
    assert float(rows["rec.weight"]["difference"]) == exact.difference  # full precision
    assert float(rows["rec.weight"]["p_value"]) == exact.p_value


def test_a_run_whose_scores_disagree_with_its_summary_is_refused_not_read_as_empty(
        two_runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """An emptied or cut-short scores.jsonl beside an intact summary.json (n=24 for Rec.) is no run: compare stops
    with one line naming the file (not "no item scored in both runs", exit 0), the leaderboard skips it with one."""
    yes, echo, _ = two_runs
    n = read_run(echo).results["rec.weight"].n
    lines = (echo / "scores.jsonl").read_text().splitlines(keepends=True)
    for name, kept, says in (("emptied", [], f"holds 0 scored items of rec.weight, but summary.json counts n={n}"),
                             ("cut", [line for line in lines if '"rec/' not in line or "/000" not in line],
                              "scored items of rec.weight, but summary.json counts"),
                             ("missing", None, f"scores.jsonl: missing, but summary.json counts n={n}")):
        run = tmp_path / "runs" / name
        shutil.copytree(echo, run)
        if kept is None:
            (run / "scores.jsonl").unlink()
        else:
            (run / "scores.jsonl").write_text("".join(kept))
        with pytest.raises(RunError, match=re.escape(says)):
            read_run(run)
        refused = ubpp("compare", str(run), str(yes), cwd=tmp_path)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert f"{run / 'scores.jsonl'}: " in refused.stderr and says in refused.stderr
    shutil.copytree(yes, tmp_path / "runs" / "good")
    site = ubpp("leaderboard", "runs", "--out", "site", "--no-reported", cwd=tmp_path)
    assert site.returncode == 0, site.stderr
    warnings = site.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: skipped runs/") for w in warnings), warnings
    assert "text-echo" not in (tmp_path / "site" / "index.html").read_text()


def test_compare_prints_intervals_with_the_digits_of_their_values(two_runs: tuple[Path, Path, Path],
                                                                   tmp_path: Path) -> None:
    yes, echo, _ = two_runs
    done = ubpp("compare", str(echo), str(yes), cwd=tmp_path, env={"COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if " rec.weight " in line]
    a, b, difference, low, high = re.findall(r"[+-]?\d+\.\d+", line)[:5]  # then p, shown to 3 digits
    assert {len(n.split(".")[1]) for n in (a, b, difference, low, high)} == {4}


def test_a_run_of_several_samples_is_compared_on_all_of_them() -> None:
    """Pairing observation ids kept only sample 0 of a `--samples 2` run against a one-sample run: the compared
    mean was not the run's own. Each run's concept score averages all its observations of the shared items."""
    rng = np.random.default_rng(3)
    items = [f"qa/c{c}/{k:03d}" for c in range(4) for k in range(3)]
    two = {f"{i}{suffix}": float(v) for i in items for suffix, v in zip(("", "#1"), rng.random(2))}
    one = {i: float(v) for i, v in zip(items, rng.random(len(items)))}
    a, b = result("qa.bleu", two), result("qa.bleu", one)
    d = paired_difference(a, b, "qa.bleu")
    concept_a = [np.mean([v for k, v in two.items() if k.startswith(f"qa/c{c}/")]) for c in range(4)]
    concept_b = [np.mean([v for k, v in one.items() if k.startswith(f"qa/c{c}/")]) for c in range(4)]
    assert d.a == pytest.approx(np.mean(concept_a), abs=1e-12)
    assert d.difference == pytest.approx(np.mean(concept_a) - np.mean(concept_b), abs=1e-12)
    assert d.items == len(items) and d.concepts == 4
    # an item only run A scored (either sample) stays out of both sides
    a_more = result("qa.bleu", {**two, "qa/c0/009#1": 1.0})
    assert paired_difference(a_more, b, "qa.bleu").a == pytest.approx(d.a, abs=1e-12)
