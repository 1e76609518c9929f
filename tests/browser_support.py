"""Helpers shared by the real-browser test and the browser benchmark.

Start ``streamlit run serve.py`` (the pages behind the gate, as served to others) on a free port, launch Debian's Chromium
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
OUTPUT = REPO / "tests" / "output"  # screenshots and files the browser tests keep (ignored by git)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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
    """``streamlit run serve.py`` in a subprocess (its own process group), stopped on exit."""

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
        env: dict | None = None,
    ):
        self.port = port or free_port()
        self.env = env or {}
        self.url = f"http://localhost:{self.port}"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        streamlit = Path(sys.executable).with_name("streamlit")
        cmd = [
            str(streamlit) if streamlit.exists() else sys.executable,
            *([] if streamlit.exists() else ["-m", "streamlit"]),
            "run",
            "serve.py",
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **self.env},
        )
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

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its children now (0 once it has exited)."""
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0

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
        subprocess.run(
            [
                "espeak-ng",
                "-w",
                str(raw),
                "La la la. Hello, this is my voice, singing a little melody for the vocal separation test.",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(path), "silence", "1", "0.02", "1%"],
            check=True,
            capture_output=True,
            timeout=60,
        )
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


class MemorySampler:
    """Sample a :class:`Server`'s resident memory every ``interval`` seconds on a thread; keep the peak."""

    def __init__(self, server: Server, interval: float = 0.1):
        import threading

        self.server, self.interval = server, interval
        self.peak = self.first = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            rss = self.server.rss_bytes()
            self.samples.append((time.perf_counter() - start, rss))
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self.first = self.server.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


# --- offline: the app must never ask another host for anything -------------------------

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def block_outside_requests(context) -> list[str]:
    """Abort every request of ``context`` to a host other than this machine; return the list they go into.

    A test asserts the list is empty at the end (see the fixtures): the dashboard must work offline.
    ``data:`` and ``blob:`` URLs never reach the network and are let through.
    """
    from urllib.parse import urlsplit

    outside: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    return outside


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

# When a script run of the page has finished, from Streamlit's own marks (what its browser tests wait on): the
# app's root carries the run's state (data-test-script-state: "initial" before the first run, then "running",
# "notRunning", …), and while a run is under way every element the previous run drew and this one has not yet
# re-sent is data-stale="true" (Streamlit keeps it on screen meanwhile). The watcher counts cycles: the state
# leaves "notRunning" and comes back to it. A cycle counts as a run of the page if some element went stale
# during it; the only other runs are the chart preload's timer fragment (vsep_app.chart_preload: one element,
# its own blank chart, or nothing when the tick draws nothing), which are left out, so a tick between an action
# and its run cannot pass for the run. The page's first run counts whatever went stale (there was nothing to go
# stale). Installed before the action (run_count does it), the watcher sees the run's whole cycle, so a run that
# ends before the wait starts is still counted; a count above the one taken before the action is a run that
# started after it. A run so short that the browser drew its start and its end in one go would leave no mark;
# whole-page runs of this app last far longer than a frame (the sidebar alone is many messages).
RUN_WATCH_JS = """
(() => {
  if (window.__vsepRuns) return;
  const runs = window.__vsepRuns = {done: 0, cycles: 0, page: false, state: null};  // cycles: for messages
  const fragment = (el) => el.closest('.st-key-vsep_preload_charts') !== null;
  const see = (state) => {
    if (state === runs.state) return;
    if (state === 'notRunning' || state === 'compilationError') {
      if (runs.page || runs.done === 0) runs.done += 1;
      if (runs.state !== null) runs.cycles += 1;
      runs.page = false;
    }
    runs.state = state;
  };
  // One callback can hold a commit's stale marks before or after its state change: a stale element marks the
  // cycle it belongs to (stale marks only exist while a run is under way), so it is noted before states change.
  // A quick run can set and clear an attribute within one callback, so each record's old value is read too
  // (the attribute's value now is only the last of them).
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.attributeName === 'data-stale' && !fragment(r.target) &&
          (r.oldValue === 'true' || r.target.getAttribute('data-stale') === 'true'))
        runs.page = true;
    }
    const states = records.filter(r => r.attributeName === 'data-test-script-state');
    states.forEach((r, i) => {  // each change's new value: the next change's old value, the last one's is now
      see(i + 1 < states.length && states[i + 1].target === r.target ? states[i + 1].oldValue
                                                                      : r.target.getAttribute('data-test-script-state'));
    });
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state', 'data-stale']});
  // Installed after the page's first run began: start from what the page shows now.
  const app = document.querySelector("[data-testid='stApp']");
  if (app) {
    runs.page = Array.from(document.querySelectorAll("[data-stale='true']")).some(el => !fragment(el));
    see(app.getAttribute('data-test-script-state'));
  }
})();
"""
RUN_COUNT_JS = "(window.__vsepRuns ? window.__vsepRuns.done : 0)"
RUN_IDLE_JS = "(window.__vsepRuns && window.__vsepRuns.state === 'notRunning')"
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


