"""Hostile input through the command line: one clear line, exit 2, no traceback, bounded memory.

Every case runs ``python -m vsep_core run`` in a fresh process and measures
that process's peak resident memory (children such as ffmpeg included: the
rusage of a waited-for child covers its own waited-for children), started
from a small launcher so that the test process's own size is not counted. Refused
input must stay under 300 MB; accepted input runs and stays under 1.5 GB.
The signals are short and ``--slices 1`` keeps each run to about a second.
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SR = 22050
REFUSED_MB = 300
ACCEPTED_MB = 1500
FORMATS = ("wav", "flac", "ogg", "mp3", "m4a", "aiff", "opus")


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    peak_mb: float


# A small parent for the measured process: a child's peak RSS counts the memory of the process it was
# forked from until it execs, so forking it from this (large) test process would count that too.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "proc = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "proc.returncode = os.waitstatus_to_exitcode(status)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(proc.returncode)\n"
)


def run_cli(args, cwd: Path, env_extra: dict | None = None, timeout: float = 120) -> CliResult:
    """Run the CLI in a new process; its exit code, output and peak RSS (children such as ffmpeg included)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    out_path, err_path, peak_path = cwd / ".stdout.txt", cwd / ".stderr.txt", cwd / ".peak_kb.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        run = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(peak_path), sys.executable, "-m", "vsep_core", *map(str, args)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            timeout=timeout,
        )
    # The rusage of a waited-for child covers its own waited-for children (ffmpeg, ffprobe).
    return CliResult(
        run.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        int(peak_path.read_text()) / 1024,
    )


def assert_refused(result: CliResult, pattern: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 2, (result.code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # "error: …" (or "<program> <command>: error: …", argparse's spelling)
    assert len(lines) == 1 and re.match(r"^([\w. -]+: )?error: ", lines[0]), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert result.peak_mb < REFUSED_MB, f"peak {result.peak_mb:.0f} MB"


# --- material ------------------------------------------------------------------------


def tone(seconds, sr=SR, freq=440.0, channels=1, amp=0.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.stack(
        [amp * np.sin(2 * np.pi * (freq + 55 * c) * t) + 0.01 * rng.standard_normal(len(t)) for c in range(channels)],
        axis=1,
    )
    return y.astype(np.float32)


def write(path: Path, y, sr=SR, subtype="PCM_16", fmt=None) -> Path:
    sf.write(path, y, sr, subtype=subtype, format=fmt)
    return path


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *map(str, args)], check=True)


def encode(folder: Path, stem: str, ext: str, seconds=3.0, sr=44100) -> Path:
    """A 3-second stereo song snippet in ``ext``."""
    path = folder / f"{stem}.{ext}"
    if ext in ("m4a", "opus"):
        wav = write(folder / f"{stem}_src.wav", tone(seconds, sr, channels=2), sr, subtype="FLOAT")
        ffmpeg("-i", wav, "-c:a", "aac" if ext == "m4a" else "libopus", path)
    else:
        fmt, subtype = {
            "wav": ("WAV", "PCM_16"),
            "flac": ("FLAC", "PCM_16"),
            "ogg": ("OGG", "VORBIS"),
            "mp3": ("MP3", "MPEG_LAYER_III"),
            "aiff": ("AIFF", "PCM_16"),
        }[ext]
        write(path, tone(seconds, sr, channels=2), sr, subtype=subtype, fmt=fmt)
    return path


def png_bytes() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([x % 256, 0, 0] * 8) for x in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def flac_claiming(path: Path, total_samples: int) -> Path:
    """Rewrite the total-samples field of a FLAC's STREAMINFO (a header that lies)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    packed = int.from_bytes(data[18:26], "big")  # sr(20) channels(3) bits(5) total(36)
    packed = (packed & ~((1 << 36) - 1)) | total_samples
    data[18:26] = packed.to_bytes(8, "big")
    out = path.with_name(f"lying_{total_samples}.flac")
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Every file the cases use, made once (about 5 s, most of it the two bombs)."""
    d = tmp_path_factory.mktemp("hostile")
    k = {"dir": d}
    voice = tone(3.0, freq=330.0, seed=1)
    k["vocal"] = write(d / "vocal.wav", voice)
    k["mixture"] = write(d / "mixture.wav", voice + tone(3.0, freq=110.0, seed=2))
    for ext in FORMATS:
        good = encode(d, f"song_{ext}", ext)
        data = good.read_bytes()
        garbled = bytearray(data)
        garbled[:64] = np.random.default_rng(len(data)).integers(0, 256, 64, dtype=np.uint8).tobytes()
        (d / f"corrupt.{ext}").write_bytes(bytes(garbled))
        (d / f"truncated.{ext}").write_bytes(data[: len(data) // 2])
    k["vocal44"] = write(d / "vocal44.wav", tone(3.0, 44100, freq=330.0), 44100)
    # Secrets a hostile playlist may name: audio the server holds, and a text file.
    secret = write(d / "secret.wav", tone(6.0, 44100, freq=1234.0), 44100)
    ffmpeg("-i", secret, d / "secret.mp3")
    ffmpeg("-i", secret, "-c:a", "aac", d / "secret.aac")
    ffmpeg("-i", secret, "-c:a", "aac", "-f", "mpegts", d / "secret.ts")
    (d / "passwords.txt").write_text("root:hunter2\n")
    # The two bombs, made quickly: 10 s of AAC looped by stream copy to 100 min; 8-channel FLAC silence.
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:sample_rate=44100:duration=10",
        "-ac",
        "2",
        "-c:a",
        "aac",
        "-b:a",
        "32k",
        d / "short.m4a",
    )
    ffmpeg("-stream_loop", "599", "-i", d / "short.m4a", "-c", "copy", d / "long.m4a")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=7.1",
        "-t",
        "1194",
        "-c:a",
        "flac",
        "-compression_level",
        "0",
        d / "bomb.flac",
    )
    return k


def hls(kit, name: str, target: str) -> Path:
    path = kit["dir"] / name
    path.write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:6.0,\n{target}\n#EXT-X-ENDLIST\n"
    )
    return path


