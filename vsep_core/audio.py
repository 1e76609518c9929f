"""Decoding, preparing and writing audio.

Preparation follows the research code's prepare step (spec §1): decode, mix to
mono by averaging channels, keep a segment, resample to 22050 Hz and
peak-normalise. Cropping happens at the file's own rate before resampling,
as ``librosa.load(path, sr=..., offset=..., duration=...)`` does, so
seed-compatible loading gives exactly the research code's samples.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import VsepError
from .settings import Settings

#: Longest input accepted, in seconds: a whole album side is not a song.
MAX_DURATION_S = 20 * 60

#: Peak below which a signal counts as silent (about -200 dBFS).
SILENCE_PEAK = 1e-10

#: Added to the peak before dividing, as the research code does.
NORMALISE_EPS = 1e-8


@dataclass(frozen=True)
class Decoded:
    """A decoded file at its own sample rate.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, n), dtype=float32]
    sr : int
    name : str
        What the file is to the user ("mixture", "vocal", "song.mp3" ...), for messages.
    """

    samples: np.ndarray
    sr: int
    name: str = "audio"

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sr

    @property
    def channels(self) -> int:
        return self.samples.shape[0]


@dataclass(frozen=True)
class Pair:
    """A prepared (mixture, vocal) pair, ready for analysis.

    Attributes
    ----------
    mixture, vocal : np.ndarray [shape=(n,), dtype=float32]
        Mono, at ``sr``, peak-normalised as the settings say, same length.
    sr : int
    info : dict
        Where they came from and what was done (gains, trims, target mode).
    """

    mixture: np.ndarray
    vocal: np.ndarray
    sr: int
    info: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.mixture)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sr


def decode(source, *, name: str | None = None) -> Decoded:
    """Decode an audio file or buffer at its own sample rate.

    Tries libsndfile (wav, flac, ogg, mp3, aiff ...) first, then ffmpeg for
    everything else it knows (m4a, aac, opus in mp4, wma ...).

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
    name : str, optional
        How to call the file in error messages (default: its file name).

    Returns
    -------
    Decoded

    Raises
    ------
    VsepError
        When the file is missing, empty, not audio, longer than
        :data:`MAX_DURATION_S`, or holds NaN or infinite samples.
    """
    if name is None:
        name = Path(source).name if isinstance(source, (str, os.PathLike)) else "audio"
    data = _read_bytes(source, name)
    if len(data) == 0:
        raise VsepError(f"The {name} file is empty (0 bytes).")
    try:
        samples, sr = _decode_soundfile(data, name)
    except _NotDecodable:
        samples, sr = _decode_ffmpeg(data, name)
    if samples.shape[1] == 0:
        raise VsepError(f"The {name} file holds no audio samples.")
    if not np.isfinite(samples).all():
        raise VsepError(f"The {name} file holds NaN or infinite samples; it cannot be analysed.")
    return Decoded(samples=samples, sr=int(sr), name=name)


class _NotDecodable(Exception):
    pass


def _read_bytes(source, name) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise VsepError(f"The {name} file {str(path)!r} does not exist.")
        if path.is_dir():
            raise VsepError(f"{str(path)!r} is a folder, not an audio file.")
        return path.read_bytes()
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        return source.read()
    raise VsepError(f"Cannot read the {name}: expected a path, bytes or a file, got {type(source).__name__}.")


def _decode_soundfile(data: bytes, name: str):
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            _check_length(f.frames / f.samplerate if f.samplerate else 0, name)
            samples = f.read(dtype="float32", always_2d=True).T
            sr = f.samplerate
    except VsepError:
        raise
    except Exception as exc:  # libsndfile says only "format not recognised" etc.
        raise _NotDecodable(str(exc)) from exc
    return np.ascontiguousarray(samples), sr


def _decode_ffmpeg(data: bytes, name: str):
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    not_audio = VsepError(
        f"The {name} file is not audio this machine can decode "
        "(tried libsndfile and ffmpeg). Use WAV, FLAC, OGG, MP3 or M4A."
    )
    if not ffmpeg or not ffprobe:
        raise VsepError(
            f"The {name} file is not WAV/FLAC/OGG/MP3, and ffmpeg is not installed to decode other formats."
        )
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
             "stream=sample_rate,channels:format=duration", "-of", "default=nw=1", tmp.name],
            capture_output=True, text=True, timeout=60,
        )
        fields = dict(line.split("=", 1) for line in probe.stdout.split() if "=" in line)
        if probe.returncode != 0 or "sample_rate" not in fields:
            raise not_audio
        sr, channels = int(fields["sample_rate"]), int(fields.get("channels", 1))
        try:
            _check_length(float(fields.get("duration", "0")), name)
        except ValueError:
            pass
        run = subprocess.run(
            [ffmpeg, "-v", "error", "-nostdin", "-i", tmp.name, "-map", "0:a:0", "-f", "f32le",
             "-acodec", "pcm_f32le", "-"],
            capture_output=True, timeout=600,
        )
    if run.returncode != 0 or not run.stdout:
        raise not_audio
    samples = np.frombuffer(run.stdout, dtype="<f4")
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels).T
    _check_length(samples.shape[1] / sr, name)
    return np.ascontiguousarray(samples, dtype=np.float32), sr


def _check_length(duration_s: float, name: str) -> None:
    if duration_s > MAX_DURATION_S:
        raise VsepError(
            f"The {name} file lasts {duration_s / 60:.1f} minutes; the limit is "
            f"{MAX_DURATION_S // 60} minutes. Cut it to the part you want to analyse."
        )


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels (``librosa.to_mono``). ``samples``: (channels, n) or (n,)."""
    samples = np.asarray(samples)
    return samples if samples.ndim == 1 else np.mean(samples, axis=0)


