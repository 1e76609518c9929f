"""The command line, second round (issue 17, point 6): full disks and devices, kills, two runs at once,
streamed FLAC, absurd samples, names that attack a spreadsheet or a terminal, codec padding, several streams,
and MP3 decoding that leaves the process's stderr alone.

Each case runs ``python -m vsep_core`` in a fresh process (``run_cli`` of the first hostile suite: exit code,
output, peak memory). A full file system is a real one: a 256 KiB tmpfs mounted in the test's temporary folder
(the tests run as root in CI; the mount is removed after each test).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest_eval import write_pair
from test_hardening import REPO, assert_refused, ffmpeg, run_cli, tone, write

BIDI = "\u202e"


def one_clean_line(result, pattern: str, code: int = 2) -> str:
    """The command failed with ``code`` and said so in one line matching ``pattern``, with no traceback."""
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert result.code == code, (result.code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(pattern, lines[0]), result.stderr
    return lines[0]


def tree(folder: Path) -> dict:
    """Every file under ``folder`` → its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@contextmanager
def tiny_filesystem(path: Path, size: str = "256k"):
    """A real, small tmpfs at ``path`` (a full disk on demand: :func:`fill`)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> None:
    """Write until the file system is full."""
    with open(folder / "ballast", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 3 s pair (float WAV, 22,050 Hz)."""
    folder = tmp_path_factory.mktemp("song")
    write_pair(folder, seconds=3.0)
    return folder


def run_args(song: Path, out: Path, *extra) -> list:
    return [
        "run",
        "--mixture",
        song / "mixture.wav",
        "--vocal",
        song / "vocal.wav",
        "--out",
        out,
        "--slices",
        "1",
        *extra,
    ]


# --- full disks and devices ------------------------------------------------------------