def wav_header(sr, channels, bits, data_bytes) -> bytes:
    block = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sr,
        sr * block,
        block,
        bits,
        b"data",
        data_bytes,
    )


# --- the cases: (id, build(kit) -> (arguments, environment), what the one line must say) ---------

NOT_AUDIO = r"not audio"


def pair(mixture, vocal=None, *extra, instrumental=None):
    args = ["--mixture", mixture]
    args += ["--instrumental", instrumental] if instrumental is not None else ["--vocal", vocal]
    return args + list(extra)


def _file(kit, name, data) -> Path:
    path = kit["dir"] / name
    path.write_bytes(data)
    return path


def _float_wav(kit, name, y, sr=SR) -> Path:
    return write(kit["dir"] / name, y, sr, subtype="FLOAT")


CASES = []
for _ext in FORMATS:
    CASES.append(
        (
            f"corrupt_{_ext}",
            lambda k, e=_ext: pair(k["dir"] / f"corrupt.{e}", k["vocal44"]),
            r"not audio|damaged|longer than|no audio samples",
        )
    )
    CASES.append(
        (
            f"truncated_{_ext}",
            lambda k, e=_ext: pair(k["dir"] / f"truncated.{e}", k["vocal44"]),
            r"damaged|truncated|longer than|not audio|no audio samples",
        )
    )