def segment(decoded: Decoded, settings: Settings) -> np.ndarray:
    """Mono samples of the settings' segment, at the analysis sample rate.

    The segment is cut at the file's own rate and then resampled with
    soxr (high quality), in that order, as ``librosa.load`` does.

    Raises
    ------
    VsepError
        When the segment starts after the end of the file.
    """
    import librosa

    y = to_mono(decoded.samples)
    start = int(settings.start_s * decoded.sr)
    if start >= len(y):
        raise VsepError(
            f"The {decoded.name} lasts {decoded.duration_s:.2f} s; a segment cannot start at "
            f"{settings.start_s:.2f} s."
        )
    stop = len(y) if settings.duration_s is None else start + int(settings.duration_s * decoded.sr)
    y = np.ascontiguousarray(y[start:stop], dtype=np.float32)
    if decoded.sr != settings.sr:
        y = librosa.resample(y, orig_sr=decoded.sr, target_sr=settings.sr, res_type="soxr_hq")
    return y.astype(np.float32, copy=False)


def peak_normalise(y: np.ndarray) -> np.ndarray:
    """``y / (max|y| + 1e-8)``, as the research code does."""
    return y / (np.max(np.abs(y)) + NORMALISE_EPS)


def normalise_levels(mixture: np.ndarray, vocal: np.ndarray, level: str):
    """The one level normalisation: the pair as the engine sees it under ``level``.

    Parameters
    ----------
    mixture, vocal : np.ndarray [shape=(n,), dtype=float32]
        The pair at its true relative level (as decoded).
    level : {"independent", "common", "as_is"}
        ``"independent"``: each signal peak-normalised on its own (the research
        prepare step; the relative level is lost). ``"common"``: one gain from
        the larger peak. ``"as_is"``: unchanged.

    Returns
    -------
    mixture_out, vocal_out : np.ndarray [dtype=float32]
    mixture_gain, vocal_gain : float
        What each signal was multiplied by. :func:`to_true_scale` undoes the
        vocal's, which is the one an estimate is shaped toward.
    """
    if level == "independent":
        mix_gain = 1.0 / (float(np.max(np.abs(mixture))) + NORMALISE_EPS)
        voc_gain = 1.0 / (float(np.max(np.abs(vocal))) + NORMALISE_EPS)
        # Division, as the research code's peak_normalise (keeps the seed's samples bit for bit).
        mix_out, voc_out = peak_normalise(mixture), peak_normalise(vocal)
    elif level == "common":
        # One gain for both, from the larger peak, so neither exceeds full scale.
        peak = max(float(np.max(np.abs(mixture))), float(np.max(np.abs(vocal))))
        mix_gain = voc_gain = 1.0 / (peak + NORMALISE_EPS)
        mix_out = (mixture * np.float32(mix_gain)).astype(np.float32)
        voc_out = (vocal * np.float32(voc_gain)).astype(np.float32)
    elif level == "as_is":
        mix_gain = voc_gain = 1.0
        mix_out, voc_out = mixture, vocal
    else:
        raise VsepError(f"Unknown level {level!r}; levels are independent, common and as_is.")
    return (np.asarray(mix_out, dtype=np.float32), np.asarray(voc_out, dtype=np.float32),
            float(mix_gain), float(voc_gain))


