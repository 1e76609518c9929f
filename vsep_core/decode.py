"""Reading what the user gave: probing a file's header and decoding only the analysed segment.

Every file is probed first (:func:`probe`: duration, channels, rate from the
header) and refused before decoding when it is over a limit; then only the
analysed segment is decoded, in blocks (:func:`decode`). ffmpeg, for what
libsndfile cannot read, opens only the one file it is given (protocol and
demuxer whitelists); MP3 is decoded by libsndfile in a child process
(``_mpeg_child``), so libmpg123's notes never reach this process's stderr.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import VsepError
from .limits import (  # the input limits live in vsep_core.limits (applied here)
    MAX_CHANNELS,
    MAX_DURATION_S,
    MAX_SAMPLE_ABS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
)
from .validation import SILENCE_PEAK, _refuse_absurd

#: A file with several audio streams (a Matroska or MP4 with a silent or commentary track first): the
#: first stream whose first this-many seconds are not silent is used, and named in what is shown.
STREAM_SCAN_S = 30.0

#: libsndfile's frame count for "unknown" (SF_COUNT_MAX, 2**63 - 1), from anything at or above this.
_UNKNOWN_FRAMES = 1 << 62

#: Frames decoded at a time: memory per block stays a few MB whatever the file.
_BLOCK_FRAMES = 1 << 16

#: Container demuxers ffmpeg may use: audio files only. No playlists (hls), lists (concat),
#: images, devices, network or "lavfi" sources, which would read things the user did not give.
FFMPEG_FORMATS = (
    "wav,w64,flac,ogg,mp3,mov,aac,matroska,webm,aiff,caf,asf,au,ac3,eac3,wv,ape,amr,tta,mpc,mpc8,dts,tak,loas,xwma,dsf"
)

#: libsndfile formats whose seek is sample-exact; others (Ogg, MP3) are decoded from the start.
_EXACT_SEEK = {"WAV", "WAVEX", "W64", "RF64", "AIFF", "AU", "CAF", "FLAC", "RAW", "NIST", "IRCAM", "VOC", "WVE"}


def duration_limit_s(value: float | None = None) -> float:
    """The duration limit in seconds: ``value``, else ``$VSEP_MAX_DURATION_S``, else :data:`MAX_DURATION_S`."""
    return _limit(value, "VSEP_MAX_DURATION_S", MAX_DURATION_S)


def _limit(value, env: str, default: float) -> float:
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            raise VsepError(f"{env}={raw!r} is not a number of seconds.") from None
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise VsepError(f"The limit {env} must be a positive number of seconds; got {value!r}.")
    return value


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read before decoding.

    Attributes
    ----------
    duration_s : float
        ``nan`` when the container does not say (then decoding counts).
    sr, channels : int
    frames : int
        Samples per channel the header promises (−1 when unknown).
    container, codec : str
        E.g. ``"WAV"`` / ``"PCM_16"`` (libsndfile) or ``"mov"`` / ``"aac"`` (ffmpeg).
    decoder : {"libsndfile", "ffmpeg"}
    stream, n_streams : int
        Which audio stream is read (0-based) of how many the file holds
        (ffmpeg: the first with signal, see :data:`STREAM_SCAN_S`).
    skipped : tuple of int
        Audio streams before it that were found silent.
    """

    duration_s: float
    sr: int
    channels: int
    frames: int
    container: str
    codec: str
    decoder: str
    stream: int = 0
    n_streams: int = 1
    skipped: tuple = ()

    def stream_label(self) -> str:
        """Which stream was used, in words ("" for a file with one audio stream)."""
        if self.n_streams <= 1:
            return ""
        silent = (
            f"; {'stream' if len(self.skipped) == 1 else 'streams'} "
            f"{', '.join(str(k + 1) for k in self.skipped)} silent"
            if self.skipped
            else ""
        )
        return (
            f"audio stream {self.stream + 1} of {self.n_streams} ({self.codec}, {self.sr} Hz, "
            f"{self.channels} ch{silent})"
        )


