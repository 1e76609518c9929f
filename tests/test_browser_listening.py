"""The listening test in a real browser (issue #22): Debian's Chromium, headless, driven by Playwright.

On the bundled sample a visitor opens Listening test, finds the five shuffled items (three results, the hidden
reference and the low anchor) in one shared player, rates three of them with the sliders' keyboard, and
downloads the ratings as CSV and JSON. Then runs both searches: the Results page's ZIP holds the same ratings
(CSV and JSON); a result published from there shows them to a stranger who opens its link. Offline, as the
other browser tests, with the results store in a temporary folder.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from browser_support import (
    Server,
    act,
    block_outside_requests,
    launch,
    nav,
    wait_for_quiet,
    wait_for_run,
    wait_js,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}


CODES_JS = "Array.from(document.querySelectorAll('[data-testid=stCode]')).map(e => e.innerText.trim())"
TABLES_JS = """() => Array.from(document.querySelectorAll('[data-testid=stDataFrame]')).map(t =>
    Array.from(t.querySelectorAll('[role=row]')).map(r =>
        Array.from(r.querySelectorAll('[role=columnheader], [role=gridcell], th, td')).map(c => c.innerText.trim())))"""


def _rows(text: str) -> list[tuple]:
    """A ratings CSV's (label, item, rating) rows."""
    return [(r["label"], r["item"], float(r["rating"])) for r in csv.DictReader(io.StringIO(text))]


def _download(page, button: str, path):
    with page.expect_download(timeout=300_000) as info:
        page.get_by_role("button", name=button).click()
    info.value.save_as(path)
    return path


def test_rate_three_results_download_them_with_the_results_and_share_them(tmp_path):
    from playwright.sync_api import sync_playwright

    env = {"VSEP_STORE": str(tmp_path / "results_store")}
    with Server(log_path=tmp_path / "streamlit.log", env=env) as server, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(90_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        wait_for_run(page, 0, 90)
        page.get_by_text("Loaded: Pop, female voice").wait_for()

        act(page, lambda: nav(page, "Listening test"), 120)
        page.get_by_text("Your ratings").wait_for()
        # One shared player with a button per item.
        player = page.frame_locator("iframe").first
        for label in "ABCDE":
            player.locator(f"#item_{label}").wait_for()
        player.locator("#item_C").click()
        assert "Playing C" in player.locator("#now").inner_text()

        # Rate three items with the keyboard: A to 100 (End), B to 0 (Home), C to 50 + 10 steps of 1.
        sliders = page.get_by_role("slider")
        assert sliders.count() == 5
        for index, keys in ((0, ["End"]), (1, ["Home"]), (2, ["ArrowRight"] * 10)):
            sliders.nth(index).focus()
            for key in keys:
                sliders.nth(index).press(key)
            page.wait_for_timeout(300)
        act(page, lambda: page.get_by_text("Your ratings").click(), 90)  # blur: the last slider sends its value
        wait_for_quiet(page)  # every slider's value sent: a run after the download would cancel it

        rows = _rows(_download(page, "Ratings (CSV)", tmp_path / "ratings.csv").read_text())
        page_json = json.loads(_download(page, "Ratings (JSON)", tmp_path / "ratings.json").read_text())

        # --- both searches, then the Results page's ZIP holds the same ratings ------------------------
        act(page, lambda: nav(page, "Optimise"), 120)
        act(page, lambda: page.get_by_role("button", name="Run both").click(), 240)
        page.get_by_text("Greedy search done").wait_for(timeout=240_000)
        act(page, lambda: nav(page, "Results"), 300)
        page.get_by_text("Take it with you").wait_for(timeout=300_000)
        page.get_by_text("Your listening test's ratings").wait_for()
        with zipfile.ZipFile(_download(page, "Download everything (ZIP)", tmp_path / "results.zip")) as zf:
            zip_csv = zf.read("listening_ratings.csv").decode()
            zip_json = json.loads(zf.read("listening_ratings.json"))
            assert "metrics.json" in zf.namelist()

        # --- published from Results: a stranger opening the link sees the ratings --------------------
        page.get_by_text("Share this result").wait_for(timeout=300_000)
        page.get_by_label("Title").fill("Rated by ear")
        page.get_by_text("Include the audio").click()  # without audio: quicker, the ratings still go
        act(page, lambda: page.get_by_role("button", name="Publish and get a link").click(), 180)
        wait_js(
            page, f"({CODES_JS}).some(c => c.includes('/shared?id=') && !c.includes('delete='))", 60, what="the link"
        )
        link = next(c for c in page.evaluate(f"() => {CODES_JS}") if "/shared?id=" in c and "delete=" not in c)
        context.close()
        assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"

        stranger = browser.new_context(viewport=VIEWPORT)
        outside = block_outside_requests(stranger)
        shared = stranger.new_page()
        shared.on("pageerror", lambda exc: errors.append(str(exc)))
        shared.goto(link)
        wait_for_run(shared, 0, 90)
        shared.get_by_role("heading", name="Listening test").wait_for()
        wait_js(
            shared,
            "document.querySelectorAll('.js-plotly-plot .barlayer .point').length >= 5",
            60,
            what="the ratings chart",
        )
        # The grid draws its rows after the chart on a slow machine: wait for the ratings table itself.
        wait_js(
            shared, f"({TABLES_JS})().some(t => t.length > 5 && t[0].includes('rating'))", 60, what="the ratings table"
        )
        tables = shared.evaluate(TABLES_JS)
        ratings_table = next(t for t in tables if t and "rating" in t[0])
        header, body = ratings_table[0], [r for r in ratings_table[1:] if r]
        shown = [(r[header.index("label")], r[header.index("item")], float(r[header.index("rating")])) for r in body]
        stranger.close()
        browser.close()
    assert [r[0] for r in rows] == list("ABCDE")
    ratings = {label: rating for label, _, rating in rows}
    assert ratings["A"] == 100 and ratings["B"] == 0 and ratings["C"] == 60
    assert {item for _, item, _ in rows} >= {"irm", "exact_eq", "hpss", "hidden reference", "low anchor (3.5 kHz)"}
    # The Results ZIP: the same rows as the page's own downloads, CSV and JSON.
    assert _rows(zip_csv) == rows
    assert [(r["label"], r["item"], r["rating"]) for r in zip_json["ratings"]] == rows
    assert zip_json["ratings"] == page_json["ratings"] and zip_json["seed"] == page_json["seed"]
    # The shared page: the same ratings, read by a stranger.
    assert shown == rows
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the shared page asked other hosts: {sorted(set(outside))}"
