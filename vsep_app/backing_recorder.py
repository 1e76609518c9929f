"""The recorder that plays the backing while it records (issue #21): a Streamlit custom component (``st.components.v2``).

Streamlit's own ``st.audio_input`` records but plays nothing, so a visitor sang blind. This component
(``backing_recorder.js``, inline: nothing is fetched from the network) plays the instrumental and records the
microphone on one Web Audio clock, started together: the capture begins first, the backing is scheduled a
moment later at a known frame of the same clock. The take comes back with two numbers, the frames captured
before the backing's first sample and the latency the browser reports (output, plus the microphone's input
latency); :func:`take_from_component` cuts both off, so the take's first sample is what was sung over the
backing's first sample. (:mod:`vsep_core.alignment` cannot do this: it checks that the vocal sits sample-exactly
inside the mixture, which holds for any mix the recorder makes; a singer late against the backing is music,
not a file offset.) What the browser does not know (e.g. a Bluetooth headset's own delay) stays in the take.

How the take travels: a component can send the server JSON only (its state and trigger values; Streamlit 1.67
``BidiComponentSerde``, ``value_type="json_value"``), so the take is a 16-bit mono WAV in base64 inside one
trigger value, sent once. Every message a browser sends is capped by ``server.maxWidgetStateSize`` (25 MB by
default; a bigger one closes the connection), so the take is capped in length to fit well under it
(:func:`max_take_s`, at most :data:`MAX_TAKE_S`), the browser stops recording there, and the server refuses a
longer text before decoding it. The session keeps one take (its WAV, ~11.5 MB at most), replaced by the next.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsep_core.audio import Decoded
from vsep_core.errors import VsepError

from . import recorder

#: The rate the component records at (Hz): it asks the browser for an AudioContext at this rate.
SAMPLE_RATE = 48000
#: The longest take (seconds) when the server's message cap allows it; the backing sent to the page is cut here.
MAX_TAKE_S = recorder.MAX_BACKING_TAKE_S
#: Frames captured before the backing starts (the browser schedules it 0.1 s after the capture) plus the
#: latency, at most: anything over this is not what this component sends.
MAX_LEAD_S = 5.0
#: The most latency (seconds) accepted from the browser's report.
MAX_LATENCY_S = 1.0
#: The component's key in ``st.session_state`` (its result), and where the session's kept take lives.
KEY = "rec_with_backing"
KEPT = "rec_with_backing_take"

INSECURE_MESSAGE = (
    "this page may not use the microphone. Browsers only allow it on https://… pages or on http://localhost: "
    "open the app through one of those."
)

HEADPHONES_NOTE = (
    "Wear headphones: the instrumental plays while you record, and a loudspeaker's sound would be recorded "
    "with your voice (then your “true vocal” holds part of the instrumental)."
)

_HTML = """<div class="vsep-rec" data-state="ready">
  <div class="row">
    <button type="button" data-part="start">● Record with the backing</button>
    <button type="button" data-part="stop" disabled>■ Stop</button>
    <span data-part="status" role="status">Ready: press Record, then sing along.</span>
  </div>
  <div class="row"><span class="label">Backing</span><progress data-part="backing" value="0" max="1"></progress>
    <span data-part="backing-time"></span><meter data-part="backing-level" min="0" max="1" value="0"
    title="The backing's level as it plays"></meter></div>
  <div class="row"><span class="label">Microphone</span><meter data-part="mic-level" min="0" max="1" value="0"
    title="Your microphone's level"></meter></div>
</div>"""

_CSS = """
.vsep-rec { font-family: var(--st-font); font-size: 0.95rem; color: var(--st-text-color);
  border: 1px solid var(--st-border-color); border-radius: var(--st-base-radius); padding: 0.6rem 0.8rem; }
.row { display: flex; align-items: center; gap: 0.6rem; margin: 0.25rem 0; flex-wrap: wrap; }
.label { width: 6.5rem; color: var(--st-text-color); opacity: 0.8; }
progress { flex: 1 1 8rem; min-width: 6rem; }
meter { width: 6rem; }
button { font: inherit; padding: 0.3rem 0.9rem; border-radius: var(--st-button-radius);
  border: 1px solid var(--st-border-color); background: var(--st-secondary-background-color);
  color: var(--st-text-color); cursor: pointer; }