@dataclass(frozen=True)
class Decoded:
    """A decoded file (or a part of it) at its own sample rate.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, n), dtype=float32]
        ``channels`` is 1 when decoded with ``mono=True``.
    sr : int
    name : str
        What the file is to the user ("mixture", "vocal", "song.mp3" ...), for messages.
    source_duration_s : float or None
        The whole file's duration when only a part was decoded.
    start_s : float
        Where ``samples`` start in the file.
    """

    samples: np.ndarray
    sr: int
    name: str = "audio"
    source_duration_s: float | None = None
    start_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sr

    @property
    def channels(self) -> int:
        return self.samples.shape[0]


@dataclass(frozen=True)
class _Input:
    """A file to decode: a path on disk (read in place) or bytes in memory."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def open_soundfile(self):
        return sf.SoundFile(str(self.path) if self.path is not None else io.BytesIO(self.data))

    def head(self, n: int = 1 << 16) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as f:
            return f.read(n)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size


def _input(source, name: str | None) -> _Input:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        if str(source) == "":
            raise VsepError(f"No {name or 'audio'} file was given (an empty path).")
        if not path.exists():
            raise VsepError(f"The {name} file {str(path)!r} does not exist.")
        if path.is_dir():
            raise VsepError(f"{str(path)!r} is a folder, not an audio file.")
        if not path.is_file():  # a device, a pipe or a socket would be read without end
            raise VsepError(f"{str(path)!r} is not a regular file (a device or a pipe?); give an audio file.")
        try:
            size = path.stat().st_size
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise VsepError(f"The {name} file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
        if size == 0:
            raise VsepError(f"The {name} file is empty (0 bytes).")
        return _Input(name=name, path=path)
    name = name or "audio"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise VsepError(f"The {name} file object gave {type(data).__name__}, not bytes.")
        data = bytes(data)
    else:
        raise VsepError(f"Cannot read the {name}: expected a path, bytes or a file, got {type(source).__name__}.")
    if len(data) == 0:
        raise VsepError(f"The {name} file is empty (0 bytes).")
    return _Input(name=name, data=data)


def probe(source, name: str | None = None, *, max_duration_s: float | None = None) -> AudioInfo:
    """Read a file's header and check it against the limits, without decoding.

    libsndfile reads the header of WAV, FLAC, OGG, MP3, AIFF ...; ffprobe
    (with the same whitelists as the decoder) the header of everything else.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
    name : str, optional
        How to call the file in messages (default: its file name).
    max_duration_s : float, optional
        The duration limit (default :func:`duration_limit_s`).

    Returns
    -------
    AudioInfo

    Raises
    ------
    VsepError
        When the file is missing, empty, not audio, damaged (a WAV or AIFF
        whose header promises more than it holds), longer than the limit,
        or has more than :data:`MAX_CHANNELS` channels or a sample rate
        outside :data:`MIN_SAMPLE_RATE` … :data:`MAX_SAMPLE_RATE`.
    """
    return _probe(_input(source, name), max_duration_s)


def _probe(src: _Input, max_duration: float | None) -> AudioInfo:
    limit = duration_limit_s(max_duration)
    info = _probe_soundfile(src)
    if info is None:
        info = _probe_ffmpeg(src)
    _check_limits(info, src.name, limit)
    _check_truncated(src, info)
    if info.frames == 0:
        raise VsepError(
            f"The {src.name} file holds no audio samples{' (it is damaged or cut short)' if src.size > 4096 else ''}."
        )
    return info


#: libsndfile's names of MPEG audio (MP3): decoded in a child process (:mod:`vsep_core._mpeg_child`).
_MPEG_FORMATS = ("MP3", "MPEG")


#: First bytes of formats libsndfile opens without libmpg123 (WAV, RF64, W64, AIFF, AU, FLAC, Ogg, CAF, NIST,
#: VOC, WavPack ...). Anything else may be opened as MPEG (libsndfile also tries MPEG for an unknown file called
#: ``.mp3``), so it is probed in a child.
_PLAIN_MAGIC = (
    b"RIFF",
    b"RIFX",
    b"RF64",
    b"BW64",
    b"riff",
    b"FORM",
    b"fLaC",
    b"OggS",
    b".snd",
    b"dns.",
    b"caff",
    b"NIST",
    b"Crea",
    b"wvpk",
)


def _may_be_mpeg(head: bytes) -> bool:
    """Whether libsndfile might hand the file to libmpg123 (which prints on fd 2)."""
    return head[:4] not in _PLAIN_MAGIC


def _probe_soundfile(src: _Input) -> AudioInfo | None:
    if _may_be_mpeg(src.head(4)):
        info = _probe_mpeg_child(src)
        if info is None or info.container in _MPEG_FORMATS:
            return info
        # Another format (a FLAC behind an ID3 tag, a headerless format): libmpg123 is not involved.
    try:
        with src.open_soundfile() as f:
            sr, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            container, codec = f.format, f.subtype
    except Exception:  # noqa: BLE001 - libsndfile says only "format not recognised" etc.; ffmpeg may know it
        return None
    if frames >= _UNKNOWN_FRAMES:
        # A streamed FLAC (STREAMINFO's total samples 0, legal): libsndfile says "2**63 - 1 frames" and then
        # cannot read it in blocks (its position update seeks, which needs the length). ffmpeg reads it, and
        # the samples are counted as they come, so the duration limit still holds.
        return None
    duration = frames / sr if sr > 0 and frames >= 0 else float("nan")
    return AudioInfo(
        duration_s=duration,
        sr=sr,
        channels=channels,
        frames=frames,
        container=container,
        codec=codec,
        decoder="libsndfile",
    )


def _check_limits(info: AudioInfo, name: str, limit: float) -> None:
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise VsepError(
            f"The {name} file has {info.channels} audio channels; the limit is {MAX_CHANNELS} "
            "(7.1 surround). Mix it down to stereo or mono first."
        )
    if not MIN_SAMPLE_RATE <= info.sr <= MAX_SAMPLE_RATE:
        raise VsepError(
            f"The {name} file's sample rate is {info.sr:,} Hz; accepted rates are "
            f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz."
        )
    if info.duration_s > limit:
        _refuse_length(info.duration_s, name, limit)


def _refuse_length(duration_s: float, name: str, limit: float, *, at_least: bool = False):
    raise VsepError(
        f"The {name} file lasts {'more than ' if at_least else ''}"
        f"{f'{duration_s / 60:.1f} minutes' if duration_s >= 60 else f'{duration_s:.1f} s'}; the limit is "
        f"{_minutes(limit)} (VSEP_MAX_DURATION_S). Cut it to the part you want to analyse."
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} s"


def _check_truncated(src: _Input, info: AudioInfo) -> None:
    """Refuse a WAV or AIFF whose data chunk promises more bytes than the file holds.

    libsndfile quietly reads what is there, so a cut-off download would
    otherwise show up later as a pair of different lengths.
    """
    if info.container not in ("WAV", "WAVEX", "AIFF"):
        return
    head = src.head()
    found = _riff_data_chunk(head) if head[:4] == b"RIFF" else _aiff_data_chunk(head)
    if found is None:
        return
    offset, declared = found
    available = src.size - offset
    if declared in (0, 0xFFFFFFFF) or declared <= available:  # 0 and 0xFFFFFFFF: "size unknown" (streamed)
        return
    bytes_per_second = max(info.sr * info.channels * _bytes_per_sample(info.codec), 1)
    raise VsepError(
        f"The {src.name} file is damaged (truncated): its header promises {declared / bytes_per_second:.2f} s "
        f"of audio but the file holds only {max(available, 0) / bytes_per_second:.2f} s. "
        "Was the download or copy interrupted?"
    )


def _bytes_per_sample(subtype: str) -> int:
    for bits, size in (("8", 1), ("16", 2), ("24", 3), ("32", 4), ("64", 8)):
        if subtype.endswith("_" + bits):
            return size
    return {"FLOAT": 4, "DOUBLE": 8, "ULAW": 1, "ALAW": 1}.get(subtype, 2)


def _riff_data_chunk(head: bytes):
    """(offset of the samples, declared size) of a RIFF WAVE's data chunk in its first bytes."""
    if head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            return pos + 8, size
        pos += 8 + size + (size & 1)
    return None