CASES += [
    ("empty_file", lambda k: pair(_file(k, "empty.wav", b""), k["vocal"]), r"empty \(0 bytes\)"),
    (
        "zero_samples",
        lambda k: pair(_file(k, "zero.wav", wav_header(SR, 1, 16, 0)), k["vocal"]),
        r"holds no audio samples",
    ),
    (
        "one_sample",
        lambda k: pair(
            _float_wav(k, "one_m.wav", np.array([0.5], np.float32)),
            _float_wav(k, "one_v.wav", np.array([0.25], np.float32)),
        ),
        r"1 samples .* at least one frame",
    ),
    (
        "short_signal",
        lambda k: pair(
            write(k["dir"] / "short_m.wav", tone(0.05, freq=200)), write(k["dir"] / "short_v.wav", tone(0.05))
        ),
        r"at least one frame",
    ),
    (
        "nan_samples",
        lambda k: pair(
            _float_wav(k, "nan.wav", np.where(np.arange(3 * SR) == 5000, np.nan, tone(3.0)[:, 0]).astype(np.float32)),
            k["vocal"],
        ),
        r"NaN or infinite",
    ),
    (
        "inf_samples",
        lambda k: pair(
            k["mixture"],
            _float_wav(k, "inf.wav", np.where(np.arange(3 * SR) == 100, np.inf, tone(3.0)[:, 0]).astype(np.float32)),
        ),
        r"NaN or infinite",
    ),
    (
        "nine_channels",
        lambda k: pair(write(k["dir"] / "nine.wav", tone(3.0, channels=9)), k["vocal"]),
        r"9 audio channels; the limit is 8",
    ),
    (
        "rate_7999_hz",
        lambda k: pair(write(k["dir"] / "slow.wav", tone(3.0, 7999), 7999), k["vocal"]),
        r"7,999 Hz; accepted rates are 8,000 to 192,000 Hz",
    ),
    (
        "rate_200_khz",
        lambda k: pair(write(k["dir"] / "fast.wav", tone(3.0, 200_000), 200_000), k["vocal"]),
        r"200,000 Hz; accepted rates",
    ),
    (
        "header_says_100_min_wav",
        lambda k: pair(_file(k, "liar.wav", wav_header(44100, 1, 16, 6000 * 88200) + b"\x00\x01" * 44100), k["vocal"]),
        r"damaged \(truncated\).*promises 6000.00 s",
    ),
    (
        "header_says_100_min_flac",
        lambda k: pair(flac_claiming(k["dir"] / "song_flac.flac", 6000 * 44100), k["vocal44"]),
        r"100.0 minutes; the limit is 20 minutes",
    ),
    (
        "header_says_half_second_flac",
        lambda k: pair(flac_claiming(k["dir"] / "song_flac.flac", 22050), k["vocal44"]),
        r"longer than the mixture",
    ),
    ("zip_as_wav", lambda k: pair(_file(k, "archive.wav", _zip()), k["vocal"]), NOT_AUDIO),
    ("png_as_mp3", lambda k: pair(_file(k, "picture.mp3", png_bytes()), k["vocal"]), NOT_AUDIO),
    ("text_as_flac", lambda k: pair(_file(k, "notes.flac", b"just some words\n" * 200), k["vocal"]), NOT_AUDIO),
    (
        "shell_and_unicode_name",
        lambda k: pair(_file(k, "$(touch PWNED); rm -rf x 'ü' \"🎵\" `id`.wav", b"RIFF....garbage" * 50), k["vocal"]),
        NOT_AUDIO,
    ),
    (
        "unicode_name_same_file_twice",
        lambda k: pair(_copy(k["mixture"], k["dir"] / "Ünïcødé — 歌 🎤.wav"), k["dir"] / "Ünïcødé — 歌 🎤.wav"),
        r"nothing to separate",
    ),
    ("missing_unicode_name", lambda k: pair(k["dir"] / "nowhere — 無.wav", k["vocal"]), r"does not exist"),
    ("hls_names_local_mp3", lambda k: pair(hls(k, "hls_mp3.m4a", k["dir"] / "secret.mp3"), k["vocal44"]), NOT_AUDIO),
    ("hls_names_local_aac", lambda k: pair(hls(k, "hls_aac.m4a", k["dir"] / "secret.aac"), k["vocal44"]), NOT_AUDIO),
    ("hls_names_local_ts", lambda k: pair(hls(k, "hls_ts.m4a", k["dir"] / "secret.ts"), k["vocal44"]), NOT_AUDIO),
    ("hls_file_url", lambda k: pair(hls(k, "hls_url.m4a", f"file:{k['dir'] / 'secret.mp3'}"), k["vocal44"]), NOT_AUDIO),
    ("hls_http_url", lambda k: pair(hls(k, "hls_http.m4a", "http://10.255.255.1/secret.mp3"), k["vocal44"]), NOT_AUDIO),
    ("hls_names_text_file", lambda k: pair(hls(k, "hls_txt.mp3", k["dir"] / "passwords.txt"), k["vocal44"]), NOT_AUDIO),
    (
        "m3u_playlist",
        lambda k: pair(
            _file(k, "list.m4a", f"#EXTM3U\n#EXTINF:6,x\n{k['dir'] / 'secret.mp3'}\n".encode()), k["vocal44"]
        ),
        NOT_AUDIO,
    ),
    (
        "ffconcat_list",
        lambda k: pair(
            _file(k, "concat.m4a", f"ffconcat version 1.0\nfile '{k['dir'] / 'secret.mp3'}'\n".encode()), k["vocal44"]
        ),
        NOT_AUDIO,
    ),
    (
        "ffconcat_file_url",
        lambda k: pair(
            _file(k, "concat2.ogg", f"ffconcat version 1.0\nfile 'file:{k['dir']}/secret.mp3'\n".encode()), k["vocal44"]
        ),
        NOT_AUDIO,
    ),
    (
        "sdp_session",
        lambda k: pair(
            _file(
                k,
                "stream.m4a",
                b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
            ),
            k["vocal44"],
        ),
        NOT_AUDIO,
    ),
    (
        "concat_protocol_in_name",
        lambda k: pair(
            _copy(hls(k, "h.m4a", k["dir"] / "secret.mp3"), k["dir"] / "concat:secret.mp3|x.m4a"), k["vocal44"]
        ),
        NOT_AUDIO,
    ),
    (
        "bomb_100_min_aac",
        lambda k: pair(k["dir"] / "long.m4a", k["vocal44"]),
        r"100.1 minutes; the limit is 20 minutes",
    ),
    ("bomb_8ch_flac_segment", lambda k: pair(k["dir"] / "bomb.flac", k["dir"] / "bomb.flac"), r"silent"),
    (
        "bomb_8ch_flac_full_length",
        lambda k: pair(k["dir"] / "bomb.flac", k["dir"] / "bomb.flac", "--duration", "all"),
        r"19.9 minutes .* the limit is 6 minutes at the default hop 1040 \(VSEP_MAX_SEGMENT_S\)",
    ),
    (
        "truncated_wav_vocal",
        lambda k: pair(k["mixture"], _file(k, "cut.wav", k["vocal"].read_bytes()[:30_000])),
        r"vocal file is damaged \(truncated\)",
    ),
    ("mixture_identical_to_vocal", lambda k: pair(k["mixture"], k["mixture"]), r"nothing to separate"),
    (
        "instrumental_identical_to_mixture",
        lambda k: pair(k["mixture"], instrumental=k["mixture"]),
        r"instrumental is the mixture itself",
    ),
    ("silent_vocal", lambda k: pair(k["mixture"], write(k["dir"] / "quiet.wav", np.zeros(3 * SR))), r"vocal is silent"),
    (
        "silent_mixture",
        lambda k: pair(write(k["dir"] / "quiet_m.wav", np.zeros(3 * SR)), k["vocal"]),
        r"mixture is silent",
    ),
    ("folder_as_mixture", lambda k: pair(k["dir"], k["vocal"]), r"is a folder"),
    ("device_as_mixture", lambda k: pair("/dev/zero", k["vocal"]), r"not a regular file"),
    (
        "lengths_differ",
        lambda k: pair(k["mixture"], write(k["dir"] / "long_v.wav", tone(4.0))),
        r"vocal \(4.000 s\) is longer than the mixture \(3.000 s\)",
    ),
    (
        "whole_song_over_memory_budget",
        lambda k: pair(
            write(k["dir"] / "m8.wav", tone(480, 8000, freq=200), 8000, subtype="PCM_U8"),
            write(k["dir"] / "v8.wav", tone(480, 8000), 8000, subtype="PCM_U8"),
            "--duration",
            "all",
        ),
        r"8.0 minutes .*VSEP_MAX_SEGMENT_S",
    ),
    (
        "duration_limit_from_environment",
        lambda k: (pair(k["mixture"], k["vocal"]), {"VSEP_MAX_DURATION_S": "2"}),
        r"lasts 3.0 s; the limit is 2 s \(VSEP_MAX_DURATION_S\)",
    ),
    (
        "bad_limit_in_environment",
        lambda k: (pair(k["mixture"], k["vocal"]), {"VSEP_MAX_SEGMENT_S": "-5"}),
        r"VSEP_MAX_SEGMENT_S must be a positive number",
    ),
]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("song.wav", b"RIFF" + b"\x00" * 5000)
    return buf.getvalue()


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_there_are_at_least_forty_hostile_cases():
    assert len(CASES) >= 40 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,build,pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_in_one_line(kit, tmp_path, name, build, pattern):
    built = build(kit)
    args, env = built if isinstance(built, tuple) else (built, {})
    out = tmp_path / "results"
    result = run_cli(["run", *args, "--out", out, "--slices", "1"], cwd=tmp_path, env_extra=env)
    assert_refused(result, pattern)
    assert not out.exists()  # nothing written, so nothing a playlist named can come back
    assert not (tmp_path / "PWNED").exists() and not (kit["dir"] / "PWNED").exists()


