"""json_ready: long float curves take a one-pass path with the same result as element by element."""

from __future__ import annotations

import json
import math

import numpy as np

from vsep_core.jsonio import json_ready, json_text


def _element_by_element(value):
    """The sanitiser's rule written out: non-finite floats None, numpy made Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _element_by_element(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_element_by_element(v) for v in value]
    if isinstance(value, np.ndarray):
        return _element_by_element(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def test_float_curves_and_mixed_lists_equal_the_element_rule():
    rng = np.random.default_rng(0)
    curve = rng.standard_normal(5000).tolist()
    curve[3], curve[10], curve[-1] = math.nan, math.inf, -math.inf
    value = {
        "loss_curve": curve,
        "tuple": (1.5, math.nan),
        "empty": [],
        "mixed": [1.0, 2, np.float32(3.5), True, "x", None, [math.nan, 0.25]],
        "numpy": np.array([1.0, np.nan, 2.0]),
        7: np.int64(3),
    }
    got = json_ready(value)
    assert got == _element_by_element(value)
    assert got["loss_curve"][3] is None and got["loss_curve"][10] is None and got["loss_curve"][-1] is None
    assert got["tuple"] == [1.5, None] and got["mixed"][2] == 3.5 and type(got["mixed"][3]) is bool
    json.loads(json_text(value))  # strict JSON: no NaN left
