"""Whole-song benchmark (issues #11, #19): the CLI's ``run``, ``evaluate`` and the dashboard on a 3-minute song.

    .venv/bin/python benchmarks/song_bench.py --cli --evaluate        # this tree beside main, in one run
    .venv/bin/python benchmarks/song_bench.py --cli --before-ref HEAD~3
    .venv/bin/python benchmarks/song_bench.py --dashboard             # the same song in the dashboard, real Chromium
    .venv/bin/python benchmarks/song_bench.py --dashboard --sessions 1 4 8   # visitors at once, one server

The song is what users have: 3 minutes of 44.1 kHz stereo, as MP3 and as FLAC
(decoding and resampling included). Its instrumental is two tracks of Debian's
``hyperrogue-music`` (GPL, Ogg Vorbis 44.1 kHz stereo, ``apt-get install
hyperrogue-music``), one after the other; its vocal is espeak-ng speech (the
same words in two voices, panned apart); the mixture is their sum. It is built
once with ffmpeg and kept in ``benchmarks/.song_cache/`` (ignored by git).

``--cli`` times ``python -m vsep_core run --duration all --slices 18 --greedy`` in a
new process each time (start-up, decoding, plots and the WAVs included; ``/usr/bin/time``
gives the wall time and peak memory), with every WAV (40 files) and with ``--no-audio``,
for the MP3 and the FLAC pair. ``--evaluate`` times ``python -m vsep_core evaluate
--duration all`` (every method) the same way, on the FLAC pair.

Every figure is measured twice in the same run: for the previous tree (``git archive``
of ``--before-ref``, default ``main``, unpacked into the cache and run with the same
Python) and for this tree, one after the other, and printed side by side with the
ratio old / new and the machine's load average. On a shared machine the ratio is what
holds. Each tree runs once untimed first (numba builds or loads its compiled loops).

``--dashboard`` starts ``streamlit run serve.py`` (fresh, ``VSEP_MAX_SEGMENT_S=360`` — the
dashboard refuses segments over 50 s by default, for the memory of a shared server —
and ``VSEP_JOB_WORKERS`` as given) and, in Debian's Chromium, uploads the song, then
times inside the page: *Load these files* → the pair loaded; *Whole song* applied →
the page drawn; *Slices* → the vocal's 19 heatmaps drawn; *Run both* with N = 18 → both
searches done; *Results* → the first score on screen, and every score. The server's
peak resident memory is sampled throughout. ``--sessions 1 4 8`` measures that many visitors
at once (each its own process and Chromium, the whole song each; a fresh server per figure),
with the queue texts each was shown ("Waiting: 3 jobs ahead of yours").

"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

CACHE = REPO / "benchmarks" / ".song_cache"
MUSIC = Path("/usr/share/hyperrogue/music")
#: The instrumental: these tracks one after the other, cut to SONG_S.
TRACKS = ("hr3-hell.ogg", "hr3-laboratory.ogg")
SONG_S = 180.0
SR = 44100
SPEECH = (
    "The quick brown fox jumps over the lazy dog. A demo is a song, not four seconds. "
    "Every window of the spectrogram carries a fingerprint of the voice, and the engine learns "
    "an equaliser that moves the mixture toward it, slice after slice, until the loss stops falling. "
    "Sing a song of sixpence, a pocket full of rye, four and twenty blackbirds baked in a pie. "
    "When the pie was opened the birds began to sing; was not that a dainty dish to set before the king? "
)

#: Issue #19's targets (seconds, megabytes), this 2-core machine, quiet.
TARGETS = {"run, every WAV": 5.0, "run --no-audio": 3.0, "evaluate, every method": 20.0}
EVALUATE_TARGET_MB = 1500.0


# --- the song ---------------------------------------------------------------------------


def _decode(path: Path, seconds: float | None = None) -> np.ndarray:
    """``path`` as float32 (frames, 2) at 44.1 kHz, by ffmpeg."""
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(path),
        *(["-t", str(seconds)] if seconds else []),
        "-f",
        "f32le",
        "-ac",
        "2",
        "-ar",
        str(SR),
        "-",
    ]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 2)


def _speech(folder: Path) -> np.ndarray:
    """SONG_S of espeak-ng speech, two voices panned left and right, (frames, 2) float32 at 44.1 kHz."""
    n = int(SONG_S * SR)
    voices = []
    for voice, speed in (("en", 150), ("en-us+f3", 165)):
        wav = folder / f"speech_{voice.replace('+', '_')}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), SPEECH * 12], check=True)
        mono = _decode(wav)[:, 0]
        reps = -(-n // len(mono))
        voices.append(np.tile(mono, reps)[:n])
    left, right = voices
    return np.stack([0.8 * left + 0.3 * right, 0.3 * left + 0.8 * right], axis=1).astype(np.float32)


def make_song() -> dict[str, tuple[Path, Path]]:
    """The cached song pair: ``{"mp3": (mixture, vocal), "flac": (mixture, vocal)}`` (built once)."""
    pairs = {ext: (CACHE / f"mixture.{ext}", CACHE / f"vocal.{ext}") for ext in ("mp3", "flac")}
    if all(p.exists() for pair in pairs.values() for p in pair):
        return pairs
    missing = [t for t in TRACKS if not (MUSIC / t).exists()]
    if missing or not shutil.which("espeak-ng") or not shutil.which("ffmpeg"):
        sys.exit(
            "song_bench: needs ffmpeg, espeak-ng and Debian's hyperrogue-music "
            "(apt-get install ffmpeg espeak-ng hyperrogue-music)"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    n = int(SONG_S * SR)
    with tempfile.TemporaryDirectory() as tmp:
        music = np.concatenate([_decode(MUSIC / t) for t in TRACKS])[:n]
        vocal = _speech(Path(tmp))
        music *= 0.5 / np.abs(music).max()
        vocal *= 0.4 / np.abs(vocal).max()
        mixture = music + vocal
        for name, signal in (("mixture", mixture), ("vocal", vocal)):
            raw = Path(tmp) / f"{name}.f32"
            signal.astype(np.float32).tofile(raw)
            for ext, codec in (("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]), ("flac", ["-c:a", "flac"])):
                subprocess.run(
                    [
                        "ffmpeg",
                        "-v",
                        "error",
                        "-y",
                        "-f",
                        "f32le",
                        "-ar",
                        str(SR),
                        "-ac",
                        "2",
                        "-i",
                        str(raw),
                        *codec,
                        str(CACHE / f"{name}.{ext}"),
                    ],
                    check=True,
                )
    return pairs


# --- the two trees ----------------------------------------------------------------------


def before_tree(ref: str) -> tuple[Path, str]:
    """``ref`` of this repository unpacked (git archive) into the cache, kept per commit."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = CACHE / f"tree-{commit[:12]}"
    if not (folder / "vsep_core").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder, commit