def engine_pair(truth: "Pair", level: str) -> "Pair":
    """``truth`` (a pair at its true scale) as the engine sees it under ``level``.

    What :func:`prepare_pair` gives for the same files at that level, made from
    the true-scale pair with :func:`normalise_levels`; ``info`` keeps the gains
    that :func:`to_true_scale` undoes.
    """
    mixture, vocal, mix_gain, voc_gain = normalise_levels(truth.mixture, truth.vocal, level)
    return Pair(mixture=mixture, vocal=vocal, sr=truth.sr,
                info={**truth.info, "level": level, "mixture_gain": mix_gain, "vocal_gain": voc_gain})

def to_true_scale(vocal_estimate: np.ndarray, pair: "Pair") -> np.ndarray:
    """Bring a vocal estimate made on ``pair`` back to the files' true scale.

    The rule: undo exactly the normalisation applied to the signal the
    estimate was shaped toward. The method matches the *vocal's* fingerprint,
    so the estimate lives on the vocal's normalised scale and is divided by
    ``pair.info["vocal_gain"]`` (1 when the pair was not normalised). A
    perfect estimate (``pair.vocal`` itself) comes back as the true vocal at
    every level. The instrumental estimate is then ``true mixture − this``.
    """
    gain = float(pair.info.get("vocal_gain", 1.0))
    return (np.asarray(vocal_estimate, dtype=np.float32) / np.float32(gain)).astype(np.float32, copy=False)


def check_signal(y: np.ndarray, name: str, settings: Settings) -> None:
    """Reject a prepared signal the method cannot work on.

    Raises
    ------
    VsepError
        When it is empty, silent, not finite, or shorter than one STFT frame.
    """
    if y.size == 0:
        raise VsepError(f"The {name} is empty after cutting the segment.")
    if not np.isfinite(y).all():
        raise VsepError(f"The {name} holds NaN or infinite samples.")
    if np.max(np.abs(y)) < SILENCE_PEAK:
        raise VsepError(f"The {name} is silent (every sample is zero) in the analysed segment.")
    if len(y) < settings.n_fft:
        raise VsepError(
            f"The {name} is {len(y)} samples ({len(y) / settings.sr * 1000:.0f} ms) long; "
            f"it must be at least one frame, {settings.n_fft} samples "
            f"({settings.n_fft / settings.sr * 1000:.0f} ms)."
        )