def _aiff_data_chunk(head: bytes):
    """(offset of the samples, declared size) of an AIFF's SSND chunk in its first bytes."""
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack(">I", head[pos + 4 : pos + 8])[0]
        if chunk == b"SSND":
            offset = struct.unpack(">I", head[pos + 8 : pos + 12])[0] if pos + 12 <= len(head) else 0
            return pos + 16 + offset, max(size - 8 - offset, 0)
        pos += 8 + size + (size & 1)
    return None


def decode(
    source,
    *,
    name: str | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    mono: bool = False,
    max_duration_s: float | None = None,
) -> Decoded:
    """Decode an audio file or buffer (or a part of it) at its own sample rate.

    The header is probed first (:func:`probe`) and what is over the limits is
    refused before any decoding. Then only the frames asked for are decoded,
    in blocks: libsndfile seeks (WAV, FLAC, AIFF ...) or reads from the start
    (Ogg, MP3, whose seeks are not sample-exact); ffmpeg streams raw samples
    through a pipe and is stopped once enough are read. Samples are counted
    as they come, so a header that understates the length cannot defeat the
    limit. The samples are the same, bit for bit, as decoding the whole file
    and cutting ``[int(start_s·sr), int(start_s·sr) + int(duration_s·sr))``.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
    name : str, optional
        How to call the file in error messages (default: its file name).
    start_s, duration_s : float
        The part to decode (default: the whole file).
    mono : bool
        Average the channels block by block (``librosa.to_mono``), so a
        many-channel file never sits in memory with all its channels.
    max_duration_s : float, optional
        The duration limit (default :func:`duration_limit_s`).

    Returns
    -------
    Decoded

    Raises
    ------
    VsepError
        When the file is missing, empty, not audio, damaged, over a limit
        (see :func:`probe`), holds NaN or infinite samples in the decoded
        part, or when ``start_s`` is at or after its end.
    """
    src = _input(source, name)
    info = _probe(src, max_duration_s)
    return _decode(src, info, start_s=start_s, duration_s=duration_s, mono=mono, limit=duration_limit_s(max_duration_s))


