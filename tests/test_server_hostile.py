"""A hostile visitor against a real ``streamlit run serve.py`` (issue 17): media identity, frames, names.

* Two sessions upload different files that Streamlit's media hash cannot tell apart (over 1 MiB, the same
  length, the same first, middle and last 64 KiB): each player's media URL must serve that session's own
  bytes (before: one URL for both, B heard A's song).
* WebSocket frames far over what the app needs are refused before they are buffered whole
  (``server.maxMessageSize``; before: four 380 MB frames held 1.97 GB).
* A file name that is a Markdown image of an outside address makes the browser fetch nothing.
* Uploads straight to the endpoint, with no widget: a total per session (the gate, ``vsep_app/gate.py``),
  and no metrics endpoint.
"""

from __future__ import annotations

import asyncio
import io
import time
import urllib.request

import numpy as np
import pytest
import soundfile as sf
from browser_support import (
    OUTPUT,
    MemorySampler,
    Server,
    act,
    block_outside_requests,
    launch,
    missing_browser_reason,
    wait_for_quiet,
    wait_for_run,
    wait_js,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing_browser_reason() is not None, reason=missing_browser_reason() or ""),
]

SR = 22050
CHUNK = 64 * 1024  # what Streamlit hashes of a media file over 1 MiB, at its head, middle and tail


@pytest.fixture(autouse=True)
def _output_folder():
    OUTPUT.mkdir(parents=True, exist_ok=True)


def colliding_pair() -> tuple[bytes, bytes, bytes]:
    """Two different mixtures Streamlit's media hash confuses, and a vocal that fits both."""
    n = SR * 40  # 1.76 MB as 16-bit mono WAV
    t = np.arange(n) / SR
    vocal = 0.3 * np.sin(2 * np.pi * 330 * t)
    mixture = vocal + 0.3 * np.sin(2 * np.pi * 110 * t)

    def wav(y) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    a = wav(mixture)
    other = bytearray(wav(vocal + 0.3 * np.sin(2 * np.pi * 165 * t)))  # another song, the same length
    b = bytearray(a)
    # B: A's head, middle and tail, the other song everywhere else.
    mid = (len(a) - CHUNK) // 2
    for lo, hi in ((CHUNK, mid), (mid + CHUNK, len(a) - CHUNK)):
        b[lo:hi] = other[lo:hi]
    b = bytes(b)
    assert a != b and len(a) == len(b) > 1024 * 1024
    assert all(a[s] == b[s] for s in (slice(0, CHUNK), slice(mid, mid + CHUNK), slice(len(a) - CHUNK, None)))
    return a, b, wav(vocal)


def _upload_pair(page, files: list[tuple[str, bytes]], timeout: float = 120) -> None:
    act(page, lambda: page.get_by_text("Upload files", exact=True).click(), timeout)
    for index, (name, data) in enumerate(files):
        page.locator("[data-testid='stFileUploader']").nth(index).locator("input[type=file]").set_input_files(
            {"name": name, "mimeType": "audio/wav", "buffer": data}
        )
        # What the upload's run draws, then a quiet page (its run may arrive in one update the watcher misses).
        wait_js(page, f"document.body.innerText.includes('Ready: {name}')", timeout, what=f"the upload of {name}")
        wait_for_quiet(page, timeout=timeout)
    page.get_by_role("button", name="Load these files").click()
    wait_js(page, f"document.body.innerText.includes('Loaded: {files[0][0]}')", timeout, what="the pair to load")
    wait_for_quiet(page, timeout=timeout)


def _players(page, server: Server) -> list[bytes]:
    """The bytes each audio player of the page's main area is served, fetched without the session's cookie."""
    urls = page.evaluate(
        "() => Array.from(document.querySelectorAll('[data-testid=\"stMain\"] audio')).map(a => a.src)"
    )
    out = []
    for url in urls:
        with urllib.request.urlopen(url, timeout=30) as r:
            out.append(r.read())
    return out


