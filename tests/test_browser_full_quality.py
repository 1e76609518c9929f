"""Full-quality audio in a real browser (issue #21): Debian's Chromium, headless, driven by Playwright.

A visitor uploads a 44.1 kHz stereo song and its vocal, runs the progressive test and opens Results: the page
says which segment was analysed and how to choose another, and plays the chosen run at the song's own rate and
channels beside its scores. The players are real ``<audio>`` elements that load their WAVs: their length is the
analysed segment's. Offline, as the other browser tests. Saves ``tests/output/screenshots/results_full_quality.png``.
"""

from __future__ import annotations

import pytest
from browser_support import OUTPUT, Server, act, block_outside_requests, launch, nav, wait_for_run, wait_js
from stereo_support import stereo_pair

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}

#: Every player's length once loaded (NaN before): the full-quality ones are the last two on the page.
DURATIONS_JS = "Array.from(document.querySelectorAll('[data-testid=stMain] audio')).map(a => a.duration)"


def test_results_plays_the_full_quality_audio_of_a_stereo_upload(tmp_path):
    from playwright.sync_api import sync_playwright

    mixture, vocal, _ = stereo_pair(seconds=6.0)
    (tmp_path / "song.wav").write_bytes(mixture)
    (tmp_path / "voice.wav").write_bytes(vocal)
    with Server(log_path=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(120_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        wait_for_run(page, 0, 60)

        act(page, lambda: page.get_by_text("Upload files", exact=True).click())
        uploaders = page.locator("[data-testid='stFileUploader'] input[type=file]")
        uploaders.nth(0).set_input_files(str(tmp_path / "song.wav"))
        wait_js(page, "document.body.innerText.includes('Ready: song.wav')", 60, what="the mixture's upload")
        uploaders.nth(1).set_input_files(str(tmp_path / "voice.wav"))
        wait_js(page, "document.body.innerText.includes('Ready: voice.wav')", 60, what="the vocal's upload")
        act(page, lambda: page.get_by_role("button", name="Load these files").click(), 120)
        page.get_by_text("Loaded: song.wav + voice.wav").wait_for()

        act(page, lambda: nav(page, "Optimise"))
        act(page, lambda: page.get_by_role("button", name="Run the progressive test").click(), 240)
        act(page, lambda: nav(page, "Results"), 300)
        page.get_by_text("Take it with you").wait_for(timeout=300_000)

        main = page.locator("[data-testid='stMain']")
        text = main.inner_text()
        assert "Analysed: 0 s to 4.7 s of the song (the song lasts 0:06), at 22050 Hz mono." in text
        assert "change Segment start and Segment length under Analysis settings on the Load audio page" in text
        assert "Full quality" in text and "44100 Hz stereo" in text
        assert "Vocal at full quality (44100 Hz stereo)" in text
        assert "each channel scored on its own and the figures averaged" in text
        section = page.get_by_text("Vocal at full quality (44100 Hz stereo)")
        section.scroll_into_view_if_needed()
        # Every player loads its WAV and knows its length; the full-quality pair is 4.7 s long.
        wait_js(
            page, f"{DURATIONS_JS}.length >= 2 && {DURATIONS_JS}.every(d => d > 0)", 120, what="every player's length"
        )
        durations = page.evaluate(DURATIONS_JS)
        full = page.evaluate("""() => {
            const heads = Array.from(document.querySelectorAll('[data-testid=stMain] p'))
                .filter(p => p.innerText.includes('at full quality (44100 Hz stereo)'));
            return heads.map(h => {
                let box = h.closest('[data-testid=stColumn]');
                const audio = box ? box.querySelector('audio') : null;
                return audio ? audio.duration : null;
            });
        }""")
        assert len(full) == 2 and all(d == pytest.approx(4.7, abs=0.01) for d in full), (full, durations)
        shots = OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "results_full_quality.png"))
        context.close()
        browser.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"


def test_a_long_segment_makes_its_full_quality_audio_when_asked_and_says_one_is_kept(tmp_path):
    """A segment longer than the shared caches keep (over ``SHARED_MAX_S``): Results offers a button instead of
    making the full-quality audio at once, says before and after that this session keeps one such result at a
    time, and then plays the whole segment at the song's rate and channels."""
    from playwright.sync_api import sync_playwright

    from vsep_app.full_quality_view import ONE_KEPT
    from vsep_app.limits import SHARED_MAX_S

    seconds = SHARED_MAX_S + 4.0
    mixture, vocal, _ = stereo_pair(seconds=seconds)
    (tmp_path / "long.wav").write_bytes(mixture)
    (tmp_path / "long_voice.wav").write_bytes(vocal)
    with Server(log_path=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(120_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        wait_for_run(page, 0, 60)

        act(page, lambda: page.get_by_text("Upload files", exact=True).click())
        uploaders = page.locator("[data-testid='stFileUploader'] input[type=file]")
        uploaders.nth(0).set_input_files(str(tmp_path / "long.wav"))
        wait_js(page, "document.body.innerText.includes('Ready: long.wav')", 60, what="the mixture's upload")
        uploaders.nth(1).set_input_files(str(tmp_path / "long_voice.wav"))
        wait_js(page, "document.body.innerText.includes('Ready: long_voice.wav')", 60, what="the vocal's upload")
        act(page, lambda: page.get_by_role("button", name="Load these files").click(), 120)
        page.get_by_text("Loaded: long.wav + long_voice.wav").wait_for()
        page.get_by_text("Whole song").click()
        act(page, lambda: page.get_by_role("button", name="Apply settings").click(), 240)
        wait_js(
            page,
            f"document.body.innerText.includes('Analysed (drawn above): {seconds:.2f} s')",
            240,
            what="the whole song",
        )

        act(page, lambda: nav(page, "Optimise"))
        act(page, lambda: page.get_by_role("button", name="Run the progressive test").click(), 300)
        act(page, lambda: nav(page, "Results"), 300)
        page.get_by_text("Take it with you").wait_for(timeout=300_000)

        main = page.locator("[data-testid='stMain']")
        asked = main.get_by_role("button", name=f"Make the full-quality audio ({seconds:.0f} s of audio")
        asked.wait_for()
        text = main.inner_text()
        assert "A long segment's full-quality audio is made when you ask for it." in text
        assert ONE_KEPT in text
        assert "Vocal at full quality" not in text  # nothing made before the button is pressed

        act(page, lambda: asked.click(), 300)
        section = page.get_by_text("Vocal at full quality (44100 Hz stereo)")
        section.wait_for(timeout=300_000)
        section.scroll_into_view_if_needed()
        assert ONE_KEPT in main.inner_text()  # still said once the result is there
        full_js = """(() => Array.from(document.querySelectorAll('[data-testid=stMain] p'))
            .filter(p => p.innerText.includes('at full quality (44100 Hz stereo)'))
            .map(h => { const box = h.closest('[data-testid=stColumn]');
                        const audio = box ? box.querySelector('audio') : null;
                        return audio ? audio.duration : null; }))()"""
        wait_js(page, f"{full_js}.length == 2 && {full_js}.every(d => d > 0)", 120, what="the full-quality players")
        full = page.evaluate(full_js)
        assert all(d == pytest.approx(seconds, abs=0.01) for d in full), full
        context.close()
        browser.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"