def _decode(
    src: _Input, info: AudioInfo, *, start_s: float, duration_s: float | None, mono: bool, limit: float
) -> Decoded:
    if not (np.isfinite(start_s) and start_s >= 0):
        raise VsepError(f"A segment must start at 0 s or later; got {start_s!r}.")
    if duration_s is not None and not (np.isfinite(duration_s) and duration_s > 0):
        raise VsepError(f"A segment must last more than 0 s; got {duration_s!r}.")
    start = int(start_s * info.sr)
    count = None if duration_s is None else int(duration_s * info.sr)
    if info.frames >= 0 and start >= max(info.frames, 1) and info.decoder == "libsndfile":
        _refuse_start(src.name, info.frames / info.sr, start_s)
    collector = _Collector(src.name, info.sr, start, count, mono, max_frames=int(limit * info.sr))
    if info.decoder == "libsndfile":
        _read_soundfile(src, info, collector)
    else:
        _read_ffmpeg(src, info, collector)
    samples = collector.result()
    if (
        info.decoder == "libsndfile"
        and collector.reached_end
        and info.frames > 0
        and collector.total < info.frames - max(4096, info.frames // 50)
    ):
        raise VsepError(
            f"The {src.name} file is damaged (truncated): its header promises {info.frames / info.sr:.2f} s "
            f"of audio but only {collector.total / info.sr:.2f} s could be decoded. "
            "Was the download or copy interrupted?"
        )
    if collector.total == 0:
        raise VsepError(f"The {src.name} file holds no audio samples.")
    if samples.shape[1] == 0:
        _refuse_start(src.name, collector.total / info.sr, start_s)
    whole = collector.total / info.sr if collector.reached_end else info.duration_s
    return Decoded(
        samples=samples,
        sr=int(info.sr),
        name=src.name,
        source_duration_s=None if (start == 0 and count is None) else whole,
        start_s=float(start_s),
    )


def _refuse_start(name: str, duration_s: float, start_s: float):
    raise VsepError(f"The {name} lasts {duration_s:.2f} s; a segment cannot start at {start_s:.2f} s.")


class _Collector:
    """Keeps the frames ``[start, start + count)`` of a stream of blocks; counts them all."""

    def __init__(self, name, sr, start, count, mono, max_frames):
        self.name, self.sr, self.start, self.count, self.mono = name, sr, start, count, mono
        self.stop = None if count is None else start + count
        self.max_frames = max_frames
        self.total = 0  # frames seen so far (from the file's start)
        self.reached_end = False
        self.blocks: list[np.ndarray] = []
        self.channels = None

    @property
    def done(self) -> bool:
        return self.stop is not None and self.total >= self.stop

    def skip_to(self, frame: int) -> None:
        """Frames before ``frame`` were not read (a seek); count them as seen."""
        self.total = frame

    def add(self, block: np.ndarray) -> None:
        """``block``: [shape=(channels, m), float32, C order], the next frames of the file."""
        first, n = self.total, block.shape[1]
        self.total += n
        if self.total > self.max_frames:
            _refuse_length(self.total / self.sr, self.name, self.max_frames / self.sr, at_least=True)
        lo = max(self.start - first, 0)
        hi = n if self.stop is None else min(self.stop - first, n)
        if hi <= lo:
            return
        part = block[:, lo:hi] if (lo, hi) != (0, n) else block
        peak = float(np.max(np.abs(part))) if part.size else 0.0
        if not np.isfinite(peak):
            raise VsepError(f"The {self.name} file holds NaN or infinite samples; it cannot be analysed.")
        if peak > MAX_SAMPLE_ABS:
            _refuse_absurd(self.name + " file", peak)
        self.channels = part.shape[0]
        # The same reduction as to_mono on the whole (channels, n) array, so the same bits.
        self.blocks.append(
            np.mean(np.ascontiguousarray(part), axis=0)[None, :] if self.mono else np.ascontiguousarray(part)
        )

    def result(self) -> np.ndarray:
        if not self.blocks:
            return np.zeros((1 if self.mono or self.channels is None else self.channels, 0), dtype=np.float32)
        out = self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks, axis=1)
        self.blocks = []
        return np.ascontiguousarray(out, dtype=np.float32)


