"""Decode MPEG audio (MP3) with libsndfile in child processes, so its decoder's notes stay there.

libmpg123, inside libsndfile, prints "Note: Illegal Audio-MPEG-Header …" and
"Note: Trying to resync…" on damaged MP3 straight to file descriptor 2. In
the dashboard's server (many sessions in one process) or under the command
line's one-line messages that is noise, and hiding it in-process would mean
redirecting the whole process's fd 2, with a lock around every MP3 decode.

Instead, one small helper process per Python process (started on first use
with ``python -I`` this file, soundfile loaded once, stderr at /dev/null)
forks one child per file. The child opens the file with libsndfile and
writes the samples, libsndfile's own bit for bit, into a named pipe in a
private folder (mode 0700) that the caller made and opened. Several files
decode at once, each in its own child; a fork costs milliseconds where a
new interpreter would cost a third of a second. The helper ends when its
parent does (its stdin closes).

On the pipe, messages are a tag byte and a 4-byte little-endian length:
``H`` the header as JSON (or ``E`` why the file cannot be opened); with mode
``decode``, ``D`` blocks of interleaved little-endian float32 frames, an
empty ``D`` at the end, or ``E`` why decoding stopped.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

BLOCK_FRAMES = 1 << 16
_HEAD = struct.Struct("<cI")


# --- in the helper and its children -------------------------------------------------------------


def _helper_main() -> None:
    """The helper: one JSON request per stdin line, one forked child each; ends at end of input."""
    import numpy  # noqa: F401  (loaded once here, shared by every child)
    import soundfile  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        try:
            request = json.loads(line)
            path, mode, fifo = str(request["path"]), str(request["mode"]), str(request["fifo"])
        except (ValueError, KeyError, TypeError):
            continue
        if os.fork() == 0:
            code = 0
            try:
                _child(path, mode, fifo)
            except BaseException:  # noqa: BLE001 - the child reports its failure by its exit code
                code = 1
            finally:
                os._exit(code)


def _child(path: str, mode: str, fifo: str) -> None:
    import soundfile as sf

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the reader left: end quietly
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # the reader has it open already (else: ENXIO, give up)
    except OSError:
        return
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb", buffering=0) as out:

        def send(tag: bytes, payload: bytes = b"") -> None:
            out.write(_HEAD.pack(tag, len(payload)) + payload)

        try:
            f = sf.SoundFile(path)
        except Exception as exc:  # noqa: BLE001 - not something libsndfile opens: the caller tries ffmpeg
            send(b"E", _why(exc))
            return
        with f:
            send(
                b"H",
                json.dumps(
                    {
                        "sr": f.samplerate,
                        "channels": f.channels,
                        "frames": f.frames,
                        "format": f.format,
                        "subtype": f.subtype,
                    }
                ).encode(),
            )
            if mode != "decode":
                return
            try:
                while True:
                    block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                    if len(block):
                        send(b"D", block.astype("<f4", copy=False).tobytes())
                    if len(block) < BLOCK_FRAMES:
                        break
            except Exception as exc:  # noqa: BLE001 - a damaged frame libsndfile gives up on: said in the caller's message
                send(b"E", _why(exc))
                return
            send(b"D")


def _why(exc: BaseException) -> bytes:
    return (" ".join(str(exc).split())[:200] or type(exc).__name__).encode(errors="replace")


# --- in the caller ---------------------------------------------------------------------------------

_helper: subprocess.Popen | None = None
_helper_lock = threading.Lock()  # held only to start the helper and write one request line


def _send_request(request: dict) -> None:
    global _helper
    line = (json.dumps(request) + "\n").encode()
    with _helper_lock:
        for _ in range(2):
            if _helper is None or _helper.poll() is not None:
                _helper = subprocess.Popen(
                    [sys.executable, "-I", os.path.abspath(__file__)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                )
            try:
                _helper.stdin.write(line)
                _helper.stdin.flush()
                return
            except OSError:  # the helper died: start another
                _helper = None
        raise ChildError("the MP3 decoder helper could not be started")


class ChildError(Exception):
    """The child could not go on (its reason as the message)."""


class Child:
    """A child reading ``path`` (``mode`` "probe" or "decode"): :attr:`header` (a dict) or :attr:`error`;
    then :meth:`read` gives the next block of bytes (``b""`` at the end) or raises :class:`ChildError`.
    Use as a context manager (the pipe and its folder are removed on exit; the child then ends)."""

    def __init__(self, path: str, mode: str, timeout: float = 120.0):
        self.folder = tempfile.mkdtemp(prefix="vsep-mpeg-")  # 0700: the pipe is this user's only
        self.fd = -1
        self.header, self.error = None, None
        try:
            fifo = os.path.join(self.folder, "pipe")
            os.mkfifo(fifo, 0o600)
            self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open before the child, so it never waits
            _send_request({"path": os.path.abspath(path), "mode": mode, "fifo": fifo})
            self._wait_for_writer(timeout)
            tag, payload = self._message(timeout)
            if tag == b"H":
                self.header = json.loads(payload)
            else:
                self.error = payload.decode(errors="replace") or "the decoder failed"
        except (ChildError, ValueError) as exc:
            self.error = str(exc)
        except BaseException:
            self.close()
            raise

    def _wait_for_writer(self, timeout: float) -> None:
        # Until the child opens its end, a non-blocking read says "no data" (EOF looks the same): wait for
        # the first byte, then read blocking with select deadlines.
        if not select.select([self.fd], [], [], timeout)[0]:
            raise ChildError("the decoder did not start")

    def _exactly(self, n: int, timeout: float) -> bytes:
        parts, got, deadline = [], 0, time.monotonic() + timeout
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise ChildError("the decoder took too long")
            try:
                chunk = os.read(self.fd, min(n - got, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise ChildError("the decoder stopped")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _message(self, timeout: float) -> tuple:
        tag, size = _HEAD.unpack(self._exactly(_HEAD.size, timeout))
        return tag, self._exactly(size, timeout) if size else b""

    def read(self, timeout: float) -> bytes:
        tag, payload = self._message(timeout)
        if tag == b"D":
            return payload
        raise ChildError(payload.decode(errors="replace") or "the decoder failed")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # the child, if still writing, gets SIGPIPE and ends
            self.fd = -1
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


if __name__ == "__main__":
    _helper_main()
