"""Reading a take from the recorder (st.audio_input): what it is, empty/silent/too long, mixing it over an instrumental."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from vsep_app import recorder
from vsep_core.audio import Decoded
from vsep_core.errors import VsepError


def _wav(y: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="module")
def take_wav(tmp_path_factory) -> bytes:
    """A 4 s take as st.audio_input records a mono microphone at 48 kHz (speech when espeak-ng is here)."""
    folder = tmp_path_factory.mktemp("take")
    if shutil.which("espeak-ng") and shutil.which("sox"):
        raw, out = folder / "raw.wav", folder / "take.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-w",
                str(raw),
                "Hello, this is a four second take for the recorder test, "
                "la la la, and a few more words so that it lasts.",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(out), "trim", "0", "4"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return out.read_bytes()
    sr = 48000
    t = np.arange(4 * sr) / sr
    return _wav(0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2, sr)


def test_take_decodes_to_the_recorded_samples_and_says_what_it_is(take_wav):
    take = recorder.take_from_wav(take_wav)
    expected, sr = sf.read(io.BytesIO(take_wav), dtype="float32", always_2d=True)
    assert take.decoded.sr == sr == 48000
    assert take.decoded.channels == 1
    np.testing.assert_array_equal(take.decoded.samples, expected.T)
    assert take.duration_s == pytest.approx(len(expected) / sr) and take.duration_s > 3.0
    assert take.describe() == f"{take.duration_s:.1f} s, 48000 Hz, mono"  # the microphone's own rate and channels


def test_stereo_take_is_described_as_stereo():
    take = recorder.take_from_wav(_wav(0.1 * np.ones((22050, 2)), 44100))
    assert take.describe() == "0.5 s, 44100 Hz, stereo"


def test_no_take_yet():
    assert recorder.take_from_wav(None) is None


def test_empty_take_is_reported_plainly():
    with pytest.raises(VsepError, match="came back empty") as info:
        recorder.take_from_wav(_wav(np.zeros((0, 1)), 48000))
    assert "https://" in str(info.value) and "localhost" in str(info.value)


def test_silent_take_is_reported():
    with pytest.raises(VsepError, match="silence"):
        recorder.take_from_wav(_wav(np.zeros(48000), 48000))


def test_a_take_over_the_cap_is_refused_before_decoding(monkeypatch):
    too_long = _wav(0.1 * np.ones(int(8000 * (recorder.MAX_TAKE_S + 1))), 8000, "PCM_U8")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a take over the cap")

    monkeypatch.setattr(recorder.sf, "read", no_decoding)
    with pytest.raises(VsepError, match=f"limited to {recorder.MAX_TAKE_S / 60:.0f} minutes"):
        recorder.take_from_wav(too_long)


@pytest.mark.parametrize(
    "wav, message",
    [
        (b"RIFF this is not a wave file at all " * 4, "WAV"),
        (b"", "WAV"),
        (_wav(np.full(100, np.nan), 48000, "FLOAT"), "NaN"),
    ],
)
def test_bad_takes_are_messages(wav, message):
    with pytest.raises(VsepError, match=message):
        recorder.take_from_wav(wav)


def _decoded(y, sr, name="x") -> Decoded:
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    return Decoded(samples=y, sr=sr, name=name)


@pytest.mark.parametrize("level_db", [-12.0, 0.0, 6.0])
def test_mix_over_sets_the_vocal_level_and_sums(level_db):
    rng = np.random.default_rng(1)
    sr_v, sr_i = 44100, 22050
    vocal = _decoded(np.stack([rng.standard_normal(3 * sr_v) * 0.1] * 2), sr_v)  # stereo, other rate
    inst = _decoded(rng.standard_normal(5 * sr_i) * 0.05, sr_i)
    mixed = recorder.mix_over(vocal, inst, level_db)
    assert mixed["sr"] == sr_i
    n = len(mixed["mixture"])
    assert n == pytest.approx(3 * sr_i, abs=2)  # cut to the shorter (the take, resampled)
    np.testing.assert_allclose(mixed["mixture"], mixed["vocal"] + mixed["instrumental"], atol=1e-6)
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert 20 * np.log10(rms(mixed["vocal"]) / rms(mixed["instrumental"])) == pytest.approx(level_db, abs=0.01)
    assert np.max(np.abs(mixed["mixture"])) <= 0.99 + 1e-6


def test_mix_over_rejects_silence():
    with pytest.raises(VsepError, match="silent"):
        recorder.mix_over(_decoded(np.zeros(1000), 22050), _decoded(np.ones(1000), 22050), 0.0)


# --- st-audiorec, the opt-in recorder (VSEP_RECORDER=st-audiorec) ----------------------------


def _raw(wav: bytes, *, shuffle: bool = False) -> dict:
    """What st-audiorec's frontend sends: JSON of a Uint8Array, i.e. {"arr": {"0": 82, ...}}."""
    import json
    import random

    items = [(str(i), int(b)) for i, b in enumerate(wav)]
    if shuffle:
        random.Random(0).shuffle(items)
    return json.loads(json.dumps({"arr": dict(items)}))


