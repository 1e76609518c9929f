"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Starts ``streamlit run app.py`` on a free port, then, on the bundled sample:
the Load page (players, waveform, alignment), the Slices page (19 heatmaps,
one window up close), the Optimise page (progressive test and greedy search),
the Results page (players, downloads of a WAV, the ZIP and the HTML report),
and a recording with st-audiorec from Chromium's fake microphone fed by a WAV
file, mixed over a bundled instrumental. Saves a screenshot of every page to
``docs/screenshots/``.

Skipped, with the reason, when /usr/bin/chromium or the playwright package
is missing. Run: ``.venv/bin/python -m pytest tests/test_browser.py -m browser``.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import soundfile as sf

from browser_support import (HEATMAPS_JS, REPO, Server, launch, make_voice_wav, missing_browser_reason, nav,
                             run_count, wait_for_run, wait_js)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

SHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}


def _shot(page, name: str, height: int) -> None:
    """Screenshot of the whole page: the app scrolls inside its own container, so grow the viewport."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(600)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(VIEWPORT)


def _act(page, action, timeout: float = 60) -> None:
    """Do ``action`` (a click) and wait until the script run it starts has finished drawing."""
    before = run_count(page)
    action()
    wait_for_run(page, before, timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with Server(log_path=log) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    voice = make_voice_wav(tmp_path_factory.mktemp("mic") / "voice.wav")
    with sync_playwright() as p:
        b = launch(p, fake_mic_wav=voice)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, permissions=["microphone"])
    context.set_default_timeout(60_000)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(server.url)
    wait_for_run(pg, 0, 60)
    pg.get_by_text("Loaded: Pop, female voice").wait_for(timeout=10_000)
    yield pg
    context.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"


def test_walk_every_page_on_the_sample(page, tmp_path):
    # 1. Load audio: the default sample is loaded, with players, a waveform and the alignment check.
    page.get_by_text("Alignment check").wait_for()
    wait_js(page, "document.querySelectorAll('audio').length >= 3", 30, what="three audio players")
    page.get_by_text("The vocal is aligned with the mixture").wait_for()
    page.locator("[data-testid='stImage'] img").first.wait_for()  # the waveforms (an SVG picture)
    assert page.get_by_text("Seed-compatible").first.is_visible()
    # 2 s after the page is drawn, a blank chart makes the browser load the chart library.
    wait_js(page, "document.querySelectorAll('.js-plotly-plot').length >= 1", 15, what="the chart preload")
    _shot(page, "upload", 2300)

    # 2. Slices: 19 heatmaps of the vocal, then one window up close.
    _act(page, lambda: nav(page, "Slices"))
    wait_js(page, f"{HEATMAPS_JS} >= 19", 60, what="19 heatmaps")
    assert page.get_by_text("1: horizontal").count() >= 1
    assert page.locator("table[title='slice_12_edge_90deg']").count() == 1
    _shot(page, "slices", 2700)
    _act(page, lambda: page.get_by_role("tab", name="One window up close").click())
    page.get_by_text("The 25 measurements of this window").wait_for()
    page.get_by_text("Fingerprints at window").wait_for()
    _shot(page, "slices_window", 2500)

    # 3. Optimise: progressive test and greedy search on 8 slices.
    _act(page, lambda: nav(page, "Optimise"))
    _act(page, lambda: page.get_by_role("button", name="Run both").click(), 120)
    page.get_by_text("Greedy search done").wait_for()
    page.get_by_text("Progressive test done").wait_for()
    page.get_by_text("Greedy search: every candidate's polish loss").wait_for()
    page.get_by_text("Final loss per number of slices").wait_for()
    _shot(page, "optimise", 2300)

    # 4. Results: players, spectrograms, EQ curves, scores, downloads.
    _act(page, lambda: nav(page, "Results"), 180)
    page.get_by_text("Extracted vocal for every N").wait_for()
    assert page.locator("audio").count() >= 2 + 1 + 8 + 2
    page.get_by_text("Take it with you").wait_for()
    assert page.get_by_text("exact_eq").count() >= 1 and page.get_by_text("repet_sim").count() >= 1
    _shot(page, "results", 3700)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download everything (ZIP)").click()
    path = tmp_path / "results.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        summary = json.loads(zf.read("summary.json"))
    assert "settings.json" in names and "8_slices/extracted_vocal.wav" in names
    assert len(summary["progressive"]) == 8 and summary["greedy"] is not None

    with page.expect_download() as info:
        page.get_by_role("button", name="Download the report (HTML)").click()
    html_path = tmp_path / "report.html"
    info.value.save_as(html_path)
    text = html_path.read_text()
    assert text.count("<audio") >= 4 and "Oracle experiment" in text and "plotly" in text.lower()

    with page.expect_download() as info:
        page.locator("[data-testid='stDownloadButton']").first.get_by_role("button").click()
    wav = tmp_path / "first.wav"
    info.value.save_as(wav)
    assert sf.info(wav).frames > 0


def test_record_a_vocal_from_the_fake_microphone(page):
    _act(page, lambda: page.get_by_text("Record a vocal").click())
    frame = page.frame_locator("iframe[title*='st_audiorec']")
    frame.get_by_role("button", name="Start Recording").click()
    page.wait_for_timeout(3_000)
    before = run_count(page)
    frame.get_by_role("button", name="Stop").click()
    wait_for_run(page, before, 60)
    page.get_by_text("Got a").wait_for(timeout=30_000)
    assert page.get_by_text("came back empty").count() == 0
    _shot(page, "record", 1800)
    _act(page, lambda: page.get_by_role("button", name="Mix and use this take").click())
    page.get_by_text("Loaded: Your recording over").wait_for()
    wait_js(page, "document.querySelectorAll('audio').length >= 3", 30, what="the recording's players")


def test_live_loss_chart_during_a_long_run(page):
    # The iterative loop with many iterations makes the progressive test last a few seconds,
    # long enough for the live chart (drawn for runs longer than 0.75 s).
    _act(page, lambda: nav(page, "Optimise"))
    _act(page, lambda: page.get_by_text("Iterative loop (as the research code)").click())
    box = page.get_by_label("Iterations per pass")
    box.fill("1500")
    _act(page, lambda: box.press("Enter"))
    before = run_count(page)
    page.get_by_role("button", name="Run the progressive test").click()
    page.get_by_text("Loss while the optimiser runs").wait_for(timeout=60_000)
    wait_for_run(page, before, 120)
    page.get_by_text("Progressive test done: N = 1 … 8").wait_for()
    assert page.get_by_text("Loss while the optimiser runs").count() == 0  # replaced by the full curves
    assert page.get_by_text("Loss curves (every pass's iterations end to end)").count() == 1


def test_a_direct_link_after_a_server_start(browser, tmp_path):
    """The first request to a fresh server is a link to /slices (or a refresh there): app.py must run.

    With a folder called pages/, Streamlit serves that request in its legacy multipage mode and
    runs pages/2_slices.py alone (no sidebar, no sample, a legacy navigation with an "app" entry);
    the page's first statement (vsep_app.ui.run_through_app) leaves that mode and reruns app.py.
    """
    assert (REPO / "pages").is_dir()  # what puts a fresh server in the legacy mode
    with Server(log_path=tmp_path / "streamlit.log") as fresh:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(f"{fresh.url}/slices")
        wait_for_run(page, 0, 60)
        page.get_by_text("Active pair").wait_for()
        assert page.get_by_text("Pop, female voice (default sample)").count() >= 1
        wait_js(page, f"{HEATMAPS_JS} >= 19", 60, what="19 heatmaps")
        assert page.url.rstrip("/").endswith("/slices")
        links = page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()
        titles = [text.strip().splitlines()[-1] for text in links]  # each link: its icon's name, then its title
        assert titles == ["Load audio", "Slices", "Optimise", "Results"], links
        context.close()