def test_two_sessions_with_colliding_files_each_hear_their_own(tmp_path):
    from playwright.sync_api import sync_playwright

    a, b, vocal = colliding_pair()
    with Server(log_path=OUTPUT / "media_identity_server.log") as server, sync_playwright() as p:
        browser = launch(p)
        try:
            heard = {}
            for name, mixture in (("alpha_mix.wav", a), ("bravo_mix.wav", b)):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                outside = block_outside_requests(context)
                page = context.new_page()
                page.goto(server.url)
                wait_for_run(page, 0, 120)
                _upload_pair(page, [(name, mixture), (f"{name[:5]}_vox.wav", vocal)])
                heard[name] = _players(page, server)
                assert outside == []
                # The first session stays open while the second loads (both own their media).
        finally:
            browser.close()
    for name, mixture in (("alpha_mix.wav", a), ("bravo_mix.wav", b)):
        players = heard[name]
        assert len(players) >= 2
        assert players[0] == mixture, f"{name}'s mixture player served other bytes"
        assert players[1] == vocal


def test_frames_over_the_message_limit_are_refused_before_they_fill_memory():
    """Four 100 MB frames at once on bare WebSockets: closed by the server, its memory barely moves."""
    import websockets

    frame = b"\x00" * (100 * 1000 * 1000)
    closed = []

    async def send_one(url: str) -> None:
        try:
            async with websockets.connect(
                url, subprotocols=["streamlit"], max_size=None, open_timeout=30, close_timeout=10
            ) as ws:
                await ws.send(frame)
                await asyncio.wait_for(ws.recv(), timeout=60)  # the server's answer: a close, not a message
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=60)
        except websockets.ConnectionClosed as exc:
            closed.append(exc.rcvd.code if exc.rcvd is not None else None)
        except (OSError, asyncio.TimeoutError) as exc:
            closed.append(type(exc).__name__)

    async def all_four(url: str) -> None:
        await asyncio.gather(*(send_one(url) for _ in range(4)))

    with Server(log_path=OUTPUT / "frames_server.log") as server:
        with urllib.request.urlopen(server.url, timeout=60) as r:
            r.read()
        time.sleep(1.0)
        base = server.rss_bytes()
        with MemorySampler(server) as memory:
            asyncio.run(all_four(server.url.replace("http", "ws") + "/_stcore/stream"))
        assert server.alive()
        grown_mb = (memory.peak - base) / 1e6
        print(f"four 100 MB frames: server {base / 1e6:.0f} MB -> peak {memory.peak / 1e6:.0f} MB, closes {closed}")
    assert len(closed) == 4 and all(code == 1009 for code in closed), closed  # 1009: message too big
    assert grown_mb < 250, f"the server grew by {grown_mb:.0f} MB from four 100 MB frames"


def test_a_hostile_file_name_makes_the_browser_fetch_nothing_outside():
    """Record a vocal → Upload an instrumental with a name that is a Markdown image (issue 17's hole)."""
    from playwright.sync_api import sync_playwright

    name = "![x](https:203.0.113.9:9999) a.wav"
    with Server(log_path=OUTPUT / "hostile_name_server.log") as server, sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            outside = block_outside_requests(context)
            asked = []
            page = context.new_page()
            page.on("request", lambda req: asked.append(req.url) if "9999" in req.url else None)
            page.goto(server.url)
            wait_for_run(page, 0, 120)
            act(page, lambda: page.get_by_text("Record a vocal", exact=True).click(), 120)
            act(page, lambda: page.get_by_text("Upload an instrumental", exact=True).click(), 120)
            page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
                {"name": name, "mimeType": "audio/wav", "buffer": b"not audio at all" * 64}
            )
            wait_js(
                page,
                "document.querySelector('[data-testid=\"stAlert\"]') && document.body.innerText.includes('9999')",
                120,
                what="the error message",
            )
            page.wait_for_timeout(1000)  # time for an image the message might hold to be asked for
            alert = page.locator("[data-testid='stAlert']").filter(has_text="9999").first
            assert alert.locator("img, a").count() == 0
            assert "![x](https:203.0.113.9:9999)" in alert.inner_text()  # shown literally
        finally:
            browser.close()
    assert asked == [] and outside == [], (asked, outside)