def test_the_playlists_would_be_read_by_an_unrestricted_ffmpeg(kit, tmp_path):
    """The HLS case is a real threat: plain ffmpeg follows the playlist to the local file."""
    playlist = hls(kit, "hls_check.m4a", kit["dir"] / "secret.mp3")
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(playlist), "-f", "f32le", "-"], capture_output=True)
    assert run.returncode == 0 and len(run.stdout) > 44100 * 4 * 5


@pytest.mark.parametrize(
    "name,make",
    [
        (
            "8_channels_192_khz_wav",
            lambda d: [
                write(
                    d / "m.wav",
                    tone(2.5, 192_000, channels=8) * 0.5 + tone(2.5, 192_000, freq=97, channels=8) * 0.5,
                    192_000,
                ),
                write(d / "v.wav", tone(2.5, 192_000, channels=8) * 0.5, 192_000),
            ],
        ),
        (
            "1_channel_8_khz_flac",
            lambda d: [
                write(d / "m.flac", tone(2.5, 8000) + tone(2.5, 8000, freq=97), 8000),
                write(d / "v.flac", tone(2.5, 8000), 8000),
            ],
        ),
        ("stereo_m4a_through_ffmpeg", lambda d: [encode(d, "m", "m4a", 2.5), encode(d, "v", "opus", 2.5)]),
    ],
)
def test_accepted_extremes_just_run(tmp_path, name, make):
    mixture, vocal = make(tmp_path)
    if name.startswith("stereo"):  # a real pair: the mixture is the vocal plus something
        mixed = tmp_path / "mixed.m4a"
        ffmpeg("-i", mixture, "-i", vocal, "-filter_complex", "amix=inputs=2", "-c:a", "aac", mixed)
        mixture = mixed
    out = tmp_path / "results"
    result = run_cli(
        ["run", "--mixture", mixture, "--vocal", vocal, "--out", out, "--slices", "1", "--duration", "2"], cwd=tmp_path
    )
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    assert (out / "summary.json").exists()
    assert result.peak_mb < ACCEPTED_MB, f"peak {result.peak_mb:.0f} MB"