def _packages_own_conversion(raw, monkeypatch) -> bytes:
    """st-audiorec's own Python wrapper (its per-byte loop) on ``raw``, its component stubbed to return it."""
    import st_audiorec
    import streamlit as st
    import streamlit.components.v1 as components

    monkeypatch.setattr(components, "declare_component", lambda name, path=None: lambda **kwargs: raw)

    class _NoSpinner:
        def __init__(self, *a, **k): ...
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(st, "spinner", _NoSpinner)
    return st_audiorec.st_audiorec()


def _short_wav(seconds: float = 1.0) -> bytes:
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([y, y], axis=1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_audiorec_conversion_equals_the_packages_own(monkeypatch):
    wav = _short_wav()
    raw = _raw(wav)
    assert recorder.raw_to_wav_bytes(raw) == _packages_own_conversion(raw, monkeypatch) == wav


def test_audiorec_conversion_orders_bytes_by_index():
    wav = _short_wav(0.2)
    assert recorder.raw_to_wav_bytes(_raw(wav, shuffle=True)) == wav


@pytest.mark.parametrize("raw", [None, ""])
def test_audiorec_no_take_yet(raw):
    assert recorder.raw_to_wav_bytes(raw) is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"nope": 1}, "not a recording"),
        ("text", "not a recording"),
        ({"arr": 5}, "not a recording"),
        ({"arr": {"0": 300}}, "not bytes"),
        ({"arr": {"0": -1}}, "not bytes"),
        ({"arr": {"0": "x"}}, "not a recording"),
        ({"arr": {"0": 1, "5": 2}}, "missing bytes"),
    ],
)
def test_audiorec_bad_values_are_messages(raw, message):
    with pytest.raises(VsepError, match=message):
        recorder.raw_to_wav_bytes(raw)


