"""Recording a vocal in the browser with st-audiorec, without its slow parts.

st-audiorec 0.1.3 (import ``st_audiorec``) sends the recorded WAV to Python as
a JSON object of byte index → byte value, and its Python wrapper rebuilds the
file one byte at a time (``int(v).to_bytes(1, "big")`` for every byte: 2.4 s
for a 4 s take, ~18 s for 30 s). Here the same frontend is called directly
and the bytes are rebuilt with numpy (milliseconds).

Its recorder also checks only the first audio buffer and gives up, with a
message on the browser console only, when that buffer sums to zero (a
muted or slow-starting microphone; phones often do this on the first try);
the take then comes back as an empty 44-byte WAV. :func:`take_from_raw`
turns that into a plain message.

Browsers give the microphone only to secure pages: ``https://`` or
``http://localhost``; on ``http://<LAN address>`` recording cannot start.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vsep_core.audio import Decoded
from vsep_core.errors import VsepError

#: Size of a WAV header with no samples: what an empty take comes back as.
EMPTY_WAV_BYTES = 44

EMPTY_TAKE_MESSAGE = (
    "The recording came back empty: the browser gave the recorder no sound. The recorder "
    "(st-audiorec) stops at once when the first moment of sound is pure silence, which happens "
    "when the microphone is muted, blocked, or slow to start (phones often do this on the first "
    "try). Press Start Recording again, speak, then press Stop. If it keeps happening, check that "
    "the browser may use the microphone: it only allows it on https:// pages or on http://localhost."
)

SECURE_ORIGIN_NOTE = (
    "Browsers only allow the microphone on secure pages: https://… or http://localhost. "
    "If the recorder does nothing, open the app through localhost (or https) and allow the microphone."
)


def frontend_dir() -> Path:
    """Where the installed st-audiorec keeps its built frontend."""
    try:
        import st_audiorec
    except ImportError as exc:  # pragma: no cover - requirements install it
        raise VsepError("Recording needs the streamlit-audiorec package (pip install streamlit-audiorec).") from exc
    return Path(st_audiorec.__file__).resolve().parent / "frontend" / "build"


def record(key: str = "recorder"):
    """Draw the recorder and return its raw value (``None`` until a take arrives).

    The value is what the frontend sends: ``{"arr": {"0": 82, "1": 73, …}}``
    after a take, ``""`` after Start or Reset.
    """
    import streamlit.components.v1 as components

    component = components.declare_component("st_audiorec", path=str(frontend_dir()))
    return component(key=key, default=None)


def raw_to_wav_bytes(raw) -> bytes | None:
    """The recorded WAV file from the component's raw value, rebuilt with numpy.

    Equals the component's own ``b"".join(int(v).to_bytes(1, "big") …)``
    (for the index-ordered objects browsers send), in milliseconds.

    Parameters
    ----------
    raw : dict or None
        ``{"arr": {index: byte}}`` (JSON of a ``Uint8Array``); ``{"arr": [...]}``
        or ``{"arr": bytes}`` are accepted too.

    Returns
    -------
    bytes or None
        ``None`` when no take has arrived (``None``, ``""``).

    Raises
    ------
    VsepError
        When the value is not a byte array.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict) or "arr" not in raw:
        raise VsepError("The recorder sent something that is not a recording.")
    arr = raw["arr"]
    try:
        if isinstance(arr, (bytes, bytearray, memoryview)):
            return bytes(arr)
        if isinstance(arr, (list, tuple)):
            return np.asarray(arr, dtype=np.int64).astype(np.uint8, casting="unsafe").tobytes() \
                if _bytes_in_range(np.asarray(arr)) else _bad_bytes()
        if isinstance(arr, dict):
            n = len(arr)
            values = np.fromiter(arr.values(), dtype=np.int64, count=n)
            if not _bytes_in_range(values):
                _bad_bytes()
            keys = np.fromiter(map(int, arr.keys()), dtype=np.int64, count=n)
            out = values.astype(np.uint8)
            if n and not (keys[0] == 0 and np.all(np.diff(keys) == 1)):
                if keys.min() < 0 or keys.max() >= n or len(np.unique(keys)) != n:
                    raise VsepError("The recording arrived with missing bytes; record it again.")
                ordered = np.empty(n, dtype=np.uint8)
                ordered[keys] = out
                out = ordered
            return out.tobytes()
    except VsepError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise VsepError("The recorder sent something that is not a recording.") from exc
    raise VsepError("The recorder sent something that is not a recording.")


