"""The Load page's recorders (AppTest): the one that plays the backing while it records, and Streamlit's own
folded away beside it; which take is mixed. The recording itself runs in a browser: tests/test_browser_record.py."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest

from vsep_app import backing_recorder, recorder, sample

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _record_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.radio(key="load_mode").set_value("Record a vocal").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _voice(seconds: float, sr: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def _wav(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_the_backing_recorder_plays_the_chosen_instrumental_and_asks_for_headphones():
    at = _record_page()
    (component,) = at.get("bidi_component")
    assert component.proto.component_name == "vsep_backing_recorder"
    data = json.loads(component.proto.json)
    chosen = at.selectbox(key="rec_sample").value
    played, sr = sf.read(io.BytesIO(base64.b64decode(data["backing"])), dtype="float32")
    expected, expected_sr = sf.read(io.BytesIO(chosen.read("instrumental")), dtype="float32")
    assert sr == expected_sr and len(played) == len(expected)
    np.testing.assert_allclose(played, expected, atol=1 / 32768)  # what is heard is what the take is mixed over
    assert data["backing_s"] == round(len(expected) / sr, 3) and data["max_s"] == backing_recorder.max_take_s()
    assert data["sample_rate"] == backing_recorder.SAMPLE_RATE
    words = " ".join(c.value for c in at.caption)
    assert "Wear headphones" in words and "loudspeaker" in words
    # Streamlit's own recorder is still there, folded away, for a take without the backing.
    (plain,) = [e for e in at.expander if e.label == "Or record without the backing"]
    assert plain.get("audio_input")

    # Another sample: the recorder gets its instrumental.
    ballad = next(p for p in sample.pairs() if p.title.startswith("Ballad"))
    at.selectbox(key="rec_sample").set_value(ballad).run()
    (component,) = at.get("bidi_component")
    assert json.loads(component.proto.json)["backing_s"] == 10.0


def test_without_an_instrumental_the_page_asks_for_one_first():
    at = _record_page()
    at.radio(key="rec_backing").set_value("Upload an instrumental").run()
    assert not at.exception
    assert not at.get("bidi_component")
    assert any("Choose an instrumental above: it plays while you record" in i.value for i in at.info)


def test_a_take_over_the_backing_is_mixed_and_a_newer_plain_take_replaces_it():
    at = _record_page()
    sr = 48000
    # As the component's take arrives (tests/test_recorder.py checks the lining up), kept in the session.
    lined = backing_recorder.take_from_component(
        {
            "wav": base64.b64encode(_wav(_voice(3.2, sr), sr)).decode(),
            "lead_frames": 4800,
            "latency_s": 0.02,
            "backing_played_s": 3.1,
        },
        max_s=backing_recorder.max_take_s(),
    )
    at.session_state[backing_recorder.KEPT] = lined
    at.session_state[recorder.TAKE_FROM] = "backing"
    at.run()
    assert not at.exception
    assert any("Got a take: 3.1 s, 48000 Hz, mono" in s.value for s in at.success), [s.value for s in at.success]
    assert any("Lined up with the backing: 100 ms recorded before it started" in c.value for c in at.caption)
    at.button(key="use_take").click().run()
    assert not at.exception
    assert any(h.value.startswith("Loaded: Your recording over") for h in at.subheader)
    source = at.session_state["vsep_source"]
    assert source.origin == "recording"
    vocal, vocal_sr = sf.read(io.BytesIO(source.other), dtype="float32")
    assert abs(len(vocal) / vocal_sr - (3.2 - 0.1 - 0.02)) < 1e-3  # the take, lead-in and latency cut off

    # A take from the plain recorder afterwards is the newer one: it is the take shown.
    at.radio(key="load_mode").set_value("Record a vocal").run()
    at.audio_input(key="recorder").set_value(("take.wav", _wav(_voice(2.5, sr), sr), "audio/wav")).run()
    assert not at.exception
    assert any("Got a take: 2.5 s, 48000 Hz, mono" in s.value for s in at.success), [s.value for s in at.success]
