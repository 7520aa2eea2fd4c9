"""The generated page in headless Chromium from file://: sorting, the reported toggle, filters, no injected script."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from leaderboard.page import build_site

from .run_fixtures import INJECTED, make_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(os.environ.get("UBPP_SCREENSHOTS", Path(__file__).parents[1] / "build" / "screenshots"))

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="headless Chromium not installed: apt-get install chromium chromium-driver (.ci/run does this)",
)


@pytest.fixture()
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_window_size(1400, 1000)
    yield browser
    browser.quit()


def visible_methods(driver, table_id: str) -> list[str]:
    """The shown rows' method names, their badges' words (measured, reported, sanity) left out."""
    rows = driver.find_elements("css selector", f"#{table_id} tbody tr.row")
    return [re.sub(r"measured|reported|sanity", "", r.find_element("css selector", "td.method").text.split("\n")[0]
                   ).strip() for r in rows if r.is_displayed()]


def test_page_in_headless_chromium(tmp_path: Path, driver) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "Alpha", {"rec.weight": 0.97, "qa.bleu": 0.30}, ["understand"])
    make_run(runs, "Beta", {"rec.weight": 0.20, "qa.bleu": 0.90, "pure_gen.clip_t": 0.31}, ["understand", "generate"])
    make_run(runs, INJECTED, {"rec.weight": 0.5}, ["understand"], output=INJECTED)
    site = build_site([runs], tmp_path / "site")
    driver.get((tmp_path / "site" / "index.html").resolve().as_uri())
    assert driver.execute_script("return window.__pwned") is None

    # Sorting by Rec. Weight (first metric column) puts rows in descending value order.
    header = driver.find_element("css selector", "#table1-syncr1 th.sortable[data-col='0']")
    header.click()
    values = driver.execute_script(
        "return Array.from(document.querySelectorAll('#table1-syncr1 tbody tr.row'))"
        ".map(tr => tr.querySelectorAll('td.num')[0].dataset.value)")
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == 0.97
    header.click()  # second click: ascending
    values = driver.execute_script(
        "return Array.from(document.querySelectorAll('#table1-syncr1 tbody tr.row'))"
        ".map(tr => tr.querySelectorAll('td.num')[0].dataset.value).filter(v => v)")
    assert [float(v) for v in values] == sorted(float(v) for v in values)
    driver.find_element("css selector", "#table1-syncr1 th.reset").click()
    assert visible_methods(driver, "table1-syncr1")[0] == "GPT-4o+TP"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "leaderboard.png"))

    # The toggle hides reported rows and moves the best/second marks to measured rows only.
    qa_bleu = driver.find_elements("css selector", "#table1-syncr1 tbody tr.measured td.num")
    assert "Sync-R1" in visible_methods(driver, "table1-syncr1")
    driver.find_element("id", "toggle-reported").click()
    shown = visible_methods(driver, "table1-syncr1")
    assert "Sync-R1" not in shown and set(shown) == {"Alpha", "Beta", INJECTED}
    best = driver.execute_script(
        "return Array.from(document.querySelectorAll('#table1-syncr1 td.num.best')).filter(td => td.offsetParent)"
        ".map(td => td.textContent.trim())")
    assert "0.970" in best and "0.900" in best
    assert qa_bleu  # measured rows carry numbers
    driver.find_element("id", "toggle-reported").click()
    assert "Sync-R1" in visible_methods(driver, "table1-syncr1")

    # The per-sample page of the injected run: text shown, script never run, filters work.
    driver.get((tmp_path / "site" / site.pages[[r.id for r in site.runs if r.info.model == INJECTED][0]]).as_uri())
    assert driver.execute_script("return window.__pwned") is None
    assert INJECTED in driver.find_element("css selector", "tr.item td.text:nth-of-type(6)").text
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "filter-task")).select_by_value("qa")
    assert driver.find_element("id", "shown").text == "1 items"


def test_table5_page_with_measured_rows(tmp_path: Path, driver) -> None:
    """Sanity models evaluated by the real runner on Table 5's benchmarks (fixtures in their release layouts),
    their rows beside the paper's; the screenshot shows Table 5."""
    import unifybench_pp
    from baselines.registry import create
    from evaluators.runner import EvalConfig, run_evaluation
    from evaluators.scoring_config import ScoringConfig

    from .table5_fixtures import write_dreambench, write_mcllava, write_yollava

    offline = ScoringConfig(clip=str(tmp_path / "no-clip"), dinov2=str(tmp_path / "no-dinov2"))
    benches = {fmt: unifybench_pp.load(unifybench_pp.build(write(tmp_path / fmt), tmp_path / f"b-{fmt}", quiet=True,
                                                           format=fmt).out)
               for fmt, write in (("yollava", write_yollava), ("mcllava", write_mcllava),
                                  ("dreambench", write_dreambench))}
    runs = tmp_path / "runs"
    for fmt in ("yollava", "mcllava"):
        run_evaluation(benches[fmt], create("always-yes"), EvalConfig("always-yes", runs_dir=runs, scoring=offline,
                                                                      model_type="Und. Only"))
    for fmt in ("yollava", "dreambench"):
        run_evaluation(benches[fmt], create("real-images"), EvalConfig("real-images", runs_dir=runs, scoring=offline,
                                                                       model_type="Gen. Only"))
    build_site([runs], tmp_path / "site")
    driver.get((tmp_path / "site" / "index.html").resolve().as_uri())

    understanding = driver.find_element("id", "table5_understanding")
    measured = understanding.find_elements("css selector", "tbody tr.measured")
    assert len(measured) == 1 and visible_methods(driver, "table5_understanding").count("always-yes") == 1
    # By hand: Rec. all "Yes" -> (1 + 0) / 2; Yo'LLaVA VQA: no option text is "yes" -> 0; QA: only mam's
    # "Yes / No" question (answer Yes) -> (0 + 1) / 2; MC-LLaVA: BLEU of "Yes" ~0, QA letters never "Yes" -> 0.
    cells = [td.text for td in measured[0].find_elements("css selector", "td.num")]
    assert cells == ["0.500", "0.000", "0.500", "0.500", "0.000", "0.000"]
    assert "Sync-R1" in visible_methods(driver, "table5_understanding")
    generation = driver.find_element("id", "table5_generation")
    row = generation.find_element("css selector", "tbody tr.measured")
    assert row.find_element("css selector", "td.method").text.startswith("real-images")
    assert [td.text for td in row.find_elements("css selector", "td.num")] == ["n/c", "n/c", "n/c"]  # no CLIP here

    driver.execute_script("arguments[0].scrollIntoView(); window.scrollBy(0, -70);", understanding)  # and its title
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "leaderboard-table5.png"))
    driver.find_element("id", "toggle-reported").click()
    assert visible_methods(driver, "table5_understanding") == ["always-yes"]