def timed(tree: Path, args: list[str], out: Path) -> tuple[float, float, float]:
    """Wall seconds, peak resident MB and CPU seconds (user + system) of ``python -m vsep_core ARGS`` in a new
    process, from ``tree``. On a loaded machine the CPU seconds show the work done; the wall, the waiting too."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    cmd = ["/usr/bin/time", "-f", "%e %M %U %S", sys.executable, "-m", "vsep_core", *args]
    # Bytecode written and read, as in a user's install (a CI or agent shell may set PYTHONDONTWRITEBYTECODE,
    # and then every process compiles vsep_core's 50 modules again, ~0.5 s); the untimed first run writes it.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"song_bench: {' '.join(args[:1])} failed in {tree}:\n{done.stderr[-2000:]}")
    wall, peak_kb, user, system = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(peak_kb) / 1024, float(user) + float(system)


def workloads(song: dict, out: Path, do_cli: bool, do_evaluate: bool) -> dict[str, list[str]]:
    """Each figure's name → the command's arguments."""
    jobs = {}
    if do_cli:
        for ext, (mixture, vocal) in song.items():
            base = [
                "run",
                "--mixture",
                str(mixture),
                "--vocal",
                str(vocal),
                "--duration",
                "all",
                "--slices",
                "18",
                "--greedy",
                "--quiet",
                "--out",
                str(out / "results"),
            ]
            jobs[f"run, every WAV ({ext})"] = base
            jobs[f"run --no-audio ({ext})"] = [*base, "--no-audio"]
    if do_evaluate:
        mixture, vocal = song["flac"]
        jobs["evaluate, every method (flac)"] = [
            "evaluate",
            "--mixture",
            str(mixture),
            "--vocal",
            str(vocal),
            "--duration",
            "all",
            "--quiet",
            "--json",
            str(out / "ev.json"),
        ]
    return jobs


def compare(song: dict, before: Path, reps: int, do_cli: bool, do_evaluate: bool) -> dict:
    """Every workload for both trees, alternating, ``reps`` times; the best wall and peak of each."""
    figures: dict = {}
    trees = {"before": before, "now": REPO}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        jobs = workloads(song, out, do_cli, do_evaluate)
        first = next(iter(jobs.values()))
        warm = [*first, "--no-audio"] if first[0] == "run" else first
        for tree in trees.values():  # untimed: numba's compiled loops, the page cache
            timed(tree, warm, out / ("results" if first[0] == "run" else "ev.json"))
        for name, args in jobs.items():
            row = {label: {"wall_s": [], "peak_mb": [], "cpu_s": []} for label in trees}
            load = []
            for _ in range(reps):
                for label, tree in trees.items():
                    load.append(os.getloadavg()[0])
                    wall, peak, cpu = timed(tree, args, out / ("results" if args[0] == "run" else "ev.json"))
                    row[label]["wall_s"].append(wall)
                    row[label]["peak_mb"].append(peak)
                    row[label]["cpu_s"].append(cpu)
            old, new = min(row["before"]["wall_s"]), min(row["now"]["wall_s"])
            row["ratio"] = old / new
            row["load"] = [min(load), max(load)]
            figures[name] = row
            target = next((t for key, t in TARGETS.items() if name.startswith(key)), None)
            cpu_old, cpu_new = min(row["before"]["cpu_s"]), min(row["now"]["cpu_s"])
            row["cpu_ratio"] = cpu_old / cpu_new
            print(
                f"{name:34s} before {old:6.2f} s {max(row['before']['peak_mb']):6.0f} MB | now {new:6.2f} s "
                f"{max(row['now']['peak_mb']):6.0f} MB | {row['ratio']:4.2f}x | CPU {cpu_old:.1f} → {cpu_new:.1f} s "
                f"({row['cpu_ratio']:4.2f}x) | load {load[0]:.1f}–{max(load):.1f}"
                + (f" | target < {target:g} s: {'met' if new < target else 'not met'}" if target else ""),
                flush=True,
            )
    return figures


def evaluate_figures(song: dict, before: Path) -> dict:
    """Each method's scores from both trees (one more run each, JSON), and the largest difference in dB."""
    mixture, vocal = song["flac"]
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, tree in (("before", before), ("now", REPO)):
            path = Path(tmp) / f"{label}.json"
            timed(
                tree,
                [
                    "evaluate",
                    "--mixture",
                    str(mixture),
                    "--vocal",
                    str(vocal),
                    "--duration",
                    "all",
                    "--quiet",
                    "--json",
                    str(path),
                ],
                path,
            )
            reports[label] = {m["name"]: m for m in json.loads(path.read_text())["methods"]}
    worst = 0.0
    for name, old in reports["before"].items():
        new = reports["now"][name]
        for source in ("vocal", "instrumental"):
            for metric, value in old[source].items():
                other = new[source][metric]
                if isinstance(value, (int, float)) and isinstance(other, (int, float)) and abs(value) < 150:
                    worst = max(worst, abs(value - other))
    seconds = {label: {n: round(m["seconds"], 2) for n, m in r.items()} for label, r in reports.items()}
    for name in seconds["before"]:
        print(
            f"  evaluate {name:24s} before {seconds['before'][name]:6.2f} s  now {seconds['now'].get(name, 0):6.2f} s"
        )
    print(f"  largest score difference, before vs now: {worst:.4f} dB (figures above 150 dB left out)")
    return {"method_seconds": seconds, "max_diff_db": worst}


