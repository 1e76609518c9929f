"""Hostile uploads on the Load audio page (AppTest, issue 8): each is one clear message, nothing is lost.

Streamlit 1.67's AppTest drives ``st.file_uploader`` itself (``at.file_uploader(key=...).set_value``),
so these go through the page exactly as a browser upload would after it reached the server (a file
over the browser's cap never reaches it: the server-side check of the cap is tested with a smaller cap).
Before each upload the session has a pair loaded and a progressive test run; after it, both are still
there, the page shows exactly one error message (an engine ``VsepError``, not the guard's note about an
unexpected problem), no exception and no traceback.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from vsep_app import loading

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"
SAMPLE_LABEL = "Pop, female voice (default sample)"
SR = 22050
N = 103_635  # the sample's length


def _encode(y, sr=SR, fmt="WAV", subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _tone(n=N, channels=1, sr=SR):
    t = np.arange(n) / sr
    y = 0.3 * np.sin(2 * np.pi * 330 * t).astype(np.float32)
    return y if channels == 1 else np.repeat(y[:, None], channels, axis=1)


def _mixture() -> bytes:
    return (SAMPLE / "mixture.wav").read_bytes()


def _vocal() -> bytes:
    return (SAMPLE / "vocal.wav").read_bytes()


def _truncated_wav() -> bytes:
    whole = _vocal()
    return whole[: len(whole) // 2]  # the header still promises every sample


def _lying_rate_wav() -> bytes:
    data = bytearray(_vocal())
    struct.pack_into("<I", data, 24, 0)  # the fmt chunk's sample rate: 0 Hz
    return bytes(data)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("song.wav", _vocal())
    return buf.getvalue()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _hls(target: Path) -> bytes:
    return (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n").encode()


SHELL_NAME = "$(touch pwned); rm -rf ~ `id` | ü🎤 'quote\" [x](javascript:alert(1)) $x$.wav"

#: (case id, mixture (name, bytes) or None for the sample's, other (name, bytes) or None, words the message has)
CASES = [
    ("corrupt WAV", ("song.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 30), None, ""),
    ("truncated WAV", ("song.wav", None), ("vocal.wav", "truncated_wav"), "damaged"),
    ("truncated FLAC", None, ("vocal.flac", "truncated_flac"), ""),
    ("truncated OGG", None, ("vocal.ogg", "truncated_ogg"), ""),
    ("corrupt MP3", ("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(range(256)) * 40), None, ""),
    ("corrupt M4A", ("song.m4a", b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00" + b"\xff" * 4000), None, ""),
    ("ZIP renamed .wav", ("song.wav", "zip"), None, ""),
    ("PNG renamed .wav", None, ("vocal.wav", PNG), ""),
    ("text renamed .mp3", ("song.mp3", b"this is a text file, not a song " * 20), None, ""),
    ("NaN float WAV", None, ("vocal.wav", "nan"), "NaN"),
    ("Inf float WAV", ("song.wav", "inf"), None, "infinite"),
    ("silent vocal", None, ("vocal.wav", "silence"), "silent"),
    ("mismatched lengths", None, ("vocal.wav", "short"), ""),
    ("mixture identical to the vocal", ("song.wav", "vocal"), ("vocal.wav", "vocal"), ""),
    ("empty file", ("song.wav", b""), None, "empty"),
    ("one sample", None, ("vocal.wav", "one_sample"), ""),
    ("nine channels", ("song.wav", "nine_channels"), None, "channels"),
    ("4 kHz sample rate", None, ("vocal.wav", "low_rate"), ""),
    ("header with a 0 Hz rate", None, ("vocal.wav", "lying_rate"), ""),
    ("too long (21 minutes)", ("long.wav", "too_long"), None, "20 minutes"),
    ("HLS playlist named .m4a", ("song.m4a", "hls"), None, ""),
    ("HLS playlist named .aac, file URL", None, ("vocal.aac", "hls_url"), ""),
    ("ffconcat list named .m4a", ("song.m4a", "concat"), None, ""),
    ("shell and unicode name, corrupt content", ((SHELL_NAME, b"RIFF" + b"\x00" * 100)), None, ""),
    ("no vocal file chosen", None, "missing", "No isolated vocal file is chosen"),
]


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    """A server file a playlist upload points at: it must never be read into the session."""
    path = tmp_path_factory.mktemp("server") / "secret.wav"
    path.write_bytes(_encode(_tone(SR)))
    return path


def _content(kind, secret: Path) -> bytes:
    if isinstance(kind, bytes):
        return kind
    return {
        "truncated_wav": _truncated_wav,
        "truncated_flac": lambda: _encode(_tone(), fmt="FLAC")[:3000],
        "truncated_ogg": lambda: _encode(_tone(), fmt="OGG", subtype="VORBIS")[:3000],
        "zip": _zip,
        "nan": lambda: _encode(np.full(N, np.nan), subtype="FLOAT"),
        "inf": lambda: _encode(np.where(np.arange(N) % 100 == 0, np.inf, 0.1), subtype="FLOAT"),
        "silence": lambda: _encode(np.zeros(N)),
        "short": lambda: _encode(_tone(SR * 2)),
        "vocal": _vocal,
        "one_sample": lambda: _encode(np.array([0.5])),
        "nine_channels": lambda: _encode(_tone(N, 9)),
        "low_rate": lambda: _encode(_tone(4000 * 5, sr=4000), sr=4000),
        "lying_rate": _lying_rate_wav,
        "too_long": lambda: _encode(0.1 * np.ones(8000 * 60 * 21), 8000, subtype="PCM_U8"),
        "hls": lambda: _hls(secret),
        "hls_url": lambda: _hls(Path(f"file://{secret}")),
        "concat": lambda: f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
    }[kind]()


@pytest.fixture(scope="module")
def loaded_session():
    """A session with the default sample loaded and a progressive test (N = 2) run: what must survive."""

    def make() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("app_pages/optimise.py").run()
        at.slider(key="opt_n").set_value(2).run()
        at.button(key="run_progressive").click().run(timeout=60)
        assert at.session_state["vsep_progressive"] is not None
        at.switch_page("app_pages/load.py").run()
        assert not at.exception
        return at

    return make


def _upload(at: AppTest, mixture: tuple | None, other: tuple | None) -> None:
    at.radio(key="load_mode").set_value("Upload files").run()
    if mixture is not None:
        at.file_uploader(key="upload_mixture").set_value((*mixture, "audio/wav"))
    if other is not None:
        at.file_uploader(key="upload_other").set_value((*other, "audio/wav"))
    at.run()
    at.button(key="load_uploads").click().run(timeout=60)


def _assert_one_clear_message(at: AppTest, words: str) -> str:
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    message = errors[0]
    assert "unexpected problem" not in message, message  # an engine message, not the guard's fallback
    assert "Traceback" not in message and 'File "' not in message
    assert not any(e.label.startswith("Technical details") for e in at.expander)
    assert not at.code  # no traceback block anywhere on the page
    assert words in message, message
    return message


@pytest.mark.parametrize("case, mixture, other, words", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_upload_is_one_clear_message_and_keeps_the_session(
    loaded_session, secret, case, mixture, other, words, tmp_path, monkeypatch
):
    at = loaded_session()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where a decoder's private copy would go
    before_source, before_prog = at.session_state["vsep_source"], at.session_state["vsep_progressive"]
    mix = (
        ("mixture.wav", _mixture())
        if mixture is None
        else (mixture[0], _content(mixture[1], secret) if mixture[1] is not None else _mixture())
    )
    oth = (
        None
        if other == "missing"
        else ("vocal.wav", _vocal())
        if other is None
        else (other[0], _content(other[1], secret))
    )
    if other == "missing":
        at.radio(key="load_mode").set_value("Upload files").run()
        at.file_uploader(key="upload_mixture").set_value((*mix, "audio/wav"))
        at.run()
        at.button(key="load_uploads").click().run(timeout=60)
    else:
        _upload(at, mix, oth)
    _assert_one_clear_message(at, words)
    # Nothing lost: the pair loaded before and its results are still the session's.
    assert at.session_state["vsep_source"] is before_source or at.session_state["vsep_source"] == before_source
    assert at.session_state["vsep_progressive"] is not None
    assert at.session_state["vsep_progressive"].identity == before_prog.identity
    assert f"Loaded: {SAMPLE_LABEL}" in [h.value for h in at.subheader]
    assert not any(temp.iterdir()), list(temp.iterdir())  # nothing of the upload left on disk, also after an error


def test_a_file_over_the_upload_cap_is_refused_by_the_server_too(loaded_session, monkeypatch):
    """The browser refuses files over server.maxUploadSize; a client that does not is refused here."""
    monkeypatch.setattr(loading, "upload_cap_mb", lambda: 1)
    at = loaded_session()
    big = _encode(_tone(SR * 30))  # 1.3 MB
    _upload(at, ("big.wav", big), ("vocal.wav", _vocal()))
    message = _assert_one_clear_message(at, "the limit is 1 MB")
    assert "big.wav" in message
    assert f"Loaded: {SAMPLE_LABEL}" in [h.value for h in at.subheader]


def test_a_shell_and_unicode_name_with_good_audio_loads_and_shows_literally(loaded_session):
    at = loaded_session()
    _upload(at, (SHELL_NAME, _mixture()), ("vocal ü🎤.wav", _vocal()))
    assert not at.exception and not at.error
    shown = next(h.value for h in at.subheader if h.value.startswith("Loaded: "))
    name = loading.display_name(SHELL_NAME)
    assert "[x](javascript" not in shown and "\\[x\\]" in shown and "\\$x\\$" in shown  # not a link, not maths
    assert at.session_state["vsep_source"].mixture_name == name
    assert not (Path.cwd() / "pwned").exists()


def test_a_name_with_folders_keeps_only_the_file_name():
    assert loading.display_name("../../etc/passwd") == "passwd"
    assert loading.display_name("C:\\Users\\x\\song.wav") == "song.wav"
    assert loading.display_name("a\x00b\nc.wav") == "abc.wav"
    assert len(loading.display_name("x" * 1000 + ".wav")) == loading.MAX_NAME_CHARS


def test_pressing_load_reports_the_file_it_reads_not_an_earlier_one(loaded_session):
    """After a bad file, a good one replaces it: Load loads the new one, without the old message."""
    at = loaded_session()
    _upload(at, ("bad.wav", b"RIFF" + b"\x00" * 64), ("vocal.wav", _vocal()))
    assert len(at.error) == 1
    _upload(at, ("good.wav", _mixture()), ("vocal.wav", _vocal()))
    assert not at.error
    assert at.session_state["vsep_source"].mixture_name == "good.wav"
    assert any("Ready: good.wav" in c.value for c in at.caption)


_MEMORY_PROBE = """
import resource, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
app, name, path, vocal = sys.argv[1:5]
at = AppTest.from_file(app, default_timeout=120)
at.run()
at.radio(key="load_mode").set_value("Upload files").run()
data = Path(path).read_bytes()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
at.file_uploader(key="upload_mixture").set_value((name, data, "audio/wav"))
at.file_uploader(key="upload_other").set_value(("vocal.wav", Path(vocal).read_bytes(), "audio/wav"))
at.run()
at.button(key="load_uploads").click().run(timeout=120)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(int((peak - base) / 1024), "|".join(e.value for e in at.error))
"""


@pytest.mark.parametrize(
    "name, ffmpeg_input, words",
    [
        # 19.9 minutes of 8-channel silence in 0.43 MB of FLAC (issue 8: 5.5 GB before it was refused).
        ("bomb.flac", ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=7.1", "-t", "1194", "-c:a", "flac"], "longer than"),
        # 25 minutes of AAC in 3 MB: over the duration limit, refused from its header.
        (
            "long.m4a",
            [
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=220:sample_rate=22050:duration=1500",
                "-ac",
                "1",
                "-c:a",
                "aac",
                "-b:a",
                "16k",
            ],
            "20 minutes",
        ),
    ],
)
def test_a_refused_decompression_bomb_keeps_the_session_small(tmp_path, name, ffmpeg_input, words):
    """Measured in a subprocess: the session's peak memory grows by less than 100 MB while it is refused.

    Decoding either file whole would take more (the FLAC: 1.8 GB, or 230 MB mixed to mono; the AAC:
    132 MB mono); an upload and a refusal cost a page run some tens of MB in AppTest, whatever the file.
    """
    import shutil
    import subprocess
    import sys

    path = tmp_path / name
    subprocess.run([shutil.which("ffmpeg"), "-v", "error", "-y", *ffmpeg_input, str(path)], check=True, timeout=300)
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, APP, name, str(path), str(SAMPLE / "vocal.wav")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    grown_mb, message = out.stdout.strip().split(" ", 1)
    assert words in message, message
    assert int(grown_mb) < 100, f"the session's peak memory grew by {grown_mb} MB refusing {name}"


def test_a_whole_song_over_the_dashboards_segment_limit_is_refused_with_the_setting(monkeypatch):
    """Issue #8: one session stays under 1.5 GB, so the dashboard analyses at most 50 s (VSEP_MAX_SEGMENT_S)."""
    from vsep_app import cache
    from vsep_app.state import Source
    from vsep_core.errors import VsepError
    from vsep_core.settings import Settings

    monkeypatch.delenv("VSEP_MAX_SEGMENT_S", raising=False)
    sr = 8000
    t = np.arange(100 * sr) / sr
    vocal = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    mixture = (vocal + 0.2 * np.sin(2 * np.pi * 97 * t)).astype(np.float32)

    def wav(y):
        buf = io.BytesIO()
        sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    source = Source.create(label="long", origin="upload", mixture=wav(mixture), other=wav(vocal))
    assert cache.pair(source, Settings(duration_s=45.0)).duration_s == pytest.approx(45.0, abs=0.01)
    with pytest.raises(VsepError, match="VSEP_MAX_SEGMENT_S"):
        cache.pair(source, Settings(duration_s=60.0))
    with pytest.raises(VsepError, match="VSEP_MAX_SEGMENT_S"):
        cache.pair(source, Settings(duration_s=None))
    monkeypatch.setenv("VSEP_MAX_SEGMENT_S", "200")  # the person running the server may allow more
    assert cache.pair(source, Settings(duration_s=None)).duration_s == pytest.approx(100.0, abs=0.01)


