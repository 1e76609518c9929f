"""Reconstruction: the vectorised inverse STFT is librosa's, to the bit."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from vsep_core.analysis import analyse
from vsep_core.optimise import run_chain
from vsep_core.reconstruct import istft_frames, magnitude_from_db, vocal_from_db
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


@pytest.mark.parametrize("n_fft,hop,frames", [(2048, 1040, 37), (2048, 512, 20), (1024, 300, 11),
                                              (512, 512, 9), (256, 400, 6), (2048, 1040, 1)])
def test_istft_frames_equals_librosa_for_any_hop(n_fft, hop, frames):
    rng = np.random.default_rng(hop)
    spectrum = (rng.standard_normal((1 + n_fft // 2, frames))
                + 1j * rng.standard_normal((1 + n_fft // 2, frames))).astype(np.complex64)
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
