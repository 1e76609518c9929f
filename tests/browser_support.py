"""Helpers shared by the real-browser test and the browser benchmark.

Start ``streamlit run app.py`` on a free port, launch Debian's Chromium
through Playwright (headless, fake microphone fed from a WAV file), and wait
for the app's pages with bounded waits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FAKE_MIC_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def missing_browser_reason() -> str | None:
    """Why a browser test cannot run here (``None`` when it can)."""
    if not CHROMIUM.exists():
        return "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` in a subprocess (its own process group), stopped on exit."""

    def __init__(self, port: int | None = None, log_path: Path | None = None, startup_timeout: float = 60.0):
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        streamlit = Path(sys.executable).with_name("streamlit")
        cmd = [str(streamlit) if streamlit.exists() else sys.executable, *([] if streamlit.exists() else ["-m", "streamlit"]),
               "run", "app.py", "--server.headless", "true", "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise TimeoutError(f"streamlit did not answer on {self.url} within {self.startup_timeout:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def make_voice_wav(path: Path) -> Path:
    """A 48 kHz mono WAV of speech for Chromium's fake microphone.

    Made with espeak-ng and sox when they are installed (leading silence
    trimmed: st-audiorec gives up when the first buffer is silent); otherwise
    a synthetic vowel-like tone with vibrato.
    """
    path = Path(path)
    if shutil.which("espeak-ng") and shutil.which("sox"):
        raw = path.with_suffix(".raw.wav")
        subprocess.run(["espeak-ng", "-w", str(raw), "La la la. Hello, this is my voice, singing a little melody "
                        "for the vocal separation test."], check=True, capture_output=True, timeout=60)
        subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(path), "silence", "1", "0.02", "1%"],
                       check=True, capture_output=True, timeout=60)
        raw.unlink(missing_ok=True)
        return path
    import numpy as np
    import soundfile as sf

    sr = 48000
    t = np.arange(int(5 * sr)) / sr
    f0 = 220 * 2 ** (0.3 * np.sin(2 * np.pi * 5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 10)) * 0.2
    sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
    return path


def launch(playwright, *, fake_mic_wav: Path | None = None, headless: bool = True):
    """Debian's Chromium, headless, with the flags the tests use (and a fake microphone if given)."""
    args = list(CHROMIUM_ARGS)
    if fake_mic_wav is not None:
        args += FAKE_MIC_ARGS + [f"--use-file-for-fake-audio-capture={fake_mic_wav}"]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=headless, args=args)


# --- waiting for the app ------------------------------------------------------------
# Conditions are checked inside the page (page.wait_for_function, polled every 50 ms by the
# browser itself): polling from Python with several locator queries per round trip competes
# with the page's own rendering for the renderer's main thread and slowed it measurably.

RUN_COUNT_JS = ("Math.max(0, ...Array.from(document.querySelectorAll('[class*=\"st-key-vsep-run-done-\"]'))"
                ".map(e => parseInt((e.className.match(/st-key-vsep-run-done-(\\d+)/) || [])[1]) || 0))")
HEATMAPS_JS = "document.querySelectorAll('.js-plotly-plot .heatmaplayer image').length"


def wait_js(page, condition: str, timeout: float = 60.0, what: str = "a condition") -> float:
    """Wait until the JavaScript expression ``condition`` is true in the page; return the seconds waited."""
    start = time.perf_counter()
    try:
        page.wait_for_function(f"() => Boolean({condition})", polling=50, timeout=timeout * 1000)
    except Exception as exc:
        raise TimeoutError(f"waited {timeout:.0f} s for {what}") from exc
    return time.perf_counter() - start


def heatmaps_drawn(page) -> int:
    """How many plotly heatmaps have drawn their image."""
    return page.evaluate(f"() => {HEATMAPS_JS}")


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "a condition") -> float:
    """Poll ``predicate()`` from Python until true; return the seconds it took (TimeoutError after ``timeout``)."""
    start = time.perf_counter()
    while True:
        if predicate():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


def run_count(page) -> int:
    """The number of the last finished script run of this page's session (see ``ui.run_marker``)."""
    return page.evaluate(f"() => {RUN_COUNT_JS}")


def wait_for_run(page, after: int, timeout: float = 60.0, also: str = "true") -> float:
    """Wait until a script run numbered above ``after`` has finished drawing (and ``also`` holds)."""
    return wait_js(page, f"({RUN_COUNT_JS}) > {int(after)} && ({also})", timeout,
                   what="the app to finish drawing the page")


def nav(page, title: str) -> None:
    """Click a page in the sidebar navigation."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()


# --- timing inside the page (for the benchmark) -----------------------------------------
# A MutationObserver (and a 50 ms timer) tests a condition as the page changes; the first time
# it holds, the next animation frame records performance.now() (ms since the navigation
# started). A frame is only produced once the main thread is free, so a long task right
# after the condition holds delays the mark; the probe itself costs one cheap test per change.

PROBE_JS = """
window.__vsepTimes = window.__vsepTimes || {};
window.__vsepWatch = (name, cond) => {
  const test = new Function('return Boolean(' + cond + ')');
  let fired = false, observer = null, timer = null;
  const check = () => {
    if (fired) return;
    let ok = false;
    try { ok = test(); } catch (e) { ok = false; }
    if (!ok) return;
    fired = true;
    if (observer) observer.disconnect();
    if (timer) clearInterval(timer);
    window.__vsepTimes[name + ':dom'] = performance.now();
    requestAnimationFrame(() => { window.__vsepTimes[name] = performance.now(); });
  };
  const start = () => {
    observer = new MutationObserver(check);
    observer.observe(document, {subtree: true, childList: true, characterData: true});
    timer = setInterval(check, 50);
    check();
  };
  start();
};
"""


def watch(page, name: str, condition: str) -> None:
    """Start timing ``condition`` (a JavaScript expression) in the page under ``name``."""
    page.evaluate(f"() => {{ window.__vsepWatch({name!r}, {condition!r}); }}")


def watched_ms(page, name: str, timeout: float = 60.0) -> float:
    """Wait for the watch ``name`` to fire; its time in ms since the navigation started."""
    wait_js(page, f"window.__vsepTimes && window.__vsepTimes[{name!r}] !== undefined", timeout, what=name)
    return page.evaluate(f"() => window.__vsepTimes[{name!r}]")


def now_ms(page) -> float:
    return page.evaluate("() => performance.now()")
