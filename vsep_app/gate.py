"""The server's gate: an ASGI middleware in front of Streamlit (``serve.py`` installs it through ``st.App``).

Two things Streamlit's server offers no setting for, and a shared server needs (issue #17):

- ``/_stcore/metrics`` tells anyone the server's cache sizes, hit counts and session counts. The gate
  answers 404.
- Streamlit caps each uploaded file (``server.maxUploadSize``) but not what one session holds: a client can
  PUT file after file to ``/_stcore/upload_file/<session>/<file id>`` with no widget referring to them, and
  every one stays in memory until the session ends. The gate keeps a ledger of what each session holds and
  refuses (413) an upload that would take the session over its total. A file is released from the ledger
  when it is deleted (the uploader deletes the file it replaces) or replaced under the same id; a session
  that ended can upload nothing more (Streamlit refuses its id), and its entry is forgotten after
  ``_FORGET_AFTER_S`` without uploads.

Uploads must say their length (``Content-Length``, as every browser does for a file): without it the total
could only be checked after the bytes were read, so the gate answers 411. The server (uvicorn/h11) reads no
more body than the length announced.

The middleware is plain ASGI (``starlette.middleware.Middleware(Gate, ...)``): it imports nothing from
Streamlit and reads no Streamlit internals.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field

_UPLOAD_PATH = re.compile(r"/_stcore/upload_file/(?P<session>[^/]+)/(?P<file>[^/]+)/?$")
_METRICS_PATH = re.compile(r"/_stcore/metrics/?$")
# A session's ledger entry is kept this long after its last upload, then dropped: by then Streamlit has
# long since ended the session (server.disconnectedSessionTTL) and freed its files.
_FORGET_AFTER_S = 24 * 3600.0
# The multipart envelope around one file (boundary, headers, file name) counts toward the total too;
# this is what one file's envelope may add over its content before the announced length is over budget.
_ENVELOPE_BYTES = 64 * 1024


@dataclass
class _SessionUploads:
    files: dict[str, int] = field(default_factory=dict)  # file id -> announced bytes
    reserved: dict[int, int] = field(default_factory=dict)  # uploads under way: ticket -> announced bytes
    last_seen: float = 0.0

    def total(self, excluding: str | None = None) -> int:
        held = sum(size for file_id, size in self.files.items() if file_id != excluding)
        return held + sum(self.reserved.values())


class UploadLedger:
    """What each session's uploads hold, in bytes as announced (thread-safe; one per server process).

    An upload's bytes are reserved before its body is read (:meth:`reserve`) and held or released when
    Streamlit has answered (:meth:`settle`): uploads sent at once share one total, not one each.
    """

    def __init__(self, per_session_bytes: int, clock=time.monotonic):
        if per_session_bytes <= 0:
            raise ValueError(f"per_session_bytes must be positive, not {per_session_bytes}")
        self.per_session_bytes = int(per_session_bytes)
        self._clock = clock
        self._sessions: dict[str, _SessionUploads] = {}
        self._lock = threading.Lock()
        self._tickets = itertools.count()

    def reserve(self, session: str, file_id: str, size: int) -> int | None:
        """A ticket for ``size`` more bytes under ``file_id``, or ``None`` when they would take ``session`` over
        its total (uploads under way count)."""
        with self._lock:
            self._forget_idle()
            held = self._sessions.setdefault(session, _SessionUploads())
            if held.total(excluding=file_id) + size > self.per_session_bytes + _ENVELOPE_BYTES:
                if not held.files and not held.reserved:
                    del self._sessions[session]
                return None
            ticket = next(self._tickets)
            held.reserved[ticket] = int(size)
            held.last_seen = self._clock()
            return ticket

    def settle(self, session: str, file_id: str, ticket: int, stored: bool) -> None:
        """End the reservation ``ticket``: the file is held under ``file_id`` when ``stored``, else released."""
        with self._lock:
            held = self._sessions.get(session)
            if held is None:
                return
            size = held.reserved.pop(ticket, None)
            if stored and size is not None:
                held.files[file_id] = size
                held.last_seen = self._clock()
            if not held.files and not held.reserved:
                del self._sessions[session]

    def add(self, session: str, file_id: str, size: int) -> None:
        with self._lock:
            self._forget_idle()
            held = self._sessions.setdefault(session, _SessionUploads())
            held.files[file_id] = int(size)
            held.last_seen = self._clock()

    def remove(self, session: str, file_id: str) -> None:
        with self._lock:
            held = self._sessions.get(session)
            if held is not None:
                held.files.pop(file_id, None)
                if not held.files and not held.reserved:
                    del self._sessions[session]

    def held(self, session: str) -> int:
        with self._lock:
            held = self._sessions.get(session)
            return held.total() if held else 0

    def _forget_idle(self) -> None:
        cutoff = self._clock() - _FORGET_AFTER_S
        for session in [s for s, held in self._sessions.items() if held.last_seen < cutoff and not held.reserved]:
            del self._sessions[session]


async def _answer(send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware: 404 for the metrics endpoint, a total per session for uploads.

    Parameters
    ----------
    app : ASGI application
        What the gate stands in front of (Streamlit's).
    per_session_bytes : int
        The most one session's uploads may hold at once.
    """

    def __init__(self, app, per_session_bytes: int):
        self.app = app
        self.ledger = UploadLedger(per_session_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if _METRICS_PATH.search(path):
            await _answer(send, 404, "Not found")
            return
        upload = _UPLOAD_PATH.search(path)
        method = scope.get("method", "")
        if upload is None or method not in ("PUT", "DELETE"):
            await self.app(scope, receive, send)
            return
        session, file_id = upload["session"], upload["file"]
        if method == "DELETE":
            status = await self._forward(scope, receive, send)
            if status is not None and status < 300:
                self.ledger.remove(session, file_id)
            return
        length = _content_length(scope)
        if length is None:
            await _answer(send, 411, "An upload must say its length (Content-Length).")
            return
        ticket = self.ledger.reserve(session, file_id, length)
        if ticket is None:
            await _answer(send, 413, "This session's uploads are over the server's total; remove a file first.")
            return
        status = None
        try:
            status = await self._forward(scope, receive, send)
        finally:  # also when the client goes away mid-upload: the reservation never outlives the request
            self.ledger.settle(session, file_id, ticket, stored=status is not None and status < 300)

    async def _forward(self, scope, receive, send) -> int | None:
        """Pass the request on; the status Streamlit answered with."""
        status = None

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        return status


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
            return length if length >= 0 else None
    return None


def session_upload_total() -> int:
    """The most one session's uploads may hold, in bytes: env ``VSEP_UPLOAD_SESSION_MB``, by default two files
    at Streamlit's per-file cap (``server.maxUploadSize``: a mixture and its target)."""
    import os

    import streamlit as st

    per_file_mb = int(st.get_option("server.maxUploadSize"))
    text = os.environ.get("VSEP_UPLOAD_SESSION_MB", "").strip()
    if not text:
        return 2 * per_file_mb * 1024 * 1024
    try:
        total_mb = float(text)
    except ValueError:
        raise SystemExit(f"VSEP_UPLOAD_SESSION_MB must be a number of megabytes, not {text!r}") from None
    if not total_mb > 0:
        raise SystemExit(f"VSEP_UPLOAD_SESSION_MB must be above 0, not {text!r}")
    return int(total_mb * 1024 * 1024)