def test_audiorec_take_over_its_cap_is_refused():
    raw = {"arr": list(range(256)) * (recorder.MAX_AUDIOREC_BYTES // 256 + 1)}
    with pytest.raises(VsepError, match="limit"):
        recorder.raw_to_wav_bytes(raw)


def test_audiorec_empty_take_is_reported_plainly():
    empty = _short_wav(0.0)
    assert len(empty) == 44
    with pytest.raises(VsepError, match="empty"):
        recorder.take_from_wav(recorder.raw_to_wav_bytes(_raw(empty)))


def test_recorder_choice_from_the_environment(monkeypatch):
    monkeypatch.delenv("VSEP_RECORDER", raising=False)
    assert recorder.recorder_choice() == "audio_input"
    monkeypatch.setenv("VSEP_RECORDER", "st-audiorec")
    assert recorder.recorder_choice() == "st-audiorec"
    assert (recorder.audiorec_frontend_dir() / "index.html").exists()
    monkeypatch.setenv("VSEP_RECORDER", "other")
    with pytest.raises(VsepError, match="VSEP_RECORDER"):
        recorder.recorder_choice()


# --- the recorder that plays the backing (vsep_app.backing_recorder) -------------------------


def _component_value(y: np.ndarray, *, lead_frames: int, latency_s: float, sr: int = 48000, **more) -> dict:
    """What the component's JavaScript sends: a 16-bit mono WAV in base64 and how to line it up."""
    import base64

    return {
        "wav": base64.b64encode(_wav(y, sr)).decode(),
        "sample_rate": sr,
        "lead_frames": lead_frames,
        "latency_s": latency_s,
        "backing_played_s": 4.7,
        **more,
    }


def test_a_take_from_the_backing_recorder_starts_where_the_backing_started():
    from vsep_app import backing_recorder

    sr = 48000
    lead, latency_s = 5_000, 0.05  # 104 ms recorded before the backing's first sample, 50 ms of latency
    cut = lead + int(round(latency_s * sr))
    rng = np.random.default_rng(3)
    y = (rng.standard_normal(3 * sr) * 0.1).astype(np.float32)
    y[cut] = 0.9  # what was sung over the backing's first sample
    lined = backing_recorder.take_from_component(_component_value(y, lead_frames=lead, latency_s=latency_s), max_s=120)
    take = recorder.take_from_wav(lined.wav)  # the same checks as any recorder's take
    sent, _ = sf.read(io.BytesIO(_wav(y, sr)), dtype="float32")
    assert take.decoded.sr == sr and take.decoded.channels == 1
    np.testing.assert_allclose(take.decoded.samples[0], sent[cut:], atol=1 / 32768)
    assert int(np.argmax(take.decoded.samples[0])) == 0
    assert "104 ms recorded before it started and 50 ms of latency" in lined.note
    assert "4.7 s of the backing played" in lined.note


def test_no_take_from_the_backing_recorder_yet():
    from vsep_app import backing_recorder

    assert backing_recorder.take_from_component(None, max_s=120) is None


@pytest.mark.parametrize(
    "value",
    [
        "text",
        ["nope"],
        {"wav": None, "lead_frames": 0, "latency_s": 0.0},
        {"wav": 5, "lead_frames": 0, "latency_s": 0.0},
        {"wav": "not base64 !!", "lead_frames": 0, "latency_s": 0.0},
        {"lead_frames": "x"},
        {"lead_frames": -1},
        {"lead_frames": 10**9},
        {"lead_frames": None},
        {"latency_s": float("nan")},
        {"latency_s": 3.0},
        {"latency_s": -0.1},
        {"backing_played_s": float("inf")},
    ],
)
def test_what_is_not_a_take_from_the_backing_recorder_is_a_message(value):
    from vsep_app import backing_recorder

    if isinstance(value, dict) and "wav" not in value:  # a real take with one wrong field
        value = {**_component_value(0.1 * np.ones(48000), lead_frames=0, latency_s=0.0), **value}
    with pytest.raises(VsepError, match="not a recording"):
        backing_recorder.take_from_component(value, max_s=120)


def test_a_bad_wav_from_the_backing_recorder_gets_the_recorders_own_messages():
    from vsep_app import backing_recorder

    sr = 48000
    with pytest.raises(VsepError, match="silence"):
        backing_recorder.take_from_component(_component_value(np.zeros(sr), lead_frames=0, latency_s=0.0), max_s=120)
    with pytest.raises(VsepError, match="came back empty"):  # all of it was before the backing started
        backing_recorder.take_from_component(
            _component_value(0.1 * np.ones(4800), lead_frames=4800, latency_s=0.0), max_s=120
        )
    y = np.zeros(sr)
    y[:1000] = 0.5  # sound only before the backing started
    with pytest.raises(VsepError, match="silence"):
        backing_recorder.take_from_component(_component_value(y, lead_frames=2000, latency_s=0.0), max_s=120)


def test_a_take_from_the_backing_recorder_over_its_cap_is_refused_before_decoding(monkeypatch):
    from vsep_app import backing_recorder

    sr = backing_recorder.SAMPLE_RATE
    max_s = 2.0
    fits = _component_value(
        0.1 * np.ones(int((max_s + backing_recorder.MAX_LEAD_S) * sr)), lead_frames=0, latency_s=0.0
    )
    assert backing_recorder.take_from_component(fits, max_s=max_s) is not None
    too_long = _component_value(
        0.1 * np.ones(int((max_s + backing_recorder.MAX_LEAD_S) * sr) + 2), lead_frames=0, latency_s=0.0
    )

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a take over the cap")

    monkeypatch.setattr(backing_recorder.base64, "b64decode", no_decoding)
    with pytest.raises(VsepError, match="limit of 2 s"):
        backing_recorder.take_from_component(too_long, max_s=max_s)


def test_the_backing_take_fits_the_servers_message_cap():
    """A take of the longest length, as base64 with its lead-in, stays under ``server.maxWidgetStateSize`` (a
    browser message over it closes the connection); a smaller cap makes the takes shorter."""
    from streamlit import config

    from vsep_app import backing_recorder

    cap_mb = config.get_option("server.maxWidgetStateSize")
    assert backing_recorder.max_take_s() == backing_recorder.MAX_TAKE_S == recorder.MAX_BACKING_TAKE_S
    assert backing_recorder.max_text_chars(backing_recorder.max_take_s()) < 0.9 * cap_mb * 1e6
    try:
        config.set_option("server.maxWidgetStateSize", 5)
        assert backing_recorder.max_take_s() == 30.0
        assert backing_recorder.max_text_chars(30.0) < 0.9 * 5e6
    finally:
        config.set_option("server.maxWidgetStateSize", cap_mb)


def test_the_backing_played_is_the_instrumental_sample_for_sample():
    from vsep_app import backing_recorder

    sr = 44100
    rng = np.random.default_rng(5)
    inst = Decoded(samples=(rng.standard_normal((1, 3 * sr)) * 0.2).astype(np.float32), sr=sr, name="instrumental")
    flac = backing_recorder.backing_flac(inst, max_s=2.0)
    played, played_sr = sf.read(io.BytesIO(flac), dtype="float32")
    assert sf.info(io.BytesIO(flac)).format == "FLAC" and played_sr == sr
    assert len(played) == 2 * sr  # cut to the longest take
    np.testing.assert_allclose(played, inst.samples[0, : 2 * sr], atol=1 / 32768)