button[data-part="start"] { background: var(--st-primary-color); color: #fff; border-color: var(--st-primary-color); }
button:disabled { opacity: 0.5; cursor: default; }
.vsep-rec[data-state="recording"] { border-color: var(--st-red-color); }
[data-part="status"][data-kind="error"] { color: var(--st-red-color); }
[data-part="status"][data-kind="recording"] { color: var(--st-red-color); font-weight: 600; }
"""


@functools.cache
def _component():
    import streamlit as st

    js = Path(__file__).with_name("backing_recorder.js").read_text(encoding="utf-8")
    return st.components.v2.component("vsep_backing_recorder", html=_HTML, css=_CSS, js=js)


def max_take_s() -> float:
    """The longest take this server accepts (seconds): :data:`MAX_TAKE_S`, or less if its message cap is smaller.

    The take arrives as base64 (4 characters per 3 bytes) of 2 bytes per frame; it must fit in 90 % of
    ``server.maxWidgetStateSize`` (MB) with the lead-in.
    """
    import streamlit as st

    cap_bytes = float(st.get_option("server.maxWidgetStateSize")) * 1e6
    fits = 0.9 * cap_bytes * 3 / 4 / (2 * SAMPLE_RATE) - MAX_LEAD_S
    return float(max(1.0, min(MAX_TAKE_S, math.floor(fits))))


def max_text_chars(take_s: float) -> int:
    """The most base64 characters a take of ``take_s`` seconds (plus the lead-in) can be."""
    wav_bytes = 44 + 2 * int(math.ceil((take_s + MAX_LEAD_S) * SAMPLE_RATE))
    return 4 * math.ceil(wav_bytes / 3)


def backing_flac(instrumental: Decoded, max_s: float) -> bytes:
    """The instrumental's first ``max_s`` seconds as 16-bit FLAC at its own rate: what the page plays.

    Lossless, so the backing heard is sample for sample the one the take is mixed over; FLAC because every
    browser's ``decodeAudioData`` reads it, at about half a WAV's size.
    """
    import soundfile as sf

    n = min(instrumental.samples.shape[1], int(round(max_s * instrumental.sr)))
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(instrumental.samples[:, :n].T), instrumental.sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@dataclass(frozen=True)
class LinedUp:
    """A take with the lead-in and the latency cut off: its WAV and what was done, in words."""

    wav: bytes
    note: str


def take_from_component(value, *, max_s: float | None = None) -> LinedUp | None:
    """The take the component sent (its trigger value), lined up with the backing.

    ``value`` is ``{"wav": base64 WAV, "sample_rate", "lead_frames", "latency_s", "backing_played_s"}``
    (``None`` when no take arrived in this run). The WAV goes through the same checks as any recorder's
    (:func:`vsep_app.recorder.take_from_wav`); then its first ``lead_frames`` frames (before the backing
    started) and ``latency_s`` of it are cut off.

    Raises
    ------
    VsepError
        For anything that is not such a take, one over the length cap (refused before decoding), or a take
        with nothing left once lined up.
    """
    if value is None:
        return None
    max_s = max_take_s() if max_s is None else max_s
    not_a_take = VsepError("The recorder sent something that is not a recording; record it again.")
    if not isinstance(value, dict) or not isinstance(value.get("wav"), str):
        raise not_a_take
    text = value["wav"]
    if len(text) > max_text_chars(max_s):
        raise VsepError(
            f"The take is longer than this server's limit of {max_s:.0f} s for a recording over the "
            "backing; record a shorter one."
        )
    try:
        lead = int(value.get("lead_frames"))
        latency_s = float(value.get("latency_s"))
        played_s = float(value.get("backing_played_s", 0.0))
        wav = base64.b64decode(text, validate=True)
    except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
        raise not_a_take from exc
    if not (0.0 <= latency_s <= MAX_LATENCY_S and math.isfinite(played_s)):
        raise not_a_take
    take = recorder.take_from_wav(wav)
    sr = take.decoded.sr  # the asked rate, or the microphone's where the browser cannot change it (Firefox)
    if not 0 <= lead <= MAX_LEAD_S * sr:
        raise not_a_take
    latency = int(round(latency_s * sr))
    cut = lead + latency
    samples = take.decoded.samples[:, cut:]
    if samples.shape[1] == 0:
        raise VsepError(recorder.EMPTY_TAKE_MESSAGE)
    if not np.any(samples):
        raise VsepError(
            "The recording is pure silence: check that the right microphone is selected and not muted, "
            "then record again."
        )
    from vsep_core import audio

    lined_up = audio.wav_bytes(samples[0], sr)
    note = (
        f"Lined up with the backing: {1000 * lead / sr:.0f} ms recorded before it started and "
        f"{1000 * latency / sr:.0f} ms of latency (what the browser reports for its output and the "
        f"microphone) were cut from the start; {played_s:.1f} s of the backing played."
    )
    return LinedUp(wav=lined_up, note=note)


def draw(instrumental: Decoded | None, backing: bytes | None) -> tuple[LinedUp | None, bool]:
    """Draw the recorder over ``backing`` (FLAC, :func:`backing_flac`).

    Returns the session's take, lined up (``None`` before one), and whether it arrived in this run. A take that
    arrives replaces the kept one; a bad one is said in red and the kept take stays.
    """
    import streamlit as st

    from .escape import plain

    if instrumental is None or backing is None:
        st.info("Choose an instrumental above: it plays while you record.", icon=":material/headphones:")
        return st.session_state.get(KEPT), False
    max_s = max_take_s()
    backing_s = min(instrumental.duration_s, max_s)
    st.caption(
        f"{HEADPHONES_NOTE} The recording stops when the backing ends ({backing_s:.1f} s here) or when you press Stop."
    )
    result = _component()(
        key=KEY,
        data={
            "backing": base64.b64encode(backing).decode("ascii"),
            "backing_s": round(backing_s, 3),
            "max_s": max_s,
            "sample_rate": SAMPLE_RATE,
            "insecure_message": INSECURE_MESSAGE,
        },
        on_take_change=lambda: None,
    )
    try:
        arrived = take_from_component(result.take, max_s=max_s)
    except VsepError as exc:
        st.error(plain(exc), icon=":material/error:")
        arrived = None
    if arrived is not None:
        st.session_state[KEPT] = arrived
    return st.session_state.get(KEPT), arrived is not None