def _read_soundfile(src: _Input, info: AudioInfo, collector: _Collector) -> None:
    if info.container in _MPEG_FORMATS or info.codec.startswith("MPEG"):  # MP3, or MPEG audio in a WAV
        _read_mpeg_child(src, info, collector)
        return
    try:
        with src.open_soundfile() as f:
            if collector.start > 0 and f.seekable() and f.format in _EXACT_SEEK:
                f.seek(collector.start)
                collector.skip_to(collector.start)
            while not collector.done:
                want = _BLOCK_FRAMES if collector.stop is None else min(_BLOCK_FRAMES, collector.stop - collector.total)
                block = f.read(want, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    collector.reached_end = True
                    break
                collector.add(np.ascontiguousarray(block.T))
                if block.shape[0] < want:
                    collector.reached_end = True
                    break
    except VsepError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile's errors (a damaged frame, a read error) end here, as one message
        raise VsepError(
            f"The {src.name} file is damaged: decoding stopped at {collector.total / info.sr:.2f} s ({_short(exc)})."
        ) from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def _ffmpeg_tools() -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return ffmpeg, ffprobe


class _PrivateCopy:
    """The input as the one file ffmpeg may open: ``input`` in a fresh private folder (mode 0700).

    Bytes are written there; a path on disk is linked there (not copied). The
    folder is removed on exit, also after an error.
    """

    def __init__(self, src: _Input):
        self.src = src

    def __enter__(self) -> str:
        self.folder = tempfile.mkdtemp(prefix="vsep-")  # created 0700, readable by this user only
        target = os.path.join(self.folder, "input")
        try:
            if self.src.path is not None:
                os.symlink(os.path.abspath(self.src.path), target)
            else:
                with open(target, "wb") as f:
                    f.write(self.src.data)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        return target

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _whitelists() -> list[str]:
    """ffmpeg options: open only local files, and only with audio container demuxers."""
    return ["-protocol_whitelist", "file", "-format_whitelist", FFMPEG_FORMATS]


def _not_audio(name: str) -> VsepError:
    return VsepError(
        f"The {name} file is not audio this machine can decode (tried libsndfile and ffmpeg). "
        "Use WAV, FLAC, OGG, MP3 or M4A."
    )


def _probe_ffmpeg(src: _Input) -> AudioInfo:
    import json

    ffmpeg, ffprobe = _ffmpeg_tools()
    if not ffmpeg or not ffprobe:
        raise VsepError(
            f"The {src.name} file is not WAV/FLAC/OGG/MP3, and ffmpeg is not installed to decode other formats."
        )
    with _PrivateCopy(src) as path:
        try:
            run = subprocess.run(
                [
                    ffprobe,
                    "-v",
                    "error",
                    *_whitelists(),
                    "-select_streams",
                    "a",
                    "-show_entries",
                    "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
                    "-of",
                    "json",
                    "file:" + path,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            raise _not_audio(src.name) from None
    try:
        found = json.loads(run.stdout or "{}")
    except ValueError:
        found = {}
    streams = found.get("streams") or []
    if run.returncode != 0 or not streams:
        raise _not_audio(src.name)
    fmt = found.get("format") or {}
    infos = [_stream_info(stream, fmt, k, len(streams)) for k, stream in enumerate(streams)]
    if infos[0] is None:
        raise _not_audio(src.name)
    if len(infos) == 1:
        return infos[0]
    return _first_with_signal(src, [info for info in infos if info is not None])


def _stream_info(stream: dict, fmt: dict, k: int, n: int) -> AudioInfo | None:
    try:
        sr, channels = int(stream.get("sample_rate", 0)), int(stream.get("channels", 0))
    except (TypeError, ValueError):
        return None
    duration = float("nan")
    for value in (stream.get("duration"), fmt.get("duration")):
        try:
            duration = float(value)
            break
        except (TypeError, ValueError):
            continue
    frames = int(round(duration * sr)) if np.isfinite(duration) else -1
    return AudioInfo(
        duration_s=duration,
        sr=sr,
        channels=channels,
        frames=frames,
        container=str(fmt.get("format_name", "?")),
        codec=str(stream.get("codec_name", "?")),
        decoder="ffmpeg",
        stream=k,
        n_streams=n,
    )


def _first_with_signal(src: _Input, infos: list) -> AudioInfo:
    """Of a file's audio streams, the first whose first :data:`STREAM_SCAN_S` seconds are not silent.

    Each candidate is checked against the limits first and read only that far
    (mono, in blocks). When all are silent, the first is returned (and refused
    as silent later, with its streams named).
    """
    import dataclasses

    skipped = []
    for info in infos:
        if not (1 <= info.channels <= MAX_CHANNELS and MIN_SAMPLE_RATE <= info.sr <= MAX_SAMPLE_RATE):
            skipped.append(info.stream)
            continue
        scan = _Collector(
            src.name,
            info.sr,
            0,
            int(STREAM_SCAN_S * info.sr),
            True,
            max_frames=int(STREAM_SCAN_S * info.sr) + _BLOCK_FRAMES,
        )
        _read_ffmpeg(src, info, scan)
        y = scan.result()
        if y.size and float(np.max(np.abs(y))) > SILENCE_PEAK:
            return dataclasses.replace(info, skipped=tuple(skipped))
        skipped.append(info.stream)
    return infos[0]


def _read_ffmpeg(src: _Input, info: AudioInfo, collector: _Collector) -> None:
    """Stream float32 samples from ffmpeg's stdout in blocks; stop it once enough are read."""
    ffmpeg, _ = _ffmpeg_tools()
    demuxer = info.container.split(",")[0]
    with _PrivateCopy(src) as path:
        errors = os.path.join(os.path.dirname(path), "errors.txt")
        with open(errors, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [
                        ffmpeg,
                        "-v",
                        "error",
                        "-nostdin",
                        *_whitelists(),
                        "-f",
                        demuxer,
                        "-i",
                        "file:" + path,
                        "-map",
                        f"0:a:{info.stream}",
                        "-vn",
                        "-sn",
                        "-dn",
                        "-f",
                        "f32le",
                        "-acodec",
                        "pcm_f32le",
                        "pipe:1",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                )
            except OSError:
                raise _not_audio(src.name) from None
        try:
            stopped = _collect(lambda n, seconds: proc.stdout.read(n), info, collector, src.name)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()
        if not stopped and proc.returncode != 0 and collector.total == 0:
            raise _not_audio(src.name)
        if not stopped and proc.returncode != 0:
            raise VsepError(f"The {src.name} file is damaged: decoding stopped at {collector.total / info.sr:.2f} s.")


def _collect(read, info: AudioInfo, collector: _Collector, name: str) -> bool:
    """Feed ``collector`` interleaved float32 frames from ``read(n_bytes, seconds_left)`` (``b""`` at the end).

    Stops once the collector has what it wants, or after 10 minutes. Returns
    whether it stopped before the end (the caller then stops the decoder).
    """
    frame_bytes = 4 * info.channels
    deadline = time.monotonic() + 600
    pending = b""
    while not collector.done:
        chunk = read(_BLOCK_FRAMES * frame_bytes, max(deadline - time.monotonic(), 0.0))
        if not chunk:
            collector.reached_end = True
            break
        pending += chunk
        usable = len(pending) - len(pending) % frame_bytes
        if usable:
            block = np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, info.channels)
            pending = pending[usable:]
            collector.add(np.ascontiguousarray(block.T, dtype=np.float32))
        if time.monotonic() > deadline:
            raise VsepError(f"Decoding the {name} file took over 10 minutes; it was stopped.")
    return not collector.reached_end


def _mpeg_child(src: _Input, mode: str):
    """A :class:`vsep_core._mpeg_child.Child` reading the file (bytes go to a private copy first)."""
    from ._mpeg_child import Child

    return Child(str(src.path), mode) if src.path is not None else _CopyAndChild(src, mode)


class _CopyAndChild:
    """A child reading a private copy of in-memory bytes; the copy is removed when the child is closed."""

    def __init__(self, src: _Input, mode: str):
        from ._mpeg_child import Child

        self.copy = _PrivateCopy(src)
        path = self.copy.__enter__()
        try:
            self.child = Child(path, mode)
        except BaseException:
            self.copy.__exit__(None, None, None)
            raise
        self.header, self.error = self.child.header, self.child.error

    def read(self, timeout: float) -> bytes:
        return self.child.read(timeout)

    def close(self) -> None:
        self.child.close()
        self.copy.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _probe_mpeg_child(src: _Input) -> AudioInfo | None:
    """The header of a file libsndfile may open as MP3, read in a child (libmpg123 prints there, not here)."""
    with _mpeg_child(src, "probe") as child:
        header = child.header
    try:
        sr, channels, frames = int(header["sr"]), int(header["channels"]), int(header["frames"])
    except (KeyError, TypeError, ValueError):
        return None
    if frames >= _UNKNOWN_FRAMES:
        return None
    return AudioInfo(
        duration_s=frames / sr if sr > 0 and frames >= 0 else float("nan"),
        sr=sr,
        channels=channels,
        frames=frames,
        container=str(header.get("format", "?")),
        codec=str(header.get("subtype", "?")),
        decoder="libsndfile",
    )


def _read_mpeg_child(src: _Input, info: AudioInfo, collector: _Collector) -> None:
    """libsndfile's samples of an MP3, from a child whose fd 2 (libmpg123's notes) is not this process's.

    No lock around the decoding and no redirection of this process's fd 2:
    sessions decode MP3 at once, and the server's own log lines are never touched.
    """
    from ._mpeg_child import ChildError

    with _mpeg_child(src, "decode") as child:
        if child.header is None:
            raise _not_audio(src.name)
        if int(child.header.get("channels", -1)) != info.channels:  # the file changed since it was probed
            raise VsepError(f"The {src.name} file changed while it was being read.")
        try:
            _collect(lambda n, seconds: child.read(seconds), info, collector, src.name)
        except ChildError as exc:
            raise VsepError(
                f"The {src.name} file is damaged: decoding stopped at "
                f"{collector.total / info.sr:.2f} s ({_short(exc)})."
            ) from None


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels (``librosa.to_mono``). ``samples``: (channels, n) or (n,)."""
    samples = np.asarray(samples)
    return samples if samples.ndim == 1 else np.mean(samples, axis=0)


def available_formats() -> dict:
    """Which input formats this machine can decode, and through what."""
    sf_formats = sf.available_formats()
    have_ffmpeg = bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))
    out = {}
    for ext, sf_key in [("wav", "WAV"), ("flac", "FLAC"), ("ogg", "OGG"), ("mp3", "MP3"), ("aiff", "AIFF")]:
        out[ext] = "libsndfile" if sf_key in sf_formats else ("ffmpeg" if have_ffmpeg else None)
    for ext in ("m4a", "aac", "opus", "wma"):
        out[ext] = "ffmpeg" if have_ffmpeg else None
    return out
