"""The compiled 3 × 3 convolution equals scipy.ndimage's bit for bit, and threaded fingerprinting changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from vsep_core.analysis import analyse
from vsep_core.audio import prepare_pair
from vsep_core.settings import Settings
from vsep_core.views import VIEWS, convolve_3x3

KERNEL_VIEWS = [v for v in VIEWS if v.kernel is not None]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32)


@pytest.mark.parametrize("view", KERNEL_VIEWS, ids=lambda v: v.name)
def test_convolve_3x3_is_ndimage_bit_for_bit(view):
    rng = np.random.default_rng(view.index)
    x = (rng.random((257, 301)) ** 3 * 10.0 ** rng.uniform(-6, 2, (257, 301))).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = 0.0  # silent bins, as real spectrograms have
    expected = ndimage.convolve(x, view.kernel, mode="constant", cval=0.0)
    got = convolve_3x3(x, view.kernel)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(_bits(got), _bits(expected))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 2), (3, 3), (4, 2)])
def test_convolve_3x3_small_and_strided_inputs(shape):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((shape[0], 2 * shape[1])).astype(np.float32)
    x = base[:, ::2]  # not contiguous, as view_column's slices of a spectrogram
    for view in KERNEL_VIEWS:
        np.testing.assert_array_equal(
            _bits(convolve_3x3(x, view.kernel)), _bits(ndimage.convolve(x, view.kernel, mode="constant", cval=0.0))
        )


def test_convolve_3x3_non_finite_values_spread_as_in_ndimage():
    x = np.zeros((6, 6), dtype=np.float32)
    x[2, 3], x[4, 1] = np.inf, np.nan
    for view in KERNEL_VIEWS:
        expected = ndimage.convolve(x, view.kernel, mode="constant", cval=0.0)
        got = convolve_3x3(x, view.kernel)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])
        assert finite.sum() == np.isfinite(got).sum()


def test_threaded_analysis_is_bit_identical(eval_pair_dir):
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=Settings())
    one = analyse(pair, Settings(), workers=1)
    for workers in (2, 3):
        many = analyse(pair, Settings(), workers=workers)
        np.testing.assert_array_equal(one.mixture_db, many.mixture_db)
        assert list(one.targets) == list(many.targets)
        for name in one.targets:
            assert one.target_windows[name] == many.target_windows[name]
            np.testing.assert_array_equal(one.targets[name].view(np.uint64), many.targets[name].view(np.uint64))


def test_threaded_analysis_reports_progress_in_order(eval_pair_dir):
    pair = prepare_pair(eval_pair_dir / "mixture.wav", vocal=eval_pair_dir / "vocal.wav", settings=Settings())
    seen = []
    analyse(pair, Settings(), workers=2, progress=lambda fraction, label: seen.append(fraction))
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert len(seen) == 19 + 2  # the STFT, each of the 19 views, done
