"""The server's gate (``vsep_app/gate.py``) on its own, with a stand-in for Streamlit behind it.

The same gate in front of a real server: tests/test_server_hostile.py.
"""

from __future__ import annotations

import asyncio

import pytest

from vsep_app.gate import Gate, UploadLedger, session_upload_total

MIB = 1024 * 1024


class Behind:
    """What stands behind the gate: answers every request with ``status`` and records what reached it."""

    def __init__(self, status: int = 204):
        self.status = status
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope, receive, send):
        self.seen.append((scope.get("method", scope["type"]), scope.get("path", "")))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def call(gate: Gate, method: str, path: str, length: int | None = None, scope_type: str = "http") -> int | None:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    answered = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope = {"type": scope_type, "method": method, "path": path, "headers": headers}
    asyncio.run(gate(scope, receive, send))
    return answered[0] if answered else None


def test_metrics_are_not_served_whatever_the_method_or_prefix():
    behind = Behind(200)
    gate = Gate(behind, per_session_bytes=10 * MIB)
    for method, path in (
        ("GET", "/_stcore/metrics"),
        ("HEAD", "/_stcore/metrics/"),
        ("OPTIONS", "/_stcore/metrics"),
        ("GET", "/demo/_stcore/metrics"),
    ):
        assert call(gate, method, path) == 404
    assert behind.seen == []
    assert call(gate, "GET", "/_stcore/health") == 200  # everything else passes
    assert behind.seen == [("GET", "/_stcore/health")]


def test_a_session_total_counts_replacements_and_deletions():
    behind = Behind()
    gate = Gate(behind, per_session_bytes=10 * MIB)
    up = "/_stcore/upload_file/{}/{}"
    assert call(gate, "PUT", up.format("s1", "a"), 6 * MIB) == 204
    assert call(gate, "PUT", up.format("s1", "b"), 6 * MIB) == 413  # 12 MiB together
    assert ("PUT", up.format("s1", "b")) not in behind.seen  # refused before Streamlit reads a byte
    assert call(gate, "PUT", up.format("s1", "a"), 9 * MIB) == 204  # the same id replaces, not adds
    assert gate.ledger.held("s1") == 9 * MIB
    assert call(gate, "PUT", up.format("s2", "a"), 9 * MIB) == 204  # each session its own total
    assert call(gate, "DELETE", up.format("s1", "a")) == 204
    assert gate.ledger.held("s1") == 0
    assert call(gate, "PUT", up.format("s1", "b"), 6 * MIB) == 204
    assert call(gate, "PUT", up.format("s1", "c"), None) == 411  # no length: cannot be counted before reading


def test_uploads_sent_at_once_share_one_total():
    """Each upload's bytes are reserved before its body is read: parallel PUTs cannot each see an empty total."""

    class Slow(Behind):
        async def __call__(self, scope, receive, send):
            await asyncio.sleep(0.05)  # every upload is under way at once
            await super().__call__(scope, receive, send)

    behind = Slow()
    gate = Gate(behind, per_session_bytes=10 * MIB)

    async def put(file_id: str) -> int:
        answered = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                answered.append(message["status"])

        scope = {
            "type": "http",
            "method": "PUT",
            "path": f"/_stcore/upload_file/s/{file_id}",
            "headers": [(b"content-length", str(4 * MIB).encode())],
        }
        await gate(scope, receive, send)
        return answered[0]

    async def at_once():
        return await asyncio.gather(*(put(f"f{i}") for i in range(5)))

    statuses = asyncio.run(at_once())
    assert sorted(statuses) == [204, 204, 413, 413, 413]  # 8 MiB of 10 held, not 20
    assert gate.ledger.held("s") == 8 * MIB


def test_what_streamlit_refuses_is_not_counted():
    behind = Behind(400)  # e.g. an ended session's id
    gate = Gate(behind, per_session_bytes=10 * MIB)
    assert call(gate, "PUT", "/_stcore/upload_file/gone/a", 6 * MIB) == 400
    assert gate.ledger.held("gone") == 0
    behind.status = 204
    assert call(gate, "PUT", "/_stcore/upload_file/s/a", 6 * MIB) == 204
    behind.status = 500
    assert call(gate, "DELETE", "/_stcore/upload_file/s/a") == 500  # a failed delete keeps the count
    assert gate.ledger.held("s") == 6 * MIB


def test_websockets_and_other_routes_pass_untouched():
    behind = Behind()
    gate = Gate(behind, per_session_bytes=MIB)
    assert call(gate, "GET", "/_stcore/upload_file/s/a") == 204  # only PUT and DELETE are counted
    call(gate, "GET", "/_stcore/stream", scope_type="websocket")
    assert behind.seen == [("GET", "/_stcore/upload_file/s/a"), ("GET", "/_stcore/stream")]


def test_idle_sessions_are_forgotten():
    now = [0.0]
    ledger = UploadLedger(10 * MIB, clock=lambda: now[0])
    ledger.add("old", "a", MIB)
    now[0] = 25 * 3600.0
    ledger.add("new", "a", MIB)  # each write forgets sessions idle for a day
    assert ledger.held("old") == 0 and ledger.held("new") == MIB


def test_the_total_is_an_operator_setting(monkeypatch):
    import streamlit as st

    per_file = int(st.get_option("server.maxUploadSize"))
    monkeypatch.delenv("VSEP_UPLOAD_SESSION_MB", raising=False)
    assert session_upload_total() == 2 * per_file * MIB
    monkeypatch.setenv("VSEP_UPLOAD_SESSION_MB", "40")
    assert session_upload_total() == 40 * MIB
    for bad in ("0", "-3", "lots"):
        monkeypatch.setenv("VSEP_UPLOAD_SESSION_MB", bad)
        with pytest.raises(SystemExit, match="VSEP_UPLOAD_SESSION_MB"):
            session_upload_total()
    with pytest.raises(ValueError):
        UploadLedger(0)
