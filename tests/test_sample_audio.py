"""Tests for the bundled, self-synthesised sample audio in ``sample_audio/``.

They check the files on disk (format, lengths, mixture == vocal + instrumental),
that ``sample_audio/generate.py`` reproduces them byte for byte, and that the
synthesised material behaves like what it pretends to be: the vocal is pitched,
mostly voiced, has vibrato and formant-band energy; the instrumental has
regular onsets.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from scipy.ndimage import median_filter

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_audio"
SR = 22050
DEFAULT_FOLDER = "sung_vowels_pop"
DEFAULT_SAMPLES = 103_635  # 4.7 s at 22050 Hz
ROLES = ("vocal", "instrumental", "mixture")
STEMS = ("drums", "bass", "chords")  # the instrument stems; vocal + these = the mixture
HOP = 256


def load_generator():
    """Import ``sample_audio/generate.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("sample_audio_generate", SAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict:
    with open(SAMPLES / "pairs.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def audio(manifest) -> dict:
    """``{folder: {role: float64 array}}`` for every pair in pairs.json (stems by their names too)."""
    out = {}
    for pair in manifest["pairs"]:
        out[pair["folder"]] = {role: sf.read(SAMPLES / pair["files"][role], dtype="float64")[0] for role in ROLES}
        out[pair["folder"]].update({stem: sf.read(SAMPLES / pair["stems"][stem], dtype="float64")[0] for stem in STEMS})
    return out


def pcm(x: np.ndarray) -> np.ndarray:
    """The 16-bit integers a file read as float64 holds (soundfile scales PCM_16 by 1/32768, exactly)."""
    ints = np.round(x * 32768.0)
    assert np.array_equal(ints / 32768.0, x)  # really 16-bit samples, nothing lost
    return ints.astype(np.int64)


@pytest.fixture(scope="module")
def default_pitch(audio):
    """pYIN pitch track of the default pair's vocal (computed once)."""
    f0, voiced, _ = librosa.pyin(
        audio[DEFAULT_FOLDER]["vocal"], fmin=80, fmax=1000, sr=SR, frame_length=2048, hop_length=HOP
    )
    return f0, voiced


def vibrato_analysis(f0: np.ndarray, voiced: np.ndarray, frame_rate: float) -> dict:
    """Rate (Hz), regularity and extent (cents) of the pitch modulation in voiced runs.

    Within each voiced run of at least 0.5 s, the pitch in cents minus its
    running median over about one vibrato period leaves the vibrato (the
    median follows note changes but not the oscillation).  The normalised
    autocorrelation of that residual, pooled over runs, is searched for its
    peak at lags of 1/8 s .. 1/4 s (4 - 8 Hz).
    """
    cents = 1200.0 * np.log2(np.where(voiced, f0, 1.0) / 440.0)
    width = int(round(frame_rate / 5.5)) | 1
    max_lag = int(frame_rate / 3)
    acf = np.zeros(max_lag)
    residuals = []
    edges = np.flatnonzero(np.diff(np.r_[0, voiced.astype(int), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < 0.5 * frame_rate:
            continue
        c = cents[a:b]
        r = (c - median_filter(c, size=width, mode="nearest"))[width // 2 : len(c) - width // 2]
        r = np.clip(r, -150.0, 150.0)
        residuals.append(r)
        for lag in range(min(max_lag, len(r))):
            acf[lag] += np.dot(r[: len(r) - lag], r[lag:])
    assert residuals, "no voiced run of 0.5 s or more"
    acf /= max(acf[0], 1e-12)
    lo, hi = int(frame_rate / 8), int(np.ceil(frame_rate / 4))
    lag = lo + int(np.argmax(acf[lo : hi + 1]))
    r = np.concatenate(residuals)
    return {
        "rate_hz": frame_rate / lag,
        "acf_peak": float(acf[lag]),
        "acf_half": float(acf[int(round(lag / 2))]),
        "extent_cents": float(np.sqrt(2) * np.std(r)),
    }


# --------------------------------------------------------------------------- #
# (a) the files                                                                #
# --------------------------------------------------------------------------- #


def test_manifest_lists_pairs(manifest):
    assert manifest["sample_rate"] == SR
    assert manifest["default"] == DEFAULT_FOLDER
    pairs = manifest["pairs"]
    assert 2 <= len(pairs) <= 3
    assert pairs[0]["folder"] == DEFAULT_FOLDER
    assert len({p["folder"] for p in pairs}) == len(pairs)
    for p in pairs:
        assert {"folder", "title", "description", "duration_s", "sample_rate", "files"} <= set(p)
        assert p["sample_rate"] == SR
        assert p["title"] and p["description"]
        assert set(p["files"]) == set(ROLES)
        for role in ROLES:
            assert (SAMPLES / p["files"][role]).is_file(), p["files"][role]
    assert any(8.0 <= p["duration_s"] <= 12.0 for p in pairs[1:])


def test_manifest_lists_every_stem(manifest):
    for p in manifest["pairs"]:
        assert list(p["stems"]) == ["vocals", *STEMS]
        assert p["stems"]["vocals"] == p["files"]["vocal"]
        for path in p["stems"].values():
            assert (SAMPLES / path).is_file(), path
        assert p["chords"] in ("keys", "pad", "plucked arpeggio")


def test_files_are_22050_mono_pcm16(manifest):
    for p in manifest["pairs"]:
        for path in [*(p["files"][role] for role in ROLES), *p["stems"].values()]:
            info = sf.info(SAMPLES / path)
            assert (info.samplerate, info.channels, info.format, info.subtype) == (SR, 1, "WAV", "PCM_16")
            assert info.frames == round(p["duration_s"] * SR)


def test_default_pair_is_exactly_4_7_seconds(manifest, audio):
    assert manifest["pairs"][0]["duration_s"] == pytest.approx(4.7)
    for role in ROLES:
        assert len(audio[DEFAULT_FOLDER][role]) == DEFAULT_SAMPLES


@pytest.mark.parametrize("role", ROLES + STEMS)
def test_all_files_same_length_within_pair(audio, role):
    for folder, sig in audio.items():
        assert len(sig[role]) == len(sig["mixture"]), folder


def test_mixture_is_vocal_plus_instrumental(audio):
    for folder, sig in audio.items():
        err = np.abs(sig["mixture"] - (sig["vocal"] + sig["instrumental"])).max()
        assert err < 3 / 32768, (folder, err * 32768)


def test_mixture_is_the_exact_sum_of_the_stems(audio):
    """In the written 16-bit integers, sample for sample: vocal + drums + bass + chords == mixture."""
    for folder, sig in audio.items():
        stem_sum = pcm(sig["drums"]) + pcm(sig["bass"]) + pcm(sig["chords"])
        assert np.array_equal(stem_sum, pcm(sig["instrumental"])), folder
        assert np.array_equal(pcm(sig["vocal"]) + stem_sum, pcm(sig["mixture"])), folder
        for stem in STEMS:  # every stem is a real part of the band, not silence or a copy of another
            assert np.std(sig[stem]) > 0.01 * np.std(sig["instrumental"]), (folder, stem)
            assert not np.array_equal(sig[stem], sig["instrumental"]), (folder, stem)


def test_a_broken_stem_breaks_the_exact_sum(audio):
    """Control for the test above: one LSB changed in one stem is caught."""
    sig = audio[DEFAULT_FOLDER]
    drums = sig["drums"].copy()
    drums[1000] += 1 / 32768
    assert not np.array_equal(pcm(drums) + pcm(sig["bass"]) + pcm(sig["chords"]), pcm(sig["instrumental"]))


def test_stems_sound_like_their_instruments(audio):
    """Drums are onset-dense and broadband; bass lives below 300 Hz; chords are tonal, mid-range."""
    for folder, sig in audio.items():

        def band_share(x, lo, hi):
            spectrum = np.abs(np.fft.rfft(x)) ** 2
            freqs = np.fft.rfftfreq(len(x), 1 / SR)
            return spectrum[(freqs >= lo) & (freqs < hi)].sum() / spectrum.sum()

        assert band_share(sig["bass"], 0, 300) >= 0.8, folder
        assert band_share(sig["drums"], 3000, SR / 2) > band_share(sig["chords"], 3000, SR / 2), folder
        assert band_share(sig["chords"], 100, 2000) >= 0.6, folder


def test_levels(audio):
    for folder, sig in audio.items():
        assert abs(np.abs(sig["mixture"]).max() - 0.9) < 2 / 32768, folder
        var_db = 20 * np.log10(np.std(sig["vocal"]) / np.std(sig["instrumental"]))
        assert abs(var_db) < 0.2, (folder, var_db)  # vocal-to-accompaniment ~ 0 dB


def test_total_size_is_small(manifest):
    """The three files of each pair stay under 3 MB; with the three instrument stems, under 6 MB."""
    pairs = sum((SAMPLES / p["files"][r]).stat().st_size for p in manifest["pairs"] for r in ROLES)
    assert pairs < 3_000_000, pairs
    stems = sum((SAMPLES / p["stems"][s]).stat().st_size for p in manifest["pairs"] for s in STEMS)
    assert pairs + stems < 6_000_000, pairs + stems


# --------------------------------------------------------------------------- #
# (b) determinism                                                              #
# --------------------------------------------------------------------------- #


def test_generator_reproduces_files_byte_for_byte(manifest, tmp_path):
    gen = load_generator()
    gen.main(out_dir=tmp_path, verbose=False)
    produced = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    expected = sorted(
        ["pairs.json"]
        + [p["files"][r] for p in manifest["pairs"] for r in ROLES]
        + [p["stems"][s] for p in manifest["pairs"] for s in STEMS]
    )
    assert produced == expected
    for rel in expected:
        assert (tmp_path / rel).read_bytes() == (SAMPLES / rel).read_bytes(), rel


def test_generator_writes_musdb_layout_with_the_same_audio(manifest, tmp_path):
    """write_musdb: MUSDB18 names, the very same samples as the bundled pair (other = chords)."""
    gen = load_generator()
    [folder] = gen.write_musdb(tmp_path, pairs=[gen.PAIRS[0]])
    assert sorted(p.name for p in folder.iterdir()) == [
        "bass.wav",
        "drums.wav",
        "mixture.wav",
        "other.wav",
        "vocals.wav",
    ]
    bundled = manifest["pairs"][0]
    same = {
        "vocals": bundled["stems"]["vocals"],
        "drums": bundled["stems"]["drums"],
        "bass": bundled["stems"]["bass"],
        "other": bundled["stems"]["chords"],
        "mixture": bundled["files"]["mixture"],
    }
    for musdb_name, path in same.items():
        assert (folder / f"{musdb_name}.wav").read_bytes() == (SAMPLES / path).read_bytes(), musdb_name


# --------------------------------------------------------------------------- #
# (c) it sounds like what it claims to be                                     #
# --------------------------------------------------------------------------- #


def test_default_vocal_is_mostly_voiced_in_singing_range(default_pitch):
    f0, voiced = default_pitch
    assert 0.5 <= voiced.mean() <= 0.98, voiced.mean()  # sung, with some unvoiced gaps
    median_f0 = np.median(f0[voiced])
    assert 196.0 <= median_f0 <= 880.0, median_f0  # G3 .. A5: a soprano line


def test_default_vocal_has_vibrato(default_pitch):
    f0, voiced = default_pitch
    vib = vibrato_analysis(f0, voiced, SR / HOP)
    assert 4.5 <= vib["rate_hz"] <= 7.0, vib
    assert vib["acf_peak"] >= 0.25, vib  # periodic pitch modulation...
    assert vib["acf_half"] <= -0.25, vib  # ...that swings both ways
    assert 8.0 <= vib["extent_cents"] <= 80.0, vib  # tens of cents, not semitones


def test_vibrato_analysis_rejects_the_same_voice_without_vibrato():
    """Control: the same synthetic singer with vibrato switched off must fail the vibrato check."""
    gen = load_generator()
    for voice in gen.VOICES.values():
        voice["vibrato_cents"] = 0.0
    spec = gen.PAIRS[0]
    n = round(spec["duration_s"] * SR)
    vocal, _ = gen.sung_voice(spec["melody"], spec["tempo"], n, spec["voice"], np.random.default_rng(0))
    f0, voiced, _ = librosa.pyin(
        0.5 * vocal / np.abs(vocal).max(), fmin=80, fmax=1000, sr=SR, frame_length=2048, hop_length=HOP
    )
    assert voiced.mean() >= 0.5
    assert vibrato_analysis(f0, voiced, SR / HOP)["acf_peak"] < 0.25


def test_vocal_energy_is_in_the_formant_band(audio):
    for folder, sig in audio.items():
        spectrum = np.abs(np.fft.rfft(sig["vocal"])) ** 2
        freqs = np.fft.rfftfreq(len(sig["vocal"]), 1 / SR)
        formant_band = spectrum[(freqs >= 300) & (freqs <= 3500)].sum()
        high = spectrum[freqs > 6000].sum()
        assert 10 * np.log10(formant_band / high) >= 20.0, folder


def test_vocal_has_rests(audio):
    for folder, sig in audio.items():
        frame_rms = librosa.feature.rms(y=sig["vocal"], frame_length=1024, hop_length=HOP)[0]
        silent = frame_rms < 10 ** (-50 / 20)
        assert silent.mean() >= 0.03, (folder, silent.mean())


def test_instrumental_has_regular_onsets(audio):
    for folder, sig in audio.items():
        onsets = librosa.onset.onset_detect(y=sig["instrumental"], sr=SR, units="time")
        per_second = len(onsets) / (len(sig["instrumental"]) / SR)
        assert 1.5 <= per_second <= 12.0, (folder, per_second)
