"""Leaderboard: reported rows against the paper's text, tables, exports, escaping, broken runs."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evaluators.rundir import read_run
from leaderboard.exports import to_csv, to_latex, to_markdown
from leaderboard.page import build_site, load_runs
from leaderboard.tables import SLUG_LENGTH, build_tables, load_reported, slug

from .cli_runner import ubpp
from .run_fixtures import INJECTED, make_run

SEEDS = Path(__file__).parents[2] / "shared" / "seeds"  # the paper, beside the clone as CI lays it out
def paper_line(prefix: str) -> str:
    papers = sorted(SEEDS.glob("*.txt"))
    assert papers, f"the paper's text is expected in {SEEDS} (shared/ beside the repository)"
    return next(line for line in papers[0].read_text(encoding="utf-8").splitlines() if line.startswith(prefix))


def check_against_source(text: str, table: dict, has_size: bool) -> int:
    """Walk the source row by row: each row name, then its size, then its cells in order."""
    names = [row.get("source_name", row["method"]) for row in table["rows"]]
    checked, position = 0, 0
    for k, (name, row) in enumerate(zip(names, table["rows"])):
        start = text.index(name, position) + len(name)
        end = text.index(names[k + 1], start) if k + 1 < len(names) else len(text)
        tokens = text[start:end].split()
        if has_size:
            assert tokens[0] == row["size"], name
            tokens = tokens[1:]
        numbers = [float(t) for t in tokens if re.fullmatch(r"\d\.\d+", t)]
        assert numbers == [c for c in row["cells"] if c is not None], name
        checked += len(numbers)
        position = start
    return checked


def test_reported_table1_reproduces_the_paper() -> None:
    line = paper_line("Type Method Model Size Und. Gen.")
    body = line[line.index("Upper Bound"):]
    table = load_reported()["tables"]["table1"]
    assert len(table["rows"]) == 16 and all(len(r["cells"]) == 15 for r in table["rows"])
    body = re.sub(r"(Upper Bound|Und\. Only|Gen\. Only|Unified Model) ", "", body)
    checked = check_against_source(body, table, has_size=True)
    assert checked == len(re.findall(r"\b\d\.\d{3}\b", body)) > 150  # every number of the source, no more
    sync_r1 = table["rows"][-1]
    assert sync_r1["method"] == "Sync-R1" and sync_r1["cells"][0] == 0.859 and sync_r1["cells"][-1] == 0.756


@pytest.mark.parametrize(("key", "prefix"), [("table5_understanding", "Type Method Yo’LLaVA MC-LLaVA"),
                                             ("table5_generation", "Type Method DreamBench")])
def test_reported_table5_reproduces_the_paper(key: str, prefix: str) -> None:
    line = paper_line(prefix)
    body = re.sub(r"(Und\. Only|Gen\. Only|Unified Model) ", "", line[line.index("Only"):])
    table = load_reported()["tables"][key]
    assert check_against_source(body, table, has_size=False) == len(re.findall(r"\b\d\.\d{3}\b", line))


def test_measured_rows_ranks_capabilities_and_not_computed(tmp_path: Path) -> None:
    make_run(tmp_path, "A", {"rec.weight": 0.95, "qa.bleu": 0.5, "qa.gpt": None}, ["understand"])
    make_run(tmp_path, "B", {"rec.weight": 0.90, "qa.bleu": 0.7, "pure_gen.clip_i": 0.5}, ["understand", "generate"])
    make_run(tmp_path, "C", {"rec.weight": 0.10}, ["understand"], protocol="strict")
    site = build_site([tmp_path], tmp_path / "site")
    keys = [t.key for t in site.tables]
    assert keys == ["table1-strict", "table1-syncr1", "table5_understanding", "table5_generation"]
    page = (tmp_path / "site" / "index.html").read_text()
    assert 'title="rec.weight: (positive recall + negative recall) / 2 per concept' in page  # registry's note
    table = site.tables[1]
    rows = {r.method: r for r in table.rows}
    assert rows["A"].cells["pure_gen.clip_i"].status == "na"  # understanding only: "-"
    assert rows["A"].cells["qa.gpt"].status == "nc" and "no judge" in rows["A"].cells["qa.gpt"].reason
    assert rows["B"].cells["dense_gen.gpt"].status == "nc"
    # Rec. weight: A (0.95) is best over all rows; the paper's RAP-MLLM 0.936 is second.
    assert rows["A"].cells["rec.weight"].rank == {"all": 1, "measured": 1}
    assert rows["RAP-MLLM"].cells["rec.weight"].rank == {"all": 2}
    assert rows["B"].cells["rec.weight"].rank == {"measured": 2}
    assert "C" not in rows and [r.method for r in site.tables[0].rows] == ["C"]  # protocols never mix
    types = [r.type for r in table.rows]
    assert types == sorted(types, key=["Upper Bound", "Und. Only", "Gen. Only", "Unified Model"].index)


def test_exports(tmp_path: Path) -> None:
    make_run(tmp_path, "A", {"rec.weight": 0.97, "qa.bleu": 0.2}, ["understand"])
    site = build_site([tmp_path], tmp_path / "site")
    table = site.tables[0]
    frame = pd.read_csv(io.StringIO(to_csv(table)), header=[0, 1, 2], index_col=[0, 1, 2, 3])
    row = frame.xs("A", level="Method")
    assert float(row[("Understanding", "Rec.", "Weight")].iloc[0]) == 0.97
    assert (tmp_path / "site" / "table1-syncr1.csv").read_text() == to_csv(table)
    markdown = to_markdown(table)
    assert "**0.970**" in markdown and "<u>0.936</u>" in markdown
    latex = to_latex(table)
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\textbf{0.970}", r"\underline{0.936}"):
        assert command in latex


def test_injected_strings_are_escaped(tmp_path: Path) -> None:
    make_run(tmp_path / "runs", INJECTED, {"rec.weight": 0.5}, ["understand"], output=INJECTED)
    site = build_site([tmp_path / "runs"], tmp_path / "site")
    for page in [tmp_path / "site" / "index.html", *(tmp_path / "site" / "runs").glob("*.html")]:
        html = page.read_text()
        assert "<script>window.__pwned" not in html and "<img src=x" not in html  # text, never a tag
    browser_page = (tmp_path / "site" / site.pages[site.runs[0].id]).read_text()
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in browser_page


def test_broken_run_directories_are_skipped_with_a_warning(tmp_path: Path) -> None:
    good = make_run(tmp_path, "Good", {"rec.weight": 0.5}, ["understand"])
    (tmp_path / "bad-json" / "v").mkdir(parents=True)
    (tmp_path / "bad-json" / "v" / "run.json").write_text("{oops")
    partial = make_run(tmp_path, "Partial", {"rec.weight": 0.5}, ["understand"])
    (partial / "summary.json").unlink()
    wrong_type = make_run(tmp_path, "WrongType", {"rec.weight": 0.5}, ["understand"])
    info = json.loads((wrong_type / "run.json").read_text())
    (wrong_type / "run.json").write_text(json.dumps({**info, "model_type": "Other"}))
    site = build_site([tmp_path], tmp_path / "site")
    assert [r.info.model for r in site.runs] == ["Good"]
    reasons = dict(site.skipped)
    assert "malformed JSON" in reasons[str(tmp_path / "bad-json" / "v")]
    assert "summary.json: missing" in reasons[str(partial)]
    assert "model_type 'Other'" in reasons[str(wrong_type)]
    assert "Skipped run directories" in (tmp_path / "site" / "index.html").read_text()
    assert read_run(good).results["rec.weight"].per_item == {"rec/ast/000": 0.5}


def test_hidden_reported_rows(tmp_path: Path) -> None:
    make_run(tmp_path, "A", {"rec.weight": 0.5}, ["understand"])
    tables = build_tables([read_run(tmp_path / "A" / "bench-v1")], include_reported=False)
    assert [t.key for t in tables] == ["table1-syncr1"]
    assert [r.method for r in tables[0].rows] == ["A"]


def test_exports_neutralise_formulas_and_markup_in_names(tmp_path: Path) -> None:
    """A run's model name is someone else's text: in CSV it must not start a formula, in Markdown it must not be
    HTML or split a table cell; numbers (negative ones too) stay numbers."""
    make_run(tmp_path / "runs", "=HYPERLINK(\"http://x\")", {"rec.weight": 0.5}, ["understand"])
    make_run(tmp_path / "runs", "a|b<img src=x onerror=alert(1)>", {"rec.weight": 0.25}, ["understand"])
    make_run(tmp_path / "runs", "-2+3", {"rec.weight": 0.125}, ["understand"])
    build_site([tmp_path / "runs"], tmp_path / "site")
    csv_text = (tmp_path / "site" / "table1-syncr1.csv").read_text()
    rows = list(csv.reader(io.StringIO(csv_text)))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) or (cell.startswith("-") and cell != "-") for cell in cells)
    assert "'=HYPERLINK(\"http://x\")" in cells and "'-2+3" in cells
    assert any(cell == "0.5" for row in rows for cell in row)
    # A missing cell ("-": the model cannot generate) is no formula: written as is, not as '-.
    [measured] = [row for row in rows if row[1] == "-2+3" or row[1] == "'-2+3"]
    assert measured[4:] == ["0.125", "n/c", "n/c", "n/c", "n/c", "n/c", "n/c"] + ["-"] * 8
    assert "'-" not in cells
    markdown = (tmp_path / "site" / "table1-syncr1.md").read_text()
    assert "<img" not in markdown and "a\\|b&lt;img src=x onerror=alert(1)&gt;" in markdown


def test_runs_of_one_model_get_a_page_each(tmp_path: Path) -> None:
    """Three always-yes runs (syncr1, strict, another seed) used to share one page, `model@version`."""
    paths = [make_run(tmp_path / "runs" / name, "always-yes", {"rec.weight": value}, ["understand"], protocol=protocol)
             for name, value, protocol in (("a", 0.5, "syncr1"), ("b", 0.25, "strict"), ("c", 0.75, "syncr1"))]
    site = build_site([tmp_path / "runs"], tmp_path / "site")
    assert len(site.runs) == 3 and len(set(site.pages.values())) == 3
    assert len(list((tmp_path / "site" / "runs").glob("*.html"))) == 3
    assert {str(p) for p in paths} == {str(r.path) for r in site.runs}


def test_runs_of_a_long_named_model_get_a_page_each(tmp_path: Path) -> None:
    """Page names were cut at 80 characters, which dropped the run folder's hash for names over ~40: two seeds of
    one long-named model shared one page, and one row's samples link showed the other run."""
    name = "My personalized unified model, full fine-tune of every weight, learning rate 1e-4, 24 steps"
    for run in ("a", "b"):
        make_run(tmp_path / "runs" / run, name, {"rec.weight": 0.5}, ["understand"])
    site = build_site([tmp_path / "runs"], tmp_path / "site")
    pages = sorted(p.name for p in (tmp_path / "site" / "runs").glob("*.html"))
    assert len(set(site.pages.values())) == 2 and len(pages) == 2, pages
    assert all(len(page) <= SLUG_LENGTH + len(".html") for page in pages)
    assert slug("x" * 200) != slug("x" * 199) and slug("short name") == "short-name"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_is_replaced_only_when_an_earlier_leaderboard_wrote_it(tmp_path: Path, mini_build: Path) -> None:
    """A user's own index.html in --out is never overwritten; an earlier site there is replaced; a folder ubpp
    sealed as something else (a benchmark build) is not a site either."""
    make_run(tmp_path / "runs", "First", {"rec.weight": 0.5}, ["understand"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<p>my own page</p>")
    (mine / "notes.md").write_text("mine too")
    before = _tree(mine)
    refused = ubpp("leaderboard", "runs", "--out", "mine", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "mine" in line and "not written by ubpp" in line
    assert _tree(mine) == before  # nothing written, nothing removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "runs"]  # no staging folder left beside it

    assert ubpp("leaderboard", "runs", "--out", "site", cwd=tmp_path).returncode == 0
    make_run(tmp_path / "runs", "Second", {"rec.weight": 0.25}, ["understand"])
    again = ubpp("leaderboard", "runs", "--out", "site", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # its own earlier output: replaced
    page = (tmp_path / "site" / "index.html").read_text()
    assert "First" in page and "Second" in page
    assert len(list((tmp_path / "site" / "runs").glob("*.html"))) == 2

    (tmp_path / "site" / "my-notes.txt").write_text("added by the user")
    before = _tree(tmp_path / "site")
    added = ubpp("leaderboard", "runs", "--out", "site", cwd=tmp_path)
    assert added.returncode == 2 and "my-notes.txt" in added.stderr and len(added.stderr.strip().splitlines()) == 1
    assert _tree(tmp_path / "site") == before

    build = tmp_path / "bench"
    shutil.copytree(mini_build, build)  # sealed by build-dataset: ubpp's, but not a leaderboard
    before = _tree(build)
    other = ubpp("leaderboard", "runs", "--out", str(build), cwd=tmp_path)
    assert other.returncode == 2 and "not a leaderboard site" in other.stderr, other.stderr
    assert _tree(build) == before


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_runs_missing_files_or_holding_numbers_as_text_are_skipped_with_one_line_each(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "Good", {"rec.weight": 0.5}, ["understand"])
    broken = {
        "NoScores": lambda run: (run / "scores.jsonl").unlink(),
        "NoPredictions": lambda run: (run / "predictions.jsonl").unlink(),
        "TextValue": lambda run: _rewrite(run / "summary.json", '"value": 0.75', '"value": "0.75"'),
        "TextInterval": lambda run: _rewrite(run / "summary.json", "0.74,", '"0.74",'),
        "TextScore": lambda run: _rewrite(run / "scores.jsonl", '"score":0.75', '"score":"0.75"'),
        "TwoRecords": lambda run: (run / "summary.json").write_text(
            json.dumps(json.loads((run / "summary.json").read_text()) * 2)),
        "Unscored": lambda run: (run / "summary.json").write_text("[]"),  # stopped before scoring (Ctrl-C)
    }
    paths = {}
    for model, damage in broken.items():
        paths[model] = make_run(runs, model, {"rec.weight": 0.75}, ["understand"])
        damage(paths[model])
    result = ubpp("leaderboard", "runs", "--out", "site", "--no-reported", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == len(broken) and all(w.startswith("warning: skipped ") for w in warnings), warnings
    reasons = {model: next(w for w in warnings if w.startswith(f"warning: skipped {path.relative_to(tmp_path)}: "))
               for model, path in paths.items()}
    assert "scores.jsonl: missing" in reasons["NoScores"]
    assert "predictions.jsonl: missing" in reasons["NoPredictions"]
    assert "summary.json: record 0: value: Input should be a valid number, not '0.75'" in reasons["TextValue"]
    assert "summary.json: record 0: ci95.0: Input should be a valid number, not '0.74'" in reasons["TextInterval"]
    assert "scores.jsonl: line 1: score: Input should be a valid number, not '0.75'" in reasons["TextScore"]
    assert "rec.weight appears twice" in reasons["TwoRecords"]
    assert "summary.json: no metric scored yet" in reasons["Unscored"]
    assert all(warning.count(str(paths[model].relative_to(tmp_path))) == 1 for model, warning in reasons.items())
    csv_text = (tmp_path / "site" / "table1-syncr1.csv").read_text()
    assert [row[1] for row in csv.reader(io.StringIO(csv_text))][4:] == ["Good"]  # the only row published



def test_a_leaderboard_with_no_run_to_publish_is_refused_and_keeps_the_published_site(tmp_path: Path) -> None:
    """Every run skipped (or none found) would publish an empty table over a good one: refused, exit 2."""
    make_run(tmp_path / "runs", "Good", {"rec.weight": 0.5}, ["understand"])
    assert ubpp("leaderboard", "runs", "--out", "site", cwd=tmp_path).returncode == 0
    published = _tree(tmp_path / "site")
    broken = make_run(tmp_path / "broken", "Broken", {"rec.weight": 0.5}, ["understand"])
    (broken / "summary.json").write_text("[]")
    (tmp_path / "empty").mkdir()
    for root, expected in (("broken", "no run to publish: the 1 found under broken were all skipped ("),
                           ("empty", "no run found under empty: a run folder holds run.json; ")):
        refused = ubpp("leaderboard", root, "--out", "site", cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"error: {expected}") and "site is left as it was" in line, line
        assert _tree(tmp_path / "site") == published

def test_a_benchmark_that_cannot_be_loaded_is_refused_and_another_build_is_warned_about(
        tmp_path: Path, mini_build: Path) -> None:
    """--benchmark is asked for by name: a typo or a folder that is no build is refused (exit 2, one line, nothing
    written), as a mistyped runs folder is; a build other than the runs' is published with one warning per build,
    since its prompts are not theirs."""
    make_run(tmp_path / "runs", "A", {"rec.weight": 0.5}, ["understand"])  # scored on bench-v1
    make_run(tmp_path / "runs", "B", {"rec.weight": 0.6}, ["understand"])
    (tmp_path / "docs").mkdir()
    for benchmark in ("nope", "docs"):
        says = f"--benchmark {benchmark} cannot be loaded: {tmp_path / benchmark}: benchmark not built here"
        refused = ubpp("leaderboard", "runs", "--benchmark", benchmark, "--out", "site", cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"error: {says}") and "leave --benchmark out" in line, line
        assert not (tmp_path / "site").exists()
    built = ubpp("leaderboard", "runs", "--benchmark", str(mini_build), "--out", "site", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    version = json.loads((mini_build / "manifest.json").read_text())["version"]
    [line] = built.stderr.strip().splitlines()
    assert line == (f"warning: 2 runs scored on build bench-v1, but --benchmark {mini_build} is build {version}: "
                    f"their samples pages show no prompts or reference images (fix: pass the build they were "
                    f"scored on)"), line
    page = next((tmp_path / "site" / "runs").glob("A*.html")).read_text()
    assert f"this run used (bench-v1); this site was built with build {version}." in page


def _on_build(path: Path, version: str) -> Path:
    """The run recorded as scored on another benchmark build (as `build-dataset --seed 3` makes one)."""
    _rewrite(path / "run.json", '"benchmark_version": "bench-v1"', f'"benchmark_version": "{version}"')
    return path


def test_runs_on_different_benchmark_builds_get_a_table_each(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs / "release", "OnRelease", {"rec.weight": 0.5}, ["understand"])
    make_run(runs / "release", "AlsoOnRelease", {"rec.weight": 0.25}, ["understand"])
    _on_build(make_run(runs / "seed3", "OnSeed3", {"rec.weight": 0.99}, ["understand"]), "bench-v2 seed3")
    site = build_site([runs], tmp_path / "site")
    tables = {t.key: t for t in site.tables}
    release, seeded = tables["table1-syncr1@bench-v1"], tables["table1-syncr1@bench-v2-seed3"]
    assert sorted(r.method for r in release.rows if r.source == "measured") == ["AlsoOnRelease", "OnRelease"]
    assert [r.method for r in seeded.rows if r.source == "measured"] == ["OnSeed3"]
    assert "build bench-v1" in release.title and "build bench-v2 seed3" in seeded.title
    # Ranked only against numbers on the same items: 0.99 on the other build does not demote OnRelease.
    assert {r.method: r for r in release.rows}["OnRelease"].cells["rec.weight"].rank["measured"] == 1
    assert "table1-syncr1" not in tables
    for key, title in (("table1-syncr1@bench-v1", release.title), ("table1-syncr1@bench-v2-seed3", seeded.title)):
        assert (tmp_path / "site" / f"{key}.md").read_text().startswith(f"**{title}**")
        assert title in (tmp_path / "site" / f"{key}.tex").read_text()  # the caption
        assert (tmp_path / "site" / f"{key}.csv").is_file()
    page = (tmp_path / "site" / "index.html").read_text()
    assert f"<h2>{release.title}</h2>" in page and f"<h2>{seeded.title}</h2>" in page

    single = build_site([runs / "release"], tmp_path / "single")
    [table1] = [t for t in single.tables if t.key.startswith("table1")]
    assert table1.key == "table1-syncr1" and "build bench-v1" in table1.title

    _on_build(make_run(runs / "t5a", "Yo1", {"yollava.qa.acc": 0.5}, ["understand"]), "yollava-a")
    _on_build(make_run(runs / "t5b", "Yo2", {"yollava.qa.acc": 0.75}, ["understand"]), "yollava-b")
    tables = {t.key: t for t in build_tables(load_runs([runs / "t5a", runs / "t5b"])[0], include_reported=False)}
    assert [r.method for r in tables["table5_understanding@1"].rows] == ["Yo1"]
    assert [r.method for r in tables["table5_understanding@2"].rows] == ["Yo2"]
    assert "build yollava-b" in tables["table5_understanding@2"].title



def test_runs_sharing_a_model_name_get_a_row_each_labelled_by_run_folder(tmp_path: Path) -> None:
    """Two checkpoints evaluated without --name: two rows that read differently, in the page and the exports;
    in Table 5 the second run on a benchmark starts its own row instead of hiding behind the first."""
    make_run(tmp_path / "runs" / "step-50", "Mine", {"rec.weight": 0.25}, ["understand"])
    make_run(tmp_path / "runs" / "step-100", "Mine", {"rec.weight": 0.75}, ["understand"])
    make_run(tmp_path / "runs" / "other", "Other", {"rec.weight": 0.5}, ["understand"])
    site = build_site([tmp_path / "runs"], tmp_path / "site", include_reported=False)
    [table] = [t for t in site.tables if t.key == "table1-syncr1"]
    rows = {r.method: r for r in table.rows}
    # both folders end in Mine/bench-v1: each label is as much of the path as tells them apart, never all of it
    assert sorted(rows) == ["Mine (run step-100/Mine/bench-v1)", "Mine (run step-50/Mine/bench-v1)", "Other"]
    values = {r.cells["rec.weight"].value for m, r in rows.items() if m.startswith("Mine (run ")}
    assert values == {0.25, 0.75}
    assert all("2 runs are named Mine" in r.note for m, r in rows.items() if m != "Other")
    csv_rows = list(csv.reader(io.StringIO((tmp_path / "site" / "table1-syncr1.csv").read_text())))
    assert len({row[1] for row in csv_rows[4:]}) == 3  # three rows, three names

    for folder, value in (("t5a", 0.5), ("t5b", 0.75)):
        make_run(tmp_path / "t5" / folder, "Yo", {"yollava.qa.acc": value}, ["understand"])
    tables = {t.key: t for t in build_tables(load_runs([tmp_path / "t5"])[0], include_reported=False)}
    t5_rows = tables["table5_understanding"].rows
    assert len(t5_rows) == 2 and len({r.method for r in t5_rows}) == 2
    assert sorted(r.cells["yollava.qa.acc"].value for r in t5_rows) == [0.5, 0.75]

    # checkpoint A on Yo'LLaVA only, checkpoint B on Yo'LLaVA and MC-LLaVA: B's MC-LLaVA number never joins A's row
    for folder, values, checkpoint in (("a", {"yollava.qa.acc": 0.25}, "aaa"), ("b1", {"yollava.qa.acc": 0.5}, "bbb"),
                                       ("b2", {"mcllava.rec.weight": 0.75}, "bbb")):
        run = make_run(tmp_path / "two" / folder, "Yo", values, ["understand"])
        _rewrite(run / "run.json", '"checkpoint_sha256": ""', f'"checkpoint_sha256": "{checkpoint}"')
    tables = {t.key: t for t in build_tables(load_runs([tmp_path / "two"])[0], include_reported=False)}
    cells = sorted((r.cells["yollava.qa.acc"].value, r.cells["mcllava.rec.weight"].value)
                   for r in tables["table5_understanding"].rows)
    assert cells == [(0.25, None), (0.5, 0.75)]


def test_baseline_that_names_no_run_is_refused(tmp_path: Path) -> None:
    make_run(tmp_path / "runs", "A", {"rec.weight": 0.5}, ["understand"])
    result = ubpp("leaderboard", "runs", "--out", "site", "--baseline", "nosuch", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "--baseline 'nosuch' names no run read (models: A)" in line
    assert not (tmp_path / "site").exists()
    assert ubpp("leaderboard", "runs", "--out", "site", "--baseline", "A", cwd=tmp_path).returncode == 0


def test_exports_keep_names_and_numbers_as_the_page_shows_them(tmp_path: Path) -> None:
    """Markdown: tabulate read a model named 1e5 as 100000 and 0.500 as 0.5. LaTeX: the backslash's escape had its
    own braces escaped again (C:\\{}models), and < > | printed as other glyphs (¡script¿)."""
    make_run(tmp_path / "runs", "1e5", {"rec.weight": 0.5}, ["understand"])  # alone: a column of numbers
    markdown = to_markdown(build_site([tmp_path / "runs"], tmp_path / "site", include_reported=False).tables[0])
    assert "| 1e5 " in markdown and "100000" not in markdown and "0.500" in markdown
    make_run(tmp_path / "runs", r"C:\models\v2 <b>|x</b>", {"rec.weight": 0.25}, ["understand"])
    latex = to_latex(build_site([tmp_path / "runs"], tmp_path / "site").tables[0])
    assert r"C:\textbackslash{}models\textbackslash{}v2 \textless{}b\textgreater{}\textbar{}x" in latex
    assert r"\{\}" not in latex


def test_rows_that_read_the_same_share_a_mark() -> None:
    """Ranks used full precision while the table shows three decimals: 0.8004 was bold and 0.8001 underlined,
    both reading 0.800."""
    from leaderboard.tables import Cell, Column, Row, rank_cells

    def row(method: str, value: float) -> Row:
        return Row(id=method, type="Unified Model", method=method, size="-", source="measured",
                   cells={"rec.weight": Cell(value, "ok")})

    rows = [row("A", 0.8004), row("B", 0.8001), row("C", 0.7)]
    rank_cells(rows, [Column("rec.weight", "Understanding", "Rec.", "Weight")])
    assert [r.cells["rec.weight"].rank.get("all") for r in rows] == [1, 1, 2]