_WAVEFORM_PROBE = """
import resource, sys, time
from pathlib import Path
from streamlit.testing.v1 import AppTest
app, mixture, vocal = sys.argv[1:4]
at = AppTest.from_file(app, default_timeout=300)
at.run()
at.radio(key="load_mode").set_value("Upload files").run()
import threading
for thread in threading.enumerate():  # the background warm-up's imports are not the upload's memory
    if thread.name == "vsep-warmup":
        thread.join(300)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
at.file_uploader(key="upload_mixture").set_value(("mixture.flac", Path(mixture).read_bytes(), "audio/flac"))
at.file_uploader(key="upload_other").set_value(("vocal.flac", Path(vocal).read_bytes(), "audio/flac"))
at.run()
at.button(key="load_uploads").click().run(timeout=300)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
captions = [c.value for c in at.caption if c.value.startswith("Files: ")]
print(int((peak - base) / 1024), f"{time.perf_counter() - t0:.1f}", len(at.get("image")), "|".join(
    e.value for e in at.error) or "-", captions[0] if captions else "no waveform caption")
"""


def test_an_accepted_decompression_bomb_draws_its_waveform_from_the_segment_only(tmp_path):
    """Issue 17: two small FLACs of 19.9 min at 192 kHz with 8 channels, inside every limit, are loaded.

    The Load page drew their waveforms from the whole files (decoded: 1.8 G samples each, 917 MB each mixed
    to mono; the server went from 0.98 to 4.1 GB for one visitor). Now the waveforms come from the analysed
    segment the pair reads (4.7 s here), in the job pool: measured in a subprocess, the session's peak
    memory grows by less than 150 MB and the page shows the waveform of the files it loaded.
    """
    import shutil
    import subprocess
    import sys

    paths = {}
    for role, expr in (("mixture", "0.3*sin(2*PI*440*t)+0.3*sin(2*PI*220*t)"), ("vocal", "0.3*sin(2*PI*440*t)")):
        paths[role] = tmp_path / f"{role}.flac"
        # A tone for 2 s (the analysed segment must not be silent), then silence to 19.9 min; big FLAC blocks.
        subprocess.run(
            [
                shutil.which("ffmpeg"),
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"aevalsrc={'|'.join([expr] * 8)}:s=192000:d=2,apad=whole_dur=1194",
                "-c:a",
                "flac",
                "-compression_level",
                "0",
                "-frame_size",
                "32768",
                str(paths[role]),
            ],
            check=True,
            timeout=600,
        )
        assert paths[role].stat().st_size < 3_000_000  # 7 GB of 32-bit samples once decoded
    out = subprocess.run(
        [sys.executable, "-c", _WAVEFORM_PROBE, APP, str(paths["mixture"]), str(paths["vocal"])],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    grown_mb, seconds, images, errors, caption = out.stdout.strip().splitlines()[-1].split(" ", 4)
    assert errors == "-", errors
    assert images == "1" and "mixture 1194.00 s, 192000 Hz, 8 ch" in caption, caption
    assert int(grown_mb) < 150, f"the session's peak memory grew by {grown_mb} MB ({seconds} s) loading the bombs"


def test_the_alignment_fix_refuses_a_file_too_long_at_its_rate_before_decoding_it(monkeypatch):
    """The fix rewrites the whole target file: one that would be huge decoded is refused from its header."""
    from vsep_app import cache, sample
    from vsep_core.errors import VsepError
    from vsep_core.settings import Settings

    source = loading.sample_source(sample.default_pair())
    monkeypatch.setattr(loading, "MAX_ALIGN_SAMPLES", N - 1)  # the sample's vocal is N samples long

    def never(*args):
        raise AssertionError("decoded the whole file")

    monkeypatch.setattr(cache, "decoded_other", never)
    with pytest.raises(VsepError, match="too long at its sample rate"):
        loading.aligned_source(source, {"lag_samples": 10, "gain": 1.0}, Settings())
    monkeypatch.setattr(loading, "MAX_ALIGN_SAMPLES", N)
    with pytest.raises(AssertionError, match="decoded the whole file"):  # at the limit it goes on to decode
        loading.aligned_source(source, {"lag_samples": 10, "gain": 1.0}, Settings())
