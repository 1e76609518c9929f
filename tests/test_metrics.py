"""Metrics against independent computations on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from vsep_core.errors import VsepError
from vsep_core.metrics import bss_eval, evaluate_estimate, fit_length, si_sdr

SR = 8000


def _orthogonal_noise(reference, power, rng):
    """White noise made exactly orthogonal to ``reference``, scaled to total energy ``power``."""
    noise = rng.standard_normal(len(reference))
    noise -= (noise @ reference) / (reference @ reference) * reference
    return noise * np.sqrt(power / (noise @ noise))


def _frame_ratio_db(signal, error, sr, window_s=1.0):
    """Median over non-overlapping frames (last partial frame dropped, as museval) of 10·log10(‖s‖²/‖e‖²)."""
    w = int(window_s * sr)
    n_frames = len(signal) // w
    ratios = [
        10 * np.log10(np.sum(signal[i * w : (i + 1) * w] ** 2) / np.sum(error[i * w : (i + 1) * w] ** 2))
        for i in range(n_frames)
    ]
    return float(np.median(ratios))


# --- fit_length ---------------------------------------------------------------


def test_fit_length_pads_with_zeros_and_trims():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 8), [1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(fit_length(x, 5), x)


def test_fit_length_rejects_stereo_and_nan():
    with pytest.raises(VsepError, match="mono"):
        fit_length(np.zeros((2, 10)), 10)
    with pytest.raises(VsepError, match="NaN"):
        fit_length(np.array([0.0, np.nan]), 2)


# --- SI-SDR ---------------------------------------------------------------------


@pytest.mark.parametrize("scale, noise_ratio", [(1.0, 0.01), (0.5, 0.1), (-2.0, 1.0), (3.0, 10.0)])
def test_si_sdr_closed_form(scale, noise_ratio):
    # ŝ = a·s + n with n ⟂ s and ‖n‖² = r·‖s‖²  ⇒  SI-SDR = 10·log10(a² / r).
    rng = np.random.default_rng(1)
    s = rng.standard_normal(4000)
    n = _orthogonal_noise(s, noise_ratio * (s @ s), rng)
    assert si_sdr(s, scale * s + n) == pytest.approx(10 * np.log10(scale**2 / noise_ratio), abs=1e-9)


@given(st.floats(min_value=1e-3, max_value=1e3), st.integers(min_value=0, max_value=2**16))
@hyp_settings(max_examples=40, deadline=None)
def test_si_sdr_ignores_the_estimate_scale(gain, seed):
    rng = np.random.default_rng(seed)
    s, e = rng.standard_normal(500), rng.standard_normal(500)
    estimate = s + 0.3 * e
    assert si_sdr(s, gain * estimate) == pytest.approx(si_sdr(s, estimate), abs=1e-7)


def test_si_sdr_pads_a_short_estimate_with_zeros():
    rng = np.random.default_rng(2)
    s = rng.standard_normal(1000)
    short = s[:900]
    padded = np.concatenate([short, np.zeros(100)])
    a = (padded @ s) / (s @ s)
    expected = 10 * np.log10(np.sum((a * s) ** 2) / np.sum((padded - a * s) ** 2))
    assert si_sdr(s, short) == pytest.approx(expected, abs=1e-9)


def test_si_sdr_edge_cases():
    s = np.sin(np.linspace(0, 20, 1000))
    assert si_sdr(s, 0.7 * s) > 200  # rounding leaves a residual ~1e-30 of the target
    assert si_sdr(s, s) == np.inf
    assert np.isnan(si_sdr(s, np.zeros(1000)))
    with pytest.raises(VsepError, match="silent"):
        si_sdr(np.zeros(100), s[:100])


# --- BSS Eval (museval) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sources():
    rng = np.random.default_rng(3)
    n = 3 * SR + SR // 2  # 3.5 s: three full 1 s frames, the rest dropped
    vocal = rng.standard_normal(n) * (1.0 + 0.5 * np.sin(np.arange(n) / 800.0))
    instrumental = rng.standard_normal(n)
    return vocal, instrumental


def test_bss_eval_interference_has_the_known_ratio(sources):
    # Estimate = own source + ε·other source: SIR = SDR = the frame-wise ratio ‖s‖² / ‖ε·i‖²,
    # and there are no artifacts (SAR very high).
    vocal, instrumental = sources
    eps = 0.1
    est = np.stack([vocal + eps * instrumental, instrumental + eps * vocal])
    out = bss_eval(np.stack([vocal, instrumental]), est, SR)
    expected_vocal = _frame_ratio_db(vocal, eps * instrumental, SR)
    expected_instr = _frame_ratio_db(instrumental, eps * vocal, SR)
    assert out["sir"][0] == pytest.approx(expected_vocal, abs=0.1)
    assert out["sir"][1] == pytest.approx(expected_instr, abs=0.1)
    assert out["sdr"][0] == pytest.approx(expected_vocal, abs=0.1)
    assert out["sar"].min() > 60


def test_bss_eval_artifacts_have_the_known_ratio(sources):
    # Estimate = own source + noise outside both references: SAR = ‖s‖² / ‖noise‖² per frame,
    # no interference. (The 512-tap projection captures ~1 % of the noise: 0.05 dB.)
    vocal, instrumental = sources
    rng = np.random.default_rng(4)
    noise = 0.2 * rng.standard_normal(len(vocal))
    out = bss_eval(np.stack([vocal, instrumental]), np.stack([vocal + noise, instrumental]), SR)
    assert out["sar"][0] == pytest.approx(_frame_ratio_db(vocal, noise, SR), abs=0.2)
    # The interference subspace (512 delays of the instrumental) picks up ~2 % of the
    # noise, so SIR is finite but far above SAR.
    assert out["sir"][0] > out["sar"][0] + 10


def test_bss_eval_perfect_estimate_and_wrong_gain(sources):
    vocal, instrumental = sources
    refs = np.stack([vocal, instrumental])
    perfect = bss_eval(refs, refs, SR)
    assert np.all(perfect["sdr"] > 100)
    # SDR (BSS Eval v4 images) is the plain signal-to-error ratio: half the
    # level leaves an error of half the source, 10·log10(1 / 0.25) = 6.02 dB,
    # while SI-SDR is perfect. This is why metrics must see un-normalised estimates.
    halved = bss_eval(refs, 0.5 * refs, SR)
    np.testing.assert_allclose(halved["sdr"], 10 * np.log10(4.0), atol=0.01)
    assert si_sdr(vocal, 0.5 * vocal) == np.inf


def test_bss_eval_whole_signal_window(sources):
    vocal, instrumental = sources
    eps = 0.1
    est = np.stack([vocal + eps * instrumental, instrumental + eps * vocal])
    out = bss_eval(np.stack([vocal, instrumental]), est, SR, window_s=None)
    expected = 10 * np.log10((vocal @ vocal) / (eps**2 * (instrumental @ instrumental)))
    assert out["sir"][0] == pytest.approx(expected, abs=0.1)


def test_bss_eval_silent_estimate_is_nan_and_leaves_the_other_source_alone(sources):
    vocal, instrumental = sources
    refs = np.stack([vocal, instrumental])
    est = np.stack([vocal + 0.1 * instrumental, instrumental + 0.2 * vocal])
    both = bss_eval(refs, est, SR)
    one_silent = bss_eval(refs, np.stack([np.zeros_like(vocal), est[1]]), SR)
    for key in ("sdr", "sir", "sar"):
        assert np.isnan(one_silent[key][0])
        assert one_silent[key][1] == pytest.approx(both[key][1], abs=1e-9)


def test_bss_eval_accepts_an_estimate_that_sums_to_zero(sources):
    # museval takes a signal whose samples sum to exactly 0 for silence; dyadic
    # values make the sum exact, so this would fail without the nudge.
    vocal, instrumental = sources
    half = np.round(vocal[: len(vocal) // 2] * 256) / 256
    zero_sum = np.concatenate([half, -half[::-1]])
    assert np.sum(zero_sum) == 0.0
    refs = np.stack([vocal[: len(zero_sum)], instrumental[: len(zero_sum)]])
    out = bss_eval(refs, np.stack([zero_sum, refs[1]]), SR)
    assert not np.isnan(out["sdr"]).any()
    assert out["sdr"][0] == pytest.approx(bss_eval(refs, np.stack([zero_sum + 1e-9, refs[1]]), SR)["sdr"][0], abs=1e-3)


def test_bss_eval_rejects_bad_input(sources):
    vocal, instrumental = sources
    with pytest.raises(VsepError, match="silent"):
        bss_eval(np.stack([vocal, np.zeros_like(vocal)]), np.stack([vocal, vocal]), SR)
    with pytest.raises(VsepError, match="sources"):
        bss_eval(np.stack([vocal, instrumental]), vocal[None, :], SR)
    with pytest.raises(VsepError, match="window"):
        bss_eval(np.stack([vocal, instrumental]), np.stack([vocal, instrumental]), SR, window_s=0)


# --- evaluate_estimate ---------------------------------------------------------------


def test_evaluate_estimate_fits_lengths_and_reports_every_metric(sources):
    vocal, instrumental = sources
    short_vocal = (vocal + 0.1 * instrumental)[:-300]
    out = evaluate_estimate(vocal, instrumental, short_vocal, instrumental + 0.1 * vocal, SR)
    assert set(out) == {"vocal", "instrumental", "bss_split"}
    for source in ("vocal", "instrumental"):
        assert set(out[source]) == {"si_sdr", "sdr", "sir", "sar", "usdr", "bleedless", "fullness"}
        assert out["bss_split"][source]["trusted"] in (True, False)
    assert out["vocal"]["si_sdr"] == pytest.approx(si_sdr(vocal, np.concatenate([short_vocal, np.zeros(300)])))


def test_peak_normalising_the_estimate_changes_sdr_but_not_si_sdr(sources):
    vocal, instrumental = sources
    est_v, est_i = vocal + 0.1 * instrumental, instrumental + 0.1 * vocal
    raw = evaluate_estimate(vocal, instrumental, est_v, est_i, SR)
    normalised = evaluate_estimate(vocal, instrumental, est_v / np.max(np.abs(est_v)), est_i, SR)
    assert normalised["vocal"]["si_sdr"] == pytest.approx(raw["vocal"]["si_sdr"], abs=1e-9)
    assert normalised["vocal"]["sdr"] < raw["vocal"]["sdr"] - 3


def test_evaluate_estimate_rejects_mismatched_references(sources):
    vocal, instrumental = sources
    with pytest.raises(VsepError, match="must match"):
        evaluate_estimate(vocal, instrumental[:-1], vocal, instrumental, SR)


def test_the_metrics_module_is_museval_own(sources):
    # Loaded from museval's file without the package's I/O imports; same code, same numbers.
    import museval.metrics as packaged  # a requirement; its stempeg import needs ffmpeg on PATH (setup.sh)

    from vsep_core.metrics import _museval_metrics

    vocal, instrumental = sources
    refs = np.stack([vocal, instrumental])[:, :, None]
    est = refs + 0.1 * refs[::-1]
    ours = _museval_metrics().bss_eval(refs, est, window=SR, hop=SR)
    theirs = packaged.bss_eval(refs, est, window=SR, hop=SR)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