def watch_runs(page) -> None:
    """Start counting this document's finished script runs (:data:`RUN_WATCH_JS`; once per document)."""
    page.evaluate(f"() => {{ {RUN_WATCH_JS} }}")


def run_count(page) -> int:
    """How many script runs of the whole page this document has seen finish (see :data:`RUN_WATCH_JS`)."""
    watch_runs(page)
    return page.evaluate(f"() => {RUN_COUNT_JS}")


def wait_for_run(page, after: int, timeout: float = 60.0, also: str = "true") -> float:
    """Wait until a run of the page numbered above ``after`` has finished, no other has begun, and ``also`` holds.

    ``after`` is what :func:`run_count` said before the action (so the watcher saw the action's run from its
    start); 0 after opening a page waits for its first run. ``also`` (a JavaScript expression) names what the
    run must have drawn, where the test needs more than "a run finished".
    """
    watch_runs(page)
    try:
        return wait_js(
            page,
            f"({RUN_COUNT_JS}) > {int(after)} && {RUN_IDLE_JS} && ({also})",
            timeout,
            what=f"a run of the page after run {int(after)} to finish" + ("" if also == "true" else f" with {also}"),
        )
    except TimeoutError as exc:  # say what the watcher saw: no run at all (a lost click?), one still going, …
        seen = page.evaluate(
            "() => window.__vsepRuns && ({done: window.__vsepRuns.done, "
            "cycles: window.__vsepRuns.cycles, state: window.__vsepRuns.state})"
        )
        raise TimeoutError(f"{exc}; the watcher saw {seen}") from exc


def act(page, action, timeout: float = 60.0) -> None:
    """Do ``action`` (a click, a key press) and wait until the script run it starts has finished drawing.

    A quick run whose messages arrive in one update leaves no trace in the page's script state, so the watcher
    cannot see it; when no run is seen within :data:`SEEN_WITHIN_S`, this waits for a quiet page instead. What
    the run must draw is then the caller's next wait (a test never passes on "a run finished" alone).
    """
    before = run_count(page)
    action()
    try:
        wait_for_run(page, before, min(timeout, SEEN_WITHIN_S))
    except TimeoutError:
        wait_for_quiet(page, quiet=1.5, timeout=timeout)


#: How long :func:`act` looks for the action's run before it waits for a quiet page instead (seconds).
SEEN_WITHIN_S = 15.0


def wait_for_quiet(page, quiet: float = 1.5, timeout: float = 60.0) -> None:
    """Wait until the page is idle and no run of it has begun for ``quiet`` seconds (widgets such as sliders can
    send their values in several runs; a download pressed during a later run is cancelled by it)."""
    watch_runs(page)
    deadline = time.perf_counter() + timeout
    last = (page.evaluate(f"() => [{RUN_COUNT_JS}, window.__vsepRuns.cycles]"), time.perf_counter())
    while time.perf_counter() < deadline:
        time.sleep(0.1)
        seen = page.evaluate(f"() => [{RUN_COUNT_JS}, window.__vsepRuns.cycles]")
        if seen != last[0] or not page.evaluate(f"() => {RUN_IDLE_JS}"):
            last = (seen, time.perf_counter())
        elif time.perf_counter() - last[1] >= quiet:
            return
    raise TimeoutError(f"the page did not stay idle for {quiet} s within {timeout:.0f} s")