def _bytes_in_range(values: np.ndarray) -> bool:
    return values.size == 0 or (values.min() >= 0 and values.max() <= 255)


def _bad_bytes():
    raise VsepError("The recorder sent values that are not bytes; record it again.")


def is_empty_take(wav: bytes) -> bool:
    """True for the empty WAV st-audiorec returns when it gave up (no samples)."""
    if len(wav) <= EMPTY_WAV_BYTES:
        return True
    try:
        return sf.info(io.BytesIO(wav)).frames == 0
    except Exception:  # not a WAV at all: not "empty", let decoding say what is wrong
        return False


@dataclass(frozen=True)
class Take:
    """One recording: the WAV file and its decoded samples."""

    wav: bytes
    decoded: Decoded

    @property
    def duration_s(self) -> float:
        return self.decoded.duration_s


def take_from_raw(raw) -> Take | None:
    """Turn the component's value into a :class:`Take` (``None``: nothing recorded yet).

    Raises
    ------
    VsepError
        For an empty take (:data:`EMPTY_TAKE_MESSAGE`), a silent one, or bytes
        that are not a WAV file.
    """
    wav = raw_to_wav_bytes(raw)
    if wav is None:
        return None
    if is_empty_take(wav):
        raise VsepError(EMPTY_TAKE_MESSAGE)
    try:
        samples, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    except Exception as exc:
        raise VsepError("The recording could not be read as a WAV file; record it again.") from exc
    if not np.isfinite(samples).all():
        raise VsepError("The recording holds invalid (NaN or infinite) samples; record it again.")
    if not np.any(samples):
        raise VsepError("The recording is pure silence: check that the right microphone is selected "
                        "and not muted, then record again.")
    return Take(wav=wav, decoded=Decoded(samples=np.ascontiguousarray(samples.T), sr=int(sr), name="recording"))


def mix_over(vocal: Decoded, instrumental: Decoded, level_db: float) -> dict:
    """Mix a recorded vocal over an instrumental at a chosen level.

    The vocal is made mono, resampled to the instrumental's rate and scaled
    so that its RMS level is ``level_db`` relative to the instrumental's
    (0 dB: equally loud; −6 dB: the vocal half as loud in amplitude). The
    pair is cut to the shorter of the two; if the sum would clip, all three
    signals share one gain so that ``mixture = vocal + instrumental`` holds.

    Returns
    -------
    dict
        ``"mixture"``, ``"vocal"``, ``"instrumental"`` (float32 mono arrays)
        and ``"sr"`` (the instrumental's rate).

    Raises
    ------
    VsepError
        When either signal is silent or the level is not a finite number.
    """
    if not np.isfinite(level_db):
        raise VsepError(f"The vocal level must be a number of dB, got {level_db!r}.")
    sr = instrumental.sr
    voc = np.mean(vocal.samples, axis=0).astype(np.float32)
    if vocal.sr != sr:
        import librosa

        voc = librosa.resample(voc, orig_sr=vocal.sr, target_sr=sr, res_type="soxr_hq").astype(np.float32)
    inst = np.mean(instrumental.samples, axis=0).astype(np.float32)
    n = min(len(voc), len(inst))
    voc, inst = voc[:n], inst[:n]
    rms_v, rms_i = float(np.sqrt(np.mean(voc.astype(np.float64) ** 2))), float(np.sqrt(np.mean(inst.astype(np.float64) ** 2)))
    if rms_v == 0.0:
        raise VsepError("The recording is silent over the length of the instrumental.")
    if rms_i == 0.0:
        raise VsepError("The instrumental is silent over the length of the recording.")
    voc = voc * np.float32(10.0 ** (level_db / 20.0) * rms_i / rms_v)
    mix = inst + voc
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        scale = np.float32(0.99 / peak)
        voc, inst = voc * scale, inst * scale
        mix = inst + voc
    return {"mixture": mix.astype(np.float32), "vocal": voc.astype(np.float32),
            "instrumental": inst.astype(np.float32), "sr": sr}
