"""Audio players: ``st.audio`` with a content-safe media URL, and the A/B player (switch, keep the position)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from . import state
from .escape import plain
from .limits import AB_MAX_S


def audio_player(
    label: str, data, *, sample_rate: int | None = None, fmt: str = "audio/wav", content_digest: str | None = None
) -> None:
    st.markdown(f"**{plain(label)}**")
    play(data, fmt, sample_rate=sample_rate, content_digest=content_digest)


def play(
    data, fmt: str = "audio/wav", *, sample_rate: int | None = None, content_digest: str | None = None, where=None
) -> None:
    """``st.audio`` whose media URL stands for the whole content, never for another session's file.

    Streamlit names a media file by a hash of its length, its MIME type and, above 1 MiB, only three 64 KiB
    samples of its bytes (head, middle, tail): two different files that agree there got one URL, and one
    visitor's player played another visitor's audio. The MIME type given here carries the SHA-256 of the
    whole content as a parameter (``audio/wav; content=…``, a valid MIME type that browsers play as
    ``audio/wav``), so files that differ anywhere get different URLs. ``content_digest`` is that digest
    when already known (a :class:`~vsep_app.state.Source` keeps its files'); a signal (array) is written
    as a 16-bit WAV first, peak-normalised as Streamlit would.
    """
    from vsep_core import audio

    if not isinstance(data, (bytes, bytearray)):
        if sample_rate is None:
            raise ValueError("a signal needs its sample rate")
        data = audio.wav_bytes(audio.peak_normalise(np.asarray(data, dtype=np.float32)), int(sample_rate))
        fmt, content_digest = "audio/wav", None
    digest = content_digest or state.digest(bytes(data))
    (where or st).audio(bytes(data), format=f"{fmt}; content={digest}")


def mime_for(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else "wav"
    return {
        "mp3": "audio/mpeg",
        "ogg": "audio/ogg",
        "flac": "audio/flac",
        "m4a": "audio/mp4",
        "aac": "audio/aac",
        "opus": "audio/ogg",
        "aiff": "audio/aiff",
        "aif": "audio/aiff",
    }.get(ext, "audio/wav")


#: One player, several sources: switching keeps the play position (and playing or paused), for the A/B player
#: and the listening test. Plain JavaScript, inserted into their pages.
SWITCH_KEEPING_PLACE_JS = """function switchKeepingPlace(player, url) {
  const t = player.currentTime, playing = !player.paused;
  player.src = url;
  player.addEventListener("loadedmetadata", function once() {
    player.removeEventListener("loadedmetadata", once);
    player.currentTime = Math.min(t, player.duration || t);
    if (playing) player.play();
  });
}"""

_AB_HTML = """<div style="font-family:sans-serif;font-size:14px">
<audio id="ab" controls preload="auto" style="width:100%"></audio>
<div style="margin-top:6px;display:flex;flex-wrap:wrap;gap:8px;align-items:center">
<button id="a" style="padding:6px 16px;border-radius:6px;border:1px solid #999;cursor:pointer">A: {label_a}</button>
<button id="b" style="padding:6px 16px;border-radius:6px;border:1px solid #999;cursor:pointer">B: {label_b}</button>
<span id="now" style="color:#555"></span></div></div>
<script>
const src = {{a: "data:audio/wav;base64,{data_a}", b: "data:audio/wav;base64,{data_b}"}};
const names = {{a: "A", b: "B"}};
const player = document.getElementById("ab");
{switch_js}
function pick(which) {{
  switchKeepingPlace(player, src[which]);
  for (const k of ["a", "b"]) document.getElementById(k).style.background = k === which ? "#ffe0e0" : "";
  document.getElementById("now").textContent = "Playing " + names[which] + " (the position is kept when you switch)";
}}
document.getElementById("a").onclick = () => pick("a");
document.getElementById("b").onclick = () => pick("b");
pick("a");
</script>"""


def _wav(choice) -> bytes:
    return choice() if callable(choice) else choice


def ab_player(choices: dict, duration_s: float, key: str = "ab") -> None:
    """Pick any two signals (label → WAV bytes, or a callable that makes them: only the two picked are made) and
    switch between them at the same position."""
    import base64
    import html as html_lib

    if duration_s > AB_MAX_S:
        st.caption(
            f"The A/B player is offered for segments up to {AB_MAX_S:.0f} s (both files travel inside the "
            "page); use the players below."
        )
        return
    labels = list(choices)
    c1, c2 = st.columns(2)
    a = c1.selectbox("A", labels, index=0, key=f"{key}_a")
    b = c2.selectbox("B", labels, index=min(1, len(labels) - 1), key=f"{key}_b")
    # Our own markup (labels escaped, no visitor text): st.iframe runs its script in a frame.
    st.iframe(
        _AB_HTML.format(
            switch_js=SWITCH_KEEPING_PLACE_JS,
            label_a=html_lib.escape(a),
            label_b=html_lib.escape(b),
            data_a=base64.b64encode(_wav(choices[a])).decode(),
            data_b=base64.b64encode(_wav(choices[b])).decode(),
        ),
        height="content",
    )  # as tall as its content: the buttons wrap on a phone, never cut
