"""Recording a vocal in the browser and mixing it over an instrumental.

The Load page's recorders (:func:`draw`): first the one that plays the instrumental while it records
(:mod:`vsep_app.backing_recorder`, issue #21), then, folded away, Streamlit's own ``st.audio_input`` for a
take without the backing; every take goes through :func:`take_from_wav`.

``st.audio_input`` sends the take as one binary WAV upload (bounded by the
server's upload cap), with a timer and its own Record / Stop / Clear buttons.
It is asked for 48 kHz (:data:`TAKE_SAMPLE_RATE`): with ``sample_rate=None``
Chromium 156 sent 16 kHz takes (measured with a 48 kHz microphone), which
lose everything above 8 kHz. The take is described as its WAV really is. (st-audiorec, used before, sent the file as a
JSON object of byte index → value: 14 bytes of JSON and ~100 bytes of Python
objects per audio byte, a memory hazard on a shared server, and it always
wrote 44.1 kHz stereo whatever the microphone gave.)

st-audiorec stays available for a server run by and for one person:
``VSEP_RECORDER=st-audiorec`` draws its recorder instead, through Streamlit's
public component API on the frontend the package ships, with its bytes
rebuilt by numpy (:func:`raw_to_wav_bytes`, far faster than its wrapper's
Python loop). Its takes are capped at
:data:`MAX_AUDIOREC_TAKE_S`; the JSON is parsed by Streamlit before any check
can run, so on a shared server keep the default.

Browsers give the microphone only to secure pages: ``https://`` or
``http://localhost``; on ``http://<LAN address>`` recording cannot start
(docs/SERVING.md).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vsep_core import audio
from vsep_core.audio import Decoded
from vsep_core.errors import VsepError
from vsep_core.settings import Settings

#: The longest take accepted (seconds): a sung line or a verse; the pair is cut to the instrumental anyway.
MAX_TAKE_S = 300.0
#: The longest take recorded with the backing playing (seconds; less if the server's message cap is smaller:
#: :func:`vsep_app.backing_recorder.max_take_s`).
MAX_BACKING_TAKE_S = 120.0

EMPTY_TAKE_MESSAGE = (
    "The recording came back empty: the browser gave no sound. Check that the browser may use the "
    "microphone (it only allows it on https:// pages or on http://localhost) and that it is not muted, "
    "then record again."
)

SECURE_ORIGIN_NOTE = (
    "Browsers only allow the microphone on secure pages: https://… or http://localhost. "
    "If the recorder does nothing, open the app through localhost (or https) and allow the microphone. "
    f"Takes are limited to {MAX_BACKING_TAKE_S / 60:.0f} minutes over the backing, {MAX_TAKE_S / 60:.0f} without it."
)


#: The rate st.audio_input records at (Hz): its highest, a common microphone rate, above the analysis rate.
TAKE_SAMPLE_RATE = 48000

#: Recorders the Load page can draw (env ``VSEP_RECORDER``): Streamlit's own, or st-audiorec.
RECORDERS = ("audio_input", "st-audiorec")

#: The longest st-audiorec take accepted (seconds): it arrives as ~14 bytes of JSON per audio byte.
MAX_AUDIOREC_TAKE_S = 30.0
#: Its bytes at most: 44.1 kHz stereo 16-bit (what it records) for :data:`MAX_AUDIOREC_TAKE_S`, plus a header.
MAX_AUDIOREC_BYTES = int(MAX_AUDIOREC_TAKE_S * 44100 * 2 * 2) + 1024


def recorder_choice() -> str:
    """The recorder this server draws: ``VSEP_RECORDER`` (default ``audio_input``).

    Raises
    ------
    VsepError
        For an unknown name (the person running the server sees it on the Load page).
    """
    choice = os.environ.get("VSEP_RECORDER", "audio_input").strip() or "audio_input"
    if choice not in RECORDERS:
        raise VsepError(f"VSEP_RECORDER is {choice!r}; it must be one of {', '.join(RECORDERS)}.")
    return choice


#: Which recorder's take the page uses (``"backing"`` or ``"plain"``: the last one that gave a new take), and
#: the content hash of the plain recorder's take seen last.
TAKE_FROM = "rec_take_from"
PLAIN_SEEN = "rec_plain_seen"


def draw(instrumental: Decoded | None, instrumental_file: bytes | None) -> Take | None:
    """The Load page's recorders; the take to mix (``None`` before one).

    First the recorder that plays ``instrumental`` while it records (:mod:`vsep_app.backing_recorder`), then,
    folded away, this server's plain recorder (:func:`recorder_choice`) for a take without the backing. The
    take is the one of the recorder that gave a new take last.
    """
    import streamlit as st

    from . import backing_recorder, cache, jobs
    from .state import digest

    st.markdown(
        "Press **Record with the backing**: the instrumental starts and your microphone records from the "
        "same moment, so the take lines up with it. Sing or speak, then press Stop (or let the "
        "instrumental end)."
    )
    backing = None
    if instrumental is not None and instrumental_file is not None:
        max_s = backing_recorder.max_take_s()
        backing = jobs.run(lambda: cache.recorder_backing(instrumental_file, instrumental, max_s))
    lined_up, arrived = backing_recorder.draw(instrumental, backing)
    if arrived:
        st.session_state[TAKE_FROM] = "backing"
    audiorec = recorder_choice() == "st-audiorec"
    # st-audiorec measures its frame once, when it loads: loaded folded away it keeps a height of 0 (an empty
    # box when opened), so its expander starts open.
    with st.expander("Or record without the backing", expanded=audiorec):
        if audiorec:
            st.markdown("Press **Start Recording**, sing or speak, then **Stop**. The take plays back below it.")
            plain = raw_to_wav_bytes(record_audiorec())
        else:
            st.markdown("Press the microphone, sing or speak, then press stop. The take plays back in the recorder.")
            recorded = record(key="recorder")
            plain = recorded.getvalue() if recorded is not None else None
    seen = digest(plain) if plain is not None else None
    if seen != st.session_state.get(PLAIN_SEEN):
        st.session_state[PLAIN_SEEN] = seen
        if seen is not None:
            st.session_state[TAKE_FROM] = "plain"
    if st.session_state.get(TAKE_FROM) == "backing" and lined_up is not None:
        st.caption(lined_up.note)
        return take_from_wav(lined_up.wav)
    return take_from_wav(plain)


def record(key: str = "recorder"):
    """Draw the recorder; its value is the take's WAV (an ``UploadedFile``) or ``None``."""
    import streamlit as st

    return st.audio_input(
        "Record your voice",
        sample_rate=TAKE_SAMPLE_RATE,
        key=key,
        help=f"Press the microphone to start, the square to stop (at most {MAX_TAKE_S / 60:.0f} "
        "minutes). The take plays back here; the bin clears it.",
    )


