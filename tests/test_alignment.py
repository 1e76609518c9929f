"""The alignment check finds a known lag and gain, and says when waveform metrics mean nothing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest_eval import eval_dir, eval_pair, make_sources  # noqa: F401  (fixtures)

from vsep_core.alignment import MIN_CORRELATION, apply_alignment, check_alignment
from vsep_core.errors import VsepError

SR = 22050


@pytest.fixture(scope="module")
def stems():
    vocal, instrumental = make_sources(3.0, SR, seed=5)
    return vocal.astype(np.float64), instrumental.astype(np.float64)


def _expected_gain(mixture, vocal_in_place):
    """Least-squares gain of the vocal as it sits in the mixture: <m, v> / <v, v>."""
    return float(mixture @ vocal_in_place) / float(vocal_in_place @ vocal_in_place)


@pytest.mark.parametrize("lag, gain", [(0, 1.0), (137, 0.6), (-250, 1.7), (311, -1.0)])
def test_finds_a_known_lag_and_gain(stems, lag, gain):
    vocal, instrumental = stems
    mixture = vocal + instrumental
    # The file we are given: the true vocal advanced by `lag` and divided by `gain`,
    # so delaying it by `lag` and multiplying by `gain` puts it back.
    given = np.roll(vocal, -lag) / gain
    found = check_alignment(mixture, given, SR)
    assert found.lag_samples == lag
    back_in_place = np.roll(given, lag)
    back_in_place[: max(lag, 0)] = 0.0
    if lag < 0:
        back_in_place[lag:] = 0.0
    assert found.gain == pytest.approx(_expected_gain(mixture, back_in_place), rel=1e-9)
    assert found.gain == pytest.approx(gain, rel=0.05)  # the instrumental is nearly uncorrelated
    assert found.aligned == (lag == 0 and gain > 0)
    if lag != 0:
        assert "meaningless" in found.verdict and str(lag) in found.verdict
    if gain < 0:
        assert "polarity" in found.verdict


def test_correlation_and_explained_share(stems):
    vocal, instrumental = stems
    mixture = vocal + instrumental
    found = check_alignment(mixture, vocal, SR)
    expected_corr = (mixture @ vocal) / np.sqrt((mixture @ mixture) * (vocal @ vocal))
    assert found.correlation == pytest.approx(expected_corr, rel=1e-9)
    residual = mixture - found.gain * vocal
    assert found.explained == pytest.approx(1 - (residual @ residual) / (mixture @ mixture), abs=1e-9)


def test_unrelated_vocal_is_called_meaningless(stems):
    vocal, instrumental = stems
    noise = np.random.default_rng(0).standard_normal(len(vocal))
    found = check_alignment(vocal + instrumental, noise, SR)
    assert abs(found.correlation_at_lag) < MIN_CORRELATION
    assert not found.aligned
    assert "different masters" in found.verdict and "meaningless" in found.verdict


def test_search_range_is_respected(stems):
    vocal, instrumental = stems
    given = np.roll(vocal, -500)
    assert check_alignment(vocal + instrumental, given, SR, max_lag_s=0.01).lag_samples != 500
    assert check_alignment(vocal + instrumental, given, SR, max_lag_s=0.05).lag_samples == 500


def test_apply_alignment_shifts_with_zeros_and_scales():
    x = np.arange(1, 7, dtype=np.float32)
    np.testing.assert_array_equal(apply_alignment(x, 2, 0.5), [0, 0, 0.5, 1.0, 1.5, 2.0])
    np.testing.assert_array_equal(apply_alignment(x, -2), [3, 4, 5, 6, 0, 0])
    np.testing.assert_array_equal(apply_alignment(x, 10), np.zeros(6))
    np.testing.assert_array_equal(apply_alignment(x, 0, -1.0), -x)


def test_bad_input_is_refused():
    with pytest.raises(VsepError, match="silent"):
        check_alignment(np.ones(1000), np.zeros(1000), SR)
    with pytest.raises(VsepError, match="mono"):
        check_alignment(np.ones((2, 1000)), np.ones(1000), SR)
    with pytest.raises(VsepError, match="finite"):
        apply_alignment(np.ones(10), 1, float("nan"))


def test_real_pair_is_aligned_and_a_shifted_copy_is_repaired(eval_pair):  # noqa: F811
    mixture, vocal = eval_pair.mixture.astype(np.float64), eval_pair.vocal.astype(np.float64)
    as_given = check_alignment(mixture, vocal, eval_pair.sr)
    assert as_given.aligned and as_given.lag_samples == 0
    assert as_given.gain == pytest.approx(_expected_gain(mixture, vocal), rel=1e-9)

    # Like the research code's example pair: the vocal ~300 samples early and at another level.
    lag, gain = 300, 0.8
    shifted = apply_alignment(vocal, -lag, 1 / gain)
    found = check_alignment(mixture, shifted, eval_pair.sr)
    assert found.lag_samples == lag
    assert found.gain == pytest.approx(gain, rel=0.02)
    assert not found.aligned
    assert abs(found.correlation) < 0.5 * abs(found.correlation_at_lag)
    repaired = apply_alignment(shifted, found.lag_samples, found.gain)
    inner = slice(lag, len(vocal) - lag)
    np.testing.assert_allclose(repaired[inner], found.gain / gain * vocal[inner], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n,max_lag", [(1000, 50), (17, 16), (5, 0), (4410, 441)])
def test_cross_correlation_equals_scipy_signal(n, max_lag):
    """The FFT cross-correlation (no scipy.signal import) is scipy's, over the lags searched."""
    from scipy import signal

    from vsep_core.alignment import _cross_correlation

    rng = np.random.default_rng(n)
    m, v = rng.standard_normal(n), rng.standard_normal(n)
    lags = signal.correlation_lags(n, n, mode="full")
    expected = signal.correlate(m, v, mode="full", method="direct")[np.abs(lags) <= max_lag]
    np.testing.assert_allclose(_cross_correlation(m, v, max_lag), expected, rtol=0, atol=1e-12 * n)
