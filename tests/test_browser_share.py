"""Sharing a result by link, in Debian's Chromium (issue #20).

On a real Streamlit server whose results store is a temporary folder
(``VSEP_STORE``): run both searches on the default sample, publish from
Results with a title full of markup, then open the link in a fresh browser
context with every outside request blocked and compare every score on the page
with the shared ZIP's metrics.json and with the Results page's own ZIP; add a
second published result to compare (the difference table, the A/B player
across the two); a wrong id; the same link after the server restarts; the
delete link. A publish killed mid-write is tested on a real ``share`` process
in ``test_store.py``; a result with listening ratings in
``test_browser_listening.py``. Run: ``.venv/bin/python -m pytest tests/test_browser_share.py``.
"""

from __future__ import annotations

import json
import math
import zipfile

import pytest
from browser_support import OUTPUT, Server, act, block_outside_requests, launch, nav, wait_for_run, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]

VIEWPORT = {"width": 1400, "height": 1000}
TITLE = "Pop <b>shared</b> [click](http://example.com) $x$"
VIEW_IS = "Array.from(document.querySelectorAll('input[aria-label=\"View\"]')).some(e => e.value === '{}')"
CODES_JS = "Array.from(document.querySelectorAll('[data-testid=stCode]')).map(e => e.innerText)"