def audiorec_frontend_dir() -> Path:
    """Where the installed st-audiorec keeps its built frontend (package data)."""
    import st_audiorec

    return Path(st_audiorec.__file__).resolve().parent / "frontend" / "build"


def record_audiorec(key: str = "recorder_audiorec"):
    """Draw st-audiorec's recorder; its raw value (``{"arr": {index: byte}}`` after a take, else ``None``/``""``)."""
    import streamlit.components.v1 as components

    component = components.declare_component("st_audiorec", path=str(audiorec_frontend_dir()))
    return component(key=key, default=None)


def raw_to_wav_bytes(raw) -> bytes | None:
    """The WAV file in st-audiorec's raw value, rebuilt with numpy.

    Equals the package's own ``b"".join(int(v).to_bytes(1, "big") …)`` for the
    index-ordered objects browsers send (tests check), in milliseconds.

    Returns
    -------
    bytes or None
        ``None`` when no take has arrived (``None`` or ``""``).

    Raises
    ------
    VsepError
        When the value is not a byte array, is over :data:`MAX_AUDIOREC_BYTES`, or has gaps.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict) or "arr" not in raw:
        raise VsepError("The recorder sent something that is not a recording.")
    arr = raw["arr"]
    if not isinstance(arr, (dict, list, tuple)):
        raise VsepError("The recorder sent something that is not a recording.")
    if len(arr) > MAX_AUDIOREC_BYTES:
        raise VsepError(
            f"The take is longer than st-audiorec's limit of {MAX_AUDIOREC_TAKE_S:.0f} s here; record a shorter one."
        )
    try:
        if isinstance(arr, dict):
            n = len(arr)
            values = np.fromiter(arr.values(), dtype=np.int64, count=n)
            keys = np.fromiter(map(int, arr.keys()), dtype=np.int64, count=n)
        else:
            values = np.asarray(arr, dtype=np.int64)
            keys = np.arange(len(values))
    except (TypeError, ValueError, OverflowError) as exc:
        raise VsepError("The recorder sent something that is not a recording.") from exc
    if values.ndim != 1 or (values.size and (values.min() < 0 or values.max() > 255)):
        raise VsepError("The recorder sent values that are not bytes; record it again.")
    n = len(values)
    if n and not (keys[0] == 0 and np.all(np.diff(keys) == 1)):
        if keys.min() < 0 or keys.max() >= n or len(np.unique(keys)) != n:
            raise VsepError("The recording arrived with missing bytes; record it again.")
        ordered = np.empty(n, dtype=np.int64)
        ordered[keys] = values
        values = ordered
    return values.astype(np.uint8).tobytes()


@dataclass(frozen=True)
class Take:
    """One recording: the WAV file and its decoded samples."""

    wav: bytes
    decoded: Decoded

    @property
    def duration_s(self) -> float:
        return self.decoded.duration_s

    def describe(self) -> str:
        """ "4.2 s, 48000 Hz, mono": what the microphone really gave."""
        channels = {1: "mono", 2: "stereo"}.get(self.decoded.channels, f"{self.decoded.channels} channels")
        return f"{self.duration_s:.1f} s, {self.decoded.sr} Hz, {channels}"


def take_from_wav(wav: bytes | None) -> Take | None:
    """Turn the recorder's WAV into a :class:`Take` (``None``: nothing recorded yet).

    The length is read from the header before any sample is decoded.

    Raises
    ------
    VsepError
        For an empty or silent take, one over :data:`MAX_TAKE_S`, or bytes that are not a WAV file.
    """
    if wav is None:
        return None
    try:
        info = sf.info(io.BytesIO(wav))
    except Exception as exc:
        raise VsepError("The recording could not be read as a WAV file; record it again.") from exc
    if info.frames == 0 or info.samplerate <= 0:
        raise VsepError(EMPTY_TAKE_MESSAGE)
    if info.frames / info.samplerate > MAX_TAKE_S:
        raise VsepError(
            f"The take lasts {info.frames / info.samplerate / 60:.1f} minutes; takes are limited to "
            f"{MAX_TAKE_S / 60:.0f} minutes. Record a shorter one."
        )
    try:
        samples, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    except Exception as exc:
        raise VsepError("The recording could not be read as a WAV file; record it again.") from exc
    if not np.isfinite(samples).all():
        raise VsepError("The recording holds invalid (NaN or infinite) samples; record it again.")
    if not np.any(samples):
        raise VsepError(
            "The recording is pure silence: check that the right microphone is selected "
            "and not muted, then record again."
        )
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
    # The engine's own mono mix-down and resampling (soxr, as for every input), at the instrumental's rate.
    whole_at_sr = Settings(sr=sr, start_s=0.0, duration_s=None)
    voc = audio.segment(vocal, whole_at_sr)
    inst = audio.segment(instrumental, whole_at_sr)
    n = min(len(voc), len(inst))
    voc, inst = voc[:n], inst[:n]
    rms_v, rms_i = (
        float(np.sqrt(np.mean(voc.astype(np.float64) ** 2))),
        float(np.sqrt(np.mean(inst.astype(np.float64) ** 2))),
    )
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
    return {
        "mixture": mix.astype(np.float32),
        "vocal": voc.astype(np.float32),
        "instrumental": inst.astype(np.float32),
        "sr": sr,
    }


def segment_note(take_s: float, settings: Settings, instrumental_s: float | None = None) -> str | None:
    """What happens to a take longer than the instrumental or the analysed segment, in sentences (``None`` when
    it fits).

    The mix is as long as the shorter of the take and the instrumental (:func:`mix_over`); all of that is kept in
    the pair (every player and download has it), and the analysis reads the segment of the settings, which the
    visitor can move or lengthen (issue #21: a 6.2 s take over the 4.7 s default sample was silently cut).
    """
    out = []
    kept = take_s
    if instrumental_s is not None and take_s > instrumental_s + 0.05:
        kept = instrumental_s
        out.append(
            f"Your take is {take_s:.1f} s long but the instrumental only {instrumental_s:.1f} s: the mix keeps "
            f"the first {instrumental_s:.1f} s of your take. For all of it, sing over a longer instrumental "
            "(upload one, or a longer sample)."
        )
    if settings.duration_s is not None and kept > settings.start_s + settings.duration_s + 0.05:
        end = settings.start_s + settings.duration_s
        out.append(
            f"{'The mix' if out else f'Your take is {take_s:.1f} s long. All of it'} is kept; the analysis "
            f"reads {settings.start_s:g} s to {end:g} s of it (the segment under Analysis settings below). To "
            "analyse all of it, choose Segment length “Whole song” (or a custom length) there and apply."
        )
    return " ".join(out) or None
