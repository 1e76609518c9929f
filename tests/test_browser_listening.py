"""The listening test in a real browser (issue #22): Debian's Chromium, headless, driven by Playwright.

On the bundled sample a visitor opens Listening test, finds the five shuffled items (three results, the hidden
reference and the low anchor) in one shared player, rates three of them with the sliders' keyboard, and
downloads the ratings as CSV. Offline, as the other browser tests.
"""

from __future__ import annotations

import csv
import io

import pytest

from browser_support import Server, block_outside_requests, launch, nav, run_count, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}


def _act(page, action, timeout: float = 90) -> None:
    before = run_count(page)
    action()
    wait_for_run(page, before, timeout)


def test_rate_three_results_and_download_the_ratings(tmp_path):
    from playwright.sync_api import sync_playwright

    with Server(log_path=tmp_path / "streamlit.log") as server, sync_playwright() as p:
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

        _act(page, lambda: nav(page, "Listening test"), 120)
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
        before = run_count(page)
        page.get_by_text("Your ratings").click()  # blur: the last slider sends its value
        wait_for_run(page, before, 90)

        with page.expect_download() as info:
            page.get_by_role("button", name="Ratings (CSV)").click()
        path = tmp_path / "ratings.csv"
        info.value.save_as(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        context.close()
        browser.close()
    assert [r["label"] for r in rows] == list("ABCDE")
    ratings = {r["label"]: float(r["rating"]) for r in rows}
    assert ratings["A"] == 100 and ratings["B"] == 0 and ratings["C"] == 60
    assert {r["item"] for r in rows} >= {"irm", "exact_eq", "hpss", "hidden reference", "low anchor (3.5 kHz)"}
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"
