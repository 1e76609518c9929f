"""The HTML report for people who do not program (issue #21), in real Chromium.

A 20-second song (the ballad sample played twice) with the drums as the target: the report must stay under
3 MB, explain its words (the dashboard's glossary), say its settings in words, put the verdict above the
scores, show every player's length before it is pressed, draw its charts from the plotly.js it carries, and
fit a 390-pixel-wide phone (no sideways scroll of the page; a wide table scrolls inside its own box).

On the dashboard, "Download the report" makes the report when pressed: the visitor sees the button turn into a
spinner (and refuse a second press) until the file arrives.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser_support import OUTPUT, Server, act, block_outside_requests, launch, nav, wait_for_run

from vsep_core.evaluate import evaluate_experiment, load_pair
from vsep_core.experiment import run_experiment
from vsep_core.glossary import glossary
from vsep_core.report import html_report
from vsep_core.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]

BALLAD = Path(__file__).resolve().parents[1] / "sample_audio" / "sung_phrases_ballad"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1400, "height": 1000}
RAW_KEYS = (
    "n_fft",
    "top_db",
    "hop_length",
    "n_windows",
    "n_points",
    "learning_rate",
    "pooled_windows",
    "pass_method",
    "clip_db",
    "None",
)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("song20")
    for name in ("mixture", "drums"):  # a 20 s song: the 10 s sample twice
        y, sr = sf.read(BALLAD / f"{name}.wav", dtype="float32")
        sf.write(folder / f"{name}.wav", np.concatenate([y, y]), sr)
    settings = Settings(duration_s=None)
    pair = load_pair(folder / "mixture.wav", vocal=folder / "drums.wav", settings=settings, target_name="drums")
    result = run_experiment(pair, settings, max_slices=8)
    metrics = evaluate_experiment(result, pair, methods=["irm", "ibm", "mixture"])
    path = folder / "report.html"
    path.write_text(html_report(result, pair, metrics=metrics), encoding="utf-8")
    return path, pair


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def test_report_of_a_20_second_song_is_small_and_in_plain_words(report_file):
    path, pair = report_file
    assert pair.duration_s == pytest.approx(20.0, abs=0.01)
    assert path.stat().st_size < 3_000_000
    text = path.read_text(encoding="utf-8")
    visible = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    for key in RAW_KEYS:
        assert key not in visible, key
    assert "research default" in visible
    for term, words in glossary("drums").items():
        assert term in visible
        assert words.replace("'", "&#x27;").split(".")[0] in visible
    assert "vocal" not in visible.lower().replace("vocal_separation", "")  # drums throughout
    # The verdict comes before the score table.
    assert visible.index("class='verdict'") < visible.index("class='scores'")


def test_report_plays_charts_and_fits_a_phone(browser, report_file):
    path, pair = report_file
    for viewport, name in ((PHONE, "390"), (DESK, "1400")):
        context = browser.new_context(viewport=viewport)
        outside = []  # the report asks no host for anything: only its own file and what it carries

        def refuse(route, outside=outside):
            if route.request.url.startswith(("file:", "data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", refuse)
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.charts === 'drawn'", timeout=60_000)
        assert page.locator(".js-plotly-plot").count() >= 3
        # Every player knows its length before it is pressed.
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('audio'))
            .every(a => a.readyState >= 1 && isFinite(a.duration))""",
            timeout=60_000,
        )
        durations = page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => a.duration)")
        assert len(durations) >= 5
        assert all(abs(d - pair.duration_s) < 0.2 for d in durations), durations
        assert page.evaluate("Array.from(document.querySelectorAll('audio')).every(a => a.paused)")
        # No sideways scroll of the page; the score table scrolls inside its own box when it is wider.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = page.locator(".scroll:has(table.scores)")
        if viewport is PHONE:
            assert box.evaluate("b => b.scrollWidth > b.clientWidth")
            assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
        page.locator(".verdict").wait_for()
        page.screenshot(path=str(OUTPUT / f"report_{name}.png"), full_page=False)
        assert outside == []
        context.close()


