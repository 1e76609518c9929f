"""Picking a target stem in a real browser (issue #13): Debian's Chromium, headless, driven by Playwright.

On the Load page a visitor picks the bundled sample's drums as the target and
loads it; the page names the stem and checks its alignment; the Slices page
draws the drums' 19 views beside the vocal's (38 heatmaps). Offline, as the
other browser tests: requests to any other host fail the test. Saves a
screenshot to ``tests/output/screenshots/slices_drums.png`` (ignored by git).
"""

from __future__ import annotations

import pytest
from browser_support import (
    HEATMAPS_JS,
    OUTPUT,
    Server,
    act,
    block_outside_requests,
    launch,
    nav,
    wait_for_run,
    wait_js,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}


def test_pick_the_drums_as_the_target_and_see_them_beside_the_vocal(tmp_path):
    from playwright.sync_api import sync_playwright

    with Server(log_path=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        wait_for_run(page, 0, 60)
        page.get_by_text("Loaded: Pop, female voice").wait_for(timeout=10_000)

        # Load audio: the sample's stems are offered; pick the drums and load.
        picker = page.locator("[data-testid='stSelectbox']").filter(has_text="Target stem")
        picker.wait_for()
        picker.click()
        options = page.get_by_role("option")
        options.first.wait_for()
        assert [o.strip() for o in options.all_inner_texts()] == ["vocals (the default)", "drums", "bass", "chords"]
        act(page, lambda: page.get_by_role("option", name="drums", exact=True).click())
        act(page, lambda: page.get_by_role("button", name="Load this sample").click())
        page.get_by_text("target: drums").first.wait_for()
        page.get_by_text("Drums (the target)").wait_for()
        page.get_by_text("The drums are aligned with the mixture: lag 0").wait_for()

        # Slices: the drums' views, then the drums beside the vocal (19 rows of two).
        act(page, lambda: nav(page, "Slices"))
        page.get_by_role("tab", name="Drums (the target)").wait_for()
        wait_js(page, f"{HEATMAPS_JS} >= 19", 60, what="the drums' 19 heatmaps")
        act(page, lambda: page.get_by_role("tab", name="Drums beside the vocal").click())
        wait_js(page, f"{HEATMAPS_JS} >= 38", 90, what="38 heatmaps: each view of the drums and of the vocal")
        assert page.get_by_text("drums · 2: vertical").count() >= 1
        assert page.get_by_text("vocal · 2: vertical").count() >= 1
        shots = OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "slices_drums.png"))

        context.close()
        browser.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"
