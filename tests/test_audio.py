"""Decoding every common format, preparing pairs, and clear errors for bad input."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf

from vsep_core.audio import decode, prepare_pair, wav_bytes
from vsep_core.errors import VsepError
from vsep_core.settings import Settings

SR = 22050


def tone(seconds=1.0, sr=SR, freq=440.0, channels=1, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([y * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else y


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"),
                                         ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_decodes_common_formats(tmp_path, fmt, subtype):
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, tone(1.0, 44100), 44100, format=fmt, subtype=subtype)
    dec = decode(path)
    assert dec.sr == 44100 and dec.channels == 1
    assert abs(dec.duration_s - 1.0) < 0.06  # mp3 adds encoder padding
    assert 0.3 < np.max(np.abs(dec.samples)) < 0.7


@pytest.mark.usefixtures("require_ffmpeg")  # fails, saying so, when ffmpeg is missing
def test_decodes_m4a_through_ffmpeg(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1.0, 44100, channels=2), 44100)
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    dec = decode(m4a.read_bytes(), name="song.m4a")
    assert dec.sr == 44100 and dec.channels == 2 and abs(dec.duration_s - 1.0) < 0.1


def test_prepare_mixes_to_mono_resamples_and_cuts(tmp_path):
    stereo = tone(6.0, 44100, channels=2)
    sf.write(tmp_path / "mix.wav", stereo, 44100, subtype="FLOAT")
    sf.write(tmp_path / "voc.wav", stereo[:, 0], 44100, subtype="FLOAT")
    pair = prepare_pair(tmp_path / "mix.wav", vocal=tmp_path / "voc.wav", settings=Settings(level="as_is"))
    assert pair.sr == SR and pair.n_samples == int(4.7 * SR) == 103_635
    # mono = mean of the channels (amplitudes 0.25 and 0.5 → 0.375)
    assert np.max(np.abs(pair.mixture)) == pytest.approx(0.375, rel=1e-3)
    seg = prepare_pair(tmp_path / "mix.wav", vocal=tmp_path / "voc.wav",
                       settings=Settings(start_s=2.0, duration_s=1.5))
    assert seg.n_samples == pytest.approx(1.5 * SR, abs=2)
    whole = prepare_pair(tmp_path / "mix.wav", vocal=tmp_path / "voc.wav", settings=Settings(duration_s=None))
    assert whole.n_samples == 6 * SR


def test_level_modes(tmp_path):
    mix = tone(3.0, amp=0.8)
    voc = tone(3.0, amp=0.2, freq=660)
    kw = dict(vocal=wav_bytes(voc, SR, subtype="FLOAT"))
    mb = wav_bytes(mix, SR, subtype="FLOAT")
    ind = prepare_pair(mb, **kw, settings=Settings())
    assert np.max(np.abs(ind.mixture)) == pytest.approx(1.0, abs=1e-6)
    assert np.max(np.abs(ind.vocal)) == pytest.approx(1.0, abs=1e-6)
    com = prepare_pair(mb, **kw, settings=Settings(level="common"))
    assert np.max(np.abs(com.mixture)) == pytest.approx(1.0, abs=1e-6)
    assert np.max(np.abs(com.vocal)) == pytest.approx(0.25, rel=1e-4)  # relative level kept
    raw = prepare_pair(mb, **kw, settings=Settings(level="as_is"))
    assert np.max(np.abs(raw.mixture)) == pytest.approx(0.8, rel=1e-4)


def test_instrumental_mode_subtracts_before_normalising():
    voc, inst = tone(3.0, amp=0.3, freq=660), tone(3.0, amp=0.5, freq=110)
    pair = prepare_pair(wav_bytes(voc + inst, SR, subtype="FLOAT"),
                        instrumental=wav_bytes(inst, SR, subtype="FLOAT"), settings=Settings(level="as_is"))
    np.testing.assert_allclose(pair.vocal, voc[: pair.n_samples], atol=1e-6)
    assert pair.info["target_mode"] == "mixture_minus_instrumental"


@pytest.mark.parametrize("make,message", [
    (lambda: b"", "empty"),
    (lambda: b"this is not audio at all" * 100, "not audio"),
    (lambda: wav_bytes(np.zeros(SR * 3), SR), "silent"),
    (lambda: wav_bytes(np.full(SR * 3, np.nan), SR, subtype="FLOAT"), "NaN"),
])
def test_bad_input_gives_clear_errors(make, message):
    good = wav_bytes(tone(3.0), SR)
    with pytest.raises(VsepError, match=message):
        prepare_pair(good, vocal=make(), settings=Settings())


def test_shorter_than_one_frame():
    short = wav_bytes(tone(0.05), SR)
    with pytest.raises(VsepError, match="at least one frame, 2048 samples"):
        prepare_pair(short, vocal=short)


def test_pair_length_mismatch_says_which_is_longer():
    with pytest.raises(VsepError, match=r"vocal \(3\.500 s\) is longer than the mixture \(3\.000 s\) by 0\.500 s"):
        prepare_pair(wav_bytes(tone(3.0), SR), vocal=wav_bytes(tone(3.5), SR))
    # Within one frame is accepted and trimmed to the shorter.
    pair = prepare_pair(wav_bytes(tone(3.0), SR), vocal=wav_bytes(tone(3.05), SR), settings=Settings(duration_s=None))
    assert pair.n_samples == 3 * SR


def test_target_must_be_exactly_one(tmp_path):
    good = wav_bytes(tone(3.0), SR)
    with pytest.raises(VsepError, match="exactly one"):
        prepare_pair(good)
    with pytest.raises(VsepError, match="exactly one"):
        prepare_pair(good, vocal=good, instrumental=good)
    with pytest.raises(VsepError, match="does not exist"):
        prepare_pair(tmp_path / "missing.wav", vocal=good)


def test_huge_files_are_refused_before_decoding():
    # 21 minutes at 1 kHz: a small file that claims a long song.
    long = wav_bytes(np.zeros(21 * 60 * 1000, dtype=np.float32), 1000)
    with pytest.raises(VsepError, match="limit is 20 minutes"):
        decode(long, name="mixture")


def test_segment_past_the_end():
    with pytest.raises(VsepError, match="cannot start at"):
        prepare_pair(wav_bytes(tone(3.0), SR), vocal=wav_bytes(tone(3.0), SR), settings=Settings(start_s=10.0))


def test_settings_validation_messages():
    with pytest.raises(VsepError, match="learning_rate"):
        Settings(learning_rate=-1)
    with pytest.raises(VsepError, match="iterations"):
        Settings(iterations=0)
    with pytest.raises(VsepError, match="level must be one of"):
        Settings(level="loud")
    with pytest.raises(VsepError, match="Unknown setting"):
        Settings().replace(speed=3)
    assert Settings(n_windows=50).hop_for(103_635) * 49 <= 103_635
    assert 1 + 103_635 // Settings(n_windows=50).hop_for(103_635) == 50


@pytest.mark.parametrize("n", [0, 1, 7, 48_001])
def test_pcm16_wav_is_byte_for_byte_what_libsndfile_writes(n, tmp_path):
    """Our compiled encoder replaces soundfile's on the hot path; the files must not change."""
    import io

    from vsep_core.audio import write_wav

    rng = np.random.default_rng(n)
    y = rng.uniform(-1.3, 1.3, n).astype(np.float32)
    if n > 10:  # the awkward cases: full scale, just under, halfway between steps, tiny, huge
        y[:13] = [1.0, -1.0, 0.99999994, -0.99999994, -110.0000076 / 32768, 2.5 / 32768, 1e-40, 3e38, -3e38, 0.0,
                  np.nan, np.inf, -np.inf]
    reference = io.BytesIO()
    sf.write(reference, y, SR, format="WAV", subtype="PCM_16")
    assert wav_bytes(y, SR) == reference.getvalue()
    assert write_wav(tmp_path / "x.wav", y, SR).read_bytes() == reference.getvalue()
