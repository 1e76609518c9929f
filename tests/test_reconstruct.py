"""Reconstruction: the vectorised inverse STFT is librosa's, to the bit."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from vsep_core.analysis import analyse
from vsep_core.dsp import istft_frames
from vsep_core.optimise import run_chain
from vsep_core.reconstruct import magnitude_from_db, vocal_from_db
from vsep_core.settings import Settings


def research_istft(final_db, phase, hop, n_fft):
    """Spec §8 as the research code wrote it."""
    return librosa.istft(magnitude_from_db(final_db) * phase, hop_length=hop, n_fft=n_fft).astype(np.float32)


def test_vocal_from_db_equals_librosa_istft(synthetic_pair):
    analysis = analyse(synthetic_pair, Settings())
    final_db = run_chain(analysis, ["slice_5_blob", "slice_17_maxpool"]).final_db
    expected = research_istft(final_db, analysis.phase, analysis.hop_length, analysis.settings.n_fft)
    got = vocal_from_db(final_db, analysis)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "n_fft,hop,frames",
    [(2048, 1040, 37), (2048, 512, 20), (1024, 300, 11), (512, 512, 9), (256, 400, 6), (2048, 1040, 1)],
)
def test_istft_frames_equals_librosa_for_any_hop(n_fft, hop, frames):
    rng = np.random.default_rng(hop)
    spectrum = (
        rng.standard_normal((1 + n_fft // 2, frames)) + 1j * rng.standard_normal((1 + n_fft // 2, frames))
    ).astype(np.complex64)
    expected = librosa.istft(spectrum, hop_length=hop, n_fft=n_fft)
    got = istft_frames(np.ascontiguousarray(spectrum.T), hop_length=hop, n_fft=n_fft)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_non_finite_magnitudes_become_silence(synthetic_pair):
    analysis = analyse(synthetic_pair, Settings())
    final_db = analysis.mixture_db.copy()
    final_db[:, 3] = np.nan
    final_db[:10, 5] = np.inf
    got = vocal_from_db(final_db, analysis)
    expected = research_istft(final_db, analysis.phase, analysis.hop_length, analysis.settings.n_fft)
    assert np.all(np.isfinite(got))
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "n_fft,hop,n", [(2048, 1040, 103_635), (2048, 512, 5000), (1024, 300, 2047), (512, 700, 4000), (2048, 1040, 2048)]
)
def test_stft_and_magphase_equal_librosa(n_fft, hop, n):
    """Our STFT (no scipy.signal import) is librosa's, to the bit, and so are the window and magphase."""
    from scipy.signal import get_window

    from vsep_core.views import hann_window, magphase, stft

    assert np.array_equal(hann_window(n_fft), get_window("hann", n_fft, fftbins=True))
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    y[100:400] = 0.0  # zero frames: magphase's 1+0j phase
    expected = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    got = stft(y, Settings(n_fft=n_fft, hop_length=hop))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert got.flags.f_contiguous
    assert np.array_equal(got, expected)
    for ours, theirs in zip(magphase(got), librosa.magphase(expected)):
        assert np.array_equal(ours, theirs)
    zero = np.zeros((3, 2), dtype=np.complex64)
    assert np.array_equal(magphase(zero)[1], librosa.magphase(zero)[1])


@pytest.mark.parametrize("n_fft,hop,frames", [(2048, 1040, 100), (1024, 300, 17), (256, 400, 5)])
def test_window_sum_square_equals_librosa(n_fft, hop, frames):
    from vsep_core.dsp import window_sum_square

    _, ours = window_sum_square(n_fft, hop, frames)
    theirs = librosa.filters.window_sumsquare(
        window="hann", n_frames=frames, win_length=n_fft, n_fft=n_fft, hop_length=hop, dtype=np.float32
    )
    theirs = np.where(theirs > np.finfo(np.float32).tiny, theirs, np.float32(1.0))
    assert np.array_equal(ours, theirs)


def test_bad_input_is_refused_not_read_out_of_bounds(synthetic_pair):
    """The STFT and the inverse check what librosa's checked (and what the compiled loops cannot)."""
    from vsep_core.errors import VsepError
    from vsep_core.views import magphase, stft

    analysis = analyse(synthetic_pair, Settings())
    with pytest.raises(VsepError, match="same analysis"):
        vocal_from_db(analysis.mixture_db[:, :-3], analysis)
    y = np.ones(5000, dtype=np.float32)
    y[10] = np.nan
    with pytest.raises(VsepError, match="NaN"):
        stft(y, Settings())
    with pytest.raises(VsepError, match="one channel"):
        stft(np.ones((2, 5000)), Settings())
    with pytest.raises(VsepError, match="hop"):
        stft(np.ones(5000), Settings(), hop_length=-2)
    # Real input: a complex phase of matching precision, as librosa.magphase gives.
    mag, phase = magphase(np.array([[-2.0, 0.0, 3.0]], dtype=np.float32))
    assert phase.dtype == np.complex64 and np.array_equal(phase, [[-1, 1, 1]])
