"""The generated page in headless Chromium from file://: sorting, the reported toggle, filters, no injected script."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from leaderboard.page import build_site

from .test_leaderboard import INJECTED, make_run

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
    rows = driver.find_elements("css selector", f"#{table_id} tbody tr.row")
    return [r.find_element("css selector", "td.method").text.split("\n")[0].replace("measured", "").replace(
        "reported", "").strip() for r in rows if r.is_displayed()]


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
