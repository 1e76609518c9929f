"""BSS Eval's framewise-filter variant (against museval) and the stability check of the SIR/SAR split (issue #22).

The trap of issue #22, rebuilt synthetically: a voice silent in its first second over a backing, the
mixture band-limited (as a lossy MP3 mixture is) while the vocal is not, so ``mixture − vocal`` holds minus
the vocal's top band: the references are nearly linearly dependent there, the global 512-tap filter fit is
ill-posed, and the SIR/SAR of the same frames moves with the segment's length while SDR stays put.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_bss import MUSEVAL, ROUNDING_DB, TOLERANCE_DB

from vsep_core import bss, bss_split
from vsep_core.baselines import IdealMask
from vsep_core.errors import VsepError
from vsep_core.metrics import bss_eval, evaluate_estimate, fit_length

SR = 22050


def museval_framewise(references, estimates, window, filters_len=512):
    out = MUSEVAL.bss_eval(
        np.asarray(references)[:, :, None],
        np.asarray(estimates)[:, :, None],
        window=window,
        hop=window,
        compute_permutation=False,
        filters_len=filters_len,
        framewise_filters=True,
        bsseval_sources_version=False,
    )
    return out[:4]


def assert_equal_museval_framewise(references, estimates, window, filters_len=512):
    theirs = museval_framewise(references, estimates, window, filters_len)
    ours = bss.bss_eval_images(references, estimates, window=window, filters_len=filters_len, filters="framewise")
    for name, a, b in zip(("sdr", "isr", "sir", "sar"), theirs, ours):
        assert a.shape == b.shape, name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        real = ~np.isnan(a) & (np.abs(a) < ROUNDING_DB)
        np.testing.assert_allclose(b[real], a[real], rtol=0, atol=TOLERANCE_DB, err_msg=name)
    return theirs, ours


# --- the framewise-filter variant against museval --------------------------------------------------


def test_framewise_filters_equal_museval_on_fixed_signals():
    rng = np.random.default_rng(7)
    n = 9000
    references = np.stack([np.convolve(rng.standard_normal(n), rng.standard_normal(20))[:n] for _ in range(2)])
    references[0, :2000] = 0.0  # a silent first frame: NaN in both
    estimates = np.stack(
        [
            references[0] + 0.2 * references[1] + 0.05 * rng.standard_normal(n),
            np.convolve(references[1], [0.7, 0.2])[:n] + 0.1 * references[0],
        ]
    )
    theirs, ours = assert_equal_museval_framewise(references, estimates, 2000, filters_len=64)
    assert np.isnan(ours[0][:, 0]).all() and np.isfinite(ours[0][:, 1:]).all()
    # The framewise figures differ from the global ones (another fit), SDR excepted (it needs no filters).
    glob = bss.bss_eval_images(references, estimates, window=2000, filters_len=64)
    np.testing.assert_allclose(glob[0][:, 1:], ours[0][:, 1:], rtol=0, atol=1e-9)
    assert np.max(np.abs(glob[2][:, 1:] - ours[2][:, 1:])) > 0.01


def test_framewise_filters_equal_museval_on_the_real_pair(eval_pair_dir):
    import soundfile as sf

    mixture, sr = sf.read(eval_pair_dir / "mixture.wav", dtype="float32")
    vocal, _ = sf.read(eval_pair_dir / "vocal.wav", dtype="float32")
    n = 2 * sr + 100  # two full frames and a partial one (left out, as museval does)
    references = np.stack([vocal[:n].astype(np.float64), mixture[:n].astype(np.float64) - vocal[:n]])
    sep = IdealMask("irm").separate(mixture[:n], sr, vocal=vocal[:n])
    estimates = np.stack([fit_length(sep.vocal, n), fit_length(sep.instrumental, n)])
    theirs, ours = assert_equal_museval_framewise(references, estimates, sr)
    assert ours[0].shape == (2, 2)


def test_metrics_bss_eval_takes_the_filter_mode_and_refuses_another():
    rng = np.random.default_rng(3)
    refs = rng.standard_normal((2, 3 * 4000))
    est = refs + 0.1 * rng.standard_normal(refs.shape)
    framewise = bss_eval(refs, est, 4000, filters="framewise")
    frames = bss.bss_eval_images(refs, est, window=4000, filters="framewise")
    np.testing.assert_allclose(framewise["sir"], np.median(frames[2], axis=1))
    with pytest.raises(VsepError, match="framewise"):
        bss_eval(refs, est, 4000, filters="frames")
    with pytest.raises(VsepError, match="framewise"):
        bss.bss_eval_images(refs, est, window=4000, filters="local")


# --- the coherence bound ------------------------------------------------------------------------


def test_coherence_bound_holds_for_every_estimate_of_the_model_and_is_tight():
    # ŝ = α·s + β·i + e with s, i, e orthogonal: SDR − min(SIR, SAR) never exceeds 10·log10(D / (D − 1)).
    rng = np.random.default_rng(0)
    alpha, interference, artifacts = rng.uniform(0.05, 2, 5000), rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000)
    d = 1 / ((1 - alpha) ** 2 + interference + artifacts)
    sdr = 10 * np.log10(d)
    sir = 10 * np.log10(alpha**2 / np.maximum(interference, 1e-300))
    sar = 10 * np.log10((alpha**2 + interference) / np.maximum(artifacts, 1e-300))
    assert not bss_split.incoherent(sdr, sir, sar, margin_db=1e-9).any()
    # Tight: the worst case α = (D − 1) / D, no artifacts, I = 1/D − (1 − α)² reaches the bound.
    D = 10.0
    a = (D - 1) / D
    i = 1 / D - (1 - a) ** 2
    excess = 10 * np.log10(D) - 10 * np.log10(a**2 / i)
    assert excess == pytest.approx(float(bss_split.coherence_bound_db(10 * np.log10(D))), abs=1e-9)
    assert bss_split.coherence_bound_db(0.0) == np.inf and bss_split.coherence_bound_db(-3.0) == np.inf
    # The figures (SDR 14.80, SIR −0.12, SAR 2.68) describe no estimate.
    assert bss_split.incoherent(14.80, -0.12, 2.68)
    assert not bss_split.incoherent(12.95, 19.84, 14.39)  # the golden pair's irm


# --- the trap -------------------------------------------------------------------------------------


def trap_pair(seconds: int, *, lossy: bool):
    """A voice silent in its first second over a backing; ``lossy``: the mixture band-limited to 9 kHz."""
    rng = np.random.default_rng(1)
    n_all = 14 * SR
    t = np.arange(n_all) / SR
    phase = 2 * np.pi * np.cumsum(180 + 30 * np.sin(2 * np.pi * 0.3 * t)) / SR
    gate = (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) > 0.3
    voice = 0.3 * sum(np.sin(k * phase) / k for k in range(1, 60)) * gate + 0.1 * rng.standard_normal(n_all)
    voice[:SR] = 0.0
    backing = 0.1 * np.convolve(rng.standard_normal(n_all), np.exp(-np.arange(200) / 30))[:n_all] + 0.3 * np.sin(
        2 * np.pi * 110 * t
    )
    n = seconds * SR
    mixture = voice[:n] + backing[:n]
    if lossy:
        spectrum = np.fft.rfft(mixture)
        spectrum[np.fft.rfftfreq(n, 1 / SR) > 9000] = 0.0
        mixture = np.fft.irfft(spectrum, n)
    return mixture.astype(np.float32), voice[:n].astype(np.float32)


def irm_report(mixture, vocal):
    sep = IdealMask("irm").separate(mixture, SR, vocal=vocal)
    return evaluate_estimate(vocal, mixture.astype(np.float64) - vocal, sep.vocal, sep.instrumental, SR)


def test_the_trap_moves_the_split_with_the_length_and_the_check_flags_it():
    short = irm_report(*trap_pair(10, lossy=True))
    long = irm_report(*trap_pair(14, lossy=True))
    # The symptom: the same frames, SDR nearly the same, the split moving by dB with the length.
    assert abs(short["vocal"]["sdr"] - long["vocal"]["sdr"]) < 0.5
    assert abs(short["vocal"]["sir"] - long["vocal"]["sir"]) > 3
    check = short["bss_split"]["vocal"]
    assert check["trusted"] is False and "leaving out the last quarter" in check["reason"]
    assert check["length_move_db"] > bss_split.LENGTH_MARGIN_DB
    assert "not trustworthy" in bss_split.untrusted_note(check)


def test_a_benign_pair_passes_the_check():
    # The same voice and backing, the mixture exactly their sum: the filter fit is well posed.
    for seconds in (10, 14):
        report = irm_report(*trap_pair(seconds, lossy=False))
        for source in ("vocal", "instrumental"):
            check = report["bss_split"][source]
            assert check["trusted"] is True, (seconds, source, check)
            assert check["length_move_db"] < 1.0 and check["checked_frames"] >= 6


def test_framewise_filters_are_stable_on_the_trap():
    mixture, vocal = trap_pair(10, lossy=True)
    sep = IdealMask("irm").separate(mixture, SR, vocal=vocal)
    refs = np.stack([vocal.astype(np.float64), mixture.astype(np.float64) - vocal])
    est = np.stack([fit_length(sep.vocal, len(vocal)), fit_length(sep.instrumental, len(vocal))])
    ten = bss_eval(refs, est, SR, filters="framewise")
    seven = bss_eval(refs[:, : 7 * SR], est[:, : 7 * SR], SR, filters="framewise")
    frames_ten = bss.bss_eval_images(refs, est, window=SR, filters="framewise")
    frames_seven = bss.bss_eval_images(refs[:, : 7 * SR], est[:, : 7 * SR], window=SR, filters="framewise")
    # Each frame's figures depend on that frame only.
    np.testing.assert_allclose(frames_ten[2][:, :7], frames_seven[2], rtol=0, atol=1e-6, equal_nan=True)
    assert ten["split"][0]["length_move_db"] is None  # the length check does not apply to framewise filters
    assert np.isfinite(seven["sir"]).all()


# --- where it is shown --------------------------------------------------------------------------------


def _report(tmp_path, lossy: bool, filters: str = "global"):
    import soundfile as sf

    from vsep_core.evaluate import evaluate_pair, load_pair
    from vsep_core.settings import Settings

    mixture, vocal = trap_pair(10, lossy=lossy)
    sf.write(tmp_path / "mixture.wav", mixture, SR, subtype="FLOAT")
    sf.write(tmp_path / "vocal.wav", vocal, SR, subtype="FLOAT")
    settings = Settings(level="as_is", duration_s=10.0)
    pair = load_pair(tmp_path / "mixture.wav", vocal=tmp_path / "vocal.wav", settings=settings)
    return evaluate_pair(pair, ["irm", "mixture"], settings=settings, bss_filters=filters)


def test_table_and_html_report_mark_an_untrusted_split_and_never_say_meaningful(tmp_path):
    from vsep_core.evaluate import format_table
    from vsep_core.report import _metrics_html

    report = _report(tmp_path, lossy=True)
    table = format_table(report)
    assert "meaningful" not in table
    irm_row = next(line for line in table.splitlines() if line.startswith("irm "))
    assert irm_row.count("?") >= 2  # its SIR and SAR
    assert "? irm (vocal): SIR and SAR are not trustworthy" in table
    assert "failed its stability check" in table.splitlines()[3]
    page = _metrics_html(report)
    assert "not trustworthy" in page and "?" in page and "meaningful" not in page
    json.dumps(report)  # the checks are plain JSON

    benign = format_table(_report(tmp_path, lossy=False))
    assert "SIR/SAR split checked for every figure" in benign and "not trustworthy" not in benign


def test_cli_evaluate_takes_bss_filters(tmp_path, capsys):
    import soundfile as sf

    from vsep_core.cli import main

    mixture, vocal = trap_pair(10, lossy=False)
    sf.write(tmp_path / "mixture.wav", mixture[: 3 * SR], SR, subtype="FLOAT")
    sf.write(tmp_path / "vocal.wav", vocal[: 3 * SR], SR, subtype="FLOAT")
    out = tmp_path / "out.json"
    code = main(
        [
            "evaluate",
            "--mixture",
            str(tmp_path / "mixture.wav"),
            "--vocal",
            str(tmp_path / "vocal.wav"),
            "--methods",
            "irm",
            "--bss-filters",
            "framewise",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "fitted on each frame (framewise)" in printed
    report = json.loads(out.read_text())
    assert report["bss_eval"]["filters"] == "framewise"
    assert set(report["methods"][0]["bss_split"]) == {"vocal", "instrumental"}
