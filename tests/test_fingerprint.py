"""Profiles, dB targets, the encoder cascade and the 25 metrics."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from vsep_core.fingerprint import (
    METRIC_NAMES,
    amplitude_to_db,
    encoder_cascade,
    interp_map,
    profiles,
    target_profiles_db,
    window_metrics,
)
from vsep_core.settings import Settings

SR = 22050


def test_amplitude_to_db_is_librosas():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        s = (rng.random((50, 20)) * 10 ** rng.uniform(-12, 2, (50, 20))).astype(dtype)
        ours = amplitude_to_db(s, top_db=80.0)
        theirs = librosa.amplitude_to_db(s, ref=1.0, amin=1e-8, top_db=80.0)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_per_window_floor_and_negative_values():
    view = np.zeros((1025, 2), dtype=np.float32)
    view[:, 0] = -np.logspace(0, -9, 1025)  # negative outputs count by |x|
    view[:, 1] = np.logspace(2, -9, 1025)
    t = target_profiles_db(view, Settings())
    assert t.shape == (400, 2)
    assert t[:, 0].max() == pytest.approx(0.0, abs=1e-9) and t[:, 0].min() == pytest.approx(-80.0)
    assert t[:, 1].max() == pytest.approx(40.0, abs=1e-6) and t[:, 1].min() == pytest.approx(-40.0)


@pytest.mark.parametrize("n_from,n_to", [(1025, 400), (513, 400), (400, 1025), (7, 3)])
def test_interp_map_equals_np_interp(n_from, n_to):
    rng = np.random.default_rng(n_from)
    a = rng.standard_normal((n_from, 5)).astype(np.float32)
    x_from, x_to = np.linspace(0, SR / 2, n_from), np.linspace(0, SR / 2, n_to)
    expected = np.stack([np.interp(x_to, x_from, a[:, j]) for j in range(5)], axis=1)
    np.testing.assert_allclose(interp_map(n_from, n_to)(a), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(profiles(a, n_to) if n_to == 400 else expected, expected, rtol=1e-12, atol=1e-12)
    # The compiled path (2-D, C order) and numpy's gather (any other layout) agree to the bit.
    assert np.array_equal(interp_map(n_from, n_to)(a), interp_map(n_from, n_to)(np.asfortranarray(a)))


def test_cascade_layers():
    layers = encoder_cascade(np.ones((1025, 3)))
    assert [layer.shape[0] for layer in layers] == [1025, 512, 256, 128, 64, 32]
    assert [layer.shape[0] for layer in encoder_cascade(np.ones((513, 3)))] == [1025, 512, 256, 128, 64, 32]


def _column(freqs_amps, n=1025):
    col = np.zeros(n)
    for f, a in freqs_amps:
        col[int(round(f / (SR / 2) * (n - 1)))] = a
    return col


def test_metrics_have_known_answers():
    assert len(METRIC_NAMES) == 25  # with the 400-point profile: 425 numbers per window
    f0 = 344.5  # a harmonic series on bin centres, 1025-bin column
    harmonic = _column([(f0 * k, 1.0 / k) for k in range(1, 12)])
    flat = np.ones(1025)
    tone = _column([(1000.0, 1.0)])
    m = dict(zip(METRIC_NAMES, window_metrics(np.stack([harmonic, flat, tone], axis=1), SR).T))

    # Band energies add up to the 256-bin layer's total energy.
    l256 = encoder_cascade(np.stack([harmonic, flat, tone], axis=1))[2]
    bands = sum(m[n] for n in METRIC_NAMES[:6])
    np.testing.assert_allclose(bands, (l256**2).sum(axis=0))
    # A flat spectrum: flatness 1, entropy log2(64) bits, centroid mid-band, crest 1.
    assert m["spectral_flatness"][1] == pytest.approx(1.0, rel=1e-6)
    assert m["spectral_entropy"][1] == pytest.approx(6.0, rel=1e-6)
    assert m["spectral_crest"][1] == pytest.approx(1.0, rel=1e-6)
    assert m["spectral_centroid"][1] == pytest.approx(SR / 4, rel=0.02)
    # A single tone: centroid at the tone (to a 64-bin layer's resolution), energy in 500–2000 Hz.
    assert abs(m["spectral_centroid"][2] - 1000.0) < SR / 2 / 64
    assert m["energy_500_2000hz"][2] > 0 and m["energy_below_250hz"][2] == 0
    # A harmonic series: several peaks, spacing near f0, F1 found in 500–2000 Hz.
    assert m["harmonic_peak_count"][0] >= 3
    assert m["fundamental_estimate"][0] == pytest.approx(f0, rel=0.1)
    assert 500 <= m["formant_f1"][0] <= 2000
    assert np.all(np.isfinite(window_metrics(np.zeros((1025, 2)), SR)))


def test_amplitude_to_db_takes_integers_like_librosa():
    import librosa

    S = np.array([[0, 3, -40000]], dtype=np.int64)
    expected = librosa.amplitude_to_db(S, ref=1.0, amin=1e-8, top_db=80.0)
    assert np.array_equal(amplitude_to_db(S), expected)