def test_run_on_a_full_disk_is_one_line_and_keeps_the_earlier_folder(song, tmp_path):
    with tiny_filesystem(tmp_path / "disk") as disk:
        out = disk / "results"
        first = run_cli(run_args(song, out, "--no-audio", "--no-plots", "--quiet"), cwd=tmp_path)
        assert first.code == 0, first.stderr
        before = tree(out)
        fill(disk)
        again = run_cli(run_args(song, out), cwd=tmp_path)  # WAVs and plots: far more than is left
        one_clean_line(
            again,
            r"^vsep run: error: cannot write .*results: No space left on device\. Earlier "
            r"results are left as they were\.$",
        )
        assert tree(out) == before
        assert hidden(disk) == []  # no staging folder, no lock file, no temporary file


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["evaluate", "--methods", "mixture", "--quiet"],
    ],
)
def test_printing_to_a_full_device_is_one_line(song, tmp_path, command):
    if command[0] == "evaluate":
        command = [*command, "--mixture", song / "mixture.wav", "--vocal", song / "vocal.wav"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open("/dev/full", "wb") as full:
        run = subprocess.run(
            [sys.executable, "-m", "vsep_core", *map(str, command)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [f"vsep {command[0]}: error: cannot write to the standard output: No space left on device."]


def test_evaluate_json_on_a_full_disk_keeps_the_previous_report(song, tmp_path):
    """The new report is larger than the old (more methods): written in place, it would be cut at the page the
    old one freed (the issue's "4 KB of invalid JSON"); written beside and renamed, the old one stays whole."""
    args = ["evaluate", "--mixture", song / "mixture.wav", "--vocal", song / "vocal.wav", "--quiet", "--methods"]
    with tiny_filesystem(tmp_path / "disk") as disk:
        report = disk / "report.json"
        first = run_cli([*args, "mixture", "--json", report], cwd=tmp_path)
        assert first.code == 0, first.stderr
        before = report.read_bytes()
        fill(disk)
        again = run_cli([*args, "mixture", "irm", "ibm", "wiener", "--json", report], cwd=tmp_path)
        one_clean_line(again, r"Cannot write the JSON report to .*report\.json.*: No space left on device")
        assert report.read_bytes() == before and json.loads(before)["methods"]
        assert hidden(disk) == []


def test_atomic_file_keeps_the_old_file_when_writing_fails(tmp_path):
    from vsep_core.staging import atomic_file, write_text_atomic

    path = write_text_atomic(tmp_path / "a.json", '{"old": 1}\n')
    with pytest.raises(RuntimeError):
        with atomic_file(path, "w") as f:
            f.write('{"new": ')
            raise RuntimeError("the disk filled up here")
    assert path.read_text() == '{"old": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    write_text_atomic(path, '{"new": 2}\n')
    assert path.read_text() == '{"new": 2}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


# --- kills and two runs at once -----------------------------------------------------------


def start_run(song: Path, out: Path, cwd: Path) -> subprocess.Popen:
    """A run that takes several seconds (18 slices, the greedy search), in the background."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vsep_core",
            *map(str, run_args(song, out)[:-2]),
            "--slices",
            "18",
            "--greedy",
            "--quiet",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_staging(parent: Path, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staging = [p for p in parent.iterdir() if ".vsep-staging-" in p.name]
        if staging and any(staging[0].rglob("*.wav")):
            return staging[0]
        assert proc.poll() is None, "the run ended before the test could act: " + proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("no staging folder appeared")


def test_a_killed_run_leaves_staging_that_the_next_run_sweeps(song, tmp_path):
    proc = start_run(song, tmp_path / "results", tmp_path)
    staging = wait_for_staging(tmp_path, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert staging.is_dir()  # SIGKILL cannot be caught: this is what a kill leaves
    # A run into a sibling folder sweeps it (nobody holds the killed run's lock) ...
    other = run_cli(run_args(song, tmp_path / "other", "--no-audio", "--no-plots", "--quiet"), cwd=tmp_path)
    assert other.code == 0, other.stderr
    assert not staging.exists() and hidden(tmp_path) == [".peak_kb.txt", ".stderr.txt", ".stdout.txt"]


def test_a_live_runs_staging_is_not_swept_but_a_dead_ones_is(tmp_path):
    from vsep_core.staging import sweep_leftovers

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom vsep_core.staging import claim_out_dir\n"
            f"claim_out_dir({str(tmp_path / 'busy')!r})\nprint('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = tmp_path / ".busy.vsep-staging-0123456789ab"
        idle = tmp_path / ".idle.vsep-old-0123456789ab"
        stranger = tmp_path / ".idle.vsep-staging-mine"  # not a name vsep makes: kept
        (tmp_path / ".gone.vsep-lock").write_bytes(b"")  # a killed command's lock file, nobody holding it
        for folder in (busy, idle, stranger):
            folder.mkdir()
            (folder / "x.wav").write_bytes(b"x")
        assert sweep_leftovers(tmp_path) == [idle]
        assert busy.is_dir() and stranger.is_dir()
    finally:
        holder.kill()
        holder.wait()
    assert sweep_leftovers(tmp_path) == [busy]
    assert sorted(p.name for p in tmp_path.iterdir()) == [stranger.name]  # and no lock file is left


def test_a_second_run_into_a_folder_in_use_is_refused(song, tmp_path):
    # The first command holds the place for as long as the test needs (a real run can finish while the second
    # command is still starting); the killed-run test above shows a real run claims its place the same way.
    out = tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom vsep_core.staging import claim_out_dir\n"
            f"claim_out_dir({str(out)!r})\nprint('held', flush=True)\ntime.sleep(120)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = run_cli(run_args(song, out, "--quiet"), cwd=tmp_path)
        one_clean_line(
            second,
            r"^vsep run: error: --out '.*results' is in use: another vsep command is writing its "
            r"results there\. Wait for it to finish, or give another folder\.$",
        )
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    again = run_cli(run_args(song, out, "--quiet"), cwd=tmp_path)  # released when its holder ends
    assert again.code == 0, again.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["progressive"]) == 1 and any(out.rglob("*.wav"))
    assert hidden(tmp_path) == [".peak_kb.txt", ".stderr.txt", ".stdout.txt"]  # the lock file went with the run


# --- what the files hold -----------------------------------------------------------------------


def test_a_streamed_flac_is_read_with_its_length_counted(song, tmp_path):
    streamed = tmp_path / "streamed.flac"
    with open(streamed, "wb") as f:  # to a pipe: ffmpeg cannot go back to write the total into STREAMINFO
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", str(song / "mixture.wav"), "-c:a", "flac", "-f", "flac", "-"],
            stdout=f,
            check=True,
        )
    assert int.from_bytes(streamed.read_bytes()[18:26], "big") & ((1 << 36) - 1) == 0  # total samples: 0
    seekable = tmp_path / "seekable.flac"  # the same samples, with the total written
    ffmpeg("-i", song / "mixture.wav", "-c:a", "flac", seekable)
    from vsep_core.audio import decode

    assert np.array_equal(decode(streamed).samples, decode(seekable).samples)
    result = run_cli(
        ["evaluate", "--mixture", streamed, "--vocal", song / "vocal.wav", "--methods", "mixture"], cwd=tmp_path
    )
    assert result.code == 0 and "3.00 s at 22050 Hz" in result.stdout, result.stderr
    # Still bounded: the samples are counted as they come.
    capped = run_cli(
        ["evaluate", "--mixture", streamed, "--vocal", streamed, "--methods", "mixture"],
        cwd=tmp_path,
        env_extra={"VSEP_MAX_DURATION_S": "1"},
    )  # no header says how long either is
    assert_refused(capped, r"The mixture file lasts more than [\d.]+ s; the limit is 1 s")


@pytest.mark.parametrize("level", ["as-is", "common", "independent"])
def test_absurd_sample_values_are_refused_at_every_level(tmp_path, level):
    scale = np.float32(1e30)
    y = tone(3.0, amp=1.0)[:, 0]
    mixture = write(tmp_path / "mixture.wav", scale * (y + tone(3.0, freq=110, amp=1.0, seed=2)[:, 0]), subtype="FLOAT")
    vocal = write(tmp_path / "vocal.wav", scale * y, subtype="FLOAT")
    result = run_cli(
        [
            "run",
            "--mixture",
            mixture,
            "--vocal",
            vocal,
            "--level",
            level,
            "--slices",
            "1",
            "--out",
            tmp_path / "results",
        ],
        cwd=tmp_path,
    )
    assert_refused(
        result,
        r"holds samples as large as 1\.\d+e\+30; audio lies within ±1 .*above 1000 it is not a "
        r"recording",
    )
    assert not (tmp_path / "results").exists()


def test_float_audio_a_little_over_full_scale_still_runs(song, tmp_path):
    mixture = write(tmp_path / "m.wav", 4.0 * sf.read(song / "mixture.wav", dtype="float32")[0], subtype="FLOAT")
    vocal = write(tmp_path / "v.wav", 4.0 * sf.read(song / "vocal.wav", dtype="float32")[0], subtype="FLOAT")
    result = run_cli(
        [
            "run",
            "--mixture",
            mixture,
            "--vocal",
            vocal,
            "--level",
            "as-is",
            "--slices",
            "1",
            "--no-audio",
            "--out",
            tmp_path / "results",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    losses = [r["final_loss"] for r in json.loads((tmp_path / "results" / "summary.json").read_text())["progressive"]]
    assert all(np.isfinite(losses))


def test_codec_padding_is_tolerated_up_to_its_bound(tmp_path):
    from vsep_core.audio import CODEC_PADDING_S, probe

    vocal = write(tmp_path / "vocal.wav", tone(3.0, 44100, channels=2), 44100)
    source = write(tmp_path / "mixture.wav", tone(3.0, 44100, channels=2) + tone(3.0, 44100, 110, 2, seed=3), 44100)
    piped = tmp_path / "piped.mp3"
    with open(piped, "wb") as f:  # an MP3 through a pipe has no gapless header: its padding stays in
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", str(source), "-ar", "8000", "-f", "mp3", "-"],
            stdout=f,
            check=True,
        )
    padding = probe(piped).duration_s - 3.0
    assert 0.093 < padding <= CODEC_PADDING_S  # more than the one frame (93 ms) that was the bound before
    result = run_cli(
        ["evaluate", "--mixture", piped, "--vocal", vocal, "--methods", "mixture", "--quiet"], cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    longer = write(tmp_path / "longer.wav", tone(3.3, 44100, channels=2), 44100)  # another edit: refused
    refused = run_cli(["evaluate", "--mixture", source, "--vocal", longer, "--methods", "mixture"], cwd=tmp_path)
    assert_refused(
        refused,
        r"longer than the mixture \(3\.000 s\) by 0\.300 s; a pair must have the same length "
        r"\(within 250 ms: an analysis frame or a codec's padding\)",
    )


def test_a_file_with_a_silent_first_stream_uses_the_second_and_says_so(tmp_path):
    vocal = write(tmp_path / "vocal.wav", tone(3.0, 44100, channels=2), 44100)
    source = write(tmp_path / "mixture.wav", tone(3.0, 44100, channels=2) + tone(3.0, 44100, 110, 2, seed=3), 44100)
    two = tmp_path / "two.mkv"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=stereo",
        "-i",
        source,
        "-map",
        "0:a",
        "-map",
        "1:a",
        "-c:a",
        "flac",
        "-shortest",
        two,
    )
    used = "audio stream 2 of 2 (flac, 44100 Hz, 2 ch; stream 1 silent)"
    result = run_cli(
        [
            "run",
            "--mixture",
            two,
            "--vocal",
            vocal,
            "--slices",
            "1",
            "--no-audio",
            "--no-plots",
            "--out",
            tmp_path / "results",
        ],
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    assert f"vsep run: note: the mixture file: used {used}." in result.stderr
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["pair"]["streams"] == {"mixture": used}
    evaluated = run_cli(["evaluate", "--mixture", two, "--vocal", vocal, "--methods", "mixture"], cwd=tmp_path)
    assert evaluated.code == 0 and f"mixture: {used}" in evaluated.stdout.splitlines()[0], evaluated.stderr
    # The same pair from a one-stream file names no stream.
    plain = run_cli(["evaluate", "--mixture", source, "--vocal", vocal, "--methods", "mixture"], cwd=tmp_path)
    assert plain.code == 0 and "stream" not in plain.stdout.splitlines()[0]


# --- names --------------------------------------------------------------------------------------------


def test_batch_neutralises_formulas_in_csv_and_escapes_in_the_terminal(tmp_path):
    songs = tmp_path / "songs"
    formula = '=HYPERLINK("https:example.invalid","open me")'  # a folder name has no "/"
    escape = "\x1b[2J\x1b[31mred\x1b]0;title\x07"
    write_pair(songs / formula, seconds=1.5)
    write_pair(songs / escape, seconds=1.5, names=("vocal",))  # broken: no mixture, so it is listed as skipped
    (songs / f"@SUM(1+1){BIDI}x").mkdir()
    result = run_cli(
        ["batch", songs, "--methods", "mixture", "--workers", "1", "--out", tmp_path / "out"], cwd=tmp_path, timeout=300
    )
    assert result.code == 1, result.stderr  # one song evaluated, two skipped
    for text in (result.stdout, result.stderr):
        assert "\x1b" not in text and "\x07" not in text and BIDI not in text
    assert "Skipped [2J[31mred]0;title" in result.stdout
    cells = []
    for name in ("per_song.csv", "failures.csv", "summary.csv"):
        with open(tmp_path / "out" / name, newline="", encoding="utf-8") as f:
            cells += [cell for row in csv.reader(f) for cell in row]
    assert f"'{formula}" in cells and "'@SUM(1+1)x" in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    assert not any("\x1b" in cell or BIDI in cell for cell in cells)
    for cell in cells:
        if cell.startswith("-"):
            float(cell)  # a negative number stays a number
    # batch.json keeps the names as they are (JSON is data, escaped by its syntax).
    report = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert formula in [s["song"] for s in report["songs"]]


def test_the_run_report_and_summary_strip_bidi_controls_from_names(song, tmp_path):
    evil = tmp_path / f"my{BIDI}vaw.exe.wav"
    evil.write_bytes((song / "mixture.wav").read_bytes())
    result = run_cli(
        [
            "run",
            "--mixture",
            evil,
            "--vocal",
            song / "vocal.wav",
            "--slices",
            "1",
            "--no-audio",
            "--report",
            "--out",
            tmp_path / "results",
        ],
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    summary = (tmp_path / "results" / "summary.json").read_text(encoding="utf-8")
    report = (tmp_path / "results" / "report.html").read_text(encoding="utf-8")
    assert json.loads(summary)["pair"]["mixture"] == "myvaw.exe.wav"
    assert BIDI not in summary and BIDI not in report and "\\u202e" not in summary.lower()
    assert "myvaw.exe.wav" in report
    evaluated = run_cli(
        ["evaluate", "--mixture", evil, "--vocal", song / "vocal.wav", "--methods", "mixture"], cwd=tmp_path
    )
    assert evaluated.code == 0 and BIDI not in evaluated.stdout and "myvaw.exe.wav" in evaluated.stdout


def test_the_shared_name_helpers():
    from vsep_core.text import MAX_NAME_CHARS, csv_cell, display_name, terminal_text

    long = display_name("/some/folder/" + "a" * 5000 + ".wav")
    assert len(long) == MAX_NAME_CHARS and long.endswith("…") and long.startswith("aaa")
    assert display_name(f"C:\\x\\ev{BIDI}il\u2066\u200b.wav\x1b[2J") == "evil.wav[2J"
    assert display_name("\x00\x1b") == "file" and display_name("Beyoncé – Halo.flac") == "Beyoncé – Halo.flac"
    assert terminal_text("a\x1b[31mb\tc\nd\x9b2J") == "a[31mb c\nd2J"
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\t=1", "plain", -1.5, 3)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'=1",
        "plain",
        -1.5,
        3,
    ]
    with pytest.raises(ValueError):
        display_name("x", max_chars=1)


# --- MP3 without touching the process's stderr --------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged_mp3(tmp_path_factory):
    """An MP3 with garbage written into it: libmpg123 prints "Note: …" lines on it."""
    folder = tmp_path_factory.mktemp("mp3")
    wav = write(folder / "song.wav", tone(4.0, 44100, channels=2), 44100)
    mp3 = folder / "song.mp3"
    ffmpeg("-i", wav, "-c:a", "libmp3lame", mp3)
    data = bytearray(mp3.read_bytes())
    rng = np.random.default_rng(0)
    for pos in range(len(data) // 2, len(data) // 2 + 3000, 1000):
        data[pos : pos + 150] = rng.integers(0, 256, 150, dtype=np.uint8).tobytes()
    damaged = folder / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    return damaged


def test_mp3_is_decoded_without_redirecting_stderr_or_printing(damaged_mp3, tmp_path):
    """While a thread decodes a damaged MP3, another writes log lines to fd 2 and watches what fd 2 is.

    Before, fd 2 pointed at a temporary file for the whole decode (one lock for the whole server), and lines
    starting like libmpg123's ("Warning: …") were dropped. Now fd 2 is never touched, every log line arrives,
    no "Note:" reaches it, and the samples are libsndfile's own.
    """
    script = f"""
import os, sys, threading, time
import numpy as np, soundfile as sf
from vsep_core.audio import decode
mp3 = {str(damaged_mp3)!r}
seen, done = set(), threading.Event()
def log():
    k = 0
    while not done.is_set() or k < 20:
        seen.add(os.fstat(2).st_ino)
        os.write(2, f"Warning: session B log line {{k}}\\n".encode())
        k += 1
        time.sleep(0.002)
    print("lines", k, flush=True)
t = threading.Thread(target=log)
t.start()
decoded = decode(mp3)
done.set()
t.join()
print("inodes", len(seen), flush=True)
reference = sf.read(mp3, dtype="float32", always_2d=True)[0].T  # in this process: its notes reach fd 2 (after)
print("same", np.array_equal(decoded.samples, reference), decoded.samples.shape, flush=True)
"""
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert out["inodes"] == "1"  # fd 2 stayed the same file throughout
    assert out["same"].startswith("True")
    logged = [line for line in run.stderr.splitlines() if line.startswith("Warning: session B")]
    assert len(logged) == int(out["lines"])  # every log line arrived
    # The only "Note:" lines come from the reference read in the test's own process, after the decode.
    notes = [i for i, line in enumerate(run.stderr.splitlines()) if line.startswith("Note: ")]
    last_log = max(i for i, line in enumerate(run.stderr.splitlines()) if line.startswith("Warning: session B"))
    assert notes and min(notes) > last_log


def test_a_damaged_mp3_through_the_cli_is_clean(damaged_mp3, tmp_path):
    vocal = write(tmp_path / "vocal.wav", tone(4.0, 44100, channels=2), 44100)
    result = run_cli(
        ["evaluate", "--mixture", damaged_mp3, "--vocal", vocal, "--methods", "mixture", "--quiet"], cwd=tmp_path
    )
    assert result.code == 0 and result.stderr == "", result.stderr  # libmpg123's notes stayed in the child
    assert "Pair: mixture" in result.stdout


def test_two_mp3_decodes_run_at_once(damaged_mp3):
    """No process-wide lock: two threads decode at the same time (each in its own child process)."""
    from vsep_core import decode as decoding

    assert not hasattr(decoding, "_STDERR_LOCK")
    results, errors = [], []

    def work():
        try:
            results.append(decoding.decode(damaged_mp3).samples)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2 and np.array_equal(results[0], results[1])