# --- the dashboard ------------------------------------------------------------------------


def session_flow(url: str, mixture: Path, vocal: Path) -> dict:
    """One visitor's whole-song session in its own Chromium: the timings (s) and whether it was shown a
    place in the queue."""
    from browser_bench import open_app
    from browser_support import (
        HEATMAPS_JS,
        SIDEBAR_LINKS,
        act,
        launch,
        wait_for_quiet,
        wait_js,
    )
    from playwright.sync_api import sync_playwright

    def nav_link(title: str):
        return page.locator(SIDEBAR_LINKS).filter(has_text=title).first

    times: dict[str, float] = {}
    began = time.perf_counter()

    def say(what: str) -> None:  # on stderr, which the parent shows as it comes
        print(f"  [session {os.getpid()}, {time.perf_counter() - began:6.1f} s] {what}", file=sys.stderr, flush=True)

    def clicked(locator, condition: str, timeout: float, what: str) -> float:
        """Click, then the seconds (timed in the page) until ``condition`` holds. Each condition is something the
        click makes appear (a run of the page can arrive in one update, which a run counter may not see)."""
        start = page.evaluate("() => performance.now()")
        locator.click()
        patient(condition, timeout, what)
        return (page.evaluate("() => performance.now()") - start) / 1000.0

    def patient(condition: str, timeout: float, what: str) -> None:
        """Wait for ``condition``, saying every 30 s what the page shows meanwhile."""
        deadline = time.perf_counter() + timeout
        while True:
            try:
                wait_js(page, condition, max(1.0, min(30.0, deadline - time.perf_counter())), what=what)
                return
            except TimeoutError:
                if time.perf_counter() >= deadline:
                    raise
                shown = page.evaluate(
                    "() => (document.body.innerText.match(/(Waiting|Measuring|Running|Progressive|Greedy)[^\\n]*/g)"
                    " || []).slice(0, 4).concat([...document.querySelectorAll('[data-testid=stAlert]')]"
                    ".map(a => 'alert: ' + a.textContent.slice(0, 400))).join(' | ')"
                )
                say(f"still waiting for {what}: {shown or 'nothing of the kind on the page'}")

    waited = []  # the queue texts this session was shown ("Waiting: 3 jobs ahead of yours")
    with sync_playwright() as p:
        browser = launch(p)
        page, _ = open_app(browser, url)
        page.expose_function("vsepWaited", lambda text: waited.append(text))
        page.evaluate(
            """() => { let last = null; new MutationObserver(() => {
                const m = document.body.innerText.match(/Waiting: [^\\n]*/);
                if (m && m[0] !== last) { last = m[0]; window.vsepWaited(m[0]); }
            }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
        )
        say("page open")
        try:
            act(page, page.get_by_text("Upload files").click)
            wait_js(
                page, "document.querySelectorAll('[data-testid=stFileUploader]').length >= 2", 120, what="uploaders"
            )
            uploaders = page.locator("[data-testid='stFileUploader']")
            uploaders.nth(0).locator("input[type=file]").set_input_files(str(mixture))
            uploaders.nth(1).locator("input[type=file]").set_input_files(str(vocal))
            wait_js(
                page,
                # "Ready: …" is drawn by the run after a file has reached the server (its name shows at once)
                f"document.body.innerText.includes('Ready: {mixture.name}') && "
                f"document.body.innerText.includes('Ready: {vocal.name}')",
                600,
                what="the uploads",
            )
            wait_for_quiet(page, timeout=120)
            say("files uploaded")
            times["load"] = clicked(
                page.get_by_role("button", name="Load these files"),
                f"document.body.innerText.includes('Loaded: {mixture.name} + {vocal.name}') && "
                "document.querySelectorAll('audio').length >= 2",
                600,
                "the pair loaded",
            )
            say("pair loaded")
            page.get_by_text("Whole song").click()
            times["whole song applied"] = clicked(
                page.get_by_role("button", name="Apply settings"),
                "/Analysed[^:\\n]*: 180\\.00 s/.test(document.body.innerText)",
                600,
                "the whole song analysed",
            )
            say("whole song applied")
            times["slices"] = clicked(nav_link("Slices"), f"{HEATMAPS_JS} >= 19", 600, "the 19 heatmaps")
            say("slices drawn")
            nav_link("Optimise").click()
            slider = page.locator(".st-key-opt_n input[type=range]").first
            slider.wait_for(timeout=120_000)
            slider.focus()
            act(page, lambda: slider.press("End"), 300)  # N = 18
            assert slider.get_attribute("aria-valuetext") == "18", "could not set N = 18"
            start = page.evaluate("() => performance.now()")
            page.get_by_role("button", name="Run both").click()
            patient(
                "document.body.innerText.includes('Greedy search done') && "
                "document.body.innerText.includes('Progressive test done')",
                1800,
                "both searches",
            )
            times["run 18 + greedy"] = (page.evaluate("() => performance.now()") - start) / 1000.0
            say("run both done")
            start = page.evaluate("() => performance.now()")
            nav_link("Results").click()
            measure = page.get_by_role("button", name=re.compile("Measure separation quality"))
            try:
                measure.wait_for(timeout=300_000)
                start = page.evaluate("() => performance.now()")
                measure.click()
            except Exception:  # noqa: BLE001 - measured without asking (short segments)
                pass
            wait_js(
                page,
                "document.body.innerText.match(/SI-SDR[^\\n]*\\n?[^\\n]*-?\\d+\\.\\d+ ?dB/) || "
                "document.querySelectorAll('[data-testid=\"stDataFrame\"]').length > 0",
                1800,
                what="the first score",
            )
            say("first score")
            times["results: first score"] = (page.evaluate("() => performance.now()") - start) / 1000.0
            patient("!document.body.innerText.includes('Measuring')", 3600, "every score")
            times["results: every score"] = (page.evaluate("() => performance.now()") - start) / 1000.0
            nav_link("Optimise").click()  # what Optimise says about the runs (an error is an alert there)
            page.wait_for_timeout(3000)
            alerts = page.evaluate(
                "() => [...document.querySelectorAll('[data-testid=stAlert]')].map(a => a.innerText.slice(0, 400))"
            )
        except Exception:
            say("stopped; the page says:\n" + page.inner_text("body")[-2500:])
            raise
        browser.close()
    return {"times_s": times, "queue_texts": sorted(set(waited)), "alerts_on_optimise": alerts}


def dashboard(song: tuple[Path, Path], workers: str | None, sessions: int = 1) -> dict:
    """``sessions`` visitors at once on one fresh server, each in its own process and Chromium, the whole
    song each: their timings, and the server's peak memory above its idle start."""
    from browser_support import MemorySampler, Server

    env = {"VSEP_MAX_SEGMENT_S": "360"} | ({"VSEP_JOB_WORKERS": workers} if workers else {})
    mixture, vocal = song
    log_path = Path(tempfile.gettempdir()) / f"vsep_song_bench_server_{sessions}.log"
    with Server(env=env, log_path=log_path) as server, MemorySampler(server) as memory:
        idle = memory.first
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--session-child", server.url, str(mixture), str(vocal)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(sessions)
        ]
        results = []
        for child in children:
            out, _ = child.communicate()
            if child.returncode != 0:  # its error and what its page said are above; the others still count
                results.append({"failed": True, "times_s": {}, "queue_texts": []})
                continue
            results.append(json.loads(out.strip().splitlines()[-1]))
        peak = memory.peak / 2**20
        held = server.rss_bytes() / 2**20  # what the server keeps once every session is done
    for i, one in enumerate(results, 1):
        if one.get("failed"):
            print(f"dashboard, 3-minute song, session {i} of {sessions}: FAILED (see its page above)", flush=True)
            continue
        shown = "; ".join(one["queue_texts"]) or "never waited"
        if one.get("alerts_on_optimise"):
            shown += " | alerts on Optimise: " + " / ".join(one["alerts_on_optimise"])
        print(
            f"dashboard, 3-minute song, session {i} of {sessions}: "
            + ", ".join(f"{name} {value:.1f} s" for name, value in one["times_s"].items())
            + f" | queue: {shown}",
            flush=True,
        )
    print(
        f"dashboard server ({sessions} session(s)): idle {idle / 2**20:.0f} MB, peak {peak:.0f} MB, "
        f"peak above idle {peak - idle / 2**20:.0f} MB"
    )
    failed = sum(bool(one.get("failed")) for one in results)
    if failed:
        print(f"song_bench: {failed} of {sessions} sessions failed", flush=True)
    return {"sessions": results, "server_idle_mb": idle / 2**20, "server_peak_mb": peak, "server_held_mb": held}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", action="store_true", help="run --duration all --slices 18 --greedy, MP3 and FLAC")
    parser.add_argument("--evaluate", action="store_true", help="evaluate --duration all, every method")
    parser.add_argument("--dashboard", action="store_true")
    parser.add_argument(
        "--before-ref",
        default="main",
        metavar="REF",
        help="the tree to compare with (git ref of this repository) (%(default)s)",
    )
    parser.add_argument("--reps", type=int, default=2, help="repetitions per figure and tree; best kept (%(default)s)")
    parser.add_argument("--workers", help="VSEP_JOB_WORKERS for the dashboard's server")
    parser.add_argument(
        "--sessions",
        type=int,
        nargs="+",
        default=[1],
        metavar="N",
        help="visitors at once for --dashboard, a fresh server for each figure, e.g. 1 4 8 (%(default)s)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    if len(sys.argv) == 5 and sys.argv[1] == "--session-child":  # one visitor (dashboard())
        print(json.dumps(session_flow(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        return 0
    args = parser.parse_args()
    if not (args.cli or args.evaluate or args.dashboard):
        parser.error("choose --cli, --evaluate and/or --dashboard")
    song = make_song()
    figures: dict = {
        "load_before": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
    }
    print(f"song: {SONG_S:.0f} s, {SR} Hz stereo, {', '.join(str(p) for p in song['mp3'] + song['flac'])}")
    if args.cli or args.evaluate:
        before, commit = before_tree(args.before_ref)
        figures["before"] = {"ref": args.before_ref, "commit": commit}
        print(
            f"before: {args.before_ref} ({commit[:12]}), now: {REPO}; load average {figures['load_before']}; "
            f"best of {args.reps} per tree (wall, peak RSS)",
            flush=True,
        )
        figures["figures"] = compare(song, before, args.reps, args.cli, args.evaluate)
        if args.evaluate:
            figures["evaluate"] = evaluate_figures(song, before)
    if args.dashboard:
        figures["dashboard"] = {n: dashboard(song["flac"], args.workers, n) for n in args.sessions}
    figures["load_after"] = os.getloadavg()
    print(f"load average before {figures['load_before']}, after {figures['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
