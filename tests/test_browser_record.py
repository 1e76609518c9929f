"""Recording over the backing in a real browser (issue #21): Debian's Chromium, headless, driven by Playwright.

The Load page's recorder plays the bundled sample's instrumental while Chromium's fake microphone (fed from a
WAV file of speech) records: during the take the backing's position advances on the audio clock and its level
meter shows it sounding, the microphone's meter shows the voice; the recording stops when the backing ends,
comes back lined up with it (lead-in and latency cut off), is mixed over the instrumental and becomes the
active pair. Offline, as the other browser tests. Saves ``tests/output/screenshots/record_backing.png``.
"""

from __future__ import annotations

import re

import pytest
from browser_support import (
    OUTPUT,
    RUN_IDLE_JS,
    Server,
    act,
    block_outside_requests,
    launch,
    make_voice_wav,
    wait_for_run,
    wait_js,
    watch_runs,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("require_browser")]  # fails if Chromium is missing

VIEWPORT = {"width": 1400, "height": 1000}
BACKING_S = 4.7  # the default sample's instrumental


def _meters(page) -> dict:
    """What the recorder shows: its state, status line, the backing's position (s) and both levels."""
    return {
        "state": page.locator(".vsep-rec").get_attribute("data-state"),
        "status": page.locator("[data-part=status]").inner_text(),
        "position": page.locator("progress[data-part=backing]").evaluate("e => e.value"),
        "backing_level": page.locator("meter[data-part=backing-level]").evaluate("e => e.value"),
        "mic_level": page.locator("meter[data-part=mic-level]").evaluate("e => e.value"),
        "clock": page.locator("[data-part=backing-time]").inner_text(),
    }


def test_record_over_the_backing_while_it_plays(tmp_path):
    from playwright.sync_api import sync_playwright

    voice = make_voice_wav(tmp_path / "voice.wav")
    with Server(log_path=tmp_path / "streamlit.log") as server, sync_playwright() as p:
        browser = launch(p, fake_mic_wav=voice)
        context = browser.new_context(viewport=VIEWPORT, permissions=["microphone"])
        context.set_default_timeout(60_000)
        outside = block_outside_requests(context)
        page = context.new_page()
        sent = []  # sizes of the frames the page sends the server
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(len(payload))))
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        wait_for_run(page, 0, 60)
        page.get_by_text("Loaded: Pop, female voice").wait_for(timeout=10_000)
        act(page, lambda: page.get_by_text("Record a vocal").click())
        page.get_by_text("Wear headphones").wait_for()  # said before anything plays
        start = page.get_by_role("button", name="Record with the backing")
        start.wait_for()
        assert _meters(page)["position"] == 0

        watch_runs(page)
        start.click()
        # While recording: sample what the recorder shows every 0.3 s until it has sent the take.
        seen = []
        for _ in range(80):
            page.wait_for_timeout(300)
            now = _meters(page)
            seen.append(now)
            if now["state"] == "sent" and not now["status"].startswith("Sending"):  # packed and handed over
                break
        recording = [m for m in seen if m["state"] == "recording" and m["status"].startswith("Recording")]
        assert len(recording) >= 8, seen  # ~4.7 s of backing at 0.3 s a look
        positions = [m["position"] for m in recording]
        assert all(b > a for a, b in zip(positions, positions[1:])), positions  # the backing moves on its clock
        assert positions[-1] > 3.0, positions
        assert max(m["backing_level"] for m in recording) > 0.05, seen  # and sounds: its level as it plays
        assert max(m["mic_level"] for m in recording) > 0.01, seen  # the microphone records meanwhile
        assert seen[-1]["state"] == "sent" and "The backing has ended" in seen[-1]["status"], seen[-1]
        assert seen[-1]["position"] == pytest.approx(BACKING_S, abs=0.1)  # it played to its end
        assert seen[-1]["clock"] == "0:04 / 0:04"

        # The take arrives lined up with the backing: as long as it (lead-in and latency cut off, the tail kept).
        # What the take's run draws, on an idle page (that run may arrive in one update the watcher cannot count).
        wait_js(page, f"document.body.innerText.includes('Got a take') && {RUN_IDLE_JS}", 60, what="the take")
        described = page.get_by_text("Got a take").first.inner_text()
        found = re.search(r"Got a take: (\d+\.\d) s, 48000 Hz, mono", described)
        assert found and float(found[1]) == pytest.approx(BACKING_S, abs=0.15), described
        note = page.get_by_text("Lined up with the backing").first.inner_text()
        lead = re.search(r"(\d+) ms recorded before it started and \d+ ms of latency", note)
        assert lead and 100 <= int(lead[1]) < 2000, note  # the backing is scheduled 0.1 s after the capture starts
        assert "4.7 s of the backing played" in note, note
        shots = OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": 1800})  # the app scrolls inside itself
        page.wait_for_timeout(600)
        page.screenshot(path=str(shots / "record_backing.png"))
        page.set_viewport_size(VIEWPORT)

        act(page, lambda: page.get_by_role("button", name="Mix and use this take").click())
        page.get_by_text("Loaded: Your recording over").wait_for()
        page.get_by_text(re.compile(r"A 4\.[6-7] s recording mixed over the instrumental of")).wait_for()
        assert page.locator("audio").count() >= 3
        # The take went to the server once (~0.6 MB of base64 for 4.8 s at 48 kHz), not again with later reruns.
        big = [n for n in sent if n > 200_000]
        assert len(big) == 1 and 400_000 < big[0] < 1_000_000, sorted(sent)[-5:]

        context.close()
        browser.close()
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors in the page: {errors}"
    assert not outside, f"the app asked other hosts (it must work offline): {sorted(set(outside))}"
