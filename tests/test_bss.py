"""vsep_core.bss against museval's own bss_eval (the reference it replaces), frame by frame."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from vsep_core import bss
from vsep_core.baselines import IdealMask
from vsep_core.errors import VsepError
from vsep_core.metrics import bss_eval

#: The contract: every figure within 0.01 dB of museval's.
TOLERANCE_DB = 0.01
#: Above this a figure is a ratio to rounding noise (an error term that is exactly zero in
#: exact arithmetic, e.g. the SAR of an estimate that lies in the span of the references):
#: its value is whatever the last bits of either implementation give, so only "very high" is
#: checked there.
ROUNDING_DB = 150.0


def _museval():
    """museval's metrics module, loaded from its file (the package's __init__ needs ffmpeg)."""
    spec = importlib.util.find_spec("museval")
    path = Path(spec.origin).parent / "metrics.py"
    file_spec = importlib.util.spec_from_file_location("museval_metrics_reference", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


MUSEVAL = _museval()


def museval_figures(references, estimates, window, hop=None, filters_len=512):
    out = MUSEVAL.bss_eval(
        np.asarray(references)[:, :, None],
        np.asarray(estimates)[:, :, None],
        window=window,
        hop=window if hop is None else hop,
        compute_permutation=False,
        filters_len=filters_len,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    return out[:4]


def assert_same_figures(references, estimates, window, hop=None, filters_len=512):
    theirs = museval_figures(references, estimates, window, hop, filters_len)
    ours = bss.bss_eval_images(references, estimates, window=window, hop=hop, filters_len=filters_len)
    for name, a, b in zip(("sdr", "isr", "sir", "sar"), theirs, ours):
        assert a.shape == b.shape, name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        real = ~np.isnan(a) & (np.abs(a) < ROUNDING_DB)
        np.testing.assert_allclose(b[real], a[real], rtol=0, atol=TOLERANCE_DB, err_msg=name)
        rounding = ~np.isnan(a) & (np.abs(a) >= ROUNDING_DB)
        assert np.all(b[rounding] >= ROUNDING_DB), name
    return theirs, ours


def _fitted(x, n):
    out = np.zeros(n)
    out[: min(n, len(x))] = x[:n]
    return out


# --- the real pair ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(eval_pair_dir):
    mixture, sr = sf.read(eval_pair_dir / "mixture.wav", dtype="float32")
    vocal, _ = sf.read(eval_pair_dir / "vocal.wav", dtype="float32")
    references = np.stack([vocal.astype(np.float64), mixture.astype(np.float64) - vocal])
    return mixture, vocal, references, sr


def test_real_pair_irm_estimate_equals_museval(real):
    mixture, vocal, references, sr = real
    sep = IdealMask("irm").separate(mixture, sr, vocal=vocal)
    estimates = np.stack([_fitted(sep.vocal, len(mixture)), _fitted(sep.instrumental, len(mixture))])
    theirs, ours = assert_same_figures(references, estimates, sr)
    # A real estimate is far from the rounding floor: the agreement is much closer than the contract.
    for a, b in zip(theirs, ours):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_real_pair_mixture_noisy_and_silent_frame_equal_museval(real):
    mixture, vocal, references, sr = real
    n = len(mixture)
    rng = np.random.default_rng(4)
    noisy = references + 0.05 * rng.standard_normal(references.shape)
    assert_same_figures(references, np.stack([mixture, mixture]).astype(np.float64), sr)
    assert_same_figures(references, noisy, sr)
    # One estimate silent for a whole frame: museval gives NaN for every source in that frame.
    gap = noisy.copy()
    gap[0, sr : 2 * sr] = 0.0
    theirs, ours = assert_same_figures(references, gap, sr)
    assert np.isnan(ours[0][:, 1]).all() and not np.isnan(ours[0][:, 0]).any()
    # Filtered and mixed-up estimates: delays, gains and leakage the 512-tap filters must explain.
    blurred = np.stack(
        [
            np.convolve(references[0], [0.6, 0.3, 0.1])[:n] + 0.2 * references[1],
            0.8 * np.roll(references[1], 3) + 0.1 * references[0],
        ]
    )
    assert_same_figures(references, blurred, sr)


def test_real_pair_whole_signal_and_overlapping_frames(real):
    _, _, references, sr = real
    rng = np.random.default_rng(5)
    estimates = references + 0.1 * rng.standard_normal(references.shape) + 0.1 * references[::-1]
    theirs, ours = assert_same_figures(references, estimates, references.shape[1] + 7)  # one frame
    assert ours[0].shape == (2, 1)
    assert_same_figures(references, estimates, sr, hop=sr // 2)


def test_metrics_bss_eval_is_the_median_of_museval_frames(real):
    mixture, vocal, references, sr = real
    sep = IdealMask("wiener").separate(mixture, sr, vocal=vocal)
    estimates = np.stack([_fitted(sep.vocal, len(mixture)), _fitted(sep.instrumental, len(mixture))])
    ours = bss_eval(references, estimates, sr)
    theirs = museval_figures(references, estimates, sr)
    for key, frames in zip(("sdr", "isr", "sir", "sar"), theirs):
        np.testing.assert_allclose(ours[key], np.nanmedian(frames, axis=1), rtol=0, atol=TOLERANCE_DB)


# --- synthetic cases ----------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**31 - 1),
    n_sources=st.integers(1, 3),
    window=st.sampled_from([600, 1000, 1500]),
    n=st.integers(2600, 5200),
    noise=st.floats(1e-3, 1.0),
    leak=st.floats(0.0, 0.5),
    filters_len=st.sampled_from([8, 64, 512]),
    block=st.sampled_from([None, 300, 1000, 1300]),
)
@hyp_settings(max_examples=30, deadline=None)
def test_random_signals_equal_museval(seed, n_sources, window, n, noise, leak, filters_len, block):
    # block: the length of the pieces the lagged products are summed over (the 3-minute case's
    # many block boundaries, on short signals; 1300 divides n = 2600 and 5200 exactly).
    rng = np.random.default_rng(seed)
    # Coloured sources (a random short filter each), so the Gram matrix is not just the identity.
    references = np.stack(
        [np.convolve(rng.standard_normal(n), rng.standard_normal(rng.integers(1, 40)))[:n] for _ in range(n_sources)]
    )
    estimates = np.stack(
        [
            np.convolve(references[j], rng.standard_normal(rng.integers(1, 20)))[:n]
            + leak * references[(j + 1) % n_sources]
            + noise * rng.standard_normal(n) * np.std(references[j])
            for j in range(n_sources)
        ]
    )
    with mock.patch.object(bss, "_BLOCK", block or bss._BLOCK):
        assert_same_figures(references, estimates, window, filters_len=filters_len)


@pytest.mark.parametrize("n, block", [(3000, 1000), (3000, 700), (3000, 512), (3000, 5000)])
def test_block_boundaries_whole_and_partial(n, block):
    # The lagged products are summed over blocks: exactly divisible, a partial last block,
    # blocks as short as the filters, and one block.
    rng = np.random.default_rng(n + block)
    references = np.cumsum(rng.standard_normal((2, n)), axis=1)  # strongly coloured
    estimates = 0.9 * references + 0.2 * references[::-1] + rng.standard_normal((2, n))
    with mock.patch.object(bss, "_BLOCK", block):
        assert_same_figures(references, estimates, 1000)


def test_an_estimate_in_the_span_of_the_references_has_no_artifacts():
    rng = np.random.default_rng(6)
    references = rng.standard_normal((2, 4000))
    estimates = np.stack([references[0] + references[1], 0.5 * references[1]])
    sdr, isr, sir, sar = bss.bss_eval_images(references, estimates, window=1000)
    assert np.all(sar > ROUNDING_DB)  # zero artifacts up to rounding
    assert np.all(sir[1] > ROUNDING_DB) and np.all(sir[0] < 5)  # source 1 has no interference, source 0 does
    assert_same_figures(references, estimates, 1000)


def test_sums_that_cancel_and_silent_frames_of_a_reference():
    rng = np.random.default_rng(7)
    references = rng.standard_normal((2, 3000))
    references[0] -= references[0].mean()  # sums to (about) zero: not silent
    references[1, 1000:2000] = 0.0  # silent in the second frame
    estimates = references + 0.1 * rng.standard_normal(references.shape)
    theirs, ours = assert_same_figures(references, estimates, 1000)
    assert np.isnan(ours[0][:, 1]).all() and np.isfinite(ours[0][:, [0, 2]]).all()


def test_bad_input_is_refused():
    x = np.ones((2, 100))
    with pytest.raises(VsepError, match="one shape"):
        bss.bss_eval_images(x, x[:, :50], window=10)
    with pytest.raises(VsepError, match="silent"):
        bss.bss_eval_images(x, np.stack([x[0], np.zeros(100)]), window=10)
    with pytest.raises(VsepError, match="NaN"):
        bss.bss_eval_images(x, np.stack([x[0], np.full(100, np.nan)]), window=10)
    with pytest.raises(VsepError, match="frame length"):
        bss.bss_eval_images(x, x, window=0)
    with pytest.raises(VsepError, match="hop"):
        bss.bss_eval_images(x, x, window=10, hop=0)


def test_cached_references_follow_the_content_not_the_array():
    # The references' correlations are cached by content; the caller reusing its array for
    # other references must not get the old figures.
    rng = np.random.default_rng(8)
    references = rng.standard_normal((2, 3000))
    estimates = references + 0.3 * rng.standard_normal(references.shape)
    first = bss.bss_eval_images(references, estimates, window=1000)
    np.testing.assert_array_equal(bss.bss_eval_images(references, estimates, window=1000)[0], first[0])
    references *= np.linspace(0.5, 2.0, 3000)
    assert_same_figures(references, estimates, 1000)


_THREADED_SCORING = r"""
import sys, threading
import numpy as np
from vsep_core import bss

bss._CACHE_SIZE = 1
rng = np.random.default_rng(0)
n = 22050 * 5
references = rng.standard_normal((2, n))
estimates = [references + 0.1 * k * rng.standard_normal((2, n)) for k in range(1, 9)]
expected = [bss.bss_eval_images(references, e, window=22050) for e in estimates]
wrong = 0
for trial in range(15):
    bss._CACHE.clear()
    out = {}
    def score(i):
        out[i] = bss.bss_eval_images(references, estimates[i], window=22050)
    threads = [threading.Thread(target=score, args=(i,)) for i in range(len(estimates))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrong += sum(not np.array_equal(a, b, equal_nan=True) for i in out for a, b in zip(out[i], expected[i]))
print("wrong", wrong)
"""


def test_threads_scoring_with_one_kept_reference_set_agree_with_one_thread():
    """Eight threads score against one cached reference set at once, 15 times: every figure equals the
    one-thread figure. In a separate process, because the bug this guards against (SciPy's getrs wrapper
    flipping the shared pivots in place) corrupted the heap: ``malloc(): invalid size`` and a dead process."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _THREADED_SCORING],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "wrong 0"
