"""A bare WebSocket client cannot empty the dashboard's caches (issue 17), against a real ``streamlit run``.

Streamlit's ``clear_cache`` message (the developer menu's "Clear cache", which
any client can send) empties ``st.cache_data`` and ``st.cache_resource`` for
every session. The dashboard keeps its results in its own memo
(:mod:`vsep_app.memo`), which that message does not reach. The evidence is
the server's own log at ``logger.level debug``, where each memo says what it
computed and what it served: after a stranger's ``clear_cache``, session A's
page is served again without one computation.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from browser_support import OUTPUT, Server
from test_server_hostile import _open_session

pytestmark = pytest.mark.browser  # a real server (no browser needed, but as slow as the browser tests)

COMPUTED = re.compile(r"memo (\S+): computed in")
HIT = re.compile(r"memo (\S+): hit")


def _counts(text: str, pattern: re.Pattern) -> dict:
    out: dict = {}
    for name in pattern.findall(text):
        out[name] = out.get(name, 0) + 1
    return out


async def _until_run_finished(ws, timeout: float = 180.0) -> None:
    """Read the session's messages until a whole script run has finished (not one ended early for a rerun)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    deadline = time.monotonic() + timeout
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=max(1.0, deadline - time.monotonic())))
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            return


async def _rerun(ws) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    back = BackMsg()
    back.rerun_script.SetInParent()
    await ws.send(back.SerializeToString())
    await _until_run_finished(ws)


def test_a_strangers_clear_cache_leaves_every_sessions_results_in_the_memo():
    import requests

    log_path = OUTPUT / "clear_cache_server.log"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with Server(log_path=log_path, env={"STREAMLIT_LOGGER_LEVEL": "debug"}) as server:
        xsrf = requests.get(f"{server.url}/_stcore/health", timeout=60).cookies.get("_streamlit_xsrf")
        ws_url = server.url.replace("http", "ws") + "/_stcore/stream"

        def log_text() -> str:
            return log_path.read_text(errors="replace")

        async def scenario() -> tuple[str, str, str]:
            from streamlit.proto.BackMsg_pb2 import BackMsg

            # Session A: the Load page with the default sample (pair, alignment, waveforms), and the Slices
            # page's views computed in the background.
            a, _ = await _open_session(ws_url, xsrf)
            await _until_run_finished(a)
            deadline = time.monotonic() + 180
            while "vsep_app.cache._slice_figures" not in _counts(log_text(), COMPUTED):
                assert time.monotonic() < deadline, "the Slices prefetch never computed"
                await asyncio.sleep(0.5)
            before = log_text()
            # A stranger's bare socket: clear_cache, then a run (messages are handled in order: once that run
            # has finished, the clear_cache before it has been handled).
            b, _ = await _open_session(ws_url, xsrf)
            await _until_run_finished(b)
            clear = BackMsg()
            clear.clear_cache = True
            await b.send(clear.SerializeToString())
            await _rerun(b)
            after_clear = log_text()
            await _rerun(a)  # A's page again
            await asyncio.sleep(1.0)  # its background prefetch check, if any, lands in the log
            await a.close()
            await b.close()
            return before, after_clear, log_text()

        before, after_clear, after = asyncio.run(scenario())
        assert server.alive()
    computed_before = _counts(before, COMPUTED)
    print("\ncomputed before the clear:", computed_before)
    print("computed at the end:", _counts(after, COMPUTED))
    for name in (
        "vsep_app.cache._pair",
        "vsep_app.cache._alignment",
        "vsep_app.cache._waveforms",
        "vsep_app.cache._slice_figures",
    ):
        assert computed_before.get(name, 0) >= 1, (name, computed_before)
    # Nothing computed again, by the stranger's rerun or by A's: every result came from the memo.
    assert _counts(after, COMPUTED) == computed_before
    hits_cleared, hits_end = _counts(after_clear, HIT), _counts(after, HIT)
    for name in ("vsep_app.cache._pair", "vsep_app.cache._waveforms"):  # A's rerun asked for them again
        assert hits_end.get(name, 0) > hits_cleared.get(name, 0), (name, hits_cleared, hits_end)
    assert "Traceback" not in after