def test_a_long_ogg_report_clip_does_not_crash_the_process(tmp_path):
    """A 150 s report clip (one long Ogg Vorbis write used to segfault in libvorbis) comes back whole."""
    script = (
        "import base64, io, re, numpy as np, soundfile as sf\n"
        "from vsep_core.report import _audio_tag\n"
        "sr = 22050\n"
        "y = (0.3 * np.sin(2 * np.pi * 220 * np.arange(150 * sr) / sr)).astype(np.float32)\n"
        "data = base64.b64decode(re.search(r'base64,([^\"]+)', _audio_tag(y, sr)).group(1))\n"
        "back, back_sr = sf.read(io.BytesIO(data), dtype='float32')\n"
        "print(len(back), back_sr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert run.returncode == 0, (run.returncode, run.stderr)
    decoded, rate = map(int, run.stdout.split())
    # The report's players are MP3: the decoder returns the encoder's padding too (under two 1152-sample frames).
    assert rate == 22050 and 150 * 22050 <= decoded < 150 * 22050 + 2 * 1152


@pytest.mark.parametrize(
    "name",
    ["hls_names_local_mp3", "bomb_100_min_aac", "truncated_wav_vocal", "mixture_identical_to_vocal", "nine_channels"],
)
def test_evaluate_refuses_the_same_input_in_one_line(kit, tmp_path, name):
    """``evaluate`` prepares pairs through the same code: the same refusals, in one line."""
    build, pattern = next((b, p) for n, b, p in CASES if n == name)
    result = run_cli(["evaluate", *build(kit), "--methods", "mixture"], cwd=tmp_path)
    assert_refused(result, pattern)
