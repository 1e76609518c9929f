"""The one DSP module: every function equals librosa's (or libsndfile's) to the bit."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from vsep_core import dsp
from vsep_core.errors import VsepError


@pytest.mark.parametrize(
    "n_fft,hop,n", [(4096, 1024, 30_000), (512, 128, 7_001), (2048, 512, 2048), (4096, 1024, 600), (2048, 512, 44_100)]
)
def test_stft_equals_librosa_at_the_baselines_sizes(n_fft, hop, n):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    expected = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    got = dsp.stft(y, n_fft=n_fft, hop_length=hop)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "n_fft,hop,frames,length",
    [
        (2048, 512, 40, 20_000),  # shorter than the frames reach: librosa drops frames
        (2048, 512, 40, 19_968),  # exactly the frames' reach
        (2048, 512, 40, 30_000),  # longer: zero padded
        (4096, 1024, 12, 9_000),
        (512, 128, 60, 7_001),
        (512, 128, 3, 100),
        (2048, 1040, 7, None),
    ],
)
def test_istft_with_length_equals_librosa(n_fft, hop, frames, length):
    rng = np.random.default_rng(frames)
    D = (rng.standard_normal((1 + n_fft // 2, frames)) + 1j * rng.standard_normal((1 + n_fft // 2, frames))).astype(
        np.complex64
    )
    D = np.asfortranarray(D)
    expected = librosa.istft(D, n_fft=n_fft, hop_length=hop, length=length)
    got = dsp.istft(D, n_fft=n_fft, hop_length=hop, length=length)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_istft_in_double_precision_equals_librosa():
    rng = np.random.default_rng(3)
    D = rng.standard_normal((1025, 30)) + 1j * rng.standard_normal((1025, 30))
    expected = librosa.istft(D, n_fft=2048, hop_length=512, length=15_000)
    got = dsp.istft(D, n_fft=2048, hop_length=512, length=15_000)
    assert got.dtype == np.float64 == expected.dtype
    assert np.array_equal(got, expected)


def test_round_trip_restores_the_signal():
    y = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    back = dsp.istft(dsp.stft(y, n_fft=1024, hop_length=256), n_fft=1024, hop_length=256, length=len(y))
    assert np.max(np.abs(back - y)) < 1e-5


def test_istft_refuses_a_spectrogram_of_the_wrong_size():
    with pytest.raises(VsepError, match="n_fft"):
        dsp.istft(np.zeros((100, 5), dtype=np.complex64), n_fft=2048, hop_length=512)
    with pytest.raises(VsepError, match="hop"):
        dsp.istft(np.zeros((1025, 5), dtype=np.complex64), n_fft=2048, hop_length=0)
    with pytest.raises(VsepError, match="n_fft|FFT"):
        dsp.stft(np.ones(100, dtype=np.float32), n_fft=1, hop_length=1)


def test_pcm16_is_what_libsndfile_writes():
    y = np.concatenate([np.linspace(-1.2, 1.2, 5001), [np.nan, 1.0, -1.0, 0.5 / 32768]]).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, 8000, format="RAW", subtype="PCM_16", endian="LITTLE")
    assert dsp.pcm16(y).tobytes() == buf.getvalue()


def test_window_is_scipys_and_magphase_is_librosas():
    from scipy.signal import get_window

    for n in (2, 256, 2048, 4095):
        assert np.array_equal(dsp.hann_window(n), get_window("hann", n, fftbins=True))
    D = dsp.stft(np.r_[np.zeros(3000), np.ones(3000)].astype(np.float32), n_fft=512, hop_length=128)
    for ours, theirs in zip(dsp.magphase(D), librosa.magphase(D)):
        assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("method", ["irm", "ibm", "wiener", "repet_sim", "hpss"])
def test_baselines_give_the_results_they_gave_with_librosas_stft(method, monkeypatch):
    """The baselines now use this module's STFT; with librosa's in its place the results are the same bits."""
    from vsep_core.baselines import get_method
    from vsep_core.separators import hpss, ideal_mask, repet_sim

    rng = np.random.default_rng(7)
    sr = 22050
    t = np.arange(3 * sr) / sr
    vocal = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    mixture = (vocal + 0.2 * rng.standard_normal(len(t))).astype(np.float32)
    separator = get_method(method)
    give = {} if separator.kind == "blind" else {"vocal": vocal}
    ours = separator.separate(mixture, sr, **give)
    for module in (ideal_mask, repet_sim, hpss):  # every method module that uses the shared STFT
        monkeypatch.setattr(
            module,
            "stft",
            lambda y, n_fft, hop: librosa.stft(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop),
        )
        monkeypatch.setattr(
            module,
            "istft",
            lambda D, n_fft, hop, n: librosa.istft(D, n_fft=n_fft, hop_length=hop, length=n).astype(np.float32),
        )
    theirs = separator.separate(mixture, sr, **give)
    assert np.array_equal(ours.vocal, theirs.vocal)
    assert np.array_equal(ours.instrumental, theirs.instrumental)
