"""Decoding every common format, preparing pairs, and clear errors for bad input."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize(
    "fmt,subtype",
    [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")],
)
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
    seg = prepare_pair(tmp_path / "mix.wav", vocal=tmp_path / "voc.wav", settings=Settings(start_s=2.0, duration_s=1.5))
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
    pair = prepare_pair(
        wav_bytes(voc + inst, SR, subtype="FLOAT"),
        instrumental=wav_bytes(inst, SR, subtype="FLOAT"),
        settings=Settings(level="as_is"),
    )
    np.testing.assert_allclose(pair.vocal, voc[: pair.n_samples], atol=1e-6)
    assert pair.info["target_mode"] == "mixture_minus_instrumental"


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: b"", "empty"),
        (lambda: b"this is not audio at all" * 100, "not audio"),
        (lambda: wav_bytes(np.zeros(SR * 3), SR), "silent"),
        (lambda: wav_bytes(np.full(SR * 3, np.nan), SR, subtype="FLOAT"), "NaN"),
    ],
)
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
    pair = prepare_pair(
        wav_bytes(tone(3.0), SR), vocal=wav_bytes(tone(3.05, freq=330.0), SR), settings=Settings(duration_s=None)
    )
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
    # 21 minutes at 8 kHz, 8-bit: a small file that holds a long song.
    long = wav_bytes(np.zeros(21 * 60 * 8000, dtype=np.float32), 8000, subtype="PCM_U8")
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
        y[:13] = [
            1.0,
            -1.0,
            0.99999994,
            -0.99999994,
            -110.0000076 / 32768,
            2.5 / 32768,
            1e-40,
            3e38,
            -3e38,
            0.0,
            np.nan,
            np.inf,
            -np.inf,
        ]
    reference = io.BytesIO()
    sf.write(reference, y, SR, format="WAV", subtype="PCM_16")
    assert wav_bytes(y, SR) == reference.getvalue()
    assert write_wav(tmp_path / "x.wav", y, SR).read_bytes() == reference.getvalue()


# --- decoding only the analysed segment: the same samples as decoding everything ----------------


def _encode(tmp_path, y, sr, ext, stem="in"):
    """Write ``y`` [shape=(n, channels)] as ``ext`` (libsndfile, or ffmpeg for m4a/opus)."""
    path = tmp_path / f"{stem}_{y.shape[1]}.{ext}"
    if ext in ("m4a", "opus"):
        wav = tmp_path / f"src_{y.shape[1]}.wav"
        sf.write(wav, y, sr, subtype="FLOAT")
        codec = ["-c:a", "aac"] if ext == "m4a" else ["-c:a", "libopus"]
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *codec, str(path)], check=True)
    else:
        fmt, subtype = {
            "wav": ("WAV", "PCM_16"),
            "flac": ("FLAC", "PCM_24"),
            "ogg": ("OGG", "VORBIS"),
            "mp3": ("MP3", "MPEG_LAYER_III"),
            "aiff": ("AIFF", "PCM_16"),
        }[ext]
        sf.write(path, y, sr, format=fmt, subtype=subtype)
    return path


def _signal(seconds, sr, channels, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return np.stack(
        [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(len(t)) for c in range(channels)],
        axis=1,
    )


@pytest.mark.parametrize(
    "ext,channels,sr",
    [
        ("wav", 1, 44100),
        ("wav", 8, 48000),
        ("flac", 2, 44100),
        ("ogg", 2, 44100),
        ("mp3", 2, 44100),
        ("aiff", 6, 32000),
        ("m4a", 2, 44100),
        ("opus", 2, 48000),
    ],
)
def test_decoding_a_segment_gives_the_samples_of_the_whole_decode(tmp_path, ext, channels, sr):
    """prepare_pair decodes only the segment (mono, in blocks); the pair is bit-identical to cutting the whole file."""
    from vsep_core.audio import Decoded, probe

    mix = _encode(tmp_path, _signal(7.0, sr, channels, seed=1), sr, ext)
    voc = _encode(tmp_path, _signal(7.0, sr, 1, seed=2) * 0.5, sr, "wav", stem="vocal")
    whole_mix, whole_voc = decode(mix, name="mixture"), decode(voc, name="vocal")
    if probe(mix).decoder == "libsndfile":  # the whole decode is libsndfile's one read
        ref, ref_sr = sf.read(mix, dtype="float32", always_2d=True)
        assert ref_sr == whole_mix.sr and np.array_equal(whole_mix.samples, ref.T)
    else:  # ffmpeg: the streamed decode is ffmpeg's whole output
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(mix), "-map", "0:a:0", "-f", "f32le", "-"],
            capture_output=True,
            check=True,
        ).stdout
        ref = np.frombuffer(raw, dtype="<f4").reshape(-1, whole_mix.channels).T
        assert np.array_equal(whole_mix.samples, ref)
    for settings in (
        Settings(),
        Settings(start_s=1.3, duration_s=2.0),
        Settings(start_s=0.5, duration_s=None),
        Settings(duration_s=None, level="common"),
    ):
        got = prepare_pair(mix, vocal=voc, settings=settings)
        expected = prepare_pair(
            Decoded(whole_mix.samples, whole_mix.sr, "mixture"),
            vocal=Decoded(whole_voc.samples, whole_voc.sr, "vocal"),
            settings=settings,
        )
        assert np.array_equal(got.mixture, expected.mixture) and np.array_equal(got.vocal, expected.vocal)
        assert got.info["source_durations_s"]["mixture"] == pytest.approx(whole_mix.duration_s, abs=0.05)


def test_decode_parts_and_mono():
    y = _signal(3.0, 44100, 3)
    data = wav_bytes(y.T[0], 44100, subtype="FLOAT")
    whole = decode(data)
    part = decode(data, start_s=1.0, duration_s=0.5)
    assert part.samples.shape == (1, 22050) and np.array_equal(part.samples, whole.samples[:, 44100:66150])
    assert part.source_duration_s == pytest.approx(3.0) and part.start_s == 1.0
    with pytest.raises(VsepError, match="cannot start at"):
        decode(data, start_s=5.0)


def test_probe_reads_the_header_and_names_the_limits(monkeypatch):
    from vsep_core.audio import probe

    info = probe(wav_bytes(tone(2.0), SR), "vocal")
    assert (info.sr, info.channels, info.frames, info.container, info.decoder) == (SR, 1, 2 * SR, "WAV", "libsndfile")
    assert info.duration_s == pytest.approx(2.0)
    with pytest.raises(VsepError, match=r"limit is 1 s \(VSEP_MAX_DURATION_S\)"):
        probe(wav_bytes(tone(2.0), SR), "vocal", max_duration_s=1.0)
    monkeypatch.setenv("VSEP_MAX_DURATION_S", "1.5")
    with pytest.raises(VsepError, match="limit is 1.5 s"):
        decode(wav_bytes(tone(2.0), SR))
    monkeypatch.setenv("VSEP_MAX_DURATION_S", "lots")
    with pytest.raises(VsepError, match="VSEP_MAX_DURATION_S='lots' is not a number"):
        decode(wav_bytes(tone(2.0), SR))


def test_a_header_that_understates_the_length_cannot_defeat_the_limit(monkeypatch):
    """Samples are counted as they are decoded: decoding stops at the limit, whatever the header said."""
    from vsep_core import audio
    from vsep_core import decode as decoding

    data = wav_bytes(tone(3.0), SR)
    real_probe = decoding._probe_soundfile

    def lying_probe(src):  # a header that says 0.5 s
        info = real_probe(src)
        return audio.AudioInfo(0.5, info.sr, info.channels, SR // 2, info.container, info.codec, info.decoder)

    monkeypatch.setattr(decoding, "_probe_soundfile", lying_probe)
    with pytest.raises(VsepError, match=r"lasts more than \d\.\d s; the limit is 2 s"):
        decode(data, max_duration_s=2.0)


def test_truncated_wav_is_reported_as_damaged():
    data = wav_bytes(tone(3.0), SR)
    with pytest.raises(VsepError, match=r"damaged \(truncated\).*promises 3.00 s.*only 1.50 s"):
        prepare_pair(wav_bytes(tone(3.0, freq=300), SR), vocal=data[: 44 + 2 * SR * 3 // 2])


def test_mixture_identical_to_the_vocal_is_refused():
    data = wav_bytes(tone(3.0), SR)
    with pytest.raises(VsepError, match="same as the mixture: there is nothing to separate"):
        prepare_pair(data, vocal=data)
    with pytest.raises(VsepError, match="The instrumental is the mixture itself"):
        prepare_pair(data, instrumental=data)


def test_a_whole_song_analysis_over_the_memory_budget_is_refused(monkeypatch):
    from vsep_core.audio import check_workload

    check_workload(60.0, Settings(), max_segment_s=60.0)
    with pytest.raises(VsepError, match=r"limit is 1 minutes at the default hop 1040 \(VSEP_MAX_SEGMENT_S\)"):
        check_workload(61.0, Settings(), max_segment_s=60.0)
    with pytest.raises(VsepError, match="hop 260"):  # a quarter of the hop: four times the work
        check_workload(20.0, Settings(hop_length=260), max_segment_s=60.0)
    monkeypatch.setenv("VSEP_MAX_SEGMENT_S", "2")
    with pytest.raises(VsepError, match="VSEP_MAX_SEGMENT_S"):
        prepare_pair(
            wav_bytes(tone(3.0), SR), vocal=wav_bytes(tone(3.0, freq=300), SR), settings=Settings(duration_s=None)
        )


@pytest.mark.parametrize("orig_sr,n", [(44100, 103_635), (48000, 48_001), (8000, 777), (192000, 100_000), (11025, 5)])
def test_resampling_is_librosas_soxr_hq(orig_sr, n):
    import librosa

    from vsep_core.prepare import _resampled

    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    expected = librosa.resample(y, orig_sr=orig_sr, target_sr=SR, res_type="soxr_hq")
    got = _resampled(y, orig_sr, Settings())
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_ffmpeg_gets_one_private_file_removed_also_after_errors(tmp_path, monkeypatch):
    """Each ffmpeg call sees only ``input`` in a fresh folder of mode 0700, gone afterwards, refused or not."""
    import tempfile

    from vsep_core import decode as decoding

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    modes = []
    real_enter = decoding._PrivateCopy.__enter__

    def enter(self):
        path = real_enter(self)
        modes.append((os.stat(os.path.dirname(path)).st_mode & 0o777, sorted(os.listdir(os.path.dirname(path)))))
        return path

    monkeypatch.setattr(decoding._PrivateCopy, "__enter__", enter)
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1.0, 44100, channels=2), 44100)
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{m4a}\n#EXT-X-ENDLIST\n".encode()
    before = sorted(os.listdir(tmp_path))
    assert decode(m4a.read_bytes(), name="song.m4a").channels == 2
    with pytest.raises(VsepError, match="not audio"):
        decode(playlist, name="playlist.m4a")
    assert modes and all(mode == 0o700 for mode, _ in modes)
    assert all(files[0] == "input" for _, files in modes)
    assert sorted(os.listdir(tmp_path)) == before


def test_keeping_every_runs_audio_lowers_the_workload_limit():
    from vsep_core.audio import check_workload

    check_workload(5 * 60, Settings())
    with pytest.raises(VsepError, match=r"limit is 4 minutes .* with every run's audio kept"):
        check_workload(5 * 60, Settings(), keep_audio=True)
    with pytest.raises(VsepError, match="audio kept"):
        prepare_pair(
            wav_bytes(tone(3.0), SR),
            vocal=wav_bytes(tone(3.0, freq=300), SR),
            settings=Settings(duration_s=None),
            max_segment_s=3.0,
            keep_audio=True,
        )