def prepare_pair(
    mixture,
    *,
    vocal=None,
    instrumental=None,
    settings: Settings | None = None,
) -> Pair:
    """Decode and prepare a (mixture, vocal) pair as the research code does.

    Give the target as the isolated ``vocal`` or as the ``instrumental``; in
    the second case the vocal is ``mixture - instrumental`` sample by sample
    (the research code's "inverse" mode), taken before normalisation.

    Parameters
    ----------
    mixture, vocal, instrumental : path, bytes, file object or :class:`Decoded`
        Exactly one of ``vocal`` and ``instrumental``.
    settings : Settings, optional
        Segment, sample rate and level mode (``Settings()`` if omitted).

    Returns
    -------
    Pair

    Raises
    ------
    VsepError
        For undecodable, empty, silent or non-finite input, for a pair whose
        lengths differ by more than one frame (``n_fft`` samples), and when not
        exactly one of ``vocal`` and ``instrumental`` is given.
    """
    settings = settings or Settings()
    if (vocal is None) == (instrumental is None):
        raise VsepError("Give the target as exactly one of: the isolated vocal, or the instrumental.")
    target_mode = "vocal" if vocal is not None else "mixture_minus_instrumental"
    other_name = "vocal" if vocal is not None else "instrumental"
    mix_dec = _as_decoded(mixture, "mixture")
    other_dec = _as_decoded(vocal if vocal is not None else instrumental, other_name)
    check_lengths(mix_dec, other_dec, frame=settings.n_fft * max(mix_dec.sr, other_dec.sr) // settings.sr)

    mix = segment(mix_dec, settings)
    other = segment(other_dec, settings)
    n = min(len(mix), len(other))  # equal to within a frame (checked above)
    mix, other = mix[:n], other[:n]
    check_signal(mix, "mixture", settings)
    check_signal(other, other_name, settings)
    voc = other if vocal is not None else mix - other
    check_signal(voc, "vocal (mixture minus instrumental)" if vocal is None else "vocal", settings)

    mix_out, voc_out, mix_gain, voc_gain = normalise_levels(mix, voc, settings.level)
    info = {
        "mixture": mix_dec.name,
        other_name: other_dec.name,
        "target_mode": target_mode,
        "level": settings.level,
        "mixture_gain": mix_gain,
        "vocal_gain": voc_gain,
        "source_durations_s": {"mixture": mix_dec.duration_s, other_name: other_dec.duration_s},
        "n_samples": n,
    }
    return Pair(mixture=mix_out.astype(np.float32, copy=False), vocal=voc_out.astype(np.float32, copy=False),
                sr=settings.sr, info=info)


def _as_decoded(source, name) -> Decoded:
    if isinstance(source, Decoded):
        return source
    return decode(source, name=name)


def check_lengths(a: Decoded, b: Decoded, *, frame: int = 2048) -> None:
    """Reject a pair whose lengths differ by more than ``frame`` samples.

    Lengths are compared in seconds, so files at different rates compare fairly.
    """
    diff_s = a.duration_s - b.duration_s
    if abs(diff_s) * max(a.sr, b.sr) > frame:
        longer, shorter = (a, b) if diff_s > 0 else (b, a)
        raise VsepError(
            f"The {longer.name} ({longer.duration_s:.3f} s) is longer than the {shorter.name} "
            f"({shorter.duration_s:.3f} s) by {abs(diff_s):.3f} s; a pair must have the same length "
            f"(within one frame, {frame / max(a.sr, b.sr) * 1000:.0f} ms). Are they from the same song and edit?"
        )


def wav_bytes(y: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> bytes:
    """Encode a mono signal as a WAV file in memory (16-bit PCM by default)."""
    if subtype == "PCM_16":
        header, pcm = _pcm16_wav(y, sr)
        return header + pcm.tobytes()
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def write_wav(path, y: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> Path:
    """Write a mono signal as WAV (16-bit PCM, as the research code did), creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if subtype == "PCM_16":
        header, pcm = _pcm16_wav(y, sr)
        with open(path, "wb") as f:
            f.write(header)
            f.write(memoryview(pcm).cast("B"))
        return path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf.write(path, np.asarray(y, dtype=np.float32), sr, subtype=subtype)
    return path


def _pcm16_wav(y: np.ndarray, sr: int) -> tuple[bytes, np.ndarray]:
    """The header and samples of a mono 16-bit WAV, the same bytes libsndfile writes (tests check).

    libsndfile converts float samples one by one through its own buffers
    (~35 ms for a 3-minute song here); one compiled loop does it in a few.
    """
    from ._kernels import pcm16_from_float

    samples = np.ascontiguousarray(y, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError("write one channel (a 1-D signal)")
    pcm = np.empty(samples.shape[0], dtype=np.int16)
    pcm16_from_float(samples, pcm)
    pcm = pcm.astype("<i2", copy=False)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + pcm.nbytes, b"WAVE", b"fmt ", 16, 1, 1,
                         sr, 2 * sr, 2, 16, b"data", pcm.nbytes)
    return header, pcm


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