def open_expander(page, label: str, shows: str, timeout: float = 60.0) -> None:
    """Open the expander titled ``label`` until the element matching the CSS selector ``shows`` inside it is
    visible. A click that lands while the page is still being redrawn can open an expander the redraw then
    replaces with a closed one, so the click is repeated until its content is actually shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.perf_counter() + timeout
    summary = page.locator("[data-testid='stExpander'] summary", has_text=label).first
    content = page.locator(shows).first
    while True:
        wait_for_quiet(page, quiet=1.0, timeout=max(1.0, deadline - time.perf_counter()))
        if not summary.evaluate("s => s.parentElement.open"):
            summary.click()
        try:
            content.wait_for(state="visible", timeout=5_000)
            return
        except PlaywrightTimeout:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the expander {label!r} did not show {shows!r} within {timeout:.0f} s") from None


SIDEBAR_LINKS = "[data-testid='stSidebar'] [data-testid='stPageLink-NavLink'], [data-testid='stSidebarNav'] a"


def sidebar_titles(page) -> list[str]:
    """The page titles of the sidebar's navigation, top to bottom (the app's own links or Streamlit's list)."""
    texts = page.locator(SIDEBAR_LINKS).all_inner_texts()
    return [text.strip().splitlines()[-1].strip() for text in texts if text.strip()]  # an icon's name, then the title


def nav(page, title: str) -> None:
    """Click a page in the sidebar navigation."""
    page.locator(SIDEBAR_LINKS).filter(has_text=title).first.click()


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


# --- many visitors at once (the load test and its benchmark) ------------------------------

SAMPLES = ("sung_vowels_pop", "sung_phrases_ballad", "male_voice_sparse")
LOAD_WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "juniper")