async def _open_session(ws_url: str, xsrf: str):
    """A bare WebSocket session (what a page does): ask for a script run, read messages until the session's id."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ws = await websockets.connect(ws_url, subprotocols=["streamlit", xsrf], max_size=None, open_timeout=60)
    back = BackMsg()
    back.rerun_script.SetInParent()
    await ws.send(back.SerializeToString())
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=120))
        if msg.WhichOneof("type") == "new_session":
            return ws, msg.new_session.initialize.session_id


def test_uploads_without_a_widget_have_a_total_per_session_released_when_deleted():
    """A raw client writing straight to the upload endpoint (with its XSRF cookie), no widget involved.

    Streamlit caps each file (``server.maxUploadSize``: over it, 413); the gate in front of it
    (``vsep_app/gate.py``, installed by ``serve.py``) caps what one session holds (``VSEP_UPLOAD_SESSION_MB``):
    a file that would take the session over is refused, a deleted one makes room again, another session has
    its own total, an upload that does not say its length is refused, and a session that ended can upload
    nothing. Here with a 20 MB cap per file, 40 MB per session and a 2 s TTL to keep the test short.
    """
    import requests

    mib = 1024 * 1024
    env = {
        "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "20",
        "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "2",
        "VSEP_UPLOAD_SESSION_MB": "40",
    }
    with Server(log_path=OUTPUT / "uploads_server.log", env=env) as server:
        page = requests.get(f"{server.url}/_stcore/health", timeout=60)  # where the page gets its XSRF cookie
        xsrf = page.cookies.get("_streamlit_xsrf")
        assert xsrf, page.headers
        ws_url = server.url.replace("http", "ws") + "/_stcore/stream"
        auth = {"headers": {"X-Xsrftoken": xsrf}, "cookies": {"_streamlit_xsrf": xsrf}, "timeout": 120}

        def put(session, file_id, size) -> int:
            return requests.put(
                f"{server.url}/_stcore/upload_file/{session}/{file_id}", files={"file": ("x.wav", b"\1" * size)}, **auth
            ).status_code

        def put_unannounced(session, file_id, size) -> int:
            body = b"--b\r\nContent-Disposition: form-data; name=file; filename=x.wav\r\n\r\n" + b"\1" * size
            chunks = (body[i : i + mib] for i in range(0, len(body), mib))  # a generator: sent chunked, no length
            return requests.put(
                f"{server.url}/_stcore/upload_file/{session}/{file_id}",
                data=chunks,
                headers={**auth["headers"], "Content-Type": "multipart/form-data; boundary=b"},
                cookies=auth["cookies"],
                timeout=120,
            ).status_code

        def delete(session, file_id) -> int:
            return requests.delete(f"{server.url}/_stcore/upload_file/{session}/{file_id}", **auth).status_code

        async def scenario() -> dict:
            ws, session = await _open_session(ws_url, xsrf)
            other_ws, other = await _open_session(ws_url, xsrf)
            await asyncio.sleep(2.0)  # the first page's run settles
            base = server.rss_bytes()
            run = asyncio.to_thread
            figures = {
                "over_file_cap": await run(put, session, "big", 21 * mib),
                "kept": [await run(put, session, f"f{i}", 19 * mib) for i in range(5)],
            }
            figures["holding_mb"] = (server.rss_bytes() - base) / 1e6
            figures["same_id_again"] = await run(put, session, "f0", 19 * mib)  # replaces f0: no more held
            figures["unannounced"] = await run(put_unannounced, session, "u", 1 * mib)
            figures["other_session"] = await run(put, other, "g0", 19 * mib)
            figures["delete"] = await run(delete, session, "f0")
            figures["after_delete"] = await run(put, session, "f2", 19 * mib)
            await ws.close()
            await other_ws.close()
            await asyncio.sleep(4.0)  # over the TTL
            for _ in range(2):  # an expired session is dropped at the store's next write (another tab closing)
                third, _ = await _open_session(ws_url, xsrf)
                await asyncio.sleep(1.0)
                await third.close()
                await asyncio.sleep(3.0)
            figures["ended_session"] = await run(put, session, "f3", 1 * mib)
            return figures

        figures = asyncio.run(scenario())
        metrics = requests.get(f"{server.url}/_stcore/metrics", timeout=60)
        assert server.alive()
    print(f"\nuploads: {figures}; server RSS +{figures['holding_mb']:.0f} MB while holding two 19 MiB files")
    assert figures["over_file_cap"] == 413  # Streamlit's own cap per file
    assert figures["kept"] == [204, 204, 413, 413, 413]  # the session's total: 40 MB
    assert figures["same_id_again"] == 204
    assert figures["unannounced"] == 411
    assert figures["other_session"] == 204  # a total per session, not one for the whole server
    assert figures["delete"] == 204 and figures["after_delete"] == 204  # a deleted file makes room
    assert figures["ended_session"] == 400  # Streamlit refuses an ended session's id
    assert metrics.status_code == 404 and "cache_memory_bytes" not in metrics.text


def test_a_visitor_replacing_files_keeps_within_the_session_total_and_is_told_when_over():
    """In Chromium, through the uploaders: replacing the mixture three times (5.3 MB each, 16 MB in all) stays
    within a 12 MiB session total, because the page deletes the file it replaces; a target that would take the
    session over gets the red mark, and Load says why in words."""
    from playwright.sync_api import sync_playwright

    def tone(seconds: float, hz: float) -> bytes:
        t = np.arange(int(SR * seconds)) / SR
        buf = io.BytesIO()
        sf.write(buf, 0.3 * np.sin(2 * np.pi * hz * t), SR, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    mixture, too_big = tone(120, 220), tone(200, 330)  # 5.3 MB, 8.8 MB: 14.1 MB together, over 12 MiB
    with (
        Server(log_path=OUTPUT / "session_total_server.log", env={"VSEP_UPLOAD_SESSION_MB": "12"}) as server,
        sync_playwright() as p,
    ):
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url)
            wait_js(page, "document.body.innerText.includes('Upload files')", 120, what="the Load page")
            page.get_by_text("Upload files", exact=True).click()
            wait_js(
                page,
                "document.querySelectorAll(\"[data-testid='stFileUploader']\").length >= 2",
                60,
                what="the two uploaders",
            )
            wait_js(page, "document.body.innerText.includes('12 MB together')", 60, what="the total in the caption")
            uploaders = page.locator("[data-testid='stFileUploader']")
            for i in range(3):
                uploaders.nth(0).locator("input[type=file]").set_input_files(
                    {"name": f"take{i}.wav", "mimeType": "audio/wav", "buffer": mixture}
                )
                wait_js(page, f"document.body.innerText.includes('Ready: take{i}.wav')", 120, what=f"take{i}.wav")
            uploaders.nth(1).locator("input[type=file]").set_input_files(
                {"name": "vocal.wav", "mimeType": "audio/wav", "buffer": too_big}
            )
            wait_js(
                page,
                "document.querySelectorAll(\"[data-testid='stFileUploader']\")[1].innerText"
                ".includes('status code 413')",
                120,
                what="the refused upload's mark",
            )
            page.get_by_role("button", name="Load these files").click()
            wait_js(
                page,
                "document.body.innerText.includes('12 MB together')"
                " && document.body.innerText.includes('No isolated vocal file is chosen')",
                120,
                what="Load's message",
            )
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
