"""The 19 views: names, kernels, shapes and the convolution convention of the spec."""

from __future__ import annotations

import numpy as np
import pytest

from vsep_core.errors import VsepError
from vsep_core.views import SLICE_NAMES, VIEW_NAMES, VIEWS, compute_view, resolve_slices

SPEC_NAMES = [
    "slice_0_raw",
    "slice_1_horizontal",
    "slice_2_vertical",
    "slice_3_diagonal_up",
    "slice_4_diagonal_down",
    "slice_5_blob",
    "slice_6_harmonic",
    "slice_7_highpass",
    "slice_8_lowpass",
    "slice_9_edge_22deg",
    "slice_10_edge_45deg",
    "slice_11_edge_67deg",
    "slice_12_edge_90deg",
    "slice_13_edge_112deg",
    "slice_14_edge_135deg",
    "slice_15_edge_157deg",
    "slice_16_laplacian",
    "slice_17_maxpool",
    "slice_18_avgpool",
]


def convolve_by_hand(x, k):
    """True 2-D convolution (kernel flipped), zeros outside, written out by shifts."""
    out = np.zeros_like(x, dtype=np.float64)
    padded = np.pad(x.astype(np.float64), 1)
    flipped = k[::-1, ::-1]
    for di in range(3):
        for dj in range(3):
            out += flipped[di, dj] * padded[di : di + x.shape[0], dj : dj + x.shape[1]]
    return out


def test_names_and_order_follow_the_spec():
    assert list(VIEW_NAMES) == SPEC_NAMES
    assert list(SLICE_NAMES) == SPEC_NAMES[1:]
    assert [v.index for v in VIEWS] == list(range(19))
    assert all(v.description and v.label for v in VIEWS)


def test_kernels_follow_the_spec():
    k = {v.name: v.kernel for v in VIEWS}
    np.testing.assert_array_equal(k["slice_2_vertical"], [[-1, 0, 1]] * 3)
    np.testing.assert_array_equal(k["slice_7_highpass"], [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_allclose(k["slice_8_lowpass"], np.full((3, 3), 1 / 9), rtol=1e-7)
    for name in SLICE_NAMES[8:15]:
        edge = k[name]
        assert edge.dtype == np.float32
        assert np.sum(np.abs(edge)) == pytest.approx(1.0, rel=1e-6)
        assert np.all(edge[:, 1] == 0) and np.allclose(edge[:, 0], -edge[:, 2])
    theta = np.deg2rad(22.5)
    np.testing.assert_allclose(
        k["slice_9_edge_22deg"][1, 2] / k["slice_9_edge_22deg"][0, 2], np.cos(theta) / np.sin(theta), rtol=1e-5
    )


def test_convolution_is_true_2d_convolution_with_zero_border():
    rng = np.random.default_rng(0)
    x = rng.random((9, 7)).astype(np.float32)
    for v in VIEWS:
        if v.kernel is not None:
            np.testing.assert_allclose(compute_view(x, v.name), convolve_by_hand(x, v.kernel), rtol=1e-5, atol=1e-6)
    # An antisymmetric kernel shows the flip: convolution puts k[1, 0] = -1 left of an
    # impulse, where correlation would put k[1, 2] = +1.
    impulse = np.zeros((5, 5), dtype=np.float32)
    impulse[2, 2] = 1
    out = compute_view(impulse, "slice_2_vertical")
    assert out[2, 1] == -1 and out[2, 3] == 1


def test_pooled_views_halve_both_axes():
    x = np.arange(1025 * 100, dtype=np.float32).reshape(1025, 100)
    mp, ap = compute_view(x, "slice_17_maxpool"), compute_view(x, "slice_18_avgpool")
    assert mp.shape == ap.shape == (513, 50)
    # 2×2 maximum filter anchored like scipy: output (i, j) looks at rows i-1..i, cols j-1..j.
    assert mp[1, 1] == x[2, 2] and ap[1, 1] == pytest.approx(x[1:3, 1:3].mean())
    assert compute_view(x, "slice_0_raw") is not None and np.array_equal(compute_view(x, "slice_0_raw"), x)


def test_resolve_slices_accepts_names_numbers_and_short_names():
    assert resolve_slices(["slice_8_lowpass", "3", 12, "laplacian", "edge_157deg"]) == [
        "slice_8_lowpass",
        "slice_3_diagonal_up",
        "slice_12_edge_90deg",
        "slice_16_laplacian",
        "slice_15_edge_157deg",
    ]
    with pytest.raises(VsepError, match="Unknown slice 'wobble'"):
        resolve_slices(["wobble"])
    with pytest.raises(VsepError, match="polish"):
        resolve_slices(["slice_0_raw"])
    with pytest.raises(VsepError, match="twice"):
        resolve_slices(["1", "horizontal"])
