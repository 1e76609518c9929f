"""The blind method's prediction in a real browser (issue #23): Debian's Chromium, headless, driven by Playwright.

On the Slices page's "One window up close" tab a visitor sees, for the chosen
window, the fingerprint the learned model predicts from the mixture alone
beside the true vocal's and the mixture's. Offline, as the other browser
tests. Saves ``tests/output/screenshots/slices_predicted.png`` (ignored by git).
"""

from __future__ import annotations

import pytest
from browser_support import OUTPUT, Server, act, block_outside_requests, launch, nav, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}


def test_slices_shows_what_the_learned_model_believes_the_vocal_looks_like(tmp_path):
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

        act(page, lambda: nav(page, "Slices"))
        act(page, lambda: page.get_by_role("tab", name="One window up close").click(), timeout=90)
        title = page.get_by_text("what the learned model believes the vocal looks like")
        title.first.wait_for(timeout=60_000)
        assert page.get_by_text("predicted vocal (blind)").count() >= 1  # the legend entry
        assert page.get_by_text("true vocal").count() >= 1
        title.first.scroll_into_view_if_needed()
        shots = OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "slices_predicted.png"))

        context.close()
        browser.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"