def make_distinct_pairs(folder: Path, n: int, seconds: float = 4.7) -> list[dict]:
    """``n`` short pairs, each different: one sample's vocal over another's instrumental, own offset and gain.

    Each pair's files carry a word of their own in their names (``dune_mix.wav``), so a page that
    shows another visitor's file names is caught.
    """
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    stems = {
        name: {
            kind: sf.read(REPO / "sample_audio" / name / f"{kind}.wav", dtype="float32")[0]
            for kind in ("vocal", "instrumental")
        }
        for name in SAMPLES
    }
    sr = 22050
    pairs = []
    for i in range(n):
        word = LOAD_WORDS[i % len(LOAD_WORDS)] + ("" if i < len(LOAD_WORDS) else str(i))
        vocal_src, inst_src = SAMPLES[i % 3], SAMPLES[(i + 1 + i // 3) % 3]
        length = int(seconds * sr)
        v_all, i_all = stems[vocal_src]["vocal"], stems[inst_src]["instrumental"]
        start_v = int((0.3 * i * sr)) % max(1, len(v_all) - length + 1)
        start_i = int((0.5 * i * sr)) % max(1, len(i_all) - length + 1)
        vocal = v_all[start_v : start_v + length] * 10 ** ((-6 + 1.5 * i) / 20)
        instrumental = i_all[start_i : start_i + length]
        mixture = vocal + instrumental
        peak = max(1.0, float(np.max(np.abs(mixture))) / 0.95)
        # Short names: the uploader shortens long ones on screen.
        paths = {kind: folder / f"{word}_{short}.wav" for kind, short in (("mixture", "mix"), ("vocal", "vox"))}
        sf.write(paths["mixture"], mixture / peak, sr, subtype="PCM_16")
        sf.write(paths["vocal"], vocal / peak, sr, subtype="PCM_16")
        pairs.append({"index": i, "word": word, "mixture": paths["mixture"], "vocal": paths["vocal"]})
    return pairs


WAITING_JS = "document.body && document.body.textContent.includes('Waiting: ')"
RUN_DONE_JS = (
    "document.body.textContent.includes('Greedy search done') && "
    "document.body.textContent.includes('Progressive test done')"
)
RESULTS_DONE_JS = "document.body.textContent.includes('Take it with you')"


def _await(page, name: str, timeout: float, label: str) -> float:
    """:func:`watched_ms`, but a timeout says what the session's page showed."""
    try:
        return watched_ms(page, name, timeout)
    except TimeoutError as exc:
        text = page.evaluate(
            "() => document.querySelector('section.main, [data-testid=\"stMain\"]')?.innerText "
            "|| document.body.innerText"
        )
        raise TimeoutError(
            f"session {label}: waited {timeout:.0f} s for {name}; its page shows:\n{text[:3000]}"
        ) from exc


def run_sessions(
    server: Server, browser, pairs: list[dict], workdir: Path, *, timeout: float = 240.0, viewport: dict | None = None
) -> dict:
    """Open one session per pair at once; each uploads its pair, runs both searches, opens Results, downloads
    its ZIP. Everything is started in every session before anything is awaited.

    Returns per-session figures (seconds, measured inside each page) and what each session saw:
    ``{"sessions": [{word, load_s, run_s, results_s, waited, text, zip}], "outside": [...]}``.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    viewport = viewport or {"width": 1280, "height": 900}
    contexts, pages, outside = [], [], []
    for _ in pairs:
        ctx = browser.new_context(viewport=viewport, accept_downloads=True)
        ctx.set_default_timeout(timeout * 1000)
        outside.append(block_outside_requests(ctx))
        contexts.append(ctx)
        pages.append(ctx.new_page())
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    retries = {}
    try:
        for pg in pages:
            pg.goto(server.url, wait_until="commit")
        for pg in pages:
            wait_for_run(pg, 0, timeout)
            pg.evaluate(PROBE_JS)
            watch(pg, "waited", WAITING_JS)  # kept for the whole visit: did this session ever queue?

        phase("open")
        # 1. Upload: every session chooses its files, then all press Load at once.
        for pg in pages:
            # Under eight sessions the click's run can arrive in one update (the watcher misses it) or the click
            # can land during a redraw and be lost: press until the two file choosers show.
            uploaders = pg.locator("[data-testid='stFileUploader']")
            for attempt in range(3):
                act(pg, lambda pg=pg: pg.get_by_text("Upload files", exact=True).click(), timeout)
                try:
                    uploaders.nth(1).wait_for(timeout=(20 if attempt < 2 else timeout) * 1000)
                    break
                except PlaywrightTimeout:
                    if attempt == 2:
                        raise
        phase("upload mode")
        uploaded = [[] for _ in pages]  # finished uploads (HTTP PUT to the server) of each session
        upload_log = [[] for _ in pages]  # every upload request's fate, for the message when one never ends
        for pg, done, log in zip(pages, uploaded, upload_log):

            def finished(req, done=done, log=log):
                if req.method == "PUT" and "/_stcore/upload_file" in req.url:
                    response = req.response()
                    log.append(f"finished {response.status if response else '?'}")
                    done.append(req.url)

            def failed(req, log=log):
                if "/_stcore/upload_file" in req.url:
                    log.append(f"failed {req.method} {req.failure}")

            pg.on("requestfinished", finished)
            pg.on("requestfailed", failed)
            pg.on(
                "request",
                lambda req, log=log: log.append(f"sent {req.method}") if "/_stcore/upload_file" in req.url else None,
            )

        # One file at a time in every session, as a person would: the page reruns when a file arrives (it says
        # "Ready: …"), and a second file chosen during that rerun was dropped (seen with 4 and 8 sessions on a
        # busy machine: its upload never started). Each wait chooses the file again every 20 s if it has not
        # reached the server.
        def choose(pg, index: int, path: Path) -> None:
            pg.locator("[data-testid='stFileUploader']").nth(index).locator("input[type=file]").set_input_files(
                str(path)
            )

        for index, role in enumerate(("mixture", "vocal")):
            for pg, pair in zip(pages, pairs):
                choose(pg, index, pair[role])
            for pg, pair, done, log in zip(pages, pairs, uploaded, upload_log):
                deadline = time.monotonic() + timeout
                chosen_again = time.monotonic() + 20
                while len(done) < index + 1:
                    if time.monotonic() > deadline:
                        shown = " ".join(pg.inner_text("[data-testid='stMain']").split())[:600]
                        raise TimeoutError(
                            f"session {pair['word']}: the {role} upload did not finish; upload "
                            f"requests: {log}; the page shows: {shown}"
                        )
                    if time.monotonic() > chosen_again:
                        chosen_again = time.monotonic() + 20
                        choose(pg, index, pair[role])
                    pg.wait_for_timeout(50)
                wait_js(
                    pg,
                    f"document.body.innerText.includes('Ready: {pair[role].name}')",
                    timeout,
                    what=f"the {role} upload's rerun",
                )
            phase(f"choose and upload the {role}")
        starts = {}
        for pg, pair in zip(pages, pairs):
            watch(pg, "loaded", f"document.body.textContent.includes('Loaded: {pair['mixture'].name}')")
            starts[pair["word"], "load"] = now_ms(pg)
            pg.get_by_role("button", name="Load these files").click()

        phase("load")
        # 2. Optimise: all open the page, then all press Run both.
        for pg, pair in zip(pages, pairs):
            # A click that lands while an upload's own rerun is being replaced can be lost: press again.
            for attempt in range(3):
                try:
                    _await(pg, "loaded", 30 if attempt < 2 else timeout, pair["word"])
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
                    alerts = pg.locator("[data-testid='stAlert']").all_inner_texts()
                    retries[pair["word"]] = f"{attempt + 1} ({' / '.join(a.strip()[:120] for a in alerts)})"
                    pg.get_by_role("button", name="Load these files").click()
        for pg in pages:
            nav(pg, "Optimise")
            # What the page's run draws (under eight sessions a run's messages can arrive in one update, which
            # the run watcher cannot see).
            pg.get_by_role("button", name="Run both").wait_for(timeout=timeout * 1000)
        for pg, pair in zip(pages, pairs):
            watch(pg, "run", RUN_DONE_JS)
            starts[pair["word"], "run"] = now_ms(pg)
            pg.get_by_role("button", name="Run both").click()
        for pg, pair in zip(pages, pairs):
            _await(pg, "run", timeout, pair["word"])

        phase("optimise")
        # 3. Results: all open it at once.
        for pg, pair in zip(pages, pairs):
            before = run_count(pg)
            watch(pg, "results", f"({RUN_COUNT_JS}) > {before} && {RESULTS_DONE_JS}")
            starts[pair["word"], "results"] = now_ms(pg)
            nav(pg, "Results")
        for pg, pair in zip(pages, pairs):
            _await(pg, "results", timeout, pair["word"])

        phase("results")
        sessions = []
        for i, (pg, pair) in enumerate(zip(pages, pairs)):
            with pg.expect_download(timeout=timeout * 1000) as info:
                pg.get_by_role("button", name="Download everything (ZIP)").click()
            zip_path = workdir / f"session_{i}.zip"
            info.value.save_as(zip_path)
            times = pg.evaluate("() => window.__vsepTimes")
            w = pair["word"]
            sessions.append(
                {
                    "word": w,
                    "load_s": (times["loaded"] - starts[w, "load"]) / 1000,
                    "run_s": (times["run"] - starts[w, "run"]) / 1000,
                    "results_s": (times["results"] - starts[w, "results"]) / 1000,
                    "waited": "waited" in times,
                    "text": pg.evaluate("() => document.body.innerText"),
                    "zip": zip_path,
                }
            )
        phase("downloads")
        return {
            "sessions": sessions,
            "outside": [url for urls in outside for url in urls],
            "phases": phases,
            "load_retries": retries,
        }
    finally:
        for ctx in contexts:
            with contextlib.suppress(Exception):
                ctx.close()