@pytest.fixture(scope="module")
def store_env(tmp_path_factory):
    return {"VSEP_STORE": str(tmp_path_factory.mktemp("store") / "results_store")}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def _context(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(120_000)
    return context, block_outside_requests(context)


def _results_of_the_default_sample(browser, server):
    """A new visitor on the default sample: Run both on Optimise, then Results; (context, outside, page)."""
    context, outside = _context(browser)
    page = context.new_page()
    page.goto(server.url)
    wait_for_run(page, 0, 90)
    act(page, lambda: nav(page, "Optimise"))
    act(page, lambda: page.get_by_role("button", name="Run both").click(), 240)
    page.get_by_text("Greedy search done").wait_for()
    act(page, lambda: nav(page, "Results"), 300)
    return context, outside, page


def _publish(page, title: str, *, audio: bool = True) -> tuple[str, str]:
    """Fill the Share form on Results and publish; the link and the delete link shown."""
    page.get_by_text("Share this result").wait_for(timeout=300_000)
    page.get_by_label("Title").fill(title)
    if not audio:
        page.get_by_text("Include the audio").click()
    before = len([c for c in page.evaluate(f"() => {CODES_JS}") if "/shared?id=" in c])
    act(page, lambda: page.get_by_role("button", name="Publish and get a link").click(), 180)
    wait_js(page, f"({CODES_JS}).some(c => c.includes('delete='))", 30, what="the links")
    codes = [c.strip() for c in page.evaluate(f"() => {CODES_JS}") if "/shared?id=" in c]
    assert len(codes) == 2 and before in (0, 2), codes
    link = next(c for c in codes if "delete=" not in c)
    delete = next(c for c in codes if "delete=" in c)
    assert delete.startswith(link + "&delete=")
    return link, delete


def _table_rows(page) -> dict:
    """The score table's cells by method: {method: [cell texts]} and the header."""
    rows = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid=stDataFrame] [role=row]'))
        .map(r => Array.from(r.querySelectorAll('[role=columnheader], [role=gridcell], th, td'))
        .map(c => c.innerText.trim()))""")
    header, body = rows[0], rows[1:]
    return header, {r[0]: r for r in body if r}


def _open_shared(browser, link: str):
    context, outside = _context(browser)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(link)
    wait_for_run(page, 0, 90)
    return context, page, outside, errors


def _figures_match(page, metrics: dict) -> int:
    """Every figure in the page's table equals metrics.json's (the table holds full precision)."""
    header, rows = _table_rows(page)
    compared = 0
    for m in metrics["methods"]:
        row = rows[m["name"]]
        for metric, label in (("si_sdr", "SI-SDR"), ("sdr", "SDR"), ("sir", "SIR"), ("sar", "SAR")):
            column = header.index(f"vocal {label}")
            value = m["vocal"][metric]
            cell = row[column]
            if value is None or (m["name"] == "mixture" and metric == "sar"):
                assert cell in ("", "—"), (m["name"], metric, cell)
                continue
            assert math.isclose(float(cell), value, rel_tol=1e-9, abs_tol=1e-9), (m["name"], metric, cell, value)
            compared += 1
    return compared


def test_publish_open_compare_restart_and_delete(browser, store_env, tmp_path):
    shots = OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with Server(log_path=tmp_path / "server1.log", env=store_env) as server:
        # --- the publisher: run both on the default sample, publish twice ---------------------
        context, outside, page = _results_of_the_default_sample(browser, server)
        page.get_by_text("Take it with you").wait_for(timeout=300_000)
        with page.expect_download(timeout=300_000) as info:
            page.get_by_role("button", name="Download everything (ZIP)").click()
        info.value.save_as(tmp_path / "results.zip")
        with zipfile.ZipFile(tmp_path / "results.zip") as zf:
            results_metrics = json.loads(zf.read("metrics.json"))
        link, delete_link = _publish(page, TITLE)
        assert link.startswith(server.url + "/shared?id=")
        second, _ = _publish(page, "Second result")
        assert second != link
        context.close()
        assert not outside, outside

        # --- a stranger: a fresh context, outside requests blocked ------------------------------
        context, page, outside, errors = _open_shared(browser, link)
        page.get_by_role("heading", name=TITLE).wait_for()  # the typed markup shown as text
        assert page.locator("h1 b").count() == 0 and page.locator("a[href='http://example.com']").count() == 0
        page.get_by_text("This is an oracle experiment").first.wait_for()
        page.get_by_text("this link works until").wait_for()
        wait_js(
            page,
            "document.querySelectorAll('[data-testid=stDataFrame] [role=row]').length > 5",
            60,
            what="the score table",
        )
        wait_js(
            page,
            "document.querySelectorAll('.js-plotly-plot .heatmaplayer image').length >= 4",
            60,
            what="the spectrograms and the EQ curves",
        )
        # Published without a listening test: the page says nothing about one (the sidebar's link aside).
        assert page.get_by_role("heading", name="Listening test").count() == 0
        assert page.locator("audio").count() >= 1 + 2 + 3  # the A/B player, the inputs, the estimates
        assert page.frame_locator("iframe").first.get_by_role("button", name="A: Mixture").count() == 1
        with page.expect_download() as info:
            page.get_by_role("button", name="Download everything (ZIP)").click()
        info.value.save_as(tmp_path / "shared.zip")
        with zipfile.ZipFile(tmp_path / "shared.zip") as zf:
            shared_metrics = json.loads(zf.read("metrics.json"))
            names = zf.namelist()
        assert {"metrics.json", "summary.json", "settings.json", "share.json", "report.html"} <= set(names)
        assert _figures_match(page, shared_metrics) >= 4 * 8
        # The same figures as the Results page's own download.
        assert [m["vocal"] for m in shared_metrics["methods"]] == [m["vocal"] for m in results_metrics["methods"]]
        with page.expect_download() as info:
            page.get_by_role("button", name="Download the report (HTML)").click()
        report = info.value.path().read_text()
        assert "<b>shared</b>" not in report and "&lt;b&gt;shared&lt;/b&gt;" in report
        page.set_viewport_size({"width": 1400, "height": 4200})
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "shared.png"))
        page.set_viewport_size(VIEWPORT)

        # --- compare with the second result -------------------------------------------------------
        box = page.get_by_label("Paste the link of another published result")
        act(page, lambda: (box.fill(second), box.press("Enter")), 60)
        page.get_by_text("B: Second result").wait_for()
        wait_js(
            page,
            "Array.from(document.querySelectorAll('[data-testid=stDataFrame] [role=columnheader]'))"
            ".some(c => c.innerText.includes('B − A'))",
            60,
            what="the difference table",
        )
        across = page.locator("iframe").nth(1).content_frame  # the first is this result's own A/B player
        across.get_by_role("button", name="A: A: Mixture").wait_for()
        assert across.get_by_role("button", name="B: A: Target (true vocal)").count() == 1
        # The second player's B: the other result's mixture.
        act(
            page,
            lambda: (
                page.get_by_role("combobox", name="B").last.click(),
                page.keyboard.type("B: Mixture"),
                page.keyboard.press("Enter"),
            ),
            60,
        )
        across = page.locator("iframe").nth(1).content_frame
        across.get_by_role("button", name="B: B: Mixture").wait_for()
        context.close()
        assert not outside, outside
        assert not [e for e in errors if "ResizeObserver" not in e], errors

        # --- a wrong id ---------------------------------------------------------------------------------
        context, page, outside, _ = _open_shared(browser, f"{server.url}/shared?id=AAAAAAAAAAAAAAAAAAAAAAAA")
        page.get_by_text("No published result has this link").wait_for()
        page.get_by_role("link", name="Go to the start page").wait_for()
        assert page.locator("[data-testid=stDataFrame]").count() == 0
        context.close()

    # --- the server restarts: the link still opens ------------------------------------------------------
    with Server(log_path=tmp_path / "server2.log", env=store_env) as server:
        reopened = link.replace(link.split("/shared?")[0], server.url)
        context, page, outside, _ = _open_shared(browser, reopened)
        page.get_by_role("heading", name=TITLE).wait_for()
        wait_js(
            page,
            "document.querySelectorAll('[data-testid=stDataFrame] [role=row]').length > 5",
            60,
            what="the score table after a restart",
        )
        assert _figures_match(page, shared_metrics) >= 4 * 8
        context.close()

        # --- the delete link ------------------------------------------------------------------------------
        context, page, outside, _ = _open_shared(browser, delete_link.replace(link.split("/shared?")[0], server.url))
        act(page, lambda: page.get_by_role("button", name="Delete this result for everyone").click())
        page.get_by_text("Deleted: the link no longer opens anything").wait_for()
        context.close()
        context, page, outside, _ = _open_shared(browser, reopened)
        page.get_by_text("No published result has this link").wait_for()
        context.close()
        assert not outside, outside


def test_a_view_permalink_reopens_sample_stem_settings_slice_and_window(browser, tmp_path):
    """ "Slice 6, window 42 of the ballad's drums" (with a 520-sample hop) is a link; the page writes its URL."""
    link = "/slices?sample=sung_phrases_ballad&stem=drums&hop_length=520&tab=window&window=42&slice=slice_6_harmonic"
    with Server(log_path=tmp_path / "server.log") as server:
        context, outside = _context(browser)
        page = context.new_page()
        page.goto(server.url + link)
        wait_for_run(page, 0, 90)
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("Ballad, female voice, two phrases · target: drums").wait_for()
        sidebar.get_by_text("hop 520 samples").wait_for()
        page.get_by_text("Fingerprints at window 42 (").wait_for()
        assert page.get_by_role("tab", name="One window up close").get_attribute("aria-selected") == "true"
        wait_js(page, VIEW_IS.format("6: harmonic"), 30, what="slice 6 chosen")
        # The page keeps its address a link to what is shown: choose another slice, the URL follows.
        act(
            page,
            lambda: (
                page.get_by_role("combobox", name="View").click(),
                page.keyboard.type("7: highpass"),
                page.keyboard.press("Enter"),
            ),
            90,
        )
        wait_js(page, "location.search.includes('slice=slice_7_highpass')", 30, what="the URL to follow")
        assert "window=42" in page.url and "stem=drums" in page.url and "hop_length=520" in page.url
        followed = page.url
        context.close()
        # That address, in a fresh session, opens the new view.
        context, outside2 = _context(browser)
        page = context.new_page()
        page.goto(followed)
        wait_for_run(page, 0, 90)
        page.get_by_text("Fingerprints at window 42 (").wait_for()
        wait_js(page, VIEW_IS.format("7: highpass"), 30, what="slice 7 chosen")
        # A link naming a sample this server does not have says so, and shows the default sample.
        page.goto(server.url + "/slices?sample=no_such_sample")
        page.get_by_text("This link's view could not be opened").wait_for()
        context.close()
        assert not outside and not outside2