#: Records, in the page, every moment the report's button shows a sign of work (disabled, with Streamlit's spinner
#: icon visible in it) and when the download's link is followed (Streamlit clicks a made link to save the file).
SIGNS_JS = """() => {
  window.__signs = []; window.__downloadAt = null;
  const follow = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (window.__downloadAt === null) window.__downloadAt = performance.now();
    return follow.call(this);
  };
  const button = () => document.querySelector('.st-key-dl_html button');
  const look = () => {
    const b = button();
    if (!b) return;
    const spinner = b.querySelector('[data-testid=stSpinnerIcon]');
    const shown = spinner !== null && spinner.getBoundingClientRect().width > 0;
    if (b.disabled || shown) window.__signs.push({t: performance.now(), disabled: b.disabled, spinner: shown});
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_the_report_download_shows_a_sign_of_work_until_it_arrives(browser, tmp_path):
    with Server(log_path=tmp_path / "streamlit.log") as server:
        context = browser.new_context(viewport=DESK, accept_downloads=True)
        context.set_default_timeout(120_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        page.goto(server.url)
        wait_for_run(page, 0, 90)
        act(page, lambda: nav(page, "Optimise"))
        act(page, lambda: page.get_by_role("button", name="Run the progressive test").click(), 240)
        act(page, lambda: nav(page, "Results"), 300)
        button = page.get_by_role("button", name="Download the report (HTML)")
        button.scroll_into_view_if_needed()
        assert button.is_enabled()
        assert "it shows a spinner for the few seconds this takes" in page.locator("[data-testid=stMain]").inner_text()
        page.evaluate(SIGNS_JS)
        with page.expect_download(timeout=120_000) as info:
            button.click()
        download = info.value
        arrived = page.evaluate("() => window.__downloadAt")
        signs = page.evaluate("() => window.__signs")
        # The spinner showed in a disabled button after the press and before the file was saved.
        assert arrived is not None
        assert any(s["spinner"] and s["disabled"] and s["t"] <= arrived for s in signs), (signs, arrived)
        # The download arrives: the report itself; then the button is back to normal.
        html = Path(download.path()).read_text(encoding="utf-8")
        assert download.suggested_filename == "vsep_report.html"
        assert html.startswith("<!DOCTYPE html>") and "Words used here" in html
        page.wait_for_function("() => !document.querySelector('.st-key-dl_html button').disabled", timeout=30_000)
        assert page.locator(".st-key-dl_html [data-testid=stSpinnerIcon]").count() == 0
        context.close()
    assert not outside, sorted(set(outside))


def test_a_report_with_full_quality_of_a_20_second_stereo_song_stays_under_3_mb(tmp_path):
    """The full-quality players (MP3 at the song's rate and channels) fit within the size rule: the players of
    every N go first, then the full-quality complement's; the target's plays."""
    import base64
    import io

    from stereo_support import stereo_pair

    from vsep_core import api
    from vsep_core.audio import prepare_pair
    from vsep_core.full_quality import FullQualityRun

    mixture, vocal, _ = stereo_pair(seconds=20.0)
    settings = Settings(duration_s=None)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings, keep_audio=True)
    truth = prepare_pair(mixture, vocal=vocal, settings=settings.replace(level="as_is"))
    result = run_experiment(pair, settings, max_slices=8, keep_audio=True)
    metrics = evaluate_experiment(result, truth, methods=["irm", "ibm", "mixture"])
    best = result.best_progressive
    found = api.full_quality(mixture, pair, settings, slices=best.slices, target=vocal)
    est = found.estimate
    run = FullQualityRun(
        label=str(best.n),
        sr=est.sr,
        channels=est.channels,
        scores=found.scores,
        slices=best.slices,
        target=est.frames(),
        complement=np.ascontiguousarray(est.complement_raw.T),
    )
    page = html_report(result, pair, metrics=metrics, full_quality=[run]).encode()
    assert len(page) < 3_000_000
    text = page.decode()
    section = text[text.index("<h2>At full quality</h2>") : text.index("<h2>Final loss")]
    (player,) = re.findall(r"src='data:audio/mpeg;base64,([A-Za-z0-9+/=]+)'", section)
    info = sf.info(io.BytesIO(base64.b64decode(player)))
    assert (info.samplerate, info.channels) == (44100, 2) and info.duration == pytest.approx(20.0, abs=0.1)
    assert (
        "One full-quality player was left out" in section and f"N = {best.n}, full quality (44100 Hz stereo)" in section
    )
