"""The fast st-audiorec conversion, empty-take detection and mixing a take over an instrumental."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from vsep_app import recorder
from vsep_core.audio import Decoded
from vsep_core.errors import VsepError


def _raw(wav: bytes, *, shuffle: bool = False) -> dict:
    """What the component's frontend sends: JSON of a Uint8Array, i.e. {"arr": {"0": 82, ...}}."""
    items = [(str(i), int(b)) for i, b in enumerate(wav)]
    if shuffle:
        random.Random(0).shuffle(items)
    return json.loads(json.dumps({"arr": dict(items)}))


@pytest.fixture(scope="module")
def take_wav(tmp_path_factory) -> bytes:
    """A 4 s take as the browser records it: 44.1 kHz, stereo, 16-bit WAV (speech when espeak-ng is here)."""
    folder = tmp_path_factory.mktemp("take")
    if shutil.which("espeak-ng") and shutil.which("sox"):
        raw, out = folder / "raw.wav", folder / "take.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), "Hello, this is a four second take for the recorder test, "
                        "la la la, and a few more words so that it lasts."], check=True, capture_output=True, timeout=60)
        subprocess.run(["sox", str(raw), "-r", "44100", "-c", "2", "-b", "16", str(out), "trim", "0", "4"],
                       check=True, capture_output=True, timeout=60)
        return out.read_bytes()
    sr = 44100
    t = np.arange(4 * sr) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    buf = io.BytesIO()
    sf.write(buf, np.stack([y, y], axis=1).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _component_conversion(raw, monkeypatch) -> bytes:
    """Run st-audiorec's own Python wrapper (its per-byte loop) on ``raw``."""
    import st_audiorec
    import streamlit as st
    import streamlit.components.v1 as components

    monkeypatch.setattr(components, "declare_component", lambda name, path=None: (lambda **kwargs: raw))

    class _NoSpinner:
        def __init__(self, *a, **k): ...
        def __enter__(self): return self
        def __exit__(self, *exc): return False

    monkeypatch.setattr(st, "spinner", _NoSpinner)
    return st_audiorec.st_audiorec()


def test_fast_conversion_equals_the_components_own(take_wav, monkeypatch):
    raw = _raw(take_wav)
    t0 = time.perf_counter()
    slow = _component_conversion(raw, monkeypatch)
    t_slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = recorder.raw_to_wav_bytes(raw)
    t_fast = time.perf_counter() - t0
    assert fast == slow == take_wav
    assert len(fast) > 600_000  # a 4 s stereo 44.1 kHz take, as the browser sends it
    # The point of the exercise: the per-byte loop takes seconds, numpy milliseconds.
    assert t_fast * 5 < t_slow, f"numpy {t_fast:.3f} s vs the component's loop {t_slow:.3f} s"


def test_fast_conversion_orders_bytes_by_index(take_wav):
    assert recorder.raw_to_wav_bytes(_raw(take_wav[:5000], shuffle=True)) == take_wav[:5000]


def test_take_decodes_to_the_recorded_samples(take_wav):
    take = recorder.take_from_raw(_raw(take_wav))
    expected, sr = sf.read(io.BytesIO(take_wav), dtype="float32", always_2d=True)
    assert take.decoded.sr == sr == 44100
    assert take.decoded.channels == 2
    np.testing.assert_array_equal(take.decoded.samples, expected.T)
    assert take.duration_s == pytest.approx(len(expected) / sr)
    assert take.duration_s > 3.0


@pytest.mark.parametrize("raw", [None, ""])
def test_no_take_yet(raw):
    assert recorder.raw_to_wav_bytes(raw) is None
    assert recorder.take_from_raw(raw) is None


def _empty_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((0, 2), dtype=np.float32), 44100, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_empty_take_is_reported_plainly():
    empty = _empty_wav()
    assert len(empty) == recorder.EMPTY_WAV_BYTES == 44
    assert recorder.is_empty_take(empty)
    with pytest.raises(VsepError, match="came back empty") as info:
        recorder.take_from_raw(_raw(empty))
    assert "https://" in str(info.value) and "localhost" in str(info.value)


def test_silent_take_is_reported():
    buf = io.BytesIO()
    sf.write(buf, np.zeros((44100, 2), dtype=np.float32), 44100, format="WAV", subtype="PCM_16")
    assert not recorder.is_empty_take(buf.getvalue())
    with pytest.raises(VsepError, match="silence"):
        recorder.take_from_raw(_raw(buf.getvalue()))


@pytest.mark.parametrize("raw, message", [
    ({"arr": {"0": 300, "1": 2}}, "not bytes"),
    ({"arr": {"0": 1, "5": 2}}, "missing bytes"),
    ({"nope": 1}, "not a recording"),
    ("garbage", "not a recording"),
    ({"arr": {str(i): b for i, b in enumerate(b"RIFF this is not a wave file at all " * 4)}}, "WAV"),
])
def test_bad_component_values_are_messages(raw, message):
    with pytest.raises(VsepError, match=message):
        recorder.take_from_raw(raw)


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
